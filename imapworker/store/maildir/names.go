package maildir

import (
	"strings"
	"unicode/utf8"

	"imapd/imapworker/mutf7"
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
		segs[i] = mutf7.Encode(s)
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
		d, err := mutf7.Decode(s)
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
