package mime

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchMessage is a typical mailing-list sized message: a plain and a
// quoted-printable HTML alternative plus a base64 attachment.
func benchMessage() []byte {
	var b strings.Builder
	b.WriteString("Received: from mx.example.net by mail.example.org; Thu, 26 Nov 2026 01:00:00 +0000\r\n" +
		"Received: from client.example.net by mx.example.net; Thu, 26 Nov 2026 00:59:59 +0000\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=sel; h=from:to:subject:date;\r\n" +
		" bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==\r\n" +
		"From: \"Example Sender\" <sender@example.net>\r\nTo: list@example.org\r\n" +
		"Subject: =?utf-8?Q?Weekly_report_=E2=80=94_week_48?=\r\nDate: Thu, 26 Nov 2026 00:59:58 +0000\r\n" +
		"Message-ID: <bench-1@example.net>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\r\n" +
		"--mixed-b\r\nContent-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n" +
		"--alt-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "Line %d of the weekly report: all systems nominal, nothing to see here.\r\n", i)
	}
	b.WriteString("--alt-b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&b, "<p style=3D\"margin:0\">Line %d of the weekly report: all systems nominal=\r\n, nothing to see here.</p>\r\n", i)
	}
	b.WriteString("--alt-b--\r\n\r\n--mixed-b\r\nContent-Type: application/pdf; name=report.pdf\r\n" +
		"Content-Disposition: attachment; filename=report.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	att := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("%PDF-1.4 binary-ish payload ", 1500)))
	for len(att) > 76 {
		b.WriteString(att[:76] + "\r\n")
		att = att[76:]
	}
	b.WriteString(att + "\r\n--mixed-b--\r\n")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	msg := benchMessage()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Parse(msg)
	}
}

// SEARCH BODY over one message: parse plus search, needle absent so every
// text part is read to the end (the worst case for a miss).
func BenchmarkBodyContains(b *testing.B) {
	small := loadMsg(b, "alternative.eml")
	b.Run("small-qp", func(b *testing.B) {
		m := NewMatcher("quarterly")
		b.SetBytes(int64(len(small)))
		b.ReportAllocs()
		for b.Loop() {
			if m.BodyContains(Parse(small)) {
				b.Fatal("unexpected match")
			}
		}
	})
	msg := benchMessage()
	for _, needle := range []string{"quarterly", "Überblick"} {
		b.Run("70k-"+needle, func(b *testing.B) {
			m := NewMatcher(needle)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if m.BodyContains(Parse(msg)) {
					b.Fatal("unexpected match")
				}
			}
		})
	}
}

// The matcher alone over 64 KiB of text.
func BenchmarkMatchASCII(b *testing.B) {
	text := []byte(strings.Repeat("all systems nominal, nothing to see here. ", 1600))
	m := NewMatcher("Quarterly")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if m.Match(text) {
			b.Fatal("unexpected match")
		}
	}
}

func TestBenchMessageShape(t *testing.T) {
	root := Parse(benchMessage())
	if got := bodyStructure(root); !strings.Contains(got, `"alternative")("application" "pdf"`) {
		t.Errorf("unexpected structure %s", got)
	}
	if !BodyContains(root, "NOTHING TO SEE") || !BodyContains(root, "nominal, nothing") {
		t.Error("bench message text not found")
	}
}
