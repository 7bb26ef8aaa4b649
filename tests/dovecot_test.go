package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 4, 2: a Maildir moves between Dovecot and imapd, both ways, and
// clients see the same UIDVALIDITY, UIDs, flags and keywords.

// dovecot is one Dovecot instance the test started, on its own port,
// base_dir and state_dir, so it never meets the system's or others'.
type dovecot struct {
	t      *testing.T
	dir    string
	conf   string
	addr   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	exited chan struct{}
}

// newDovecot writes a configuration: IMAP on a loopback port, PAM through
// imapd's own service file, the passwd userdb, ~/Maildir with "/" as the
// separator (as imapd shows names), no TLS.
func newDovecot(t *testing.T) *dovecot {
	t.Helper()
	// Dovecot's login processes (user dovenull) chroot into base_dir: every
	// level of the path must be searchable, which t.TempDir's is not.
	dir, err := os.MkdirTemp("", "imapd-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := freePort(t)
	d := &dovecot{t: t, dir: dir, conf: filepath.Join(dir, "dovecot.conf"), addr: fmt.Sprintf("127.0.0.1:%d", port)}
	conf := fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = imapd-test-%[2]d
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1000
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = pam
  args = imapd
}
userdb {
  driver = passwd
}
service imap-login {
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
`, dir, port)
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot log:\n%s", b)
		}
	})
	return d
}

// start runs dovecot -F in the background and waits for its greeting.
func (d *dovecot) start() {
	t := d.t
	t.Helper()
	d.out, d.exited = &lockedBuffer{}, make(chan struct{})
	d.cmd = exec.Command("dovecot", "-F", "-c", d.conf)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(d.cmd, d.exited)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", d.addr, time.Second); err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "* OK") {
				return
			}
		}
		select {
		case <-d.exited:
			b, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
			t.Fatalf("dovecot exited at start-up:\n%s\n%s", d.out.String(), b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot did not greet within 10 s:\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the master (SIGTERM: it stops its children) and waits for it.
func (d *dovecot) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
	// The master is gone; wait until its port is free for the next start.
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", d.addr)
		if err == nil {
			l.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopServer ends imapd gracefully, so the Maildir is left alone.
func stopServer(s *server) {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.t.Errorf("imapd did not exit within 10 s of SIGTERM")
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// mboxState is what a client learns of one mailbox: the numbers that let
// it keep its cache, and every message's UID, flags and bytes.
type mboxState struct {
	uidvalidity, uidnext uint32
	msgs                 []imapMsg
}

var (
	reUIDValidity = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	reUIDNext     = regexp.MustCompile(`\[UIDNEXT (\d+)\]`)
	reStatusUIDs  = regexp.MustCompile(`UIDNEXT (\d+) UIDVALIDITY (\d+)`)
)

func atoi32(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

// snapshot SELECTs mailbox and fetches every message; STATUS (asked first,
// from outside the mailbox) must agree with SELECT.
func (c *client) snapshot(tag, mailbox string) mboxState {
	c.t.Helper()
	c.C(tag + "u UNSELECT")
	c.S(tag + "u ")
	c.C(fmt.Sprintf("%sa STATUS %s (UIDNEXT UIDVALIDITY)", tag, mailbox))
	st := strings.Join(c.S(tag+"a OK"), "\n")
	c.C(fmt.Sprintf("%sb SELECT %s", tag, mailbox))
	sel := strings.Join(c.S(tag+"b OK"), "\n")
	var ms mboxState
	v, n := reUIDValidity.FindStringSubmatch(sel), reUIDNext.FindStringSubmatch(sel)
	if v == nil || n == nil {
		c.t.Fatalf("SELECT %s: no UIDVALIDITY or UIDNEXT in\n%s", mailbox, sel)
	}
	ms.uidvalidity, ms.uidnext = atoi32(v[1]), atoi32(n[1])
	if m := reStatusUIDs.FindStringSubmatch(st); m == nil {
		c.t.Errorf("STATUS %s: no UIDNEXT/UIDVALIDITY in\n%s", mailbox, st)
	} else if atoi32(m[1]) != ms.uidnext || atoi32(m[2]) != ms.uidvalidity {
		c.t.Errorf("STATUS %s says UIDNEXT %s UIDVALIDITY %s, SELECT says %d %d", mailbox, m[1], m[2], ms.uidnext, ms.uidvalidity)
	}
	if !strings.Contains(sel, " 0 EXISTS") {
		ms.msgs = c.fetch(tag+"c", "1:*", "(UID FLAGS BODY.PEEK[])")
	}
	return ms
}

// compareState reports every difference between what two servers show.
func compareState(t *testing.T, what, mailbox string, want, got mboxState) {
	t.Helper()
	if got.uidvalidity != want.uidvalidity {
		t.Errorf("%s %s: UIDVALIDITY %d, want %d", what, mailbox, got.uidvalidity, want.uidvalidity)
	}
	if got.uidnext != want.uidnext {
		t.Errorf("%s %s: UIDNEXT %d, want %d", what, mailbox, got.uidnext, want.uidnext)
	}
	uids := func(ms []imapMsg) []uint32 {
		var u []uint32
		for _, m := range ms {
			u = append(u, m.uid)
		}
		return u
	}
	if !slices.Equal(uids(got.msgs), uids(want.msgs)) {
		t.Errorf("%s %s: UIDs %v, want %v", what, mailbox, uids(got.msgs), uids(want.msgs))
		return
	}
	for i, w := range want.msgs {
		g := got.msgs[i]
		if !slices.Equal(g.flags, w.flags) {
			t.Errorf("%s %s UID %d: FLAGS %v, want %v", what, mailbox, w.uid, g.flags, w.flags)
		}
		if g.body != w.body {
			t.Errorf("%s %s UID %d: body\n got %q\nwant %q", what, mailbox, w.uid, g.body, w.body)
		}
	}
}

// listNames is the set of mailbox names LIST "" * shows.
func (c *client) listNames(tag string) []string {
	c.t.Helper()
	c.C(tag + ` LIST "" *`)
	var names []string
	for _, l := range c.S(tag + " OK") {
		if !strings.HasPrefix(l, "* LIST ") {
			continue
		}
		i := strings.Index(l, `"/" `)
		if i < 0 {
			c.t.Errorf("LIST line without \"/\" delimiter: %q", l)
			continue
		}
		names = append(names, strings.Trim(l[i+4:], `"`))
	}
	sort.Strings(names)
	return names
}

