package config

import "strings"

// token is one word of a statement. Keywords match only unquoted words, so
// `"listen"` is a string and never a statement.
type token struct {
	s      string
	quoted bool
	line   int
}

// lexer splits the input into statements, one per logical line, expanding
// $macros as it goes. It runs one statement ahead of the parser at most, so a
// macro defined on one line is visible from the next.
type lexer struct {
	data   []byte
	pos    int
	line   int
	macros map[string]string
	errf   func(line int, format string, args ...any)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// next returns the tokens of the next non-empty statement, or nil at EOF.
func (l *lexer) next() []token {
	var toks []token
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case c == '\n':
			l.pos++
			l.line++
			if len(toks) > 0 {
				return toks
			}
		case isSpace(c):
			l.pos++
		case c == '\\' && l.continuation():
			// Line continuation: the statement goes on on the next line.
		case c == '#':
			for l.pos < len(l.data) && l.data[l.pos] != '\n' {
				l.pos++
			}
		case c == '"':
			if t, ok := l.quoted(); ok {
				toks = append(toks, t)
			}
		case c == '=':
			toks = append(toks, token{s: "=", line: l.line})
			l.pos++
		default:
			toks = append(toks, l.word()...)
		}
	}
	return toks
}

// atContinuation reports whether a backslash at pos ends the line.
func (l *lexer) atContinuation() bool {
	i := l.pos + 1
	for i < len(l.data) && isSpace(l.data[i]) {
		i++
	}
	return i >= len(l.data) || l.data[i] == '\n'
}

// continuation consumes a backslash followed by optional blanks and a newline.
func (l *lexer) continuation() bool {
	if !l.atContinuation() {
		return false
	}
	i := l.pos + 1
	for i < len(l.data) && isSpace(l.data[i]) {
		i++
	}
	l.pos = i + 1
	l.line++
	return true
}

func (l *lexer) quoted() (token, bool) {
	start := l.line
	l.pos++ // opening quote
	var b strings.Builder
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case c == '"':
			l.pos++
			return token{s: b.String(), quoted: true, line: start}, true
		case c == '\n':
			l.errf(start, "unterminated quoted string")
			return token{}, false
		case c == '\\' && l.pos+1 < len(l.data) && (l.data[l.pos+1] == '"' || l.data[l.pos+1] == '\\'):
			b.WriteByte(l.data[l.pos+1])
			l.pos += 2
		case c < ' ' && c != '\t':
			l.errf(start, "control character in quoted string")
			l.pos++
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	l.errf(start, "unterminated quoted string")
	return token{}, false
}

func (l *lexer) word() []token {
	start := l.pos
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if c == '\n' || isSpace(c) || c == '#' || c == '"' || c == '=' {
			break
		}
		if c == '\\' && l.atContinuation() {
			break
		}
		if c < ' ' || c == 0x7f {
			l.errf(l.line, "control character 0x%02x", c)
		}
		l.pos++
	}
	w := string(l.data[start:l.pos])
	if !strings.HasPrefix(w, "$") {
		return []token{{s: w, line: l.line}}
	}
	// The name ends at the first character that cannot be in one, and the
	// rest of the word sticks to the value: $certdir/mail.pem.
	end := 1
	for end < len(w) && validMacroName(w[1:end+1]) {
		end++
	}
	name, suffix := w[1:end], w[end:]
	v, ok := l.macros[name]
	if !ok {
		l.errf(l.line, "macro %q not defined", name)
		return []token{{s: w, line: l.line}}
	}
	// Like OpenBSD's parse.y, the value is re-read as words: a macro may
	// hold several ("port 993 tls"). A value holding no word still counts
	// as an (empty) argument.
	fields := strings.Fields(v)
	if len(fields) == 0 {
		fields = []string{""}
	}
	fields[len(fields)-1] += suffix
	toks := make([]token, len(fields))
	for i, f := range fields {
		toks[i] = token{s: f, quoted: f == "", line: l.line}
	}
	return toks
}

// validMacroName reports whether s may name a macro: a letter or underscore,
// then letters, digits and underscores.
func validMacroName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
