package server

import (
	"bufio"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// Dovecot 2.3 has no OBJECTID, but it reports the same identities through
// doveadm: the folder GUID imapd gives as MAILBOXID and the message GUID
// imapd's EMAILID is made from, a copy's included (the uidlist's G field).
// Its SAVEDATE for a Maildir is the file's ctime, as imapd's is.
func TestObjectIDDovecot(t *testing.T) {
	nobody := needDovecot(t)
	root, md := dovecotRoot(t, "imapd-objdc-")
	u, err := maildir.Open(md, maildir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(u.Create("foo", 0))
	_, uid, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte("Subject: a\r\n\r\nbody\r\n"))
	must(err)
	mb, err := u.Select("INBOX", false)
	must(err)
	cr, err := mb.Copy([]uint32{uid}, "foo")
	must(err)
	must(mb.Close())
	inboxID, err := u.MailboxID("INBOX")
	must(err)
	fooID, err := u.MailboxID("foo")
	must(err)
	must(u.Close())

	conf := dovecotConf(t, root, md, nobody)
	doveadm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("doveadm", append([]string{"-c", conf}, args...)...)
		cmd.Env = []string{"HOME=" + root, "USER=nobody", "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("doveadm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for name, id := range map[string]string{"INBOX": inboxID, "foo": fooID} {
		got := strings.TrimSpace(doveadm("-f", "flow", "mailbox", "status", "guid", name))
		if got != name+" guid="+id {
			t.Errorf("Dovecot's GUID of %s: %q, imapd's MAILBOXID %s", name, got, id)
		}
	}
	guids := regexp.MustCompile(`guid=(\S+)`).FindAllStringSubmatch(doveadm("-f", "flow", "fetch", "guid", "all"), -1)
	if len(guids) != 2 || guids[0][1] != guids[1][1] {
		t.Fatalf("Dovecot's message GUIDs %q: want one GUID for the message and its copy", guids)
	}

	// SAVEDATE of both through each server, after the chown (which sets
	// the ctime both read).
	in, stdout, dcmd := startDovecot(t, root, conf)
	in.Write([]byte("a EXAMINE INBOX\r\nb FETCH 1 SAVEDATE\r\nc EXAMINE foo\r\nd FETCH 1 SAVEDATE\r\nz LOGOUT\r\n"))
	in.Close()
	var want []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "* 1 FETCH (SAVEDATE ") {
			want = append(want, saveDateOf(t, sc.Text()))
		}
	}
	dcmd.Wait()

	useMaildir(t, md, maildir.Options{})
	ts := newTestServer(t)
	c := ts.login("alice")
	var got []string
	for _, box := range []string{"INBOX", "foo"} {
		c.C("e EXAMINE " + box)
		c.until("e OK")
		un, _ := c.do("f FETCH 1 SAVEDATE")
		got = append(got, saveDateOf(t, un[0]))
	}
	if !slices.Equal(got, want) || len(want) != 2 {
		t.Errorf("SAVEDATE: imapd %q, Dovecot %q", got, want)
	}
	if len(cr.Dst) != 1 {
		t.Fatalf("COPY: %+v", cr)
	}
}

// saveDateOf returns the instant of a FETCH SAVEDATE line, in one form
// (Dovecot writes the day as "04", imapd as " 4": both RFC 9051 forms).
func saveDateOf(t *testing.T, line string) string {
	t.Helper()
	d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", capture(t, line, `SAVEDATE "([^"]+)"`))
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return d.UTC().Format(time.RFC3339)
}
