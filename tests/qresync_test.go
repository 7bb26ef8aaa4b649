package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 12, what it must show 2, end to end: a QRESYNC client's cache of
// a Maildir folder stays exact through a kill -9 of the mailbox worker in
// the middle of a change, and through Dovecot changing flags and
// expunging in the same Maildir while imapd is stopped: each resync is one
// SELECT (QRESYNC ...) that names exactly the UIDs gone and fetches exactly
// the messages changed. 10,000 messages here, to keep the end-to-end
// stage short; imapworker/server's TestQResyncLargeFolder runs 100,000.

const qrFolder = 10000

// qrCache is what a QRESYNC client keeps of INBOX.
type qrCache struct {
	uv    uint32
	hms   uint64
	flags map[uint32]string
}

var (
	reHMS     = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
	reQRFetch = regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$`)
	reQRFlags = regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) (?:MODSEQ \(\d+\) )?FLAGS \(([^)]*)\)\)$`)
)

// normFlags sorts a flag list, dropping \Recent (Dovecot and imapd order
// flags differently; \Recent is per session).
func normFlags(s string) string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// allFlags is the server's truth: every UID's flags, by a full fetch.
func (c *client) allFlags(tag string) map[uint32]string {
	c.t.Helper()
	c.C(tag + " UID FETCH 1:* (FLAGS)")
	out := map[uint32]string{}
	for _, l := range c.S(tag + " OK") {
		if m := reQRFlags.FindStringSubmatch(l); m != nil {
			out[atoi32(m[1])] = normFlags(m[2])
		}
	}
	return out
}

// expandSet expands "1:3,7" into UIDs.
func expandSet(t *testing.T, s string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, ":")
		lo, hi := atoi32(a), atoi32(a)
		if ok {
			hi = atoi32(b)
		}
		if lo == 0 || hi < lo {
			t.Fatalf("bad set %q", s)
		}
		for u := lo; u <= hi; u++ {
			out = append(out, u)
		}
	}
	return out
}

// resync is one SELECT INBOX (QRESYNC ...) from the cache (SELECT
// (CONDSTORE) and a full fetch the first time). It checks the answer
// against the server's state, read afterwards by a full fetch: VANISHED
// (EARLIER) names exactly the cached UIDs now gone, the FETCHes are
// exactly the messages whose flags differ from the cache. It returns the
// updated cache and what the resync said.
func (c *client) resync(what string, q *qrCache) (vanished []uint32, fetched map[uint32]string) {
	t := c.t
	t.Helper()
	fetched = map[uint32]string{}
	if q.uv == 0 {
		c.C("r1 SELECT INBOX (CONDSTORE)")
	} else {
		c.C(fmt.Sprintf("r1 SELECT INBOX (QRESYNC (%d %d))", q.uv, q.hms))
	}
	lines := c.S("r1 ")
	if !strings.HasPrefix(lines[len(lines)-1], "r1 OK") {
		t.Fatalf("%s: %q", what, lines[len(lines)-1])
	}
	var uv uint32
	var hms uint64
	for _, l := range lines {
		if m := reUIDValidity.FindStringSubmatch(l); m != nil {
			uv = atoi32(m[1])
		}
		if m := reHMS.FindStringSubmatch(l); m != nil {
			hms, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if s, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			vanished = append(vanished, expandSet(t, s)...)
		}
		if m := reQRFetch.FindStringSubmatch(l); m != nil {
			fetched[atoi32(m[1])] = normFlags(m[2])
		} else if strings.Contains(l, "FETCH") || (strings.Contains(l, "VANISHED") && !strings.HasPrefix(l, "* VANISHED (EARLIER) ")) {
			t.Errorf("%s: unexpected %q", what, l)
		}
	}
	if hms == 0 || (q.uv != 0 && (uv != q.uv || hms < q.hms)) {
		t.Fatalf("%s: UIDVALIDITY %d HIGHESTMODSEQ %d after %d %d", what, uv, hms, q.uv, q.hms)
	}
	truth := c.allFlags("r2")
	if len(truth) == 0 {
		t.Fatalf("%s: no messages", what)
	}
	if q.uv != 0 {
		var gone []uint32
		for u := range q.flags {
			if _, ok := truth[u]; !ok {
				gone = append(gone, u)
			}
		}
		sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
		sort.Slice(vanished, func(i, j int) bool { return vanished[i] < vanished[j] })
		if fmt.Sprint(gone) != fmt.Sprint(vanished) {
			t.Errorf("%s: VANISHED (EARLIER) %v, but gone: %v", what, vanished, gone)
		}
		for u, f := range truth {
			old, known := q.flags[u]
			got, inFetch := fetched[u]
			switch {
			case !known:
				// New since: not QRESYNC's business (UIDNEXT tells).
			case old != f && !inFetch:
				t.Errorf("%s: UID %d changed %q -> %q, not fetched", what, u, old, f)
			case old == f && inFetch:
				t.Errorf("%s: UID %d fetched (%q), but unchanged", what, u, got)
			case inFetch && got != f:
				t.Errorf("%s: UID %d fetched %q, server holds %q", what, u, got, f)
			}
		}
	}
	q.uv, q.hms, q.flags = uv, hms, truth
	return vanished, fetched
}

