package imap

import (
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStringRoundTrip: whatever AppendString/AppendAString choose, the
// parser reads back the same text.
func TestStringRoundTrip(t *testing.T) {
	texts := []string{"", "alice", "NIL", "nil", "two words", `q"uote`, `back\slash`, "line\r\nbreak",
		"nul\x00byte", "Éte 日本", "\xff\xfe invalid utf8", "a]b", "%*", "{5}", strings.Repeat("z", 5000), "(paren)"}
	for _, s := range texts {
		for name, enc := range map[string]func([]byte, string) []byte{
			"AppendString": AppendString, "AppendString7": AppendString7,
			"AppendAString": AppendAString, "AppendAString7": AppendAString7,
		} {
			line := enc([]byte("a LOGIN x "), s)
			line = append(line, "\r\n"...)
			c, err := Parse(line)
			if err != nil {
				t.Errorf("%s(%q) = %q: %v", name, s, line, err)
				continue
			}
			if got := c.Args.(*Login).Password; got != s {
				t.Errorf("%s(%q): read back %q", name, s, got)
			}
		}
	}
}

func TestEncodeForms(t *testing.T) {
	tests := []struct{ got, want string }{
		{string(AppendAString(nil, "INBOX")), "INBOX"},
		{string(AppendAString(nil, "NIL")), `"NIL"`},
		{string(AppendAString(nil, "")), `""`},
		{string(AppendAString(nil, "a b")), `"a b"`},
		{string(AppendString(nil, "a\"b")), `"a\"b"`},
		{string(AppendString(nil, "a\r\nb")), "{4}\r\na\r\nb"},
		{string(AppendString(nil, "Éte")), `"Éte"`},
		{string(AppendString7(nil, "Éte")), "{4}\r\nÉte"},
		{string(AppendNString(nil, nil)), "NIL"},
		{string(AppendNString(nil, ptr("x"))), `"x"`},
		{string(AppendLiteralHeader(nil, 42, true)), "~{42}\r\n"},
		{string(AppendFlagList(nil, []string{`\Seen`, "$Junk"})), `(\Seen $Junk)`},
		{string(AppendFlagList(nil, nil)), `()`},
		{string(AppendMailbox(nil, "Entwürfe", true)), "Entw&APw-rfe"},
		{string(AppendMailbox(nil, "Entwürfe", false)), `"Entwürfe"`},
		{string(AppendMailbox(nil, "Sent Items", true)), `"Sent Items"`},
		{string(AppendNumSet(nil, []uint32{1, 2, 3, 5, 7, 8, 4})), "1:3,5,7:8,4"},
		{string(AppendNumSet(nil, nil)), ""},
		{string(AppendNumSet(nil, []uint32{4294967295})), "4294967295"},
		{string(AppendSeqSet(nil, seq(SeqRange{1, Star}, one(4)))), "1:*,4"},
		{string(AppendSeqSet(nil, SeqSet{SearchRes: true})), "$"},
		{string(AppendUint(nil, 18446744073709551615)), "18446744073709551615"},
		{string(AppendDateTime(nil, time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC))), `"26-Nov-2026 01:02:03 +0000"`},
		{string(AppendDateTime(nil, time.Date(1996, 7, 7, 2, 44, 25, 0, time.FixedZone("", -(7*3600+30*60))))), `" 7-Jul-1996 02:44:25 -0730"`},
		{FormatDateTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))), " 2-Jan-2026 03:04:05 +0100"},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%d: got %q, want %q", i, tc.got, tc.want)
		}
	}
}

