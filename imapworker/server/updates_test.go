package server

import (
	"fmt"
	"strings"
	"testing"

	"imapd/imapworker/imap"
)

// Two sessions of one user see each other's changes, each with its own
// sequence numbers, and EXPUNGE never during FETCH/STORE/SEARCH
// (RFC 9051 §7.4.1, §7.5.1).
func TestTwoSessionsUpdates(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg)
	a := ts.login("alice")
	b := ts.login("alice")
	selectInbox(a)
	selectInbox(b)

	// Flag change by A: B sees FETCH with UID at its next command.
	a.expectDo(`a1 STORE 2 +FLAGS.SILENT (\Flagged)`, "a1 OK STORE completed")
	b.expectDo("b1 NOOP", `* 2 FETCH (UID 2 FLAGS (\Flagged))`, "b1 OK NOOP completed")

	// Expunge by A: B must not get EXPUNGE during FETCH, STORE or SEARCH.
	a.expectDo(`a2 STORE 1 +FLAGS.SILENT (\Deleted)`, "a2 OK STORE completed")
	a.expectDo("a3 EXPUNGE", "* 1 EXPUNGE", "a3 OK EXPUNGE completed")
	b.expectDo("b2 FETCH 1:3 UID", "* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)",
		`* 1 FETCH (UID 1 FLAGS (\Deleted))`, "b2 OK FETCH completed")
	b.expectDo("b3 SEARCH ALL", "* SEARCH 1 2 3", "b3 OK SEARCH completed")
	b.expectDo(`b4 STORE 3 +FLAGS (\Seen)`, `* 3 FETCH (FLAGS (\Seen))`, "b4 OK STORE completed")
	// ... and the expunged message's content is gone.
	b.expectDo("b5 FETCH 1 BODY.PEEK[]", "* 1 FETCH (BODY[] NIL)", "b5 OK [EXPUNGEISSUED] some messages were expunged")
	// NOOP delivers it; numbers shift.
	b.expectDo("b6 NOOP", "* 1 EXPUNGE", "b6 OK NOOP completed")
	b.expectDo("b7 FETCH 1:* UID", "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)", "b7 OK FETCH completed")
	a.expectDo("a4 NOOP", `* 2 FETCH (UID 3 FLAGS (\Seen \Recent))`, "a4 OK NOOP completed")

	// UID commands may carry EXPUNGE.
	a.expectDo(`a5 STORE 1 +FLAGS.SILENT (\Deleted)`, "a5 OK STORE completed")
	b.expectDo("b8 NOOP", `* 1 FETCH (UID 2 FLAGS (\Flagged \Deleted))`, "b8 OK NOOP completed")
	a.expectDo("a6 EXPUNGE", "* 1 EXPUNGE", "a6 OK EXPUNGE completed")
	b.expectDo("b9 UID FETCH 1:* UID", "* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)", "* 1 EXPUNGE", "b9 OK FETCH completed")

	// New messages: EXISTS for both, \Recent in exactly one.
	a.C("a7 APPEND INBOX {9+}")
	a.raw("Subject: \r\n")
	a.S("* 2 EXISTS")
	recentA := a.line()
	a.S("~a7 OK \\[APPENDUID \\d+ 4\\] APPEND completed")
	un, _ := b.do("c1 NOOP")
	if len(un) != 2 || un[0] != "* 2 EXISTS" {
		t.Fatalf("B after APPEND: %q", un)
	}
	// A already holds UID 3 as \Recent.
	if got := recentA + "/" + un[1]; got != "* 2 RECENT/* 0 RECENT" && got != "* 1 RECENT/* 1 RECENT" {
		t.Fatalf("RECENT counts %q: the new message must be \\Recent in exactly one session", got)
	}
}

