package server

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// catenateScript is one APPEND ... CATENATE of a message's sections, a
// part's range and TEXT, then the FETCH of what it made (after EXAMINE).
var catenateScript = []string{
	`a APPEND INBOX CATENATE (URL "/INBOX/;UID=1/;SECTION=HEADER" TEXT {7+}` + "\r\n" + "\r\n--b\r\n" +
		` URL "/INBOX/;UID=1/;SECTION=2.MIME" URL "/INBOX/;UID=1/;SECTION=2" TEXT {9+}` + "\r\n" + "\r\n--b--\r\n" +
		` URL "/INBOX/;UID=1/;SECTION=1/;PARTIAL=2.3" URL "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)")`,
	"b FETCH 2 BODY.PEEK[]",
}

// CATENATE makes the same message in imapd as in Dovecot 2.3 on one
// Maildir.
func TestCatenateDovecot(t *testing.T) {
	nobody := needDovecot(t)
	root, md := dovecotRoot(t, "imapd-catdc-")
	orig := "Subject: draft\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n"
	seedMaildir := func() {
		os.RemoveAll(md)
		u, err := maildir.Open(md, maildir.Options{NoSpecialUse: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(orig)); err != nil {
			t.Fatal(err)
		}
		u.Close()
	}
	seedMaildir()
	conf := dovecotConf(t, root, md, nobody)
	in, stdout, dcmd := startDovecot(t, root, conf)
	// Dovecot finds the URLs' messages only with a mailbox selected.
	io.WriteString(in, "x EXAMINE INBOX\r\n"+catenateScript[0]+"\r\ns EXAMINE INBOX\r\n"+catenateScript[1]+"\r\nz LOGOUT\r\n")
	in.Close()
	var want string
	rd := bufio.NewReader(stdout)
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(l, "* 2 FETCH") {
			rest, _ := io.ReadAll(rd)
			want = l + string(rest)
			want = want[:strings.Index(want, "\r\nb OK")]
		}
	}
	dcmd.Wait()

	seedMaildir()
	useMaildir(t, md, maildir.Options{NoSpecialUse: true})
	ts := newTestServer(t)
	c := ts.login("alice")
	c.C(catenateScript[0])
	c.until("a OK")
	c.C("s EXAMINE INBOX")
	c.until("s OK")
	un, _ := c.do(catenateScript[1])
	if want == "" || len(un) != 1 || un[0] != want {
		t.Errorf("imapd:   %q\nDovecot: %q", un, want)
	}
}
