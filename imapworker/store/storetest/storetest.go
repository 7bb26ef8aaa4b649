// Package storetest is a conformance suite for store.User implementations.
// Every store runs it: storetest.Run(t, func(t *testing.T) store.User {...}).
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"imapd/imapworker/store"
)

const msg1 = "From: a@example.org\r\nTo: b@example.org\r\nSubject: one\r\n\r\nHello\r\n"
const msg2 = "From: c@example.org\r\nSubject: two\r\n\r\nWorld!\r\n"

// Run runs every test against users made by newUser. Each call of newUser
// must return a fresh user with the default mailboxes.
func Run(t *testing.T, newUser func(t *testing.T) store.User) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.User)
	}{
		{"DefaultMailboxes", testDefaultMailboxes},
		{"CreateDelete", testCreateDelete},
		{"DeleteWithChildren", testDeleteWithChildren},
		{"Rename", testRename},
		{"RenameInbox", testRenameInbox},
		{"InvalidNames", testInvalidNames},
		{"Subscriptions", testSubscriptions},
		{"AppendStatusSelect", testAppendStatusSelect},
		{"StoreFlags", testStoreFlags},
		{"Expunge", testExpunge},
		{"CopyMove", testCopyMove},
		{"ChangeFeed", testChangeFeed},
		{"Recent", testRecent},
		{"ReadOnly", testReadOnly},
		{"Cache", testCache},
		{"Concurrent", testConcurrent},
		{"AppendMany", testAppendMany},
		{"NoStaleFlags", testNoStaleFlags},
		{"ModSeq", testModSeq},
		{"ObjectIDs", testObjectIDs},
		{"SaveDates", testSaveDates},
		{"Metadata", testMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t)
			t.Cleanup(func() { u.Close() }) // after the handles' (twoHandles)
			tc.fn(t, u)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func list(t *testing.T, u store.User) map[string]store.Attr {
	t.Helper()
	l, err := u.List()
	must(t, err)
	m := make(map[string]store.Attr)
	for _, e := range l {
		if _, dup := m[e.Name]; dup {
			t.Fatalf("List: %q twice", e.Name)
		}
		m[e.Name] = e.Attrs
	}
	return m
}

func testDefaultMailboxes(t *testing.T, u store.User) {
	m := list(t, u)
	want := map[string]store.Attr{
		"INBOX": 0, "Sent": store.AttrSent, "Drafts": store.AttrDrafts, "Trash": store.AttrTrash,
		"Junk": store.AttrJunk, "Archive": store.AttrArchive,
	}
	for n, a := range want {
		got, ok := m[n]
		if !ok {
			t.Fatalf("no %s in %v", n, m)
		}
		if got&store.SpecialUse != a {
			t.Errorf("%s: special-use %v, want %v", n, (got & store.SpecialUse).Names(), a.Names())
		}
		if got&store.AttrHasNoChildren == 0 {
			t.Errorf("%s: attrs %v lack \\HasNoChildren", n, got.Names())
		}
	}
}

func testCreateDelete(t *testing.T, u store.User) {
	must(t, u.Create("Work", 0))
	wantErr(t, u.Create("Work", 0), store.ErrAlreadyExists)
	wantErr(t, u.Create("inbox", 0), store.ErrAlreadyExists)
	must(t, u.Create("a/b/c", 0))
	m := list(t, u)
	for _, n := range []string{"Work", "a", "a/b", "a/b/c"} {
		if _, ok := m[n]; !ok {
			t.Fatalf("after CREATE a/b/c: no %q in %v", n, m)
		}
	}
	if m["a"]&store.AttrHasChildren == 0 || m["a/b/c"]&store.AttrHasNoChildren == 0 {
		t.Errorf("child attrs: a=%v a/b/c=%v", m["a"].Names(), m["a/b/c"].Names())
	}
	must(t, u.Create("Flagged mail", store.AttrFlagged))
	if a := list(t, u)["Flagged mail"]; a&store.AttrFlagged == 0 {
		t.Errorf("special-use create: %v", a.Names())
	}
	must(t, u.Delete("Work"))
	wantErr(t, u.Delete("Work"), store.ErrNoSuchMailbox)
	wantErr(t, u.Delete("INBOX"), store.ErrCannot)
	if _, ok := list(t, u)["Work"]; ok {
		t.Error("Work still listed after DELETE")
	}
	// Non-ASCII names are plain UTF-8 here.
	must(t, u.Create("Entwürfe/日本", 0))
	if _, ok := list(t, u)["Entwürfe/日本"]; !ok {
		t.Error("UTF-8 name not listed")
	}
}

func testDeleteWithChildren(t *testing.T, u store.User) {
	must(t, u.Create("p/c", 0))
	_, _, err := u.Append("p", store.Flags{}, time.Time{}, []byte(msg1))
	must(t, err)
	// RFC 9051 §6.3.5: messages go, the name stays as \Noselect.
	must(t, u.Delete("p"))
	m := list(t, u)
	if a, ok := m["p"]; !ok || a&store.AttrNoSelect == 0 || a&store.AttrHasChildren == 0 {
		t.Fatalf("p after DELETE: %v (present %v)", a.Names(), ok)
	}
	_, err = u.Select("p", false)
	wantErr(t, err, store.ErrNoSelect)
	wantErr(t, u.Delete("p"), store.ErrHasChildren)
	must(t, u.Delete("p/c"))
	must(t, u.Delete("p"))
	if _, ok := list(t, u)["p"]; ok {
		t.Error("p still listed")
	}
}

func testRename(t *testing.T, u store.User) {
	must(t, u.Create("old/sub", 0))
	_, uid, err := u.Append("old/sub", store.Flags{System: store.FlagSeen}, time.Time{}, []byte(msg1))
	must(t, err)
	wantErr(t, u.Rename("old", "Sent"), store.ErrAlreadyExists)
	wantErr(t, u.Rename("nope", "x"), store.ErrNoSuchMailbox)
	wantErr(t, u.Rename("old", "old/sub/deeper"), store.ErrCannot)
	must(t, u.Rename("old", "new/place"))
	m := list(t, u)
	for _, n := range []string{"new", "new/place", "new/place/sub"} {
		if _, ok := m[n]; !ok {
			t.Fatalf("after RENAME: no %q in %v", n, m)
		}
	}
	if _, ok := m["old/sub"]; ok {
		t.Fatal("old/sub still listed")
	}
	mb, err := u.Select("new/place/sub", true)
	must(t, err)
	defer mb.Close()
	if ms := mb.Messages(); len(ms) != 1 || ms[0].UID != uid || ms[0].Flags.System != store.FlagSeen {
		t.Fatalf("renamed mailbox messages: %+v", ms)
	}
}

func testRenameInbox(t *testing.T, u store.User) {
	must(t, u.Create("INBOX/keep", 0))
	for range 2 {
		_, _, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg1))
		must(t, err)
	}
	// RFC 9051 §6.3.6: messages move, INBOX stays and is empty, its
	// inferiors stay where they are.
	must(t, u.Rename("inbox", "Old-Inbox"))
	st, err := u.Status("INBOX")
	must(t, err)
	if st.Messages != 0 {
		t.Errorf("INBOX has %d messages after RENAME", st.Messages)
	}
	st, err = u.Status("Old-Inbox")
	must(t, err)
	if st.Messages != 2 {
		t.Errorf("Old-Inbox has %d messages, want 2", st.Messages)
	}
	m := list(t, u)
	if _, ok := m["INBOX/keep"]; !ok {
		t.Error("INBOX/keep moved")
	}
}

