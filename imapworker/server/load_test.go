package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadAuth accepts user0..user4 with password "pw".
type loadAuth struct{}

func (loadAuth) Authenticate(_ context.Context, r AuthRequest) AuthResponse {
	if strings.HasPrefix(r.User, "user") && len(r.User) == 5 && r.Password == "pw" {
		return AuthResponse{OK: true, User: r.User}
	}
	return AuthResponse{Code: "AUTHENTICATIONFAILED"}
}

// loadDuration is how long the load runs per store: IMAPD_LOAD_SECONDS
// (60 for the full run), else 5 s (CI), 2 s with -short.
func loadDuration(t *testing.T) time.Duration {
	if s := os.Getenv("IMAPD_LOAD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("IMAPD_LOAD_SECONDS=%q", s)
		}
		return time.Duration(n) * time.Second
	}
	if testing.Short() {
		return 2 * time.Second
	}
	return 5 * time.Second
}

// Ten clients on five accounts, a write-heavy mix (FETCH, STORE, STORE
// \Deleted + EXPUNGE, APPEND, NOOP, UID FETCH 1:*): every tagged answer is
// OK (none of these commands has a NO or BAD the RFC requires here), every
// client's view stays consistent with the server's numbering (a FETCH's
// UID for a number is the one the view holds, numbers never exceed the
// count), and once the load stops every client's view of counts, UIDs and
// flags equals the server's and that of the other client of its account.
func TestConcurrentLoad(t *testing.T) {
	d := loadDuration(t)
	t.Run("memstore", func(t *testing.T) { runLoad(t, d) })
	t.Run("maildir", func(t *testing.T) {
		withMaildir(t)
		runLoad(t, d)
	})
}

// view is a client's model of its selected mailbox, built only from the
// server's responses.
type view struct {
	uids  []uint32 // 0: not yet learnt
	flags []string // "" until learnt; sorted, without \Recent
}

var (
	fetchRE = regexp.MustCompile(`^\* (\d+) FETCH \((.*)\)$`)
	uidRE   = regexp.MustCompile(`(?:^| )UID (\d+)`)
	flagsRE = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	numRE   = regexp.MustCompile(`^\* (\d+) (EXISTS|EXPUNGE)$`)
)

func normFlags(s string) string {
	var out []string
	for _, f := range strings.Fields(s) {
		if f != `\Recent` {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return "(" + strings.Join(out, " ") + ")"
}

// apply updates v with one untagged line; it returns the sequence number
// of a FETCH, else 0, and an error on an inconsistency.
func (v *view) apply(l string) (int, error) {
	if m := numRE.FindStringSubmatch(l); m != nil {
		n, _ := strconv.Atoi(m[1])
		if m[2] == "EXISTS" {
			if n < len(v.uids) {
				return 0, fmt.Errorf("EXISTS %d below the count %d", n, len(v.uids))
			}
			for len(v.uids) < n {
				v.uids = append(v.uids, 0)
				v.flags = append(v.flags, "")
			}
			return 0, nil
		}
		if n < 1 || n > len(v.uids) {
			return 0, fmt.Errorf("EXPUNGE %d of %d", n, len(v.uids))
		}
		v.uids = slices.Delete(v.uids, n-1, n)
		v.flags = slices.Delete(v.flags, n-1, n)
		return 0, nil
	}
	m := fetchRE.FindStringSubmatch(l)
	if m == nil {
		return 0, nil
	}
	seq, _ := strconv.Atoi(m[1])
	if seq < 1 || seq > len(v.uids) {
		return 0, fmt.Errorf("FETCH of %d, count %d: %q", seq, len(v.uids), l)
	}
	if u := uidRE.FindStringSubmatch(m[2]); u != nil {
		uid, _ := strconv.ParseUint(u[1], 10, 32)
		if old := v.uids[seq-1]; old != 0 && old != uint32(uid) {
			return 0, fmt.Errorf("message %d is UID %d, was %d: %q", seq, uid, old, l)
		}
		if (seq > 1 && v.uids[seq-2] >= uint32(uid)) || (seq < len(v.uids) && v.uids[seq] != 0 && v.uids[seq] <= uint32(uid)) {
			return 0, fmt.Errorf("UID %d out of order at %d: %v", uid, seq, v.uids)
		}
		v.uids[seq-1] = uint32(uid)
	}
	if f := flagsRE.FindStringSubmatch(m[2]); f != nil {
		v.flags[seq-1] = normFlags(f[1])
	}
	return seq, nil
}

// loadClient runs one command and applies every response to v; any tagged
// answer but OK is an error.
func (c *client) loadDo(v *view, cmd string) ([]int, error) {
	tag := strings.Fields(cmd)[0]
	c.C(cmd)
	var seqs []int
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return seqs, fmt.Errorf("C: %s\nS: %s", cmd, l)
			}
			return seqs, nil
		}
		seq, err := v.apply(l)
		if err != nil {
			return seqs, fmt.Errorf("C: %s: %v", cmd, err)
		}
		if seq > 0 {
			seqs = append(seqs, seq)
		}
	}
}

