package maildir

import (
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"imapd/imapworker/store"
)

// Handles of an unchanged folder share one message list; \Recent goes to
// the first read-write handle only, and the list it gets is its own.
func TestSharedSnapshot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for range 3 {
		deliver(t, root, "Subject: x\r\n\r\nbody\r\n")
	}
	sel := func(readOnly bool) store.Mailbox {
		t.Helper()
		mb, err := u.Select("INBOX", readOnly)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mb.Close() })
		return mb
	}
	ex := sel(true) // EXAMINE leaves \Recent to a read-write session
	if ms := ex.Messages(); len(ms) != 3 || len(ex.Recent()) != 0 {
		t.Fatalf("EXAMINE: %d messages, recent %v", len(ms), ex.Recent())
	}
	a := sel(false)
	am := a.Messages()
	if len(am) != 3 || len(a.Recent()) != 3 {
		t.Fatalf("first SELECT: %d messages, recent %v", len(am), a.Recent())
	}
	// \Recent is the handle's own list: even the first SELECT shares the
	// messages.
	if &am[0] != &ex.Messages()[0] {
		t.Fatal("the first SELECT copied the list")
	}
	b, c := sel(false), sel(true)
	bm, cm := b.Messages(), c.Messages()
	if len(bm) != 3 || len(b.Recent()) != 0 || len(c.Recent()) != 0 {
		t.Fatalf("second SELECT: %d messages, recent %v", len(bm), b.Recent())
	}
	if &bm[0] != &cm[0] || &bm[0] != &ex.Messages()[0] {
		t.Fatal("handles of an unchanged folder do not share the list")
	}
	if _, err := b.Store([]uint32{bm[0].UID}, store.StoreAdd, store.Flags{System: store.FlagSeen}); err != nil {
		t.Fatal(err)
	}
	if bm[0].Flags.System&store.FlagSeen != 0 {
		t.Fatal("STORE changed a handle's snapshot")
	}
	d := sel(false)
	if dm := d.Messages(); &dm[0] == &bm[0] || dm[0].Flags.System&store.FlagSeen == 0 {
		t.Fatal("SELECT after STORE reuses the old list")
	}
}

// A 100,000-message folder keeps 100,000 msgs, allocated in one block:
// 80 bytes and the mod-sequence (RFC 7162), no more.
func TestMsgSize(t *testing.T) {
	if n := unsafe.Sizeof(msg{}); n > 88 {
		t.Errorf("msg is %d bytes, want at most 88", n)
	}
}

func TestBaseIndex(t *testing.T) {
	mk := func(names ...string) []*msg {
		var ms []*msg
		for _, n := range names {
			b, _ := splitName(n)
			ms = append(ms, &msg{name: n, blen: uint16(len(b))})
		}
		return ms
	}
	var x baseIndex
	x.add(mk("3.c:2,S", "1.a:2,"))
	x.add(mk("2.b"))
	x.add(mk("5.e:2,F", "0.z", "4.d:2,"))
	var got []string
	for _, m := range x {
		got = append(got, m.base())
	}
	if want := "0.z 1.a 2.b 3.c 4.d 5.e"; strings.Join(got, " ") != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	for _, b := range []string{"0.z", "2.b", "5.e"} {
		if m := x.get(b); m == nil || m.base() != b {
			t.Errorf("get(%q) = %v", b, m)
		}
	}
	if x.get("2") != nil || x.get("9") != nil {
		t.Error("get found a base not added")
	}
	x.keep(func(m *msg) bool { return m.base() != "2.b" && m.base() != "0.z" })
	if len(x) != 4 || x.get("2.b") != nil || x.get("0.z") != nil || x.get("3.c") == nil {
		t.Fatalf("after keep: %d left", len(x))
	}
}