func testInvalidNames(t *testing.T, u store.User) {
	for _, n := range []string{"", "/", "a//b", "a/", "/a", "../x", "a/../b", "x\x00y", "a*", "b%"} {
		if err := u.Create(n, 0); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("Create(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func testSubscriptions(t *testing.T, u store.User) {
	must(t, u.Create("Lists/go", 0))
	must(t, u.Subscribe("Lists/go"))
	wantErr(t, u.Subscribe("nonexistent"), store.ErrNoSuchMailbox)
	subs, err := u.Subscriptions()
	must(t, err)
	if !slices.Contains(subs, "Lists/go") {
		t.Fatalf("subscriptions %v lack Lists/go", subs)
	}
	// Subscriptions outlive the mailbox (RFC 9051 §6.3.7).
	must(t, u.Delete("Lists/go"))
	subs, _ = u.Subscriptions()
	if !slices.Contains(subs, "Lists/go") {
		t.Fatalf("subscription lost on DELETE: %v", subs)
	}
	must(t, u.Unsubscribe("Lists/go"))
	subs, _ = u.Subscriptions()
	if slices.Contains(subs, "Lists/go") {
		t.Fatalf("still subscribed: %v", subs)
	}
}

func testAppendStatusSelect(t *testing.T, u store.User) {
	st0, err := u.Status("INBOX")
	must(t, err)
	date := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	uv, uid1, err := u.Append("INBOX", store.Flags{System: store.FlagSeen, Keywords: []string{"$Work"}}, date, []byte(msg1))
	must(t, err)
	if uv != st0.UIDValidity || uid1 < st0.UIDNext {
		t.Fatalf("Append = (%d, %d), status before %+v", uv, uid1, st0)
	}
	_, uid2, err := u.Append("INBOX", store.Flags{System: store.FlagDeleted}, time.Time{}, []byte(msg2))
	must(t, err)
	if uid2 <= uid1 {
		t.Fatalf("UIDs not ascending: %d then %d", uid1, uid2)
	}
	_, _, err = u.Append("Nope", store.Flags{}, time.Time{}, []byte(msg1))
	wantErr(t, err, store.ErrNoSuchMailbox)

	st, err := u.Status("INBOX")
	must(t, err)
	want := store.Status{Messages: 2, Recent: 2, UIDNext: uid2 + 1, UIDValidity: uv, Unseen: 1, Deleted: 1, Size: int64(len(msg1) + len(msg2)), DeletedSize: int64(len(msg2)),
		HighestModSeq: st.HighestModSeq} // see testModSeq
	if st != want {
		t.Fatalf("Status = %+v, want %+v", st, want)
	}
	_, err = u.Status("Nope")
	wantErr(t, err, store.ErrNoSuchMailbox)

	mb, err := u.Select("inbox", false)
	must(t, err)
	defer mb.Close()
	if mb.Name() != "INBOX" || mb.UIDValidity() != uv || mb.UIDNext() != uid2+1 || mb.ReadOnly() {
		t.Fatalf("handle: name %q uv %d next %d ro %v", mb.Name(), mb.UIDValidity(), mb.UIDNext(), mb.ReadOnly())
	}
	ms := mb.Messages()
	if len(ms) != 2 || ms[0].UID != uid1 || ms[1].UID != uid2 {
		t.Fatalf("Messages = %+v", ms)
	}
	if ms[0].Size != int64(len(msg1)) || !ms[0].Flags.HasKeyword("$work") {
		t.Fatalf("message 1 = %+v", ms[0])
	}
	dates, err := mb.InternalDates([]uint32{uid2, 9999, uid1})
	must(t, err)
	if len(dates) != 3 || dates[0].IsZero() || !dates[1].IsZero() || !dates[2].Equal(date) {
		t.Fatalf("InternalDates(%d, 9999, %d) = %v, want [now zero %v]", uid2, uid1, dates, date)
	}
	if !slices.ContainsFunc(mb.Keywords(), func(k string) bool { return k == "$Work" }) {
		t.Errorf("Keywords() = %v", mb.Keywords())
	}
	c, err := mb.Open(uid2)
	must(t, err)
	b, err := store.Bytes(c)
	must(t, err)
	c.Close()
	if string(b) != msg2 || c.Size() != int64(len(msg2)) {
		t.Fatalf("Open = %q", b)
	}
	_, err = mb.Open(uid2 + 10)
	wantErr(t, err, store.ErrExpunged)
	_, err = u.Select("Nope", false)
	wantErr(t, err, store.ErrNoSuchMailbox)
}

func appendN(t *testing.T, u store.User, box string, n int) []uint32 {
	t.Helper()
	var uids []uint32
	for i := range n {
		_, uid, err := u.Append(box, store.Flags{}, time.Time{}, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i, i))
		must(t, err)
		uids = append(uids, uid)
	}
	return uids
}

func testStoreFlags(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 3)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	up, err := mb.Store(uids[:2], store.StoreAdd, store.Flags{System: store.FlagFlagged, Keywords: []string{"Todo"}})
	must(t, err)
	if len(up) != 2 || up[0].Flags.System != store.FlagFlagged || !up[1].Flags.HasKeyword("todo") {
		t.Fatalf("+FLAGS = %+v", up)
	}
	up, err = mb.Store(uids[1:2], store.StoreRemove, store.Flags{Keywords: []string{"TODO"}})
	must(t, err)
	if len(up) != 1 || len(up[0].Flags.Keywords) != 0 || up[0].Flags.System != store.FlagFlagged {
		t.Fatalf("-FLAGS = %+v", up)
	}
	up, err = mb.Store(uids, store.StoreReplace, store.Flags{System: store.FlagSeen | store.FlagDraft})
	must(t, err)
	for _, x := range up {
		if x.Flags.System != store.FlagSeen|store.FlagDraft || len(x.Flags.Keywords) != 0 {
			t.Fatalf("FLAGS = %+v", up)
		}
	}
	st, _ := u.Status("INBOX")
	if st.Unseen != 0 {
		t.Errorf("Unseen = %d after \\Seen on all", st.Unseen)
	}
	// Flags persist for a new handle.
	mb2, err := u.Select("INBOX", true)
	must(t, err)
	defer mb2.Close()
	for _, m := range mb2.Messages() {
		if m.Flags.System != store.FlagSeen|store.FlagDraft {
			t.Fatalf("persisted flags: %+v", m)
		}
	}
}