// dumpMaildir logs what the maildir engineer needs to see: the uidlist,
// the keywords file and every message file name of every folder.
func dumpMaildir(root string) string {
	var b strings.Builder
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case fi.IsDir():
		case fi.Name() == "dovecot-uidlist" || fi.Name() == "dovecot-keywords" || fi.Name() == "subscriptions":
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "== %s\n%s", rel, data)
		default:
			if strings.Contains(rel, "/cur/") || strings.Contains(rel, "/new/") || strings.HasPrefix(rel, "cur/") || strings.HasPrefix(rel, "new/") {
				fmt.Fprintf(&b, "%s (%d bytes)\n", rel, fi.Size())
			}
		}
		return nil
	})
	return b.String()
}

// removeDovecotIndexes deletes Dovecot's index and cache files (never its
// uidlist or keywords), as "doveadm force-resync" would rebuild them.
func removeDovecotIndexes(t *testing.T, root string) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasPrefix(fi.Name(), "dovecot.") {
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
}

func dcMessage(i int, extra string) string {
	return fmt.Sprintf("From: sender%d@example.org\r\nTo: dcuser@example.org\r\nSubject: message %d%s\r\nMessage-ID: <%d.dovecot-test@example.org>\r\n\r\nbody of message %d\r\n", i, i, extra, i, i)
}

// Issue 4, 2: Dovecot writes a Maildir (flags, keywords, UID gaps, folders,
// a subscription); imapd serves it with the same UIDVALIDITY, UIDNEXT,
// UIDs, flags, keywords and bytes; imapd then writes, and Dovecot serves
// what imapd wrote the same way.
// freshDcUser gives the tests the system account dcuser with an empty
// ~/Maildir that both servers serve.
func freshDcUser(t *testing.T) (*user.User, string) {
	t.Helper()
	ensureSystemSetup(t)
	u := ensureUser(t, "dcuser", "dcuser-pw")
	maildir := filepath.Join(u.HomeDir, "Maildir")
	if err := os.RemoveAll(maildir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Maildir %s:\n%s", maildir, dumpMaildir(maildir))
		}
	})
	return u, maildir
}

// requireDovecot is requireRoot for the tests that run Dovecot, which
// must be installed as well.
func requireDovecot(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if _, err := exec.LookPath("dovecot"); err != nil {
		t.Fatal("dovecot not installed (Debian package dovecot-imapd; .ci/test.sh installs it)")
	}
}

// dcImapdConf is imapd serving ~/Maildir through the PAM service Dovecot
// uses too.
const dcImapdConf = `
listen on 127.0.0.1 port %PORT% plain
storage maildir
auth pam service imapd
preauth workers 1
control socket "%DIR%/control.sock"
`

