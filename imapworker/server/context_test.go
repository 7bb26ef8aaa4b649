package server

import (
	"testing"
	"time"

	"imapd/imapworker/store"
)

// RFC 5267 §4.3: a session holding updating searches sees ADDTO and
// REMOVEFROM as another session and an MDA change the mailbox: ADDTO after
// the EXISTS, REMOVEFROM before the EXPUNGE, positions in the requested
// order for SORT, 0 and mailbox order for SEARCH.
func TestContextUpdate(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, mail(300, "Subject: a"), mail(100, "Subject: b"), mail(200, "Subject: c"))
	c := ts.login("alice")
	c.expectDo("e ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "e OK ENABLE completed")
	selectInbox(c)
	o := ts.login("alice")
	selectInbox(o)
	c.transcript(`
		C: B01 UID SEARCH RETURN (UPDATE COUNT) FLAGGED
		S: * ESEARCH (TAG "B01") UID COUNT 0
		S: B01 OK SEARCH completed
		C: B02 SORT RETURN (UPDATE ALL CONTEXT) (REVERSE SIZE) UTF-8 UNDELETED
		S: * ESEARCH (TAG "B02") ALL 1,3,2
		S: B02 OK SORT completed
		C: B01 SORT RETURN (UPDATE) (DATE) UTF-8 ALL
		S: B01 BAD tag already names an updating search
		C: C01 SEARCH RETURN (UPDATE) 1:2
		S: * ESEARCH (TAG "C01")
		S: * NO [NOUPDATE "C01"] no updates for this search
		S: C01 OK SEARCH completed
	`)
	// Another session flags 2 and 3: B01 gains them, B02 is unchanged.
	o.expectDo(`o STORE 2:3 +FLAGS.SILENT (\Flagged)`, "o OK STORE completed")
	c.transcript(`
		C: n1 NOOP
		S: * 2 FETCH (UID 2 FLAGS (\Flagged))
		S: * 3 FETCH (UID 3 FLAGS (\Flagged))
		S: * ESEARCH (TAG "B01") UID ADDTO (0 2:3)
		S: n1 OK NOOP completed
	`)
	// An MDA delivers a message of middle size: B02 places it second.
	u, _ := ts.backend.Open("alice")
	if _, _, err := u.Append("INBOX", store.Flags{}, time.Now(), []byte(mail(250, "Subject: d"))); err != nil {
		t.Fatal(err)
	}
	c.transcript(`
		C: n2 NOOP
		S: * 4 EXISTS
		S: * ESEARCH (TAG "B02") ADDTO (2 4)
		S: n2 OK NOOP completed
	`)
	// Our own STORE: 3 leaves B02 (now 1 4 2) from its third place.
	c.transcript(`
		C: s1 STORE 3 +FLAGS.SILENT (\Deleted)
		S: * ESEARCH (TAG "B02") REMOVEFROM (3 3)
		S: s1 OK STORE completed
	`)
	// The other session expunges 3: B01 loses it before the EXPUNGE.
	o.C("x EXPUNGE")
	o.until("x OK")
	c.transcript(`
		C: n3 NOOP
		S: * ESEARCH (TAG "B01") UID REMOVEFROM (0 3)
		S: * 3 EXPUNGE
		S: n3 OK NOOP completed
	`)
	// Numbers in B02 follow the expunge: the new message is 3 now.
	o.expectDo(`o STORE 1 +FLAGS.SILENT (\Deleted)`, "o OK STORE completed")
	c.transcript(`
		C: n4 NOOP
		S: * 1 FETCH (UID 1 FLAGS (\Deleted))
		S: * ESEARCH (TAG "B02") REMOVEFROM (1 1)
		S: n4 OK NOOP completed
		C: b3 SORT RETURN (ALL) (REVERSE SIZE) UTF-8 UNDELETED
		S: * ESEARCH (TAG "b3") ALL 3,2
		S: b3 OK SORT completed
	`)
	// CANCELUPDATE ends B01's updates; an unknown tag is refused.
	c.transcript(`
		C: cu CANCELUPDATE "B01"
		S: cu OK no further updates
		C: cu CANCELUPDATE "B01"
		S: cu BAD no updating search has tag "B01"
	`)
	o.expectDo(`o STORE 1 +FLAGS.SILENT (\Flagged)`, "o OK STORE completed")
	c.transcript(`
		C: n5 NOOP
		S: * 1 FETCH (UID 1 FLAGS (\Flagged \Deleted))
		S: n5 OK NOOP completed
	`)
	// Updates end with the mailbox.
	selectInbox(c)
	o.expectDo(`o STORE 2 -FLAGS.SILENT (\Flagged)`, "o OK STORE completed")
	c.transcript(`
		C: n6 NOOP
		S: * 2 FETCH (UID 2 FLAGS ())
		S: n6 OK NOOP completed
	`)
}
