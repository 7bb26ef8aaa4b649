package server

import (
	"testing"
)

func TestStore(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg)
	c := ts.login("alice")
	c.expectDo("e ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "e OK ENABLE completed")
	selectInbox(c)
	c.transcript(`
		C: a1 STORE 1:2 +FLAGS (\Flagged Todo)
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft Todo)
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft Todo \*)] Flags permitted
		S: * 1 FETCH (FLAGS (\Flagged Todo))
		S: * 2 FETCH (FLAGS (\Flagged Todo))
		S: a1 OK STORE completed
		C: a2 STORE 2 -FLAGS.SILENT (todo)
		S: a2 OK STORE completed
		C: a3 FETCH 2 FLAGS
		S: * 2 FETCH (FLAGS (\Flagged))
		S: a3 OK FETCH completed
		C: a4 UID STORE 3 FLAGS (\Seen \Answered)
		S: * 3 FETCH (UID 3 FLAGS (\Seen \Answered))
		S: a4 OK STORE completed
		C: a5 STORE 1 +FLAGS (\Recent)
		S: a5 BAD \Recent cannot be set
		C: a6 STORE 1 +FLAGS (\Bogus)
		S: a6 BAD unknown system flag \Bogus
		C: a7 STORE 9 +FLAGS (\Seen)
		S: a7 BAD invalid message sequence number
		C: a8 UID STORE 9 +FLAGS (\Seen)
		S: a8 OK STORE completed
	`)
}

func TestExpungeCloseUnselect(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg, plainMsg, plainMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.transcript(`
		C: a1 STORE 1,3,4 +FLAGS.SILENT (\Deleted)
		S: a1 OK STORE completed
		C: a2 UID EXPUNGE 3:5
		S: * 4 EXPUNGE
		S: * 3 EXPUNGE
		S: a2 OK EXPUNGE completed
		C: a3 EXPUNGE
		S: * 1 EXPUNGE
		S: a3 OK EXPUNGE completed
		C: a4 UID SEARCH ALL
		S: * SEARCH 2 5
		S: a4 OK SEARCH completed
		C: a5 STORE 1 +FLAGS.SILENT (\Deleted)
		S: a5 OK STORE completed
		C: a6 UNSELECT
		S: a6 OK UNSELECT completed
		C: a7 STATUS INBOX (MESSAGES DELETED)
		S: * STATUS INBOX (MESSAGES 2 DELETED 1)
		S: a7 OK STATUS completed
		C: a8 EXAMINE INBOX
		S~ .*FLAGS.*
		S: * 2 EXISTS
		S~ .*UIDVALIDITY.*
		S~ .*UIDNEXT.*
		S~ .*PERMANENTFLAGS \(\).*
		S: * 0 RECENT
		S~ .*UNSEEN 1.*
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: a8 OK [READ-ONLY] EXAMINE completed
		C: a9 EXPUNGE
		S: a9 NO [READ-ONLY] mailbox is read-only
		C: b1 CLOSE
		S: b1 OK CLOSE completed
		C: b2 STATUS INBOX (MESSAGES)
		S: * STATUS INBOX (MESSAGES 2)
		S: b2 OK STATUS completed
		C: b3 SELECT INBOX
		S~ .*FLAGS.*
		S: * 2 EXISTS
		S~ .*UIDVALIDITY.*
		S~ .*UIDNEXT.*
		S~ .*PERMANENTFLAGS.*
		S: * 0 RECENT
		S~ .*UNSEEN 1.*
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: b3 OK [READ-WRITE] SELECT completed
		C: b4 CLOSE
		S: b4 OK CLOSE completed
		C: b5 STATUS INBOX (MESSAGES)
		S: * STATUS INBOX (MESSAGES 1)
		S: b5 OK STATUS completed
		C: b6 CLOSE
		S: b6 BAD command not allowed in this state
	`)
}

func TestCopyMove(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.transcript(`
		C: a1 COPY 1:2 Archive
		S~ a1 OK \[COPYUID \d+ 1:2 1:2\] COPY completed
		C: a2 COPY 1 Nope
		S: a2 NO [TRYCREATE] no such mailbox
		C: a3 UID MOVE 2:3 Trash
		S~ \* OK \[COPYUID \d+ 2:3 1:2\] Moved
		S: * 3 EXPUNGE
		S: * 2 EXPUNGE
		S: a3 OK MOVE completed
		C: a4 MOVE 1 Nope
		S: a4 NO [TRYCREATE] no such mailbox
		C: a5 MOVE 1 INBOX
		S~ \* OK \[COPYUID \d+ 1 4\] Moved
		S: * 1 EXPUNGE
		S: * 1 EXISTS
		S: * 1 RECENT
		S: a5 OK MOVE completed
		C: a6 UID FETCH 1:* UID
		S: * 1 FETCH (UID 4)
		S: a6 OK FETCH completed
		C: a7 UID COPY 99 Archive
		S: a7 OK COPY completed (nothing to do)
		C: a8 STATUS Trash (MESSAGES)
		S: * STATUS Trash (MESSAGES 2)
		S: a8 OK STATUS completed
	`)
}

