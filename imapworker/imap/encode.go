package imap

import (
	"imapd/imapworker/mutf7"
	"strconv"
	"unicode/utf8"
)

// maxQuoted is the longest string sent quoted; longer ones go as literals,
// which clients read without scanning for escapes.
const maxQuoted = 1024

// AppendQuoted appends s as a quoted string, escaping '"' and '\'. The
// caller must know s has no CR, LF or NUL (see AppendString).
func AppendQuoted(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			buf = append(buf, '\\')
		}
		buf = append(buf, c)
	}
	return append(buf, '"')
}

// AppendLiteral appends s as a synchronizing-form literal "{n}\r\n" s, the
// only form a server sends (RFC 9051 §4.3).
func AppendLiteral(buf []byte, s string) []byte {
	buf = AppendLiteralHeader(buf, int64(len(s)), false)
	return append(buf, s...)
}

// AppendLiteralHeader appends "{n}\r\n", or "~{n}\r\n" for a literal8
// (BINARY, RFC 3516 §4.2); the caller then writes the n bytes.
func AppendLiteralHeader(buf []byte, n int64, binary bool) []byte {
	if binary {
		buf = append(buf, '~')
	}
	buf = append(buf, '{')
	buf = strconv.AppendInt(buf, n, 10)
	return append(buf, '}', '\r', '\n')
}

// canQuote reports whether s may be sent as a quoted string: no CR, LF or
// NUL, not too long, and 8-bit only when utf8ok and valid UTF-8 (RFC 9051
// §9 QUOTED-CHAR allows UTF-8; IMAP4rev1 does not).
func canQuote(s string, utf8ok bool) bool {
	if len(s) > maxQuoted {
		return false
	}
	eight := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80:
			eight = true
		}
	}
	if eight {
		return utf8ok && utf8.ValidString(s)
	}
	return true
}

// AppendString appends s as a string (RFC 9051 §9): quoted when it can be,
// a literal otherwise. Valid UTF-8 is quoted, as IMAP4rev2 allows; use
// AppendString7 for an IMAP4rev1 session.
func AppendString(buf []byte, s string) []byte {
	if canQuote(s, true) {
		return AppendQuoted(buf, s)
	}
	return AppendLiteral(buf, s)
}

// AppendString7 is AppendString for IMAP4rev1 sessions: any 8-bit text
// goes as a literal.
func AppendString7(buf []byte, s string) []byte {
	if canQuote(s, false) {
		return AppendQuoted(buf, s)
	}
	return AppendLiteral(buf, s)
}

// AppendNString appends s as an nstring: NIL for nil, else a string.
func AppendNString(buf []byte, s *string) []byte {
	if s == nil {
		return append(buf, "NIL"...)
	}
	return AppendString(buf, *s)
}

// AppendAString appends s as an astring: bare when every byte is an
// ASTRING-CHAR (and it is not NIL, which a reader could take for nil),
// otherwise as AppendString.
func AppendAString(buf []byte, s string) []byte {
	if isAtomLike(s) {
		return append(buf, s...)
	}
	return AppendString(buf, s)
}

// AppendAString7 is AppendAString for IMAP4rev1 sessions.
func AppendAString7(buf []byte, s string) []byte {
	if isAtomLike(s) {
		return append(buf, s...)
	}
	return AppendString7(buf, s)
}

func isAtomLike(s string) bool {
	if s == "" || len(s) > maxQuoted {
		return false
	}
	if len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAStringChar(s[i]) {
			return false
		}
	}
	return true
}

// AppendAtom appends s unchanged; for names the server chose (flags,
// capabilities, status items).
func AppendAtom(buf []byte, s string) []byte { return append(buf, s...) }

// AppendMailbox appends a mailbox name (RFC 9051 §5.1): UTF-8 as an
// astring, or, when utf7 is true (an IMAP4rev1 session), encoded in
// modified UTF-7 (RFC 3501 §5.1.3).
func AppendMailbox(buf []byte, name string, utf7 bool) []byte {
	if utf7 {
		return AppendAString7(buf, mutf7.Encode(name))
	}
	return AppendAString(buf, name)
}

// AppendFlagList appends "(" flags ")" separated by spaces.
func AppendFlagList(buf []byte, flags []string) []byte {
	buf = append(buf, '(')
	for i, f := range flags {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = append(buf, f...)
	}
	return append(buf, ')')
}

// AppendUint appends n in decimal.
func AppendUint(buf []byte, n uint64) []byte { return strconv.AppendUint(buf, n, 10) }

// AppendFetchName appends the name under which a FETCH response returns it
// (RFC 9051 §7.5.2): BODY.PEEK and BINARY.PEEK lose ".PEEK", a section is
// written back with its header list, and a partial becomes "<offset>".
func AppendFetchName(buf []byte, it FetchItem) []byte {
	switch it.Name {
	case "BODY.PEEK":
		buf = append(buf, "BODY"...)
	case "BINARY.PEEK":
		buf = append(buf, "BINARY"...)
	default:
		buf = append(buf, it.Name...)
	}
	if it.Section == nil {
		return buf
	}
	buf = append(buf, '[')
	buf = AppendSection(buf, it.Section)
	buf = append(buf, ']')
	if it.Partial != nil {
		buf = append(buf, '<')
		buf = strconv.AppendInt(buf, it.Partial.Offset, 10)
		buf = append(buf, '>')
	}
	return buf
}

// AppendSection appends a section-spec without its brackets.
func AppendSection(buf []byte, s *Section) []byte {
	for i, n := range s.Part {
		if i > 0 {
			buf = append(buf, '.')
		}
		buf = strconv.AppendInt(buf, int64(n), 10)
	}
	if s.Specifier == "" {
		return buf
	}
	if len(s.Part) > 0 {
		buf = append(buf, '.')
	}
	buf = append(buf, s.Specifier...)
	if s.Specifier == "HEADER.FIELDS" || s.Specifier == "HEADER.FIELDS.NOT" {
		buf = append(buf, " ("...)
		for i, f := range s.Fields {
			if i > 0 {
				buf = append(buf, ' ')
			}
			buf = AppendAString7(buf, f)
		}
		buf = append(buf, ')')
	}
	return buf
}
