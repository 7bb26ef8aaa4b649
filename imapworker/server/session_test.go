package server

import (
	"strings"
	"testing"
	"time"
)

const preCaps = "IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN"
const postCaps = "IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES BINARY STATUS=SIZE CONDSTORE QRESYNC NOTIFY SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES PARTIAL WITHIN CONTEXT=SEARCH CONTEXT=SORT COMPRESS=DEFLATE MULTIAPPEND REPLACE QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE UTF8=ACCEPT PREVIEW OBJECTID SAVEDATE METADATA METADATA-SERVER LIST-METADATA CATENATE APPENDLIMIT=1048576"

// The seed README's example session, exactly.
func TestReadmeSession(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.transcript(`
		S: * OK [CAPABILITY ` + preCaps + `] IMAP4rev2 Service Ready
		C: a001 LOGIN alice pw
		S: a001 OK [CAPABILITY ` + postCaps + `] LOGIN completed
		C: a002 SELECT INBOX
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * 0 EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT 1] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Flags permitted
		S: * 0 RECENT
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: a002 OK [READ-WRITE] SELECT completed
		C: a003 LOGOUT
		S: * BYE IMAP4rev2 Server logging out
		S: a003 OK LOGOUT completed
	`)
	c.closed()
}

func TestCapabilityNoopID(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.expectDo("a1 CAPABILITY", "* CAPABILITY "+preCaps, "a1 OK CAPABILITY completed")
	c.expectDo("a2 NOOP", "a2 OK NOOP completed")
	c.expectDo(`a3 ID ("name" "test" "version" "1")`, `* ID ("name" "imapd")`, "a3 OK ID completed")
	c.expectDo("a4 ID NIL", `* ID ("name" "imapd")`, "a4 OK ID completed")
	c.expectDo("a5 LOGIN alice pw", "a5 OK [CAPABILITY "+postCaps+"] LOGIN completed")
	c.expectDo("a6 CAPABILITY", "* CAPABILITY "+postCaps, "a6 OK CAPABILITY completed")
}

func TestLoginFailures(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.expectDo("a1 LOGIN alice wrong", "a1 NO [AUTHENTICATIONFAILED] Authentication failed")
	c.expectDo("a2 LOGIN", "~a2 BAD .*")
	c.expectDo("a3 SELECT INBOX", "a3 BAD command not allowed in this state")
	c.C(`a4 LOGIN "alice" {2}`)
	c.S("+ Ready for literal data")
	c.C("pw")
	c.S("~a4 OK \\[CAPABILITY .*\\] LOGIN completed")
}

func TestLoginDisabledWithoutTLS(t *testing.T) {
	ts := newTestServer(t, func(c *PreauthConfig) { c.Secure = false })
	c := ts.dial()
	c.S("* OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE LOGINDISABLED] IMAP4rev2 Service Ready")
	c.expectDo("a1 LOGIN alice pw", "a1 NO [PRIVACYREQUIRED] LOGIN disabled without TLS")
	c.expectDo("a2 AUTHENTICATE PLAIN AGFsaWNlAHB3", "a2 NO [PRIVACYREQUIRED] authentication disabled without TLS")
}

func TestAuthenticatePlain(t *testing.T) {
	ts := newTestServer(t)
	// SASL-IR (RFC 4959): "\0alice\0pw".
	c := ts.dial()
	c.line()
	c.expectDo("a1 AUTHENTICATE PLAIN AGFsaWNlAHB3", "~a1 OK \\[CAPABILITY .*\\] AUTHENTICATE completed")
	// Continuation form, with a wrong password first, then a cancel.
	c = ts.dial()
	c.line()
	c.transcript(`
		C: a1 AUTHENTICATE PLAIN
		S: + 
		C: AGFsaWNlAHdyb25n
		S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
		C: a2 AUTHENTICATE PLAIN
		S: + 
		C: *
		S: a2 BAD authentication cancelled
		C: a3 AUTHENTICATE CRAM-MD5
		S: a3 NO [CANNOT] unsupported authentication mechanism
		C: a4 AUTHENTICATE PLAIN
		S: + 
		C: AGFsaWNlAHB3
		S~ a4 OK \[CAPABILITY .*\] AUTHENTICATE completed
	`)
}

func TestGarbageBeforeCommand(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.C("GET / HTTP/1.1")
	c.S("* BYE not an IMAP client")
	c.closed()
}

func TestBadCommandsThenBye(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.expectDo("a0 NOOP", "a0 OK NOOP completed")
	for i := 0; i < maxBadCommands-1; i++ {
		c.expectDo("b FROB", "b BAD unknown command")
	}
	c.C("b FROB")
	c.S("b BAD unknown command", "* BYE too many bad commands")
	c.closed()
}

