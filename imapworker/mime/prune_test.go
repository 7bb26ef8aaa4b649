package mime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// samePruned checks that Parse(pruned) is Parse(msg) with the bodies SEARCH
// never reads left out: same parts, types, headers, and every body SEARCH
// reads byte for byte.
func samePruned(t *testing.T, path string, a, b *Part) {
	t.Helper()
	if a.Type != b.Type || a.Subtype != b.Subtype || a.Encoding != b.Encoding || a.Truncated != b.Truncated ||
		fmt.Sprint(a.Params) != fmt.Sprint(b.Params) || !bytes.Equal(a.HeaderBytes(), b.HeaderBytes()) {
		t.Fatalf("part %s: %s/%s %q %v %q, pruned %s/%s %q %v %q", path,
			a.Type, a.Subtype, a.Encoding, a.Params, a.HeaderBytes(), b.Type, b.Subtype, b.Encoding, b.Params, b.HeaderBytes())
	}
	if len(a.Children) != len(b.Children) || (a.Message == nil) != (b.Message == nil) {
		t.Fatalf("part %s: %d children, message %v; pruned %d, %v", path, len(a.Children), a.Message != nil, len(b.Children), b.Message != nil)
	}
	leaf := len(a.Children) == 0 && a.Message == nil
	if leaf && a.Type != "text" && a.Type != "message" && a.Type != "multipart" {
		if b.Size() != 0 && !bytes.Equal(a.Body(), b.Body()) {
			t.Fatalf("part %s (%s/%s): pruned body %q", path, a.Type, a.Subtype, b.Body())
		}
	} else if leaf && !bytes.Equal(a.Body(), b.Body()) {
		t.Fatalf("part %s (%s/%s): body %q, pruned %q", path, a.Type, a.Subtype, a.Body(), b.Body())
	}
	for i := range a.Children {
		samePruned(t, fmt.Sprintf("%s.%d", path, i+1), a.Children[i], b.Children[i])
	}
	if a.Message != nil {
		samePruned(t, path+".msg", a.Message, b.Message)
	}
}

func checkPrune(t *testing.T, msg []byte) []byte {
	t.Helper()
	pruned, err := Prune(bytes.NewReader(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	whole, part := Parse(msg), Parse(pruned)
	samePruned(t, "1", whole, part)
	for _, needle := range []string{"hello", "quarterly", "grüße", "boundary", "Content"} {
		m := NewMatcher(needle)
		if m.TextContains(whole) != m.TextContains(part) || m.BodyContains(whole) != m.BodyContains(part) {
			t.Fatalf("search %q differs after pruning", needle)
		}
	}
	// One byte at a time: lines arrive in pieces, and the result is the same.
	slow, err := Prune(iotest.OneByteReader(bytes.NewReader(msg)), nil)
	if err != nil || !bytes.Equal(slow, pruned) {
		t.Fatalf("pruning depends on how the input is read (%v)", err)
	}
	return pruned
}

func TestPruneTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			msg, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			checkPrune(t, msg)
		})
	}
}

// A 2 MB attachment beside a text part, in a message nested in a digest:
// the attachment goes, everything SEARCH reads stays.
func TestPruneDropsAttachments(t *testing.T) {
	att := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", 2<<20/38)
	inner := "From: b@example.org\r\nSubject: inner hello\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n" +
		"--in\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
		"--in\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att +
		"--in--\r\n"
	msg := []byte("From: a@example.org\r\nSubject: outer\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"out\"\r\n\r\npreamble\r\n" +
		"--out\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nquarterly grüße\r\n" +
		"--out\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att +
		"--out\r\nContent-Type: multipart/digest; boundary=dg\r\n\r\n" +
		"--dg\r\n\r\n" + inner + "\r\n--dg--\r\n" +
		"--out\r\nContent-Type: application/octet-stream\r\n\r\n" + att + // no close delimiter
		"--outer-not-a-delimiter?\r\n")
	pruned := checkPrune(t, msg)
	if len(pruned) > 4096 {
		t.Fatalf("pruned %d bytes of %d: attachments kept", len(pruned), len(msg))
	}
	if !NewMatcher("inner text").BodyContains(Parse(pruned)) {
		t.Fatal("text inside the digest lost")
	}
}

func FuzzPrune(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		f.Add(loadMsg(f, filepath.Base(name)))
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: image/gif\r\n\r\nGIF\r\n--a\r\n\r\ntext\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkPrune(t, msg)
	})
}

// Pruning a 1 MB attachment costs about what parsing it would: SEARCH
// of a folder with attachments does not get slower by holding less.
func BenchmarkPrune(b *testing.B) {
	att := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTIzNDU2Nzg5MDEy\r\n", 1<<20/62)
	msg := []byte("Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsome text\r\n" +
		"--b\r\nContent-Type: application/pdf\r\n\r\n" + att + "--b--\r\n")
	b.Run("Prune", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		var dst []byte
		for range b.N {
			dst, _ = Prune(bytes.NewReader(msg), dst)
			Parse(dst)
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for range b.N {
			Parse(msg)
		}
	})
}
