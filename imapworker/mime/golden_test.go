package mime

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// nstring renders "" as NIL, like the engine is expected to.
func nstring(s string) string {
	if s == "" {
		return "NIL"
	}
	return fmt.Sprintf("%q", s)
}

func params(ps []Param) string {
	if len(ps) == 0 {
		return "NIL"
	}
	var b []string
	for _, p := range ps {
		b = append(b, fmt.Sprintf("%q %q", p.Name, p.Value))
	}
	return "(" + strings.Join(b, " ") + ")"
}

// bodyStructure renders p as the non-extensible BODY of RFC 9051 §7.5.2,
// the way a test reader would compare it with a server's answer.
func bodyStructure(p *Part) string {
	if p.IsMultipart() {
		var b strings.Builder
		b.WriteByte('(')
		for _, c := range p.Children {
			b.WriteString(bodyStructure(c))
		}
		fmt.Fprintf(&b, " %q)", p.Subtype)
		return b.String()
	}
	s := fmt.Sprintf("(%q %q %s %s %s %q %d", p.Type, p.Subtype, params(p.Params),
		nstring(p.ID), nstring(p.Description), p.Encoding, p.Size())
	if p.Message != nil {
		s += " " + envelope(p.Message.Envelope()) + " " + bodyStructure(p.Message)
	}
	if p.Type == "text" || p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") {
		s += fmt.Sprintf(" %d", p.Lines)
	}
	return s + ")"
}

func addrs(as []Address) string {
	if len(as) == 0 {
		return "NIL"
	}
	var b strings.Builder
	b.WriteByte('(')
	for _, a := range as {
		switch {
		case a.GroupStart:
			fmt.Fprintf(&b, "(NIL NIL %s NIL)", nstring(a.Mailbox))
		case a.GroupEnd:
			b.WriteString("(NIL NIL NIL NIL)")
		default:
			fmt.Fprintf(&b, "(%s %s %s %s)", nstring(a.Name), nstring(a.ADL), nstring(a.Mailbox), nstring(a.Host))
		}
	}
	return b.String() + ")"
}

func envelope(e *Envelope) string {
	return fmt.Sprintf("(%s %s %s %s %s %s %s %s %s %s)", nstring(e.Date), nstring(e.Subject),
		addrs(e.From), addrs(e.Sender), addrs(e.ReplyTo), addrs(e.To), addrs(e.Cc), addrs(e.Bcc),
		nstring(e.InReplyTo), nstring(e.MessageID))
}

// describe renders everything the golden files pin down for one message.
func describe(msg []byte) string {
	root := Parse(msg)
	var b strings.Builder
	fmt.Fprintf(&b, "BODY %s\n", bodyStructure(root))
	fmt.Fprintf(&b, "ENVELOPE %s\n", envelope(root.Envelope()))
	fmt.Fprintf(&b, "SUBJECT-DECODED %q\n", DecodeHeader(root.Header.Get("Subject")))
	if t, ok := ParseDate(root.Header.Get("Date")); ok {
		fmt.Fprintf(&b, "DATE %s\n", t.Format("2006-01-02 15:04:05 -0700"))
	} else {
		b.WriteString("DATE none\n")
	}
	var walk func(p *Part, path []int)
	walk = func(p *Part, path []int) {
		ps := strings.Trim(strings.ReplaceAll(fmt.Sprint(path), " ", "."), "[]")
		if len(path) > 0 {
			if p.Disposition != "" {
				fmt.Fprintf(&b, "PART %s DISPOSITION %q %s\n", ps, p.Disposition, params(p.DispositionParams))
			}
			if len(p.Language) > 0 || p.Location != "" || p.MD5 != "" {
				fmt.Fprintf(&b, "PART %s LANG %q LOC %q MD5 %q\n", ps, p.Language, p.Location, p.MD5)
			}
			if bin, err := root.Binary(path); err == nil {
				n, _ := root.BinarySize(path)
				fmt.Fprintf(&b, "PART %s BINARY.SIZE %d %q\n", ps, n, clip(bin))
			} else {
				fmt.Fprintf(&b, "PART %s BINARY error %v\n", ps, err)
			}
		}
		sub := p
		if p.Message != nil {
			sub = p.Message
		}
		if sub.IsMultipart() {
			for i, c := range sub.Children {
				walk(c, append(append([]int(nil), path...), i+1))
			}
		} else if len(path) == 0 {
			walk(p, []int{1})
		}
	}
	walk(root, nil)
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) < 10 {
		t.Fatalf("only %d test messages", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			msg, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := describe(msg)
			gf := strings.TrimSuffix(f, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(gf, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs:\n--- got\n%s--- want\n%s", gf, got, want)
			}
		})
	}
}
