package server

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"imapd/imapworker/store"
)

// mail builds a message from header lines and a body of n bytes.
func mail(n int, header ...string) string {
	return strings.Join(header, "\r\n") + "\r\n\r\n" + strings.Repeat("x", n)
}

// sortMsgs exercise every sort key (seed gives them internal dates of
// 5-Mar-2024 09:00 UTC onwards, one a day).
var sortMsgs = []string{
	mail(4000, "Date: Mon, 04 Mar 2024 10:00:00 +0000", `From: "Zed" <bob@x>`, "To: carol@x", "Subject: Re: banana"),
	mail(1000, "Date: garbage", "From: alice@x", `To: "Able" <zoe@x>`, "Cc: dave@x", "Subject: [list] Apple"),
	mail(3000, "From: =?UTF-8?Q?=C3=89mile?= <emile@x>", "To: bob@x", "Subject: Fwd: cherry (fwd)"),
	mail(2000, "Date: Tue, 05 Mar 2024 23:30:00 -0800", "From: Carl <Carl@x>", "Cc: aaron@x", "Subject: Äpfel"),
	mail(0, "Date: Tue, 05 Mar 2024 10:00:00 +0000", `From: "alice" <alice@y>`, "To: Team: zack@x;", "Subject: apple"),
}

// RFC 5256 §3 SORT: every key, REVERSE, combinations, search criteria.
func TestSort(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, sortMsgs...)
	c := ts.login("alice")
	selectInbox(c)
	for _, tc := range []struct{ q, want string }{
		// Sent dates: 1 Mar 4; 2 unparsable and 3 missing: their internal
		// dates (Mar 6, Mar 7 09:00); 4 Mar 6 07:30 UTC; 5 Mar 5.
		{"SORT (DATE) UTF-8 ALL", "* SORT 1 5 4 2 3"},
		{"SORT (REVERSE DATE) UTF-8 ALL", "* SORT 3 2 4 5 1"},
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4 5"},
		{"SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 5 4 3 2 1"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 5 2 4 3 1"},
		// Base subjects APPLE (2, 5: a tie, by number), ÄPFEL (8-bit:
		// "A" and a diaeresis), BANANA, CHERRY.
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 5 4 1 3"},
		// REVERSE reverses the key, not the implicit sequence order.
		{"SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 3 1 4 2 5"},
		{"SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 5 2 4 1 3"},
		// addr-mailbox: ALICE (2, 5), BOB, CARL, EMILE.
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 5 1 4 3"},
		{"SORT (FROM DATE) UTF-8 ALL", "* SORT 5 2 1 4 3"},
		{"SORT (FROM REVERSE DATE) UTF-8 ALL", "* SORT 2 5 1 4 3"},
		{"SORT (REVERSE FROM REVERSE SIZE) UTF-8 ALL", "* SORT 3 4 1 2 5"},
		{"SORT (REVERSE FROM SIZE) UTF-8 ALL", "* SORT 3 4 1 5 2"},
		// No To first (empty sorts first), then BOB, CAROL, the group
		// Team, ZOE.
		{"SORT (TO) UTF-8 ALL", "* SORT 4 3 1 5 2"},
		{"SORT (CC) UTF-8 ALL", "* SORT 1 3 5 4 2"},
		{"SORT (REVERSE CC) UTF-8 ALL", "* SORT 2 4 1 3 5"},
		// RFC 5957: "alice" < "alice@x" < Carl < Émile < Zed.
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 5 2 4 3 1"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 2 3 1 5"},
		{"SORT (DISPLAYFROM REVERSE ARRIVAL) us-ascii ALL", "* SORT 5 2 4 3 1"},
		{"SORT (SUBJECT) UTF-8 FROM alice", "* SORT 2 5"},
		{"SORT (DATE) UTF-8 SINCE 7-Mar-2024", "* SORT 5 4 3"},
		{"SORT (DATE) \"UTF-8\" OR LARGER 2500 SMALLER 500", "* SORT 1 5 3"},
		{"SORT (SUBJECT) UTF-8 TEXT \"not in mailbox\"", "* SORT"},
		{"UID SORT (SIZE) UTF-8 UID 2:4", "* SORT 2 4 3"},
		{"SORT (SIZE ARRIVAL DATE SUBJECT FROM TO CC DISPLAYFROM DISPLAYTO) UTF-8 ALL", "* SORT 5 2 4 3 1"},
		{"SORT (TO CC) UTF-8 ALL", "* SORT 4 3 1 5 2"},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK SORT completed")
	}
	c.expectDo("t SORT (DATE) KOI8-R ALL", "t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
	c.expectDo("t SORT (NAME) UTF-8 ALL", "~t BAD .*")
	c.expectDo("t SORT DATE UTF-8 ALL", "~t BAD .*")
	c.expectDo("t SORT (DATE) ALL", "~t BAD .*")
	// After an expunge numbers and UIDs differ.
	c.expectDo(`t STORE 1 +FLAGS.SILENT (\Deleted)`, "t OK STORE completed")
	c.expectDo("t EXPUNGE", "* 1 EXPUNGE", "t OK EXPUNGE completed")
	c.expectDo("t SORT (SUBJECT) UTF-8 ALL", "* SORT 1 4 3 2", "t OK SORT completed")
	c.expectDo("t UID SORT (SUBJECT) UTF-8 ALL", "* SORT 2 5 4 3", "t OK SORT completed")
	// A repeated SORT over other messages is sorted anew, not taken from
	// the last one (sortMemo): a message added, or the same count of
	// other messages matching.
	o := ts.login("alice")
	o.expectDo("o1 APPEND INBOX {19+}\r\nSubject: aardvark\r\n\r\n", `~o1 OK \[APPENDUID \d+ 6\] APPEND completed`)
	c.do("t NOOP") // * 5 EXISTS
	if un, _ := c.do("t SORT (SUBJECT) UTF-8 ALL"); !slices.Contains(un, "* SORT 5 1 4 3 2") {
		t.Errorf("SORT after an APPEND: %q", un)
	}
	c.expectDo(`t STORE 1:5 -FLAGS.SILENT (\Seen)`, "t OK STORE completed")
	c.expectDo(`t STORE 1 +FLAGS.SILENT (\Seen)`, "t OK STORE completed")
	c.expectDo("t SORT (SUBJECT) UTF-8 UNSEEN", "* SORT 5 4 3 2", "t OK SORT completed")
	c.expectDo(`t STORE 1 -FLAGS.SILENT (\Seen)`, "t OK STORE completed")
	c.expectDo(`t STORE 5 +FLAGS.SILENT (\Seen)`, "t OK STORE completed")
	c.expectDo("t SORT (SUBJECT) UTF-8 UNSEEN", "* SORT 1 4 3 2", "t OK SORT completed")
	c.expectDo("t SORT (SUBJECT) UTF-8 UNSEEN", "* SORT 1 4 3 2", "t OK SORT completed")
}

