package imap

import "strings"

// NormalizeMailbox returns "INBOX" for any case of "inbox" (RFC 9051 §5.1)
// and name unchanged otherwise.
func NormalizeMailbox(name string) string {
	if len(name) == 5 && strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

// NormalizeMailboxDelim is NormalizeMailbox that also upper-cases an
// "inbox" first level ("Inbox/Sub" -> "INBOX/Sub") for delimiter delim.
func NormalizeMailboxDelim(name string, delim byte) string {
	if len(name) > 5 && name[5] == delim && strings.EqualFold(name[:5], "INBOX") {
		return "INBOX" + name[5:]
	}
	return NormalizeMailbox(name)
}