func TestLineTooLong(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.C("a1 NOOP " + strings.Repeat("x", 70<<10))
	c.S("a1 BAD line too long")
	c.expectDo("a2 NOOP", "a2 OK NOOP completed")
}

// A line that goes on past the limit and the discard budget: BAD, BYE,
// close, without waiting for the line's end (DESIGN §6).
func TestLineGoesOn(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.raw("a1 NOOP " + strings.Repeat("x", 3<<20))
	c.S("a1 BAD line too long", "* BYE line too long")
	c.closed()
}

func TestPipelinedLoginHandoff(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	// Commands after LOGIN in the same write are run by the session.
	c.raw("a1 LOGIN alice pw\r\na2 SELECT INBOX\r\na3 NOOP\r\n")
	c.S("~a1 OK \\[CAPABILITY .*\\] LOGIN completed")
	lines := c.until("a3 ")
	if !strings.HasPrefix(lines[len(lines)-2], "a2 OK [READ-WRITE]") || lines[len(lines)-1] != "a3 OK NOOP completed" {
		t.Fatalf("pipelined responses %q", lines)
	}
}

func TestLogoutEverywhere(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.expectDo("a1 LOGOUT", "* BYE IMAP4rev2 Server logging out", "a1 OK LOGOUT completed")
	c.closed()
	c = ts.login("alice")
	c.expectDo("s SELECT INBOX", "~.*", "~.*", "~.*", "~.*", "~.*", "~.*", `~\* OK \[MAILBOXID \([\w-]+\)\] Ok`, "~s OK .*")
	c.expectDo("a1 LOGOUT", "* BYE IMAP4rev2 Server logging out", "a1 OK LOGOUT completed")
	c.closed()
}

func TestShutdownSendsBye(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.expectDo("a1 NOOP", "a1 OK NOOP completed")
	ts.cancel()
	c.S("* BYE shutting down")
	c.closed()
	// Also while IDLE.
	ts = newTestServer(t)
	c = ts.login("alice")
	c.C("a1 IDLE")
	c.S("+ idling")
	ts.cancel()
	c.S("* BYE shutting down")
	c.closed()
}

// Before login literals are tiny (DESIGN §6); a refused synchronizing
// literal is answered at once, a refused non-synchronizing one that cannot
// be skipped ends the connection (RFC 7888 §4).
func TestPreauthLiteralLimits(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	c.expectDo("a0 NOOP", "a0 OK NOOP completed")
	c.expectDo("a1 LOGIN alice {100000}", "a1 NO [LIMIT] literal too big")
	c.expectDo("a2 NOOP", "a2 OK NOOP completed")
	c.C("a3 LOGIN alice {100000+}")
	c.S("a3 NO [LIMIT] literal too big", "* BYE literal refused, cannot resynchronize")
	c.closed()
}

// A failed SELECT leaves the session in the authenticated state (RFC 9051
// §6.3.2).
func TestSelectFailureDeselects(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("a1 SELECT Nope", "* OK [CLOSED] Previous mailbox closed", "a1 NO [NONEXISTENT] no such mailbox")
	c.expectDo("a2 FETCH 1 FLAGS", "a2 BAD command not allowed in this state")
	c.expectDo("a3 CREATE P/C", `~a3 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	c.expectDo("a4 DELETE P", "a4 OK DELETE completed")
	c.expectDo("a5 SELECT P", "a5 NO [CANNOT] mailbox cannot be selected")
}

// RFC 9051 §5.4: an idle client is logged out; before login LoginTimeout
// bounds the whole not-authenticated state, busy or not.
func TestAutologoutBeforeLogin(t *testing.T) {
	ts := newTestServer(t, func(c *PreauthConfig) { c.LoginTimeout = 300 * time.Millisecond })
	c := ts.dial()
	c.line()
	for i := 0; i < 3; i++ {
		time.Sleep(50 * time.Millisecond)
		c.C("n NOOP")
		c.S("n OK NOOP completed")
	}
	c.S("* BYE Autologout; login took too long")
	c.closed()
}

// `limit line` reaches the reader: before login it may only tighten the
// built-in cap.
func TestMaxLineBeforeLogin(t *testing.T) {
	ts := newTestServer(t, func(c *PreauthConfig) { c.MaxLine = 100 })
	c := ts.dial()
	c.line()
	c.expectDo("a0 NOOP", "a0 OK NOOP completed")
	c.expectDo("a1 LOGIN "+strings.Repeat("x", 200)+" pw", "a1 BAD line too long")
	c.expectDo("a2 NOOP", "a2 OK NOOP completed")
}
