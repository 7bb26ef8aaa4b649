package tests

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 3: real clients (isync's mbsync, curl, Python's imaplib) against
// imapd. The transcript helpers here (command, fetch, appendMsg) serve
// dovecot_test.go too.

// imapMsg is one message as a client saw it.
type imapMsg struct {
	uid   uint32
	flags []string // sorted, \Recent left out: it is session state
	body  string
}

var (
	reUID     = regexp.MustCompile(`\bUID (\d+)`)
	reFlags   = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	reLiteral = regexp.MustCompile(`~?\{(\d+)\}$`)
	// reLiteralStart finds the first literal inlined by command.
	reLiteralStart = regexp.MustCompile(`~?\{(\d+)\}\r\n`)
)

// fetch sends "TAG UID FETCH set items" and collects the FETCH responses,
// reading a literal (BODY[]) byte-exact.
func (c *client) fetch(tag, set, items string) []imapMsg {
	c.t.Helper()
	untagged, status := c.command(tag, "UID FETCH "+set+" "+items)
	if !strings.HasPrefix(status, tag+" OK") {
		c.t.Fatalf("C: %s UID FETCH %s %s\nS: %s", tag, set, items, status)
	}
	var out []imapMsg
	for _, full := range untagged {
		if !strings.HasPrefix(full, "* ") || !strings.Contains(full, " FETCH (") {
			continue
		}
		var m imapMsg
		meta := full
		if loc := reLiteralStart.FindStringSubmatchIndex(full); loc != nil {
			n, _ := strconv.Atoi(full[loc[2]:loc[3]])
			m.body = full[loc[1] : loc[1]+n]
			meta = full[:loc[0]] + full[loc[1]+n:]
		}
		if u := reUID.FindStringSubmatch(meta); u != nil {
			m.uid = atoi32(u[1])
		}
		if f := reFlags.FindStringSubmatch(meta); f != nil {
			for _, fl := range strings.Fields(f[1]) {
				if fl != `\Recent` {
					m.flags = append(m.flags, fl)
				}
			}
			sort.Strings(m.flags)
		}
		out = append(out, m)
	}
	return out
}

// command sends one command and returns its untagged responses, literals
// inlined as "{n}\r\n" and their bytes, and the tagged status line.
func (c *client) command(tag, cmd string) (untagged []string, status string) {
	c.t.Helper()
	c.C(tag + " " + cmd)
	for {
		lines, err := c.readUntil("", 10*time.Second)
		if err != nil {
			c.t.Fatalf("C: %s %s\nS: %v", tag, cmd, err)
		}
		line := lines[0]
		if strings.HasPrefix(line, tag+" ") {
			return untagged, line
		}
		full := line
		// A literal ends its line: read its bytes, then the rest of the response.
		for {
			lit := reLiteral.FindStringSubmatch(line)
			if lit == nil {
				break
			}
			n, _ := strconv.Atoi(lit[1])
			buf := make([]byte, n)
			if _, err := io.ReadFull(c.r, buf); err != nil {
				c.t.Fatalf("S: literal of %d bytes: %v", n, err)
			}
			rest, err := c.readUntil("", 10*time.Second)
			if err != nil {
				c.t.Fatalf("S: after literal: %v", err)
			}
			line = rest[0]
			full += "\r\n" + string(buf) + line
		}
		untagged = append(untagged, full)
	}
}

var reAppendUID = regexp.MustCompile(`\[APPENDUID (\d+) (\d+)\]`)

