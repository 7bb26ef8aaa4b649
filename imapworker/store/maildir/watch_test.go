package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// deliver drops a message the way an MDA does: tmp/ then rename to new/.
func deliver(t *testing.T, folderDir, body string) string {
	t.Helper()
	name := fmt.Sprintf("%d.M%dP%d.mda", time.Now().Unix(), time.Now().Nanosecond()/1000, os.Getpid())
	tmp := filepath.Join(folderDir, "tmp", name)
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(folderDir, "new", name)); err != nil {
		t.Fatal(err)
	}
	return name
}

// waitChanged waits for a change notification; the bound only keeps a
// broken watcher from hanging the test.
func waitChanged(t *testing.T, mb store.Mailbox) {
	t.Helper()
	select {
	case <-mb.Changed():
	case <-time.After(20 * time.Second):
		t.Fatal("no change notification")
	}
}

func testDelivery(t *testing.T, opts Options) {
	root := filepath.Join(t.TempDir(), "Maildir")
	opts.NoSpecialUse = true
	_, mb := openInbox(t, root, opts)
	// S: * OK [UIDNEXT 1]; the MDA delivers; the IDLE session hears of it.
	deliver(t, root, "Subject: hi\n\nbody\n")
	waitChanged(t, mb)
	c, err := mb.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.New) != 1 || c.New[0].UID != 1 || !c.New[0].Recent || c.New[0].Size != int64(len("Subject: hi\r\n\r\nbody\r\n")) {
		t.Fatalf("S: * 1 EXISTS expected, got %+v", c.New)
	}
	// Another program expunges the file: the session hears that too.
	ents, _ := os.ReadDir(filepath.Join(root, "cur"))
	if len(ents) != 1 {
		t.Fatalf("cur/ holds %d files", len(ents))
	}
	os.Remove(filepath.Join(root, "cur", ents[0].Name()))
	waitChanged(t, mb)
	c, _ = mb.Poll()
	if len(c.Expunged) != 1 || c.Expunged[0] != 1 {
		t.Fatalf("S: * 1 EXPUNGE expected, got %+v", c)
	}
}

// The stat check never runs within the test: only inotify can tell.
func TestDeliveryInotify(t *testing.T) { testDelivery(t, Options{PollInterval: time.Hour}) }

// A program that writes straight into new/ (IN_CREATE, no rename from
// tmp/) is heard too, after the settle delay, with the size it wrote.
func TestDeliveryInPlace(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	_, mb := openInbox(t, root, Options{NoSpecialUse: true, PollInterval: time.Hour})
	if err := os.WriteFile(filepath.Join(root, "new", "1700000000.M1P1.inplace"), []byte("Subject: hi\n\nbody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, mb)
	c, err := mb.Poll()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.New) != 1 || c.New[0].UID != 1 || c.New[0].Size != int64(len("Subject: hi\r\n\r\nbody\r\n")) {
		t.Fatalf("S: * 1 EXISTS expected, got %+v", c.New)
	}
}

func TestDeliveryStatFallback(t *testing.T) {
	testDelivery(t, Options{NoInotify: true, PollInterval: 50 * time.Millisecond})
}

// Closing a User ends its inotify reader (a leak would exhaust the
// per-user inotify instances of a long-lived worker).
func TestWatcherCloses(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	for range 200 {
		u, err := Open(root, Options{NoSpecialUse: true})
		if err != nil {
			t.Fatal(err)
		}
		mb, err := u.Select("INBOX", false)
		if err != nil {
			t.Fatal(err)
		}
		mb.Close()
		u.Close()
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == "anon_inode:inotify" {
			n++
		}
	}
	if n > 5 {
		t.Fatalf("%d inotify descriptors still open", n)
	}
}
