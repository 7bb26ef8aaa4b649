package memstore

import (
	"fmt"
	"maps"

	"imapd/imapworker/store"
)

// metaOf returns where mailbox's annotations live. Called with u.mu.
func (u *User) metaOf(mailbox string) (*map[string][]byte, error) {
	if mailbox == "" {
		return &u.meta, nil
	}
	mb, err := u.lookup(mailbox)
	if err != nil {
		return nil, err
	}
	return &mb.meta, nil
}

// Metadata implements store.MetadataUser.
func (u *User) Metadata(mailbox string) (map[string][]byte, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	m, err := u.metaOf(mailbox)
	if err != nil {
		return nil, err
	}
	return maps.Clone(*m), nil
}

// SetMetadata implements store.MetadataUser.
func (u *User) SetMetadata(mailbox string, changes []store.MetadataEntry, check func(map[string][]byte) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	m, err := u.metaOf(mailbox)
	if err != nil {
		return fmt.Errorf("metadata of %q: %w", mailbox, err)
	}
	next := store.ApplyMetadata(*m, changes)
	if err := check(next); err != nil {
		return err
	}
	*m = next
	return nil
}
