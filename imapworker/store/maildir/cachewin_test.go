package maildir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Cached values read through the window are the values stored, in file
// order or not, small or larger than the window takes, and a value another
// process appends after the window was read is found too.
func TestCacheWindow(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	const n = 300
	fill(t, u, "INBOX", n)
	mb, err := u.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	val := func(uid uint32, key string) []byte {
		size := 200 + int(uid)*37%3000
		if uid%50 == 0 {
			size = cacheWin / 2 // read directly, not through the window
		}
		return append(fmt.Appendf(nil, "%s of %d:", key, uid), bytes.Repeat([]byte{byte('a' + uid%26)}, size)...)
	}
	for uid := uint32(1); uid <= n; uid++ {
		mb.SetCached(uid, "env", val(uid, "env"))
		mb.SetCached(uid, "sh", val(uid, "sh"))
	}
	check := func(uid uint32, key string) {
		t.Helper()
		v, ok := mb.Cached(uid, key)
		if !ok || !bytes.Equal(v, val(uid, key)) {
			t.Fatalf("Cached(%d, %s) = %.20q %v", uid, key, v, ok)
		}
	}
	for uid := uint32(1); uid <= n; uid++ {
		check(uid, "sh")
	}
	for uid := uint32(n); uid >= 1 && uid <= n; uid -= 7 {
		check(uid, "env")
	}
	// Another process (a second User on the folder) appends a value; ours
	// finds it though its window was read before.
	check(n-1, "sh")
	u2, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	mb2, err := u2.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb2.Close()
	mb2.SetCached(n, "bs", val(n, "bs"))
	check(n, "bs")
	check(n-1, "sh")
}

// Values are written in batches: a few small ones wait in memory, read
// from there, until the index is written (here: the last handle closes);
// enough of them to fill cacheFlushAt go out at once. Another process
// then reads every one from the file.
func TestCacheWritesBatched(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u := openHost(t, root, false)
	const n = 400
	fill(t, u, "INBOX", n)
	mb := selectBox(t, u, "INBOX")
	size := func() int64 {
		t.Helper()
		st, err := os.Stat(filepath.Join(root, cacheName))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	val := func(uid uint32) []byte { return fmt.Appendf(nil, "envelope of %d %0200d", uid, uid) }
	mb.SetCached(1, "env", val(1))
	before := size()
	for uid := uint32(2); uid <= 10; uid++ {
		mb.SetCached(uid, "env", val(uid))
	}
	if got := size(); got != before {
		t.Fatalf("9 small values grew imapd.cache from %d to %d bytes: written one by one", before, got)
	}
	for uid := uint32(1); uid <= 10; uid++ {
		if v, ok := mb.Cached(uid, "env"); !ok || !bytes.Equal(v, val(uid)) {
			t.Fatalf("pending Cached(%d) = %.20q %v", uid, v, ok)
		}
	}
	for uid := uint32(11); uid <= n; uid++ {
		mb.SetCached(uid, "env", val(uid))
	}
	if got := size(); got < before+cacheFlushAt {
		t.Fatalf("%d bytes of values left imapd.cache at %d bytes, from %d", n*220, got, before)
	}
	mb.Close()
	mb2 := selectBox(t, openHost(t, root, false), "INBOX")
	for uid := uint32(1); uid <= n; uid++ {
		if v, ok := mb2.Cached(uid, "env"); !ok || !bytes.Equal(v, val(uid)) {
			t.Fatalf("another process: Cached(%d) = %.20q %v", uid, v, ok)
		}
	}
}
