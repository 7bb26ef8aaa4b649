package server

import (
	"fmt"
	"testing"
)

// RFC 6855: ENABLE UTF8=ACCEPT in an IMAP4rev1 session. Before it, 8-bit
// header fields in APPEND are refused (§4) and names go in modified UTF-7;
// after it, mailbox names and strings are UTF-8, APPEND takes UTF8 ( ),
// and SEARCH with CHARSET is BAD (§3).
func TestUTF8Accept(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	msg := "Subject: Grüße\r\nFrom: Jörg <jörg@example.org>\r\n\r\nHallo\r\n"
	c.expectDo(fmt.Sprintf("u1 APPEND INBOX {%d+}\r\n%s", len(msg), msg),
		"u1 NO [CANNOT] 8-bit header fields need ENABLE UTF8=ACCEPT (RFC 6855)")
	c.expectDo(fmt.Sprintf("u2 APPEND INBOX UTF8 (~{%d+}\r\n%s)", len(msg), msg), "u2 BAD UTF8 APPEND data needs ENABLE UTF8=ACCEPT")
	c.expectDo("u3 CREATE Entw&APw-rfe", `~u3 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	c.expectDo(`u4 LIST "" Entw*`, `* LIST (\HasNoChildren) "/" Entw&APw-rfe`, "u4 OK LIST completed")
	c.expectDo("u5 ENABLE UTF8=ACCEPT", "* ENABLED UTF8=ACCEPT", "u5 OK ENABLE completed")
	c.expectDo("u6 ENABLE UTF8=ACCEPT", "* ENABLED", "u6 OK ENABLE completed")
	c.expectDo(`u7 LIST "" Entw*`, `* LIST (\HasNoChildren) "/" "Entwürfe"`, "u7 OK LIST completed")
	c.expectDo(`u8 STATUS "Entwürfe" (MESSAGES)`, `* STATUS "Entwürfe" (MESSAGES 0)`, "u8 OK STATUS completed")
	c.expectDo(fmt.Sprintf("u9 APPEND INBOX UTF8 (~{%d+}\r\n%s)", len(msg), msg), `~u9 OK \[APPENDUID \d+ 1\] APPEND completed`)
	c.expectDo(fmt.Sprintf("v1 APPEND \"Entwürfe\" {%d+}\r\n%s", len(msg), msg), `~v1 OK \[APPENDUID \d+ 1\] APPEND completed`)
	selectInbox(c)
	c.expectDo("v2 FETCH 1 ENVELOPE",
		`* 1 FETCH (ENVELOPE (NIL "Grüße" (("Jörg" NIL "jörg" "example.org")) (("Jörg" NIL "jörg" "example.org")) (("Jörg" NIL "jörg" "example.org")) NIL NIL NIL NIL NIL))`,
		"v2 OK FETCH completed")
	c.expectDo("v3 SEARCH CHARSET UTF-8 SUBJECT Grüße", "v3 BAD no CHARSET after ENABLE UTF8=ACCEPT")
	c.expectDo("v4 SEARCH SUBJECT \"Grüße\"", "* SEARCH 1", "v4 OK SEARCH completed")
	// A session that did not enable it still gets 7-bit strings.
	o := ts.login("alice")
	selectInbox(o)
	o.expectDo("o1 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])",
		"* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {20}\r\nSubject: Grüße\r\n\r\n)", "o1 OK FETCH completed")
	o.expectDo(`o2 LIST "" Entw*`, `* LIST (\HasNoChildren) "/" Entw&APw-rfe`, "o2 OK LIST completed")
}