// appendMsg APPENDs body to mailbox with flags (e.g. `(\Seen)` or "") and
// returns the UIDVALIDITY and UID of RFC 4315's APPENDUID.
func (c *client) appendMsg(tag, mailbox, flags, body string) (uidvalidity, uid uint32) {
	c.t.Helper()
	if flags != "" {
		flags += " "
	}
	c.raw(fmt.Sprintf("%s APPEND %s %s{%d+}\r\n%s\r\n", tag, mailbox, flags, len(body), body))
	lines := c.S(tag + " ")
	last := lines[len(lines)-1]
	m := reAppendUID.FindStringSubmatch(last)
	if !strings.HasPrefix(last, tag+" OK") || m == nil {
		c.t.Fatalf("C: %s APPEND %s %s{%d+}\nS: %s (want OK [APPENDUID ...])", tag, mailbox, flags, len(body), last)
	}
	v, _ := strconv.ParseUint(m[1], 10, 32)
	u, _ := strconv.ParseUint(m[2], 10, 32)
	return uint32(v), uint32(u)
}

// subject is a message's Subject header value.
func subject(body string) string {
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimRight(l, "\r")
		if l == "" {
			break
		}
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			return v
		}
	}
	return ""
}

// mbsync copies messages with an X-TUID header added (its transaction id);
// the tests compare everything else byte for byte.
var reTUID = regexp.MustCompile(`(?m)^X-TUID: [^\r\n]*\r?\n`)

func withoutTUID(s string) string { return reTUID.ReplaceAllString(s, "") }

// maildirFlags maps a Maildir info suffix to IMAP system flags.
var maildirFlags = map[rune]string{'D': `\Draft`, 'F': `\Flagged`, 'R': `\Answered`, 'S': `\Seen`, 'T': `\Deleted`}

// localMsg is one file of a Maildir folder that mbsync keeps.
type localMsg struct {
	path  string
	flags []string
	body  string
}

// readMaildir reads every message of a Maildir folder, keyed by Subject.
func readMaildir(t *testing.T, dir string) map[string]localMsg {
	t.Helper()
	out := map[string]localMsg{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m := localMsg{path: p, body: string(b)}
			if _, info, ok := strings.Cut(e.Name(), ":2,"); ok {
				for _, r := range info {
					if f, ok := maildirFlags[r]; ok {
						m.flags = append(m.flags, f)
					}
				}
			}
			sort.Strings(m.flags)
			s := subject(m.body)
			if _, dup := out[s]; dup {
				t.Errorf("%s: two messages with Subject %q", dir, s)
			}
			out[s] = m
		}
	}
	return out
}

// serverMailbox SELECTs mailbox and returns its messages keyed by Subject.
func (c *client) serverMailbox(tag, mailbox string) map[string]imapMsg {
	c.t.Helper()
	c.C(tag + "s SELECT " + mailbox)
	c.S(tag + "s OK")
	out := map[string]imapMsg{}
	for _, m := range c.fetch(tag+"f", "1:*", "(UID FLAGS BODY.PEEK[])") {
		s := subject(m.body)
		if _, dup := out[s]; dup {
			c.t.Errorf("server %s: two messages with Subject %q", mailbox, s)
		}
		out[s] = m
	}
	return out
}

