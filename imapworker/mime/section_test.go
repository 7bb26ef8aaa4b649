package mime

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func loadMsg(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseSection reads the section syntax of RFC 9051 §6.4.5 for tests:
// "4.2.HEADER", "1.MIME", "HEADER.FIELDS (Subject From)".
func parseSection(t *testing.T, s string) Section {
	t.Helper()
	var sec Section
	if i := strings.IndexByte(s, '('); i >= 0 {
		sec.Fields = strings.Fields(strings.Trim(s[i:], "()"))
		s = strings.TrimSpace(s[:i])
	}
	for s != "" {
		tok, rest, _ := strings.Cut(s, ".")
		if tok != "" && tok[0] >= '0' && tok[0] <= '9' {
			n := 0
			for _, c := range tok {
				n = n*10 + int(c-'0')
			}
			sec.Path = append(sec.Path, n)
			s = rest
			continue
		}
		switch s {
		case "HEADER":
			sec.Specifier = SpecHeader
		case "HEADER.FIELDS":
			sec.Specifier = SpecHeaderFields
		case "HEADER.FIELDS.NOT":
			sec.Specifier = SpecHeaderFieldsNot
		case "TEXT":
			sec.Specifier = SpecText
		case "MIME":
			sec.Specifier = SpecMIME
		default:
			t.Fatalf("bad section %q", s)
		}
		break
	}
	return sec
}

// The part numbering example of RFC 9051 §6.4.5, with every leaf body
// naming its own part number.
func TestSectionsRFC9051Example(t *testing.T) {
	root := Parse(loadMsg(t, "rfc9051-sections.eml"))
	cases := []struct{ section, want string }{
		{"1", "body 1"},
		{"2", "body 2"},
		{"3.HEADER", "Subject: message 3\r\nContent-Type: MULTIPART/MIXED; boundary=m3\r\n\r\n"},
		{"3.1", "body 3.1"},
		{"3.2", "body 3.2"},
		{"4.1", "Ym9keSA0LjE="},
		{"4.1.MIME", "Content-Type: IMAGE/GIF\r\nContent-Transfer-Encoding: base64\r\n\r\n"},
		{"4.2.HEADER", "Subject: message 4.2\r\nContent-Type: MULTIPART/MIXED; boundary=m42\r\n\r\n"},
		{"4.2.1", "body 4.2.1"},
		{"4.2.2.1", "body 4.2.2.1"},
		{"4.2.2.2", "body 4.2.2.2"},
		{"4.2.2.2.MIME", "Content-Type: TEXT/RICHTEXT\r\n\r\n"},
		{"3.HEADER.FIELDS (SUBJECT)", "Subject: message 3\r\n\r\n"},
		{"HEADER.FIELDS (from subject)", "From: a@example.com\r\nSubject: RFC 9051 section 6.4.5 example\r\n\r\n"},
		{"HEADER.FIELDS.NOT (Content-Type From)", "Subject: RFC 9051 section 6.4.5 example\r\n\r\n"},
		{"HEADER.FIELDS (X-Absent)", "\r\n"},
	}
	for _, c := range cases {
		t.Run(c.section, func(t *testing.T) {
			got, err := root.Section(parseSection(t, c.section))
			if err != nil {
				t.Fatalf("C: a1 FETCH 1 BODY[%s]\nerror %v", c.section, err)
			}
			if string(got) != c.want {
				t.Errorf("C: a1 FETCH 1 BODY[%s]\nS: got  %q\n   want %q", c.section, got, c.want)
			}
		})
	}

	// 3.TEXT is the whole body of message 3: its multipart, delimiters included.
	text, _ := root.Section(parseSection(t, "3.TEXT"))
	if !strings.HasPrefix(string(text), "--m3\r\n") || !strings.HasSuffix(string(text), "--m3--") {
		t.Errorf("BODY[3.TEXT] = %q", text)
	}
	// BODY[3] is the whole encapsulated message.
	whole, _ := root.Section(parseSection(t, "3"))
	if !strings.HasPrefix(string(whole), "Subject: message 3\r\n") || len(whole) != root.Children[2].Size() {
		t.Errorf("BODY[3] = %q", whole)
	}
	// BODY[] is everything; HEADER + TEXT make it up again.
	all, _ := root.Section(Section{})
	h, _ := root.Section(Section{Specifier: SpecHeader})
	b, _ := root.Section(Section{Specifier: SpecText})
	if string(all) != string(h)+string(b) || len(all) != len(loadMsg(t, "rfc9051-sections.eml")) {
		t.Errorf("BODY[] != BODY[HEADER] + BODY[TEXT]")
	}

	bin, err := root.Binary([]int{4, 1})
	if err != nil || string(bin) != "body 4.1" {
		t.Errorf("BINARY[4.1] = %q, %v", bin, err)
	}
	if n, err := root.BinarySize([]int{4, 1}); n != 8 || err != nil {
		t.Errorf("BINARY.SIZE[4.1] = %d, %v", n, err)
	}

	for _, bad := range []string{"5", "0", "1.1", "2.HEADER", "4.1.TEXT", "MIME", "4.2.2.3", "3.3"} {
		if got, err := root.Section(parseSection(t, bad)); !errors.Is(err, ErrNoSuchPart) {
			t.Errorf("BODY[%s] = %q, %v; want ErrNoSuchPart", bad, got, err)
		}
	}
}

// A non-multipart message has exactly one part, 1, which is its body.
func TestSectionsSinglePart(t *testing.T) {
	msg := loadMsg(t, "simple.eml")
	root := Parse(msg)
	body := "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
	for _, s := range []string{"1", "TEXT"} {
		got, err := root.Section(parseSection(t, s))
		if err != nil || string(got) != body {
			t.Errorf("BODY[%s] = %q, %v", s, got, err)
		}
	}
	if _, err := root.Section(parseSection(t, "2")); !errors.Is(err, ErrNoSuchPart) {
		t.Errorf("BODY[2] exists in a single-part message")
	}
	if _, err := root.Section(parseSection(t, "1.1")); !errors.Is(err, ErrNoSuchPart) {
		t.Errorf("BODY[1.1] exists in a single-part message")
	}
}

func TestBinaryUnknownCTE(t *testing.T) {
	msg := "Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n"
	root := Parse([]byte(msg))
	if _, err := root.Binary([]int{1}); !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("BINARY[1] of x-uuencode: err %v, want ErrUnknownCTE", err)
	}
	if _, err := root.BinarySize([]int{1}); !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("BINARY.SIZE[1] of x-uuencode: err %v, want ErrUnknownCTE", err)
	}
	// BODY[1] is still served as stored.
	if b, err := root.Section(Section{Path: []int{1}}); err != nil || string(b) != "begin 644 f\r\n" {
		t.Errorf("BODY[1] = %q, %v", b, err)
	}
}

func TestBinaryQuotedPrintable(t *testing.T) {
	msg := "Content-Transfer-Encoding: Quoted-Printable\r\n\r\n" +
		"caf=C3=A9 =3D soft=\r\nbreak  \r\ntrail=20\r\n=XY bad escape\r\n"
	root := Parse([]byte(msg))
	got, err := root.Binary([]int{1})
	want := "café = softbreak\r\ntrail \r\n=XY bad escape\r\n"
	if err != nil || string(got) != want {
		t.Errorf("BINARY[1] = %q, %v; want %q", got, err, want)
	}
	if n, _ := root.BinarySize([]int{1}); n != len(want) {
		t.Errorf("BINARY.SIZE[1] = %d, want %d", n, len(want))
	}
}
