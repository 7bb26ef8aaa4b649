package imap

import (
	"errors"
	"strconv"
	"strings"
)

// CatPart is one cat-part of APPEND's CATENATE (RFC 4469 §5): a TEXT
// literal, or the IMAP URL of a message or part of one.
type CatPart struct {
	Text   []byte
	Binary bool   // Text was a literal8
	URL    string // as sent; "" for a TEXT part
}

// catenate = "CATENATE" SP "(" cat-part *(SP cat-part) ")";
// cat-part = text-literal / url; text-literal = "TEXT" SP literal;
// url = "URL" SP astring. Called after "CATENATE".
func (p *parser) catenate() []CatPart {
	p.sp()
	p.expect('(', "expected (")
	var parts []CatPart
	for {
		var wb [8]byte
		switch string(p.word(wb[:0])) {
		case "TEXT":
			p.sp()
			var c CatPart
			c.Binary = p.take('~')
			if p.peek() != '{' {
				p.fail("expected literal")
			}
			c.Text = p.literal()
			parts = append(parts, c)
		case "URL":
			p.sp()
			u := p.astring()
			if u == "" {
				p.fail("empty URL")
			}
			parts = append(parts, CatPart{URL: u})
		default:
			p.fail("expected TEXT or URL")
		}
		if p.take(')') {
			return parts
		}
		p.sp()
	}
}

// IMAPURL is the part of an IMAP URL (RFC 5092) that names a message or a
// part of one: [imap://[user[;AUTH=...]@]host[:port]]/mailbox
// [;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]].
type IMAPURL struct {
	User, Host  string // "" for a relative URL
	Mailbox     string // percent-decoded
	UIDValidity uint32 // 0 when absent
	UID         uint32
	Section     *Section // nil for the whole message
	Partial     *Partial // nil when absent; Count -1 for "to the end"
}

var errURL = errors.New("not an IMAP URL of a message")

// ParseIMAPURL reads an IMAP URL naming a message (RFC 5092 §2, §6).
func ParseIMAPURL(s string) (*IMAPURL, error) {
	u := &IMAPURL{}
	if rest, ok := cutPrefixFold(s, "imap://"); ok {
		auth, path, found := strings.Cut(rest, "/")
		if !found {
			return nil, errURL
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			user, _, _ := strings.Cut(auth[:at], ";")
			var err error
			if u.User, err = unescape(user); err != nil {
				return nil, errURL
			}
			auth = auth[at+1:]
		}
		u.Host = auth
		s = "/" + path
	}
	if !strings.HasPrefix(s, "/") {
		return nil, errURL
	}
	segs := strings.Split(s[1:], "/")
	if len(segs) < 2 {
		return nil, errURL
	}
	mbox, uv, hasUV := cutFold(segs[0], ";UIDVALIDITY=")
	var err error
	if u.Mailbox, err = unescape(mbox); err != nil || u.Mailbox == "" {
		return nil, errURL
	}
	if hasUV {
		n, err := strconv.ParseUint(uv, 10, 32)
		if err != nil || n == 0 {
			return nil, errURL
		}
		u.UIDValidity = uint32(n)
	}
	uid, ok := cutPrefixFold(segs[1], ";UID=")
	n, err := strconv.ParseUint(uid, 10, 32)
	if !ok || err != nil || n == 0 {
		return nil, errURL
	}
	u.UID = uint32(n)
	for _, seg := range segs[2:] {
		if v, ok := cutPrefixFold(seg, ";SECTION="); ok && u.Section == nil && u.Partial == nil {
			sec, err := unescape(v)
			if err != nil {
				return nil, errURL
			}
			if u.Section, err = parseSection(sec); err != nil {
				return nil, errURL
			}
		} else if v, ok := cutPrefixFold(seg, ";PARTIAL="); ok && u.Partial == nil {
			off, cnt, hasCnt := strings.Cut(v, ".")
			o, err1 := strconv.ParseInt(off, 10, 64)
			c, err2 := int64(-1), error(nil)
			if hasCnt {
				c, err2 = strconv.ParseInt(cnt, 10, 64)
			}
			if err1 != nil || err2 != nil || o < 0 || hasCnt && c <= 0 {
				return nil, errURL
			}
			u.Partial = &Partial{Offset: o, Count: c}
		} else {
			return nil, errURL // ;URLAUTH, ;EXPIRE and anything else
		}
	}
	return u, nil
}

// parseSection reads a section-spec as BODY[...] holds it.
func parseSection(s string) (sec *Section, err error) {
	p := &parser{b: []byte("[" + s + "]")}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(parseError); !ok {
				panic(r)
			}
			sec, err = nil, errURL
		}
	}()
	sec = p.section()
	if p.pos != len(p.b) {
		return nil, errURL
	}
	return sec, nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// cutFold is strings.Cut with sep matched case-insensitively.
func cutFold(s, sep string) (before, after string, found bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sep)], sep) {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// unescape decodes %XX escapes (RFC 3986 §2.1, as RFC 5092 uses them).
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errURL
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errURL
		}
		b = append(b, byte(n))
		i += 2
	}
	return string(b), nil
}