// wantMsg is what both sides must hold after a sync: the body with LF line
// ends (as mbsync writes Maildir files) and the system flags.
type wantMsg struct {
	body  string
	flags []string
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// compareSides checks that the server's mailbox and the local Maildir
// folder both hold exactly want.
func compareSides(t *testing.T, when string, c *client, tag, mailbox, dir string, want map[string]wantMsg) {
	t.Helper()
	srv := c.serverMailbox(tag, mailbox)
	loc := readMaildir(t, dir)
	for subj, w := range want {
		wf := slices.Clone(w.flags)
		sort.Strings(wf)
		if m, ok := srv[subj]; !ok {
			t.Errorf("%s: server %s lacks %q", when, mailbox, subj)
		} else {
			if got := withoutTUID(m.body); got != crlf(w.body) {
				t.Errorf("%s: server %s %q body\n got %q\nwant %q", when, mailbox, subj, got, crlf(w.body))
			}
			if !slices.Equal(m.flags, wf) {
				t.Errorf("%s: server %s %q (UID %d) flags %v, want %v", when, mailbox, subj, m.uid, m.flags, wf)
			}
		}
		if m, ok := loc[subj]; !ok {
			t.Errorf("%s: local %s lacks %q", when, dir, subj)
		} else {
			if got := withoutTUID(m.body); got != w.body {
				t.Errorf("%s: local %s body\n got %q\nwant %q", when, m.path, got, w.body)
			}
			if !slices.Equal(m.flags, wf) {
				t.Errorf("%s: local %s flags %v, want %v", when, m.path, m.flags, wf)
			}
		}
	}
	for subj := range srv {
		if _, ok := want[subj]; !ok {
			t.Errorf("%s: server %s has unexpected %q", when, mailbox, subj)
		}
	}
	for subj, m := range loc {
		if _, ok := want[subj]; !ok {
			t.Errorf("%s: local has unexpected %s (%q)", when, m.path, subj)
		}
	}
}

// runMbsync runs one sync of every channel with sync-level debugging, whose
// "-> log:" lines are mbsync's journal of every change it makes, and
// network debugging, which shows it compressed: isync ends its writes
// with Z_PARTIAL_FLUSH (imapworker/inflate).
func runMbsync(t *testing.T, rc string) (out string, changes []string) {
	t.Helper()
	cmd := exec.Command("mbsync", "-c", rc, "-Dsn", "-a")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, b)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "-> log: ") {
			changes = append(changes, l)
		}
	}
	if !regexp.MustCompile(`(?m)^>>> \d+ COMPRESS DEFLATE\r?$`).Match(b) {
		t.Errorf("mbsync did not turn COMPRESS=DEFLATE on (RFC 4978)")
	}
	t.Logf("mbsync journaled %d changes", len(changes))
	return string(b), changes
}

func writeMaildirMsg(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(filepath.Dir(filepath.Dir(path)), d), 0o700)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// loginSTARTTLS is login on a STARTTLS listener.
func loginSTARTTLS(t *testing.T, s *server, user, pw string) *client {
	t.Helper()
	c := dial(t, s.addr)
	c.C("t1 STARTTLS")
	c.S("t1 OK")
	c.starttls()
	c.C(fmt.Sprintf("t2 LOGIN %s %s", user, pw))
	c.S("t2 OK")
	return c
}

// Issue 3, 1: mbsync (isync) over STARTTLS syncs a mailbox both ways:
// messages, folders, flag changes and deletions from either side; a second
// run with nothing changed has nothing to do. Both storage engines, since
// mbsync drives each through UIDPLUS, flag stores and expunges.
func TestMbsyncTwoWay(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("mbsync"); err != nil {
		t.Fatal("mbsync not installed (Debian package isync; .ci/test.sh installs it)")
	}
	ensureSystemSetup(t)
	for _, storage := range []string{"memory", "maildir"} {
		t.Run(storage, func(t *testing.T) { mbsyncTwoWay(t, storage) })
	}
}

