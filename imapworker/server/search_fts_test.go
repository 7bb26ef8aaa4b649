package server

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	stdmime "mime"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"imapd/imapworker/store"
)

// ftsWords mixes ASCII, Latin-1, Greek, CJK and runes whose case folding
// leaves ASCII (U+212A KELVIN SIGN, U+017F LONG S).
var ftsWords = []string{
	"alpha", "Beta", "gamma", "quarterly", "Report", "the", "and", "zebra", "x", "ab",
	"naïve", "Grüße", "STRASSE", "straße", "école", "ÉCOLE", "Σίσυφος", "ΣΊΣΥΦΟΣ",
	"\u212Aelvin", "kelvin", "\u017Fun", "日本語", "テキスト", "café", "CAFÉ", "€uro",
	// Longer than the index keeps as one token (imapworker/fts).
	"Donaudampfschifffahrtselektrizitaetenhauptbetriebswerkbauunterbeamtengesellschaft0123456789",
}

// ftsText returns n random words joined by random separators, ASCII
// letters' case flipped at random.
func ftsText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString([]string{" ", " ", "  ", ", ", "-", "\r\n", ". "}[r.IntN(7)])
		}
		for _, c := range ftsWords[r.IntN(len(ftsWords))] {
			if c < 128 && r.IntN(6) == 0 {
				c ^= 0x20 * rune(bool2int('a' <= c|0x20 && c|0x20 <= 'z'))
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}

func bool2int(b bool) int {
	if b {
		return 1
	}
	return 0
}

// latin1 encodes s in ISO-8859-1, ok false if it cannot.
func latin1(s string) (string, bool) {
	var b []byte
	for _, c := range s {
		if c > 0xff {
			return "", false
		}
		b = append(b, byte(c))
	}
	return string(b), true
}

// ftsPart returns a text part (header and body) with a random charset and
// transfer encoding.
func ftsPart(r *rand.Rand, sub string, text string) string {
	charset, body := "utf-8", text
	if l, ok := latin1(text); ok && r.IntN(3) == 0 {
		charset, body = "iso-8859-1", l
	}
	var enc string
	switch r.IntN(3) {
	case 0:
		enc = "8bit"
	case 1:
		enc = "base64"
		s := base64.StdEncoding.EncodeToString([]byte(body))
		var w strings.Builder
		for len(s) > 76 {
			w.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		body = w.String() + s
	default:
		enc = "quoted-printable"
		var w strings.Builder
		q := quotedprintable.NewWriter(&w)
		q.Write([]byte(body))
		q.Close()
		body = w.String()
	}
	return fmt.Sprintf("Content-Type: text/%s; charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n%s\r\n", sub, charset, enc, body)
}

// ftsSubject returns a Subject field: raw UTF-8, raw Latin-1, or RFC 2047
// encoded words, sometimes folded.
func ftsSubject(r *rand.Rand, text string) string {
	text = strings.ReplaceAll(text, "\r\n", " ")
	v := text
	switch r.IntN(4) {
	case 0:
		v = stdmime.BEncoding.Encode("UTF-8", text)
	case 1:
		v = stdmime.QEncoding.Encode("UTF-8", text)
	case 2:
		if l, ok := latin1(text); ok {
			v = stdmime.QEncoding.Encode("ISO-8859-1", l)
			if r.IntN(2) == 0 {
				v = l // 8-bit Latin-1, read as Latin-1 by DecodeHeader
			}
		}
	}
	switch i := strings.IndexByte(v, ' '); {
	case i <= 0:
	case r.IntN(4) == 0:
		v = v[:i] + "\r\n " + v[i+1:] // folded
	case r.IntN(8) == 0:
		v = v[:i] + "\r" + v[i+1:] // a lone CR, which unfolding drops
	}
	return "Subject: " + v + "\r\n"
}

// ftsMessage returns a random message and the texts it was made of, from
// which needles are cut.
func ftsMessage(r *rand.Rand, i int) (msg string, texts []string) {
	subj := ftsText(r, 1+r.IntN(4))
	body := ftsText(r, 3+r.IntN(30))
	texts = []string{subj, body}
	h := fmt.Sprintf("From: sender%d@example.org\r\nTo: rcpt@example.net\r\nMessage-ID: <%d@fts>\r\n", i, i) + ftsSubject(r, subj) + "MIME-Version: 1.0\r\n"
	switch r.IntN(4) {
	case 0:
		return h + ftsPart(r, "plain", body), texts
	case 1:
		other := ftsText(r, 5)
		texts = append(texts, other)
		return h + "Content-Type: multipart/alternative; boundary=b1\r\n\r\npreamble " + ftsText(r, 2) + "\r\n--b1\r\n" +
			ftsPart(r, "plain", body) + "--b1\r\n" + ftsPart(r, "html", "<p>"+other+"</p>") + "--b1--\r\n", texts
	case 2:
		// Words in an attachment match no BODY: it is not text.
		att := base64.StdEncoding.EncodeToString([]byte(ftsText(r, 8)))
		return h + "Content-Type: multipart/mixed; boundary=\"mx\"\r\n\r\n--mx\r\n" + ftsPart(r, "plain", body) +
			"--mx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + att + "\r\n--mx--\r\n", texts
	default:
		inner := ftsText(r, 6)
		texts = append(texts, inner)
		return h + "Content-Type: multipart/mixed; boundary=m2\r\n\r\n--m2\r\n" + ftsPart(r, "plain", body) +
			"--m2\r\nContent-Type: message/rfc822\r\n\r\n" + ftsSubject(r, inner) + "From: inner@example.com\r\n" +
			ftsPart(r, "plain", inner) + "--m2--\r\n", texts
	}
}

// ftsNeedle cuts a random needle: a substring of a text (across word
// boundaries too), cases flipped, or a word, or one too short to index.
func ftsNeedle(r *rand.Rand, texts []string) string {
	switch r.IntN(8) {
	case 0:
		return ftsWords[r.IntN(len(ftsWords))]
	case 1:
		return []string{"a", "ab", "é", "日", "zz", "q"}[r.IntN(6)]
	}
	t := []rune(texts[r.IntN(len(texts))])
	n := 1 + r.IntN(min(len(t), 40))
	i := r.IntN(len(t) - n + 1)
	s := []rune(string(t[i : i+n]))
	for j, c := range s {
		if r.IntN(3) == 0 {
			if u := []rune(strings.ToUpper(string(c))); len(u) == 1 {
				s[j] = u[0]
			}
		}
	}
	return string(s)
}

// imapString quotes s, or sends it as a LITERAL+ literal.
func imapString(s string) string {
	if !strings.ContainsAny(s, "\"\\\r\n") && utf8.ValidString(s) && isPrintASCII(s) {
		return `"` + s + `"`
	}
	return fmt.Sprintf("{%d+}\r\n%s", len(s), s)
}

func isPrintASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// TestTextIndexDifferential: on Maildir, SEARCH BODY, TEXT and SUBJECT
// with random needles answer the same with the full-text index as by
// reading every message, and the index did narrow.
func TestTextIndexDifferential(t *testing.T) {
	withMaildir(t)
	ts := newTestServer(t)
	r := rand.New(rand.NewPCG(18, 3))
	var all [][]string
	var msgs []string
	for i := range 150 {
		m, texts := ftsMessage(r, i)
		msgs = append(msgs, m)
		all = append(all, texts)
	}
	seed(t, ts, msgs...)
	c := ts.login("alice")
	selectInbox(c)
	// A second handle asks the index directly, to see it narrow.
	u, err := ts.backend.Open("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Select("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	uids := make([]uint32, len(mb.Messages()))
	for i, m := range mb.Messages() {
		uids[i] = m.UID
	}
	keys := []string{"BODY", "TEXT", "SUBJECT"}
	fields := []store.TextField{store.TextBody, store.TextAll, store.TextSubject}
	narrowed, answered, hits := 0, 0, 0
	for q := range 400 {
		needle := ftsNeedle(r, all[r.IntN(len(all))])
		key := keys[q%3]
		cmd := fmt.Sprintf("SEARCH CHARSET UTF-8 %s %s", key, imapString(needle))
		switch r.IntN(6) {
		case 0:
			cmd = fmt.Sprintf("SEARCH CHARSET UTF-8 OR %s %s SUBJECT %s", key, imapString(needle), imapString(ftsNeedle(r, all[r.IntN(len(all))])))
		case 1:
			cmd = fmt.Sprintf("SEARCH CHARSET UTF-8 NOT %s %s", key, imapString(needle))
		case 2:
			cmd = fmt.Sprintf("UID SEARCH CHARSET UTF-8 %s %s %s %s", key, imapString(needle), keys[r.IntN(3)], imapString(ftsNeedle(r, all[r.IntN(len(all))])))
		}
		useTextIndex.Store(false)
		scan, scanOK := c.do("s1 " + cmd)
		useTextIndex.Store(true)
		idx, idxOK := c.do("s1 " + cmd)
		if strings.Join(scan, "\n") != strings.Join(idx, "\n") || scanOK != idxOK {
			t.Fatalf("C: s1 %s\nscan:  %q %q\nindex: %q %q", cmd, scan, scanOK, idx, idxOK)
		}
		if len(scan) == 1 && scan[0] != "* SEARCH" {
			hits++
		}
		if sure, maybe, ok := mb.(store.TextSearcher).TextMatches(fields[q%3], needle, uids); ok && len(sure)+len(maybe) < len(uids) {
			narrowed++
			if len(sure) > 0 {
				answered++
			}
		}
	}
	t.Logf("%d searches found messages; the index narrowed %d, answered some without reading %d", hits, narrowed, answered)
	if hits < 100 || narrowed < 100 || answered < 50 {
		t.Fatalf("too few searches found anything (%d), were narrowed (%d) or answered (%d) by the index", hits, narrowed, answered)
	}
}

// TestTextIndexMaintained: the index follows APPEND, COPY, MOVE,
// EXPUNGE, a delivery into new/, a file removed by hand, and is rebuilt
// when deleted, corrupted or torn; every answer is the scan's.
func TestTextIndexMaintained(t *testing.T) {
	root := t.TempDir()
	withMaildirIn(t, root)
	md := filepath.Join(root, "alice", "Maildir")
	ts := newTestServer(t)
	seed(t, ts,
		"Subject: one\r\n\r\nzebra crossing\r\n",
		"Subject: two\r\n\r\nnothing special\r\n",
		"Subject: =?UTF-8?Q?zebra_n=C3=A9ws?=\r\n\r\nquartz\r\n")
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("a1 SEARCH BODY zebra", "* SEARCH 1", "a1 OK SEARCH completed")
	c.expectDo("a2 SEARCH TEXT zebra", "* SEARCH 1 3", "a2 OK SEARCH completed")
	c.expectDo("a3 SEARCH CHARSET UTF-8 SUBJECT {5+}\r\nNÉWS", "* SEARCH 3", "a3 OK SEARCH completed")
	ftsFile := filepath.Join(md, "imapd.fts")
	if _, err := os.Stat(ftsFile); err != nil {
		t.Fatal("no index after a text SEARCH:", err)
	}
	msg := "Subject: four\r\n\r\na zebra again\r\n"
	c.C(fmt.Sprintf("a4 APPEND INBOX {%d+}\r\n%s", len(msg), msg))
	c.transcript(`
		S: * 4 EXISTS
		S~ \* \d RECENT
		S~ a4 OK \[APPENDUID \d+ 4\] APPEND completed
		C: a6 SEARCH BODY zebra
		S: * SEARCH 1 4
		S: a6 OK SEARCH completed
		C: a7 COPY 1 Archive
		S~ a7 OK \[COPYUID \d+ 1 1\] COPY completed
		C: a8 MOVE 4 Archive
		S~ \* OK \[COPYUID \d+ 4 2\] Moved
		S: * 4 EXPUNGE
		S: a8 OK MOVE completed
		C: a9 SEARCH BODY zebra
		S: * SEARCH 1
		S: a9 OK SEARCH completed
		C: b1 EXAMINE Archive
	`)
	c.until("b1 OK")
	c.transcript(`
		C: b2 SEARCH BODY zebra
		S: * SEARCH 1 2
		S: b2 OK SEARCH completed
		C: b3 SEARCH BODY again
		S: * SEARCH 2
		S: b3 OK SEARCH completed
		C: b4 SELECT INBOX
	`)
	c.until("b4 OK")
	c.transcript(`
		C: b5 STORE 1 +FLAGS.SILENT (\Deleted)
		S: b5 OK STORE completed
		C: b6 EXPUNGE
		S: * 1 EXPUNGE
		S: b6 OK EXPUNGE completed
		C: b7 SEARCH BODY zebra
		S: * SEARCH
		S: b7 OK SEARCH completed
		C: b8 SEARCH TEXT zebra
		S: * SEARCH 2
		S: b8 OK SEARCH completed
	`)
	// An MDA delivers into new/.
	writeMsg(t, filepath.Join(md, "new", "1700000000.M1P1.mda"), "Subject: mda\r\n\r\nzebra by mda\r\n")
	c.transcript(`
		C: c1 NOOP
		S: * 3 EXISTS
		S~ \* \d RECENT
		S: c1 OK NOOP completed
		C: c2 SEARCH BODY zebra
		S: * SEARCH 3
		S: c2 OK SEARCH completed
	`)
	// A file removed by hand: the message is gone, not searched.
	removeMsg(t, md, "zebra_n=C3=A9ws")
	c.transcript(`
		C: c3 NOOP
		S: * 2 EXPUNGE
		S: c3 OK NOOP completed
		C: c4 SEARCH TEXT zebra
		S: * SEARCH 2
		S: c4 OK SEARCH completed
	`)
	// The index deleted, then corrupted in place, then torn: rebuilt,
	// the same answers.
	for i, damage := range []func(){
		func() { os.Remove(ftsFile) },
		func() { flipByte(t, ftsFile, 40) },
		func() { truncateBy(t, ftsFile, 9) },
		func() { os.WriteFile(ftsFile, []byte("IMAPDFTS garbage"), 0o600) },
	} {
		damage()
		c.expectDo(fmt.Sprintf("d%d SEARCH TEXT zebra", i), "* SEARCH 2", fmt.Sprintf("d%d OK SEARCH completed", i))
		c.expectDo(fmt.Sprintf("e%d SEARCH BODY special", i), "* SEARCH 1", fmt.Sprintf("e%d OK SEARCH completed", i))
		if b, err := os.ReadFile(ftsFile); err != nil || len(b) < 40 || !strings.HasPrefix(string(b), "IMAPDFTS") {
			t.Fatalf("damage %d: index not rebuilt (%d bytes, %v)", i, len(b), err)
		}
	}
}

func writeMsg(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// removeMsg removes the file in cur/ holding text.
func removeMsg(t *testing.T, md, text string) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil && strings.Contains(string(b), text) {
			if err := os.Remove(n); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no file holds %q", text)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x55
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-n); err != nil {
		t.Fatal(err)
	}
}
