package maildir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"imapd/imapworker/store"
)

// RFC 5464 annotations: a mailbox's are imapd's file imapd.metadata in its
// folder directory, so a RENAME moves them and a DELETE removes them; the
// account's own (the server entries) are imapd.server-metadata in the
// Maildir's root. Each is a JSON object of entry name and value (base64),
// replaced atomically (written, fsynced, renamed) under the folder's
// dovecot-uidlist.lock. Dovecot keeps its annotations elsewhere (its
// mail_attribute_dict): neither sees the other's.
const (
	metadataName       = "imapd.metadata"
	serverMetadataName = "imapd.server-metadata"
)

// metadataPath returns the file of mailbox's annotations.
func (u *User) metadataPath(mailbox string) (string, error) {
	if mailbox == "" {
		return filepath.Join(u.root, serverMetadataName), nil
	}
	name := store.CanonicalName(mailbox)
	if name != "INBOX" {
		if err := validName(name); err != nil {
			return "", err
		}
		dirs, err := u.folderDirs()
		if err != nil {
			return "", err
		}
		if _, ok := dirs[name]; !ok {
			if u.hasChildren(name, dirs) {
				return "", store.ErrNoSelect // a Maildir++ parent without a directory
			}
			return "", store.ErrNoSuchMailbox
		}
	}
	dir, err := u.dirOf(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, metadataName), nil
}

func readMetadata(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("maildir: %s: %w", path, err)
	}
	return m, nil
}

// Metadata implements store.MetadataUser.
func (u *User) Metadata(mailbox string) (map[string][]byte, error) {
	path, err := u.metadataPath(mailbox)
	if err != nil {
		return nil, err
	}
	return readMetadata(path)
}

// SetMetadata implements store.MetadataUser.
func (u *User) SetMetadata(mailbox string, changes []store.MetadataEntry, check func(map[string][]byte) error) error {
	path, err := u.metadataPath(mailbox)
	if err != nil {
		return err
	}
	l, err := lockDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer l.unlock()
	old, err := readMetadata(path)
	if err != nil {
		return err
	}
	next := store.ApplyMetadata(old, changes)
	if err := check(next); err != nil {
		return err
	}
	if len(next) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	return storeErr(writeFileAtomic(path, data))
}

// copyMetadata copies INBOX's annotations to the mailbox a RENAME of INBOX
// made (RFC 5464 §4.1).
func (u *User) copyMetadata(newName string) error {
	m, err := u.Metadata("INBOX")
	if err != nil || len(m) == 0 {
		return err
	}
	changes := make([]store.MetadataEntry, 0, len(m))
	for k, v := range m {
		changes = append(changes, store.MetadataEntry{Name: k, Value: v})
	}
	return u.SetMetadata(newName, changes, func(map[string][]byte) error { return nil })
}
