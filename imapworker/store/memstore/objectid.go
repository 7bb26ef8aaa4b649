package memstore

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// newObjectID returns a random objectid (RFC 8474 §7) with a prefix that
// keeps MAILBOXIDs ('F') and EMAILIDs ('M') apart.
func newObjectID(prefix byte) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}

// MailboxID implements store.ObjectUser.
func (u *User) MailboxID(name string) (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(name)
	if err != nil {
		return "", err
	}
	return mb.id, nil
}

// MailboxID implements store.ObjectMailbox.
func (h *handle) MailboxID() string {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	return h.mb.id
}

// EmailIDs implements store.ObjectMailbox.
func (h *handle) EmailIDs(uids []uint32) ([]string, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	out := make([]string, len(uids))
	for i, uid := range uids {
		if m := h.mb.find(uid); m != nil {
			out[i] = m.emailID
		}
	}
	return out, nil
}

// SaveDates implements store.ObjectMailbox.
func (h *handle) SaveDates(uids []uint32) ([]time.Time, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	out := make([]time.Time, len(uids))
	for i, uid := range uids {
		if m := h.mb.find(uid); m != nil {
			out[i] = m.saved
		}
	}
	return out, nil
}
