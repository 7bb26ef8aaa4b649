package server

import (
	"testing"
	"time"

	"imapd/imapworker/store"
)

// RFC 9394 §3.3: the PARTIAL modifier of UID FETCH.
func TestUIDFetchPartial(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg, plainMsg, plainMsg, plainMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo(`t STORE 2 +FLAGS.SILENT (\Deleted)`, "t OK STORE completed")
	c.expectDo("t EXPUNGE", "* 2 EXPUNGE", "t OK EXPUNGE completed")
	c.transcript(`
		C: 10 UID FETCH 1:* (UID) (PARTIAL -1:-3)
		S: * 2 FETCH (UID 3)
		S: * 3 FETCH (UID 4)
		S: * 4 FETCH (UID 5)
		S: 10 OK FETCH completed
		C: 11 UID FETCH 2:5 (UID) (PARTIAL 1:2)
		S: * 2 FETCH (UID 3)
		S: * 3 FETCH (UID 4)
		S: 11 OK FETCH completed
		C: 12 UID FETCH 1:* (UID) (PARTIAL 5:9)
		S: 12 OK FETCH completed
		C: 13 UID FETCH 1:* FLAGS (PARTIAL -4:-4)
		S: * 1 FETCH (UID 1 FLAGS (\Recent))
		S: 13 OK FETCH completed
	`)
	c.expectDo("14 FETCH 1:* (UID) (PARTIAL 1:2)", "14 BAD PARTIAL is a UID FETCH modifier")
	c.expectDo("15 UID FETCH 1:* (UID) (NOSUCHMODIFIER 1)", "~15 BAD .*")
}

// RFC 5032 WITHIN: OLDER and YOUNGER count seconds back from now.
func TestWithin(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg) // internal dates in March 2024
	u, _ := ts.backend.Open("alice")
	if _, _, err := u.Append("INBOX", store.Flags{}, time.Now().Add(-90*time.Minute), []byte(plainMsg)); err != nil {
		t.Fatal(err)
	}
	c := ts.login("alice")
	selectInbox(c)
	for _, tc := range []struct{ q, want string }{
		{"SEARCH YOUNGER 7200", "* SEARCH 3"},
		{"SEARCH YOUNGER 3600", "* SEARCH"},
		{"SEARCH OLDER 3600", "* SEARCH 1 2 3"},
		{"SEARCH OLDER 7200", "* SEARCH 1 2"},
		{"SEARCH NOT YOUNGER 7200", "* SEARCH 1 2"},
		{"SEARCH OR YOUNGER 7200 SUBJECT nothing", "* SEARCH 3"},
		{"UID SEARCH RETURN (COUNT) OLDER 1", `* ESEARCH (TAG "t") UID COUNT 3`},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK SEARCH completed")
	}
	c.expectDo("t SORT (REVERSE ARRIVAL) UTF-8 OLDER 60", "* SORT 3 2 1", "t OK SORT completed")
	c.expectDo("t SEARCH YOUNGER 0", "~t BAD .*")
	c.expectDo("t SEARCH OLDER -5", "~t BAD .*")
}
