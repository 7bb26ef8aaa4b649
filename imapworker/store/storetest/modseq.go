package storetest

import (
	"slices"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// testModSeq checks RFC 7162 mod-sequences: every message has one, a flag
// change or an arrival gets one above all before, a STORE that changes
// nothing keeps it, UNCHANGEDSINCE tests it atomically, an expunge raises
// HIGHESTMODSEQ and is remembered for Vanished, and other handles learn
// the new values with the flags.
func testModSeq(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 3)
	a, err := u.Select("INBOX", false)
	must(t, err)
	defer a.Close()
	b, err := u.Select("INBOX", false)
	must(t, err)
	defer b.Close()
	hms := a.HighestModSeq()
	if hms == 0 {
		t.Fatal("HighestModSeq 0: the store keeps mod-sequences")
	}
	var last uint64
	for _, m := range a.Messages() {
		if m.ModSeq <= last || m.ModSeq > hms {
			t.Fatalf("mod-sequences %+v, highest %d", a.Messages(), hms)
		}
		last = m.ModSeq
	}
	if last != hms {
		t.Fatalf("highest %d, messages' highest %d", hms, last)
	}
	st, err := u.Status("INBOX")
	must(t, err)
	if st.HighestModSeq != hms {
		t.Fatalf("STATUS HIGHESTMODSEQ %d, handle %d", st.HighestModSeq, hms)
	}

	up, err := a.Store(uids[:1], store.StoreAdd, store.Flags{System: store.FlagSeen})
	must(t, err)
	if len(up) != 1 || up[0].ModSeq <= hms {
		t.Fatalf("STORE gave %+v, highest was %d", up, hms)
	}
	ms1 := up[0].ModSeq
	up, err = a.Store(uids[:1], store.StoreAdd, store.Flags{System: store.FlagSeen})
	must(t, err)
	if len(up) != 1 || up[0].ModSeq != ms1 {
		t.Fatalf("a STORE that changes nothing moved the mod-sequence: %+v, was %d", up, ms1)
	}
	<-b.Changed()
	c, err := b.Poll()
	must(t, err)
	if len(c.Flags) != 1 || c.Flags[0].ModSeq != ms1 || b.HighestModSeq() != ms1 {
		t.Fatalf("b sees %+v, highest %d; want mod-sequence %d", c.Flags, b.HighestModSeq(), ms1)
	}

	// UNCHANGEDSINCE: uids[0] changed after hms, the others did not.
	up, mod, err := b.StoreUnchangedSince(uids, store.StoreAdd, store.Flags{System: store.FlagFlagged}, hms)
	must(t, err)
	if !slices.Equal(mod, uids[:1]) || len(up) != 2 || up[0].UID != uids[1] || up[0].ModSeq <= ms1 {
		t.Fatalf("UNCHANGEDSINCE %d: updates %+v, modified %v", hms, up, mod)
	}
	_, mod, err = b.StoreUnchangedSince(uids[2:], store.StoreAdd, store.Flags{System: store.FlagFlagged}, 0)
	must(t, err)
	if !slices.Equal(mod, uids[2:]) {
		t.Fatalf("UNCHANGEDSINCE 0 must fail (RFC 7162 §3.1.3): modified %v", mod)
	}

	// An arrival gets a mod-sequence above every one before.
	<-a.Changed()
	c, _ = a.Poll()
	before := a.HighestModSeq()
	_, uid4, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg1))
	must(t, err)
	<-a.Changed()
	c, _ = a.Poll()
	if len(c.New) != 1 || c.New[0].UID != uid4 || c.New[0].ModSeq <= before || a.HighestModSeq() != c.New[0].ModSeq {
		t.Fatalf("new %+v highest %d, before %d", c.New, a.HighestModSeq(), before)
	}

	// An expunge raises HIGHESTMODSEQ and is remembered.
	before = a.HighestModSeq()
	_, err = a.Store(uids[1:2], store.StoreAdd, store.Flags{System: store.FlagDeleted})
	must(t, err)
	gone, err := a.Expunge(uids[1:2])
	must(t, err)
	if !slices.Equal(gone, uids[1:2]) {
		t.Fatalf("expunged %v", gone)
	}
	a.Poll()
	after := a.HighestModSeq()
	if after <= before+1 {
		t.Fatalf("highest %d after STORE and EXPUNGE, was %d", after, before)
	}
	v, complete, err := a.Vanished(before)
	must(t, err)
	if !complete || !slices.Equal(v, uids[1:2]) {
		t.Fatalf("Vanished(%d) = %v %v", before, v, complete)
	}
	if v, _, _ := a.Vanished(after); len(v) != 0 {
		t.Fatalf("Vanished(%d) = %v", after, v)
	}
	<-b.Changed()
	b.Poll()
	if b.HighestModSeq() != after {
		t.Fatalf("b highest %d, a %d", b.HighestModSeq(), after)
	}
	st, _ = u.Status("INBOX")
	if st.HighestModSeq != after {
		t.Fatalf("STATUS HIGHESTMODSEQ %d, want %d", st.HighestModSeq, after)
	}
	// A new handle sees the same.
	d, err := u.Select("INBOX", true)
	must(t, err)
	defer d.Close()
	if d.HighestModSeq() != after {
		t.Fatalf("new handle highest %d, want %d", d.HighestModSeq(), after)
	}
	for _, m := range d.Messages() {
		if m.ModSeq == 0 || m.ModSeq > after {
			t.Fatalf("new handle messages %+v", d.Messages())
		}
	}

	// A copy is an arrival in its mailbox.
	sb, err := u.Status("Archive")
	must(t, err)
	_, err = a.Copy(uids[:1], "Archive")
	must(t, err)
	sa, _ := u.Status("Archive")
	if sa.HighestModSeq <= sb.HighestModSeq {
		t.Fatalf("Archive highest %d after COPY, was %d", sa.HighestModSeq, sb.HighestModSeq)
	}
}
