package mime

import (
	"strings"
	"testing"
	"time"
)

func TestMatcher(t *testing.T) {
	cases := []struct {
		needle, text string
		want         bool
	}{
		{"", "anything", true},
		{"", "", true},
		{"meet", "do you think we can MEET at 3:30", true},
		{"3:30", "meet at 3:30 tomorrow", true},
		{"3:31", "meet at 3:30 tomorrow", false},
		{"tomorrow?", "meet at 3:30 tomorrow?", true},
		{"tomorrow?", "meet at 3:30 tomorrow", false},
		{"abc", "ab", false},
		{"aab", "aaab", true},
		{"Z", "xyz", true},
		{"xyz", "XY", false},
		{"café", "CAFÉ au lait", true},
		{"straße", "STRASSE", false}, // simple folding only: ß does not become ss
		{"σ", "ΟΔΟΣ", true},
		{"ς", "ΟΔΟΣ", true}, // final sigma folds with Σ
		{"ÄÖÜ", "äöü", true},
		{"日本", "こんにちは日本語", true},
		{"日本", "こんにちは", false},
		{"kelvin", "KELVIN", true},
	}
	for _, c := range cases {
		if got := NewMatcher(c.needle).Match([]byte(c.text)); got != c.want {
			t.Errorf("Match(%q in %q) = %v, want %v", c.needle, c.text, got, c.want)
		}
	}
}

// Brute force cross-check of the ASCII fast path.
func TestMatcherASCIIExhaustive(t *testing.T) {
	texts := []string{"", "a", "Ab", "aAbB", "xxYZxyz", "the quick brown fox", "aaaaaaab", "a b a b"}
	needles := []string{"a", "b", "ab", "AB", "ba", "xyz", "yz", "aab", "quick", " b", "z", "ab a"}
	for _, tx := range texts {
		for _, n := range needles {
			want := strings.Contains(strings.ToLower(tx), strings.ToLower(n))
			if got := NewMatcher(n).Match([]byte(tx)); got != want {
				t.Errorf("Match(%q in %q) = %v, want %v", n, tx, got, want)
			}
		}
	}
}

// C: a1 SEARCH BODY ... over the test messages.
func TestBodyContains(t *testing.T) {
	cases := []struct {
		file, needle string
		want         bool
	}{
		{"simple.eml", "3:30 TOMORROW", true},
		{"simple.eml", "afternoon", false}, // in the header only
		{"alternative.eml", "café", true},  // quoted-printable UTF-8
		{"alternative.eml", "It's very good", true},
		{"alternative.eml", "eacute", true}, // text/html is text too
		{"alternative.eml", "multi-part message", false},
		{"mixed.eml", "GRÜSSE", false},
		{"mixed.eml", "grüße aus köln", true}, // 8bit iso-8859-1
		{"mixed.eml", "anbei", true},
		{"mixed.eml", "Bericht über", false}, // only in the attachment's name
		{"nested.eml", "second LINE", true},  // inside message/rfc822
		{"encoded.eml", "5 € – “quoted”", true},
		{"encoded.eml", "=80", false},
		{"barelf.eml", "implicit", true},
		{"digest.eml", "first", true},
		{"rfc9051-sections.eml", "body 4.1", false}, // image/gif is not text
		{"rfc9051-sections.eml", "body 4.2.2.2", true},
	}
	for _, c := range cases {
		root := Parse(loadMsg(t, c.file))
		if got := BodyContains(root, c.needle); got != c.want {
			t.Errorf("%s: C: a1 SEARCH BODY %q -> %v, want %v", c.file, c.needle, got, c.want)
		}
	}
}

