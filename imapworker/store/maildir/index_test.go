package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imapd/imapworker/store"
)

func fill(t *testing.T, u *User, box string, n int) {
	t.Helper()
	for i := range n {
		if _, _, err := u.Append(box, store.Flags{System: store.Flag(i % 3)}, time.Time{}, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i)); err != nil {
			t.Fatal(err)
		}
	}
}

// dated is a message with its internal date.
type dated struct {
	store.MessageInfo
	date time.Time
}

func snapshot(t *testing.T, u *User) []dated {
	t.Helper()
	mb, err := u.Select("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	ms := mb.Messages()
	uids := make([]uint32, len(ms))
	for i := range ms {
		uids[i] = ms[i].UID
	}
	dates, err := mb.InternalDates(uids)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]dated, len(ms))
	for i := range ms {
		ms[i].Recent = false
		out[i] = dated{ms[i], dates[i]}
	}
	return out
}

func sameMessages(a, b []dated) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || !a[i].Flags.Equal(b[i].Flags) || a[i].Size != b[i].Size || a[i].date.IsZero() || !a[i].date.Equal(b[i].date) {
			return false
		}
	}
	return true
}

func TestIndexWarmOpen(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, u, "INBOX", 50)
	mb, _ := u.Select("INBOX", false)
	mb.SetCached(3, "envelope", []byte("(ENVELOPE data)"))
	mb.Close()
	want := snapshot(t, u)
	// Let the new/ mtime age past the granularity guard, then write.
	time.Sleep(1100 * time.Millisecond)
	u.Close()

	// A new process: SELECT reads the index, not the directories.
	u2, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	before, statsBefore := readdirs.Load(), fileStats.Load()
	got := snapshot(t, u2)
	if n := readdirs.Load() - before; n != 0 {
		t.Errorf("warm SELECT read %d directories", n)
	}
	if n := fileStats.Load() - statsBefore; n != 0 {
		t.Errorf("warm SELECT and dates stat-ed %d files", n)
	}
	if !sameMessages(got, want) {
		t.Fatalf("index gave\n%+v\nwant\n%+v", got, want)
	}
	mb2, _ := u2.Select("INBOX", false)
	if v, ok := mb2.Cached(3, "envelope"); !ok || string(v) != "(ENVELOPE data)" {
		t.Errorf("cache after reopen: %q %v", v, ok)
	}
	mb2.Close()
	u2.Close()

	// A corrupt index is ignored and rebuilt from the files.
	idx := filepath.Join(root, indexName)
	data, _ := os.ReadFile(idx)
	data[len(data)/2] ^= 0xff
	os.WriteFile(idx, data, 0o600)
	u3, _ := Open(root, Options{NoSpecialUse: true})
	if got := snapshot(t, u3); !sameMessages(got, want) {
		t.Fatalf("after corruption\n%+v", got)
	}
	u3.Close()

	// A stale index (another program changed flags) is not trusted.
	ents, _ := os.ReadDir(filepath.Join(root, "cur"))
	for _, e := range ents {
		base, _ := splitName(e.Name())
		os.Rename(filepath.Join(root, "cur", e.Name()), filepath.Join(root, "cur", base+":2,FS"))
	}
	u4, _ := Open(root, Options{NoSpecialUse: true})
	defer u4.Close()
	got = snapshot(t, u4)
	if len(got) != len(want) {
		t.Fatalf("%d messages after renames, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.UID != want[i].UID || m.Flags.System != store.FlagFlagged|store.FlagSeen {
			t.Errorf("stale index used: %+v", m)
		}
	}
}

func TestCacheCompaction(t *testing.T) {
	old := cacheCompactMin
	cacheCompactMin = 1024
	defer func() { cacheCompactMin = old }()
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, u, "INBOX", 20)
	mb, _ := u.Select("INBOX", false)
	val := func(uid uint32) []byte { return fmt.Appendf(nil, "(BODYSTRUCTURE of %d %0100d)", uid, 0) }
	for uid := uint32(1); uid <= 20; uid++ {
		mb.SetCached(uid, "bs", val(uid))
	}
	all := make([]uint32, 0, 18)
	for uid := uint32(1); uid <= 18; uid++ {
		all = append(all, uid)
	}
	mb.Store(all, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	mb.Close() // last handle: the index is written, and the cache with it
	cache := filepath.Join(root, cacheName)
	st0, _ := os.Stat(cache)
	mb, _ = u.Select("INBOX", false)
	if _, err := mb.Expunge(nil); err != nil { // compacts the cache
		t.Fatal(err)
	}
	mb.Close()
	st1, _ := os.Stat(cache)
	if st1.Size()*4 > st0.Size() {
		t.Errorf("cache %d bytes before, %d after compaction", st0.Size(), st1.Size())
	}
	u.Close()
	u2, _ := Open(root, Options{NoSpecialUse: true})
	defer u2.Close()
	mb2, _ := u2.Select("INBOX", false)
	defer mb2.Close()
	for _, uid := range []uint32{19, 20} {
		if v, ok := mb2.Cached(uid, "bs"); !ok || string(v) != string(val(uid)) {
			t.Errorf("UID %d after compaction: %q %v", uid, v, ok)
		}
	}
	if _, ok := mb2.Cached(1, "bs"); ok {
		t.Error("expunged message's value survived")
	}
}

// The cache locations answer as a map would, whatever order the values
// were cached in: ascending (a FETCH 1:*), descending, random, and again
// over values already there.
func TestCacheLocationsAnyOrder(t *testing.T) {
	const n = 3000
	orders := map[string]func(i int) uint32{
		"ascending":  func(i int) uint32 { return uint32(i + 1) },
		"descending": func(i int) uint32 { return uint32(n - i) },
		"random":     func(i int) uint32 { return uint32((i*7919)%n + 1) },
	}
	for name, uidAt := range orders {
		t.Run(name, func(t *testing.T) {
			cs, want := centries{}, map[[2]any]centry{}
			for round := range 2 {
				for i := range n {
					uid := uidAt(i)
					for _, key := range []string{"env", "sk"} {
						if uid%5 == 0 && key == "sk" {
							continue
						}
						e := centry{key: key, off: int64(uid)*100 + int64(round), len: int64(uid % 97)}
						cs.put(uid, e)
						want[[2]any{uid, key}] = e
					}
				}
			}
			for k, e := range want {
				if got, ok := cs.get(k[0].(uint32), e.key); !ok || got != e {
					t.Fatalf("get(%d, %s) = %v, %v; want %v", k[0], e.key, got, ok, e)
				}
			}
			if _, ok := cs.get(5, "sk"); ok {
				t.Fatal("a value never cached was found")
			}
			if _, ok := cs.get(n+1, "env"); ok {
				t.Fatal("a UID past the last was found")
			}
			uids := cs.uids()
			if len(uids) != n || uids[0] != 1 || uids[n-1] != n {
				t.Fatalf("uids: %d of them, %d..%d", len(uids), uids[0], uids[len(uids)-1])
			}
			if got := cs.of(10, cs.keys(), nil); len(got) != 1 || got[0].key != "env" {
				t.Fatalf("of(10) = %v", got)
			}
		})
	}
}