func TestSearch(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, mimeMsg, "Subject: third\r\nFrom: dave@example.net\r\n\r\nnothing here\r\n")
	c := ts.login("alice")
	selectInbox(c)
	c.C(`s0 STORE 2 +FLAGS.SILENT (\Seen \Flagged)`)
	c.until("s0 OK")
	for _, tc := range []struct{ q, want string }{
		{"SEARCH ALL", "* SEARCH 1 2 3"},
		{"SEARCH SEEN", "* SEARCH 2"},
		{"SEARCH UNSEEN", "* SEARCH 1 3"},
		{"SEARCH FLAGGED UNSEEN", "* SEARCH"},
		{"SEARCH OR FLAGGED SUBJECT third", "* SEARCH 2 3"},
		{"SEARCH NOT FROM alice", "* SEARCH 2 3"},
		{"SEARCH FROM ALICE", "* SEARCH 1"},
		{"SEARCH TO carol", "* SEARCH 1"},
		{"SEARCH SUBJECT hello", "* SEARCH 1"},
		{`SEARCH HEADER Message-ID "<1@"`, "* SEARCH 1"},
		{`SEARCH HEADER Message-ID ""`, "* SEARCH 1"},
		{"SEARCH BODY quarterly", "* SEARCH 2"},
		{"SEARCH TEXT dave", "* SEARCH 3"},
		{"SEARCH TEXT nothing", "* SEARCH 3"},
		{"SEARCH LARGER 200", "* SEARCH 2"},
		{"SEARCH SMALLER 100", "* SEARCH 3"},
		{"SEARCH 2:*", "* SEARCH 2 3"},
		{"SEARCH UID 1,3", "* SEARCH 1 3"},
		{"SEARCH BEFORE 6-Mar-2024", "* SEARCH 1"},
		{"SEARCH ON 6-Mar-2024", "* SEARCH 2"},
		{"SEARCH SINCE 6-Mar-2024", "* SEARCH 2 3"},
		{"SEARCH SENTON 5-Mar-2024", "* SEARCH 1"},
		{"SEARCH SENTSINCE 6-Mar-2024", "* SEARCH 2 3"},
		{"SEARCH SENTBEFORE 6-Mar-2024", "* SEARCH 1"},
		{"SEARCH KEYWORD foo", "* SEARCH"},
		{"SEARCH UNKEYWORD foo", "* SEARCH 1 2 3"},
		{"SEARCH RECENT", "* SEARCH 1 2 3"},
		{"SEARCH NEW", "* SEARCH 1 3"},
		{"SEARCH OLD", "* SEARCH"},
		{"SEARCH ANSWERED", "* SEARCH"},
		{"SEARCH UNDELETED UNDRAFT", "* SEARCH 1 2 3"},
		{"SEARCH CHARSET UTF-8 BODY quarterly", "* SEARCH 2"},
		{"UID SEARCH SEEN", "* SEARCH 2"},
		{"SEARCH RETURN (MIN MAX COUNT) UNSEEN", `* ESEARCH (TAG "t") MIN 1 MAX 3 COUNT 2`},
		{"SEARCH RETURN () ALL", `* ESEARCH (TAG "t") ALL 1:3`},
		{"UID SEARCH RETURN (ALL) 2:3", `* ESEARCH (TAG "t") UID ALL 2:3`},
		{"SEARCH RETURN (COUNT) SEEN UNSEEN", `* ESEARCH (TAG "t") COUNT 0`},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK SEARCH completed")
	}
	c.expectDo("t SEARCH CHARSET KOI8-R BODY x", "t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
	// SEARCHRES (RFC 5182): SAVE alone answers nothing, "$" reuses it.
	c.expectDo("t SEARCH RETURN (SAVE) UNSEEN", "t OK SEARCH completed")
	c.expectDo("t FETCH $ UID", "* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "t OK FETCH completed")
	c.expectDo("t SEARCH $ SUBJECT third", "* SEARCH 3", "t OK SEARCH completed")
	c.expectDo("t UID SEARCH RETURN (SAVE MIN) ALL", `* ESEARCH (TAG "t") UID MIN 1`, `t OK SEARCH completed`)
	c.expectDo("t UID FETCH $ UID", "* 1 FETCH (UID 1)", "t OK FETCH completed")
}

// RFC 9051 §6.4.4 example, adapted: a rev2 session gets ESEARCH.
func TestSearchRev2(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg)
	c := ts.login("alice")
	c.expectDo("e ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "e OK ENABLE completed")
	selectInbox(c)
	c.expectDo("A282 SEARCH RETURN (MIN COUNT) FLAGGED", `* ESEARCH (TAG "A282") COUNT 0`, "A282 OK SEARCH completed")
	c.expectDo("A283 SEARCH DELETED", `* ESEARCH (TAG "A283")`, "A283 OK SEARCH completed")
	c.expectDo("A284 UID SEARCH ALL", `* ESEARCH (TAG "A284") UID ALL 1:2`, "A284 OK SEARCH completed")
}
