package server

import (
	"fmt"
	"strings"
	"testing"
)

const rfc8508Draft1 = "Date: Thu, 1 Jan 2015 00:05:00 -0500 (EST)\r\n" +
	"From: Fritz Schmidt <fritz.ze@example.org>\r\n" +
	"Subject: happy new year !!\r\n" +
	"To: miss.mitzy@example.org\r\n" +
	"Message-Id: <B238822388-0100000@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n" +
	"\r\n" +
	"Just saw the best fireworks show. Wish you were here.\r\n"

// RFC 8508 §3.2-3.4 and their examples: REPLACE and UID REPLACE append the
// new message and expunge the old one as one action. (The examples send
// EXISTS before EXPUNGE; this server sends a mailbox's EXPUNGEs first, as
// for MOVE, so no count includes both.)
func TestReplace(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg, plainMsg)
	c := ts.login("alice")
	if un, _ := c.do("a0 CAPABILITY"); !strings.Contains(un[0], " REPLACE") {
		t.Fatalf("REPLACE not advertised: %q", un)
	}
	c.C("s0 SELECT Drafts")
	c.until("s0 OK")
	c.expectDo("a1 REPLACE 1 Drafts {1+}\r\nx", "a1 BAD invalid message sequence number")
	selectInbox(c)
	c.C(fmt.Sprintf(`A003 REPLACE 4 INBOX (\Seen \Draft) {%d}`, len(rfc8508Draft1)))
	c.S("+ Ready for literal data")
	c.raw(rfc8508Draft1 + "\r\n")
	c.S(`~\* OK \[APPENDUID \d+ 5\] Replacement Message ready`, "* 4 EXPUNGE", "* 4 EXISTS", "* 4 RECENT", "A003 OK REPLACE completed")
	// UID REPLACE into another mailbox: the old one goes, the new one is
	// elsewhere.
	c.C(`A004 UID REPLACE 5 Drafts (\Seen \Draft) {12+}`)
	c.raw("Subject: 2\r\n\r\n")
	c.S(`~\* OK \[APPENDUID \d+ 1\] Replacement Message ready`, "* 4 EXPUNGE", "A004 OK REPLACE completed")
	// Nothing happens unless both parts can: TRYCREATE keeps the old one.
	c.expectDo("A005 REPLACE 1 Nope {1+}\r\nx", "A005 NO [TRYCREATE] no such mailbox")
	c.expectDo("A006 UID REPLACE 99 Drafts {1+}\r\nx", "A006 NO [NONEXISTENT] no such message")
	c.expectDo("A007 UID FETCH 1:* (FLAGS)",
		`* 1 FETCH (UID 1 FLAGS (\Recent))`, `* 2 FETCH (UID 2 FLAGS (\Recent))`, `* 3 FETCH (UID 3 FLAGS (\Recent))`,
		"A007 OK FETCH completed")
	c.expectDo("A008 STATUS Drafts (MESSAGES)", "* STATUS Drafts (MESSAGES 1)", "A008 OK STATUS completed")
	c.C("A009 EXAMINE INBOX")
	c.until("A009 OK")
	c.expectDo("A010 REPLACE 1 INBOX {1+}\r\nx", "A010 NO [READ-ONLY] mailbox is read-only")
	c.expectDo("A011 STATUS INBOX (MESSAGES)", "* STATUS INBOX (MESSAGES 3)", "A011 OK STATUS completed")
}
