package mime

import (
	"bytes"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Matcher is a compiled SEARCH string: a case-insensitive substring match
// using Unicode simple case folding (RFC 9051 §6.4.4). Build it once per
// SEARCH key and reuse it for every message; it is safe for concurrent use.
// An ASCII needle takes a byte-level fast path that folds ASCII only, so
// it does not match U+212A KELVIN SIGN or U+017F LONG S for k and s.
type Matcher struct {
	needle []byte // folded needle
	ascii  bool
	anchor int  // offset in needle of the byte located with IndexByte
	lo, hi byte // the anchor byte in both cases (equal if not a letter)
}

// NewMatcher compiles needle, given in UTF-8.
func NewMatcher(needle string) *Matcher {
	m := &Matcher{ascii: isASCII([]byte(needle))}
	if m.ascii {
		m.needle = make([]byte, len(needle))
		for i := 0; i < len(needle); i++ {
			m.needle[i] = lowerTab[needle[i]]
		}
		best := 1 << 30
		for i, c := range m.needle {
			if s := byteScore(c); s < best {
				best, m.anchor = s, i
			}
		}
		if len(m.needle) > 0 {
			m.lo = m.needle[m.anchor]
			m.hi = m.lo
			if 'a' <= m.lo && m.lo <= 'z' {
				m.hi = m.lo - 'a' + 'A'
			}
		}
		return m
	}
	m.needle = appendFolded(nil, []byte(needle))
	return m
}

// byteScore estimates how common c is in mail text (lower is rarer);
// letters cost double because both cases must be scanned for.
func byteScore(c byte) int {
	const freq = " etaoinshrdlcumwfgypbvkjxqz"
	if i := bytes.IndexByte([]byte(freq), c); i >= 0 {
		if c == ' ' {
			return 1000
		}
		return 2 * (len(freq) - i + 10)
	}
	if '0' <= c && c <= '9' {
		return 8
	}
	switch c {
	case '.', ',', '\n', '\r', '-', '=':
		return 30
	}
	return 5
}

// Match reports whether text (UTF-8, or any ASCII-compatible charset when
// the needle is ASCII) contains the needle. An empty needle matches.
func (m *Matcher) Match(text []byte) bool {
	if len(m.needle) == 0 {
		return true
	}
	if m.ascii {
		return m.matchASCII(text)
	}
	bp := bufPool.Get().(*[]byte)
	folded := appendFolded((*bp)[:0], text)
	ok := bytes.Contains(folded, m.needle)
	*bp = folded
	putBuf(bp)
	return ok
}

func (m *Matcher) matchASCII(t []byte) bool {
	n, k := m.needle, m.anchor
	if len(t) < len(n) {
		return false
	}
	end := len(t) - len(n) + k + 1 // anchor positions are in [k, end)
	nl, nh := -2, -2               // next lo/hi positions; -2 unknown, -1 none
	if m.lo == m.hi {
		nh = -1
	}
	for i := k; i < end; {
		if nl != -1 && nl < i {
			if j := bytes.IndexByte(t[i:end], m.lo); j >= 0 {
				nl = i + j
			} else {
				nl = -1
			}
		}
		if nh != -1 && nh < i {
			if j := bytes.IndexByte(t[i:end], m.hi); j >= 0 {
				nh = i + j
			} else {
				nh = -1
			}
		}
		pos := nl
		if pos < 0 || (nh >= 0 && nh < pos) {
			pos = nh
		}
		if pos < 0 {
			return false
		}
		if foldEqualASCII(t[pos-k:pos-k+len(n)], n) {
			return true
		}
		i = pos + 1
	}
	return false
}

func foldEqualASCII(t, n []byte) bool {
	for i, c := range n {
		if lowerTab[t[i]] != c {
			return false
		}
	}
	return true
}

// appendFolded appends text with every rune replaced by the smallest rune
// of its simple case-folding orbit; invalid UTF-8 bytes are kept.
func appendFolded(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerTab[c])
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += size
	}
	return dst
}