func testExpunge(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 4)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	_, err = mb.Store([]uint32{uids[0], uids[2], uids[3]}, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	must(t, err)
	// UID EXPUNGE: only the named ones that are \Deleted (RFC 4315 §2.1).
	gone, err := mb.Expunge([]uint32{uids[1], uids[2]})
	must(t, err)
	if !slices.Equal(gone, []uint32{uids[2]}) {
		t.Fatalf("UID EXPUNGE removed %v, want [%d]", gone, uids[2])
	}
	gone, err = mb.Expunge(nil)
	must(t, err)
	if !slices.Equal(gone, []uint32{uids[0], uids[3]}) {
		t.Fatalf("EXPUNGE removed %v", gone)
	}
	c, err := mb.Poll()
	must(t, err)
	if len(c.Expunged) != 0 {
		t.Errorf("own expunges reported by Poll: %v", c.Expunged)
	}
	st, _ := u.Status("INBOX")
	if st.Messages != 1 {
		t.Errorf("Messages = %d, want 1", st.Messages)
	}
	_, err = mb.Open(uids[0])
	wantErr(t, err, store.ErrExpunged)
}

func testCopyMove(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 3)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	_, err = mb.Store(uids[:1], store.StoreAdd, store.Flags{System: store.FlagAnswered, Keywords: []string{"k1"}})
	must(t, err)
	dst, _ := u.Status("Archive")
	res, err := mb.Copy(uids[:2], "Archive")
	must(t, err)
	if res.UIDValidity != dst.UIDValidity || !slices.Equal(res.Src, uids[:2]) || len(res.Dst) != 2 || res.Dst[0] != dst.UIDNext {
		t.Fatalf("Copy = %+v (dest status %+v)", res, dst)
	}
	_, err = mb.Copy(uids[:1], "Nope")
	wantErr(t, err, store.ErrNoSuchMailbox)
	ab, err := u.Select("Archive", true)
	must(t, err)
	am := ab.Messages()
	ab.Close()
	if len(am) != 2 || am[0].Flags.System != store.FlagAnswered || !am[0].Flags.HasKeyword("k1") {
		t.Fatalf("copied messages %+v", am)
	}

	res, err = mb.Move(uids[1:], "Trash")
	must(t, err)
	if !slices.Equal(res.Src, uids[1:]) || len(res.Dst) != 2 {
		t.Fatalf("Move = %+v", res)
	}
	st, _ := u.Status("INBOX")
	if st.Messages != 1 {
		t.Errorf("INBOX has %d after MOVE, want 1", st.Messages)
	}
	st, _ = u.Status("Trash")
	if st.Messages != 2 {
		t.Errorf("Trash has %d after MOVE, want 2", st.Messages)
	}
	c, _ := mb.Poll()
	if len(c.Expunged) != 0 {
		t.Errorf("Poll repeats moved UIDs: %v", c.Expunged)
	}
}

