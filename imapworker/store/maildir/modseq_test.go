package maildir

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// modseqs returns INBOX's messages' mod-sequences by UID, its flags and
// HIGHESTMODSEQ, as a new session sees them.
func modseqs(t *testing.T, u *User) (map[uint32]uint64, map[uint32]store.Flags, uint64) {
	t.Helper()
	mb, err := u.Select("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	ms, fl := map[uint32]uint64{}, map[uint32]store.Flags{}
	for _, m := range mb.Messages() {
		if m.ModSeq == 0 || m.ModSeq > mb.HighestModSeq() {
			t.Fatalf("UID %d mod-sequence %d, highest %d", m.UID, m.ModSeq, mb.HighestModSeq())
		}
		ms[m.UID], fl[m.UID] = m.ModSeq, m.Flags
	}
	return ms, fl, mb.HighestModSeq()
}

// Mod-sequences and the expunge history survive a restart, from a current
// index and from a rescan; nothing changed gets a new one.
func TestModSeqRestart(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, u, "INBOX", 20)
	mb, _ := u.Select("INBOX", false)
	mb.Store([]uint32{3, 4}, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	before := mb.HighestModSeq()
	mb.Expunge(nil)
	mb.Store([]uint32{5}, store.StoreAdd, store.Flags{Keywords: []string{"Later"}})
	mb.Poll()
	if mb.HighestModSeq() <= before {
		t.Fatalf("highest %d after EXPUNGE, was %d", mb.HighestModSeq(), before)
	}
	mb.Close()
	ms1, _, hms1 := modseqs(t, u)
	time.Sleep(1100 * time.Millisecond) // new/ old enough for the index to vouch for it
	u.Close()

	for _, how := range []string{"index", "rescan"} {
		if how == "rescan" {
			os.Remove(filepath.Join(root, indexName))
		}
		u2, err := Open(root, Options{NoSpecialUse: true})
		if err != nil {
			t.Fatal(err)
		}
		ms2, _, hms2 := modseqs(t, u2)
		if hms2 != hms1 || !mapsEqual(ms1, ms2) {
			t.Fatalf("%s: after restart %v highest %d, before %v highest %d", how, ms2, hms2, ms1, hms1)
		}
		mb2, _ := u2.Select("INBOX", true)
		v, complete, _ := mb2.Vanished(before)
		if !complete || !slices.Equal(v, []uint32{3, 4}) {
			t.Fatalf("%s: Vanished(%d) = %v %v", how, before, v, complete)
		}
		mb2.Close()
		u2.Close()
	}
}

func mapsEqual(a, b map[uint32]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A change imapd did not make gets a new mod-sequence when imapd notices
// it, whether imapd was running or not: a rename by hand (flags), an
// unlink from cur/ (an expunge), a file an MDA put in new/ (an arrival).
func TestModSeqExternalChanges(t *testing.T) {
	for _, running := range []bool{true, false} {
		t.Run(fmt.Sprint("running=", running), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "Maildir")
			u, err := Open(root, Options{NoSpecialUse: true})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { u.Close() }()
			fill(t, u, "INBOX", 10)
			ms1, fl1, hms1 := modseqs(t, u)
			mb, _ := u.Select("INBOX", false)
			if !running {
				mb.Close()
				u.Close()
			}
			// By hand: UID 2 gets \Flagged, UID 6 is deleted, a new file
			// arrives.
			var name2, name6 string
			ents, _ := os.ReadDir(filepath.Join(root, "cur"))
			for _, e := range ents {
				data, _ := os.ReadFile(filepath.Join(root, "cur", e.Name()))
				switch {
				case bytes.HasPrefix(data, []byte("Subject: 1\r\n")):
					name2 = e.Name()
				case bytes.HasPrefix(data, []byte("Subject: 5\r\n")):
					name6 = e.Name()
				}
			}
			base, info := splitName(name2)
			if err := os.Rename(filepath.Join(root, "cur", name2), filepath.Join(root, "cur", withFlags(base, info, sortLetters(infoFlags(info)+"F")))); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, "cur", name6)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "new", "1700000000.Mx.host"), []byte("Subject: new\r\n\r\nx\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if running {
				waitChanged(t, mb)
				c, err := mb.Poll()
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Flags) != 1 || c.Flags[0].UID != 2 || c.Flags[0].ModSeq <= hms1 ||
					!slices.Equal(c.Expunged, []uint32{6}) || len(c.New) != 1 || c.New[0].ModSeq <= hms1 {
					// The three may come in more than one poll.
					time.Sleep(200 * time.Millisecond)
					c2, _ := mb.Poll()
					c.Flags, c.Expunged, c.New = append(c.Flags, c2.Flags...), append(c.Expunged, c2.Expunged...), append(c.New, c2.New...)
				}
				if len(c.Flags) != 1 || c.Flags[0].UID != 2 || c.Flags[0].ModSeq <= hms1 ||
					!slices.Equal(c.Expunged, []uint32{6}) || len(c.New) != 1 || c.New[0].ModSeq <= hms1 {
					t.Fatalf("poll %+v, highest before %d", c, hms1)
				}
				mb.Close()
			} else {
				u, err = Open(root, Options{NoSpecialUse: true})
				if err != nil {
					t.Fatal(err)
				}
			}
			ms2, fl2, hms2 := modseqs(t, u)
			if hms2 <= hms1 {
				t.Fatalf("highest %d, was %d", hms2, hms1)
			}
			for uid, ms := range ms1 {
				switch {
				case uid == 6:
					if _, ok := ms2[6]; ok {
						t.Fatalf("UID 6 still there")
					}
				case uid == 2:
					if ms2[2] <= hms1 || fl2[2].System&store.FlagFlagged == 0 {
						t.Fatalf("UID 2 changed by hand: mod-sequence %d flags %+v, highest before %d", ms2[2], fl2[2], hms1)
					}
				default:
					if ms2[uid] != ms || !fl2[uid].Equal(fl1[uid]) {
						t.Fatalf("UID %d unchanged but mod-sequence %d -> %d", uid, ms, ms2[uid])
					}
				}
			}
			if ms2[11] <= hms1 {
				t.Fatalf("new UID 11: mod-sequence %d, highest before %d", ms2[11], hms1)
			}
			mb3, _ := u.Select("INBOX", true)
			defer mb3.Close()
			if v, complete, _ := mb3.Vanished(hms1); !complete || !slices.Equal(v, []uint32{6}) {
				t.Fatalf("Vanished(%d) = %v %v", hms1, v, complete)
			}
		})
	}
}

