package server

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// makeMaildir writes an INBOX of n messages as Dovecot leaves one: files
// with ,S= and ,W= in cur/ and a uidlist naming them (UIDs 1..n).
func makeMaildir(t testing.TB, root string, n int) {
	t.Helper()
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var ul strings.Builder
	fmt.Fprintf(&ul, "3 V1600000000 N%d G0123456789abcdef0123456789abcdef\n", n+1)
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: %d\r\n\r\nbody\r\n", i)
		name := fmt.Sprintf("%d.M%dP1.host,S=%d,W=%d:2,S", 1600000000+i, i, len(msg), len(msg))
		if err := os.WriteFile(filepath.Join(root, "cur", name), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&ul, "%d :%s\n", i, name)
	}
	if err := os.WriteFile(filepath.Join(root, "dovecot-uidlist"), []byte(ul.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(root, "new"), old, old)
}

// maildirServer serves the Maildirs under dir; each call is a new
// mailbox worker (a restart): nothing is shared with the last one but the
// files.
func maildirServer(t *testing.T, dir string) *testServer {
	old := newBackend
	newBackend = func(testing.TB) store.Backend {
		return maildir.NewBackend(func(user string) (string, error) {
			return filepath.Join(dir, user, "Maildir"), nil
		}, maildir.Options{NoSpecialUse: true})
	}
	defer func() { newBackend = old }()
	return newTestServer(t)
}

// stop ends a test server as its process's exit would: sessions get BYE,
// the store's indexes are written.
func (ts *testServer) stop() {
	ts.cancel()
	ts.ln.Close()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	time.Sleep(50 * time.Millisecond) // sessions see the cancel
	for _, u := range ts.users {
		u.Close()
	}
	ts.users = nil
}

// qrState is what a QRESYNC client keeps of a mailbox.
type qrState struct {
	uv  uint32
	hms uint64
}

