package mime

import (
	"slices"
	"testing"
)

// RFC 5256 §2.1 base subject extraction, step by step.
func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct {
		in, base string
		reply    bool
	}{
		{"", "", false},
		{"Hello", "Hello", false},
		{"Re: Hello", "Hello", true},
		{"RE: re: Fwd: Hello", "Hello", true},
		{"Re[2]: Hello", "Hello", true},
		{"Re [2]: Hello", "Hello", true},
		{"Fw: Hello", "Hello", true},
		{"FWD:Hello", "Hello", true},
		{"[list] Re: Hello", "Hello", true},
		{"[list] Hello", "Hello", false},
		{"[list]", "[list]", false}, // the last blob is the base when nothing else is left
		{"[a] [b]", "[b]", false},
		{"Hello (fwd)", "Hello", true},
		{"Hello (FWD) (fwd)  ", "Hello", true},
		{"[fwd: Hello]", "Hello", true},
		{"[Fwd: Re: Hello (fwd)]", "Hello", true},
		{"  Hello\t  world  ", "Hello world", false},
		{"Re:   Re:Hello", "Hello", true},
		{"Reply: x", "Reply: x", false},
		{"Re Hello", "Re Hello", false},
		{"=?UTF-8?Q?Re=3A_Gr=C3=BC=C3=9Fe?=", "Grüße", true},
		{"Re: =?ISO-8859-1?Q?caf=E9?=", "café", true},
		{"Re: caf\xe9", "café", true}, // raw 8-bit, not UTF-8: windows-1252
		{"Re: Grüße", "Grüße", true},  // raw UTF-8
		{"[fwd: unterminated", "[fwd: unterminated", false},
	} {
		base, reply := BaseSubject(tc.in)
		if base != tc.base || reply != tc.reply {
			t.Errorf("BaseSubject(%q) = %q, %v; want %q, %v", tc.in, base, reply, tc.base, tc.reply)
		}
	}
}

func TestCollate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abc", "ABC"}, {"ABC", "ABC"}, {"a_b", "A_B"}, {"grüße", "GRU\u0308ßE"}, {"Äpfel", "A\u0308PFEL"}, {"ﬁne", "FINE"}, {"Ｆｕｌｌ", "FULL"}, {"école", "E\u0301COLE"}, {"\xff", "\xff"},
	} {
		if got := Collate(tc.in); got != tc.want {
			t.Errorf("Collate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// i;ascii-casemap: "_" sorts after letters, as upper case puts it.
	if !(Collate("a") < Collate("_")) {
		t.Error(`"a" should collate before "_"`)
	}
}

func TestSortAddresses(t *testing.T) {
	for _, tc := range []struct{ in, mailbox, display string }{
		{"", "", ""},
		{"Alice <alice@example.org>", "alice", "Alice"},
		{"bob@example.org, Alice <alice@example.org>", "bob", "bob@example.org"},
		{`"Smith, John" <js@example.org>`, "js", "Smith, John"},
		{"=?UTF-8?Q?J=C3=BCrgen?= <j@example.org>", "j", "Jürgen"},
		{"<user-from (comment)@ (comment) domain.org>", "user-from", "user-from@domain.org"},
		{"Team: carol@example.org;", "Team", "Team"},
		{"undisclosed-recipients:;", "undisclosed-recipients", "undisclosed-recipients"},
	} {
		if got := FirstMailbox(tc.in); got != tc.mailbox {
			t.Errorf("FirstMailbox(%q) = %q, want %q", tc.in, got, tc.mailbox)
		}
		if got := DisplayName(tc.in); got != tc.display {
			t.Errorf("DisplayName(%q) = %q, want %q", tc.in, got, tc.display)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"<a@b>", []string{"a@b"}},
		{`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>`, []string{"01KF8JCEOCBS0045PS@xxx.yyy.com"}},
		{"<a@b> (comment) <c@d>\r\n <e@f>", []string{"a@b", "c@d", "e@f"}},
		{"<broken> <a@b> <@x> <y@>", []string{"a@b"}},
		{"<a@b> from Joe <joe@x>", []string{"a@b", "joe@x"}},
		{"<a@\r\n b>", []string{"a@b"}},
		{"<unterminated@x", nil},
	} {
		if got := MessageIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("MessageIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
