package mime

import "testing"

// SEARCH FROM, TO, CC, BCC match addresses as RFC 5322 defines them.
func TestAddressContains(t *testing.T) {
	for _, tc := range []struct {
		field, needle string
		want          bool
	}{
		{"From: <user-from (comment)@ (comment) domain.org>", "user-from@domain.org", true},
		{"From: <user-from (comment)@ (comment) domain.org>", "USER-FROM@DOMAIN", true},
		{"From: <user-from (comment)@ (comment) domain.org>", "comment", true}, // the text itself still matches
		{"From: user (Joe Bloggs) @ example . org", "user@example.org", true},
		{`From: "joe.bloggs"@example.org`, "joe.bloggs@example.org", true},
		{`From: "Bloggs, Joe" <joe@example.org>`, "Bloggs, Joe <joe@", true},
		{"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>", "jürgen <j@example.org>", true},
		{"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.org>", "JÜRGEN", true},
		{"To: Team: a@x, b@y;, c@z", "b@y", true},
		{"To: Team: a@x, b@y;, c@z", "team: a@x, b@y;, c@z", true},
		{"To: Team: a@x, b@y;, c@z", "a@y", false},
		{"Cc: a@x,\r\n b@example.org", "b@example.org", true},
		{"Cc: a@x", "b@x", false},
		{"Bcc: <@route,@r2:user@host>", "user@host", true},
		{"To: nobody", "", true},        // an empty string matches a present field
		{"Subject: From: x", "", false}, // no From field at all
	} {
		p := Parse([]byte(tc.field + "\r\n\r\nbody\r\n"))
		name := tc.field[:indexColon(tc.field)]
		if name == "Subject" {
			name = "From"
		}
		if got := NewMatcher(tc.needle).AddressContains(p, name); got != tc.want {
			t.Errorf("%q contains %q: %v, want %v (as %q)", tc.field, tc.needle, got, tc.want,
				addressText(p.Header.Get(name)))
		}
	}
}

func indexColon(s string) int {
	for i := range s {
		if s[i] == ':' {
			return i
		}
	}
	return len(s)
}
