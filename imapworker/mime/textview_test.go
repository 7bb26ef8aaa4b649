package mime

import (
	"bytes"
	"testing"
)

// Whenever a Matcher matches, the needle as it folds it occurs whole in
// one of the texts SearchTexts gives for the key's kinds: what a
// full-text index built from them needs to never miss a message. An
// ASCII needle matches exactly when it occurs in a ViewASCII text, unless
// one is ViewASCIIWide: what lets an index answer it without the matcher.
func TestSearchTextsCoverMatches(t *testing.T) {
	msgs := []string{
		"Subject: ab\rc\xc3\xa9d\r\n\r\nbody\r\n", // a lone CR, dropped by unfolding
		"Subject: caf\xe9 cr\xe8me\r\n\r\nx\r\n",  // raw Latin-1
		"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and\r\n =?ISO-8859-1?Q?na=EFve?=\r\n\r\nx\r\n",
		"Subject: x\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nStra=DFe =\r\nsoft break \xe9\r\n",
		"Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nU3RyYcOfZSDihKpFTFZJTiBLZWx2aW4=\r\n", // Straße KELVIN Kelvin
		"Subject: x\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\n\x80uro \x93quoted\x94\r\n",
		"Subject: Long \xc5\xbfx and ssx\r\n\r\nx\r\n",
		"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner \xce\xa3\xce\xaf\r\nX-Tag: deep\r\n\r\ninner body\r\n--b\r\nContent-Type: application/pdf\r\n\r\nnot text\r\n--b--\r\n",
	}
	needles := []string{
		"abc", "bcé", "c\xc3\xa9d", "café", "CRÈME", "é c", "grüße", "GRÜSSE", "e and na", "naïve", "straße", "break é",
		"kelvin", "\u212aelvin", "KELVIN", "€uro", "\u201cquoted", "inner σί", "x-tag: deep", "inner body", "not text",
		"subject: x", "a\xe9b", "\xe9 cr", "ab", "bc", "straSSe", "kelvin kelvin", "s\xc5\xbfx", "ssx",
	}
	kinds := map[string][]TextKind{"body": {TextBody}, "text": {TextBody, TextHeader}, "subject": {TextSubject}}
	for _, raw := range msgs {
		msg := Parse([]byte(raw))
		texts := map[TextKind][][]byte{}
		asciiTexts := map[TextKind][][]byte{}
		wide := map[TextKind]bool{}
		SearchTexts(msg, func(k TextKind, f []byte, view TextView) {
			texts[k] = append(texts[k], bytes.Clone(f))
			if view != ViewOther {
				asciiTexts[k] = append(asciiTexts[k], bytes.Clone(f))
			}
			wide[k] = wide[k] || view == ViewASCIIWide
		})
		for _, n := range needles {
			m := NewMatcher(n)
			for key, ks := range kinds {
				var match bool
				switch key {
				case "body":
					match = m.BodyContains(msg)
				case "text":
					match = m.TextContains(msg)
				default:
					match = m.HeaderContains(msg, "Subject")
				}
				if m.ASCII() {
					inASCII, anyWide := false, false
					for _, k := range ks {
						for _, f := range asciiTexts[k] {
							inASCII = inASCII || bytes.Contains(f, m.Folded())
						}
						anyWide = anyWide || wide[k]
					}
					if match && !inASCII || !match && inASCII && !anyWide {
						t.Errorf("%s %q on %q: match %v, but in an ASCII view %v: %q", key, n, raw, match, inASCII, asciiTexts)
					}
				}
				if !match {
					continue
				}
				found := false
				for _, k := range ks {
					for _, f := range texts[k] {
						found = found || bytes.Contains(f, m.Folded())
					}
				}
				if !found {
					t.Errorf("%s %q matches %q but no text holds %q: %q", key, n, raw, m.Folded(), texts)
				}
			}
		}
	}
}
