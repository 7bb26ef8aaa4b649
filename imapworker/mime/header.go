package mime

import (
	"bytes"
	"strings"
)

// Field is one header field as it appears in the message. Its slices point
// into the parsed message; nothing is copied.
type Field struct {
	raw     []byte // whole field: name, colon, value, folding, line end
	nameLen int32  // name is raw[:nameLen], trailing whitespace excluded
	valOff  int32  // value starts at raw[valOff], after the colon
}

func (f Field) name() []byte  { return f.raw[:f.nameLen] }
func (f Field) value() []byte { return trimEOL(f.raw[f.valOff:]) }

// Name returns the field name as written (without trailing whitespace).
func (f Field) Name() string { return string(f.name()) }

// Is reports whether the field is called name (case-insensitive).
func (f Field) Is(name string) bool { return equalFoldASCII(f.name(), name) }

// Raw returns the field exactly as it appears, including its line end.
func (f Field) Raw() []byte { return f.raw }

// RawValue returns the value after the colon, still folded, without the
// final line end.
func (f Field) RawValue() []byte { return f.value() }

// Value returns the unfolded value (RFC 5322 §2.2.3) with surrounding
// whitespace trimmed. Encoded-words are not decoded: IMAP sends them raw.
func (f Field) Value() string { return unfold(f.value()) }

// Header is the ordered list of fields of a message or MIME part header.
type Header struct {
	fields []Field
}

// Fields returns the fields in their original order.
func (h Header) Fields() []Field { return h.fields }

// Len returns the number of fields.
func (h Header) Len() int { return len(h.fields) }

// Has reports whether a field called name exists.
func (h Header) Has(name string) bool {
	for _, f := range h.fields {
		if f.Is(name) {
			return true
		}
	}
	return false
}

// Get returns the unfolded value of the first field called name, or "".
func (h Header) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup is Get that also reports whether the field exists.
func (h Header) Lookup(name string) (string, bool) {
	for _, f := range h.fields {
		if f.Is(name) {
			return f.Value(), true
		}
	}
	return "", false
}

// Values returns the unfolded values of every field called name.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h.fields {
		if f.Is(name) {
			vs = append(vs, f.Value())
		}
	}
	return vs
}

// parseHeader reads header fields from msg[start:end] up to the first empty
// line, appending them to fields. It returns the fields and the offset where
// the body starts (after the empty line, or end if there is none). CRLF and
// bare LF are accepted.
func parseHeader(msg []byte, start, end int, fields []Field) ([]Field, int) {
	first := len(fields)
	i := start
	fstart := 0
	for i < end {
		lineEnd := end
		if j := bytes.IndexByte(msg[i:end], '\n'); j >= 0 {
			lineEnd = i + j + 1
		}
		line := msg[i:lineEnd]
		if isBlankLine(line) {
			return fields, lineEnd
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > first {
			// Continuation of the previous field (folding): extend it.
			fields[len(fields)-1].raw = msg[fstart:lineEnd]
			i = lineEnd
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || colon > 1<<20 {
			// Not a field (garbage or mbox "From " line): skip it.
			i = lineEnd
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		fields = append(fields, Field{raw: line, nameLen: int32(len(name)), valOff: int32(colon + 1)})
		fstart = i
		i = lineEnd
	}
	return fields, end
}

func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n' ||
		len(line) == 1 && line[0] == '\r'
}

// trimEOL removes one trailing LF or CRLF.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// unfold removes CR and LF (RFC 5322 §2.2.3) and trims surrounding whitespace.
func unfold(v []byte) string {
	v = bytes.Trim(v, " \t\r\n")
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	var b strings.Builder
	b.Grow(len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerTab[b[i]] != lowerTab[s[i]] {
			return false
		}
	}
	return true
}

var lowerTab = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return
}()
