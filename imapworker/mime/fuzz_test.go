package mime

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// checkTree asserts the invariants every parse must keep, and returns the
// number of parts and the depth of the tree.
func checkTree(t testing.TB, msg []byte, p *Part, lo, hi, depth int) (parts, maxDepth int) {
	if p.HeaderStart < lo || p.HeaderStart > p.BodyStart || p.BodyStart > p.End || p.End > hi {
		t.Fatalf("bad offsets %d %d %d outside [%d,%d]", p.HeaderStart, p.BodyStart, p.End, lo, hi)
	}
	if p.Type == "" || p.Subtype == "" || p.Encoding == "" {
		t.Fatalf("empty type %q/%q or encoding %q", p.Type, p.Subtype, p.Encoding)
	}
	if p.Type == "multipart" && len(p.Children) == 0 {
		t.Fatalf("multipart without children")
	}
	parts, maxDepth = 1, depth
	for _, c := range p.Children {
		n, d := checkTree(t, msg, c, p.BodyStart, p.End, depth+1)
		parts += n
		maxDepth = max(maxDepth, d)
	}
	if p.Message != nil {
		n, d := checkTree(t, msg, p.Message, p.BodyStart, p.End, depth+1)
		parts += n
		maxDepth = max(maxDepth, d)
	}
	return parts, maxDepth
}

// exercise calls every accessor on every part, as FETCH and SEARCH would.
func exercise(root *Part, p *Part, path []int) {
	_ = envelope(p.Envelope())
	for _, spec := range []Specifier{SpecNone, SpecHeader, SpecText, SpecMIME} {
		_, _ = root.Section(Section{Path: path, Specifier: spec})
	}
	_, _ = root.Section(Section{Path: path, Specifier: SpecHeaderFields, Fields: []string{"subject", "from"}})
	_, _ = root.Binary(path)
	_, _ = root.BinarySize(path)
	_ = DecodeHeader(p.Header.Get("Subject"))
	_, _ = ParseDate(p.Header.Get("Date"))
	sub := p
	if p.Message != nil {
		sub = p.Message
	}
	for i, c := range sub.Children {
		if i > 20 {
			break
		}
		exercise(root, c, append(append([]int(nil), path...), i+1))
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		f.Add(loadMsg(f, filepath.Base(name)))
	}
	m1, m2 := NewMatcher("hello"), NewMatcher("grüße")
	f.Fuzz(func(t *testing.T, msg []byte) {
		root := Parse(msg)
		parts, depth := checkTree(t, msg, root, 0, len(msg), 0)
		if parts > MaxParts+MaxDepth || depth > 2*MaxDepth {
			t.Fatalf("unbounded: %d parts, depth %d", parts, depth)
		}
		exercise(root, root, nil)
		_ = m1.TextContains(root)
		_ = m2.BodyContains(root)
		_ = ParseAddressList(string(msg))
	})
}

func treeStats(t *testing.T, msg []byte) (int, int) {
	t.Helper()
	root := Parse(msg)
	return checkTree(t, msg, root, 0, len(msg), 0)
}

// MIME bombs: deep nesting and huge part counts are bounded, and what is
// within the bounds is still served.
func TestBombDeepMultipart(t *testing.T) {
	var b bytes.Buffer
	const levels = 5000
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	parts, depth := treeStats(t, b.Bytes())
	if depth > MaxDepth || parts > MaxDepth+1 {
		t.Fatalf("depth %d parts %d, want <= %d", depth, parts, MaxDepth)
	}
	if !BodyContains(Parse(b.Bytes()), "deep") {
		t.Error("text below the depth limit is no longer searchable")
	}
}

func TestBombDeepMessage(t *testing.T) {
	msg := []byte(strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 100000) + "Subject: x\r\n\r\nbody\r\n")
	_, depth := treeStats(t, msg)
	if depth > MaxDepth {
		t.Fatalf("depth %d, want <= %d", depth, MaxDepth)
	}
}

func TestBombManyParts(t *testing.T) {
	msg := []byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n" +
		strings.Repeat("--x\r\n\r\np\r\n", 100000) + "--x--\r\n")
	root := Parse(msg)
	parts, _ := checkTree(t, msg, root, 0, len(msg), 0)
	if parts > MaxParts {
		t.Fatalf("%d parts, want <= %d", parts, MaxParts)
	}
	if !root.Truncated || len(root.Children) < MaxParts-1 {
		t.Errorf("truncated=%v with %d children", root.Truncated, len(root.Children))
	}
	if _, err := root.Section(Section{Path: []int{MaxParts - 1}}); err != nil {
		t.Errorf("last served part: %v", err)
	}
}

// Nested multiparts that each hold many parts still stop at MaxParts overall.
func TestBombWideAndDeep(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=l%d\r\n\r\n", i)
		b.WriteString(strings.Repeat(fmt.Sprintf("--l%d\r\n\r\nx\r\n", i), 2000))
		fmt.Fprintf(&b, "--l%d\r\n", i)
	}
	parts, _ := treeStats(t, []byte(b.String()))
	if parts > MaxParts {
		t.Fatalf("%d parts, want <= %d", parts, MaxParts)
	}
}

// FuzzMatcher checks the matcher against a brute-force fold-and-compare.
func FuzzMatcher(f *testing.F) {
	f.Add("Hello", "say hello world")
	f.Add("ÄB", "xäbx")
	f.Add("σς", "ΣΣ")
	f.Add("q", "")
	f.Fuzz(func(t *testing.T, needle, text string) {
		if isASCII([]byte(needle)) && strings.ContainsAny(text, "\u212a\u017f") {
			t.Skip("documented: ASCII needles fold ASCII only (KELVIN SIGN, LONG S)")
		}
		got := NewMatcher(needle).Match([]byte(text))
		want := bytes.Contains(appendFolded(nil, []byte(text)), appendFolded(nil, []byte(needle)))
		if got != want {
			t.Fatalf("Match(%q in %q) = %v, want %v", needle, text, got, want)
		}
		_ = DecodeHeader(text)
		_, _ = ParseDate(text)
	})
}
