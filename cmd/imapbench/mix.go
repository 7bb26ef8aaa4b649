package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The write-heavy mix (issue 18): each client owns one account, pipelines
// a round of commands chosen with these probabilities, then reads every
// answer and checks it against the state it knows. About one write per
// read; APPENDs replace what EXPUNGE removed, so the mailbox keeps its
// size. The probabilities are those of imaptest-style generators: LIST,
// STATUS and a re-SELECT now and then, a range FETCH every round.
const (
	mixPList     = 0.10 // LIST "" "*"
	mixPStatus   = 0.10 // STATUS Archive (MESSAGES)
	mixPSelect   = 0.20 // SELECT INBOX again
	mixPBodies   = 0.50 // FETCH BODY.PEEK[] of about a third of the messages
	mixPStore    = 0.50 // STORE of random flags on a few messages
	mixPExpunge  = 0.50 // STORE +FLAGS.SILENT (\Deleted) on 1-3, EXPUNGE, APPEND as many
	mixFetchSpan = 10   // messages in the FLAGS+ENVELOPE range FETCH
)

// mixFlags are the flags STORE sets at random: never \Deleted, so that
// EXPUNGE removes exactly the messages the round marked.
var mixFlags = []string{`\Seen`, `\Flagged`, `\Answered`, `$Work`}

func runMix(args []string) error {
	fs := flag.NewFlagSet("mix", flag.ContinueOnError)
	var c common
	c.register(fs, 10, 30*time.Second)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.nusers > 0 && c.nusers < c.clients {
		return errors.New("mix: each client needs an account of its own (-nusers >= -clients)")
	}
	pool := appendPool(64)
	fmt.Printf("mix: %d clients, %s, %s, pipelined rounds with state checks\n", c.clients, c.duration, c.addr)
	fmt.Printf("per round: FETCH %d (FLAGS ENVELOPE) always; LIST %.0f%%, STATUS %.0f%%, SELECT %.0f%%, bodies of a third %.0f%%, STORE flags %.0f%%, \\Deleted+EXPUNGE+APPEND %.0f%%\n",
		mixFetchSpan, 100*mixPList, 100*mixPStatus, 100*mixPSelect, 100*mixPBodies, 100*mixPStore, 100*mixPExpunge)

	setup, st := NewStats(), NewStats()
	clients := make([]*mixClient, c.clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mc, err := mixConnect(&c, i, setup)
			if err != nil {
				setup.Error("connect", err)
				return
			}
			clients[i] = mc
		}()
	}
	wg.Wait()
	ready := 0
	for _, mc := range clients {
		if mc != nil {
			ready++
		}
	}
	fmt.Printf("logged in: %d of %d clients\n", ready, c.clients)
	if ready == 0 {
		setup.PrintErrors(os.Stdout)
		return errors.New("no client could log in")
	}

	cpuDone := c.cpuStart(os.Stdout)
	start := time.Now()
	deadline := start.Add(c.duration)
	for i, mc := range clients {
		if mc == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 18))
			for time.Now().Before(deadline) {
				mc.cl.SetDeadline(time.Now().Add(c.timeout))
				if err := mc.round(st, mc.plan(r, pool)); err != nil {
					var se *StatusError
					if !errors.As(err, &se) {
						st.Error("connection", err)
						return
					}
				}
			}
			mc.cl.SetDeadline(time.Now().Add(c.timeout))
			mc.cl.Logout()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("\nmeasured %.1fs:\n", elapsed.Seconds())
	st.Print(os.Stdout, elapsed)
	_, all := st.Summaries()
	cpu := cpuDone(all.Count, elapsed)
	fmt.Printf("RESULT mix label=%s clients=%d ops_per_s=%.1f p50_ms=%.3f p99_ms=%.3f cpu_ms_per_op=%.3f errors=%d\n",
		c.label, c.clients, float64(all.Count)/elapsed.Seconds(), ms(all.P50), ms(all.P99), cpu, st.Errors()+setup.Errors())
	return nil
}

// mixClient is one client of the mix and what it knows of its INBOX.
type mixClient struct {
	cl      *Client
	exists  int // messages in INBOX, as this client's answers tell it
	archive int // Archive's message count, seen once, never changed
}

