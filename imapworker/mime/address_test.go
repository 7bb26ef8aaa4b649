package mime

import (
	"fmt"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	cases := []struct{ in, want string }{
		{`alice@example.org`, `((NIL NIL "alice" "example.org"))`},
		{`"Smith, John" <js@example.com>`, `(("Smith, John" NIL "js" "example.com"))`},
		{`Smith, John <js@example.com>`, `((NIL NIL "Smith" "MISSING_DOMAIN")("John" NIL "js" "example.com"))`},
		{`John Q. Public <jqp@example.com>`, `(("John Q. Public" NIL "jqp" "example.com"))`},
		{`<@route1,@route2:user@host>`, `((NIL "@route1,@route2" "user" "host"))`},
		{`undisclosed-recipients:;`, `((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL))`},
		{`Group: a@x, b@y;, c@z`, `((NIL NIL "Group" NIL)(NIL NIL "a" "x")(NIL NIL "b" "y")(NIL NIL NIL NIL)(NIL NIL "c" "z"))`},
		{`Unterminated: a@x`, `((NIL NIL "Unterminated" NIL)(NIL NIL "a" "x")(NIL NIL NIL NIL))`},
		{`user@host (Real Name)`, `(("Real Name" NIL "user" "host"))`},
		{`<>`, `((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))`},
		{`localonly`, `((NIL NIL "localonly" "MISSING_DOMAIN"))`},
		{`"quoted local"@example.com`, `((NIL NIL "quoted local" "example.com"))`},
		{`Name <user@[192.0.2.1]>`, `(("Name" NIL "user" "[192.0.2.1]"))`},
		{`=?utf-8?Q?J=C3=B6rg?= <j@example.de>`, `(("=?utf-8?Q?J=C3=B6rg?=" NIL "j" "example.de"))`},
		{`a@b.example,,, ,c@d.example`, `((NIL NIL "a" "b.example")(NIL NIL "c" "d.example"))`},
		{`broken <unterminated@example.com`, `(("broken" NIL "unterminated" "example.com"))`},
		{`x@y <real@example.com>`, `(("x@y" NIL "real" "example.com"))`},
		{`>>>weird<<<`, `((">>>weird" NIL "<<" "MISSING_DOMAIN"))`}, // garbage in, an address out
		{``, `NIL`},
		{`   `, `NIL`},
	}
	for _, c := range cases {
		got := addrs(ParseAddressList(c.in))
		if got != c.want {
			t.Errorf("ParseAddressList(%q)\n got  %s\n want %s", c.in, got, c.want)
		}
	}
}

// RFC 9051 §7.5.2: an absent or empty Sender or Reply-To is the From.
func TestEnvelopeDefaults(t *testing.T) {
	msg := "From: a@example.com\r\nSender: \r\nReply-To: r@example.com\r\nSubject: \r\n\r\n"
	e := Parse([]byte(msg)).Envelope()
	if got := addrs(e.Sender); got != `((NIL NIL "a" "example.com"))` {
		t.Errorf("Sender = %s", got)
	}
	if got := addrs(e.ReplyTo); got != `((NIL NIL "r" "example.com"))` {
		t.Errorf("Reply-To = %s", got)
	}
	if e.Subject != "" || e.Date != "" || e.To != nil {
		t.Errorf("envelope = %s", fmt.Sprint(envelope(e)))
	}
}