// RFC 5256 §3's second example, with a mailbox made to give its answer.
func TestSortRFCExample(t *testing.T) {
	ts := newTestServer(t)
	d := func(day string) string { return "Date: " + day + " Mar 2024 10:00:00 +0000" }
	seed(t, ts,
		mail(1, d("09"), "Subject: cherry"),
		mail(1, d("08"), "Subject: Re: Cherry"),
		mail(1, d("07"), "Subject: banana"),
		mail(1, d("06"), "Subject: [x] banana"),
		mail(1, d("05"), "Subject: apple"))
	c := ts.login("alice")
	selectInbox(c)
	c.transcript(`
		C: A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL
		S: * SORT 5 3 4 1 2
		S: A283 OK SORT completed
		C: A284 SORT (SUBJECT) US-ASCII TEXT "not in mailbox"
		S: * SORT
		S: A284 OK SORT completed
	`)
}

// Empty mailbox, one message, identical keys.
func TestSortEdges(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t SORT (DATE) UTF-8 ALL", "* SORT", "t OK SORT completed")
	c.expectDo("t SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") COUNT 0`, "t OK SORT completed")
	c.expectDo("t SORT RETURN (PARTIAL 1:10) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") PARTIAL (1:10 NIL)`, "t OK SORT completed")
	c.expectDo("u UNSELECT", "u OK UNSELECT completed")
	same := mail(10, "Date: Tue, 05 Mar 2024 10:00:00 +0000", "From: a@x", "Subject: same")
	seed(t, ts, same)
	selectInbox(c)
	c.expectDo("t SORT (REVERSE DATE REVERSE SUBJECT) UTF-8 ALL", "* SORT 1", "t OK SORT completed")
	c.expectDo("u UNSELECT", "u OK UNSELECT completed")
	seed(t, ts, same, same, same)
	selectInbox(c)
	for _, q := range []string{"(DATE)", "(REVERSE DATE)", "(REVERSE SUBJECT REVERSE FROM REVERSE SIZE)", "(REVERSE DISPLAYTO)"} {
		c.expectDo("t SORT "+q+" UTF-8 ALL", "* SORT 1 2 3 4", "t OK SORT completed")
	}
	// ARRIVAL differs: seed dates 2, 3, 4 a day apart from Mar 5, as 1.
	c.expectDo("t SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 4 3 1 2", "t OK SORT completed")
}