func TestDovecotMaildirBothWays(t *testing.T) {
	requireDovecot(t)
	u, maildir := freshDcUser(t)
	// The Maildir as each server left it, logged if the test fails.
	var dumps []string
	dump := func(when string) { dumps = append(dumps, when+":\n"+dumpMaildir(maildir)) }
	defer func() {
		if t.Failed() {
			t.Logf("Maildir %s\n%s", maildir, strings.Join(dumps, "\n"))
		}
	}()

	// Part 1: Dovecot writes the Maildir.
	dc := newDovecot(t)
	dc.start()
	c := dial(t, dc.addr)
	c.C("d1 LOGIN dcuser dcuser-pw")
	c.S("d1 OK")
	flags := []string{`(\Seen)`, `(\Flagged)`, `(\Seen $Forwarded Work)`, `(\Answered \Draft)`, ``, `(\Seen \Flagged $Junk)`, `(Later Work)`}
	for i, f := range flags {
		c.appendMsg(fmt.Sprintf("d2.%d", i), "INBOX", f, dcMessage(i+1, ""))
	}
	c.C("d3 SELECT INBOX")
	c.S("d3 OK")
	// Gaps: UIDs 2 and 5 go, and so does the last, 7, so UIDNEXT is past
	// every file on disk.
	c.C(`d4 UID STORE 2,5,7 +FLAGS.SILENT (\Deleted)`)
	c.S("d4 OK")
	c.C("d5 EXPUNGE")
	c.S("d5 OK")
	c.C(`d6 UID STORE 1 +FLAGS.SILENT ($NonJunk Later)`)
	c.S("d6 OK")
	c.C(`d7 UID STORE 3 -FLAGS.SILENT (\Seen)`)
	c.S("d7 OK")
	c.C(`d8 CREATE "Archive/2026"`)
	c.S("d8 OK")
	c.C(`d9 SUBSCRIBE "Archive/2026"`)
	c.S("d9 OK")
	c.appendMsg("d10", `"Archive/2026"`, `(\Seen Project-X)`, dcMessage(8, " (archived)"))
	c.appendMsg("d11", `"Archive/2026"`, ``, dcMessage(9, " (archived, unseen)"))
	// "Entwürfe" in modified UTF-7 (RFC 3501 §5.1.3): Dovecot speaks IMAP4rev1.
	c.C(`d11a CREATE "Entw&APw-rfe"`)
	c.S("d11a OK")
	c.appendMsg("d11b", `"Entw&APw-rfe"`, `(\Draft)`, dcMessage(15, " (draft)"))
	dcDrafts := c.snapshot("d11c", `"Entw&APw-rfe"`)
	dcNames := c.listNames("d12")
	dcInbox := c.snapshot("d13", "INBOX")
	dcArchive := c.snapshot("d14", `"Archive/2026"`)
	c.C("d15 LOGOUT")
	c.S("d15 OK")
	dc.stop()
	dump("after Dovecot wrote it")
	if got := len(dcInbox.msgs); got != 4 {
		t.Fatalf("Dovecot INBOX holds %d messages, want 4: %+v", got, dcInbox.msgs)
	}

	// imapd serves what Dovecot wrote.
	s := startServer(t, dcImapdConf)
	c = login(t, s, "dcuser", "dcuser-pw")
	// imapd may add the special-use folders it creates at a Maildir's first
	// open (imapworker/store/maildir Options.NoSpecialUse); nothing else.
	imFirst := c.listNames("i1")
	for _, n := range dcNames {
		if !slices.Contains(imFirst, n) {
			t.Errorf("imapd LIST %v lacks Dovecot's %q", imFirst, n)
		}
	}
	for _, n := range imFirst {
		if !slices.Contains(dcNames, n) && !slices.Contains([]string{"Sent", "Drafts", "Trash", "Junk", "Archive"}, n) {
			t.Errorf("imapd LIST %v has %q, which Dovecot did not show", imFirst, n)
		}
	}
	compareState(t, "imapd serving Dovecot's Maildir:", "INBOX", dcInbox, c.snapshot("i2", "INBOX"))
	compareState(t, "imapd serving Dovecot's Maildir:", "Archive/2026", dcArchive, c.snapshot("i3", `"Archive/2026"`))
	compareState(t, "imapd serving Dovecot's Maildir:", "Entw&APw-rfe", dcDrafts, c.snapshot("i3a", `"Entw&APw-rfe"`))
	c.C(`i4 LSUB "" *`)
	if l := strings.Join(c.S("i4 OK"), "\n"); !strings.Contains(l, "Archive/2026") {
		t.Errorf("imapd LSUB lacks the subscription Dovecot wrote:\n%s", l)
	}

	// Part 2: imapd writes: new messages (a new keyword among them), flag
	// and keyword changes, an expunge, new folders. First a message an MDA
	// delivered to new/ while imapd runs: imapd gives it its UID, and
	// Dovecot must keep that UID.
	mda := filepath.Join(maildir, "new", "1795000000.M1P1.mda")
	if err := os.WriteFile(mda, []byte(dcMessage(16, " (delivered to new/)")), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	os.Chown(mda, uid, gid)
	c.C("i5 SELECT INBOX")
	if l := strings.Join(c.S("i5 OK"), "\n"); !strings.Contains(l, "* 5 EXISTS") {
		t.Errorf("imapd SELECT INBOX after a delivery to new/:\n%s\nwant 5 EXISTS", l)
	}
	_, n1 := c.appendMsg("i6", "INBOX", `(\Flagged Later)`, dcMessage(10, " (from imapd)"))
	_, n2 := c.appendMsg("i7", "INBOX", `(\Seen Imapd-Kw $Junk)`, dcMessage(11, " (from imapd)"))
	_, n3 := c.appendMsg("i8", "INBOX", ``, dcMessage(12, " (from imapd, expunged)"))
	if !(n1 >= dcInbox.uidnext && n2 > n1 && n3 > n2) {
		t.Errorf("imapd APPENDUIDs %d %d %d after Dovecot's UIDNEXT %d", n1, n2, n3, dcInbox.uidnext)
	}
	c.C("i9 NOOP")
	c.S("i9 OK")
	c.C(`i10 UID STORE 1 -FLAGS.SILENT (Later)`)
	c.S("i10 OK")
	c.C(`i11 UID STORE 3 +FLAGS.SILENT (\Seen \Answered Imapd-Kw)`)
	c.S("i11 OK")
	c.C(fmt.Sprintf(`i12 UID STORE 4,%d +FLAGS.SILENT (\Deleted)`, n3))
	c.S("i12 OK")
	c.C("i13 EXPUNGE")
	c.S("i13 OK")
	c.C(`i14 CREATE "From imapd"`)
	c.S("i14 OK")
	c.appendMsg("i15", `"From imapd"`, `(\Draft Kw2)`, dcMessage(13, " (imapd folder)"))
	c.appendMsg("i16", `"Archive/2026"`, `(Project-X \Seen)`, dcMessage(14, " (imapd into Dovecot's folder)"))
	// A UTF-8 name from an IMAP4rev2 client goes to disk as Dovecot names it.
	c2 := login(t, s, "dcuser", "dcuser-pw")
	c2.C("j1 ENABLE IMAP4rev2")
	c2.S("j1 OK")
	c2.C(`j2 CREATE "Année/Été"`)
	c2.S("j2 OK")
	c2.appendMsg("j3", `"Année/Été"`, `(\Seen)`, dcMessage(17, " (utf-8 folder)"))
	c2.C("j4 LOGOUT")
	c2.S("j4 OK")
	imUTF8 := c.snapshot("i16a", `"Ann&AOk-e/&AMk-t&AOk-"`)
	// RENAME keeps a mailbox's UIDVALIDITY and UIDs (the directory moves with
	// its uidlist); DELETE removes it; subscriptions change both ways.
	c.C(`i16b UNSELECT`)
	c.S("i16b OK")
	c.C(`i16c RENAME "Entw&APw-rfe" "Old/Entw&APw-rfe"`)
	c.S("i16c OK")
	imRenamed := c.snapshot("i16d", `"Old/Entw&APw-rfe"`)
	compareState(t, "imapd after RENAME:", "Old/Entw&APw-rfe", dcDrafts, imRenamed)
	c.C(`i16e CREATE "Doomed"`)
	c.S("i16e OK")
	c.C(`i16f DELETE "Doomed"`)
	c.S("i16f OK")
	c.C(`i16g SUBSCRIBE "From imapd"`)
	c.S("i16g OK")
	c.C(`i16h UNSUBSCRIBE "Archive/2026"`)
	c.S("i16h OK")
	imNames := c.listNames("i17")
	imInbox := c.snapshot("i18", "INBOX")
	imArchive := c.snapshot("i19", `"Archive/2026"`)
	imNew := c.snapshot("i20", `"From imapd"`)
	c.C("i21 LOGOUT")
	c.S("i21 OK")
	if imInbox.uidvalidity != dcInbox.uidvalidity {
		t.Errorf("imapd changed INBOX's UIDVALIDITY from %d to %d", dcInbox.uidvalidity, imInbox.uidvalidity)
	}
	if got := len(imInbox.msgs); got != 6 {
		t.Errorf("imapd INBOX holds %d messages after its changes, want 6: %+v", got, imInbox.msgs)
	}
	stopServer(s)
	dump("after imapd wrote it")

	// Dovecot serves what imapd wrote, with imapd's UIDs, flags, keywords:
	// first with the index files Dovecot kept from part 1, then with none,
	// so that only what imapd wrote (uidlist, keywords, names) counts.
	for _, pass := range []string{"with its old indexes", "with its indexes deleted"} {
		if pass == "with its indexes deleted" {
			removeDovecotIndexes(t, maildir)
		}
		what := "Dovecot serving imapd's changes " + pass + ":"
		dc.start()
		c = dial(t, dc.addr)
		c.C("e1 LOGIN dcuser dcuser-pw")
		c.S("e1 OK")
		if got := c.listNames("e2"); !slices.Equal(got, imNames) {
			t.Errorf("%s LIST %v, imapd LIST %v", what, got, imNames)
		}
		compareState(t, what, "INBOX", imInbox, c.snapshot("e3", "INBOX"))
		compareState(t, what, "Archive/2026", imArchive, c.snapshot("e4", `"Archive/2026"`))
		compareState(t, what, "From imapd", imNew, c.snapshot("e5", `"From imapd"`))
		compareState(t, what, "Ann&AOk-e/&AMk-t&AOk-", imUTF8, c.snapshot("e5a", `"Ann&AOk-e/&AMk-t&AOk-"`))
		compareState(t, what, "Old/Entw&APw-rfe", imRenamed, c.snapshot("e5b", `"Old/Entw&APw-rfe"`))
		c.C(`e5c LSUB "" *`)
		if l := strings.Join(c.S("e5c OK"), "\n"); !strings.Contains(l, `"From imapd"`) || strings.Contains(l, "Archive/2026") {
			t.Errorf("%s LSUB after imapd subscribed \"From imapd\" and unsubscribed Archive/2026:\n%s", what, l)
		}
		c.C("e6 LOGOUT")
		c.S("e6 OK")
		dc.stop()
	}

	// Everything the Maildir holds is the user's: imapd left no root-owned file.
	filepath.Walk(maildir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && strconv.Itoa(int(st.Uid)) != u.Uid {
				t.Errorf("%s is owned by uid %d, not %s", p, st.Uid, u.Username)
			}
		}
		return nil
	})
}

