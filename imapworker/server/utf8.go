package server

import (
	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
)

// utf8OK: the client reads and writes UTF-8 strings and mailbox names, by
// IMAP4rev2 (RFC 9051 §5.1) or ENABLE UTF8=ACCEPT (RFC 6855 §3).
func (c *conn) utf8OK() bool { return c.rev2 || c.utf8 }

// checkUTF8Append: RFC 6855 §4, a client that has not enabled UTF-8 may
// not append a message with 8-bit header fields; one that has sends them
// in UTF8 ( ).
func (c *conn) checkUTF8Append(m imap.AppendMessage) error {
	if c.utf8OK() {
		return nil
	}
	if m.UTF8 {
		return badf("UTF8 APPEND data needs ENABLE UTF8=ACCEPT")
	}
	hdr := mime.Parse(m.Literal).HeaderBytes()
	for _, b := range hdr {
		if b >= 0x80 {
			return no("CANNOT", "8-bit header fields need ENABLE UTF8=ACCEPT (RFC 6855)")
		}
	}
	return nil
}
