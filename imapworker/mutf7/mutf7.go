// Package mutf7 is modified UTF-7 (RFC 3501 §5.1.3): how IMAP4rev1
// clients spell mailbox names, and how Dovecot's Maildir++ names folders on
// disk. One implementation for the wire and the storage, which may not
// import each other.
package mutf7

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrInvalid is returned by Decode for text that is not canonical
// modified UTF-7.
var ErrInvalid = errors.New("invalid modified UTF-7 mailbox name")

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var b64index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b64chars); i++ {
		t[b64chars[i]] = int8(i)
	}
	return t
}()

// Encode encodes a UTF-8 mailbox name in modified UTF-7. Invalid UTF-8
// bytes become U+FFFD.
func Encode(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) == 0 {
			return
		}
		b.WriteByte('&')
		var acc uint32
		bits := 0
		for _, u := range units {
			acc = acc<<16 | uint32(u)
			bits += 16
			for bits >= 6 {
				bits -= 6
				b.WriteByte(b64chars[(acc>>uint(bits))&63])
			}
		}
		if bits > 0 {
			b.WriteByte(b64chars[(acc<<uint(6-bits))&63])
		}
		b.WriteByte('-')
		units = units[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
			continue
		}
		units = utf16.AppendRune(units, r)
	}
	flush()
	return b.String()
}

// Decode decodes a modified UTF-7 mailbox name to UTF-8. Non-canonical encodings (printable ASCII encoded,
// nonzero pad bits, adjacent encoded runs, unpaired surrogates) are errors,
// so that one mailbox has one name.
func Decode(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", ErrInvalid
			}
		}
		return s, nil
	}
	out := make([]byte, 0, len(s))
	lastEncodedEnd := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrInvalid
		}
		if c != '&' {
			out = append(out, c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", ErrInvalid
		}
		enc := s[i+1 : i+1+j]
		if enc == "" {
			out = append(out, '&')
			i += 1
			continue
		}
		if lastEncodedEnd == i {
			return "", ErrInvalid // "&AAA-&BBB-" must be one run
		}
		var acc uint32
		bits := 0
		var units []uint16
		for k := 0; k < len(enc); k++ {
			v := b64index[enc[k]]
			if v < 0 {
				return "", ErrInvalid
			}
			acc = acc<<6 | uint32(v)
			bits += 6
			if bits >= 16 {
				bits -= 16
				units = append(units, uint16(acc>>uint(bits)))
				acc &= 1<<uint(bits) - 1
			}
		}
		if bits >= 6 || acc != 0 || len(units) == 0 {
			return "", ErrInvalid
		}
		for k := 0; k < len(units); k++ {
			u := rune(units[k])
			if utf16.IsSurrogate(u) {
				if k+1 >= len(units) {
					return "", ErrInvalid
				}
				u = utf16.DecodeRune(u, rune(units[k+1]))
				if u == utf8.RuneError {
					return "", ErrInvalid
				}
				k++
			} else if u >= 0x20 && u <= 0x7e {
				return "", ErrInvalid // printable ASCII must not be encoded
			}
			out = utf8.AppendRune(out, u)
		}
		i += 1 + j
		lastEncodedEnd = i + 1
	}
	return string(out), nil
}
