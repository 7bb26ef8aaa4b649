package mime

import (
	"bytes"
	"encoding/base64"
)

// HasNUL reports whether msg holds a NUL octet, which no ordinary IMAP
// literal may carry (RFC 9051 §4.3).
func HasNUL(msg []byte) bool { return bytes.IndexByte(msg, 0) >= 0 }

// EncodeBinary returns the message root was parsed from as IMAP may send it
// in an ordinary literal: every leaf part whose unencoded body holds NUL is
// base64-encoded, with its Content-Transfer-Encoding field replaced (RFC
// 3516 §4.4 and §6: BODY and BODYSTRUCTURE describe a binary part as if
// encoded in a CTE the base specification accepts). BINARY of the result
// decodes to the original bytes. A NUL anywhere else (a header, a preamble,
// a part that claims an encoding) cannot be encoded and is left out. A
// message without NUL is returned as it is.
func EncodeBinary(root *Part) []byte {
	msg := root.msg[root.HeaderStart:root.End]
	if !HasNUL(msg) {
		return msg
	}
	e := binEncoder{msg: root.msg, out: make([]byte, 0, len(msg)*4/3+256)}
	e.part(root)
	return e.out
}

type binEncoder struct {
	msg, out []byte
}

// text copies msg[from:to] without its NULs.
func (e *binEncoder) text(from, to int) {
	for _, c := range e.msg[from:to] {
		if c != 0 {
			e.out = append(e.out, c)
		}
	}
}

func (e *binEncoder) part(p *Part) {
	switch {
	case p.IsMultipart():
		e.text(p.HeaderStart, p.BodyStart)
		pos := p.BodyStart
		for _, ch := range p.Children {
			e.text(pos, ch.HeaderStart)
			e.part(ch)
			pos = ch.End
		}
		e.text(pos, p.End)
	case p.Message != nil:
		e.text(p.HeaderStart, p.BodyStart)
		e.text(p.BodyStart, p.Message.HeaderStart)
		e.part(p.Message)
		e.text(p.Message.End, p.End)
	case identityEncoding(p.Encoding) && HasNUL(p.Body()):
		e.encodedHeader(p)
		body := p.Body()
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(body)))
		base64.StdEncoding.Encode(enc, body)
		for len(enc) > 76 { // RFC 2045 §6.8: lines of at most 76 characters
			e.out = append(e.out, enc[:76]...)
			e.out = append(e.out, '\r', '\n')
			enc = enc[76:]
		}
		e.out = append(e.out, enc...)
		if p.End == len(e.msg) {
			e.out = append(e.out, '\r', '\n') // no delimiter follows to end the line
		}
	default:
		e.text(p.HeaderStart, p.End)
	}
}

// encodedHeader writes p's header with "Content-Transfer-Encoding: base64"
// in place of its own field (or before the blank line when it has none).
func (e *binEncoder) encodedHeader(p *Part) {
	const field = "Content-Transfer-Encoding: base64\r\n"
	pos, done := p.HeaderStart, false
	for _, f := range p.Header.fields {
		start := f.start(e.msg)
		if !f.Is("Content-Transfer-Encoding") {
			continue
		}
		e.text(pos, start)
		if !done {
			e.out = append(e.out, field...)
			done = true
		}
		pos = start + len(f.raw)
	}
	end := p.BodyStart
	// The blank line that ends the header.
	blank := end
	if blank > pos && e.msg[blank-1] == '\n' {
		blank--
		if blank > pos && e.msg[blank-1] == '\r' {
			blank--
		}
	}
	if done {
		e.text(pos, end)
		return
	}
	e.text(pos, blank)
	if blank > p.HeaderStart && e.msg[blank-1] != '\n' {
		e.out = append(e.out, '\r', '\n') // a last field without a line end
	}
	e.out = append(e.out, field...)
	e.text(blank, end)
}

// start is the field's offset in msg, the slice it was parsed from.
func (f Field) start(msg []byte) int { return cap(msg) - cap(f.raw) }
