package imap

import (
	"reflect"
	"testing"
)

// RFC 4469 §5's example command and RFC 5092 URLs.
func TestParseCatenate(t *testing.T) {
	in := "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER\" TEXT {42}\r\n" +
		"\r\n--------------030308070208000400050907\r\n URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME\" URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1\" TEXT ~{3}\r\nx\ny)" +
		" CATENATE (URL /INBOX/;UID=1)\r\n"
	checkArgs(t, in, &Append{Mailbox: "Drafts", Flags: []string{`\Seen`, `\Draft`, "$MDNSent"}, Catenate: []CatPart{
		{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=HEADER"},
		{Text: []byte("\r\n--------------030308070208000400050907\r\n")},
		{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME"},
		{URL: "/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1"},
		{Text: []byte("x\ny"), Binary: true},
	}, More: []AppendMessage{{Catenate: []CatPart{{URL: "/INBOX/;UID=1"}}}}})
	for _, bad := range []string{
		"a APPEND x CATENATE ()\r\n",
		"a APPEND x CATENATE (TEXT \"x\")\r\n",
		"a APPEND x CATENATE (URL \"\")\r\n",
		"a APPEND x CATENATE (FOO 1)\r\n",
		"a APPEND x CATENAT (URL /a/;UID=1)\r\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}

	urls := map[string]*IMAPURL{
		"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME": {Mailbox: "Drafts", UIDValidity: 385759045, UID: 20,
			Section: &Section{Part: []int{1}, Specifier: "MIME"}},
		"/INBOX/;UID=7": {Mailbox: "INBOX", UID: 7},
		"imap://alice;AUTH=*@mail.example.org:143/a%20b;uidvalidity=3/;uid=2/;section=HEADER.FIELDS%20(From%20To)/;partial=0.10": {
			User: "alice", Host: "mail.example.org:143", Mailbox: "a b", UIDValidity: 3, UID: 2,
			Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "To"}}, Partial: &Partial{Offset: 0, Count: 10}},
		"/INBOX/;UID=1/;PARTIAL=5": {Mailbox: "INBOX", UID: 1, Partial: &Partial{Offset: 5, Count: -1}},
	}
	for in, want := range urls {
		got, err := ParseIMAPURL(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "INBOX/;UID=1", "/INBOX", "/INBOX/;UID=0", "/INBOX/;UID=x", "/;UID=1/x",
		"/INBOX/;UID=1/;SECTION=1..2", "/INBOX/;UID=1/;URLAUTH=anonymous", "/INBOX/;UID=1/;PARTIAL=1.0", "/IN%ZZ/;UID=1",
		"imap://host", "/INBOX;UIDVALIDITY=0/;UID=1"} {
		if u, err := ParseIMAPURL(bad); err == nil {
			t.Errorf("%q parsed: %+v", bad, u)
		}
	}
}
