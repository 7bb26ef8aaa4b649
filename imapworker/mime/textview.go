package mime

import (
	"bytes"
	"unicode/utf8"
)

// TextKind says which SEARCH keys read a text of a message.
type TextKind uint8

const (
	TextBody    TextKind = iota // a text part's body: BODY and TEXT
	TextHeader                  // a header field of any part, "Name: value": TEXT
	TextSubject                 // a Subject field of the message: SUBJECT
	NumTextKinds
)

// Folded returns the needle as the Matcher compares it: the bytes that
// must occur, contiguously, in a folded text (SearchTexts) for a match.
func (m *Matcher) Folded() []byte { return m.needle }

// ASCII reports whether the needle is ASCII: it is then compared with the
// texts SearchTexts gives as ViewASCII or ViewASCIIWide, byte for byte
// after ASCII case folding, and with no other.
func (m *Matcher) ASCII() bool { return m.ascii }

// TextView says which needles a Matcher compares with a text SearchTexts
// gives.
type TextView uint8

const (
	// ViewOther is read by non-ASCII needles only.
	ViewOther TextView = iota
	// ViewASCII is read by ASCII needles (and, unless given again as
	// ViewOther, by the others too); its folded form is the ASCII folding
	// an ASCII needle compares with.
	ViewASCII
	// ViewASCIIWide is ViewASCII whose folded form differs from the ASCII
	// folding: it holds U+212A KELVIN SIGN or U+017F LONG S, which fold to
	// k and s, so an ASCII needle may occur in the folded form and not
	// match.
	ViewASCIIWide
)

// SearchTexts calls fn with every text of msg a Matcher may search, each
// folded as the Matcher folds it (appendFolded), so a full-text index
// built from them holds every byte sequence a match can span
// (docs/design.md#full-text-index). A text a Matcher reads in two forms
// (an ASCII needle reads the bytes as stored, another one the text
// converted to UTF-8) is given in both, and view says which is which.
// folded is only valid during the call. The views follow matchHeaderText, anyHeaderInTree and
// bodyContains: a change there must be made here too (the differential
// test in imapworker/fts checks them against each other).
func SearchTexts(msg *Part, fn func(kind TextKind, folded []byte, view TextView)) {
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	v := textViews{fn: fn, buf: (*bp)[:0]}
	for _, f := range msg.Header.fields {
		if f.Is("Subject") {
			v.header(TextSubject, f.value())
		}
	}
	v.headers(msg, 0)
	v.body(msg, 0)
	*bp = v.buf
}

type textViews struct {
	fn  func(TextKind, []byte, TextView)
	buf []byte
	dec []byte // CTE-decoded body
}

func (v *textViews) emit(kind TextKind, text []byte, view TextView) {
	if view == ViewASCII && foldsIntoASCII(text) {
		view = ViewASCIIWide
	}
	v.buf = appendFolded(v.buf[:0], text)
	v.fn(kind, v.buf, view)
}

// foldsIntoASCII reports whether text holds one of the two non-ASCII
// runes whose simple case folding orbit has an ASCII letter.
func foldsIntoASCII(text []byte) bool {
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case 0xe2: // U+212A is e2 84 aa
			if i+2 < len(text) && text[i+1] == 0x84 && text[i+2] == 0xaa {
				return true
			}
		case 0xc5: // U+017F is c5 bf
			if i+1 < len(text) && text[i+1] == 0xbf {
				return true
			}
		}
	}
	return false
}

// header gives the forms matchHeaderText reads of a field text.
func (v *textViews) header(kind TextKind, t []byte) {
	fast := bytes.IndexByte(t, '\n') < 0 && !bytes.Contains(t, []byte("=?"))
	if fast {
		v.emit(kind, t, ViewASCII)
		if utf8.Valid(t) && bytes.IndexByte(t, '\r') < 0 {
			// The decoded form is t trimmed: nothing more to give.
			return
		}
		v.emit(kind, []byte(DecodeHeader(unfold(t))), ViewOther)
		return
	}
	v.emit(kind, []byte(DecodeHeader(unfold(t))), ViewASCII)
}

func (v *textViews) headers(p *Part, depth int) {
	if depth > MaxDepth+1 {
		return
	}
	for _, f := range p.Header.fields {
		v.header(TextHeader, trimEOL(f.raw))
	}
	for _, c := range p.Children {
		v.headers(c, depth+1)
	}
	if p.Message != nil {
		v.headers(p.Message, depth+1)
	}
}

func (v *textViews) body(p *Part, depth int) {
	if depth > MaxDepth {
		return
	}
	switch {
	case p.IsMultipart():
		for _, c := range p.Children {
			v.body(c, depth+1)
		}
		return
	case p.Message != nil:
		v.body(p.Message, depth+1)
		return
	case p.Type != "text":
		return
	}
	body := p.Body()
	if !identityEncoding(p.Encoding) {
		if dec, err := decodeCTE(p.Encoding, body, v.dec[:0]); err == nil {
			v.dec = dec
			body = dec
		}
	}
	v.emit(TextBody, body, ViewASCII)
	if u := toUTF8(p.Charset(), body); !sameBytes(u, body) {
		v.emit(TextBody, u, ViewOther)
	}
	if cap(v.dec) > 4<<20 {
		v.dec = nil
	}
}

// sameBytes reports whether a and b are the same slice.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
