package mime

import (
	"strings"
	"testing"
)

func TestHeaderFields(t *testing.T) {
	msg := "From mbox-line Thu Nov 26 2026\r\nSubject: first\r\n line two\r\n\tline three\r\nX-Empty:\r\n" +
		"subject : second\r\nContent-Type: text/html\r\ncontent-type: image/png\r\n\r\nbody"
	root := Parse([]byte(msg))
	h := root.Header
	if got := h.Get("SUBJECT"); got != "first line two\tline three" {
		t.Errorf("Subject = %q", got)
	}
	if got := h.Values("subject"); len(got) != 2 || got[1] != "second" {
		t.Errorf("Values(subject) = %q", got)
	}
	if v, ok := h.Lookup("x-empty"); !ok || v != "" {
		t.Errorf("X-Empty = %q, %v", v, ok)
	}
	if _, ok := h.Lookup("X-Absent"); ok {
		t.Error("X-Absent found")
	}
	if h.Len() != 5 || h.Fields()[0].Name() != "Subject" {
		t.Errorf("fields: %d, first %q", h.Len(), h.Fields()[0].Name())
	}
	if got := string(h.Fields()[0].Raw()); got != "Subject: first\r\n line two\r\n\tline three\r\n" {
		t.Errorf("raw field %q", got)
	}
	if root.Type != "text" || root.Subtype != "html" {
		t.Errorf("first Content-Type must win, got %s/%s", root.Type, root.Subtype)
	}
	if string(root.Body()) != "body" || root.Lines != 0 {
		t.Errorf("body %q lines %d", root.Body(), root.Lines)
	}
}

// RFC 2046 §5.1.1: preamble and epilogue are not parts; the CRLF before a
// delimiter belongs to it; transport padding after the boundary is allowed.
func TestMultipartFraming(t *testing.T) {
	msg := "Content-Type: multipart/mixed; boundary=\"simple boundary\"\r\n\r\n" +
		"This is the preamble.\r\n--simple boundary\r\n\r\n" +
		"implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak." +
		"\r\n--simple boundary  \r\nContent-type: text/plain; charset=us-ascii\r\n\r\n" +
		"explicitly typed plain US-ASCII text.\r\n\r\n" +
		"--simple boundary--\r\n\r\nThis is the epilogue.\r\n"
	root := Parse([]byte(msg))
	if len(root.Children) != 2 {
		t.Fatalf("%d parts", len(root.Children))
	}
	p1, p2 := root.Children[0], root.Children[1]
	if got := string(p1.Body()); got != "implicitly typed plain US-ASCII text.\r\nIt does NOT end with a linebreak." {
		t.Errorf("part 1 %q", got)
	}
	if p1.Lines != 1 || p1.Size() != 72 {
		t.Errorf("part 1 size %d lines %d", p1.Size(), p1.Lines)
	}
	if got := string(p2.Body()); got != "explicitly typed plain US-ASCII text.\r\n" || p2.Lines != 1 {
		t.Errorf("part 2 %q lines %d", got, p2.Lines)
	}
	if !strings.HasPrefix(string(p2.HeaderBytes()), "Content-type:") {
		t.Errorf("part 2 header %q", p2.HeaderBytes())
	}
}

func TestMultipartOddities(t *testing.T) {
	cases := []struct {
		name, msg string
		bodies    []string
	}{
		{"no close delimiter", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
			[]string{"one", "two\r\n"}},
		{"empty parts", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n--b--\r\n",
			[]string{"", ""}},
		{"lookalike lines", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bb\r\nx--b\r\n--b--",
			[]string{"--bb\r\nx--b"}},
		{"nested same prefix", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
			"Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\ninner\r\n--b2--\r\n--b--\r\n",
			[]string{"--b2\r\n\r\ninner\r\n--b2--"}},
	}
	for _, c := range cases {
		root := Parse([]byte(c.msg))
		var got []string
		for _, ch := range root.Children {
			got = append(got, string(ch.Body()))
		}
		if strings.Join(got, "|") != strings.Join(c.bodies, "|") {
			t.Errorf("%s: parts %q, want %q", c.name, got, c.bodies)
		}
	}
}

// A message/rfc822 part with a transfer encoding cannot be parsed in place:
// it is served as an opaque part (the engine sends it as a basic body).
func TestEncodedMessageRFC822(t *testing.T) {
	msg := "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpib2R5\r\n"
	root := Parse([]byte(msg))
	if root.Message != nil || root.IsMessage() {
		t.Fatal("base64 message/rfc822 was parsed as a message")
	}
	b, err := root.Binary([]int{1})
	if err != nil || string(b) != "Subject: x\r\n\r\nbody" {
		t.Errorf("BINARY[1] = %q, %v", b, err)
	}
}