func testChangeFeed(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 3)
	a, b := twoHandles(t, u)

	_, err := a.Store(uids[:1], store.StoreAdd, store.Flags{System: store.FlagDeleted | store.FlagSeen})
	must(t, err)
	<-b.Changed()
	c, err := b.Poll()
	must(t, err)
	if len(c.Flags) != 1 || c.Flags[0].UID != uids[0] || c.Flags[0].Flags.System != store.FlagDeleted|store.FlagSeen {
		t.Fatalf("b sees flags %+v", c.Flags)
	}
	if c2, _ := a.Poll(); len(c2.Flags) != 0 {
		t.Errorf("a sees its own flag change: %+v", c2.Flags)
	}

	_, uid4, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg1))
	must(t, err)
	for _, h := range []store.Mailbox{a, b} {
		<-h.Changed()
		c, err := h.Poll()
		must(t, err)
		if len(c.New) != 1 || c.New[0].UID != uid4 || h.UIDNext() != uid4+1 {
			t.Fatalf("new after append: %+v, uidnext %d", c.New, h.UIDNext())
		}
	}

	gone, err := a.Expunge(nil)
	must(t, err)
	if !slices.Equal(gone, uids[:1]) {
		t.Fatalf("expunged %v", gone)
	}
	<-b.Changed()
	c, _ = b.Poll()
	if !slices.Equal(c.Expunged, uids[:1]) {
		t.Fatalf("b sees expunged %v", c.Expunged)
	}

	// Added and removed before b looks: b may see nothing, or both.
	_, uid5, err := u.Append("INBOX", store.Flags{System: store.FlagDeleted}, time.Time{}, []byte(msg2))
	must(t, err)
	if c, _ := a.Poll(); len(c.New) != 1 || c.New[0].UID != uid5 {
		t.Fatalf("a: new %+v", c.New)
	}
	_, err = a.Expunge(nil)
	must(t, err)
	c, _ = b.Poll()
	inNew := slices.ContainsFunc(c.New, func(m store.MessageInfo) bool { return m.UID == uid5 })
	if inNew != slices.Contains(c.Expunged, uid5) {
		t.Fatalf("b: new %+v expunged %v: must hold both or neither", c.New, c.Expunged)
	}

	// Keywords announced to others.
	_, err = a.Store(uids[1:2], store.StoreAdd, store.Flags{Keywords: []string{"NewKw"}})
	must(t, err)
	c, _ = b.Poll()
	if !slices.Contains(c.Keywords, "NewKw") {
		t.Errorf("b keywords %v", c.Keywords)
	}
}

