package server

import (
	"strings"

	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// catenate builds the message of an APPEND with CATENATE (RFC 4469 §3)
// from its TEXT parts (an ordinary literal made CRLF, a literal8 kept as
// sent) and the URLs of the user's own messages or their parts. A URL
// that does not name one is NO [BADURL url]; a result past APPENDLIMIT
// NO [TOOBIG] (§3.1, §5).
func (c *conn) catenate(parts []imap.CatPart) ([]byte, error) {
	var out []byte
	for _, p := range parts {
		if p.URL == "" {
			if p.Binary {
				out = append(out, p.Text...)
			} else {
				out = append(out, mime.ToCRLF(p.Text)...)
			}
		} else {
			data, err := c.catURL(p.URL)
			if err != nil {
				return nil, err
			}
			out = append(out, data...)
		}
		if int64(len(out)) > c.appendMax {
			return nil, no("TOOBIG", "catenated message exceeds APPENDLIMIT")
		}
	}
	return out, nil
}

// catURL returns the bytes an IMAP URL (RFC 5092) names: a message of this
// user (an absolute URL must name this user; any host is taken as this
// server), or a section of it, or a range of those (PARTIAL).
func (c *conn) catURL(raw string) ([]byte, error) {
	bad := no("BADURL "+strings.NewReplacer("]", "", "\r", "", "\n", "").Replace(raw), "URL does not name a message of yours")
	u, err := imap.ParseIMAPURL(raw)
	if err != nil || u.User != "" && u.User != c.scfg.UserName || u.Host != "" && u.User == "" {
		return nil, bad
	}
	h, err := c.user.Select(c.mailboxName(u.Mailbox), true)
	if err != nil {
		return nil, bad
	}
	defer h.Close()
	if u.UIDValidity != 0 && u.UIDValidity != h.UIDValidity() {
		return nil, bad
	}
	cnt, err := h.Open(u.UID)
	if err != nil {
		return nil, bad
	}
	data, err := store.Bytes(cnt)
	cnt.Close()
	if err != nil {
		return nil, err
	}
	if u.Section != nil {
		if data, err = mime.Parse(data).Section(mimeSection(u.Section)); err != nil {
			return nil, bad
		}
	}
	if p := u.Partial; p != nil {
		if p.Offset >= int64(len(data)) {
			return nil, nil
		}
		data = data[p.Offset:]
		if p.Count >= 0 && p.Count < int64(len(data)) {
			data = data[:p.Count]
		}
	}
	return data, nil
}
