package imap

// Parse parses one command as framed by Reader.ReadRaw: lines ending in
// CRLF (or LF) with literals inline. Errors are *SyntaxError.
// Append.Literal aliases raw.
func Parse(raw []byte) (*Command, error) {
	p := parser{b: raw}
	tag, _ := p.tryTag()
	return nil, &SyntaxError{Tag: tag, Msg: "not implemented yet"}
}

// parser holds the input and position; its methods follow the ABNF names.
type parser struct {
	b     []byte
	pos   int
	tag   string
	depth int
}

// tryTag reads the tag and the SP after it.
func (p *parser) tryTag() (string, bool) {
	i := p.pos
	for i < len(p.b) && isTagChar(p.b[i]) {
		i++
	}
	if i == p.pos || i >= len(p.b) || p.b[i] != ' ' {
		return "", false
	}
	t := string(p.b[p.pos:i])
	p.pos = i + 1
	return t, true
}

// peekName returns the upper-cased atom at the position without consuming it.
func (p *parser) peekName() string {
	i := p.pos
	for i < len(p.b) && isAtomChar(p.b[i]) {
		i++
	}
	return upper(p.b[p.pos:i])
}

func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' && c != '"' && c != '\\' && c != ']'
}

func isTagChar(c byte) bool { return isAtomChar(c) && c != '+' }

func upper(b []byte) string {
	for _, c := range b {
		if c >= 'a' && c <= 'z' {
			u := []byte(string(b))
			for i, c := range u {
				if c >= 'a' && c <= 'z' {
					u[i] = c - 32
				}
			}
			return string(u)
		}
	}
	return string(b)
}
