package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// folderGenVersion changes whenever the generated messages change, so a
// cached folder built by an older generator is never reused.
const folderGenVersion = 4

// The words the searches look for. Neither occurs anywhere else: the
// vocabulary below has no word containing them.
const (
	folderSubjectWord = "invoice"
	folderRareWord    = "zymurgical"
)

// folderManifest describes a generated folder and what a correct server
// must answer about it.
type folderManifest struct {
	Version      int    `json:"version"`
	Messages     int    `json:"messages"`
	Seed         uint64 `json:"seed"`
	Bytes        int64  `json:"bytes"`
	Unseen       int    `json:"unseen"`
	Flagged      int    `json:"flagged"`
	SubjectWord  string `json:"subject_word"`
	SubjectHits  int    `json:"subject_hits"`
	RareWord     string `json:"rare_word"`
	BodyHits     int    `json:"body_hits"`
	LargeFile    string `json:"large_file"`
	LargeSize    int64  `json:"large_size"`
	GeneratedFor string `json:"generated_for"`
}

var folderVocab = strings.Fields(`the a of and to in is that for it with as was on be at by this had not are
but from or have an they which one you were her all she there would their we him been has when who will more
no if out so said what up its about into than them can only other new some could time these two may then do
first any my now such like our over man me even most made after also did many before must through back years
where much your way well down should because each just those people how too little state good very make world
still own see men work long get here between both life being under never day same another know while last
might us great old year off come since against go came right used take three meeting project budget report
schedule review draft release server cluster backup network deploy update patch team quarter plan contract
travel lunch weekend family photos garden holiday ticket flight hotel order shipping delivery account payment
receipt statement newsletter offer discount webinar agenda minutes notes proposal feedback question answer
issue bug feature roadmap design document spreadsheet slides presentation deadline tomorrow friday monday
morning evening thanks regards cheers hello please attached forward reply urgent important reminder`)

var folderNames = strings.Fields(`alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia
peggy rupert sybil trent victor walter yolanda zoe martin sophie lucas emma hugo clara felix nora oscar`)

var folderDomains = strings.Fields(`example.com example.org example.net mail.example.com lists.example.org
corp.example shop.example news.example`)

// Subjects that force encoding (RFC 2047) and UTF-8 bodies.
var folderUTF8Words = strings.Fields(`café résumé naïve Grüße Straße déjà über façade crème señor`)

// folderMsg is one generated message with the facts the manifest needs.
type folderMsg struct {
	data        []byte
	date        time.Time
	seen        bool
	flagged     bool
	answered    bool
	subjectHit  bool
	bodyHit     bool
	large       bool
	inNew       bool
	subjectText string
}

type folderGen struct {
	r        *rand.Rand
	forceB64 bool // the next text part is base64, so SEARCH BODY must decode it
}

func (g *folderGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *folderGen) addr() string {
	n := g.pick(folderNames)
	d := g.pick(folderDomains)
	if g.r.IntN(3) == 0 {
		return fmt.Sprintf("%s@%s", n, d)
	}
	return fmt.Sprintf("%s%s <%s@%s>", strings.ToUpper(n[:1]), n[1:], n, d)
}

func (g *folderGen) words(n int) []string {
	w := make([]string, n)
	for i := range w {
		w[i] = g.pick(folderVocab)
	}
	return w
}

