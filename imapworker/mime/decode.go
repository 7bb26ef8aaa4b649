package mime

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrUnknownCTE is returned by Decode and the BINARY functions for a
// Content-Transfer-Encoding this package cannot decode: the engine answers
// NO [UNKNOWN-CTE] (RFC 9051 §7.1).
var ErrUnknownCTE = errors.New("mime: unknown content-transfer-encoding")

// Decode returns the body decoded from its Content-Transfer-Encoding
// (RFC 2045 §6). Identity encodings return the body itself (no copy).
// Broken base64 and quoted-printable are decoded leniently.
func (p *Part) Decode() ([]byte, error) {
	return decodeCTE(p.Encoding, p.Body(), nil)
}

// decodeCTE decodes b, appending to dst when a copy is needed.
func decodeCTE(enc string, b, dst []byte) ([]byte, error) {
	switch enc {
	case "7bit", "8bit", "binary", "":
		return b, nil
	case "base64":
		return decodeBase64(b, dst), nil
	case "quoted-printable":
		return decodeQP(b, dst), nil
	}
	return nil, ErrUnknownCTE
}

var b64Val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
	}
	return
}()

// decodeBase64 skips characters outside the alphabet (RFC 2045 §6.8) and
// stops at padding.
func decodeBase64(b, dst []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(b)*3/4)
	}
	var acc uint32
	n := 0
	for _, c := range b {
		if c == '=' {
			break
		}
		v := b64Val[c]
		if v == 0xff {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			dst = append(dst, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	switch n {
	case 2:
		dst = append(dst, byte(acc>>4))
	case 3:
		dst = append(dst, byte(acc>>10), byte(acc>>2))
	}
	return dst
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7) line by line: trailing
// whitespace is dropped (rule 3), a line ending in "=" is a soft line break
// (rule 5), and invalid escapes are kept as they are.
func decodeQP(b, dst []byte) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(b))
	}
	for len(b) > 0 {
		var line, eol []byte
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, b = b[:nl+1], b[nl+1:]
			eol = line[nl:]
			line = line[:nl]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				eol = crlf
				line = line[:n-1]
			}
		} else {
			line, b = b, nil
		}
		line = bytes.TrimRight(line, " \t")
		soft := len(line) > 0 && line[len(line)-1] == '='
		if soft {
			line = line[:len(line)-1]
		}
		for len(line) > 0 {
			k := bytes.IndexByte(line, '=')
			if k < 0 {
				dst = append(dst, line...)
				break
			}
			dst = append(dst, line[:k]...)
			if k+2 < len(line) {
				h, ok1 := unhex(line[k+1])
				l, ok2 := unhex(line[k+2])
				if ok1 && ok2 {
					dst = append(dst, h<<4|l)
					line = line[k+3:]
					continue
				}
			}
			dst = append(dst, '=')
			line = line[k+1:]
		}
		if !soft {
			dst = append(dst, eol...)
		}
	}
	return dst
}

var crlf = []byte("\r\n")

// toUTF8 converts b from charset to UTF-8 for us-ascii, utf-8, iso-8859-1
// and windows-1252. Unknown charsets are treated leniently: valid UTF-8 is
// kept, anything else is read as windows-1252. The result may alias b.
func toUTF8(charset string, b []byte) []byte {
	switch normCharset(charset) {
	case csUTF8, csASCII:
		if utf8.Valid(b) {
			return b
		}
		return latin1ToUTF8(b, true)
	case csLatin1:
		if isASCII(b) {
			return b
		}
		return latin1ToUTF8(b, false)
	case cs1252:
		if isASCII(b) {
			return b
		}
		return latin1ToUTF8(b, true)
	}
	if utf8.Valid(b) {
		return b
	}
	return latin1ToUTF8(b, true)
}

const (
	csUnknown = iota
	csASCII
	csUTF8
	csLatin1
	cs1252
)

func normCharset(cs string) int {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i] // RFC 2231 §5 language suffix
	}
	switch cs {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us":
		return csASCII
	case "utf-8", "utf8":
		return csUTF8
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "iso_8859-1", "cp819", "ibm819":
		return csLatin1
	case "windows-1252", "cp1252", "x-cp1252", "win-1252":
		return cs1252
	}
	return csUnknown
}

// ToUTF8 converts b from charset to UTF-8 (see KnownCharset), e.g. a
// SEARCH CHARSET string; the result may alias b.
func ToUTF8(charset string, b []byte) []byte { return toUTF8(charset, b) }