// RFC 5267 §3 ESORT and RFC 9394 PARTIAL, on SORT and SEARCH.
func TestESortPartial(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, sortMsgs...)
	c := ts.login("alice")
	selectInbox(c)
	for _, tc := range []struct{ q, want, done string }{
		{"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t") MIN 2 MAX 3 COUNT 5`, "SORT"},
		{"SORT RETURN () (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") ALL 1,5,4,2:3`, "SORT"},
		{"UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "t") UID ALL 5,4,3,2,1`, "SORT"},
		{"SORT RETURN (PARTIAL 2:3) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") PARTIAL (2:3 5,4)`, "SORT"},
		{"SORT RETURN (PARTIAL -1:-2) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") PARTIAL (-1:-2 2:3)`, "SORT"},
		{"SORT RETURN (COUNT PARTIAL 4:10) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") COUNT 5 PARTIAL (4:10 2:3)`, "SORT"},
		{"SORT RETURN (PARTIAL 10:20) (DATE) UTF-8 ALL", `* ESEARCH (TAG "t") PARTIAL (10:20 NIL)`, "SORT"},
		{"SEARCH RETURN (PARTIAL -1:-2) ALL", `* ESEARCH (TAG "t") PARTIAL (-1:-2 4:5)`, "SEARCH"},
		{"SEARCH RETURN (PARTIAL 2:1 COUNT) ALL", `* ESEARCH (TAG "t") COUNT 5 PARTIAL (1:2 1:2)`, "SEARCH"},
		{"UID SEARCH RETURN (PARTIAL 3:100) NOT 4", `* ESEARCH (TAG "t") UID PARTIAL (3:100 3,5)`, "SEARCH"},
		{"SEARCH RETURN (PARTIAL -5:-9) ALL", `* ESEARCH (TAG "t") PARTIAL (-5:-9 1)`, "SEARCH"},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK "+tc.done+" completed")
	}
	c.expectDo("t SEARCH RETURN (ALL PARTIAL 1:2) ALL", "~t BAD .*")
	// RFC 9394 §3.2: SAVE with PARTIAL saves the window.
	c.expectDo("t SORT RETURN (SAVE PARTIAL 1:2) (REVERSE SIZE) UTF-8 ALL", `* ESEARCH (TAG "t") PARTIAL (1:2 1,3)`, "t OK SORT completed")
	c.expectDo("t SEARCH $", "* SEARCH 1 3", "t OK SEARCH completed")
	c.expectDo("t SEARCH RETURN (SAVE PARTIAL 1:1 MAX) ALL", `* ESEARCH (TAG "t") MAX 5 PARTIAL (1:1 1)`, "t OK SEARCH completed")
	c.expectDo("t SEARCH $", "* SEARCH 1 5", "t OK SEARCH completed")
	c.expectDo("t SEARCH RETURN (SAVE COUNT PARTIAL 1:1) SMALLER 2500", `* ESEARCH (TAG "t") COUNT 3 PARTIAL (1:1 2)`, "t OK SEARCH completed")
	c.expectDo("t SEARCH $", "* SEARCH 2 4 5", "t OK SEARCH completed")
}

// countOpens wraps a backend so a test can count the messages read and
// the cached values looked up.
type countOpens struct {
	store.Backend
	n *readCounts
}

type readCounts struct{ opens, looks atomic.Int64 }

type countOpensUser struct {
	store.User
	n *readCounts
}

type countOpensMailbox struct {
	store.Mailbox
	n *readCounts
}

// withReadCounts makes the test servers' backends count reads into n.
func withReadCounts(t *testing.T, n *readCounts) {
	inner := newBackend
	newBackend = func(tb testing.TB) store.Backend { return countOpens{inner(tb), n} }
	t.Cleanup(func() { newBackend = inner })
}

func (b countOpens) Open(user string) (store.User, error) {
	u, err := b.Backend.Open(user)
	return countOpensUser{u, b.n}, err
}

func (u countOpensUser) Select(name string, ro bool) (store.Mailbox, error) {
	h, err := u.User.Select(name, ro)
	if err != nil {
		return nil, err
	}
	return countOpensMailbox{h, u.n}, nil
}

func (h countOpensMailbox) Open(uid uint32) (store.Content, error) {
	h.n.opens.Add(1)
	return h.Mailbox.Open(uid)
}

func (h countOpensMailbox) Cached(uid uint32, key string) ([]byte, bool) {
	h.n.looks.Add(1)
	return h.Mailbox.Cached(uid, key)
}

// Sort and thread keys are computed once per message: a repeated SORT or
// THREAD, in this session or another, reads no message.
func TestSortKeysCached(t *testing.T) {
	for name, setup := range map[string]func(*testing.T){"memstore": func(*testing.T) {}, "maildir": withMaildir} {
		t.Run(name, func(t *testing.T) {
			setup(t)
			var n readCounts
			withReadCounts(t, &n)
			opens := &n.opens
			ts := newTestServer(t)
			msgs := slices.Clone(sortMsgs)
			for i := range 300 { // enough for the parallel path
				msgs = append(msgs, mail(i, fmt.Sprintf("Subject: s%d", i%7), fmt.Sprintf("Date: %d Mar 2024 10:00:00 +0000", 1+i%28)))
			}
			seed(t, ts, msgs...)
			c := ts.login("alice")
			selectInbox(c)
			_, tg := c.do("t SORT (SUBJECT FROM) UTF-8 ALL")
			if tg != "t OK SORT completed" || opens.Load() != int64(len(msgs)) {
				t.Fatalf("first SORT: %q, %d messages read, want %d", tg, opens.Load(), len(msgs))
			}
			first, _ := c.do("t SORT (DISPLAYTO REVERSE DATE) UTF-8 ALL")
			opens.Store(0)
			c2 := ts.login("alice")
			selectInbox(c2)
			for _, cl := range []*client{c, c2} {
				again, _ := cl.do("t SORT (DISPLAYTO REVERSE DATE) UTF-8 ALL")
				if !slices.Equal(again, first) {
					t.Fatalf("repeated SORT: %q, want %q", again, first)
				}
				cl.do("t SORT (CC TO SUBJECT DISPLAYFROM) UTF-8 ALL")
			}
			if n := opens.Load(); n != 0 {
				t.Fatalf("repeated SORTs read %d messages, want 0", n)
			}
		})
	}
}

// SEARCH FROM, TO, CC, BCC match RFC 5322 addresses, comments, quoting,
// groups and encoded names included.
func TestSearchAddresses(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts,
		mail(1, "From: <user-from (comment)@ (comment) domain.org>", "To: Team: a@x, \"b.c\"@y;"),
		mail(1, "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>", "Cc: user-from@other.org", "Bcc: hidden@z"),
	)
	c := ts.login("alice")
	selectInbox(c)
	for _, tc := range []struct{ q, want string }{
		{"SEARCH FROM user-from@domain.org", "* SEARCH 1"},
		{"SEARCH FROM USER-FROM@DOMAIN.ORG", "* SEARCH 1"},
		{"SEARCH FROM user-from", "* SEARCH 1"},
		{"SEARCH TO b.c@y", "* SEARCH 1"},
		{`SEARCH TO "team: a@x"`, "* SEARCH 1"},
		{`SEARCH FROM "jürgen <j@"`, "* SEARCH 2"},
		{"SEARCH CHARSET UTF-8 FROM JÜRGEN", "* SEARCH 2"},
		{"SEARCH CC user-from@", "* SEARCH 2"},
		{"SEARCH BCC hidden@z", "* SEARCH 2"},
		{"SEARCH OR FROM domain.org CC other.org", "* SEARCH 1 2"},
		{"SEARCH NOT TO a@x", "* SEARCH 2"},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK SEARCH completed")
	}
}

// Where Dovecot answers otherwise, the RFCs' rules (docs/conformance.md):
// a Date without a time of day is that day at 00:00:00 (RFC 5256 §2.2),
// not unparsable; an empty member of an address list is no address (RFC
// 5322 §4.4, obs-addr-list), so the first address follows it.
func TestSortRulesBeyondDovecot(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts,
		mail(1, "Date: 20 Mar 2024", "To: , zed@x"), // internal date Mar 5, sent date Mar 20
		mail(1, "Date: Sun, 10 Mar 2024 10:00:00 +0000", "To: amy@x"),
		mail(1, "Date: Fri, 15 Mar 2024 10:00:00 +0000", "To: , , "),
	)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t SORT (DATE) UTF-8 ALL", "* SORT 2 3 1", "t OK SORT completed")
	c.expectDo("t SORT (TO) UTF-8 ALL", "* SORT 3 2 1", "t OK SORT completed")
	c.expectDo("t SORT (DISPLAYTO) UTF-8 ALL", "* SORT 3 2 1", "t OK SORT completed")
	c.expectDo("t FETCH 1 ENVELOPE", `~\* 1 FETCH \(ENVELOPE \(.* \(\(NIL NIL "zed" "x"\)\) NIL NIL NIL NIL\)\)`, "t OK FETCH completed")
}

// The cached record reads back as written, and a damaged or older one is
// a miss, never a wrong key.
func TestSortRecEncoding(t *testing.T) {
	r := sortRec{date: -5, hasDate: true, reply: true, subject: "S", from: "F", to: "T", cc: "", dfrom: "DF", dto: "DT",
		msgID: "a@b", refs: []string{"x@y", "z@w"}}
	b := r.encode()
	var v sortView
	if !v.decode(b) {
		t.Fatal("the record does not decode")
	}
	got := sortRec{date: v.date, hasDate: v.hasDate, reply: v.reply}
	for i, p := range got.strs() {
		*p = string(v.strs[i])
	}
	for _, ref := range v.refs {
		got.refs = append(got.refs, string(ref))
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("decode: %+v, want %+v", got, r)
	}
	for i := range b {
		if v.decode(b[:i]) {
			t.Fatalf("a record cut at %d decodes", i)
		}
	}
	old := slices.Clone(b)
	old[0] = skVersion + 1
	if v.decode(old) {
		t.Fatal("a record of another version decodes")
	}
	if v.decode(append(b, 0)) {
		t.Fatal("a record with trailing bytes decodes")
	}
}
