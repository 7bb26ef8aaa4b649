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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.User { return newTestUser(t) })
}
