package mime

import "strings"

// AddressContains is HeaderContains for the address fields that SEARCH
// FROM, TO, CC and BCC name (RFC 9051 §6.4.4: "the envelope structure's
// FROM field"): a field matches when its decoded text does, or when the
// addresses it holds do, written out as RFC 5322 defines them, without
// comments or folding: `Name <local@domain>`, groups as `name: ...;`. So
// `user-from@domain.org` is found in `<user-from (comment)@ (comment)
// domain.org>`, and a quoted local part or an encoded display name is
// matched as it reads.
func (m *Matcher) AddressContains(p *Part, name string) bool {
	for _, f := range p.Header.fields {
		if !f.Is(name) {
			continue
		}
		v := f.value()
		if m.matchHeaderText(v) {
			return true
		}
		if len(m.needle) > 0 && m.Match([]byte(addressText(unfold(v)))) {
			return true
		}
	}
	return false
}

// addressText writes an address-list field value in its plain form.
func addressText(v string) string {
	var b strings.Builder
	first := true
	for _, a := range ParseAddressList(v) {
		switch {
		case a.GroupStart:
			if !first {
				b.WriteString(", ")
			}
			b.WriteString(DecodeHeader(a.Mailbox))
			b.WriteString(": ")
			first = true
			continue
		case a.GroupEnd:
			b.WriteByte(';')
			first = false
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		spec := a.Mailbox
		if a.Host != "" && a.Host != MissingDomain {
			spec += "@" + a.Host
		}
		if a.Name != "" {
			b.WriteString(DecodeHeader(a.Name))
			b.WriteString(" <")
			b.WriteString(spec)
			b.WriteByte('>')
		} else {
			b.WriteString(spec)
		}
	}
	return b.String()
}
