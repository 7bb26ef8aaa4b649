package server

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
)

// readerOnly is a store.Content without Bytes, as a Maildir file is.
type readerOnly struct{ *bytes.Reader }

func (r readerOnly) Close() error { return nil }

func TestMsgBufOffHeap(t *testing.T) {
	var mb msgBuf
	small := bytes.Repeat([]byte("a"), 100)
	if got, err := mb.read(readerOnly{bytes.NewReader(small)}); err != nil || !bytes.Equal(got, small) || mb.mapped != nil {
		t.Fatalf("small: %d bytes, err %v, mapped %v", len(got), err, mb.mapped != nil)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), bigMsg/16+1)
	got, err := mb.read(readerOnly{bytes.NewReader(big)})
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big: %d bytes, err %v", len(got), err)
	}
	if mb.mapped == nil || &got[0] != &mb.mapped[0] {
		t.Fatal("a big message was read onto the heap")
	}
	mb.done()
	if mb.mapped != nil {
		t.Fatal("done left the mapping")
	}
}

// With pruneMin lowered every message below is pruned for SEARCH, into
// its own mapping or, with bigMsg high, the heap; with bigMsg low FETCH
// reads them into mappings too. Both answer as from the heap (the Maildir
// run of this test reads files; the memory store hands out its own bytes).
func TestOffHeapMessages(t *testing.T) {
	oldBig, oldPrune := bigMsg, pruneMin
	defer func() { bigMsg, pruneMin = oldBig, oldPrune }()
	for _, lim := range [][2]int{{256, 256}, {1 << 20, 256}} {
		bigMsg, pruneMin = lim[0], lim[1]
		offHeapTranscript(t)
	}
}

func offHeapTranscript(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	att := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0, 1, 2, 3}, 300))
	for i, word := range []string{"alpha", "zymurgy", "gamma"} {
		msg := fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n"+
			"--b\r\nContent-Type: text/plain\r\n\r\nsome %s text\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n", i, word, att)
		c.C(fmt.Sprintf("a%d APPEND INBOX {%d+}", i, len(msg)))
		c.raw(msg + "\r\n")
		c.S(fmt.Sprintf("~a%d OK .*APPEND completed", i))
	}
	c.C("s1 SELECT INBOX")
	c.until("s1 OK")
	c.expectDo("s2 SEARCH BODY zymurgy", "* SEARCH 2", "s2 OK SEARCH completed")
	c.expectDo("s3 FETCH 2 (BODY.PEEK[1] BINARY.SIZE[2])",
		"* 2 FETCH (BODY[1] {17}\r\nsome zymurgy text BINARY.SIZE[2] 1200)", "s3 OK FETCH completed")
	c.expectDo("s4 SEARCH TEXT gamma", "* SEARCH 3", "s4 OK SEARCH completed")
	c.expectDo("s5 FETCH 3 BODYSTRUCTURE",
		`~\* 3 FETCH \(BODYSTRUCTURE \(\("text" "plain" .*\)\("application" "octet-stream" NIL NIL NIL "base64" 1600 .*"mixed".*\)\)`, "s5 OK FETCH completed")
}