func TestHeaderAndTextContains(t *testing.T) {
	mixed := Parse(loadMsg(t, "mixed.eml"))
	enc := Parse(loadMsg(t, "encoded.eml"))
	simple := Parse(loadMsg(t, "simple.eml"))
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"SUBJECT über", HeaderContains(mixed, "subject", "ÜBER das"), true},
		{"SUBJECT für 2025", HeaderContains(mixed, "Subject", "für 2025"), true},
		{"SUBJECT raw word", HeaderContains(mixed, "Subject", "UTF-8?B"), false},
		{"FROM André", HeaderContains(enc, "From", "andré pirard"), true},
		{"SUBJECT adjacent words", HeaderContains(enc, "Subject", "this you understand"), true},
		{"HEADER X-Absent \"\"", HeaderContains(enc, "X-Absent", ""), false},
		{"HEADER Subject \"\"", HeaderContains(enc, "Subject", ""), true},
		{"TEXT header part", TextContains(simple, "afternoon meeting"), true},
		{"TEXT body part", TextContains(simple, "tomorrow"), true},
		{"TEXT field name", TextContains(simple, "message-id: <B27397"), true},
		{"TEXT absent", TextContains(simple, "evening"), false},
		{"TEXT MIME header", TextContains(mixed, "Annual report"), true},
		{"BODY MIME header", BodyContains(mixed, "Annual report"), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Mon, 7 Feb 1994 21:52:25 -0800 (PST)", "1994-02-07 21:52:25 -0800"},
		{"Thu, 26 Nov 2026 01:14:23 +0000", "2026-11-26 01:14:23 +0000"},
		{"26 Nov 2026 01:14 GMT", "2026-11-26 01:14:00 +0000"},
		{"Thu, 26 Nov 26 01:14:23 EST", "2026-11-26 01:14:23 -0500"},
		{"Fri, 1 Jan 99 00:00:00 +0100", "1999-01-01 00:00:00 +0100"},
		{"Sat, 09 Aug 2025 10:00:00 +02:00", "2025-08-09 10:00:00 +0200"},
		{"Tue Mar  3 12:00:00 2026", "2026-03-03 12:00:00 +0000"},
		{"Tue, 3 March 2026 12:00:00 +0100 (CET)", "2026-03-03 12:00:00 +0100"},
		{"2026-03-03T12:00:00Z", "2026-03-03 12:00:00 +0000"},
		{"3-Mar-2026 12:00:00 -0000", "2026-03-03 12:00:00 +0000"},
		{"Tue,3 Mar 2026 12:00:00+0100", "2026-03-03 12:00:00 +0100"},
		{"31 Feb 2026 10:00 +0000", "2026-02-28 10:00:00 +0000"},
		{"3 Mar 2026 25:61:00 +0000", "2026-03-03 00:00:00 +0000"},
		{"3 Mar 2026", "2026-03-03 00:00:00 +0000"},
		{"Di, 03.03.2026 12:00 +0100", "2026-03-03 12:00:00 +0100"},
	}
	for _, c := range cases {
		tm, ok := ParseDate(c.in)
		if !ok {
			t.Errorf("ParseDate(%q) failed", c.in)
			continue
		}
		if got := tm.Format("2006-01-02 15:04:05 -0700"); got != c.want {
			t.Errorf("ParseDate(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "garbage", "Mon, 7 1994", "12:00:00 +0000"} {
		if tm, ok := ParseDate(bad); ok {
			t.Errorf("ParseDate(%q) = %v, want failure", bad, tm)
		}
	}
	// SENTON compares dates in the zone written in the header (RFC 9051 §6.4.4).
	tm, _ := ParseDate("Mon, 7 Feb 1994 23:52:25 -0800")
	if y, m, d := tm.Date(); y != 1994 || m != time.February || d != 7 {
		t.Errorf("date in its own zone = %d-%d-%d", y, m, d)
	}
}

func TestBodyContainsUnknownCTE(t *testing.T) {
	root := Parse([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 notes.txt\r\n"))
	if !BodyContains(root, "NOTES.TXT") {
		t.Error("text with an unknown transfer encoding is not searched as stored")
	}
}
