package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every planned round keeps its sequence numbers valid and the mailbox's
// size: nothing names a message above the count, EXPUNGE follows every
// command that names messages, and as many APPENDs follow as were marked.
func TestMixPlanKeepsStateKnown(t *testing.T) {
	pool := [][]byte{[]byte("Subject: x\r\n\r\ny\r\n")}
	seq := regexp.MustCompile(`^(?:FETCH|STORE) ([0-9:,]+) `)
	for seed := uint64(0); seed < 500; seed++ {
		mc := &mixClient{exists: 12 + int(seed%20), archive: -1}
		cmds := mc.plan(rand.New(rand.NewPCG(seed, 1)), pool)
		expunged, marked, appended := false, 0, 0
		for _, c := range cmds {
			if m := seq.FindStringSubmatch(c.line); m != nil {
				if expunged {
					t.Fatalf("seed %d: %q after EXPUNGE", seed, c.line)
				}
				for _, part := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == ':' }) {
					if k, _ := strconv.Atoi(part); k < 1 || k > mc.exists {
						t.Fatalf("seed %d: %q names %d of %d", seed, c.line, k, mc.exists)
					}
				}
				if c.name == "STORE deleted" {
					lo, hi, _ := strings.Cut(m[1], ":")
					a, _ := strconv.Atoi(lo)
					b, _ := strconv.Atoi(hi)
					marked = b - a + 1
				}
			}
			switch c.name {
			case "EXPUNGE":
				expunged = true
			case "APPEND":
				if !expunged || c.lit == nil {
					t.Fatalf("seed %d: APPEND before EXPUNGE or without a literal", seed)
				}
				appended++
			}
		}
		if appended != marked {
			t.Fatalf("seed %d: %d marked \\Deleted, %d appended: %v", seed, marked, appended, cmds)
		}
	}
}

// The checks read the answers as servers write them, and a wrong answer is
// an error, not a success.
func TestMixChecks(t *testing.T) {
	if n := newExists([]string{"* 3 EXPUNGE", "* 3 EXPUNGE", "* 31 EXISTS", "* 32 EXISTS"}, 30); n != 32 {
		t.Errorf("newExists: %d", n)
	}
	if n := newExists([]string{"* 3 EXPUNGE", "* 9 EXPUNGE"}, 30); n != 28 {
		t.Errorf("newExists after expunges: %d", n)
	}
	fetch := []string{`* 7 FETCH (FLAGS (\Seen $Work))`}
	for _, c := range []struct {
		k         int
		flag      string
		has, sent bool
	}{{7, `$work`, true, true}, {7, `\Flagged`, false, true}, {8, `\Seen`, false, false}} {
		if has, sent := fetchHasFlag(fetch, c.k, c.flag); has != c.has || sent != c.sent {
			t.Errorf("fetchHasFlag(%d, %s) = %v, %v on %q", c.k, c.flag, has, sent, fetch)
		}
	}
	if n := statusMessages([]string{`* STATUS Archive (MESSAGES 20)`}); n != 20 {
		t.Errorf("statusMessages: %d", n)
	}
	if n := countFetch([]string{"* 1 FETCH (FLAGS ())", "* 2 fetch (FLAGS ())", "* 3 EXISTS"}, ""); n != 2 {
		t.Errorf("countFetch: %d", n)
	}
	// The range FETCH's FLAGS are from before the STORE: only the STORE's
	// own FETCH answers it.
	if has, sent := fetchHasFlag([]string{`* 7 FETCH (FLAGS () ENVELOPE (NIL))`}, 7, `\Seen`); sent {
		t.Errorf("fetchHasFlag took the range FETCH for the STORE's: %v", has)
	}
	if want("EXISTS", 3, 4) == nil || want("EXISTS", 4, 4) != nil {
		t.Error("want")
	}
}