func mixConnect(c *common, i int, setup *Stats) (*mixClient, error) {
	cl, err := steadyConnect(c, i, setup)
	if err != nil {
		return nil, err
	}
	mc := &mixClient{cl: cl, archive: -1}
	cl.SetDeadline(time.Now().Add(c.timeout))
	// Leftover \Deleted messages of an earlier run would make EXPUNGE
	// counts unpredictable.
	for _, cmd := range []string{"SELECT INBOX", "STORE 1:* -FLAGS.SILENT (\\Deleted)"} {
		resp, err := cl.Do(cmd)
		if err != nil {
			cl.Close()
			return nil, err
		}
		if cmd == "SELECT INBOX" {
			mc.exists = Exists(resp.Untagged)
		}
	}
	if mc.exists < mixFetchSpan {
		cl.Close()
		return nil, fmt.Errorf("INBOX of client %d has %d messages; seed at least %d", i, mc.exists, mixFetchSpan)
	}
	return mc, nil
}

// mixCmd is one pipelined command and the check of its answer. A check
// reads all the untagged lines of the round, not only those before the
// command's tagged answer: a server may send the untagged responses of a
// pipelined command before the tagged answer of the one before it (RFC
// 9051 §5.5; Dovecot does), so a check picks its own responses by their
// kind. Untagged responses still come in the order of the commands.
type mixCmd struct {
	name  string
	line  string
	lit   []byte
	check func(round []string) error
}

// plan chooses a round's commands from the state at its start. Sequence
// numbers stay valid through the round: EXPUNGE comes after every command
// that names messages, and APPEND after EXPUNGE.
func (mc *mixClient) plan(r *rand.Rand, pool [][]byte) []mixCmd {
	n := mc.exists
	var cmds []mixCmd
	add := func(name, line string, check func([]string) error) {
		cmds = append(cmds, mixCmd{name: name, line: line, check: check})
	}
	if r.Float64() < mixPSelect {
		// SELECT comes first, so the round's first EXISTS is its own.
		add("SELECT", "SELECT INBOX", func(round []string) error {
			return want("SELECT EXISTS", firstExists(round), n)
		})
	}
	if r.Float64() < mixPList {
		add("LIST", `LIST "" "*"`, func(round []string) error {
			return atLeast("LIST mailboxes", countPrefix(round, "* LIST "), 1)
		})
	}
	if r.Float64() < mixPStatus {
		add("STATUS", "STATUS Archive (MESSAGES)", func(round []string) error {
			got := statusMessages(round)
			if mc.archive < 0 {
				mc.archive = got
			}
			return want("STATUS Archive MESSAGES", got, mc.archive)
		})
	}
	lo := 1 + r.IntN(n-mixFetchSpan+1)
	add("FETCH envelopes", fmt.Sprintf("FETCH %d:%d (FLAGS ENVELOPE)", lo, lo+mixFetchSpan-1), func(round []string) error {
		return want("FETCH responses", countFetch(round, "ENVELOPE ("), mixFetchSpan)
	})
	if r.Float64() < mixPBodies {
		var set []string
		for k := 1 + r.IntN(3); k <= n; k += 3 {
			set = append(set, strconv.Itoa(k))
		}
		add("FETCH bodies", "FETCH "+strings.Join(set, ",")+" BODY.PEEK[]", func(round []string) error {
			return want("FETCH BODY[] responses", countFetch(round, "BODY[] {"), len(set))
		})
	}
	if r.Float64() < mixPStore {
		flag := mixFlags[r.IntN(len(mixFlags))]
		op := []string{"+", "-"}[r.IntN(2)]
		k := 1 + r.IntN(n)
		add("STORE", fmt.Sprintf("STORE %d %sFLAGS (%s)", k, op, flag), func(round []string) error {
			// A server may leave out the FETCH of a message whose flags did
			// not change (Dovecot does); one it sends must agree.
			has, sent := fetchHasFlag(round, k, flag)
			if sent && has != (op == "+") {
				return fmt.Errorf("STORE %d %sFLAGS (%s) answered %q", k, op, flag, round)
			}
			return nil
		})
	}
	if r.Float64() < mixPExpunge {
		d := 1 + r.IntN(3)
		first := 1 + r.IntN(n-d+1)
		add("STORE deleted", fmt.Sprintf(`STORE %d:%d +FLAGS.SILENT (\Deleted)`, first, first+d-1), nil)
		add("EXPUNGE", "EXPUNGE", func(round []string) error {
			return want("EXPUNGE responses", countSuffix(round, " EXPUNGE"), d)
		})
		for j := 0; j < d; j++ {
			cmds = append(cmds, mixCmd{name: "APPEND", line: "APPEND INBOX", lit: pool[r.IntN(len(pool))]})
		}
	}
	return cmds
}

