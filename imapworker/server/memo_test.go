package server

import (
	"testing"
	"time"

	"imapd/imapworker/store"
)

// deliver adds a message to alice's INBOX as an MDA would.
func deliver(t *testing.T, ts *testServer, msg string) {
	t.Helper()
	u, _ := ts.backend.Open("alice")
	if _, _, err := u.Append("INBOX", store.Flags{}, time.Date(2024, 4, 1, 9, 0, 0, 0, time.UTC), []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// noLooks runs a command that must be answered from a memo: it looks up
// no cached sort record or header.
func noLooks(t *testing.T, c *client, n *readCounts, cmd string, want ...string) {
	t.Helper()
	n.looks.Store(0)
	c.expectDo(cmd, want...)
	if l := n.looks.Load(); l != 0 {
		t.Fatalf("C: %s: %d cache lookups, want none (answered from the memo)", cmd, l)
	}
}

// A repeated SORT is answered from the memo of the last one; a message
// added, expunged or flagged out of the search is never missed.
func TestSortMemo(t *testing.T) {
	var n readCounts
	withReadCounts(t, &n)
	ts := newTestServer(t)
	seed(t, ts,
		mail(1, "Subject: delta", "Date: 10 Mar 2024 10:00:00 +0000"),
		mail(1, "Subject: alpha", "Date: 08 Mar 2024 10:00:00 +0000"),
		mail(1, "Subject: charlie", "Date: 09 Mar 2024 10:00:00 +0000"),
		mail(1, "Subject: bravo", "Date: 07 Mar 2024 10:00:00 +0000"),
	)
	c := ts.login("alice")
	selectInbox(c)
	c.transcript(`
		C: t SORT (SUBJECT) UTF-8 ALL
		S: * SORT 2 4 3 1
		S: t OK SORT completed
		C: t SORT (DATE) UTF-8 ALL
		S: * SORT 4 2 3 1
		S: t OK SORT completed
	`)
	noLooks(t, c, &n, "t SORT (DATE) UTF-8 ALL", "* SORT 4 2 3 1", "t OK SORT completed")
	noLooks(t, c, &n, "t UID SORT (DATE) UTF-8 ALL", "* SORT 4 2 3 1", "t OK SORT completed")
	// A delivery: the repeat sorts the new message in (its base subject
	// ties with 2's; the sequence number breaks the tie).
	deliver(t, ts, mail(1, "Subject: Re: alpha", "Date: 11 Mar 2024 10:00:00 +0000"))
	c.transcript(`
		C: t NOOP
		S: * 5 EXISTS
		S: * 5 RECENT
		S: t OK NOOP completed
		C: t SORT (DATE) UTF-8 ALL
		S: * SORT 4 2 3 1 5
		S: t OK SORT completed
		C: t SORT (SUBJECT) UTF-8 ALL
		S: * SORT 2 5 4 3 1
		S: t OK SORT completed
		C: t STORE 4 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t SORT (SUBJECT) UTF-8 UNDELETED
		S: * SORT 2 5 3 1
		S: t OK SORT completed
		C: t STORE 1 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t STORE 4 -FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t SORT (SUBJECT) UTF-8 UNDELETED
		S: * SORT 2 5 4 3
		S: t OK SORT completed
		C: t STORE 1 -FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t STORE 4 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t SORT (SUBJECT) UTF-8 ALL
		S: * SORT 2 5 4 3 1
		S: t OK SORT completed
		C: t EXPUNGE
		S: * 4 EXPUNGE
		S: t OK EXPUNGE completed
		C: t SORT (SUBJECT) UTF-8 ALL
		S: * SORT 2 4 3 1
		S: t OK SORT completed
		C: t UID SORT (SUBJECT) UTF-8 ALL
		S: * SORT 2 5 3 1
		S: t OK SORT completed
	`)
	// Another session expunges: the repeat after the EXPUNGE lacks it.
	c2 := ts.login("alice")
	selectInbox(c2)
	c2.expectDo(`t UID STORE 2 +FLAGS.SILENT (\Deleted)`, "t OK STORE completed")
	c2.expectDo("t EXPUNGE", "* 2 EXPUNGE", "t OK EXPUNGE completed")
	c.transcript(`
		C: t NOOP
		S: * 2 EXPUNGE
		S: t OK NOOP completed
		C: t UID SORT (SUBJECT) UTF-8 ALL
		S: * SORT 5 3 1
		S: t OK SORT completed
	`)
	noLooks(t, c, &n, "t SORT (SUBJECT) UTF-8 ALL", "* SORT 3 2 1", "t OK SORT completed")
}

// A repeated THREAD is answered from the memo of the last one, in UIDs
// or message numbers; a reply delivered meanwhile joins its thread.
func TestThreadMemo(t *testing.T) {
	var n readCounts
	withReadCounts(t, &n)
	ts := newTestServer(t)
	seed(t, ts,
		threadMsg(1, "<a@x>", "topic"),
		threadMsg(2, "<b@x>", "Re: topic", "References: <a@x>"),
		threadMsg(3, "<c@x>", "other"),
	)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", "* THREAD (1 2)(3)", "t OK THREAD completed")
	noLooks(t, c, &n, "t THREAD REFERENCES UTF-8 ALL", "* THREAD (1 2)(3)", "t OK THREAD completed")
	c.expectDo("t THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 2)(3)", "t OK THREAD completed")
	deliver(t, ts, threadMsg(4, "<d@x>", "Re: topic", "References: <a@x> <b@x>"))
	deliver(t, ts, threadMsg(5, "<e@x>", "Re: other", "In-Reply-To: <c@x>"))
	c.transcript(`
		C: t NOOP
		S: * 5 EXISTS
		S: * 5 RECENT
		S: t OK NOOP completed
		C: t THREAD REFERENCES UTF-8 ALL
		S: * THREAD (1 2 4)(3 5)
		S: t OK THREAD completed
		C: t STORE 1 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t THREAD REFERENCES UTF-8 UNDELETED
		S: * THREAD (2 4)(3 5)
		S: t OK THREAD completed
		C: t STORE 1:5 FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t STORE 1:4 -FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t THREAD REFERENCES UTF-8 UNDELETED
		S: * THREAD (1 2 4)(3)
		S: t OK THREAD completed
		C: t STORE 1:5 FLAGS.SILENT ()
		S: t OK STORE completed
		C: t STORE 1 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t EXPUNGE
		S: * 1 EXPUNGE
		S: t OK EXPUNGE completed
		C: t THREAD REFERENCES UTF-8 ALL
		S: * THREAD (1 3)(2 4)
		S: t OK THREAD completed
	`)
	noLooks(t, c, &n, "t UID THREAD REFERENCES UTF-8 ALL", "* THREAD (2 4)(3 5)", "t OK THREAD completed")
}

// The next page of a paged search comes from the memo of the page
// before; a change between pages (a flag, an expunge, a delivery) makes
// it search again.
func TestPartialMemo(t *testing.T) {
	var n readCounts
	withReadCounts(t, &n)
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg, plainMsg, plainMsg, plainMsg, mimeMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t UID SEARCH RETURN (PARTIAL 1:2) SUBJECT hello", `* ESEARCH (TAG "t") UID PARTIAL (1:2 1:2)`, "t OK SEARCH completed")
	noLooks(t, c, &n, "t UID SEARCH RETURN (PARTIAL 3:4) SUBJECT hello", `* ESEARCH (TAG "t") UID PARTIAL (3:4 3:4)`, "t OK SEARCH completed")
	noLooks(t, c, &n, "t UID SEARCH RETURN (COUNT PARTIAL -1:-2) SUBJECT hello", `* ESEARCH (TAG "t") UID COUNT 6 PARTIAL (-1:-2 5:6)`, "t OK SEARCH completed")
	c.transcript(`
		C: t UID SEARCH RETURN (PARTIAL 1:2) UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (1:2 1:2)
		S: t OK SEARCH completed
		C: t STORE 2 +FLAGS.SILENT (\Deleted)
		S: t OK STORE completed
		C: t UID SEARCH RETURN (PARTIAL 3:4) UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (3:4 4:5)
		S: t OK SEARCH completed
		C: t SEARCH RETURN (PARTIAL 3:4) UNDELETED
		S: * ESEARCH (TAG "t") PARTIAL (3:4 4:5)
		S: t OK SEARCH completed
		C: t UID SORT RETURN (PARTIAL 1:3) (REVERSE ARRIVAL) UTF-8 UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (1:3 7,6,5)
		S: t OK SORT completed
	`)
	// Another session expunges 4 between the pages.
	c2 := ts.login("alice")
	selectInbox(c2)
	c2.expectDo(`t UID STORE 4 +FLAGS.SILENT (\Deleted)`, "t OK STORE completed")
	c2.expectDo("t UID EXPUNGE 4", "* 4 EXPUNGE", "t OK EXPUNGE completed")
	c.transcript(`
		C: t NOOP
		S: * 4 EXPUNGE
		S: t OK NOOP completed
		C: t UID SEARCH RETURN (PARTIAL 3:4) UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (3:4 5:6)
		S: t OK SEARCH completed
		C: t UID SORT RETURN (PARTIAL 1:3) (REVERSE ARRIVAL) UTF-8 UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (1:3 7,6,5)
		S: t OK SORT completed
		C: t UID SORT RETURN (PARTIAL 4:5) (REVERSE ARRIVAL) UTF-8 UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (4:5 3,1)
		S: t OK SORT completed
	`)
	deliver(t, ts, plainMsg)
	c.transcript(`
		C: t NOOP
		S: * 7 EXISTS
		S: * 7 RECENT
		S: t OK NOOP completed
		C: t UID SEARCH RETURN (PARTIAL -1:-2) UNDELETED
		S: * ESEARCH (TAG "t") UID PARTIAL (-1:-2 7:8)
		S: t OK SEARCH completed
	`)
}
