package tests

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Issue 18, idle users: a quiet IDLE session hibernates, its worker exits,
// and the session comes back as it was when mail arrives, when another
// session changes the mailbox and when the client speaks
// (docs/design.md#idle-workers-and-hibernation).
func TestHibernatedIdleSession(t *testing.T) {
	put := mdaUser(t, "hibern", "hibern-pw", 3)
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir
auth pam service imapd
preauth workers 1
hibernate after 1
`)
	worker := func() bool {
		return slices.ContainsFunc(children(t, s.cmd.Process.Pid), func(k *proc) bool {
			return strings.HasPrefix(k.cmdline, "imapd: mailbox hibern")
		})
	}
	// hibernated waits for the n-th hibernation and the worker's exit.
	hibernated := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if strings.Count(s.log.String(), "session hibernated") >= n && !worker() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("session not hibernated (%d) or worker still there; log:\n%s", n, s.log.String())
			}
		}
	}
	c := login(t, s, "hibern", "hibern-pw")
	c.C("a2 ENABLE CONDSTORE")
	c.S("a2 OK")
	c.C("a3 SELECT INBOX")
	c.S("a3 OK")
	c.C("a4 IDLE")
	c.S("+ idling")
	hibernated(1)
	if out, err := imapctl(t, s, "", "who"); err != nil || !strings.Contains(out, "hibernated") {
		t.Errorf("imapctl who: %v\n%s", err, out)
	}

	// S: * 4 EXISTS (a delivery wakes it)
	put(3)
	c.S("* 4 EXISTS")
	hibernated(2)

	// Another session of the user flags and expunges: the hibernated one
	// is told, with the sequence numbers it knows.
	o := login(t, s, "hibern", "hibern-pw")
	o.C("b1 SELECT INBOX")
	o.S("b1 OK")
	o.C("b2 STORE 2 +FLAGS.SILENT (\\Flagged)")
	o.S("b2 OK")
	o.C("b3 STORE 1 +FLAGS.SILENT (\\Deleted)")
	o.S("b3 OK")
	o.C("b4 EXPUNGE")
	o.S("b4 OK")
	o.C("b5 LOGOUT")
	o.S("b5 OK")
	got := map[string]bool{}
	for !got["expunge"] || !got["flags"] {
		lines, err := c.readUntil("* ", 10*time.Second)
		if err != nil {
			t.Fatalf("waiting for EXPUNGE and FETCH: %v (got %q, so far %v)", err, lines, got)
		}
		l := lines[len(lines)-1]
		switch {
		case strings.HasSuffix(l, " RECENT"):
			// IMAP4rev1: sent with EXISTS, and after a resume
		case l == "* 1 EXPUNGE":
			got["expunge"] = true
		case strings.Contains(l, " FETCH (") && strings.Contains(l, `\Flagged`):
			// Sequence 2 before the expunge, 1 after: either is in order.
			got["flags"] = true
		case strings.Contains(l, " FETCH (UID 1 FLAGS (") && strings.Contains(l, `\Deleted`):
			// Resumed into the other session's worker while it worked,
			// the session saw the \Deleted before the expunge.
		default:
			t.Errorf("unexpected %q", l)
		}
	}
	hibernated(3)

	// C: DONE, sent to the hibernated session: nothing of it is lost.
	c.C("DONE")
	c.S("a4 OK")
	c.C("a5 FETCH 1:* (UID FLAGS)")
	lines := c.S("a5 OK")
	if len(lines) != 4 || !strings.Contains(lines[0], `\Flagged`) {
		t.Errorf("after resume, FETCH 1:* gave %q: want 3 messages, the first flagged", lines)
	}
	c.C("a6 LOGOUT")
	c.S("a6 OK")
}
