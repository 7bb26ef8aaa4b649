package maildir

import (
	"path/filepath"
	"testing"

	"imapd/imapworker/store"
	"imapd/imapworker/store/storetest"
)

func newTestUser(t *testing.T) *User {
	t.Helper()
	u, err := Open(filepath.Join(t.TempDir(), "Maildir"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// openInbox opens the Maildir at root and SELECTs its INBOX read-write;
// both are closed when the test ends.
func openInbox(t testing.TB, root string, opts Options) (*User, store.Mailbox) {
	t.Helper()
	u, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	mb, err := u.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return u, mb
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.User { return newTestUser(t) })
}
