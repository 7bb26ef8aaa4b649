package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBuildFolderDeterministic: the same seed gives the same files.
func TestBuildFolderDeterministic(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if _, err := buildFolder(a, 120, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := buildFolder(b, 120, 9); err != nil {
		t.Fatal(err)
	}
	fa, _ := folderFiles(a)
	fb, _ := folderFiles(b)
	if len(fa) != 120 || len(fb) != 120 {
		t.Fatalf("files: %d and %d, want 120", len(fa), len(fb))
	}
	for i := range fa {
		ra, _ := filepath.Rel(a, fa[i])
		rb, _ := filepath.Rel(b, fb[i])
		da, _ := os.ReadFile(fa[i])
		db, _ := os.ReadFile(fb[i])
		if ra != rb || !bytes.Equal(da, db) {
			t.Fatalf("file %d differs: %s vs %s", i, ra, rb)
		}
	}
}

// TestManifestMatchesMessages recounts what the manifest claims by parsing
// every message with the standard library, independently of the generator:
// the benchmark's "wrong answer" checks rest on these counts.
func TestManifestMatchesMessages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	man, err := buildFolder(dir, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := folderFiles(dir)
	var unseen, flagged, subj, body, large, raw int
	var total int64
	dec := new(mime.WordDecoder)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(data))
		if bytes.Contains(data, []byte(folderRareWord)) {
			raw++
		}
		name := filepath.Base(p)
		if !strings.Contains(name, ",S="+strconv.Itoa(len(data))+",") {
			t.Errorf("%s: S= is not the size %d", name, len(data))
		}
		_, flags, _ := strings.Cut(name, ":2,")
		if !strings.Contains(flags, "S") {
			unseen++
		}
		if strings.Contains(flags, "F") {
			flagged++
		}
		msg, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s, err := dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("%s: subject: %v", name, err)
		}
		if strings.Contains(strings.ToLower(s), folderSubjectWord) {
			subj++
		}
		if strings.Contains(testBodyText(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body), folderRareWord) {
			body++
		}
		if len(data) > 20e6 {
			large++
		}
	}
	if unseen != man.Unseen || flagged != man.Flagged || subj != man.SubjectHits || body != man.BodyHits || total != man.Bytes {
		t.Errorf("parsed: unseen %d flagged %d subject %d body %d bytes %d; manifest: %+v", unseen, flagged, subj, body, total, man)
	}
	if raw >= body {
		t.Errorf("the rare word is in plain sight in all %d hits: none tests decoding", body)
	}
	if large != 1 || man.LargeSize < 20e6 {
		t.Errorf("large messages: %d, manifest size %d", large, man.LargeSize)
	}
	if man.BodyHits < 2 || man.SubjectHits < 10 || man.Unseen < 10 {
		t.Errorf("searches would find too little: %+v", man)
	}
}

// testBodyText returns the decoded text of every text/* part.
func testBodyText(t *testing.T, ctype, cte string, r io.Reader) string {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("content-type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out strings.Builder
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString(testBodyText(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p))
		}
		return out.String()
	}
	if mt == "message/rfc822" {
		m, err := mail.ReadMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		return testBodyText(t, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	if !strings.HasPrefix(mt, "text/") {
		return ""
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFolderCopyHardLinks: a server's copy shares the master's inodes but
// renames in it do not touch the master.
func TestFolderCopyHardLinks(t *testing.T) {
	master := filepath.Join(t.TempDir(), "master")
	if _, err := buildFolder(master, 20, 3); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "srv", "user")
	if err := folderCopy(master, dst, -1, -1); err != nil {
		t.Fatal(err)
	}
	files, _ := folderFiles(dst)
	if len(files) != 20 {
		t.Fatalf("copy has %d files", len(files))
	}
	if err := os.Rename(files[0], files[0]+"T"); err != nil {
		t.Fatal(err)
	}
	mfiles, _ := folderFiles(master)
	if len(mfiles) != 20 || mfiles[0] != filepath.Join(master, strings.TrimPrefix(files[0], dst)) {
		t.Errorf("master changed: %v", mfiles[:1])
	}
	if err := folderCopy(master, dst, -1, -1); err != nil {
		t.Fatalf("second copy: %v", err)
	}
}

// TestBenchIMAPResponses reads a transcript with literals, SEARCH and
// EXISTS responses from a scripted server.
func TestBenchIMAPResponses(t *testing.T) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() {
		defer srv.Close()
		io.WriteString(srv, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		buf := make([]byte, 4096)
		expect := func(want string) {
			n, _ := srv.Read(buf)
			if got := string(buf[:n]); got != want {
				t.Errorf("C: %q, want %q", got, want)
			}
		}
		expect("b1 SELECT INBOX\r\n")
		io.WriteString(srv, "* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\nb1 OK [READ-WRITE] SELECT completed\r\n")
		expect("b2 UID FETCH 1:* (ENVELOPE)\r\n")
		io.WriteString(srv, "* 1 FETCH (UID 4 ENVELOPE (NIL {11}\r\nsubj {3}\r\nx) NIL))\r\n"+
			"* 2 FETCH (UID 5 BODY[] {0}\r\n)\r\n* 3 FETCH (UID 6 ENVELOPE (NIL \"b1 OK not the end\"))\r\nb2 OK FETCH completed\r\n")
		expect("b3 UID SEARCH BODY x\r\n")
		io.WriteString(srv, "* SEARCH 4 6 4294967296\r\nb3 NO [CANNOT] nope\r\n")
		expect("b4 UID SORT (DATE) UTF-8 ALL\r\n")
		io.WriteString(srv, "* SORT 6 4 5 (MODSEQ 9)\r\nb4 OK SORT completed\r\n")
		expect("b5 UID SORT (DATE) UTF-8 NOT ALL\r\n")
		io.WriteString(srv, "* SORT\r\nb5 OK SORT completed\r\n")
	}()
	b := &benchIMAP{c: cli, r: bufio.NewReader(cli), w: bufio.NewWriter(cli)}
	if line, err := b.readLine(); err != nil || !strings.HasPrefix(string(line), "* OK") {
		t.Fatalf("greeting: %q %v", line, err)
	}
	res, err := b.MustOK("SELECT INBOX")
	if err != nil || res.Exists != 3 || res.Untagged != 2 {
		t.Fatalf("SELECT: %+v %v", res, err)
	}
	res, err = b.MustOK("UID FETCH 1:* (ENVELOPE)")
	if err != nil || res.Untagged != 3 || res.LiteralSize != 11 {
		t.Fatalf("FETCH: %+v %v", res, err)
	}
	res, err = b.Cmd("UID SEARCH BODY x")
	if err != nil || res.Status != "NO" || len(res.SearchUIDs) != 2 || res.SearchUIDs[1] != 6 {
		t.Fatalf("SEARCH: %+v %v", res, err)
	}
	res, err = b.MustOK("UID SORT (DATE) UTF-8 ALL")
	if err != nil || len(res.SearchUIDs) != 3 || res.SearchUIDs[0] != 6 {
		t.Fatalf("SORT: %+v %v", res, err)
	}
	res, err = b.MustOK("UID SORT (DATE) UTF-8 NOT ALL")
	if err != nil || len(res.SearchUIDs) != 0 {
		t.Fatalf("empty SORT: %+v %v", res, err)
	}
}
