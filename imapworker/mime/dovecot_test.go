package mime

import "testing"

// Expectations derived by hand from Dovecot's BODY rules (lib-imap): sizes
// and line counts of the CRLF form, the CRLF before a delimiter belonging
// to it, a default charset on text parts, an invalid transfer encoding
// read as 7bit, a boundary folded inside a quoted string.
func TestDovecotCompatibleBody(t *testing.T) {
	msg := ToCRLF([]byte(`From: sender@example.org
Date: Fri, 20 Nov 2026 10:00:00 +0100
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer
 line"

preamble text

--outer line
Content-Type: text/x-custom; charset=us-ascii; note="with \"escaped\" quote"
Content-ID: <c1@example.org>
Content-Description: custom part

greetings

--outer line
Content-Type: message/rfc822

From: inner@example.org
Subject: inner
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/html
Content-Transfer-Encoding: 8bit

<b>hi</b>

--alt
Content-Type: text/plain
Content-Transfer-Encoding: ?bogus

hi there

--alt--

--outer line--
epilogue
`))
	want := `(("text" "x-custom" ("charset" "us-ascii" "note" "with \"escaped\" quote") "<c1@example.org>" "custom part" "7bit" 11 1)` +
		`("message" "rfc822" NIL NIL NIL "7bit" 265 (NIL "inner" ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) ((NIL NIL "inner" "example.org")) NIL NIL NIL NIL NIL) ` +
		`(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 11 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1) "alternative") 17) "mixed")`
	if got := bodyStructure(Parse(msg)); got != want {
		t.Errorf("C: a1 FETCH 1 BODY\nS: got  %s\n   want %s", got, want)
	}
}
