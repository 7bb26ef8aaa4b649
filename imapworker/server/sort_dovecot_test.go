package server

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// dovecotIMAP is Dovecot's imap binary, which serves one pre-authenticated
// session on stdin and stdout when run by itself: no daemon, account or
// network, so this differential test runs with the package's unit tests.
const dovecotIMAP = "/usr/lib/dovecot/imap"

// genFolder writes n messages into dir/cur: threads with References and
// In-Reply-To (missing parents, duplicate and absent Message-IDs, loops),
// subjects with Re:, Fwd:, [tags], "(fwd)", encoded and 8-bit text,
// addresses with display names (quoted, encoded, none), groups and
// comments, dates in many zones, missing and broken, and varied sizes.
func genFolder(t *testing.T, dir string, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(13, 5256))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	names := []string{
		`"Alice Example" <alice@example.org>`, "Bob <bob@example.net>", "carol@example.com",
		"=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>", `"Smith, John" <john.smith@example.org>`,
		"dave (Dave D.) <dave@example.org>", `"zoe"@example.org`, "<user-from (comment)@ (comment) domain.org>",
		"Éloïse <eloise@example.fr>", "_under <under@example.org>", "MixedCase <Mixed@Example.ORG>",
		"undisclosed-recipients:;", "Team: erin@example.org, frank@example.org;", "", "Zed <zed@example.org>",
		"=?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>", "noname@", "yves@example.org (Yves)",
	}
	subjects := []string{
		"meeting", "Re: meeting", "RE: re: Meeting", "Fwd: meeting", "[list] meeting", "[list] Re: meeting",
		"meeting (fwd)", "[fwd: meeting]", "Re[2]: budget", "budget", "Budget 2024", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=",
		"Re: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "Grüße", "Äpfel und Birnen", "", "Re:", "[tag]", "[a] [b] c",
		"  spaced\t out  ", "Fw: news", "news", "_underscore", "zebra", "123 numbers", "Re: Re: Re: deep",
	}
	zones := []string{"+0000", "-0800", "+0530", "+1400", "-1200", "GMT", "EST", "+0100"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range n {
		var h []string
		d := base.Add(time.Duration(r.IntN(365*24*3600)) * time.Second)
		switch r.IntN(20) {
		case 0: // no Date
		case 1:
			h = append(h, "Date: not a date")
		case 2: // obsolete forms: two-digit year, no seconds, a comment
			h = append(h, "Date: "+d.Format("2 Jan 06 15:04 ")+pick(zones...)+" (comment)")
		default:
			h = append(h, "Date: "+d.Format("Mon, 2 Jan 2006 15:04:05 ")+pick(zones...))
		}
		h = append(h, "From: "+pick(names...))
		if r.IntN(10) > 0 {
			// An empty first member is obsolete syntax, and no address
			// (RFC 5322 §4.4); Dovecot reads one: docs/conformance.md.
			to := pick(names...)
			if to == "" {
				to = pick(names[:3]...)
			}
			h = append(h, "To: "+to+", "+pick(names...))
		}
		if r.IntN(3) == 0 {
			h = append(h, "Cc: "+pick(names...))
		}
		if r.IntN(30) > 0 {
			h = append(h, "Subject: "+pick(subjects...))
		}
		id := fmt.Sprintf("<%d.%d@gen.example>", i, r.IntN(1000))
		switch r.IntN(25) {
		case 0: // no Message-ID
		case 1:
			if len(ids) > 0 {
				h = append(h, "Message-ID: "+ids[r.IntN(len(ids))]) // a duplicate
			}
		case 2:
			h = append(h, "Message-ID: broken-id")
		default:
			h = append(h, "Message-ID: "+id)
			ids = append(ids, id)
		}
		if len(ids) > 1 {
			switch r.IntN(6) {
			case 0, 1: // References: a chain ending in a parent
				k := r.IntN(len(ids))
				refs := []string{}
				for j := max(0, k-r.IntN(4)); j <= k; j++ {
					refs = append(refs, ids[j])
				}
				if r.IntN(8) == 0 {
					refs = append([]string{fmt.Sprintf("<missing%d@gen.example>", r.IntN(20))}, refs...)
				}
				h = append(h, "References: "+strings.Join(refs, "\r\n "))
			case 2:
				h = append(h, "In-Reply-To: "+ids[r.IntN(len(ids))]+" (message of earlier)")
			case 3:
				if r.IntN(4) == 0 {
					h = append(h, fmt.Sprintf("References: <missing%d@gen.example>", r.IntN(20)))
				}
			case 4:
				if r.IntN(10) == 0 { // a reference to itself or a later message: loops
					h = append(h, fmt.Sprintf("References: <%d.0@gen.example> %s", i+r.IntN(3), id))
				}
			}
		}
		msg := strings.Join(h, "\r\n") + "\r\n\r\n" + strings.Repeat("body text\r\n", r.IntN(200))
		name := fmt.Sprintf("%d.M%dP1.gen:2,", 1700000000+i, i)
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		// INTERNALDATE is the file's mtime for both servers; a few alike.
		mt := base.Add(time.Duration(i/3) * time.Hour)
		os.Chtimes(p, mt, mt)
	}
}

