package mime

import "strings"

// Address is one ENVELOPE address (RFC 9051 §7.5.2). Strings are raw header
// text (encoded-words are not decoded); "" stands for NIL. Groups follow
// RFC 9051: a start marker has GroupStart set and Mailbox holding the group
// name (host NIL); an end marker has GroupEnd set (all NIL).
type Address struct {
	Name    string // display name (phrase), unquoted
	ADL     string // obsolete source route, e.g. "@a,@b"
	Mailbox string // local part
	Host    string // domain

	GroupStart bool
	GroupEnd   bool
}

// Placeholders used for addresses with a missing part, as Dovecot does, so
// that a normal address never has Mailbox or Host NIL (which would read as
// a group marker).
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

// Envelope is the data of the ENVELOPE fetch item (RFC 9051 §7.5.2). All
// strings are the raw, unfolded header values; "" stands for NIL. Nil
// address lists stand for NIL.
type Envelope struct {
	Date      string
	Subject   string
	From      []Address
	Sender    []Address
	ReplyTo   []Address
	To        []Address
	Cc        []Address
	Bcc       []Address
	InReplyTo string
	MessageID string
}

// Envelope builds the ENVELOPE of the message whose header is p's header:
// use it on the root from Parse or on Part.Message.
func (p *Part) Envelope() *Envelope {
	h := p.Header
	e := &Envelope{
		Date:      h.Get("Date"),
		Subject:   h.Get("Subject"),
		From:      ParseAddressList(h.Get("From")),
		Sender:    ParseAddressList(h.Get("Sender")),
		ReplyTo:   ParseAddressList(h.Get("Reply-To")),
		To:        ParseAddressList(h.Get("To")),
		Cc:        ParseAddressList(h.Get("Cc")),
		Bcc:       ParseAddressList(h.Get("Bcc")),
		InReplyTo: h.Get("In-Reply-To"),
		MessageID: h.Get("Message-ID"),
	}
	// RFC 9051 §7.5.2: absent or empty Sender/Reply-To default to From.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// ParseAddressList parses an RFC 5322 address-list tolerantly: it never
// fails, skips what it cannot read, and accepts common broken forms
// (unquoted dots and commas in names, missing domains, bare words,
// obsolete routes). Comments are dropped, except that a comment after a
// bare addr-spec is used as the name when there is no other.
func ParseAddressList(s string) []Address {
	var out []Address
	ap := addrParser{s: s}
	inGroup := false
	for {
		ap.skipCFWS()
		if ap.eof() {
			break
		}
		c := ap.s[ap.i]
		switch {
		case c == ',':
			ap.i++
			continue
		case c == ';':
			ap.i++
			if inGroup {
				out = append(out, Address{GroupEnd: true})
				inGroup = false
			}
			continue
		}
		start := len(out)
		groupName, isGroup := ap.mailboxOrGroup(&out, inGroup)
		if isGroup {
			if inGroup {
				out = append(out, Address{GroupEnd: true})
			}
			out = append(out[:start], Address{GroupStart: true, Mailbox: groupName})
			inGroup = true
		}
	}
	if inGroup {
		out = append(out, Address{GroupEnd: true})
	}
	return out
}

type addrParser struct {
	s       string
	i       int
	comment string // last comment skipped
}

func (ap *addrParser) eof() bool { return ap.i >= len(ap.s) }

func (ap *addrParser) skipCFWS() {
	for ap.i < len(ap.s) {
		switch ap.s[ap.i] {
		case ' ', '\t', '\r', '\n':
			ap.i++
		case '(':
			ap.comment = ap.readComment()
		default:
			return
		}
	}
}

func (ap *addrParser) readComment() string {
	depth := 0
	var b strings.Builder
	for ap.i < len(ap.s) {
		c := ap.s[ap.i]
		ap.i++
		switch c {
		case '\\':
			if ap.i < len(ap.s) {
				b.WriteByte(ap.s[ap.i])
				ap.i++
			}
			continue
		case '(':
			depth++
			if depth == 1 {
				continue
			}
		case ')':
			depth--
			if depth == 0 {
				return b.String()
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// word is one token of a phrase or local part.
type word struct {
	text   string
	quoted bool
}

// readWords reads atoms, quoted strings and dots until one of stop.
func (ap *addrParser) readWords(stop string) []word {
	var ws []word
	for {
		ap.skipCFWS()
		if ap.eof() || strings.IndexByte(stop, ap.s[ap.i]) >= 0 {
			return ws
		}
		c := ap.s[ap.i]
		if c == '"' {
			v, rest := readQuoted(ap.s[ap.i:])
			ap.i = len(ap.s) - len(rest)
			ws = append(ws, word{text: v, quoted: true})
			continue
		}
		j := ap.i
		for j < len(ap.s) && strings.IndexByte(stop, ap.s[j]) < 0 &&
			strings.IndexByte(" \t\r\n(\"", ap.s[j]) < 0 {
			j++
		}
		if j == ap.i {
			// A stop-like byte we do not handle here (e.g. stray '>'): skip.
			ap.i++
			continue
		}
		ws = append(ws, word{text: ap.s[ap.i:j]})
		ap.i = j
	}
}

// mailboxOrGroup reads one mailbox, appending it to out, or a group's
// display name up to its ':'.
func (ap *addrParser) mailboxOrGroup(out *[]Address, inGroup bool) (string, bool) {
	ap.comment = ""
	stop := ",;<:@"
	words := ap.readWords(stop)
	if ap.eof() {
		*out = append(*out, bareAddress(words, ap.comment))
		return "", false
	}
	switch ap.s[ap.i] {
	case ':':
		ap.i++
		return joinPhrase(words), true
	case '<':
		ap.i++
		a := ap.angleAddr()
		a.Name = joinPhrase(words)
		*out = append(*out, a)
	case '@':
		ap.i++
		domain := ap.readDomain(",;<>")
		a := Address{Mailbox: joinLocal(words), Host: domain}
		if a.Mailbox == "" {
			a.Mailbox = MissingMailbox
		}
		if a.Host == "" {
			a.Host = MissingDomain
		}
		ap.skipCFWS()
		if !ap.eof() && ap.s[ap.i] == '<' {
			// "user@host <real@addr>": treat the first as a name.
			ap.i++
			b := ap.angleAddr()
			b.Name = a.Mailbox + "@" + domainOrEmpty(a.Host)
			*out = append(*out, b)
			break
		}
		if ap.comment != "" {
			a.Name = strings.TrimSpace(ap.comment)
		}
		*out = append(*out, a)
	default: // ',' or ';'
		if len(words) > 0 {
			*out = append(*out, bareAddress(words, ap.comment))
		}
	}
	return "", false
}

func domainOrEmpty(h string) string {
	if h == MissingDomain {
		return ""
	}
	return h
}

func bareAddress(words []word, comment string) Address {
	if len(words) == 0 {
		return Address{Mailbox: MissingMailbox, Host: MissingDomain, Name: comment}
	}
	return Address{Mailbox: joinLocal(words), Host: MissingDomain, Name: comment}
}

// angleAddr reads [route ":"] local "@" domain ">" after '<'.
func (ap *addrParser) angleAddr() Address {
	var a Address
	ap.skipCFWS()
	// Obsolete route: @a,@b:
	if !ap.eof() && ap.s[ap.i] == '@' {
		j := strings.IndexAny(ap.s[ap.i:], ":>")
		if j >= 0 && ap.s[ap.i+j] == ':' {
			a.ADL = removeWSP(ap.s[ap.i : ap.i+j])
			ap.i += j + 1
		}
	}
	words := ap.readWords("@>,;")
	a.Mailbox = joinLocal(words)
	if !ap.eof() && ap.s[ap.i] == '@' {
		ap.i++
		a.Host = ap.readDomain(">,;")
	}
	ap.skipCFWS()
	if !ap.eof() && ap.s[ap.i] == '>' {
		ap.i++
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a
}

func (ap *addrParser) readDomain(stop string) string {
	ap.skipCFWS()
	var b strings.Builder
	for !ap.eof() {
		c := ap.s[ap.i]
		if strings.IndexByte(stop, c) >= 0 {
			break
		}
		switch c {
		case '(':
			ap.comment = ap.readComment()
			continue
		case ' ', '\t', '\r', '\n':
			ap.i++
			continue
		case '[':
			j := strings.IndexByte(ap.s[ap.i:], ']')
			if j < 0 {
				j = len(ap.s) - ap.i - 1
			}
			b.WriteString(ap.s[ap.i : ap.i+j+1])
			ap.i += j + 1
			continue
		}
		b.WriteByte(c)
		ap.i++
	}
	return b.String()
}

// joinPhrase joins display-name words with single spaces.
func joinPhrase(ws []word) string {
	var b strings.Builder
	for k, w := range ws {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
	}
	return b.String()
}

// joinLocal joins local-part words without spaces (obs-local-part).
func joinLocal(ws []word) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.text)
	}
	return b.String()
}
