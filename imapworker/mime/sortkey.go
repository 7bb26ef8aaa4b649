package mime

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// BaseSubject returns the base subject of a Subject field value (RFC 5256
// §2.1), and whether extracting it removed a reply or forward marker (a
// subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper), which the
// REFERENCES algorithm needs (RFC 5256 §3, "reply or forward"). The
// result is not case-folded: compare it through Collate.
func BaseSubject(value string) (base string, replyOrFwd bool) {
	s := normalizeSpace(DecodeHeader(value))
	for {
		// (2) trailers: "(fwd)" or WSP, repeatedly.
		for {
			if t := strings.TrimRight(s, " "); t != s {
				s = t
				continue
			}
			if n := len(s); n >= 5 && strings.EqualFold(s[n-5:], "(fwd)") {
				s, replyOrFwd = s[:n-5], true
				continue
			}
			break
		}
		// (3)-(5) leaders and blobs, until neither matches.
		for {
			if rest, refwd, ok := cutLeader(s); ok {
				s, replyOrFwd = rest, replyOrFwd || refwd
				continue
			}
			if rest, ok := cutBlob(s); ok && strings.TrimLeft(rest, " ") != "" {
				s = rest
				continue
			}
			break
		}
		// (6) "[fwd:" ... "]" wraps a subject: unwrap, start again.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, replyOrFwd = s[5:len(s)-1], true
			continue
		}
		return s, replyOrFwd
	}
}

// normalizeSpace turns tabs and line breaks into spaces and runs of spaces
// into one (RFC 5256 §2.1 step 1).
func normalizeSpace(s string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// cutBlob removes a subj-blob ("[" *BLOBCHAR "]" *WSP) from the start of s.
func cutBlob(s string) (string, bool) {
	if s == "" || s[0] != '[' {
		return s, false
	}
	i := 1
	for i < len(s) && s[i] != '[' && s[i] != ']' {
		i++
	}
	if i == len(s) || s[i] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[i+1:], " "), true
}

// cutLeader removes one subj-leader: a WSP, or *subj-blob subj-refwd where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; refwd says
// which.
func cutLeader(s string) (rest string, refwd, ok bool) {
	if s != "" && s[0] == ' ' {
		return s[1:], false, true
	}
	t := s
	for t != "" && t[0] == '[' {
		var ok bool
		if t, ok = cutBlob(t); !ok {
			return s, false, false
		}
	}
	switch {
	case len(t) >= 3 && strings.EqualFold(t[:3], "fwd"):
		t = t[3:]
	case len(t) >= 2 && (strings.EqualFold(t[:2], "re") || strings.EqualFold(t[:2], "fw")):
		t = t[2:]
	default:
		return s, false, false
	}
	t = strings.TrimLeft(t, " ")
	if t != "" && t[0] == '[' {
		var ok bool
		if t, ok = cutBlob(t); !ok {
			return s, false, false
		}
	}
	if t == "" || t[0] != ':' {
		return s, false, false
	}
	return t[1:], true, true
}

//go:generate python3 gen_decompose.py

// Collate returns the key under which s sorts by octets as the
// i;unicode-casemap collation orders it (RFC 5051 §2, RFC 5256 §7): each
// character decomposed (NFKD) and titlecased, so ASCII letters become
// upper case as in i;ascii-casemap (RFC 4790 §9.2) and "Ä" sorts as
// "A" and its diaeresis. Decompositions cover the Latin, Greek and
// Cyrillic blocks, ligatures and fullwidth forms (decompose_table.go);
// other scripts are titlecased only (docs/conformance.md, RFC 5256 row).
func Collate(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'a' <= c && c <= 'z' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	title := func(r rune) {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			return
		}
		b = utf8.AppendRune(b, unicode.ToTitle(r))
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			title(rune(c))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r == utf8.RuneError && n == 1 {
			b = append(b, c)
			continue
		}
		if d, ok := decompositions()[r]; ok {
			for _, x := range d {
				title(x)
			}
			continue
		}
		title(r)
	}
	return string(b)
}

// FirstMailbox returns the addr-mailbox of the first address of an
// address-list field value, as ENVELOPE gives it (RFC 5256 §3, SORT FROM,
// TO, CC): "" when there is none. For a group, that first address is the
// group's start, whose addr-mailbox is the group name (RFC 9051 §7.5.2).
func FirstMailbox(value string) string {
	as := ParseAddressList(value)
	if len(as) == 0 {
		return ""
	}
	return as[0].Mailbox
}

// DisplayName returns the DISPLAY sort value of the first address of an
// address-list field value (RFC 5957 §3, §4): the RFC 2047-decoded display
// name, else mailbox@host, else the mailbox, else "".
func DisplayName(value string) string {
	as := ParseAddressList(value)
	if len(as) == 0 {
		return ""
	}
	a := as[0]
	if a.Name != "" {
		if n := DecodeHeader(a.Name); n != "" {
			return n
		}
	}
	switch {
	case a.Mailbox != "" && a.Host != "":
		return a.Mailbox + "@" + a.Host
	default:
		return a.Mailbox
	}
}

// MessageIDs returns the valid msg-ids of a Message-ID, References or
// In-Reply-To field value, normalised (RFC 5256 §3, REFERENCES: quoting
// removed, so <"a.b"@host> and <a.b@host> are one ID), in order. A valid
// ID here is "<" local "@" domain ">" with both sides non-empty; comments
// and whitespace between IDs are skipped, and text that is no msg-id is
// ignored.
func MessageIDs(value string) []string {
	var out []string
	s := value
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return out
		}
		s = s[i+1:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			return out
		}
		if id, ok := normMsgID(s[:j]); ok {
			out = append(out, id)
		}
		s = s[j+1:]
	}
}

// normMsgID normalises the text between < and >: quotes and quoted-pair
// backslashes are dropped, and so is whitespace outside quotes (folding).
func normMsgID(in string) (string, bool) {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted && i+1 < len(in):
			i++
			b.WriteByte(in[i])
		case (c == ' ' || c == '\t' || c == '\r' || c == '\n') && !quoted:
		case c == '<':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	id := b.String()
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return "", false
	}
	return id, true
}