// Two processes' states on one Maildir agree on every mod-sequence and
// never give one twice (imapd.modseq is read under the lock).
func TestModSeqTwoProcesses(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	a, _ := Open(root, Options{NoSpecialUse: true})
	defer a.Close()
	b, _ := Open(root, Options{NoSpecialUse: true})
	defer b.Close()
	fill(t, a, "INBOX", 4)
	ma, _ := a.Select("INBOX", false)
	defer ma.Close()
	mb, _ := b.Select("INBOX", false)
	defer mb.Close()
	if fmt.Sprint(ma.Messages()) != fmt.Sprint(mb.Messages()) {
		t.Fatalf("a %+v\nb %+v", ma.Messages(), mb.Messages())
	}
	ua, err := ma.Store([]uint32{1}, store.StoreAdd, store.Flags{System: store.FlagDraft})
	if err != nil {
		t.Fatal(err)
	}
	ub, err := mb.Store([]uint32{2}, store.StoreAdd, store.Flags{System: store.FlagDraft})
	if err != nil {
		t.Fatal(err)
	}
	if ub[0].ModSeq <= ua[0].ModSeq {
		t.Fatalf("b's STORE got %d after a's %d", ub[0].ModSeq, ua[0].ModSeq)
	}
	waitChanged(t, ma)
	c, _ := ma.Poll()
	if len(c.Flags) != 1 || c.Flags[0].UID != 2 || c.Flags[0].ModSeq != ub[0].ModSeq || ma.HighestModSeq() != ub[0].ModSeq {
		t.Fatalf("a sees %+v highest %d, b gave %d", c.Flags, ma.HighestModSeq(), ub[0].ModSeq)
	}
	// b's UNCHANGEDSINCE sees a's change.
	_, mod, err := mb.StoreUnchangedSince([]uint32{1}, store.StoreAdd, store.Flags{System: store.FlagFlagged}, ua[0].ModSeq-1)
	if err != nil || !slices.Equal(mod, []uint32{1}) {
		t.Fatalf("UNCHANGEDSINCE across processes: %v %v", mod, err)
	}
	mb.Store([]uint32{3}, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	mb.Expunge(nil)
	waitChanged(t, ma)
	ma.Poll()
	v, complete, _ := ma.Vanished(ub[0].ModSeq)
	if !complete || !slices.Equal(v, []uint32{3}) {
		t.Fatalf("a: Vanished = %v %v", v, complete)
	}
}

// A torn record at the end of imapd.modseq (a writer killed mid-write) is
// cut off by the next process, whose own records are then read by the
// one after it; history dropped past vanishedMax makes Vanished
// incomplete, never wrong.
func TestModSeqTornAndCompacted(t *testing.T) {
	oldMax, oldSlack := vanishedMax, msCompactSlack
	vanishedMax, msCompactSlack = 3, 0
	defer func() { vanishedMax, msCompactSlack = oldMax, oldSlack }()
	root := filepath.Join(t.TempDir(), "Maildir")
	u, _ := Open(root, Options{NoSpecialUse: true})
	fill(t, u, "INBOX", 10)
	_, _, hms1 := modseqs(t, u)
	u.Close()
	fh, _ := os.OpenFile(filepath.Join(root, modseqName), os.O_WRONLY|os.O_APPEND, 0)
	fh.Write([]byte{recSet, 1, 0, 0, 0, 9, 9})
	fh.Close()

	u, _ = Open(root, Options{NoSpecialUse: true})
	mb, _ := u.Select("INBOX", false)
	if mb.HighestModSeq() != hms1 {
		t.Fatalf("highest %d after a torn record, was %d", mb.HighestModSeq(), hms1)
	}
	var floors []uint64
	for uid := uint32(1); uid <= 6; uid++ {
		mb.Store([]uint32{uid}, store.StoreAdd, store.Flags{System: store.FlagDeleted})
		floors = append(floors, mb.HighestModSeq())
		mb.Expunge(nil)
		mb.Poll()
	}
	hms2 := mb.HighestModSeq()
	mb.Close()
	u.Close()

	u, _ = Open(root, Options{NoSpecialUse: true})
	defer u.Close()
	_, _, hms3 := modseqs(t, u)
	if hms3 != hms2 {
		t.Fatalf("highest %d after restart, was %d", hms3, hms2)
	}
	mb, _ = u.Select("INBOX", true)
	defer mb.Close()
	v, complete, _ := mb.Vanished(hms1)
	if complete {
		t.Fatalf("Vanished(%d) = %v complete, after dropping history", hms1, v)
	}
	last := floors[len(floors)-1]
	if v, complete, _ := mb.Vanished(last); !complete || !slices.Equal(v, []uint32{6}) {
		t.Fatalf("Vanished(%d) = %v %v", last, v, complete)
	}
}

// msReport is what a modseq child acknowledged: the mod-sequence and
// flags each STORE returned.
type msReport struct {
	max   uint64
	last  map[uint32]uint64
	flags map[uint32]string
}

// readMS reads "MS uid modseq flags" lines of a child (proc_test.go).
func (r *msReport) read(out []byte) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "MS" {
			continue
		}
		uid, _ := strconv.ParseUint(f[1], 10, 32)
		ms, _ := strconv.ParseUint(f[2], 10, 64)
		r.max = max(r.max, ms)
		r.last[uint32(uid)] = ms
		r.flags[uint32(uid)] = f[3]
	}
}