// makeFolder writes qrFolder messages into an empty Maildir as Dovecot
// leaves them, owned by the user.
func makeFolder(t *testing.T, maildir string, uid, gid int) {
	t.Helper()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(maildir, d), 0o700)
	}
	var ul strings.Builder
	fmt.Fprintf(&ul, "3 V1700000000 N%d G0123456789abcdef0123456789abcdef\n", qrFolder+1)
	for i := 1; i <= qrFolder; i++ {
		msg := dcMessage(i, "")
		name := fmt.Sprintf("%d.M%dP1.host,S=%d,W=%d:2,S", 1700000000+i, i, len(msg), len(msg))
		if err := os.WriteFile(filepath.Join(maildir, "cur", name), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&ul, "%d :%s\n", i, name)
	}
	os.WriteFile(filepath.Join(maildir, "dovecot-uidlist"), []byte(ul.String()), 0o600)
	filepath.Walk(maildir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
}

// qrChange flags every step-th UID from start and expunges every 10*step-th
// from start+step/2, as UID sets.
func qrChange(start, step int) (flagged, expunged string) {
	var f, e []string
	for u := start; u <= qrFolder; u += step {
		f = append(f, strconv.Itoa(u))
	}
	for u := start + step/2; u <= qrFolder; u += 10 * step {
		e = append(e, strconv.Itoa(u))
	}
	return strings.Join(f, ","), strings.Join(e, ",")
}

func TestQResyncKillAndDovecot(t *testing.T) {
	requireDovecot(t)
	u, maildir := freshDcUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	makeFolder(t, maildir, uid, gid)

	s := startServer(t, dcImapdConf)
	b := login(t, s, "dcuser", "dcuser-pw")
	b.C("e ENABLE QRESYNC")
	b.S("e OK")
	q := &qrCache{}
	b.resync("first SELECT", q)
	b.C("x LOGOUT")
	b.S("x OK")

	// Session A: a completed change, then a STORE of 5,000 messages the
	// mailbox worker is killed in the middle of.
	a := login(t, s, "dcuser", "dcuser-pw")
	a.C("a1 SELECT INBOX")
	a.S("a1 OK")
	flagged, expunged := qrChange(3, 10)
	a.C(`a2 UID STORE ` + flagged + ` +FLAGS.SILENT (\Flagged)`)
	a.S("a2 OK")
	a.C(`a3 UID STORE ` + expunged + ` +FLAGS.SILENT (\Deleted)`)
	a.S("a3 OK")
	a.C("a4 UID EXPUNGE " + expunged)
	a.S("a4 OK")
	a.C(`a5 UID STORE 1:5000 +FLAGS.SILENT (\Answered)`)
	time.Sleep(30 * time.Millisecond)
	workers := byTitle(children(t, s.cmd.Process.Pid), "imapd: mailbox dcuser")
	if len(workers) != 1 {
		t.Fatalf("%d mailbox workers for dcuser", len(workers))
	}
	syscall.Kill(workers[0].pid, syscall.SIGKILL)
	if lines, err := a.readUntil("a5 OK", 5*time.Second); err == nil {
		t.Logf("the STORE ended before the kill: %q", lines[len(lines)-1])
	}

	b = loginRetry(t, s)
	b.C("e ENABLE QRESYNC")
	b.S("e OK")
	v, f := b.resync("after kill -9 mid-STORE", q)
	t.Logf("after kill -9: VANISHED (EARLIER) of %d UIDs, %d FETCHes", len(v), len(f))
	if len(v) != strings.Count(expunged, ",")+1 || len(f) < strings.Count(flagged, ",")+1 {
		t.Errorf("after kill -9: %d vanished, %d fetched", len(v), len(f))
	}
	b.C("x LOGOUT")
	b.S("x OK")
	stopServer(s)

	// Dovecot changes flags and expunges in the same Maildir.
	dc := newDovecot(t)
	dc.start()
	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	d.C("d2 SELECT INBOX")
	d.S("d2 OK")
	flagged, expunged = qrChange(7, 10)
	d.C(`d3 UID STORE ` + flagged + ` -FLAGS.SILENT (\Seen)`)
	d.S("d3 OK")
	d.C(`d4 UID STORE ` + expunged + ` +FLAGS.SILENT (\Deleted)`)
	d.S("d4 OK")
	d.C("d5 UID EXPUNGE " + expunged)
	d.S("d5 OK")
	d.C("d6 LOGOUT")
	d.S("d6 OK")
	dc.stop()

	s = startServer(t, dcImapdConf)
	b = login(t, s, "dcuser", "dcuser-pw")
	b.C("e ENABLE QRESYNC")
	b.S("e OK")
	v, f = b.resync("after Dovecot's changes", q)
	if len(v) != strings.Count(expunged, ",")+1 || len(f) != strings.Count(flagged, ",")+1 {
		t.Errorf("after Dovecot: %d vanished, %d fetched", len(v), len(f))
	}
	// And a resync with nothing changed says nothing.
	v, f = b.resync("with nothing changed", q)
	if len(v) != 0 || len(f) != 0 {
		t.Errorf("nothing changed, yet %d vanished, %d fetched", len(v), len(f))
	}
	b.C("x LOGOUT")
	b.S("x OK")
}

// loginRetry logs in, retrying while the parent replaces a killed worker.
func loginRetry(t *testing.T, s *server) *client {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		c := dial(t, s.addr)
		c.C("a1 LOGIN dcuser dcuser-pw")
		lines, err := c.readUntil("a1 ", 5*time.Second)
		if err == nil && strings.HasPrefix(lines[len(lines)-1], "a1 OK") {
			return c
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no login after the kill: %q %v", lines, err)
		}
	}
}