// sortDovecotCommands are the commands both servers answer.
func sortDovecotCommands() []string {
	keys := []string{"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"}
	var cmds []string
	for _, a := range keys {
		cmds = append(cmds, "UID SORT ("+a+") UTF-8 ALL", "UID SORT (REVERSE "+a+") UTF-8 ALL")
		for _, b := range keys {
			if a != b {
				cmds = append(cmds, "UID SORT ("+a+" REVERSE "+b+") UTF-8 ALL")
			}
		}
	}
	cmds = append(cmds,
		"UID SORT (SUBJECT FROM DATE) UTF-8 ALL",
		"UID SORT (REVERSE TO REVERSE CC SIZE) UTF-8 ALL",
		"UID SORT (DATE) UTF-8 SUBJECT meeting",
		"UID SORT (DISPLAYFROM) UTF-8 OR FROM example.org TO example.net",
		"UID SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 LARGER 500",
		"UID SORT RETURN (PARTIAL 100:150) (SUBJECT REVERSE DATE) UTF-8 ALL",
		"SORT RETURN (COUNT PARTIAL 1:20) (DISPLAYFROM) UTF-8 NOT FROM alice",
		"UID SEARCH RETURN (PARTIAL 51:100) FROM example.org",
		"UID THREAD ORDEREDSUBJECT UTF-8 ALL",
		"UID THREAD REFERENCES UTF-8 ALL",
		"UID THREAD REFERENCES UTF-8 SENTSINCE 1-Jun-2024",
		"UID THREAD ORDEREDSUBJECT UTF-8 NOT SUBJECT meeting",
		"UID SEARCH FROM user-from@domain.org",
		"UID SEARCH FROM alice",
		"UID SEARCH TO \"Smith, John\"",
		"UID SEARCH CHARSET UTF-8 CC \"jürgen\"",
		"UID SEARCH CHARSET UTF-8 FROM \"andré\"",
		"UID SEARCH TO team",
		"UID SEARCH CHARSET UTF-8 SUBJECT \"grüße\"",
		"UID SEARCH SUBJECT \"re: meeting\"",
	)
	return cmds
}

// answers runs cmds over a session and returns each command's untagged
// lines.
func answers(t *testing.T, w func(string), rd *bufio.Reader, cmds []string) [][]string {
	t.Helper()
	out := make([][]string, len(cmds))
	for i, cmd := range cmds {
		tag := "d" + strconv.Itoa(i)
		w(tag + " " + cmd + "\r\n")
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			l = strings.TrimRight(l, "\r\n")
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Fatalf("%s: %s", cmd, l)
				}
				break
			}
			switch {
			case strings.HasPrefix(l, "* ESEARCH"):
				out[i] = append(out[i], esearchItems(strings.Replace(l, `(TAG "`+tag+`")`, "", 1)))
			case strings.HasPrefix(l, "* SORT"), strings.HasPrefix(l, "* THREAD"), strings.HasPrefix(l, "* SEARCH"):
				out[i] = append(out[i], strings.TrimRight(l, " ")) // Dovecot ends an empty THREAD with a space
			}
		}
	}
	return out
}

// needDovecot skips the test without root or Dovecot's imap binary (fails
// it under CI=true) and returns the user Dovecot runs as.
func needDovecot(t *testing.T) *user.User {
	t.Helper()
	if _, err := os.Stat(dovecotIMAP); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and Dovecot's imap binary (Debian dovecot-imapd) under CI=true")
		}
		t.Skip("needs root and " + dovecotIMAP)
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	return nobody
}

// dovecotConf writes a Dovecot configuration for the Maildir md, run as
// nobody with in-memory indexes, gives md to nobody, and returns its path.
func dovecotConf(t *testing.T, root, md string, nobody *user.User) string {
	t.Helper()
	conf := filepath.Join(root, "dovecot.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("mail_location = maildir:%s:INDEX=MEMORY\nlog_path = /dev/null\n"+
		"mail_uid = %s\nmail_gid = %s\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n", md, nobody.Uid, nobody.Gid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chown", "-R", nobody.Uid+":"+nobody.Gid, md).Run(); err != nil {
		t.Fatal(err)
	}
	return conf
}

// dovecotRoot makes a directory nobody may enter, removed after the test,
// and returns it and the path of a Maildir in it.
func dovecotRoot(t *testing.T, prefix string) (root, md string) {
	t.Helper()
	root, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	return root, filepath.Join(root, "Maildir")
}

// startDovecot runs Dovecot's imap binary pre-authenticated with conf; it
// is killed when the caller returns if not ended before.
func startDovecot(t *testing.T, root, conf string) (io.WriteCloser, io.Reader, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(dovecotIMAP, "-c", conf)
	cmd.Env = []string{"HOME=" + root, "USER=nobody", "TZ=UTC"}
	in, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return in, stdout, cmd
}