// Issue 4, 2: Dovecot and imapd serving one Maildir at the same time, as
// during a migration: APPENDs from both get distinct increasing UIDs, and
// each server shows the other's messages, flags, keywords and expunges.
func TestDovecotConcurrentMaildir(t *testing.T) {
	requireDovecot(t)
	_, maildir := freshDcUser(t)
	dc := newDovecot(t)
	dc.start()
	s := startServer(t, dcImapdConf)
	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	d.C("d2 SELECT INBOX")
	d.S("d2 OK")
	m := login(t, s, "dcuser", "dcuser-pw")
	m.C("m2 SELECT INBOX")
	m.S("m2 OK")

	var uids []uint32
	for i := 0; i < 6; i++ {
		var uid uint32
		if i%2 == 0 {
			_, uid = d.appendMsg(fmt.Sprintf("d3.%d", i), "INBOX", "", dcMessage(i, " (via Dovecot)"))
		} else {
			_, uid = m.appendMsg(fmt.Sprintf("m3.%d", i), "INBOX", "", dcMessage(i, " (via imapd)"))
		}
		if len(uids) > 0 && uid <= uids[len(uids)-1] {
			t.Errorf("APPEND %d got UID %d after UIDs %v", i, uid, uids)
		}
		uids = append(uids, uid)
	}
	d.C("d4 NOOP")
	d.S("d4 OK")
	m.C("m4 NOOP")
	m.S("m4 OK")
	d.C(fmt.Sprintf(`d5 UID STORE %d +FLAGS (\Seen DcKw)`, uids[1]))
	d.S("d5 OK")
	m.C(fmt.Sprintf(`m5 UID STORE %d +FLAGS (\Flagged ImKw)`, uids[0]))
	m.S("m5 OK")
	d.C(fmt.Sprintf(`d6 UID STORE %d +FLAGS (\Deleted)`, uids[2]))
	d.S("d6 OK")
	d.C("d7 EXPUNGE")
	d.S("d7 OK")
	m.C(fmt.Sprintf(`m6 UID STORE %d +FLAGS (\Deleted)`, uids[3]))
	m.S("m6 OK")
	m.C("m7 EXPUNGE")
	m.S("m7 OK")

	// Renames under the other's feet: each server changes a message's flags
	// (so its file name), and the other, with no NOOP in between, reads the
	// message and adds a flag without losing the first server's.
	bodyOf := func(c *client, tag string, uid uint32) string {
		for _, msg := range c.fetch(tag, fmt.Sprint(uid), "(BODY.PEEK[])") {
			if msg.uid == uid && msg.body != "" {
				return msg.body
			}
		}
		return ""
	}
	d.C(fmt.Sprintf(`d7a UID STORE %d +FLAGS.SILENT (\Answered DcLabel)`, uids[4]))
	d.S("d7a OK")
	// The scenario needs the rename done, not just queued in Dovecot's index.
	if names, _ := filepath.Glob(filepath.Join(maildir, "cur", "*:2,*R*")); len(names) != 1 {
		t.Errorf("after Dovecot's STORE \\Answered, files with R: %v, want one", names)
	}
	if got, want := bodyOf(m, "m7a", uids[4]), dcMessage(4, " (via Dovecot)"); got != want {
		t.Errorf("imapd UID FETCH %d BODY[] after Dovecot renamed its file: %q, want %q", uids[4], got, want)
	}
	m.C(fmt.Sprintf(`m7b UID STORE %d +FLAGS.SILENT (\Seen)`, uids[4]))
	m.S("m7b OK")
	m.C(fmt.Sprintf(`m7c UID STORE %d +FLAGS.SILENT (\Answered ImLabel)`, uids[5]))
	m.S("m7c OK")
	if got, want := bodyOf(d, "d7b", uids[5]), dcMessage(5, " (via imapd)"); got != want {
		t.Errorf("Dovecot UID FETCH %d BODY[] after imapd renamed its file: %q, want %q", uids[5], got, want)
	}
	d.C(fmt.Sprintf(`d7c UID STORE %d +FLAGS.SILENT (\Seen)`, uids[5]))
	d.S("d7c OK")

	// Dovecot expunges a message imapd's session still shows. Fetching it is
	// answered without a BAD or a dropped connection (RFC 9051 §7.5.1
	// leaves OK, NO or the old data to the server), and the next NOOP
	// reports the EXPUNGE with the right sequence number.
	_, victim := d.appendMsg("d7d", "INBOX", "", dcMessage(7, " (expunged by Dovecot)"))
	m.C("m7d NOOP")
	m.S("m7d OK")
	d.C(fmt.Sprintf(`d7e UID STORE %d +FLAGS.SILENT (\Deleted)`, victim))
	d.S("d7e OK")
	d.C("d7f EXPUNGE")
	d.S("d7f OK")
	m.C(fmt.Sprintf("m7e UID FETCH %d (BODY.PEEK[])", victim))
	l := m.S("m7e ")
	if last := l[len(l)-1]; strings.HasPrefix(last, "m7e BAD") || strings.Contains(last, "SERVERBUG") {
		t.Errorf("imapd fetching a message Dovecot expunged: %q", l)
	} else if slices.Contains(l, "* 5 EXPUNGE") && !strings.HasPrefix(last, "m7e OK") {
		// Once the EXPUNGE is told, the UID no longer exists, and "a
		// non-existent unique identifier is ignored without any error
		// message" (RFC 9051 §6.4.9): mbsync, for one, gives up on a NO.
		t.Errorf("C: m7e UID FETCH %d (BODY.PEEK[])\nS: %s\nwant OK: the answer itself reported the EXPUNGE", victim, strings.Join(l, "\nS: "))
	}
	// UID FETCH may carry the EXPUNGE (§7.5.1 forbids it only for FETCH,
	// STORE and SEARCH by sequence number); else the NOOP must.
	m.C("m7f NOOP")
	l = append(l, m.S("m7f OK")...)
	if n := strings.Count(strings.Join(l, "\n"), "* 5 EXPUNGE"); n != 1 {
		t.Errorf("imapd after Dovecot's EXPUNGE of message 5 sent \"* 5 EXPUNGE\" %d times:\n%s", n, strings.Join(l, "\n"))
	}

	// The same for UID STORE and UID COPY of messages Dovecot expunged.
	var victims []uint32
	for i := 0; i < 2; i++ {
		_, v := d.appendMsg(fmt.Sprintf("d7g.%d", i), "INBOX", "", dcMessage(20+i, " (expunged by Dovecot)"))
		victims = append(victims, v)
	}
	m.C("m7g NOOP")
	m.S("m7g OK")
	d.C(fmt.Sprintf(`d7h UID STORE %d,%d +FLAGS.SILENT (\Deleted)`, victims[0], victims[1]))
	d.S("d7h OK")
	d.C("d7i EXPUNGE")
	d.S("d7i OK")
	for i, cmd := range []string{fmt.Sprintf(`UID STORE %d +FLAGS (\Seen)`, victims[0]), fmt.Sprintf(`UID COPY %d "Archive"`, victims[1])} {
		tag := fmt.Sprintf("m7h.%d", i)
		untagged, st := m.command(tag, cmd)
		if strings.Contains(strings.Join(untagged, "\n"), " EXPUNGE") && !strings.HasPrefix(st, tag+" OK") {
			t.Errorf("C: %s %s\nS: %s\nS: %s\nwant OK: the answer itself reported the EXPUNGE (RFC 9051 §6.4.9)", tag, cmd, strings.Join(untagged, "\nS: "), st)
		}
	}
	m.C("m7i NOOP")
	m.S("m7i OK")

	ds := d.snapshot("d8", "INBOX")
	ms := m.snapshot("m8", "INBOX")
	compareState(t, "imapd next to Dovecot:", "INBOX", ds, ms)
	want := []imapMsg{
		{uid: uids[0], flags: []string{"ImKw", `\Flagged`}},
		{uid: uids[1], flags: []string{"DcKw", `\Seen`}},
		{uid: uids[4], flags: []string{"DcLabel", `\Answered`, `\Seen`}},
		{uid: uids[5], flags: []string{"ImLabel", `\Answered`, `\Seen`}},
	}
	for _, got := range [][]imapMsg{ds.msgs, ms.msgs} {
		if len(got) != len(want) {
			t.Errorf("INBOX holds %d messages, want %d: %+v", len(got), len(want), got)
			continue
		}
		for i, w := range want {
			if got[i].uid != w.uid || !slices.Equal(got[i].flags, w.flags) {
				t.Errorf("message %d: UID %d FLAGS %v, want UID %d FLAGS %v", i+1, got[i].uid, got[i].flags, w.uid, w.flags)
			}
		}
	}
	d.C("d9 LOGOUT")
	d.S("d9 OK")
	m.C("m9 LOGOUT")
	m.S("m9 OK")
}

