package server

import (
	"fmt"
	"strings"
	"testing"
)

const (
	rfc3502Msg1 = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n" +
		"From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n" +
		"Subject: afternoon meeting\r\n" +
		"To: mooch@owatagu.example.net\r\n" +
		"Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" +
		"\r\n" +
		"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
	rfc3502Msg2 = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n" +
		"From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n" +
		"Subject: Re: afternoon meeting\r\n" +
		"To: foobar@blurdybloop.example.com\r\n" +
		"Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" +
		"\r\n" +
		"3:30 is fine with me.\r\n"
)

// RFC 3502 §3 and its example: several messages in one APPEND, all or
// none, one APPENDUID with the UID set (RFC 4315 as RFC 3502 amends it).
func TestMultiAppend(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	if un, _ := c.do("a0 CAPABILITY"); !strings.Contains(un[0], " MULTIAPPEND") {
		t.Fatalf("MULTIAPPEND not advertised: %q", un)
	}
	c.expectDo("a1 CREATE saved-messages", `~a1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	c.C(fmt.Sprintf(`A003 APPEND saved-messages (\Seen) {%d}`, len(rfc3502Msg1)))
	c.S("+ Ready for literal data")
	c.raw(rfc3502Msg1 + fmt.Sprintf(` (\Seen) " 7-Feb-1994 22:43:04 -0800" {%d}`+"\r\n", len(rfc3502Msg2)))
	c.S("+ Ready for literal data")
	c.raw(rfc3502Msg2 + "\r\n")
	c.S(`~A003 OK \[APPENDUID \d+ 1:2\] APPEND completed`)
	// Non-synchronizing literals, three at once, the second a literal8.
	c.raw("A004 APPEND saved-messages {11+}\r\nSubject: \r\n ~{5+}\r\na\x00b\r\n (\\Flagged) {3+}\r\nx\r\n\r\n")
	c.S(`~A004 OK \[APPENDUID \d+ 3:5\] APPEND completed`)
	// All or none: the mailbox is missing, nothing is stored anywhere.
	c.raw("A005 APPEND bogusname (\\Flagged) {3+}\r\nx\r\n {3+}\r\ny\r\n\r\n")
	c.S("A005 NO [TRYCREATE] no such mailbox")
	// One bad flag refuses the whole command.
	c.raw("A006 APPEND saved-messages {3+}\r\nx\r\n (\\Recent) {3+}\r\ny\r\n\r\n")
	c.S(`A006 BAD \Recent cannot be set`)
	c.transcript(`
		C: A007 STATUS saved-messages (MESSAGES UIDNEXT)
		S: * STATUS saved-messages (MESSAGES 5 UIDNEXT 6)
		S: A007 OK STATUS completed
		C: A008 SELECT saved-messages
	`)
	c.until("A008 OK")
	c.expectDo("A009 FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)",
		`~\* 1 FETCH \(FLAGS \(\\Seen \\Recent\) INTERNALDATE ".*" RFC822.SIZE 329\)`,
		`~\* 2 FETCH \(FLAGS \(\\Seen \\Recent\) INTERNALDATE "( 7-Feb-1994 22:43:04 -0800| 8-Feb-1994 06:43:04 \+0000)" RFC822.SIZE 295\)`,
		`~\* 3 FETCH \(FLAGS \(\\Recent\) INTERNALDATE ".*" RFC822.SIZE 11\)`,
		`~\* 4 FETCH \(FLAGS \(\\Recent\) INTERNALDATE ".*" RFC822.SIZE 5\)`,
		`~\* 5 FETCH \(FLAGS \(\\Flagged \\Recent\) INTERNALDATE ".*" RFC822.SIZE 3\)`,
		"A009 OK FETCH completed")
	c.expectDo("A010 FETCH 4 BINARY.PEEK[]", "* 4 FETCH (BINARY[] ~{5}\r\na\x00b\r\n)", "A010 OK FETCH completed")
}

// A MULTIAPPEND is held whole until stored: more than twice APPENDLIMIT
// in one command is refused before the literal that crosses it is read.
func TestMultiAppendLimit(t *testing.T) {
	ts := newTestServer(t) // APPENDLIMIT 1 MiB
	c := ts.login("alice")
	big := strings.Repeat("x", 700<<10)
	c.C(fmt.Sprintf("a1 APPEND INBOX {%d}", len(big)))
	c.S("+ Ready for literal data")
	c.raw(big + fmt.Sprintf(" {%d}\r\n", len(big)))
	c.S("+ Ready for literal data")
	c.raw(big + fmt.Sprintf(" {%d}\r\n", len(big)))
	c.S("a1 NO [LIMIT] MULTIAPPEND too large; send fewer messages at once")
	c.expectDo("a2 STATUS INBOX (MESSAGES)", "* STATUS INBOX (MESSAGES 0)", "a2 OK STATUS completed")
}
