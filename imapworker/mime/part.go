package mime

import (
	"bytes"
	"strings"
)

// Limits that keep hostile messages bounded. Parsing stops descending at
// MaxDepth and stops adding parts at MaxParts; what was parsed is served.
const (
	MaxDepth = 64
	MaxParts = 10000
)

// Param is one Content-Type or Content-Disposition parameter. Name is
// lower-case; Value is decoded (RFC 2231 continuations and charsets, and
// the common non-standard RFC 2047 encoded-words) to UTF-8.
type Param struct {
	Name  string
	Value string
}

// Part is one node of a message's MIME tree. The root returned by Parse is
// the message itself: its Header is the RFC 5322 header, which also carries
// the message's MIME fields. All offsets index the slice given to Parse.
type Part struct {
	msg []byte

	HeaderStart int // first byte of the (MIME) header
	BodyStart   int // first byte of the body, after the blank line
	End         int // end of the body (excludes the CRLF before a boundary)

	Header Header

	// RFC 2045 §5: lower-case type and subtype; text/plain when absent or
	// invalid (message/rfc822 inside multipart/digest, RFC 2046 §5.1.5). A
	// multipart without a usable boundary or any part is served as
	// text/plain, so that BODYSTRUCTURE never has an empty multipart.
	Type, Subtype string
	Params        []Param // Content-Type parameters, in order; text/* always has a charset

	ID          string // Content-ID, raw
	Description string // Content-Description, raw (not decoded)
	Encoding    string // Content-Transfer-Encoding, lower-case; "7bit" if absent

	Disposition       string  // Content-Disposition value, lower-case; "" if absent
	DispositionParams []Param // its parameters
	Language          []string
	Location          string
	MD5               string

	// Lines is the body's line count (number of LF bytes), meaningful for
	// text/* and message/rfc822 parts: RFC 9051 §7.5.2 body-fld-lines.
	Lines int

	Children []*Part // multipart/* only, in order
	// Message is the encapsulated message of a message/rfc822 or
	// message/global part (nil if the part is not one, or is encoded).
	Message *Part

	// Truncated is set on a part whose children or encapsulated message
	// were not (fully) parsed because of MaxDepth or MaxParts.
	Truncated bool

	fieldsLo, fieldsHi int // this header's range in parser.fields
}

// Size is the body size in octets, as sent in BODYSTRUCTURE
// (body-fld-octets) and BODY[n]: the encoded body, not decoded.
func (p *Part) Size() int { return p.End - p.BodyStart }

// Body returns the body bytes (still transfer-encoded).
func (p *Part) Body() []byte { return p.msg[p.BodyStart:p.End] }

// HeaderBytes returns the header including the blank line that ends it.
func (p *Part) HeaderBytes() []byte { return p.msg[p.HeaderStart:p.BodyStart] }

// Bytes returns header and body.
func (p *Part) Bytes() []byte { return p.msg[p.HeaderStart:p.End] }

// IsMultipart reports whether the part has a multipart/* type with children.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" && len(p.Children) > 0 }

// IsMessage reports whether the part is message/rfc822 or message/global
// with a parsed encapsulated message.
func (p *Part) IsMessage() bool { return p.Message != nil }

// IsText reports whether the part's type is text/*.
func (p *Part) IsText() bool { return p.Type == "text" }

// Param returns the value of the Content-Type parameter name (lower-case).
func (p *Part) Param(name string) string { return paramValue(p.Params, name) }

// Charset returns the charset parameter lower-cased, "us-ascii" if absent.
func (p *Part) Charset() string {
	if cs := p.Param("charset"); cs != "" {
		return strings.ToLower(cs)
	}
	return "us-ascii"
}

func paramValue(ps []Param, name string) string {
	for _, q := range ps {
		if q.Name == name {
			return q.Value
		}
	}
	return ""
}

type parser struct {
	msg    []byte
	parts  int
	fields []Field // every header's fields, one backing array
}

// Parse parses a whole message. It never fails: broken MIME gives the best
// tree it can (RFC 2045 defaults). msg is kept, not copied: it must not be
// modified while the result is in use. Lines may end in CRLF or bare LF.
func Parse(msg []byte) *Part {
	// A short input (a cached header excerpt) has few fields: don't
	// allocate room for 32 of them per message searched.
	nf := 32
	if len(msg) < 2048 {
		nf = min(nf, bytes.Count(msg, lf)+1)
	}
	ps := &parser{msg: msg, fields: make([]Field, 0, nf)}
	root := ps.part(0, len(msg), 0, false)
	root.setHeaders(ps.fields)
	return root
}

// setHeaders points every part's Header into the final fields array (it
// may have moved while growing).
func (p *Part) setHeaders(all []Field) {
	p.Header.fields = all[p.fieldsLo:p.fieldsHi:p.fieldsHi]
	for _, c := range p.Children {
		c.setHeaders(all)
	}
	if p.Message != nil {
		p.Message.setHeaders(all)
	}
}