var reFetchUID = regexp.MustCompile(`^\* \d+ FETCH \((.*)\)$`)

// fetchItem is one FETCH item's answer for one message, without the
// sequence number and the UID item (which servers place differently).
func (c *client) fetchItem(tag string, uid uint32, item string) string {
	c.t.Helper()
	untagged, st := c.command(tag, fmt.Sprintf("UID FETCH %d (%s)", uid, item))
	if !strings.HasPrefix(st, tag+" OK") {
		return "status: " + strings.TrimPrefix(st, tag+" ")
	}
	var out []string
	for _, u := range untagged {
		m := reFetchUID.FindStringSubmatch(strings.ReplaceAll(u, "\r\n", "\x00"))
		if m == nil {
			continue
		}
		s := strings.ReplaceAll(m[1], "\x00", "\r\n")
		uidItem := fmt.Sprintf("UID %d", uid)
		s = strings.TrimSpace(strings.Replace(strings.Replace(s, uidItem+" ", "", 1), " "+uidItem, "", 1))
		if s == uidItem {
			s = ""
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

var reFieldList = regexp.MustCompile(`HEADER\.FIELDS(\.NOT)? \([^)]*\)\]`)

// normFetch erases the differences RFC 9051 leaves to each server: \Recent
// (only one session sees it), the case of the echoed header field names
// (§6.4.5: field names are case-insensitive), and literal8 for BINARY
// content without NUL (§7.5.2 allows a plain literal there).
func normFetch(s string) string {
	s = strings.NewReplacer(` \Recent`, "", `\Recent `, "", `(\Recent)`, "()").Replace(s)
	s = reFieldList.ReplaceAllStringFunc(s, strings.ToUpper)
	return strings.Replace(s, "] ~{", "] {", 1)
}

// Differential: messages an MDA left in a Maildir (LF line ends, MIME of
// several shapes, testdata/interop/*.eml) fetched from Dovecot and from
// imapd give the same answers, byte for byte, item by item.
func TestDovecotFetchDifferential(t *testing.T) {
	requireDovecot(t)
	u, maildir := freshDcUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "tests", "testdata", "interop", "*.eml"))
	if len(files) == 0 {
		t.Fatal("no testdata/interop/*.eml")
	}
	// Sections each message has, beyond the whole-message items.
	sections := map[string][]string{
		"1-plain.eml":       {"1", "1.MIME"},
		"2-alternative.eml": {"1", "2", "1.MIME", "2.MIME"},
		"3-mixed.eml":       {"1", "2", "3", "2.MIME", "3.HEADER", "3.TEXT", "3.1", "3.2", "3.2.MIME"},
		"4-noheaders.eml":   {"1"},
	}
	date := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	bySubject := map[string]string{}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(maildir, "cur", fmt.Sprintf("1795000%03d.M%dP1.mda:2,S", i, i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, b, 0o600)
		os.Chtimes(p, date, date.Add(time.Duration(i)*time.Hour))
		bySubject[subject(string(b))] = filepath.Base(f)
	}
	for _, d := range []string{"", "cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(maildir, d), 0o700)
	}
	filepath.Walk(maildir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Chown(p, uid, gid)
		}
		return nil
	})

	dc := newDovecot(t)
	dc.start()
	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	ds := d.snapshot("d2", "INBOX")
	s := startServer(t, dcImapdConf)
	m := login(t, s, "dcuser", "dcuser-pw")
	compareState(t, "imapd next to Dovecot:", "INBOX", ds, m.snapshot("m2", "INBOX"))

	items := []string{"ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "INTERNALDATE", "FLAGS",
		"BODY.PEEK[]", "BODY.PEEK[HEADER]", "BODY.PEEK[TEXT]", "BODY.PEEK[]<10.20>",
		"BODY.PEEK[HEADER.FIELDS (Subject From X-Missing)]", "BODY.PEEK[HEADER.FIELDS.NOT (Subject Date)]",
		"RFC822.HEADER", "BINARY.SIZE[1]"}
	n := 0
	for _, msg := range ds.msgs {
		name := bySubject[subject(msg.body)]
		its := slices.Clone(items)
		for _, sec := range sections[name] {
			its = append(its, "BODY.PEEK["+sec+"]")
			if !strings.Contains(sec, "MIME") && !strings.Contains(sec, "HEADER") && !strings.Contains(sec, "TEXT") && !(name == "3-mixed.eml" && (sec == "3" || sec == "3.2")) {
				its = append(its, "BINARY.PEEK["+sec+"]")
			}
		}
		for _, it := range its {
			n++
			want := normFetch(d.fetchItem(fmt.Sprintf("d%d", n), msg.uid, it))
			got := normFetch(m.fetchItem(fmt.Sprintf("m%d", n), msg.uid, it))
			if got != want {
				t.Errorf("%s UID %d FETCH %s:\nimapd:   %q\nDovecot: %q", name, msg.uid, it, got, want)
			}
		}
	}
	if n < 50 {
		t.Errorf("only %d comparisons", n)
	}

	// SEARCH, same keys to both: flags and keywords set through Dovecot,
	// header and body text (decoded: encoded words, quoted-printable,
	// ISO-8859-1), sizes, internal and sent dates, UID sets, OR and NOT.
	d.C("d3 SELECT INBOX")
	d.S("d3 OK")
	d.C(`d4 UID STORE 1,3 +FLAGS (\Flagged Work)`)
	d.S("d4 OK")
	d.C(`d5 UID STORE 2 -FLAGS (\Seen)`)
	d.S("d5 OK")
	m.C("m3 SELECT INBOX")
	m.S("m3 OK")
	keys := []string{
		"ALL", "SEEN", "UNSEEN", "FLAGGED", "UNFLAGGED", "KEYWORD Work", "UNKEYWORD Work", "KEYWORD Absent",
		"ANSWERED", "DELETED", "DRAFT", "UNDRAFT",
		`SUBJECT "newsletter"`, `SUBJECT "GRÜSSE"`, `SUBJECT "Grüße"`, `FROM "müller"`, `FROM "anna@"`,
		`TO "carol"`, `TO "team"`, `CC "eavesdropper"`, `BCC "x"`, `FROM "grace"`,
		`BODY "café"`, `BODY "costs 3 €"`, `BODY "Zweite Zeile"`, `BODY "JVBERi0"`, `BODY "inside"`,
		`TEXT "report"`, `TEXT "anna@example.org"`, `TEXT "forwarded inside"`,
		`HEADER Message-ID "<mixed.3"`, `HEADER X-Missing ""`, `HEADER Content-Type "multipart"`, `HEADER Subject ""`,
		"LARGER 500", "SMALLER 300", "LARGER 100000",
		"ON 20-Nov-2026", "BEFORE 20-Nov-2026", "SINCE 20-Nov-2026", "SINCE 21-Nov-2026",
		"SENTON 25-Nov-2026", "SENTBEFORE 25-Nov-2026", "SENTSINCE 25-Nov-2026", "SENTSINCE 27-Nov-2026",
		"UID 2:*", "UID 3:1", "1:2", "*", "2,4",
		`OR SEEN FLAGGED`, `NOT SEEN`, `NOT (SEEN FLAGGED)`, `OR (SUBJECT "news") (TEXT "pdf")`, `SEEN KEYWORD Work`,
		`CHARSET UTF-8 SUBJECT "grüße"`,
	}
	for i, k := range keys {
		want := normSearch(d.command(fmt.Sprintf("ds%d", i), "UID SEARCH "+k))
		got := normSearch(m.command(fmt.Sprintf("ms%d", i), "UID SEARCH "+k))
		if got != want {
			t.Errorf("UID SEARCH %s:\nimapd:   %s\nDovecot: %s", k, got, want)
		}
	}
}

