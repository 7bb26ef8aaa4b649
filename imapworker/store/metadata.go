package store

// MetadataEntry is one annotation (RFC 5464 §3): a lower-case entry name
// ("/private/comment") and its value; a nil Value in a change removes it.
type MetadataEntry struct {
	Name  string
	Value []byte
}

// MetadataUser is the part of User for RFC 5464 annotations.
type MetadataUser interface {
	// Metadata returns the annotations of mailbox, or the account's own
	// (the server entries, RFC 5464 §3.2.1.1) for "". A mailbox's
	// annotations go with it when it is renamed and go away when it is
	// deleted; a RENAME of INBOX copies them (§4.1).
	Metadata(mailbox string) (map[string][]byte, error)
	// SetMetadata applies changes to mailbox's (or the account's)
	// annotations as one: check is shown the annotations as they would
	// be and may refuse them with an error, which SetMetadata returns
	// having changed nothing (§4.3).
	SetMetadata(mailbox string, changes []MetadataEntry, check func(map[string][]byte) error) error
}

// ApplyMetadata returns old with changes applied, old untouched.
func ApplyMetadata(old map[string][]byte, changes []MetadataEntry) map[string][]byte {
	out := make(map[string][]byte, len(old)+len(changes))
	for k, v := range old {
		out[k] = v
	}
	for _, c := range changes {
		if c.Value == nil {
			delete(out, c.Name)
		} else {
			out[c.Name] = append([]byte{}, c.Value...)
		}
	}
	return out
}
