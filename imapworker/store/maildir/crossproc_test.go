package maildir

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// Two workers of one user (as after a reload): what one does reaches the
// other's selected session through the files and inotify.
func TestCrossProcessChanges(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	a, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, uid1, err := a.Append("INBOX", store.Flags{}, time.Time{}, []byte(dcMsg1))
	if err != nil {
		t.Fatal(err)
	}
	ma, _ := a.Select("INBOX", false)
	defer ma.Close()
	mb, _ := b.Select("INBOX", false)
	defer mb.Close()
	if ms := mb.Messages(); len(ms) != 1 || ms[0].UID != uid1 || ma.UIDValidity() != mb.UIDValidity() {
		t.Fatalf("b sees %+v", ms)
	}

	// C(a): a1 STORE 1 +FLAGS (\Flagged Todo) -> S(b): * 1 FETCH (FLAGS ...)
	if _, err := ma.Store([]uint32{uid1}, store.StoreAdd, store.Flags{System: store.FlagFlagged, Keywords: []string{"Todo"}}); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, mb)
	c, err := mb.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Flags) != 1 || c.Flags[0].Flags.System != store.FlagFlagged || !c.Flags[0].Flags.HasKeyword("Todo") {
		t.Fatalf("b: flags %+v", c)
	}
	if !slices.Contains(c.Keywords, "Todo") {
		t.Errorf("b: keywords %v", c.Keywords)
	}

	// C(a): APPEND -> S(b): * 2 EXISTS with the same UID.
	_, uid2, err := a.Append("INBOX", store.Flags{}, time.Time{}, []byte(dcMsg2))
	if err != nil {
		t.Fatal(err)
	}
	waitChanged(t, mb)
	c, _ = mb.Poll()
	if len(c.New) != 1 || c.New[0].UID != uid2 || mb.UIDNext() != uid2+1 {
		t.Fatalf("b: new %+v next %d", c.New, mb.UIDNext())
	}

	// C(a): a2 MOVE 1 Trash -> S(b): * 1 EXPUNGE; Trash shows it in b.
	if err := a.Create("Trash", 0); err != nil {
		t.Fatal(err)
	}
	res, err := ma.Move([]uint32{uid1}, "Trash")
	if err != nil || len(res.Dst) != 1 {
		t.Fatalf("move: %+v %v", res, err)
	}
	waitChanged(t, mb)
	c, _ = mb.Poll()
	if !slices.Equal(c.Expunged, []uint32{uid1}) {
		t.Fatalf("b: expunged %+v", c)
	}
	st, err := b.Status("Trash")
	if err != nil || st.Messages != 1 || st.UIDNext != res.Dst[0]+1 || st.UIDValidity != res.UIDValidity {
		t.Fatalf("b: Trash %+v %v, move result %+v", st, err, res)
	}
	tb, _ := b.Select("Trash", true)
	defer tb.Close()
	if ms := tb.Messages(); len(ms) != 1 || !ms[0].Flags.HasKeyword("Todo") || ms[0].Flags.System != store.FlagFlagged {
		t.Fatalf("b: Trash messages %+v", ms)
	}
}