// round sends one planned round in a single write (APPENDs as LITERAL+
// non-synchronizing literals, RFC 7888), reads every tagged answer, then
// checks the round's untagged lines as a whole (see mixCmd). Each
// command's latency runs from the write to its tagged answer.
func (mc *mixClient) round(st *Stats, cmds []mixCmd) error {
	cl := mc.cl
	tags := make([]string, len(cmds))
	for i, m := range cmds {
		tags[i] = cl.nextTag()
		if m.lit != nil {
			fmt.Fprintf(cl.w, "%s %s {%d+}\r\n", tags[i], m.line, len(m.lit))
			cl.w.Write(m.lit)
			cl.w.WriteString("\r\n")
		} else {
			fmt.Fprintf(cl.w, "%s %s\r\n", tags[i], m.line)
		}
	}
	t0 := time.Now()
	if err := cl.w.Flush(); err != nil {
		return err
	}
	var untagged []string
	lat := make([]time.Duration, len(cmds))
	errs := make([]error, len(cmds))
	for i, m := range cmds {
		resp, err := cl.readTagged(tags[i], m.line)
		lat[i] = time.Since(t0)
		if resp != nil {
			untagged = append(untagged, resp.Untagged...)
		}
		var se *StatusError
		if err != nil && !errors.As(err, &se) {
			// The connection failed: what was answered still counts.
			for j := range i {
				st.Record(cmds[j].name, lat[j], errs[j])
			}
			st.Record(m.name, lat[i], err)
			return err
		}
		errs[i] = err
	}
	mc.exists = newExists(untagged, mc.exists)
	var firstErr error
	for i, m := range cmds {
		if errs[i] == nil && m.check != nil {
			if cerr := m.check(untagged); cerr != nil {
				errs[i] = &StatusError{Cmd: m.name, Status: "WRONG", Text: cerr.Error()}
			}
		}
		st.Record(m.name, lat[i], errs[i])
		if errs[i] != nil && firstErr == nil {
			firstErr = errs[i]
		}
	}
	return firstErr
}

// newExists follows a mailbox's size through untagged EXPUNGE and EXISTS.
func newExists(untagged []string, n int) int {
	for _, l := range untagged {
		if e, ok := existsOf(l); ok {
			n = e
		} else if strings.HasSuffix(l, " EXPUNGE") {
			n--
		}
	}
	return n
}

func want(what string, got, exp int) error {
	if got != exp {
		return fmt.Errorf("%s: %d, expected %d", what, got, exp)
	}
	return nil
}

func atLeast(what string, got, min int) error {
	if got < min {
		return fmt.Errorf("%s: %d, expected at least %d", what, got, min)
	}
	return nil
}

func countPrefix(lines []string, p string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			n++
		}
	}
	return n
}

func countSuffix(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, s) {
			n++
		}
	}
	return n
}

// countFetch counts "* N FETCH" responses that contain item ("" for all).
func countFetch(lines []string, item string) int {
	n := 0
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "*" && strings.EqualFold(f[2], "FETCH") && strings.Contains(l, item) {
			n++
		}
	}
	return n
}

// firstExists is the count of the first "* N EXISTS" of lines, or -1.
func firstExists(lines []string) int {
	for _, l := range lines {
		if n, ok := existsOf(l); ok {
			return n
		}
	}
	return -1
}

// statusMessages reads MESSAGES from "* STATUS name (MESSAGES n)".
func statusMessages(lines []string) int {
	for _, l := range lines {
		if _, after, ok := strings.Cut(l, "(MESSAGES "); ok && strings.HasPrefix(l, "* STATUS ") {
			n, _ := strconv.Atoi(strings.TrimRight(after, ")"))
			return n
		}
	}
	return -1
}

// fetchHasFlag reports whether the last FETCH of message k with FLAGS and
// without ENVELOPE (a STORE's answer, not the range FETCH's) lists flag.
func fetchHasFlag(lines []string, k int, flag string) (has, sent bool) {
	prefix := fmt.Sprintf("* %d FETCH ", k)
	for _, l := range slices.Backward(lines) {
		if !strings.HasPrefix(l, prefix) || strings.Contains(l, "ENVELOPE (") {
			continue
		}
		_, flags, ok := strings.Cut(l, "FLAGS (")
		if !ok {
			continue
		}
		flags, _, _ = strings.Cut(flags, ")")
		for _, f := range strings.Fields(flags) {
			if strings.EqualFold(f, flag) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}
