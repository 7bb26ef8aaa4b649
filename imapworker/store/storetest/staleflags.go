package storetest

import (
	"testing"

	"imapd/imapworker/store"
)

// testNoStaleFlags: a handle's own Store supersedes what others changed
// before it; Poll must not report the older flags afterwards (found by the
// engine's TestConcurrentLoad).
func testNoStaleFlags(t *testing.T, u store.User) {
	uids := appendN(t, u, "INBOX", 1)
	a, b := twoHandles(t, u)
	_, err := a.Store(uids, store.StoreReplace, store.Flags{System: store.FlagSeen})
	must(t, err)
	_, err = b.Store(uids, store.StoreReplace, store.Flags{System: store.FlagFlagged})
	must(t, err)
	c, err := b.Poll()
	must(t, err)
	for _, f := range c.Flags {
		if f.UID == uids[0] && f.Flags.System != store.FlagFlagged {
			t.Errorf("Poll after the handle's own STORE reports %v, not its \\Flagged", f.Flags)
		}
	}
}

// twoHandles selects INBOX read-write twice, closed when t ends.
func twoHandles(t *testing.T, u store.User) (a, b store.Mailbox) {
	t.Helper()
	var err error
	a, err = u.Select("INBOX", false)
	must(t, err)
	t.Cleanup(func() { a.Close() })
	b, err = u.Select("INBOX", false)
	must(t, err)
	t.Cleanup(func() { b.Close() })
	return a, b
}
