package storetest

import (
	"testing"
	"time"

	"imapd/imapworker/store"
)

func mailboxID(t *testing.T, u store.User, name string) string {
	t.Helper()
	id, err := u.MailboxID(name)
	must(t, err)
	if !store.ValidObjectID(id) {
		t.Fatalf("MAILBOXID of %s %q is not an objectid", name, id)
	}
	return id
}

// testObjectIDs: RFC 8474 §4 MAILBOXID (stable, kept by RENAME, new after
// DELETE and CREATE, new for INBOX's renamed messages), §5.1 EMAILID
// (stable, kept by COPY and MOVE, distinct for distinct messages).
func testObjectIDs(t *testing.T, u store.User) {
	must(t, u.Create("foo", 0))
	must(t, u.Create("bar", 0))
	foo, bar, inbox := mailboxID(t, u, "foo"), mailboxID(t, u, "bar"), mailboxID(t, u, "INBOX")
	if foo == bar || foo == inbox || bar == inbox {
		t.Fatalf("MAILBOXIDs not distinct: %s %s %s", foo, bar, inbox)
	}
	if again := mailboxID(t, u, "foo"); again != foo {
		t.Fatalf("MAILBOXID of foo changed: %s then %s", foo, again)
	}
	must(t, u.Rename("foo", "renamed"))
	if got := mailboxID(t, u, "renamed"); got != foo {
		t.Fatalf("MAILBOXID after RENAME %s, want %s", got, foo)
	}
	if _, err := u.MailboxID("foo"); err == nil {
		t.Fatal("MAILBOXID of a renamed-away name")
	}
	must(t, u.Delete("bar"))
	must(t, u.Create("bar", 0))
	if got := mailboxID(t, u, "bar"); got == bar {
		t.Fatal("a re-created mailbox kept the old MAILBOXID")
	}

	_, uid1, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg1))
	must(t, err)
	_, uid2, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg2))
	must(t, err)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	if mb.MailboxID() != inbox {
		t.Fatalf("selected INBOX MAILBOXID %s, want %s", mb.MailboxID(), inbox)
	}
	ids, err := mb.EmailIDs([]uint32{uid1, uid2, uid2 + 100})
	must(t, err)
	if !store.ValidObjectID(ids[0]) || !store.ValidObjectID(ids[1]) || ids[0] == ids[1] || ids[2] != "" {
		t.Fatalf("EMAILIDs %q", ids)
	}
	cr, err := mb.Copy([]uint32{uid1}, "renamed")
	must(t, err)
	mr, err := mb.Move([]uint32{uid2}, "renamed")
	must(t, err)
	must(t, mb.Close())
	dst, err := u.Select("renamed", true)
	must(t, err)
	defer dst.Close()
	got, err := dst.EmailIDs([]uint32{cr.Dst[0], mr.Dst[0]})
	must(t, err)
	if got[0] != ids[0] || got[1] != ids[1] {
		t.Fatalf("EMAILIDs after COPY and MOVE %q, want %q", got, ids[:2])
	}
	// Renaming INBOX makes a new mailbox for its messages (RFC 8474 §4).
	_, _, err = u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg1))
	must(t, err)
	must(t, u.Rename("INBOX", "old-inbox"))
	if got := mailboxID(t, u, "old-inbox"); got == inbox {
		t.Fatal("INBOX's renamed messages kept INBOX's MAILBOXID")
	}
	if got := mailboxID(t, u, "INBOX"); got != inbox {
		t.Fatalf("INBOX MAILBOXID after RENAME INBOX %s, want %s", got, inbox)
	}
}

// testSaveDates: RFC 8514 §3, the save date is when the message entered
// the mailbox (not the internal date APPEND gave), a copy gets its own,
// and it does not change afterwards (flag changes included).
func testSaveDates(t *testing.T, u store.User) {
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	before := time.Now().Add(-2 * time.Second)
	_, uid, err := u.Append("INBOX", store.Flags{}, old, []byte(msg1))
	must(t, err)
	mb, err := u.Select("INBOX", false)
	must(t, err)
	defer mb.Close()
	sd, err := mb.SaveDates([]uint32{uid, uid + 100})
	must(t, err)
	after := time.Now().Add(2 * time.Second)
	if sd[0].Before(before) || sd[0].After(after) || !sd[1].IsZero() {
		t.Fatalf("save dates %v, want now and zero", sd)
	}
	time.Sleep(20 * time.Millisecond)
	_, err = mb.Store([]uint32{uid}, store.StoreAdd, store.Flags{System: store.FlagFlagged})
	must(t, err)
	again, err := mb.SaveDates([]uint32{uid})
	must(t, err)
	if !again[0].Equal(sd[0]) {
		t.Fatalf("save date changed from %v to %v", sd[0], again[0])
	}
	time.Sleep(20 * time.Millisecond)
	cr, err := mb.Copy([]uint32{uid}, "Trash")
	must(t, err)
	tr, err := u.Select("Trash", true)
	must(t, err)
	defer tr.Close()
	cd, err := tr.SaveDates(cr.Dst)
	must(t, err)
	if !cd[0].After(sd[0]) {
		t.Fatalf("copy's save date %v not after the original's %v", cd[0], sd[0])
	}
}