func TestIdle(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg)
	a := ts.login("alice")
	b := ts.login("alice")
	selectInbox(a)
	c := ts.login("alice")
	c.expectDo("e ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "e OK ENABLE completed")
	selectInbox(c)
	selectInbox(b)
	a.C("a1 IDLE")
	a.S("+ idling")
	c.C("c1 IDLE")
	c.S("+ idling")
	// Changes arrive while idling, without any client command.
	b.expectDo(`b1 STORE 1 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	a.S(`* 1 FETCH (UID 1 FLAGS (\Deleted \Recent))`)
	c.S(`* 1 FETCH (UID 1 FLAGS (\Deleted))`)
	b.expectDo("b2 EXPUNGE", "* 1 EXPUNGE", "b2 OK EXPUNGE completed")
	a.S("* 1 EXPUNGE")
	c.S("* 1 EXPUNGE")
	b.C("b3 APPEND INBOX {9+}")
	b.raw("Subject: \r\n")
	b.until("b3 OK")
	a.S("* 2 EXISTS", "~\\* [12] RECENT")
	c.S("* 2 EXISTS") // IMAP4rev2: no RECENT
	a.C("DONE")
	a.S("a1 OK IDLE terminated")
	c.C("done")
	c.S("c1 OK IDLE terminated")
	// IDLE in the authenticated state, and a bad end.
	a.expectDo("a2 UNSELECT", "a2 OK UNSELECT completed")
	a.C("a3 IDLE")
	a.S("+ idling")
	a.C("NOPE")
	a.S("a3 BAD expected DONE")
	a.expectDo("a4 NOOP", "a4 OK NOOP completed")
}

// Every command in every state where it is not allowed gets BAD, and the
// session goes on.
func TestStateMatrix(t *testing.T) {
	examples := map[string]string{
		"CAPABILITY": "CAPABILITY", "NOOP": "NOOP", "LOGOUT": "LOGOUT", "ID": "ID NIL",
		"STARTTLS": "STARTTLS", "LOGIN": "LOGIN alice pw", "AUTHENTICATE": "AUTHENTICATE PLAIN AGFsaWNlAHB3",
		"ENABLE": "ENABLE IMAP4rev2", "SELECT": "SELECT INBOX", "EXAMINE": "EXAMINE INBOX",
		"CREATE": "CREATE x", "DELETE": "DELETE x", "RENAME": "RENAME x y", "SUBSCRIBE": "SUBSCRIBE x",
		"UNSUBSCRIBE": "UNSUBSCRIBE x", "LIST": `LIST "" *`, "LSUB": `LSUB "" *`, "NAMESPACE": "NAMESPACE",
		"STATUS": "STATUS INBOX (MESSAGES)", "APPEND": "APPEND INBOX {1+}\r\nx", "IDLE": "IDLE",
		"CHECK": "CHECK", "CLOSE": "CLOSE", "UNSELECT": "UNSELECT", "EXPUNGE": "EXPUNGE",
		"SEARCH": "SEARCH ALL", "FETCH": "FETCH 1 FLAGS", "STORE": `STORE 1 +FLAGS (\Seen)`,
		"COPY": "COPY 1 Trash", "MOVE": "MOVE 1 Trash", "NOTIFY": "NOTIFY NONE",
		"REPLACE": "REPLACE 1 INBOX {1+}\r\nx", "COMPRESS": "COMPRESS DEFLATE",
		"GETQUOTA": `GETQUOTA ""`, "GETQUOTAROOT": "GETQUOTAROOT INBOX", "SETQUOTA": `SETQUOTA "" (STORAGE 1)`,
		"GETMETADATA": `GETMETADATA "" /shared/comment`, "SETMETADATA": `SETMETADATA INBOX (/private/comment "x")`,
		"SORT": "SORT (DATE) UTF-8 ALL", "THREAD": "THREAD REFERENCES UTF-8 ALL",
		"CANCELUPDATE": `CANCELUPDATE "x"`,
	}
	for name := range commands {
		if _, ok := examples[name]; !ok {
			t.Fatalf("no example for %s", name)
		}
	}
	ts := newTestServer(t)
	pre := ts.dial()
	pre.line()
	auth := ts.login("alice")
	sel := ts.login("alice")
	selectInbox(sel)
	conns := []struct {
		st state
		c  *client
	}{{stateNotAuth, pre}, {stateAuth, auth}, {stateSelected, sel}}
	for name, h := range commands {
		for _, cs := range conns {
			if h.states&cs.st != 0 {
				continue
			}
			cs.c.expectDo("x "+examples[name], "x BAD command not allowed in this state")
			cs.c.expectDo("y NOOP", "y OK NOOP completed") // reset the BAD counter
		}
	}
	// UID only prefixes the commands that take it.
	auth.expectDo("u UID FETCH 1 FLAGS", "u BAD command not allowed in this state")
	sel.expectDo("u UID NOOP", "~u BAD .*")
}

// Every advertised capability is implemented (go-imap's start-up check).
func TestCapabilitiesImplemented(t *testing.T) {
	c := &conn{state: stateAuth, appendMax: 1}
	all := strings.Fields(c.capabilities())
	c = &conn{state: stateNotAuth, pcfg: &PreauthConfig{StartTLS: nil}}
	all = append(all, strings.Fields(c.capabilities())...)
	c = &conn{state: stateNotAuth, pcfg: &PreauthConfig{Secure: true}}
	all = append(all, strings.Fields(c.capabilities())...)
	all = append(all, "STARTTLS")
	for _, cp := range all {
		name := strings.SplitN(cp, "=", 2)[0]
		if strings.HasPrefix(cp, "AUTH=") || strings.HasPrefix(cp, "STATUS=") {
			name = cp
		}
		cmd, ok := capImplemented[name]
		if !ok {
			t.Errorf("capability %s advertised but not marked implemented", cp)
			continue
		}
		if cmd != "" {
			if _, ok := commands[cmd]; !ok {
				t.Errorf("capability %s: command %s missing", cp, cmd)
			}
		}
	}
	_ = imap.Star
}

// Sessions working on one mailbox at once all end with the same view.
func TestConcurrentSessionsConverge(t *testing.T) {
	ts := newTestServer(t)
	const n = 4
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = ts.login("alice")
		selectInbox(cs[i])
	}
	errs := make(chan error, n)
	for i, c := range cs {
		go func() {
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Errorf("%v", r)
					return
				}
				errs <- nil
			}()
			for k := 0; k < 15; k++ {
				c.raw(fmt.Sprintf("a%d APPEND INBOX {9+}\r\nSubject: \r\n", k))
				c.until(fmt.Sprintf("a%d OK", k))
				c.raw(fmt.Sprintf("b%d UID STORE %d,%d +FLAGS.SILENT (\\Deleted)\r\n", k, (k*5+i)%50+1, (k*7+i*3)%60+1))
				c.until(fmt.Sprintf("b%d ", k))
				if k%4 == i%4 {
					c.raw(fmt.Sprintf("c%d EXPUNGE\r\n", k))
					c.until(fmt.Sprintf("c%d OK", k))
				}
			}
		}()
	}
	for range cs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var views []string
	for _, c := range cs {
		_, tg := c.do("n NOOP")
		if tg != "n OK NOOP completed" {
			t.Fatal(tg)
		}
		un, _ := c.do("f UID SEARCH ALL")
		views = append(views, strings.Join(un, "|"))
	}
	if !strings.HasPrefix(views[0], "* SEARCH") {
		t.Fatalf("view %q", views[0])
	}
	t.Logf("final view: %s", views[0])
	for i := 1; i < n; i++ {
		if views[i] != views[0] {
			t.Fatalf("session %d sees %q, session 0 %q", i, views[i], views[0])
		}
	}
}
