package mime

import (
	"bytes"
	"errors"
)

// ErrNoSuchPart is returned when a section path does not exist in the
// message, or a specifier does not apply to the part it names.
var ErrNoSuchPart = errors.New("mime: no such body part")

// Specifier is the section-text of RFC 9051 §6.4.5.
type Specifier int

const (
	SpecNone            Specifier = iota // BODY[] or BODY[1.2]
	SpecHeader                           // HEADER
	SpecHeaderFields                     // HEADER.FIELDS (list)
	SpecHeaderFieldsNot                  // HEADER.FIELDS.NOT (list)
	SpecText                             // TEXT
	SpecMIME                             // MIME (needs a part path)
)

// Section names a BODY[section] (RFC 9051 §6.4.5).
type Section struct {
	Path      []int // 1-based part numbers; empty for the whole message
	Specifier Specifier
	Fields    []string // for SpecHeaderFields and SpecHeaderFieldsNot
}

// FindPart resolves a part path. Part 1 of a non-multipart message is its
// body, i.e. the message root itself; a path through a message/rfc822
// part continues in its encapsulated message. An empty path gives root.
func (root *Part) FindPart(path []int) (*Part, error) {
	p := root
	atMessage := true // p is a message (root or encapsulated), not a part
	for _, n := range path {
		if n < 1 {
			return nil, ErrNoSuchPart
		}
		if !atMessage && p.Message != nil {
			p, atMessage = p.Message, true
		}
		switch {
		case p.IsMultipart():
			if n > len(p.Children) {
				return nil, ErrNoSuchPart
			}
			p = p.Children[n-1]
		case atMessage && n == 1:
			// The body of a non-multipart message is its part 1.
		default:
			return nil, ErrNoSuchPart
		}
		atMessage = false
	}
	return p, nil
}

// Section returns the bytes of BODY[section], RFC 9051 §6.4.5. For
// HEADER.FIELDS[.NOT] it builds a new header block (matching fields in
// their original order, then the blank line); otherwise the result aliases
// the message. HEADER, TEXT and the field lists apply to the whole message
// (empty path) or to a message/rfc822 part.
func (root *Part) Section(s Section) ([]byte, error) {
	p, err := root.FindPart(s.Path)
	if err != nil {
		return nil, err
	}
	switch s.Specifier {
	case SpecNone:
		if len(s.Path) == 0 {
			return root.msg[root.HeaderStart:root.End], nil
		}
		return p.Body(), nil
	case SpecMIME:
		if len(s.Path) == 0 {
			return nil, ErrNoSuchPart
		}
		return p.HeaderBytes(), nil
	}
	m := p
	if len(s.Path) > 0 {
		if p.Message == nil {
			return nil, ErrNoSuchPart
		}
		m = p.Message
	}
	switch s.Specifier {
	case SpecHeader:
		return m.HeaderBytes(), nil
	case SpecText:
		return m.Body(), nil
	case SpecHeaderFields:
		return filterHeader(m, s.Fields, true), nil
	case SpecHeaderFieldsNot:
		return filterHeader(m, s.Fields, false), nil
	}
	return nil, ErrNoSuchPart
}

// filterHeader keeps (or drops) fields named in names, in original order,
// and ends the block with a blank line using the header's own line ending.
func filterHeader(m *Part, names []string, keep bool) []byte {
	var out []byte
	for _, f := range m.Header.fields {
		match := false
		for _, n := range names {
			if f.Is(n) {
				match = true
				break
			}
		}
		if match == keep {
			out = append(out, f.raw...)
			if !bytes.HasSuffix(f.raw, lf) {
				out = append(out, '\r', '\n') // last field ran to EOF
			}
		}
	}
	return append(out, '\r', '\n')
}

// Binary returns BINARY[path] (RFC 9051 §6.4.5): the part's body decoded
// from its Content-Transfer-Encoding. An empty path gives the whole
// message unchanged. Unknown encodings give ErrUnknownCTE.
func (root *Part) Binary(path []int) ([]byte, error) {
	p, err := root.FindPart(path)
	if err != nil {
		return nil, err
	}
	if len(path) == 0 {
		return root.Bytes(), nil
	}
	if p.IsMultipart() {
		// A multipart has no transfer encoding of its own to remove.
		return p.Body(), nil
	}
	return p.Decode()
}

// BinarySize returns the size of BINARY[path], for BINARY.SIZE.
func (root *Part) BinarySize(path []int) (int, error) {
	p, err := root.FindPart(path)
	if err != nil {
		return 0, err
	}
	if len(path) == 0 {
		return len(root.Bytes()), nil
	}
	switch p.Encoding {
	case "7bit", "8bit", "binary", "":
		return p.Size(), nil
	}
	if p.IsMultipart() {
		return p.Size(), nil
	}
	b, err := p.Decode()
	return len(b), err
}
