package mime

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PreviewLen is the most characters Preview returns (RFC 8970 §3.3: 200
// SHOULD, 256 MUST NOT be exceeded).
const PreviewLen = 200

// Preview returns up to PreviewLen characters of the message's text as
// plain UTF-8 (RFC 8970 §3.3): the first text/plain part that is not an
// attachment, else the first text/html one with its markup removed;
// whitespace runs become one space. "" when the message has no text.
func Preview(root *Part) string {
	p := findText(root, "plain", 0)
	if p == nil {
		p = findText(root, "html", 0)
	}
	if p == nil {
		return ""
	}
	body, err := p.Decode()
	if err != nil {
		return ""
	}
	text := string(toUTF8(p.Charset(), body))
	if p.Subtype == "html" {
		text = stripHTML(text)
	}
	var b strings.Builder
	n, space := 0, false
	for _, r := range text {
		if n >= PreviewLen {
			break
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			n++
			space = false
			if n >= PreviewLen {
				break
			}
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func findText(p *Part, sub string, depth int) *Part {
	if depth > MaxDepth {
		return nil
	}
	switch {
	case p.IsMultipart():
		for _, c := range p.Children {
			if t := findText(c, sub, depth+1); t != nil {
				return t
			}
		}
	case p.IsMessage():
		return nil // an attached message is not this one's text
	case p.Type == "text" && p.Subtype == sub && p.Disposition != "attachment":
		return p
	}
	return nil
}

// stripHTML drops tags, comments, style and script content, and decodes
// entities.
func stripHTML(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		lower := strings.ToLower(s[:min(len(s), 8)])
		end := ">"
		switch {
		case strings.HasPrefix(lower, "<!--"):
			end = "-->"
		case strings.HasPrefix(lower, "<style"):
			end = "</style>"
		case strings.HasPrefix(lower, "<script"):
			end = "</script>"
		}
		j := strings.Index(strings.ToLower(s), end)
		if j < 0 {
			break
		}
		s = s[j+len(end):]
		b.WriteByte(' ')
	}
	return html.UnescapeString(b.String())
}
