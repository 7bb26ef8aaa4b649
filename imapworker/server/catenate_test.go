package server

import (
	"strconv"
	"strings"
	"testing"
)

// RFC 4469 §4-§5: a message built from TEXT parts and URLs of an existing
// message's sections, as a client forwards a part; BADURL and TOOBIG.
func TestCatenate(t *testing.T) {
	ts := newTestServer(t)
	ts.setSession(func(s *SessionConfig) { s.AppendLimit = 4096 })
	c := ts.login("alice")
	orig := "Subject: draft\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n"
	c.C("a1 APPEND Drafts {" + strconv.Itoa(len(orig)) + "+}")
	c.raw(orig + "\r\n")
	if tg := c.line(); !strings.HasPrefix(tg, "a1 OK [APPENDUID ") {
		t.Fatalf("APPEND: %s", tg)
	}
	un, _ := c.do("a2 STATUS Drafts (UIDVALIDITY)")
	uv := capture(t, un[0], `UIDVALIDITY (\d+)`)
	base := "/Drafts;UIDVALIDITY=" + uv + "/;UID=1"
	text := "\r\n--b\r\n"
	c.C(`a3 APPEND Drafts (\Seen \Draft $MDNSent) CATENATE (URL "` + base + `/;SECTION=HEADER" TEXT {` + strconv.Itoa(len(text)) + "}")
	c.S("+ Ready for literal data")
	c.raw(text + ` URL "` + base + `/;SECTION=2.MIME" URL "` + base + `/;SECTION=2" TEXT {9+}` + "\r\n\r\n--b--\r\n" +
		` URL "` + base + `/;SECTION=1/;PARTIAL=0.5"` + ")\r\n")
	c.S(`~a3 OK \[APPENDUID ` + uv + ` 2\] APPEND completed`)
	want := "Subject: draft\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\nfirst"
	c.C("a4 EXAMINE Drafts")
	c.until("a4 OK")
	c.expectDo("a5 FETCH 2 (FLAGS BODY.PEEK[])", `* 2 FETCH (FLAGS (\Seen \Draft $MDNSent \Recent) BODY[] {`+strconv.Itoa(len(want))+"}\r\n"+want+")", "a5 OK FETCH completed")
	c.transcript(`
		C: b1 APPEND INBOX CATENATE (URL "/Drafts;UIDVALIDITY=1/;UID=1")
		S: b1 NO [BADURL /Drafts;UIDVALIDITY=1/;UID=1] URL does not name a message of yours
		C: b2 APPEND INBOX CATENATE (URL "/Drafts/;UID=9")
		S: b2 NO [BADURL /Drafts/;UID=9] URL does not name a message of yours
		C: b3 APPEND INBOX CATENATE (URL "/Drafts/;UID=1/;SECTION=7")
		S: b3 NO [BADURL /Drafts/;UID=1/;SECTION=7] URL does not name a message of yours
		C: b4 APPEND INBOX CATENATE (URL "imap://bob@localhost/Drafts/;UID=1")
		S: b4 NO [BADURL imap://bob@localhost/Drafts/;UID=1] URL does not name a message of yours
		C: b5 APPEND INBOX CATENATE (URL "/Nosuch/;UID=1")
		S: b5 NO [BADURL /Nosuch/;UID=1] URL does not name a message of yours
		C: b6 APPEND INBOX CATENATE (URL "imap://alice@localhost/Drafts/;UID=1/;SECTION=1") (\Seen) CATENATE (TEXT {3+}
		C: x
		C: )
		S~ b6 OK \[APPENDUID \d+ 1:2\] APPEND completed
		C: b7 APPEND INBOX CATENATE (URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1" URL "/Drafts/;UID=1")
		S: b7 NO [TOOBIG] catenated message exceeds APPENDLIMIT
		C: b8 APPEND INBOX CATENATE (FOO)
		S~ b8 BAD .*
		C: b9 STATUS INBOX (MESSAGES)
		S: * STATUS INBOX (MESSAGES 2)
		S: b9 OK STATUS completed
	`)
	c.C("c1 EXAMINE INBOX")
	c.until("c1 OK")
	c.expectDo("c2 FETCH 1:2 BODY.PEEK[]", "* 1 FETCH (BODY[] {10}\r\nfirst part)", "* 2 FETCH (BODY[] {3}\r\nx\r\n)", "c2 OK FETCH completed")
}

func TestMaildirCatenate(t *testing.T) {
	withMaildir(t)
	TestCatenate(t)
}