func (ps *parser) part(start, end, depth int, digest bool) *Part {
	ps.parts++
	p := &Part{msg: ps.msg, HeaderStart: start, End: end}
	p.fieldsLo = len(ps.fields)
	ps.fields, p.BodyStart = parseHeader(ps.msg, start, end, ps.fields)
	p.fieldsHi = len(ps.fields)
	p.Header.fields = ps.fields[p.fieldsLo:p.fieldsHi]
	p.setMIMEFields(digest)

	switch {
	case p.Type == "multipart":
		if depth+1 >= MaxDepth {
			p.Truncated = true
			break
		}
		b := p.Param("boundary")
		if b == "" {
			break // RFC 2046 §5.1.1 requires one; serve as a single part
		}
		ps.multipart(p, b, depth)
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global"):
		p.Lines = bytes.Count(p.Body(), lf)
		if !identityEncoding(p.Encoding) {
			break
		}
		if depth+1 >= MaxDepth || ps.parts >= MaxParts {
			p.Truncated = true
			break
		}
		p.Message = ps.part(p.BodyStart, p.End, depth+1, false)
	}
	if p.Type == "multipart" && len(p.Children) == 0 {
		// No usable boundary: serve the body as one text part, so that
		// BODYSTRUCTURE never has a multipart without children.
		p.Type, p.Subtype = "text", "plain"
		p.Params = []Param{{Name: "charset", Value: "us-ascii"}}
		p.Disposition, p.DispositionParams = "", nil
	}
	if p.Type == "text" {
		p.Lines = bytes.Count(p.Body(), lf)
	}
	return p
}

var lf = []byte{'\n'}

// multipart splits p's body at its boundary (RFC 2046 §5.1.1). The CRLF
// before a delimiter belongs to the delimiter. Parts after a missing close
// delimiter run to the end of the body.
func (ps *parser) multipart(p *Part, boundary string, depth int) {
	body := ps.msg[:p.End]
	delim := []byte("--" + boundary)
	digest := p.Subtype == "digest"
	partStart := -1 // start of the current part, -1 while in the preamble
	i := p.BodyStart
	for i <= len(body) {
		j := indexDelimiter(body, i, delim)
		if j < 0 {
			break
		}
		// j is the start of the delimiter line; the part ends before the
		// line break that precedes it.
		lineEnd := len(body)
		if k := bytes.IndexByte(body[j:], '\n'); k >= 0 {
			lineEnd = j + k + 1
		}
		closing := bytes.HasPrefix(body[j+len(delim):], []byte("--"))
		if partStart >= 0 {
			if !ps.addChild(p, partStart, eolBefore(body, j, partStart), depth, digest) {
				return
			}
		}
		if closing {
			return
		}
		partStart = lineEnd
		i = lineEnd
		if lineEnd == len(body) {
			break
		}
	}
	if partStart >= 0 && partStart <= p.End {
		ps.addChild(p, partStart, p.End, depth, digest)
	}
}

func (ps *parser) addChild(p *Part, start, end, depth int, digest bool) bool {
	if ps.parts >= MaxParts {
		p.Truncated = true
		return false
	}
	p.Children = append(p.Children, ps.part(start, end, depth+1, digest))
	return true
}

// indexDelimiter finds the next line at or after from that starts with
// delim and continues with "--", whitespace or the line end.
func indexDelimiter(b []byte, from int, delim []byte) int {
	for from < len(b) {
		k := bytes.Index(b[from:], delim)
		if k < 0 {
			return -1
		}
		j := from + k
		atLineStart := j == 0 || b[j-1] == '\n'
		if atLineStart {
			rest := b[j+len(delim):]
			if len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' || rest[0] == ' ' ||
				rest[0] == '\t' || rest[0] == '-' {
				return j
			}
		}
		from = j + 1
	}
	return -1
}

// eolBefore returns the offset of the line break ending just before j (so
// that the CRLF/LF belongs to the delimiter), never before min.
func eolBefore(b []byte, j, min int) int {
	e := j
	if e > min && b[e-1] == '\n' {
		e--
		if e > min && b[e-1] == '\r' {
			e--
		}
	}
	return e
}

func identityEncoding(enc string) bool {
	switch enc {
	case "7bit", "8bit", "binary", "":
		return true
	}
	return false
}

// setMIMEFields fills the typed fields from the header (RFC 2045, RFC 2183,
// RFC 3282, RFC 2557, RFC 1864). The first of duplicated fields wins, as in
// Dovecot.
func (p *Part) setMIMEFields(digest bool) {
	var seen [8]bool
	first := func(k int) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	for _, f := range p.Header.fields {
		if f.nameLen < 8 || lowerTab[f.raw[0]] != 'c' {
			continue
		}
		switch {
		case f.Is("Content-Type"):
			if first(0) {
				p.Type, p.Subtype, p.Params = parseContentType(f.Value())
			}
		case f.Is("Content-Transfer-Encoding"):
			if first(1) {
				// An invalid mechanism reads as the 7bit default, like Dovecot.
				if enc := strings.ToLower(strings.TrimSpace(stripComments(f.Value()))); isToken(enc) {
					p.Encoding = enc
				}
			}
		case f.Is("Content-ID"):
			if first(2) {
				p.ID = f.Value()
			}
		case f.Is("Content-Description"):
			if first(3) {
				p.Description = f.Value()
			}
		case f.Is("Content-Disposition"):
			if first(4) {
				d, params := parseValueParams(f.Value())
				p.Disposition, p.DispositionParams = strings.ToLower(d), params
			}
		case f.Is("Content-Language"):
			if first(5) {
				p.Language = parseLanguage(f.Value())
			}
		case f.Is("Content-Location"):
			if first(6) {
				p.Location = removeWSP(f.Value())
			}
		case f.Is("Content-MD5"):
			if first(7) {
				p.MD5 = f.Value()
			}
		}
	}
	if p.Encoding == "" {
		p.Encoding = "7bit"
	}
	if p.Type == "" {
		if digest && !seen[0] {
			p.Type, p.Subtype = "message", "rfc822"
		} else {
			p.Type, p.Subtype = "text", "plain"
		}
	}
	if p.Type == "text" && p.Param("charset") == "" {
		// RFC 2045 §5.2 default, sent explicitly as Dovecot does.
		p.Params = append(p.Params, Param{Name: "charset", Value: "us-ascii"})
	}
}

func removeWSP(s string) string {
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

func parseLanguage(v string) []string {
	var out []string
	for _, t := range strings.Split(stripComments(v), ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}