func mbsyncTwoWay(t *testing.T, storage string) {
	alice := ensureUser(t, "alice", "alice-pw")
	certDir := t.TempDir()
	cert, key, _ := testCert(t, certDir, "localhost")
	// The Maildir base is root's, alice's own directory in it hers; every
	// level must be searchable by her, which t.TempDir's parent is not.
	base, err := os.MkdirTemp("", "imapd-mbsync-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	home := filepath.Join(base, "alice")
	os.Mkdir(home, 0o700)
	uid, _ := strconv.Atoi(alice.Uid)
	gid, _ := strconv.Atoi(alice.Gid)
	os.Chown(home, uid, gid)
	if storage == "maildir" {
		storage = fmt.Sprintf("maildir %q", base)
	}
	s := startServer(t, fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% starttls
tls certificate "%s" key "%s"
storage %s
auth pam service imapd
plaintext auth deny
preauth workers 1
control socket "%%DIR%%/control.sock"
`, cert, key, storage))

	// Server side: three INBOX messages and a nested folder.
	srvMsgs := []struct{ subj, flags string }{
		{"server one", ""}, {"server two", `(\Seen)`}, {"server three", `(\Flagged \Draft)`},
	}
	want := map[string]wantMsg{}
	c := loginSTARTTLS(t, s, "alice", "alice-pw")
	for i, m := range srvMsgs {
		body := fmt.Sprintf("From: s%d@example.org\nTo: alice@example.org\nSubject: %s\nMessage-ID: <s%d@example.org>\n\nserver body %d\n", i, m.subj, i, i)
		flags := m.flags
		if i == 0 {
			flags = `"02-Jan-2020 10:00:00 +0000"`
		}
		c.appendMsg(fmt.Sprintf("s%d", i), "INBOX", flags, crlf(body))
		var fl []string
		if m.flags != "" {
			fl = strings.Fields(strings.Trim(m.flags, "()"))
		}
		want[m.subj] = wantMsg{body, fl}
	}
	c.C(`s5 CREATE "Lists/go"`)
	c.S("s5 OK")
	listBody := "From: golang-nuts@example.org\nSubject: list mail\n\nnested folder\n"
	c.appendMsg("s6", `"Lists/go"`, "", crlf(listBody))
	// "Entwürfe" in modified UTF-7, as an IMAP4rev1 client (mbsync) sees it.
	c.C(`s6a CREATE "Entw&APw-rfe"`)
	c.S("s6a OK")
	draftBody := "From: alice@example.org\nSubject: draft\n\nnon-ASCII folder\n"
	c.appendMsg("s6b", `"Entw&APw-rfe"`, `(\Draft)`, crlf(draftBody))
	c.C("s7 LOGOUT")
	c.S("s7 OK")

	// Near side: two INBOX messages (one already seen and flagged) and a folder.
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	inbox := filepath.Join(local, "INBOX")
	loc1 := "From: l1@example.org\nSubject: local one\n\nlocal body 1\n"
	loc2 := "From: l2@example.org\nSubject: local two\n\nlocal body 2\n"
	notes := "From: me@example.org\nSubject: a note\n\nlocal folder\n"
	writeMaildirMsg(t, filepath.Join(inbox, "new", "1700000001.M1P1.near"), loc1)
	writeMaildirMsg(t, filepath.Join(inbox, "cur", "1700000002.M2P1.near:2,FS"), loc2)
	// Arrival dates travel both ways (CopyArrivalDate): a Maildir file's
	// mtime is its date, the server's is INTERNALDATE.
	localDate := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	os.Chtimes(filepath.Join(inbox, "cur", "1700000002.M2P1.near:2,FS"), localDate, localDate)
	writeMaildirMsg(t, filepath.Join(local, "Notes", "cur", "1700000003.M3P1.near:2,S"), notes)
	want["local one"] = wantMsg{loc1, nil}
	want["local two"] = wantMsg{loc2, []string{`\Flagged`, `\Seen`}}

	rc := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount imapd
Host 127.0.0.1
Port %d
User alice
Pass alice-pw
SSLType STARTTLS
CertificateFile %s
AuthMechs LOGIN

IMAPStore far
Account imapd

MaildirStore near
Path %s/
Inbox %s
SubFolders Verbatim

Channel both
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
`, s.port, cert, local, inbox)), 0o600)

	out, changes := runMbsync(t, rc)
	if len(changes) == 0 {
		t.Errorf("first sync journaled no change:\n%s", out)
	}
	c = loginSTARTTLS(t, s, "alice", "alice-pw")
	compareSides(t, "first sync", c, "c1", "INBOX", inbox, want)
	srvDate := time.Date(2020, 1, 2, 10, 0, 0, 0, time.UTC)
	if fi, err := os.Stat(readMaildir(t, inbox)["server one"].path); err != nil || !fi.ModTime().Equal(srvDate) {
		t.Errorf("local copy of \"server one\": %v, want the mtime %v from its INTERNALDATE", fi.ModTime(), srvDate)
	}
	c.C("c1d SELECT INBOX")
	c.S("c1d OK")
	found := false
	for _, m := range c.fetch("c1e", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
		if !strings.Contains(m.body, "local two") {
			continue
		}
		found = true
		got, st := c.command("c1f", fmt.Sprintf("UID FETCH %d (INTERNALDATE)", m.uid))
		// date-day-fixed is " 4" or "04" (RFC 9051 §9).
		want := regexp.MustCompile(`INTERNALDATE "( 4|04)-Mar-2021 05:06:07 \+0000"`)
		if !strings.HasPrefix(st, "c1f OK") || len(got) != 1 || !want.MatchString(got[0]) {
			t.Errorf("server copy of \"local two\": %q %s, want %s from the file's mtime", got, st, want)
		}
	}
	if !found {
		t.Errorf("no \"local two\" on the server")
	}
	compareSides(t, "first sync", c, "c2", `"Lists/go"`, filepath.Join(local, "Lists", "go"), map[string]wantMsg{"list mail": {listBody, nil}})
	// isync 1.4 keeps the modified UTF-7 name on the near side.
	compareSides(t, "first sync", c, "c2a", `"Entw&APw-rfe"`, filepath.Join(local, "Entw&APw-rfe"), map[string]wantMsg{"draft": {draftBody, []string{`\Draft`}}})
	compareSides(t, "first sync", c, "c3", "Notes", filepath.Join(local, "Notes"), map[string]wantMsg{"a note": {notes, []string{`\Seen`}}})

	// Flags change on both sides, one message is deleted on each side.
	c.C("c4 SELECT INBOX")
	c.S("c4 OK")
	srv := c.serverMailbox("c5", "INBOX")
	c.C(fmt.Sprintf(`c6 UID STORE %d +FLAGS (\Answered \Seen)`, srv["server one"].uid))
	c.S("c6 OK")
	c.C(fmt.Sprintf(`c7 UID STORE %d -FLAGS (\Flagged)`, srv["local two"].uid))
	c.S("c7 OK")
	c.C(fmt.Sprintf(`c8 UID STORE %d +FLAGS (\Deleted)`, srv["server two"].uid))
	c.S("c8 OK")
	c.C("c9 EXPUNGE")
	c.S("c9 OK")
	c.C("c10 LOGOUT")
	c.S("c10 OK")
	w := want["server one"]
	want["server one"] = wantMsg{w.body, []string{`\Answered`, `\Seen`}}
	want["local two"] = wantMsg{loc2, []string{`\Seen`}}
	delete(want, "server two")

	lm := readMaildir(t, inbox)
	p := lm["local one"].path
	name, _, _ := strings.Cut(filepath.Base(p), ":2,")
	if err := os.Rename(p, filepath.Join(inbox, "cur", name+":2,FS")); err != nil {
		t.Fatal(err)
	}
	want["local one"] = wantMsg{loc1, []string{`\Flagged`, `\Seen`}}
	if err := os.Remove(lm["server three"].path); err != nil {
		t.Fatal(err)
	}
	delete(want, "server three")

	out, changes = runMbsync(t, rc)
	if len(changes) == 0 {
		t.Errorf("second sync journaled no change:\n%s", out)
	}
	c = loginSTARTTLS(t, s, "alice", "alice-pw")
	compareSides(t, "second sync", c, "d1", "INBOX", inbox, want)

	// Nothing changed since: a third run must have nothing to do.
	state, _ := os.ReadFile(filepath.Join(inbox, ".mbsyncstate"))
	out, changes = runMbsync(t, rc)
	if len(changes) != 0 {
		t.Errorf("third sync, nothing changed, still journaled %q:\n%s", changes, out)
	}
	if after, _ := os.ReadFile(filepath.Join(inbox, ".mbsyncstate")); !bytes.Equal(state, after) {
		t.Errorf("third sync rewrote the sync state:\n%s\nbecame\n%s", state, after)
	}
	compareSides(t, "third sync", c, "e1", "INBOX", inbox, want)
	if strings.HasPrefix(storage, "maildir") {
		if files, _ := filepath.Glob(filepath.Join(home, "cur", "*")); len(files) != len(want) {
			t.Errorf("server Maildir %s/cur holds %d files, want %d", home, len(files), len(want))
		}
	}
	if t.Failed() {
		t.Logf("last mbsync run:\n%s", out)
	}
}