func runLoad(t *testing.T, d time.Duration) {
	ts := newTestServer(t, func(c *PreauthConfig) { c.Auth = loadAuth{} })
	const accounts, clients = 5, 10
	type lc struct {
		c *client
		v *view
	}
	all := make([]lc, clients)
	for i := range all {
		c := ts.dial()
		c.line()
		c.C(fmt.Sprintf("l LOGIN user%d pw", i%accounts))
		c.until("l OK")
		v := &view{}
		if _, err := c.loadDo(v, "s SELECT INBOX"); err != nil {
			t.Fatal(err)
		}
		all[i] = lc{c, v}
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	counts := make([]int, clients)
	for i := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, v := all[i].c, all[i].v
			r := rand.New(rand.NewPCG(uint64(i), 14))
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("client %d (user%d): %w", i, i%accounts, err))
				mu.Unlock()
			}
			for k := 0; time.Now().Before(deadline); k++ {
				n := len(v.uids)
				seq := 1 + r.IntN(max(n, 1))
				var cmds []string
				switch op := r.IntN(10); {
				case n < 3 || op < 2:
					msg := fmt.Sprintf("Subject: %d/%d\r\n\r\nbody", i, k)
					cmds = []string{fmt.Sprintf("a%d APPEND INBOX {%d+}\r\n%s", k, len(msg), msg)}
				case op < 4:
					cmds = []string{fmt.Sprintf("f%d FETCH %d (UID FLAGS)", k, seq)}
				case op < 6:
					f := []string{`+FLAGS (\Seen)`, `-FLAGS (\Seen)`, `+FLAGS ($Load)`, `FLAGS (\Flagged)`}[r.IntN(4)]
					cmds = []string{fmt.Sprintf("t%d STORE %d %s", k, seq, f)}
				case op < 7 && n > 20:
					cmds = []string{fmt.Sprintf(`d%d STORE %d +FLAGS.SILENT (\Deleted)`, k, seq), fmt.Sprintf("e%d EXPUNGE", k)}
				case op < 8:
					cmds = []string{fmt.Sprintf("n%d NOOP", k)}
				default:
					cmds = []string{fmt.Sprintf("u%d UID FETCH 1:* (FLAGS)", k)}
				}
				for _, cmd := range cmds {
					before := len(v.uids)
					seqs, err := c.loadDo(v, cmd)
					if err != nil {
						fail(err)
						return
					}
					if strings.Contains(cmd, "1:*") {
						// Every number of the view before the command,
						// once each, in order (updates come after).
						want := make([]int, 0, before)
						for s := 1; s <= before && s <= len(seqs); s++ {
							want = append(want, s)
						}
						if len(seqs) < len(want) || !slices.Equal(seqs[:len(want)], want) {
							fail(fmt.Errorf("C: %s: numbers %v for a count of %d", cmd, seqs, before))
							return
						}
					}
				}
				counts[i]++
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// Quiescence: each view, updated by a NOOP, is the server's.
	final := make([]string, clients)
	for i, x := range all {
		if _, err := x.c.loadDo(x.v, "z1 NOOP"); err != nil {
			t.Fatal(err)
		}
		want := &view{uids: slices.Clone(x.v.uids), flags: slices.Clone(x.v.flags)}
		got := &view{uids: make([]uint32, len(want.uids)), flags: make([]string, len(want.uids))}
		if _, err := x.c.loadDo(got, "z2 FETCH 1:* (UID FLAGS)"); err != nil {
			t.Fatal(err)
		}
		for k := range want.uids {
			if want.uids[k] != 0 && want.uids[k] != got.uids[k] || want.flags[k] != "" && want.flags[k] != got.flags[k] {
				t.Fatalf("client %d: message %d is UID %d %s, the view says %d %s", i, k+1, got.uids[k], got.flags[k], want.uids[k], want.flags[k])
			}
		}
		final[i] = fmt.Sprint(got.uids, got.flags)
	}
	for i := accounts; i < clients; i++ {
		if final[i] != final[i-accounts] {
			t.Errorf("user%d: the two clients end with different views:\n%s\n%s", i%accounts, final[i-accounts], final[i])
		}
	}
	t.Logf("commands per client: %v", counts)
}
