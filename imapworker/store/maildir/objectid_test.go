package maildir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// The MAILBOXID is Dovecot's mailbox GUID from the dovecot-uidlist header:
// read when Dovecot wrote it, written in that place when imapd makes it.
func TestMailboxIDFromDovecotUidlist(t *testing.T) {
	root := newRoot(t)
	const guid = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	if err := os.WriteFile(filepath.Join(root, "dovecot-uidlist"), []byte("3 V1700000000 N1 G"+guid+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if id, err := u.MailboxID("INBOX"); err != nil || id != guid {
		t.Fatalf("MAILBOXID %q, %v; want Dovecot's GUID %s", id, err, guid)
	}
	// A new folder: the GUID imapd gives out is in the uidlist at once.
	if err := u.Create("new", 0); err != nil {
		t.Fatal(err)
	}
	id, err := u.MailboxID("new")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".new", "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	if hdr, _, _ := strings.Cut(string(data), "\n"); !strings.Contains(hdr, " G"+id) {
		t.Fatalf("uidlist header %q lacks G%s", hdr, id)
	}
	// Another process (a fresh User) sees the same id.
	u2, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	if id2, _ := u2.MailboxID("new"); id2 != id {
		t.Fatalf("MAILBOXID %q in another process, want %q", id2, id)
	}
}

// A copy's uidlist line carries the source's GUID ("G<base>", Dovecot's
// field), so its EMAILID survives a restart without imapd's index.
func TestEmailIDInUidlist(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	u, mb := openInbox(t, root, Options{})
	_, uid, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Poll(); err != nil {
		t.Fatal(err)
	}
	ids, _ := mb.EmailIDs([]uint32{uid})
	cr, err := mb.Copy([]uint32{uid}, "Trash")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".Trash", "dovecot-uidlist"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), " G") {
		t.Fatalf("uidlist of the copy has no G field:\n%s", data)
	}
	for _, name := range []string{"imapd.index", "imapd.cache"} {
		os.Remove(filepath.Join(root, ".Trash", name))
	}
	u2, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	tr, err := u2.Select("Trash", true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	got, _ := tr.EmailIDs(cr.Dst)
	if got[0] != ids[0] || ids[0] == "" {
		t.Fatalf("EMAILID of the copy %q after a restart, want %q", got[0], ids[0])
	}
}