var (
	uvRE  = regexp.MustCompile(`^\* OK \[UIDVALIDITY (\d+)\]`)
	hmsRE = regexp.MustCompile(`^\* OK \[HIGHESTMODSEQ (\d+)\]`)
	qfRE  = regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$`)
)

// resync selects INBOX with the client's QRESYNC state (or CONDSTORE
// when it has none) and returns the VANISHED (EARLIER) UIDs, the FETCHes
// by UID, every other untagged line, and the new state.
func resync(t *testing.T, c *client, st qrState) (vanished []uint32, fetched map[uint32]string, other []string, next qrState) {
	t.Helper()
	cmd := "q SELECT INBOX (CONDSTORE)"
	if st.uv != 0 {
		cmd = fmt.Sprintf("q SELECT INBOX (QRESYNC (%d %d))", st.uv, st.hms)
	}
	un, tagged := c.do(cmd)
	if tagged != "q OK [READ-WRITE] SELECT completed" {
		t.Fatalf("%s: %s", cmd, tagged)
	}
	fetched = map[uint32]string{}
	for _, l := range un {
		if m := uvRE.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseUint(m[1], 10, 32)
			next.uv = uint32(v)
		}
		if m := hmsRE.FindStringSubmatch(l); m != nil {
			next.hms, _ = strconv.ParseUint(m[1], 10, 64)
		}
		switch {
		case strings.HasPrefix(l, "* VANISHED (EARLIER) "):
			if vanished != nil {
				t.Fatalf("two VANISHED (EARLIER) lines")
			}
			set, err := imap.ParseQResync("(1 1 " + strings.TrimPrefix(l, "* VANISHED (EARLIER) ") + ")")
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			for _, r := range set.KnownUIDs.Resolve(1 << 31) {
				for u := r.Start; u <= r.Stop; u++ {
					vanished = append(vanished, u)
				}
			}
		case qfRE.MatchString(l):
			m := qfRE.FindStringSubmatch(l)
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			if ms, _ := strconv.ParseUint(m[3], 10, 64); ms <= st.hms {
				t.Errorf("%s: MODSEQ %d not above the client's %d", l, ms, st.hms)
			}
			if _, dup := fetched[uint32(uid)]; dup {
				t.Errorf("UID %d fetched twice", uid)
			}
			fetched[uint32(uid)] = m[2]
		case strings.HasPrefix(l, "* FLAGS "), strings.HasSuffix(l, " EXISTS"), uvRE.MatchString(l), hmsRE.MatchString(l),
			strings.HasPrefix(l, "* OK [UIDNEXT "), strings.HasPrefix(l, "* OK [PERMANENTFLAGS "),
			strings.HasPrefix(l, "* LIST "), strings.HasPrefix(l, "* OK [MAILBOXID "), l == "* OK [CLOSED] Previous mailbox closed":
		default:
			other = append(other, l)
		}
	}
	return vanished, fetched, other, next
}

// changeSet is session A's work: \Flagged on 1,000 messages and 100
// others expunged, disjoint, spread over the folder (start varies it).
func changeSet(n, start int) (flagged, expunged []uint32) {
	for i := 0; i < 1000; i++ {
		flagged = append(flagged, uint32(start+i*(n/1000)))
	}
	for i := 0; i < 100; i++ {
		expunged = append(expunged, uint32(start+n/2000+i*(n/100)))
	}
	return flagged, expunged
}

func uidList(uids []uint32) string { return string(imap.AppendNumSet(nil, uids)) }

// Issue 12, what it must show 2: session A changes flags on 1,000
// messages and expunges 100 of a large Maildir folder; session B, which
// knew the folder before, resyncs with QRESYNC and receives exactly the
// 100 UIDs in VANISHED (EARLIER) and one FETCH per changed message,
// nothing else. The same across imapd restarts. 100,000 messages; 20,000
// with -short or the race detector (10 times slower).
func TestQResyncLargeFolder(t *testing.T) {
	n := 100000
	if testing.Short() || raceBuild {
		n = 20000
	}
	dir := t.TempDir()
	makeMaildir(t, filepath.Join(dir, "alice", "Maildir"), n)
	ts := maildirServer(t, dir)

	b := loginRev2(ts, "QRESYNC")
	_, _, other, st := resync(t, b, qrState{})
	if st.uv != 1600000000 || st.hms == 0 || len(other) != 0 {
		t.Fatalf("first SELECT: state %+v, other lines %q", st, other)
	}
	b.C("z LOGOUT")
	b.until("z OK")

	check := func(what string, st qrState, flagged, expunged []uint32) qrState {
		t.Helper()
		b := loginRev2(ts, "QRESYNC")
		v, f, other, next := resync(t, b, st)
		if !slices.Equal(v, expunged) {
			t.Errorf("%s: VANISHED (EARLIER) %s, want %s", what, uidList(v), uidList(expunged))
		}
		if len(f) != len(flagged) {
			t.Errorf("%s: %d FETCHes, want %d", what, len(f), len(flagged))
		}
		for _, u := range flagged {
			if f[u] != `\Seen \Flagged` {
				t.Errorf("%s: UID %d fetched %q", what, u, f[u])
				break
			}
		}
		if len(other) != 0 || next.uv != st.uv || next.hms <= st.hms {
			t.Errorf("%s: other lines %q, state %+v after %+v", what, other, next, st)
		}
		b.C("z LOGOUT")
		b.until("z OK")
		return next
	}
	change := func(start int) ([]uint32, []uint32) {
		t.Helper()
		flagged, expunged := changeSet(n, start)
		a := loginRev2(ts, "")
		a.C("s SELECT INBOX")
		a.until("s OK")
		a.expectDo(`a1 UID STORE `+uidList(flagged)+` +FLAGS.SILENT (\Flagged)`, "a1 OK STORE completed")
		a.expectDo(`a2 UID STORE `+uidList(expunged)+` +FLAGS.SILENT (\Deleted)`, "a2 OK STORE completed")
		un, tagged := a.do("a3 UID EXPUNGE " + uidList(expunged))
		if len(un) != len(expunged) || tagged != "a3 OK EXPUNGE completed" {
			t.Fatalf("UID EXPUNGE: %d lines, %s", len(un), tagged)
		}
		a.C("z LOGOUT")
		a.until("z OK")
		return flagged, expunged
	}

	flagged, expunged := change(3)
	st = check("same worker", st, flagged, expunged)

	// A restart between the changes and the resync, and one between the
	// resync and the next changes.
	flagged, expunged = change(5)
	ts.stop()
	ts = maildirServer(t, dir)
	st = check("after a restart", st, flagged, expunged)
	ts.stop()
	ts = maildirServer(t, dir)
	flagged, expunged = change(11)
	st = check("changes after a restart", st, flagged, expunged)
	_ = st
}