func testRecent(t *testing.T, u store.User) {
	appendN(t, u, "INBOX", 2)
	ex, err := u.Select("INBOX", true)
	must(t, err)
	// EXAMINE shows \Recent and leaves it to a read-write session.
	if r := ex.Recent(); len(r) != 2 {
		t.Errorf("EXAMINE: \\Recent %v, want both", r)
	}
	ex.Close()
	a, err := u.Select("INBOX", false)
	must(t, err)
	defer a.Close()
	var all []uint32
	for _, m := range a.Messages() {
		if m.Recent {
			t.Errorf("Messages() says \\Recent: that is Recent()'s")
		}
		all = append(all, m.UID)
	}
	if r := a.Recent(); !slices.Equal(r, all) {
		t.Errorf("first SELECT: \\Recent %v, want all of %v", r, all)
	}
	b, err := u.Select("INBOX", false)
	must(t, err)
	defer b.Close()
	if r := b.Recent(); len(r) != 0 {
		t.Errorf("second SELECT: %v \\Recent again", r)
	}
	appendN(t, u, "INBOX", 1)
	ca, _ := a.Poll()
	cb, _ := b.Poll()
	n := 0
	for _, c := range []store.Changes{ca, cb} {
		for _, m := range c.New {
			if m.Recent {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("new message \\Recent in %d sessions, want 1", n)
	}
	st, _ := u.Status("INBOX")
	if st.Recent != 0 {
		t.Errorf("STATUS RECENT = %d with every message claimed", st.Recent)
	}
}

func testReadOnly(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 1)
	mb, err := u.Select("INBOX", true)
	must(t, err)
	defer mb.Close()
	if !mb.ReadOnly() {
		t.Fatal("not read-only")
	}
	_, err = mb.Store(uids, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	wantErr(t, err, store.ErrReadOnly)
	_, err = mb.Expunge(nil)
	wantErr(t, err, store.ErrReadOnly)
	_, err = mb.Move(uids, "Trash")
	wantErr(t, err, store.ErrReadOnly)
	// COPY from a read-only mailbox is fine.
	_, err = mb.Copy(uids, "Trash")
	must(t, err)
}

func testCache(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 1)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	mb.SetCached(uids[0], "env", []byte("cached"))
	// A store may drop cache entries, but never return a wrong one.
	if v, ok := mb.Cached(uids[0], "env"); ok && string(v) != "cached" {
		t.Fatalf("Cached = %q", v)
	}
	if _, ok := mb.Cached(uids[0], "other"); ok {
		t.Fatal("Cached returns an unset key")
	}
}

func testConcurrent(t *testing.T, u store.User) {
	var wg sync.WaitGroup
	const n = 20
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mb, err := u.Select("INBOX", false)
			if err != nil {
				t.Error(err)
				return
			}
			defer mb.Close()
			for i := range n {
				_, uid, err := u.Append("INBOX", store.Flags{}, time.Time{}, fmt.Appendf(nil, "Subject: %d/%d\r\n\r\nx\r\n", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := mb.Store([]uint32{uid}, store.StoreAdd, store.Flags{System: store.FlagDeleted}); err != nil {
					t.Error(err)
					return
				}
				if _, err := mb.Poll(); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if _, err := mb.Expunge(nil); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	ms := mb.Messages()
	for i := 1; i < len(ms); i++ {
		if ms[i].UID <= ms[i-1].UID {
			t.Fatalf("UIDs not ascending at %d: %d, %d", i, ms[i-1].UID, ms[i].UID)
		}
	}
	_, err = mb.Expunge(nil)
	must(t, err)
	st, _ := u.Status("INBOX")
	if st.Messages != 0 {
		t.Fatalf("%d messages left after final EXPUNGE", st.Messages)
	}
}
