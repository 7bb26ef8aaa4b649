package store

import "time"

// ObjectUser is the part of User for RFC 8474 object identifiers.
type ObjectUser interface {
	// MailboxID returns the mailbox's MAILBOXID (RFC 8474 §4): stable
	// while its name and UIDVALIDITY stay, kept by a RENAME (not by a
	// RENAME of INBOX, which makes a new mailbox), never given to two
	// mailboxes at once. It is an objectid: 1 to 255 letters, digits,
	// '_' and '-'.
	MailboxID(name string) (string, error)
}

// ObjectMailbox is the part of Mailbox for RFC 8474 object identifiers and
// RFC 8514 save dates.
type ObjectMailbox interface {
	// MailboxID is the selected mailbox's MAILBOXID (see ObjectUser).
	MailboxID() string
	// EmailIDs returns the EMAILID of each of uids (RFC 8474 §5.1), ""
	// for one that is gone: immutable, the same for the copy a COPY or
	// MOVE makes, an objectid.
	EmailIDs(uids []uint32) ([]string, error)
	// SaveDates returns when each of uids was saved into this mailbox
	// (RFC 8514 §3: APPEND, COPY, MOVE or delivery; never changed
	// afterwards), the zero time for one that is gone.
	SaveDates(uids []uint32) ([]time.Time, error)
}

// ValidObjectID reports whether s is an objectid (RFC 8474 §7):
// 1*255(ALPHA / DIGIT / "_" / "-").
func ValidObjectID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