// KnownCharset reports whether charset is one this package converts
// (us-ascii, utf-8, iso-8859-1, windows-1252), e.g. for SEARCH CHARSET and
// [BADCHARSET].
func KnownCharset(charset string) bool { return normCharset(charset) != csUnknown }

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// cp1252 maps 0x80..0x9f; zero entries are undefined and map like latin-1.
var cp1252 = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

func latin1ToUTF8(b []byte, win bool) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for len(b) > 0 {
		c := b[0]
		if c < 0x80 {
			out = append(out, c)
			b = b[1:]
			continue
		}
		r := rune(c)
		if win && c < 0xa0 && cp1252[c-0x80] != 0 {
			r = cp1252[c-0x80]
		}
		out = utf8.AppendRune(out, r)
		b = b[1:]
	}
	return out
}

// DecodeHeader decodes RFC 2047 encoded-words in a header value to UTF-8;
// whitespace between adjacent encoded-words is dropped (§6.2). Malformed
// words are left as they are. Raw 8-bit text is kept if valid UTF-8, else
// read as windows-1252.
func DecodeHeader(s string) string {
	if !strings.Contains(s, "=?") {
		if utf8.ValidString(s) {
			return s
		}
		return string(latin1ToUTF8([]byte(s), true))
	}
	var b strings.Builder
	pendingWS := ""
	lastWasWord := false
	for len(s) > 0 {
		i := strings.Index(s, "=?")
		if i < 0 {
			flushText(&b, pendingWS+s)
			break
		}
		text := s[:i]
		word, dec, ok := parseEncodedWord(s[i:])
		if !ok {
			flushText(&b, pendingWS+s[:i+2])
			pendingWS, lastWasWord = "", false
			s = s[i+2:]
			continue
		}
		if lastWasWord && strings.Trim(pendingWS+text, " \t\r\n") == "" {
			// Skip whitespace between two encoded-words.
		} else {
			flushText(&b, pendingWS+text)
		}
		b.WriteString(dec)
		pendingWS, lastWasWord = "", true
		s = s[i+len(word):]
		// Hold whitespace back until we know what follows.
		j := 0
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
			j++
		}
		pendingWS, s = s[:j], s[j:]
	}
	return b.String()
}

func flushText(b *strings.Builder, t string) {
	if utf8.ValidString(t) {
		b.WriteString(t)
		return
	}
	b.Write(latin1ToUTF8([]byte(t), true))
}

// parseEncodedWord parses =?charset?enc?text?= at the start of s.
func parseEncodedWord(s string) (word, decoded string, ok bool) {
	q1 := strings.IndexByte(s[2:], '?')
	if q1 < 0 {
		return "", "", false
	}
	q1 += 2
	if q1+3 > len(s) || s[q1+2] != '?' {
		return "", "", false
	}
	charset := s[2:q1]
	enc := s[q1+1]
	end := strings.Index(s[q1+3:], "?=")
	if end < 0 || charset == "" {
		return "", "", false
	}
	text := s[q1+3 : q1+3+end]
	if strings.ContainsAny(text, " \t\r\n") {
		return "", "", false
	}
	word = s[:q1+3+end+2]
	var raw []byte
	switch enc {
	case 'B', 'b':
		t := strings.TrimRight(text, "=")
		r, err := base64.RawStdEncoding.DecodeString(t)
		if err != nil {
			r = decodeBase64([]byte(text), nil)
		}
		raw = r
	case 'Q', 'q':
		raw = make([]byte, 0, len(text))
		for i := 0; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '_':
				raw = append(raw, ' ')
			case c == '=' && i+2 < len(text):
				h, ok1 := unhex(text[i+1])
				l, ok2 := unhex(text[i+2])
				if ok1 && ok2 {
					raw = append(raw, h<<4|l)
					i += 2
				} else {
					raw = append(raw, c)
				}
			default:
				raw = append(raw, c)
			}
		}
	default:
		return "", "", false
	}
	return word, string(toUTF8(charset, raw)), true
}

// ToCRLF returns msg with every bare LF turned into CRLF (and a bare CR
// left alone). It returns msg itself when there is nothing to change, so
// storage can call it cheaply before Parse to get IMAP-exact sizes.
func ToCRLF(msg []byte) []byte {
	bare := 0
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return msg
	}
	out := make([]byte, 0, len(msg)+bare)
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
