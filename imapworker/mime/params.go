package mime

import (
	"sort"
	"strconv"
	"strings"
)

// parseContentType parses "type/subtype; params" (RFC 2045 §5.1). An
// invalid type gives "" so that the caller applies the default.
func parseContentType(v string) (typ, sub string, params []Param) {
	mt, params := parseValueParams(v)
	slash := strings.IndexByte(mt, '/')
	if slash <= 0 || slash == len(mt)-1 {
		return "", "", params
	}
	typ = strings.ToLower(strings.TrimSpace(mt[:slash]))
	sub = strings.ToLower(strings.TrimSpace(mt[slash+1:]))
	if !isToken(typ) || !isToken(sub) {
		return "", "", params
	}
	return typ, sub, params
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// stripComments removes RFC 5322 comments outside quoted strings.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (quoted || depth > 0) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			if c == '"' {
				quoted = false
			}
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

type rawParam struct {
	name     string // lower-case, without section or '*'
	section  int    // -1 when not a continuation
	extended bool   // name ended with '*': charset'lang'%XX
	value    string
}

// parseValueParams splits `value; a=b; c="d"` leniently and merges RFC 2231
// continuations, decoding extended values to UTF-8.
func parseValueParams(v string) (string, []Param) {
	v = stripComments(v)
	semi := strings.IndexByte(v, ';')
	if semi < 0 {
		return strings.TrimSpace(v), nil
	}
	head := strings.TrimSpace(v[:semi])
	rest := v[semi+1:]
	var raws []rawParam
	for len(rest) > 0 {
		rest = strings.TrimLeft(rest, " \t;")
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 || rest[eq] == ';' {
			// Attribute without value: skip it.
			if eq < 0 {
				break
			}
			rest = rest[eq:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			val, rest = readQuoted(rest)
		} else {
			end := strings.IndexByte(rest, ';')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if name == "" {
			continue
		}
		raws = append(raws, splitParamName(name, val))
	}
	return head, mergeParams(raws)
}

// readQuoted reads a quoted-string at the start of s; an unterminated one
// runs to the end.
func readQuoted(s string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// splitParamName handles RFC 2231 §3/§4 names: name*, name*0, name*0*.
func splitParamName(name, val string) rawParam {
	rp := rawParam{name: name, section: -1, value: val}
	star := strings.IndexByte(name, '*')
	if star < 0 {
		return rp
	}
	base, suffix := name[:star], name[star+1:]
	if strings.HasSuffix(suffix, "*") {
		rp.extended = true
		suffix = suffix[:len(suffix)-1]
	} else if suffix == "" {
		rp.extended = true
	}
	if suffix != "" {
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 0 || n > 999 {
			return rawParam{name: name, section: -1, value: val}
		}
		rp.section = n
	}
	rp.name = base
	return rp
}

func mergeParams(raws []rawParam) []Param {
	var out []Param
	seen := map[string]int{}
	for i, rp := range raws {
		if _, ok := seen[rp.name]; ok {
			continue
		}
		seen[rp.name] = len(out)
		var value string
		if rp.section < 0 {
			value = rp.value
			if rp.extended {
				value = decode2231(rp.value, true)
			} else {
				value = DecodeHeader(value)
			}
			// A plain name* takes precedence over a later plain name.
			for _, other := range raws[i+1:] {
				if other.name == rp.name && other.extended && !rp.extended && other.section < 0 {
					value = decode2231(other.value, true)
				}
			}
		} else {
			value = joinContinuations(raws, rp.name)
		}
		out = append(out, Param{Name: rp.name, Value: value})
	}
	return out
}

// joinContinuations joins name*0, name*1... (RFC 2231 §3); the charset of
// section 0 applies to every extended section (§4.1).
func joinContinuations(raws []rawParam, name string) string {
	var secs []rawParam
	for _, rp := range raws {
		if rp.name == name && rp.section >= 0 {
			secs = append(secs, rp)
		}
	}
	sort.SliceStable(secs, func(a, b int) bool { return secs[a].section < secs[b].section })
	charset := ""
	var buf []byte
	for k, s := range secs {
		if k > 0 && s.section == secs[k-1].section {
			continue
		}
		if !s.extended {
			buf = append(buf, s.value...)
			continue
		}
		v := s.value
		if s.section == 0 || (k == 0 && charset == "") {
			if q := strings.IndexByte(v, '\''); q >= 0 {
				if q2 := strings.IndexByte(v[q+1:], '\''); q2 >= 0 {
					charset = v[:q]
					v = v[q+1+q2+1:]
				}
			}
		}
		buf = append(buf, percentDecode(v)...)
	}
	return string(toUTF8(charset, buf))
}

// decode2231 decodes charset'lang'%XX (RFC 2231 §4).
func decode2231(v string, withCharset bool) string {
	charset := ""
	if withCharset {
		if q := strings.IndexByte(v, '\''); q >= 0 {
			if q2 := strings.IndexByte(v[q+1:], '\''); q2 >= 0 {
				charset = v[:q]
				v = v[q+1+q2+1:]
			}
		}
	}
	return string(toUTF8(charset, percentDecode(v)))
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					b = append(b, h<<4|l)
					i += 2
					continue
				}
			}
		}
		b = append(b, s[i])
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