// normSearch is a SEARCH answer as "OK 1 3 4" (UIDs sorted) or the
// status word of a refusal.
func normSearch(untagged []string, status string) string {
	_, st, _ := strings.Cut(status, " ")
	word, _, _ := strings.Cut(st, " ")
	if word != "OK" {
		return word
	}
	var uids []int
	for _, u := range untagged {
		if rest, ok := strings.CutPrefix(u, "* SEARCH"); ok {
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				uids = append(uids, n)
			}
		}
	}
	sort.Ints(uids)
	return strings.TrimSpace(fmt.Sprint("OK ", strings.Trim(fmt.Sprint(uids), "[]")))
}

// The common migration setup: Dovecot's LDA (or LMTP) keeps delivering
// into the Maildir imapd serves. An IDLE session sees the deliveries, and
// imapd shows them with the UIDs the LDA wrote to dovecot-uidlist.
func TestDovecotLDADelivery(t *testing.T) {
	requireRoot(t)
	lda := "/usr/lib/dovecot/dovecot-lda"
	if _, err := os.Stat(lda); err != nil {
		t.Fatal("dovecot-lda not installed (Debian package dovecot-core; .ci/test.sh installs it)")
	}
	freshDcUser(t)
	// The LDA looks the user up through the running Dovecot's auth service.
	dc := newDovecot(t)
	dc.start()
	s := startServer(t, dcImapdConf)
	m := login(t, s, "dcuser", "dcuser-pw")
	m.C(`m1 CREATE "Lists/go"`)
	m.S("m1 OK")
	m.C("m2 SELECT INBOX")
	m.S("m2 OK")
	_, first := m.appendMsg("m3", "INBOX", `(\Seen)`, dcMessage(1, " (imapd)"))
	deliver := func(folder, body string) {
		t.Helper()
		args := []string{"-c", dc.conf, "-d", "dcuser"}
		if folder != "" {
			args = append(args, "-m", folder)
		}
		cmd := exec.Command(lda, args...)
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dovecot-lda %v: %v\n%s", args, err, out)
		}
	}
	m.C("m4 IDLE")
	m.S("+ ")
	deliver("", "From: lda@example.org\nSubject: delivered 1\n\nby dovecot-lda\n")
	m.S("* 2 EXISTS")
	deliver("", "From: lda@example.org\nSubject: delivered 2\n\nby dovecot-lda\n")
	m.S("* 3 EXISTS")
	m.C("DONE")
	m.S("m4 OK")
	deliver("Lists/go", "From: golang-nuts@example.org\nSubject: to a folder\n\nby dovecot-lda -m\n")

	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	for _, mb := range []string{"INBOX", `"Lists/go"`} {
		want := d.snapshot("d2", mb)
		got := m.snapshot("m5", mb)
		compareState(t, "imapd after dovecot-lda deliveries:", mb, want, got)
		if mb == "INBOX" && (len(got.msgs) != 3 || got.msgs[0].uid != first) {
			t.Errorf("imapd INBOX after two deliveries: %+v, want 3 messages from UID %d", got.msgs, first)
		}
		if mb != "INBOX" && len(got.msgs) != 1 {
			t.Errorf("imapd %s after a delivery: %+v", mb, got.msgs)
		}
	}
}

