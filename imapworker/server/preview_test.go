package server

import (
	"strings"
	"testing"
)

// RFC 8970 §5 examples: FETCH PREVIEW, PREVIEW (LAZY) with ENVELOPE, and
// after SEARCH RETURN (SAVE); an empty string for a message without text,
// NIL only under LAZY (here: a large message not yet previewed).
func TestPreview(t *testing.T) {
	ts := newTestServer(t)
	lorem := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ", 8)
	big := "Subject: big\r\nFrom: FOO@example.org\r\n\r\n" + strings.Repeat("Message data from message 3. ", 40000)
	seed(t, ts, "Subject: one\r\n\r\n"+lorem+"\r\n",
		"Subject: two\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n",
		big,
		"Subject: four\r\nFrom: foo@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Message&nbsp;4 <i>preview</i></p>\r\n")
	c := ts.login("alice")
	if un, _ := c.do("a0 CAPABILITY"); !strings.Contains(un[0], " PREVIEW") {
		t.Fatalf("PREVIEW not advertised: %q", un)
	}
	c.expectDo("a1 ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "a1 OK ENABLE completed")
	selectInbox(c)
	want1 := strings.TrimSpace(lorem)[:200]
	c.expectDo("A2 FETCH 1 (RFC822.SIZE PREVIEW)", `* 1 FETCH (RFC822.SIZE 474 PREVIEW "`+want1+`")`, "A2 OK FETCH completed")
	c.expectDo("B1 FETCH 1:4 (UID PREVIEW (LAZY))",
		`* 1 FETCH (UID 1 PREVIEW "`+want1+`")`,
		`* 2 FETCH (UID 2 PREVIEW "")`,
		`* 3 FETCH (UID 3 PREVIEW NIL)`,
		`* 4 FETCH (UID 4 PREVIEW "Message 4 preview")`,
		"B1 OK FETCH completed")
	c.expectDo("B2 FETCH 3 (PREVIEW)", `* 3 FETCH (PREVIEW "`+strings.TrimSpace(strings.Repeat("Message data from message 3. ", 7))[:200]+`")`, "B2 OK FETCH completed")
	c.expectDo("C2 SEARCH RETURN (SAVE) FROM FOO", "C2 OK SEARCH completed")
	c.expectDo("C3 FETCH $ (UID PREVIEW (LAZY))",
		`* 3 FETCH (UID 3 PREVIEW "`+strings.TrimSpace(strings.Repeat("Message data from message 3. ", 7))[:200]+`")`,
		`* 4 FETCH (UID 4 PREVIEW "Message 4 preview")`, "C3 OK FETCH completed")
	c.expectDo("D1 FETCH 1 PREVIEW (FAST)", "D1 BAD unknown PREVIEW modifier")
}