// mixAnswers answers a planned round as a server holding n messages in
// INBOX would: each command's untagged lines and its tagged OK.
func mixAnswers(cmds []mixCmd, n int) (untagged [][]string, tagged []string) {
	var first, d int
	for i, c := range cmds {
		var u []string
		f := strings.Fields(c.line)
		switch c.name {
		case "SELECT":
			u = append(u, fmt.Sprintf("* %d EXISTS", n), "* OK [UIDNEXT 99] next")
		case "LIST":
			u = append(u, `* LIST () "/" INBOX`, `* LIST () "/" Archive`)
		case "STATUS":
			u = append(u, "* STATUS Archive (MESSAGES 5)")
		case "FETCH envelopes":
			lo, hi, _ := strings.Cut(f[1], ":")
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			for k := a; k <= b; k++ {
				u = append(u, fmt.Sprintf(`* %d FETCH (FLAGS (\Seen) ENVELOPE ("date" "subject" NIL NIL NIL NIL NIL NIL NIL NIL))`, k))
			}
		case "FETCH bodies":
			for _, k := range strings.Split(f[1], ",") {
				u = append(u, fmt.Sprintf("* %s FETCH (BODY[] {5}\r\nhello)", k))
			}
		case "STORE":
			flags := ""
			if strings.HasPrefix(f[2], "+") {
				flags = strings.Trim(f[3], "()")
			}
			u = append(u, fmt.Sprintf("* %s FETCH (FLAGS (%s))", f[1], flags))
		case "STORE deleted":
			lo, hi, _ := strings.Cut(f[1], ":")
			first, _ = strconv.Atoi(lo)
			last, _ := strconv.Atoi(hi)
			d = last - first + 1
		case "EXPUNGE":
			for range d {
				u = append(u, fmt.Sprintf("* %d EXPUNGE", first))
			}
			n -= d
		case "APPEND":
			n++
			u = append(u, fmt.Sprintf("* %d EXISTS", n))
		}
		untagged = append(untagged, u)
		tagged = append(tagged, fmt.Sprintf("a%d OK done", i+1))
	}
	return untagged, tagged
}

// runMixRound plays a transcript to one round of cmds and returns the
// errors counted and the client's message count after it.
func runMixRound(t *testing.T, cmds []mixCmd, exists int, transcript string) (int, int) {
	t.Helper()
	mc := &mixClient{
		cl:      &Client{r: bufio.NewReader(strings.NewReader(transcript)), w: bufio.NewWriter(io.Discard)},
		exists:  exists,
		archive: -1,
	}
	st := NewStats()
	mc.round(st, cmds)
	return st.Errors(), mc.exists
}

// The round's checks accept both orders a server may answer pipelined
// commands in (RFC 9051 §5.5): imapd's, each command's untagged lines
// before its tagged OK, and Dovecot's, where the untagged lines of the
// next command come before the tagged OK of the one before. A missing
// answer is still an error in either order.
func TestMixRoundOrders(t *testing.T) {
	pool := [][]byte{[]byte("Subject: x\r\n\r\ny\r\n")}
	for seed := uint64(0); seed < 300; seed++ {
		exists := 12 + int(seed%20)
		plan := func() []mixCmd {
			mc := &mixClient{exists: exists, archive: -1}
			return mc.plan(rand.New(rand.NewPCG(seed, 2)), pool)
		}
		untagged, tagged := mixAnswers(plan(), exists)
		var imapd, dovecot strings.Builder
		for i := range untagged {
			for _, l := range untagged[i] {
				fmt.Fprintf(&imapd, "%s\r\n", l)
				fmt.Fprintf(&dovecot, "%s\r\n", l)
			}
			fmt.Fprintf(&imapd, "%s\r\n", tagged[i])
			if i > 0 {
				fmt.Fprintf(&dovecot, "%s\r\n", tagged[i-1])
			}
		}
		fmt.Fprintf(&dovecot, "%s\r\n", tagged[len(tagged)-1])
		for name, tr := range map[string]string{"imapd": imapd.String(), "dovecot": dovecot.String()} {
			if nerr, n := runMixRound(t, plan(), exists, tr); nerr != 0 || n != exists {
				t.Fatalf("seed %d, %s order: %d errors, %d messages after the round of %d:\n%s", seed, name, nerr, n, exists, tr)
			}
			// The range FETCH's first answer left out.
			wrong := strings.Replace(tr, "ENVELOPE (", "X (", 1)
			if nerr, _ := runMixRound(t, plan(), exists, wrong); nerr != 1 {
				t.Fatalf("seed %d, %s order: a missing FETCH counted %d errors:\n%s", seed, name, nerr, wrong)
			}
		}
	}
}
