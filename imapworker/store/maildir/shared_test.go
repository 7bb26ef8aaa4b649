package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/storetest"
)

// Two User instances over one directory stand for two hosts sharing it
// (docs/design.md#shared-storage); a host whose attribute cache keeps a
// directory's old mtime is played by os.Chtimes putting the old mtime back
// after the other host's change.

// openHost opens root as one host does: a User that stays open, like a
// mailbox worker that outlives its sessions. Its watcher polls once an
// hour, so that only the calls a test makes refresh its folders.
func openHost(t *testing.T, root string, shared bool) *User {
	t.Helper()
	u, err := Open(root, Options{NoSpecialUse: true, NoInotify: true, Shared: shared, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func selectBox(t *testing.T, u *User, name string) store.Mailbox {
	t.Helper()
	mb, err := u.Select(name, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

// cacheDirs sets the mtimes of root's cur/ and new/ to at: what a host's
// attribute cache shows however the directories changed.
func cacheDirs(t *testing.T, root string, at time.Time) {
	t.Helper()
	for _, d := range []string{"cur", "new"} {
		if err := os.Chtimes(filepath.Join(root, d), at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func poll(t *testing.T, mb store.Mailbox) store.Changes {
	t.Helper()
	c, err := mb.Poll()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// view is what an EXAMINE of INBOX on u shows a client: UIDs, flags and
// mod-sequences.
func view(t *testing.T, u *User) string {
	t.Helper()
	mb, err := u.Select("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	s := fmt.Sprintf("uidvalidity %d uidnext %d highestmodseq %d:", mb.UIDValidity(), mb.UIDNext(), mb.HighestModSeq())
	for _, m := range mb.Messages() {
		s += fmt.Sprintf(" %d%v%v/%d", m.UID, m.Flags.System.Names(), m.Flags.Keywords, m.ModSeq)
	}
	return s
}

func TestSharedMaildirOtherHost(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	a := openHost(t, root, true)
	fill(t, a, "INBOX", 3) // UIDs 1-3
	// Directories older than the new/ granularity guard: the unshared
	// host trusts their stamps.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	cacheDirs(t, root, old)

	// Host B in shared mode, and host C as imapd was before it, both with
	// INBOX selected.
	b := openHost(t, root, true)
	mbB := selectBox(t, b, "INBOX")
	c := openHost(t, root, false)
	mbC := selectBox(t, c, "INBOX")
	if vb, vc := view(t, b), view(t, c); vb != vc || len(mbB.Messages()) != 3 || len(mbC.Messages()) != 3 {
		t.Fatalf("B: %s\nC: %s", vb, vc)
	}

	// Host A: STORE 1 +FLAGS (\Flagged). A rename in cur/: the directory
	// keeps its size, and the attribute cache its mtime.
	mbA := selectBox(t, a, "INBOX")
	up, err := mbA.Store([]uint32{1}, store.StoreAdd, store.Flags{System: store.FlagFlagged})
	if err != nil || len(up) != 1 {
		t.Fatalf("A: store: %v %v", up, err)
	}
	cacheDirs(t, root, old)

	// C trusts the stamps and misses it: why shared mode exists.
	if ch := poll(t, mbC); !ch.Empty() {
		t.Fatalf("C (unshared) saw %+v: the simulated attribute cache did not hide the change", ch)
	}
	// B reads cur/ and sees it with A's mod-sequence.
	ch := poll(t, mbB)
	if len(ch.Flags) != 1 || ch.Flags[0].UID != 1 || ch.Flags[0].Flags.System != store.FlagFlagged || ch.Flags[0].ModSeq != up[0].ModSeq {
		t.Fatalf("B: %+v, A gave %+v", ch, up)
	}

	// Host A: APPEND (with a new keyword), STORE 2 +FLAGS (\Deleted),
	// EXPUNGE; then A's session ends.
	_, uid4, err := a.Append("INBOX", store.Flags{Keywords: []string{"Todo"}}, time.Time{}, []byte("Subject: 4\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	poll(t, mbA)
	if _, err := mbA.Store([]uint32{2}, store.StoreAdd, store.Flags{System: store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if gone, err := mbA.Expunge(nil); err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Fatalf("A: expunge %v %v", gone, err)
	}
	wantA := view(t, a)
	mbA.Close()
	cacheDirs(t, root, old)

	ch = poll(t, mbB)
	if len(ch.New) != 1 || ch.New[0].UID != uid4 || !ch.New[0].Flags.HasKeyword("Todo") || !slices.Equal(ch.Expunged, []uint32{2}) {
		t.Fatalf("B: %+v", ch)
	}
	// An EXAMINE beside the selected session, then a SELECT after B
	// closed every handle (the folder read again): all as A left it.
	if got := view(t, b); got != wantA {
		t.Errorf("B, second handle:\n%s\nA:\n%s", got, wantA)
	}
	mbB.Close()
	mbB = selectBox(t, b, "INBOX")
	if got := view(t, b); got != wantA {
		t.Errorf("B, SELECT after closing:\n%s\nA:\n%s", got, wantA)
	}
	if st, err := b.Status("INBOX"); err != nil || st.Messages != 3 || st.UIDNext != uid4+1 || st.HighestModSeq != mbB.HighestModSeq() {
		t.Errorf("B: STATUS %+v %v", st, err)
	}
}

// A, then B, then A again, each host keeping its User (and so its memory
// of the folder) between turns, as a mailbox worker outlives a move for a
// while: each turn starts from what the last one left, and no UID or
// mod-sequence is given twice.
func TestSharedHostsInTurn(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	a := openHost(t, root, true)
	b := openHost(t, root, true)

	// Turn 1, A: two messages, the first \Seen.
	fill(t, a, "INBOX", 2)
	mbA := selectBox(t, a, "INBOX")
	if _, err := mbA.Store([]uint32{1}, store.StoreAdd, store.Flags{System: store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	turn1 := view(t, a)
	hms1 := mbA.HighestModSeq()
	mbA.Close()
	cacheDirs(t, root, old)

	// Turn 2, B: sees turn 1; appends, flags, expunges the highest UID.
	mbB := selectBox(t, b, "INBOX")
	if got := view(t, b); got != turn1 {
		t.Fatalf("B starts from\n%s\nA left\n%s", got, turn1)
	}
	_, uid3, err := b.Append("INBOX", store.Flags{}, time.Time{}, []byte("Subject: 3\r\n\r\nbody\r\n"))
	if err != nil || uid3 != 3 {
		t.Fatalf("B: append UID %d %v", uid3, err)
	}
	poll(t, mbB)
	if _, err := mbB.Store([]uint32{1}, store.StoreReplace, store.Flags{System: store.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	if _, err := mbB.Store([]uint32{uid3}, store.StoreAdd, store.Flags{System: store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if gone, err := mbB.Expunge(nil); err != nil || !slices.Equal(gone, []uint32{uid3}) {
		t.Fatalf("B: expunge %v %v", gone, err)
	}
	turn2 := view(t, b)
	poll(t, mbB)
	hms2 := mbB.HighestModSeq()
	if hms2 <= hms1 {
		t.Fatalf("B: HIGHESTMODSEQ %d after A's %d", hms2, hms1)
	}
	mbB.Close()
	cacheDirs(t, root, old)

	// Turn 3, A again: B's state, not the one A kept from turn 1; A's
	// new message gets UID 4 (3 was given and expunged) and mod-sequences
	// above B's.
	mbA = selectBox(t, a, "INBOX")
	if got := view(t, a); got != turn2 {
		t.Fatalf("A again starts from\n%s\nB left\n%s", got, turn2)
	}
	_, uid4, err := a.Append("INBOX", store.Flags{}, time.Time{}, []byte("Subject: 4\r\n\r\nbody\r\n"))
	if err != nil || uid4 != 4 {
		t.Fatalf("A again: append UID %d %v, want 4", uid4, err)
	}
	up, err := mbA.Store([]uint32{2}, store.StoreAdd, store.Flags{System: store.FlagAnswered})
	if err != nil || len(up) != 1 || up[0].ModSeq <= hms2 {
		t.Fatalf("A again: store %+v %v (B's HIGHESTMODSEQ %d)", up, err, hms2)
	}
	ch := poll(t, mbA)
	if len(ch.New) != 1 || ch.New[0].UID != uid4 || ch.New[0].ModSeq <= hms2 {
		t.Fatalf("A again: %+v", ch)
	}
	turn3 := view(t, a)
	mbA.Close()
	cacheDirs(t, root, old)

	// And B once more: turn 3 as A left it.
	mbB = selectBox(t, b, "INBOX")
	if got := view(t, b); got != turn3 {
		t.Fatalf("B again starts from\n%s\nA left\n%s", got, turn3)
	}
	if v, complete, err := mbB.Vanished(hms1); err != nil || !complete || !slices.Equal(v, []uint32{uid3}) {
		t.Errorf("B: vanished since %d: %v %v %v", hms1, v, complete, err)
	}
}

// In shared mode every refresh reads new/ and cur/, changed or not; an
// IDLE session learns of mail another host delivered from the 2 s poll,
// without inotify.
func TestSharedPollsReadDirectories(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.w.file != nil {
		t.Fatal("shared mode opened inotify")
	}
	mb := selectBox(t, u, "INBOX")
	// The watcher's polls may add reads; a Poll never does fewer than two.
	before := readdirs.Load()
	for range 3 {
		if ch := poll(t, mb); !ch.Empty() {
			t.Fatalf("poll of an unchanged folder: %+v", ch)
		}
	}
	if n := readdirs.Load() - before; n < 6 {
		t.Errorf("3 polls read %d directories, want at least 6", n)
	}

	// The other host's MDA delivers; the IDLE session is woken by the poll.
	deliver(t, root, "Subject: hi\r\n\r\nbody\r\n")
	waitChanged(t, mb)
	if ch := poll(t, mb); len(ch.New) != 1 || ch.New[0].UID != 1 {
		t.Fatalf("after the delivery: %+v", ch)
	}
}

// Shared mode keeps the store's contract.
func TestConformanceShared(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.User {
		u, err := Open(filepath.Join(t.TempDir(), "Maildir"), Options{Shared: true})
		if err != nil {
			t.Fatal(err)
		}
		return u
	})
}