// useMaildir makes every user of the test servers made after it share the
// Maildir md.
func useMaildir(t *testing.T, md string, opts maildir.Options) {
	old := newBackend
	t.Cleanup(func() { newBackend = old })
	newBackend = func(testing.TB) store.Backend {
		return maildir.NewBackend(func(string) (string, error) { return md, nil }, opts)
	}
}

// TestSortDovecot compares SORT, SORT=DISPLAY, THREAD and address SEARCH
// with Dovecot's answers on one generated folder; every difference must
// be one docs/conformance.md lists (sortDovecotKnown).
func TestSortDovecot(t *testing.T) {
	nobody := needDovecot(t)
	n := 2000
	if testing.Short() {
		n = 500
	}
	root, md := dovecotRoot(t, "imapd-sortdc-")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o755)
	}
	genFolder(t, md, n)
	cmds := sortDovecotCommands()

	// Dovecot first: it writes the dovecot-uidlist imapd then reads, so
	// both give the same UIDs.
	conf := dovecotConf(t, root, md, nobody)
	in, stdout, cmd := startDovecot(t, root, conf)
	drd := bufio.NewReaderSize(stdout, 1<<20)
	dw := func(s string) { in.Write([]byte(s)) }
	if l, _ := drd.ReadString('\n'); !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("Dovecot greeting %q", l)
	}
	answers(t, dw, drd, []string{"SELECT INBOX"})
	want := answers(t, dw, drd, cmds)
	dw("z LOGOUT\r\n")
	in.Close()
	cmd.Wait()

	useMaildir(t, md, maildir.Options{})
	ts := newTestServer(t)
	c := ts.login("alice")
	selectInbox(c)
	got := answers(t, c.C2, c.br, cmds)
	// Twice: the second from the cached keys.
	again := answers(t, c.C2, c.br, cmds)

	differ := 0
	for i := range cmds {
		g, w := strings.Join(got[i], "\n"), strings.Join(want[i], "\n")
		if a := strings.Join(again[i], "\n"); a != g {
			t.Errorf("C: %s\nfirst and repeated answers differ", cmds[i])
		}
		if g == w {
			continue
		}
		differ++
		if why, ok := sortDovecotKnown[cmds[i]]; ok {
			t.Logf("C: %s\nknown difference: %s", cmds[i], why)
			continue
		}
		t.Errorf("C: %s\nimapd:   %.300s\ndovecot: %.300s\nfirst difference at %d", cmds[i], g, w, firstDiff(g, w))
	}
	t.Logf("%d messages, %d commands, %d answers differ", n, len(cmds), differ)
	if dir := os.Getenv("SORTDC_KEEP"); dir != "" { // for a closer look
		exec.Command("cp", "-a", md, dir).Run()
		for i := range cmds {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("cmd%d", i)), []byte(cmds[i]+"\n"+strings.Join(got[i], "\n")+"\n"+strings.Join(want[i], "\n")+"\n"), 0o644)
		}
	}
}

// sortDovecotKnown are the commands whose answers may differ from
// Dovecot's, and why; docs/conformance.md lists them with the RFC text.
var sortDovecotKnown = map[string]string{}

// esearchItems puts the return data of an ESEARCH line in one order (the
// RFC sets none) and the set of a PARTIAL in ascending order: imapd gives
// a SORT's window in sort order, as ESORT's ALL (RFC 5267 §3.1), Dovecot
// ascending; either is the same set.
func esearchItems(l string) string {
	l = strings.TrimPrefix(l, "* ESEARCH")
	var items []string
	if i := strings.Index(l, "PARTIAL ("); i >= 0 {
		j := strings.IndexByte(l[i:], ')')
		rng, set, _ := strings.Cut(l[i+len("PARTIAL ("):i+j], " ")
		var nums []int
		for _, part := range strings.Split(set, ",") {
			a, b, ok := strings.Cut(part, ":")
			x, _ := strconv.Atoi(a)
			y := x
			if ok {
				y, _ = strconv.Atoi(b)
			}
			for k := min(x, y); k <= max(x, y) && k > 0; k++ {
				nums = append(nums, k)
			}
		}
		slices.Sort(nums)
		items = append(items, fmt.Sprint("PARTIAL ", rng, " ", nums))
		l = l[:i] + l[i+j+1:]
	}
	f := strings.Fields(l)
	for i := 0; i < len(f); i++ {
		if f[i] == "UID" || i+1 == len(f) {
			items = append(items, f[i])
			continue
		}
		items = append(items, f[i]+" "+f[i+1])
		i++
	}
	slices.Sort(items)
	return "* ESEARCH " + strings.Join(items, " ")
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// C2 writes a raw command line (with its CRLF) for answers, which reads
// c.br itself: each command gets a minute (the race detector is slow).
func (c *client) C2(s string) {
	c.C(strings.TrimSuffix(s, "\r\n"))
	c.nc.SetReadDeadline(time.Now().Add(time.Minute))
}