func foldRune(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	if min < utf8.RuneSelf {
		return rune(lowerTab[min])
	}
	return min
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putBuf returns a buffer to the pool unless one huge part made it grow
// past what is worth keeping around.
func putBuf(bp *[]byte) {
	if cap(*bp) <= 4<<20 {
		bufPool.Put(bp)
	}
}

// HeaderContains reports whether any field called name in p's header
// contains needle after RFC 2047 decoding (SEARCH HEADER, FROM, SUBJECT...).
// An empty needle matches when the field exists (RFC 9051 §6.4.4).
func HeaderContains(p *Part, name, needle string) bool {
	return NewMatcher(needle).HeaderContains(p, name)
}

// BodyContains reports whether the text of msg's body contains needle
// (SEARCH BODY). Use a Matcher when searching many messages.
func BodyContains(msg *Part, needle string) bool { return NewMatcher(needle).BodyContains(msg) }

// TextContains reports whether header or body text contains needle
// (SEARCH TEXT).
func TextContains(msg *Part, needle string) bool { return NewMatcher(needle).TextContains(msg) }

// HeaderContains is the compiled form of the package function.
func (m *Matcher) HeaderContains(p *Part, name string) bool {
	for _, f := range p.Header.fields {
		if f.Is(name) && m.matchHeaderText(f.value()) {
			return true
		}
	}
	return false
}

// matchHeaderText matches a field value or whole field after unfolding and
// RFC 2047 decoding, without allocating in the common plain ASCII case.
func (m *Matcher) matchHeaderText(v []byte) bool {
	if m.ascii && bytes.IndexByte(v, '\n') < 0 && !bytes.Contains(v, []byte("=?")) {
		return m.Match(v)
	}
	return m.Match([]byte(DecodeHeader(unfold(v))))
}

// HeaderAnyContains matches every field of p's header as "Name: value"
// after RFC 2047 decoding.
func (m *Matcher) HeaderAnyContains(p *Part) bool {
	for _, f := range p.Header.fields {
		if m.matchHeaderText(trimEOL(f.raw)) {
			return true
		}
	}
	return false
}

// TextContains matches the headers, including MIME part headers and those
// of encapsulated messages, then the body text (SEARCH TEXT, RFC 9051
// §6.4.4).
func (m *Matcher) TextContains(msg *Part) bool {
	return m.anyHeaderInTree(msg, 0) || m.BodyContains(msg)
}

func (m *Matcher) anyHeaderInTree(p *Part, depth int) bool {
	if depth > MaxDepth+1 {
		return false
	}
	if m.HeaderAnyContains(p) {
		return true
	}
	for _, c := range p.Children {
		if m.anyHeaderInTree(c, depth+1) {
			return true
		}
	}
	return p.Message != nil && m.anyHeaderInTree(p.Message, depth+1)
}

// BodyContains searches the text/* parts of msg, including those inside
// encapsulated messages, after removing their transfer encoding and (for a
// non-ASCII needle) converting their charset. Other parts are skipped. It
// stops at the first match.
func (m *Matcher) BodyContains(msg *Part) bool {
	if len(m.needle) == 0 {
		return true
	}
	return m.bodyContains(msg, 0)
}

func (m *Matcher) bodyContains(p *Part, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch {
	case p.IsMultipart():
		for _, c := range p.Children {
			if m.bodyContains(c, depth+1) {
				return true
			}
		}
		return false
	case p.Message != nil:
		return m.bodyContains(p.Message, depth+1)
	case p.Type != "text":
		return false
	}
	body := p.Body()
	var bp *[]byte
	if !identityEncoding(p.Encoding) {
		bp = bufPool.Get().(*[]byte)
		defer putBuf(bp)
		// An unknown encoding is searched as stored.
		if dec, err := decodeCTE(p.Encoding, body, (*bp)[:0]); err == nil {
			*bp = dec
			body = dec
		}
	}
	if !m.ascii {
		// ASCII bytes mean the same in every supported charset, so only a
		// non-ASCII needle needs the text converted.
		body = toUTF8(p.Charset(), body)
	}
	return m.Match(body)
}