// Issue 3, 2: curl lists mailboxes and fetches a message by UID, byte-exact.
func TestCurlListAndFetch(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not installed")
	}
	s, _, _ := privServer(t)
	c := login(t, s, "alice", "alice-pw")
	msgs := []string{
		"From: a@example.org\r\nSubject: first\r\n\r\nfirst body\r\n",
		"From: b@example.org\r\nSubject: second\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZweite Nachricht, gr\xc3\xbc\xc3\x9fe\r\n.\r\nno trailing newline",
	}
	var uids []uint32
	for i, m := range msgs {
		_, uid := c.appendMsg(fmt.Sprintf("a%d", i), "INBOX", "", m)
		uids = append(uids, uid)
	}
	c.C(`a3 CREATE "Work/2026"`)
	c.S("a3 OK")

	curl := func(url string, extra ...string) []byte {
		t.Helper()
		args := append([]string{"-sS", "--max-time", "10", "-u", "alice:alice-pw"}, extra...)
		out, err := exec.Command("curl", append(args, url)...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("curl %s: %v\n%s", url, err, stderr)
		}
		return out
	}
	base := fmt.Sprintf("imap://127.0.0.1:%d/", s.port)
	list := string(curl(base))
	for _, want := range []string{`"/" INBOX`, `"/" Work`, `"/" Work/2026`} {
		if !strings.Contains(list, "* LIST ") || !strings.Contains(list, want+"\r\n") {
			t.Errorf("curl %s: no %q LIST line in\n%s", base, want, list)
		}
	}
	for i, uid := range uids {
		url := fmt.Sprintf("%sINBOX;UID=%d", base, uid)
		if got := curl(url); string(got) != msgs[i] {
			t.Errorf("curl %s:\n got %q\nwant %q", url, got, msgs[i])
		}
	}
	// ;SECTION=1 is BODY[1]: the text of a single-part message.
	url := fmt.Sprintf("%sINBOX;UID=%d;SECTION=1", base, uids[0])
	if got, want := string(curl(url)), "first body\r\n"; got != want {
		t.Errorf("curl %s:\n got %q\nwant %q", url, got, want)
	}
	// Upload with curl -T: APPEND, then the message reads back the same.
	up := filepath.Join(t.TempDir(), "up.eml")
	upMsg := "From: curl@example.org\r\nSubject: uploaded\r\n\r\nvia curl -T\r\n"
	os.WriteFile(up, []byte(upMsg), 0o644)
	curl(base+"INBOX", "-T", up)
	c.C("a4 SELECT INBOX")
	c.S("a4 OK")
	got := c.fetch("a5", "1:*", "(UID FLAGS BODY.PEEK[])")
	if len(got) != 3 || got[2].body != upMsg {
		t.Errorf("after curl -T, INBOX holds %+v, want a third message %q", got, upMsg)
	}
	// A query in the URL is a SEARCH; curl prints the untagged answer.
	if got, want := string(curl(base+"INBOX?SUBJECT%20second")), "* SEARCH 2\r\n"; got != want {
		t.Errorf("curl search SUBJECT second: %q, want %q", got, want)
	}
}

