package maildir

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"imapd/imapworker/store"
)

// validName checks a client mailbox name (UTF-8, "/" delimited): the
// store-wide rules plus the Maildir++ ones (package doc).
func validName(name string) error {
	if err := store.ValidName(name); err != nil {
		return err
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, "~") {
			return store.ErrInvalidName
		}
		for _, r := range seg {
			if r < 0x20 || r == 0x7f || r == '.' || (r >= 0x80 && r < 0xa0) {
				return store.ErrInvalidName
			}
		}
	}
	return nil
}

// nameToDir maps a valid folder name to its Maildir++ directory (".a.b").
func nameToDir(name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = encodeMUTF7(s)
	}
	return "." + strings.Join(segs, "."), nil
}

// dirToName maps a directory entry back to a client name; ok is false for
// entries that are not folders we can represent.
func dirToName(dir string) (string, bool) {
	if len(dir) < 2 || dir[0] != '.' || dir == ".." {
		return "", false
	}
	segs := strings.Split(dir[1:], ".")
	for i, s := range segs {
		d, err := decodeMUTF7(s)
		if err != nil {
			// Dovecot with the UTF-8 option stores names as they are.
			if !isRawUTF8(s) {
				return "", false
			}
			d = s
		}
		segs[i] = d
	}
	name := strings.Join(segs, "/")
	if validName(name) != nil {
		return "", false
	}
	return name, true
}

const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

// encodeMUTF7 encodes s as modified UTF-7, RFC 3501 §5.1.3.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 0, len(u)*2)
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteByte('&')
		var acc uint32
		bits := 0
		for _, c := range buf {
			acc = acc<<8 | uint32(c)
			bits += 8
			for bits >= 6 {
				bits -= 6
				b.WriteByte(b64[(acc>>uint(bits))&0x3f])
			}
		}
		if bits > 0 {
			b.WriteByte(b64[(acc<<uint(6-bits))&0x3f])
		}
		b.WriteByte('-')
		run = run[:0]
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
		run = append(run, r)
	}
	flush()
	return b.String()
}

var errMUTF7 = errors.New("maildir: bad modified UTF-7")

// decodeMUTF7 decodes modified UTF-7, refusing non-canonical forms so the
// mapping stays one to one.
func decodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errMUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		var acc uint32
		bits := 0
		var u []uint16
		var hi byte
		half := false
		for k := 0; k < len(enc); k++ {
			v := strings.IndexByte(b64, enc[k])
			if v < 0 {
				return "", errMUTF7
			}
			acc = acc<<6 | uint32(v)
			bits += 6
			if bits >= 8 {
				bits -= 8
				by := byte(acc >> uint(bits))
				if half {
					u = append(u, uint16(hi)<<8|uint16(by))
				} else {
					hi = by
				}
				half = !half
			}
		}
		if half || bits >= 6 || acc&(1<<uint(bits)-1) != 0 {
			return "", errMUTF7
		}
		rs := utf16.Decode(u)
		for _, r := range rs {
			if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
				return "", errMUTF7
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// isRawUTF8 reports whether a directory name level is UTF-8 that modified
// UTF-7 would have encoded: non-ASCII and without '&'.
func isRawUTF8(s string) bool {
	if !utf8.ValidString(s) || strings.IndexByte(s, '&') >= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