func flagToken(f store.Flags) string {
	return strings.Join(append(f.System.Names(), f.Keywords...), ",") + "."
}

// audit: HIGHESTMODSEQ never went back; a message keeps at least the
// mod-sequence acknowledged for it, and one whose flags differ from those
// acknowledged (changed by the killed operation) has a newer one.
func (r *msReport) audit(t *testing.T, root string) {
	t.Helper()
	u, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	ms, fl, hms := modseqs(t, u)
	if hms < r.max {
		t.Errorf("HIGHESTMODSEQ %d after the kill, %d acknowledged before", hms, r.max)
	}
	for uid, m := range ms {
		want, ok := r.last[uid]
		if !ok {
			continue
		}
		switch {
		case m < want:
			t.Errorf("UID %d: mod-sequence %d, %d acknowledged", uid, m, want)
		case flagToken(fl[uid]) != r.flags[uid] && m <= want:
			t.Errorf("UID %d: flags %s, acknowledged %s at %d, but mod-sequence %d", uid, flagToken(fl[uid]), r.flags[uid], want, m)
		}
	}
}

// kill -9 a worker at random moments and at each step of a change; after
// each kill HIGHESTMODSEQ has not gone back and no changed message has
// an old mod-sequence (the ledger of proc_test.go checks the messages).
func TestModSeqCrash(t *testing.T) {
	root := newRoot(t)
	l := newLedger()
	r := &msReport{last: map[uint32]uint64{}, flags: map[uint32]string{}}
	check := func(what string, out []byte) {
		l.read(t, out)
		l.audit(t, root)
		r.read(out)
		r.audit(t, root)
		if t.Failed() {
			t.Fatalf("%s; child said:\n%s", what, out)
		}
	}
	for i, p := range []string{"store-renamed", "modseq-logged", "expunge-unlinked", "append-recorded", "move-recorded"} {
		for n := 1; n <= 2; n++ {
			cmd, out := child(t, root, fmt.Sprintf("y%d%d", i, n), int64(i*10+n), 300, fmt.Sprintf("%s=%s@%d", crashEnv, p, n))
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Errorf("%s@%d: child not killed at the point", p, n)
			}
			check(fmt.Sprintf("crash at %s@%d", p, n), out.Bytes())
		}
	}
	iterations := 15
	if testing.Short() {
		iterations = 5
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for i := range iterations {
		cmd, out := child(t, root, fmt.Sprintf("k%d", i), rng.Int63(), 0)
		time.Sleep(time.Duration(5+rng.Intn(120)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		check(fmt.Sprintf("kill %d", i), out.Bytes())
	}
}

// Where imapd.modseq cannot be kept the folder has no mod-sequences
// (HIGHESTMODSEQ 0: the engine answers [NOMODSEQ]) and works otherwise.
func TestModSeqNotKept(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, _ := Open(root, Options{NoSpecialUse: true})
	defer u.Close()
	if err := os.Mkdir(filepath.Join(root, modseqName), 0o700); err != nil {
		t.Fatal(err)
	}
	fill(t, u, "INBOX", 3)
	mb, err := u.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if mb.HighestModSeq() != 0 {
		t.Fatalf("highest %d without a log", mb.HighestModSeq())
	}
	if up, err := mb.Store([]uint32{1}, store.StoreAdd, store.Flags{System: store.FlagDraft}); err != nil || len(up) != 1 || up[0].Flags.System&store.FlagDraft == 0 {
		t.Fatalf("STORE without a log: %+v %v", up, err)
	}
	if st, err := u.Status("INBOX"); err != nil || st.HighestModSeq != 0 || st.Messages != 3 {
		t.Fatalf("STATUS without a log: %+v %v", st, err)
	}
}