// text writes about size bytes of wrapped sentences; utf8 mixes in
// non-ASCII words; rare puts the rare word once in the middle.
func (g *folderGen) text(size int, utf8, rare bool) string {
	var b strings.Builder
	line := 0
	rareAt := -1
	if rare {
		rareAt = size / 2
	}
	for b.Len() < size {
		w := g.pick(folderVocab)
		if utf8 && g.r.IntN(12) == 0 {
			w = g.pick(folderUTF8Words)
		}
		if rareAt >= 0 && b.Len() >= rareAt {
			w = folderRareWord
			rareAt = -1
		}
		if line+len(w)+1 > 72 {
			b.WriteString("\r\n")
			line = 0
			if g.r.IntN(8) == 0 {
				b.WriteString("\r\n")
			}
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

func folderB64Lines(raw []byte) string {
	enc := base64.StdEncoding.EncodeToString(raw)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76*2 + 2)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.String()
}

func folderQP(s string) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	w.Binary = false
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return strings.ReplaceAll(strings.ReplaceAll(buf.String(), "\r\n", "\n"), "\n", "\r\n")
}

// textPart renders a text/plain part in one of the encodings a real
// mailbox holds, so SEARCH BODY must decode to find the rare word.
func (g *folderGen) textPart(size int, rare bool) string {
	utf8 := g.r.IntN(5) == 0
	body := g.text(size, utf8, rare)
	k := g.r.IntN(10)
	if g.forceB64 && rare {
		g.forceB64, k, utf8 = false, 9, true
	}
	switch {
	case k < 6 && !utf8:
		return "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + body
	case k < 9:
		return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + folderQP(body)
	default:
		return "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + folderB64Lines([]byte(body))
	}
}

func (g *folderGen) htmlPart(size int, rare bool) string {
	body := g.text(size, false, rare)
	html := "<html><body><p>" + strings.ReplaceAll(body, "\r\n\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
	return "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + folderQP(html)
}

func (g *folderGen) attachment(size int) string {
	raw := make([]byte, size*3/4)
	for i := 0; i+8 <= len(raw); i += 8 {
		v := g.r.Uint64()
		for j := range 8 {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	types := []struct{ ct, ext string }{
		{"application/pdf", "pdf"}, {"image/jpeg", "jpg"}, {"image/png", "png"},
		{"application/zip", "zip"}, {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
	}
	t := types[g.r.IntN(len(types))]
	name := fmt.Sprintf("%s-%d.%s", g.pick(folderVocab), g.r.IntN(1000), t.ext)
	return fmt.Sprintf("Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		t.ct, name, name) + folderB64Lines(raw)
}

func (g *folderGen) boundary() string {
	return fmt.Sprintf("=_b%016x", g.r.Uint64())
}

func folderMultipart(sub, boundary string, parts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME format.\r\n", sub, boundary)
	for _, p := range parts {
		fmt.Fprintf(&b, "\r\n--%s\r\n%s", boundary, p)
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.String()
}

// subject returns the raw header value and the decoded text.
func (g *folderGen) subject() (raw, text string) {
	w := g.words(2 + g.r.IntN(7))
	if g.r.IntN(40) == 0 {
		w[g.r.IntN(len(w))] = folderSubjectWord
	}
	utf8 := g.r.IntN(10) == 0
	if utf8 {
		w[g.r.IntN(len(w))] = g.pick(folderUTF8Words)
	}
	text = strings.Join(w, " ")
	text = strings.ToUpper(text[:1]) + text[1:]
	switch g.r.IntN(10) {
	case 0:
		text = "Re: " + text
	case 1:
		text = "Fwd: " + text
	}
	if utf8 {
		if g.r.IntN(2) == 0 {
			return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(text)) + "?=", text
		}
		return "=?utf-8?Q?" + strings.ReplaceAll(strings.TrimSuffix(folderQP(text), "\r\n"), " ", "_") + "?=", text
	}
	return text, text
}

// message builds message i of n. Sizes: mostly 1-10 KB text, some
// alternative text+html, about one in nine with an attachment of 20 KB
// to 1 MB (log-uniform), a few forwarded messages; message large is 20 MB.
func (g *folderGen) message(i, n int, date time.Time, large, rare bool) folderMsg {
	m := folderMsg{date: date, large: large, bodyHit: rare}
	subjRaw, subjText := g.subject()
	m.subjectText = subjText
	m.subjectHit = strings.Contains(strings.ToLower(subjText), folderSubjectWord)
	from, to := g.addr(), g.addr()
	var h strings.Builder
	fmt.Fprintf(&h, "Return-Path: <%s@%s>\r\n", g.pick(folderNames), g.pick(folderDomains))
	for range 1 + g.r.IntN(3) {
		fmt.Fprintf(&h, "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\r\n\tby mail.example.net (Postfix) with ESMTPS id %X\r\n\tfor <user@example.net>; %s\r\n",
			g.r.IntN(9), g.pick(folderDomains), g.r.IntN(9), g.pick(folderDomains), g.r.IntN(250), g.r.Uint32(), date.Format(time.RFC1123Z))
	}
	fmt.Fprintf(&h, "Date: %s\r\nFrom: %s\r\nTo: %s\r\n", date.Format(time.RFC1123Z), from, to)
	if g.r.IntN(4) == 0 {
		fmt.Fprintf(&h, "Cc: %s, %s\r\n", g.addr(), g.addr())
	}
	fmt.Fprintf(&h, "Subject: %s\r\nMessage-ID: <%d.%x@%s>\r\n", subjRaw, i, g.r.Uint64(), g.pick(folderDomains))
	if strings.HasPrefix(subjText, "Re: ") {
		fmt.Fprintf(&h, "In-Reply-To: <%d.%x@%s>\r\nReferences: <%d.%x@%s>\r\n",
			i-1, g.r.Uint64(), g.pick(folderDomains), i-2, g.r.Uint64(), g.pick(folderDomains))
	}
	fmt.Fprintf(&h, "X-Mailer: %s\r\nMIME-Version: 1.0\r\n", g.pick([]string{"Thunderbird 115.3", "Apple Mail (2.3731)", "Microsoft Outlook 16.0", "Roundcube Webmail/1.6.5", "K-9 Mail"}))

	var body string
	switch k := g.r.IntN(100); {
	case large:
		body = folderMultipart("mixed", g.boundary(), g.textPart(2000, rare), g.attachment(20<<20-4000))
	case k < 62:
		body = g.textPart(500+int(g.r.ExpFloat64()*2500), rare)
	case k < 85:
		sz := 1000 + int(g.r.ExpFloat64()*4000)
		body = folderMultipart("alternative", g.boundary(), g.textPart(sz, rare), g.htmlPart(sz, false))
	case k < 89:
		inner := fmt.Sprintf("Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n%s",
			date.Add(-48*time.Hour).Format(time.RFC1123Z), g.addr(), g.addr(), strings.Join(g.words(4), " "), g.textPart(2000+g.r.IntN(6000), false))
		body = folderMultipart("mixed", g.boundary(), g.textPart(300+g.r.IntN(1000), rare),
			"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"+inner)
	default:
		// log-uniform 20 KB .. 1 MB
		sz := int(20e3 * math.Exp(g.r.Float64()*3.912))
		parts := []string{g.textPart(300+g.r.IntN(3000), rare), g.attachment(sz)}
		if g.r.IntN(5) == 0 {
			parts = append(parts, g.attachment(sz/4))
		}
		body = folderMultipart("mixed", g.boundary(), parts...)
	}
	m.data = []byte(h.String() + body)
	age := n - i
	m.seen = age > n/20 || g.r.IntN(3) == 0
	m.flagged = g.r.IntN(33) == 0
	m.answered = m.seen && g.r.IntN(10) == 0
	m.inNew = age <= 5 && !m.seen
	return m
}

// folderFileName follows the names Dovecot's LDA gives: S= is the size,
// W= the size with CRLF line ends (the files are CRLF already).
func folderFileName(i int, m folderMsg, size int64) string {
	base := fmt.Sprintf("%d.M%dP%dQ%d.bench.example,S=%d,W=%d", m.date.Unix(), i%1000000, 4000+i%30000, i, size, size)
	if m.inNew {
		return base
	}
	flags := ""
	if m.flagged {
		flags += "F"
	}
	if m.answered {
		flags += "R"
	}
	if m.seen {
		flags += "S"
	}
	return base + ":2," + flags
}

// buildFolder writes a Maildir of n messages under dir (cur, new, tmp),
// deterministic for a seed, and returns its manifest. It uses every CPU.
func buildFolder(dir string, n int, seed uint64) (*folderManifest, error) {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	largeIdx := n / 2
	rareSet := map[int]bool{n / 3: true, 2 * n / 3: true}
	pick := rand.New(rand.NewPCG(seed, 0x5eed))
	for range n / 15000 {
		rareSet[pick.IntN(n)] = true
	}
	start := time.Date(2021, 1, 4, 8, 0, 0, 0, time.UTC)
	span := 5 * 365 * 24 * time.Hour
	man := &folderManifest{Version: folderGenVersion, Messages: n, Seed: seed,
		SubjectWord: folderSubjectWord, RareWord: folderRareWord, GeneratedFor: "imapbench folder"}
	var mu sync.Mutex
	var firstErr error
	work := make(chan int, 64)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// One hit hides in a base64 text part.
				g := &folderGen{r: rand.New(rand.NewPCG(seed, uint64(i)+1)), forceB64: i == n/3}
				date := start.Add(time.Duration(int64(span) / int64(n) * int64(i))).Add(time.Duration(g.r.IntN(3600)) * time.Second)
				m := g.message(i, n, date, i == largeIdx, rareSet[i])
				name := folderFileName(i, m, int64(len(m.data)))
				sub := "cur"
				if m.inNew {
					sub = "new"
				}
				p := filepath.Join(dir, sub, name)
				err := os.WriteFile(p, m.data, 0o600)
				if err == nil {
					err = os.Chtimes(p, date, date)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				man.Bytes += int64(len(m.data))
				if !m.seen {
					man.Unseen++
				}
				if m.flagged {
					man.Flagged++
				}
				if m.subjectHit {
					man.SubjectHits++
				}
				if m.bodyHit {
					man.BodyHits++
				}
				if m.large {
					man.LargeFile = filepath.Join(sub, name)
					man.LargeSize = int64(len(m.data))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	b, _ := json.MarshalIndent(man, "", "  ")
	if err := os.WriteFile(dir+".json", b, 0o644); err != nil {
		return nil, err
	}
	return man, nil
}

func loadFolderManifest(dir string) (*folderManifest, error) {
	b, err := os.ReadFile(dir + ".json")
	if err != nil {
		return nil, err
	}
	var m folderManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
