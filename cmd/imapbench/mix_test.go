package main

import (
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
	if n := countFetch([]string{"* 1 FETCH (FLAGS ())", "* 2 fetch (FLAGS ())", "* 3 EXISTS"}); n != 2 {
		t.Errorf("countFetch: %d", n)
	}
	if want("EXISTS", 3, 4) == nil || want("EXISTS", 4, 4) != nil {
		t.Error("want")
	}
}
