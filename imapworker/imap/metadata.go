package imap

import "strings"

// GetMetadata is GETMETADATA [options] mailbox entries (RFC 5464 §4.2).
// Mailbox "" names the server's entries.
type GetMetadata struct {
	Mailbox string
	// MaxSize is the MAXSIZE option (§4.2.1), -1 when absent.
	MaxSize int64
	// Depth is the DEPTH option (§4.2.2): 0, 1, or -1 for infinity.
	Depth int
	// Entries are the entry names, lower-cased (names are
	// case-insensitive, §3.2) and checked by ValidEntryName.
	Entries []string
}

// SetMetadata is SETMETADATA mailbox (entry value ...) (RFC 5464 §4.3).
type SetMetadata struct {
	Mailbox string
	Entries []MetadataEntry
}

// MetadataEntry is one entry-value. Value is nil for NIL (remove the
// entry); a string or literal8 of no octets is a non-nil empty slice.
type MetadataEntry struct {
	Name  string // lower-cased
	Value []byte
}

// ValidEntryName checks an entry name (RFC 5464 §3.2): /private or /shared
// and at least one more component (three more under .../vendor/), no empty
// component ("//", a trailing "/"), no '*' or '%', printable ASCII only.
func ValidEntryName(s string) bool {
	if !strings.HasPrefix(s, "/") || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '*' || c == '%' {
			return false
		}
	}
	comps := strings.Split(s[1:], "/")
	for _, c := range comps {
		if c == "" {
			return false
		}
	}
	scope := strings.ToLower(comps[0])
	if scope != "private" && scope != "shared" || len(comps) < 2 {
		return false
	}
	return !strings.EqualFold(comps[1], "vendor") || len(comps) >= 4
}

// getMetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP
// entries; entries = entry / "(" entry *(SP entry) ")". Entries without
// parentheses may be several, as an example of §4.4.1 sends them.
func (p *parser) getMetadata() *GetMetadata {
	g := &GetMetadata{MaxSize: -1}
	p.sp()
	seen := map[string]bool{}
	if p.peek() == '(' {
		p.metadataOptions(g, seen)
		p.sp()
	}
	g.Mailbox = p.mailbox()
	p.sp()
	// §4.2.1's example sends the options after the mailbox.
	if p.pos+1 < len(p.b) && p.b[p.pos] == '(' && isAlpha(p.b[p.pos+1]) {
		p.metadataOptions(g, seen)
		p.sp()
	}
	if p.take('(') {
		for {
			g.Entries = append(g.Entries, p.entryName())
			if p.take(')') {
				break
			}
			p.sp()
		}
		return g
	}
	g.Entries = append(g.Entries, p.entryName())
	for p.peek() == ' ' {
		p.sp()
		g.Entries = append(g.Entries, p.entryName())
	}
	return g
}

// getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
func (p *parser) metadataOptions(g *GetMetadata, seen map[string]bool) {
	p.expect('(', "expected (")
	for {
		p.metadataOption(g, seen)
		if p.take(')') {
			return
		}
		p.sp()
	}
}

// metadataOption reads MAXSIZE n (§4.2.1) or DEPTH 0/1/infinity (§4.2.2).
func (p *parser) metadataOption(g *GetMetadata, seen map[string]bool) {
	opt := p.atomUpper()
	if seen[opt] {
		p.fail("METADATA option given twice")
	}
	seen[opt] = true
	p.sp()
	switch opt {
	case "MAXSIZE":
		g.MaxSize = p.number64()
	case "DEPTH":
		switch strings.ToLower(string(p.atomBytes())) {
		case "0":
		case "1":
			g.Depth = 1
		case "infinity":
			g.Depth = -1
		default:
			p.fail("DEPTH is 0, 1 or infinity")
		}
	default:
		p.fail("unknown METADATA option")
	}
}

// setMetadata = "SETMETADATA" SP mailbox SP entry-values;
// entry-values = "(" entry-value *(SP entry-value) ")";
// entry-value = entry SP value; value = nstring / literal8.
func (p *parser) setMetadata() *SetMetadata {
	s := &SetMetadata{}
	p.sp()
	s.Mailbox = p.mailbox()
	p.sp()
	p.expect('(', "expected (")
	for {
		e := MetadataEntry{Name: p.entryName()}
		p.sp()
		switch {
		case p.take('~'):
			if p.peek() != '{' {
				p.fail("expected literal8")
			}
			e.Value = append([]byte{}, p.literal()...)
		default:
			if v, ok := p.nstring(); ok {
				e.Value = []byte(v)
			}
		}
		s.Entries = append(s.Entries, e)
		if p.take(')') {
			break
		}
		p.sp()
	}
	return s
}

// entryName reads an entry (an astring, §5) and checks it.
func (p *parser) entryName() string {
	n := p.astring()
	if !ValidEntryName(n) {
		p.fail("invalid entry name")
	}
	return strings.ToLower(n)
}

// listMetadata reads the value of LIST's METADATA return option (RFC
// 9590): a parenthesized list of entries, MAXSIZE n and DEPTH d in any
// order, the entries also accepted as one nested list.
func (p *parser) listMetadata() *GetMetadata {
	g := &GetMetadata{MaxSize: -1}
	seen := map[string]bool{}
	p.expect('(', "expected (")
	for {
		switch c := p.peek(); {
		case c == '(':
			p.pos++
			for {
				g.Entries = append(g.Entries, p.entryName())
				if p.take(')') {
					break
				}
				p.sp()
			}
		case isAlpha(c):
			p.metadataOption(g, seen)
		default:
			g.Entries = append(g.Entries, p.entryName())
		}
		if p.take(')') {
			break
		}
		p.sp()
	}
	if len(g.Entries) == 0 {
		p.fail("METADATA needs an entry")
	}
	return g
}