// Migration the other way round, over IMAP: Dovecot's dsync, with imapd as
// its imapc source ("doveadm backup -R ... imapc:"), copies a user's
// mailboxes into a Maildir. Dovecot then serves them with imapd's
// UIDVALIDITY, UIDs, flags, keywords and bytes: imapd's answers were
// complete and exact enough for a real client that trusts them.
func TestDovecotMigratesFromImapd(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("doveadm"); err != nil {
		t.Fatal("doveadm not installed (Debian package dovecot-core; .ci/test.sh installs it)")
	}
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	u := ensureUser(t, "dcuser", "dcuser-pw")
	maildir := filepath.Join(u.HomeDir, "Maildir")
	if err := os.RemoveAll(maildir); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, pamConf)
	c := login(t, s, "alice", "alice-pw")
	flags := []string{`(\Seen)`, ``, `(\Flagged $Forwarded)`, `(\Answered Work)`, `(\Seen Later Work)`, ``}
	for i, f := range flags {
		c.appendMsg(fmt.Sprintf("a1.%d", i), "INBOX", f, dcMessage(i+1, " (imapd)"))
	}
	c.C("a2 SELECT INBOX")
	c.S("a2 OK")
	c.C(`a3 UID STORE 2,6 +FLAGS.SILENT (\Deleted)`)
	c.S("a3 OK")
	c.C("a4 EXPUNGE")
	c.S("a4 OK")
	c.C(`a5 CREATE "Work/Sub"`)
	c.S("a5 OK")
	c.appendMsg("a6", `"Work/Sub"`, `(\Seen Project-X)`, dcMessage(7, " (subfolder)"))
	c.C(`a7 CREATE "Entw&APw-rfe"`)
	c.S("a7 OK")
	c.appendMsg("a8", `"Entw&APw-rfe"`, `(\Draft)`, dcMessage(8, " (draft)"))
	mailboxes := []string{"INBOX", `"Work/Sub"`, `"Entw&APw-rfe"`}
	want := map[string]mboxState{}
	for i, mb := range mailboxes {
		want[mb] = c.snapshot(fmt.Sprintf("a9.%d", i), mb)
	}
	names := c.listNames("a10")
	c.C("a11 LOGOUT")
	c.S("a11 OK")

	dc := newDovecot(t)
	dc.start()
	cmd := exec.Command("doveadm", "-c", dc.conf,
		"-o", "imapc_host=127.0.0.1", "-o", "imapc_port="+strconv.Itoa(s.port),
		"-o", "imapc_user=alice", "-o", "imapc_password=alice-pw", "-o", "imapc_features=rfc822.size",
		"backup", "-R", "-u", "dcuser", "imapc:")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("doveadm backup from imapd: %v\n%s", err, out)
	}
	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	if got := d.listNames("d2"); !slices.Equal(got, names) {
		t.Errorf("Dovecot LIST after dsync %v, imapd LIST %v", got, names)
	}
	for i, mb := range mailboxes {
		compareState(t, "Dovecot after dsync from imapd:", mb, want[mb], d.snapshot(fmt.Sprintf("d3.%d", i), mb))
	}
}
