package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Messages of the kinds a mailbox really holds: short plain notes,
// text+HTML newsletters, and mail with attachments. Sizes run from about
// 1 KB to 250 KB, most of them small.

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her all she there would their we him been has when who will
more no if out so said what up its about into than them can only other new some could time these two may
then do first any my now such like our over man me even most made after also did many before must through
back years where much your way well down should because each just those people how too little state good
very make world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three meeting
budget quarterly report invoice project deadline review schedule release server migration backup
customer contract proposal conference travel expense holiday agenda minutes draft feedback`)

// Message describes one generated message.
type Message struct {
	Subject string
	Raw     []byte // CRLF line endings
}

// genMessage makes one realistic message of roughly the given size.
// Kind: below 8 KB plain or multipart/alternative, above that
// multipart/mixed with a base64 attachment carrying most of the bytes.
func genMessage(r *rand.Rand, seq int, size int, date time.Time) Message {
	var b bytes.Buffer
	subj := sentence(r, 3+r.IntN(6))
	from := fmt.Sprintf("%s %s <%s.%s@example.org>", title(word(r)), title(word(r)), word(r), word(r))
	to := fmt.Sprintf("%s <user%d@example.net>", title(word(r)), r.IntN(1000))
	boundary := fmt.Sprintf("=_bench_%d_%08x", seq, r.Uint32())
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("Return-Path", "<sender@example.org>")
	h("Received", fmt.Sprintf("from mx%d.example.org (mx.example.org [192.0.2.%d])\r\n\tby mail.example.net with ESMTPS id %08x\r\n\tfor <user@example.net>; %s",
		r.IntN(9), r.IntN(250), r.Uint32(), date.Format(time.RFC1123Z)))
	h("From", from)
	h("To", to)
	if r.IntN(3) == 0 {
		h("Cc", fmt.Sprintf("%s <cc%d@example.com>, <list@lists.example.com>", title(word(r)), r.IntN(100)))
	}
	h("Subject", subj)
	h("Date", date.Format(time.RFC1123Z))
	h("Message-ID", fmt.Sprintf("<%d.%08x@bench.example.org>", seq, r.Uint32()))
	h("MIME-Version", "1.0")
	switch {
	case size < 4096 && r.IntN(2) == 0:
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "8bit")
		b.WriteString("\r\n")
		paragraphs(&b, r, size-b.Len())
	case size < 8192:
		h("Content-Type", fmt.Sprintf("multipart/alternative; boundary=\"%s\"", boundary))
		b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n\r\n")
		body := (size - b.Len() - 300) / 2
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary)
		paragraphs(&b, r, body)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n", boundary)
		htmlParagraphs(&b, r, body)
		fmt.Fprintf(&b, "</body></html>\r\n--%s--\r\n", boundary)
	default:
		h("Content-Type", fmt.Sprintf("multipart/mixed; boundary=\"%s\"", boundary))
		b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n\r\n")
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
		paragraphs(&b, r, 800+r.IntN(2000))
		name, ctype := attachment(r)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			boundary, ctype, name, name)
		raw := (size - b.Len() - 100) * 3 / 4
		if raw < 100 {
			raw = 100
		}
		blob := make([]byte, raw)
		for i := range blob {
			blob[i] = byte(r.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(blob)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
		fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	}
	return Message{Subject: subj, Raw: b.Bytes()}
}

// messageSize draws a size: 60% 1-8 KB, 30% 8-50 KB, 10% 50-250 KB.
func messageSize(r *rand.Rand) int {
	switch p := r.IntN(10); {
	case p < 6:
		return 1024 + r.IntN(7*1024)
	case p < 9:
		return 8*1024 + r.IntN(42*1024)
	default:
		return 50*1024 + r.IntN(200*1024)
	}
}

func attachment(r *rand.Rand) (name, ctype string) {
	switch r.IntN(3) {
	case 0:
		return word(r) + "-" + word(r) + ".pdf", "application/pdf"
	case 1:
		return "IMG_" + fmt.Sprint(1000+r.IntN(9000)) + ".jpg", "image/jpeg"
	default:
		return word(r) + ".zip", "application/zip"
	}
}

func word(r *rand.Rand) string { return words[r.IntN(len(words))] }

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func sentence(r *rand.Rand, n int) string {
	ws := make([]string, n)
	for i := range ws {
		ws[i] = word(r)
	}
	return title(strings.Join(ws, " "))
}

// paragraphs writes about n bytes of text in lines under 78 octets.
func paragraphs(b *bytes.Buffer, r *rand.Rand, n int) {
	end := b.Len() + n
	col := 0
	for b.Len() < end {
		w := word(r)
		if col+len(w)+1 > 72 {
			b.WriteString("\r\n")
			col = 0
			if r.IntN(6) == 0 {
				b.WriteString("\r\n")
			}
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteString("\r\n")
}

func htmlParagraphs(b *bytes.Buffer, r *rand.Rand, n int) {
	end := b.Len() + n
	for b.Len() < end {
		b.WriteString("<p>")
		paragraphs(b, r, 200+r.IntN(400))
		b.WriteString("</p>\r\n")
	}
}