// TestFetchName: FETCH responses name items as RFC 9051 §7.5.2 says.
func TestFetchName(t *testing.T) {
	c, err := Parse([]byte("a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"X Y\")]<10.20> BINARY.PEEK[1.2]<0.5> BODY[1.MIME] BODY[] RFC822.SIZE BINARY.SIZE[3])\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range c.Args.(*Fetch).Items {
		names = append(names, string(AppendFetchName(nil, it)))
	}
	want := []string{`BODY[HEADER.FIELDS (From "X Y")]<10>`, "BINARY[1.2]<0>", "BODY[1.MIME]", "BODY[]", "RFC822.SIZE", "BINARY.SIZE[3]"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("got %q\nwant %q", names, want)
	}
}

func TestDates(t *testing.T) {
	for _, s := range []string{"1-Feb-1994", "01-feb-1994", "29-Feb-2024", "31-DEC-9999"} {
		if _, err := ParseDate(s); err != nil {
			t.Errorf("ParseDate(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "1-Feb-94", "29-Feb-2023", "0-Jan-2000", "32-Jan-2000", "1-Feb-1994 ", "123-Feb-1994", "1/Feb/1994", "1-Fe-19944"} {
		if _, err := ParseDate(s); err == nil {
			t.Errorf("ParseDate(%q) accepted", s)
		}
	}
	good := map[string]time.Time{
		"17-Jul-1996 02:44:25 -0700": time.Date(1996, 7, 17, 9, 44, 25, 0, time.UTC),
		" 7-Jul-1996 02:44:25 +0000": time.Date(1996, 7, 7, 2, 44, 25, 0, time.UTC),
		"7-Jul-1996 02:44:25 +0100":  time.Date(1996, 7, 7, 1, 44, 25, 0, time.UTC),
	}
	for s, want := range good {
		got, err := ParseDateTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseDateTime(%q) = %v, %v; want %v", s, got, err, want)
		}
		// Round trip through the encoder.
		back, err := ParseDateTime(FormatDateTime(got))
		if err != nil || !back.Equal(got) {
			t.Errorf("round trip of %q: %v %v", s, back, err)
		}
	}
	for _, s := range []string{"17-Jul-1996 02:44:25", "17-Jul-1996 24:00:00 +0000", "17-Jul-1996 02:44:25 0700", "17-Jul-1996 2:44:25 +0000", "17-Jul-1996 02:44:25 +0000 "} {
		if _, err := ParseDateTime(s); err == nil {
			t.Errorf("ParseDateTime(%q) accepted", s)
		}
	}
}

func TestSeqSet(t *testing.T) {
	c, err := Parse([]byte("a FETCH 2,4:7,9,12:* FLAGS\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Args.(*Fetch).Seq
	if !s.Dynamic() {
		t.Error("not dynamic")
	}
	// RFC 9051 §9: for a mailbox with 15 messages.
	if got := string(AppendRanges(nil, s.Resolve(15))); got != "2,4:7,9,12:15" {
		t.Errorf("Resolve(15) = %s", got)
	}
	// *:4,5:7 with 10 messages is 4:10.
	s2 := seq(SeqRange{Star, 4}, SeqRange{5, 7})
	if got := string(AppendRanges(nil, s2.Resolve(10))); got != "4:10" {
		t.Errorf("Resolve = %s", got)
	}
	// 3291:* includes the last UID even when it is lower.
	s3 := seq(SeqRange{3291, Star})
	if got := string(AppendRanges(nil, s3.Resolve(100))); got != "100:3291" {
		t.Errorf("Resolve = %s", got)
	}
	if got := s3.Resolve(0); len(got) != 1 || got[0] != (SeqRange{1, 3291}) {
		t.Errorf("Resolve(0) = %v", got)
	}
	if got := seq(one(Star)).Resolve(0); len(got) != 0 {
		t.Errorf("* in empty mailbox = %v", got)
	}
	for n, want := range map[uint32]bool{1: false, 2: true, 3: false, 5: true, 9: true, 10: false, 15: true, 16: false, 0: false} {
		if s.Contains(n, 15) != want {
			t.Errorf("Contains(%d) != %v", n, want)
		}
	}
	if s.String() != "2,4:7,9,12:*" {
		t.Errorf("String = %s", s)
	}
}

func TestNormalizeMailbox(t *testing.T) {
	if NormalizeMailbox("iNbOx") != "INBOX" || NormalizeMailbox("INBOXES") != "INBOXES" {
		t.Error("NormalizeMailbox")
	}
	if NormalizeMailboxDelim("inbox/Sub", '/') != "INBOX/Sub" || NormalizeMailboxDelim("inbox.x", '/') != "inbox.x" {
		t.Error("NormalizeMailboxDelim")
	}
}

// TestDependencies is the firewall: the wire layer stays pure. syscall is
// checked among direct imports only, because package time imports it. Of
// this module it may use only mutf7, itself pure.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "imapd/imapworker/imap").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	forbidden := []string{"net", "os", "os/exec", "imapd/ipc", "imapd/proto", "imapd/imapworker/store"}
	for _, dep := range strings.Fields(string(out)) {
		if slices.Contains(forbidden, dep) || strings.HasPrefix(dep, "net/") ||
			strings.HasPrefix(dep, "imapd/") && dep != "imapd/imapworker/imap" && dep != "imapd/imapworker/mutf7" {
			t.Errorf("imapworker/imap depends on %s", dep)
		}
	}
	out, err = exec.Command("go", "list", "-f", "{{join .Imports \"\\n\"}}", "imapd/imapworker/imap").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "syscall" || imp == "unsafe" || imp == "os" {
			t.Errorf("imapworker/imap imports %s", imp)
		}
	}
	if !strings.Contains(string(out), "bufio") {
		t.Fatalf("go list output looks wrong: %q", out)
	}
}