// Issue 3, 2 over TLS: curl verifies the server's certificate on implicit
// TLS (imaps://) and on STARTTLS (--ssl-reqd), then fetches byte-exact.
func TestCurlTLS(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not installed")
	}
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	cert, key, _ := testCert(t, t.TempDir(), "localhost")
	port2 := freePort(t)
	s := startTLSServer(t, fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% tls
listen on 127.0.0.1 port %d starttls
tls certificate "%s" key "%s"
storage memory
auth pam service imapd
plaintext auth deny
preauth workers 1
control socket "%%DIR%%/control.sock"
`, port2, cert, key))
	c := dialTLS(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	msg := "From: a@example.org\r\nSubject: over TLS\r\n\r\n" + strings.Repeat("0123456789abcdef", 4096) + "\r\n"
	_, uid := c.appendMsg("a2", "INBOX", "", msg)
	for _, url := range []string{
		fmt.Sprintf("imaps://127.0.0.1:%d/INBOX;UID=%d", s.port, uid),
		fmt.Sprintf("imap://127.0.0.1:%d/INBOX;UID=%d", port2, uid),
	} {
		cmd := exec.Command("curl", "-sS", "--max-time", "10", "--ssl-reqd", "--cacert", cert, "-u", "alice:alice-pw", url)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("curl %s: %v\n%s", url, err, stderr.String())
			continue
		}
		if string(out) != msg {
			t.Errorf("curl %s: %d bytes differ from the %d appended", url, len(out), len(msg))
		}
	}
	// Without --ssl-reqd curl would log in in cleartext; the server refuses.
	url := fmt.Sprintf("imap://127.0.0.1:%d/INBOX;UID=%d", port2, uid)
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "-u", "alice:alice-pw", url).CombinedOutput()
	if err == nil {
		t.Errorf("curl %s in cleartext with plaintext auth deny succeeded: %q", url, out)
	}
}

// Python's imaplib (an IMAP4rev1 client library) through a session of the
// commands clients use most; the script asserts each answer.
func TestPythonImaplib(t *testing.T) {
	requireRoot(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 not installed")
	}
	s, _, _ := privServer(t)
	script := filepath.Join(repoRoot(), "tests", "testdata", "interop", "imaplib_client.py")
	out, err := exec.Command(py, script, "127.0.0.1", strconv.Itoa(s.port), "alice", "alice-pw").CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "ALL OK\n") {
		t.Errorf("imaplib session: %v\n%s", err, out)
	}
}

// mbsync pipelines its commands (APPENDs, FETCHes, STOREs) without waiting
// for answers; a few hundred messages each way keep many in flight.
func TestMbsyncManyMessages(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("mbsync"); err != nil {
		t.Fatal("mbsync not installed (Debian package isync; .ci/test.sh installs it)")
	}
	s, _, _ := privServer(t)
	c := login(t, s, "alice", "alice-pw")
	const nServer, nLocal = 300, 150
	want := map[string]wantMsg{}
	for i := 0; i < nServer; i++ {
		body := fmt.Sprintf("From: s@example.org\nSubject: server %d\n\n%s\n", i, strings.Repeat("x", i*7))
		flags := ""
		if i%3 == 0 {
			flags = `(\Seen)`
		}
		c.appendMsg(fmt.Sprintf("s%d", i), "INBOX", flags, crlf(body))
		want[subject(body)] = wantMsg{body, strings.Fields(strings.Trim(flags, "()"))}
	}
	dir := t.TempDir()
	inbox := filepath.Join(dir, "mail", "INBOX")
	for i := 0; i < nLocal; i++ {
		body := fmt.Sprintf("From: l@example.org\nSubject: local %d\n\n%s\n", i, strings.Repeat("y", i*11))
		writeMaildirMsg(t, filepath.Join(inbox, "cur", fmt.Sprintf("17000%05d.M%dP1.near:2,F", i, i)), body)
		want[subject(body)] = wantMsg{body, []string{`\Flagged`}}
	}
	rc := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount imapd
Host 127.0.0.1
Port %d
User alice
Pass alice-pw
SSLType None
AuthMechs LOGIN

IMAPStore far
Account imapd

MaildirStore near
Path %s/
Inbox %s

Channel inbox
Far :far:INBOX
Near :near:INBOX
Expunge Both
SyncState *
`, s.port, filepath.Join(dir, "mail"), inbox)), 0o600)
	runMbsync(t, rc)
	compareSides(t, "first sync", c, "c1", "INBOX", inbox, want)
	if out, changes := runMbsync(t, rc); len(changes) != 0 {
		t.Errorf("second sync, nothing changed, still journaled %d changes:\n%s", len(changes), out)
	}
}
