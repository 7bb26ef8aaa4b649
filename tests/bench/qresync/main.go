// Command qresync is issue 12's resync benchmark (tests/bench/qresync.sh
// runs it): on a folder of -messages messages, served by imapd and by
// Dovecot from copies of one Maildir, a client that knew the folder comes
// back after another changed flags on 1,000 messages and expunged 100.
// It times, warm, and counts the bytes the server sends for
//
//	SELECT INBOX (QRESYNC (uidvalidity modseq))   (imapd, Dovecot)
//	SELECT INBOX + UID FETCH 1:* (FLAGS)          (the full resync)
//
// checking that each QRESYNC answer names the 100 UIDs and fetches the
// 1,000 messages. It prints a Markdown table (median of -rounds).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	messages = flag.Int("messages", 100000, "messages in the folder")
	rounds   = flag.Int("rounds", 7, "timed rounds per step")
	owner    = flag.String("owner", "", "system user owning the Maildirs")
	userName = flag.String("user", "", "IMAP user")
	pass     = flag.String("pass", "", "IMAP password")
	servers  = map[string]*string{
		"imapd":   flag.String("imapd", "", "imapd address"),
		"dovecot": flag.String("dovecot", "", "Dovecot address"),
	}
	maildirs = map[string]*string{
		"imapd":   flag.String("imapd-maildir", "", "the user's Maildir imapd serves"),
		"dovecot": flag.String("dovecot-maildir", "", "the user's Maildir Dovecot serves"),
	}
)

func main() {
	flag.Parse()
	type row struct {
		name                 string
		qr, full             time.Duration
		qrBytes, fullBytes   int64
		vanished, fetched, n int
	}
	var rows []row
	for _, name := range []string{"imapd", "dovecot"} {
		addr := *servers[name]
		if addr == "" {
			continue
		}
		if err := makeMaildir(*maildirs[name], *messages); err != nil {
			fail(name, err)
		}
		uv, hms, err := learn(addr)
		if err != nil {
			fail(name, err)
		}
		if err := change(addr); err != nil {
			fail(name, err)
		}
		r := row{name: name, n: *messages}
		var qr, full []time.Duration
		for i := 0; i <= *rounds; i++ { // round 0 warms up
			d, b, v, f, err := resync(addr, uv, hms)
			if err != nil {
				fail(name, err)
			}
			if v != 100 || f != 1000 {
				fail(name, fmt.Errorf("QRESYNC answered %d vanished, %d fetched; want 100, 1000", v, f))
			}
			d2, b2, err := fullFetch(addr)
			if err != nil {
				fail(name, err)
			}
			if i > 0 {
				qr, full = append(qr, d), append(full, d2)
			}
			r.qrBytes, r.fullBytes, r.vanished, r.fetched = b, b2, v, f
		}
		r.qr, r.full = median(qr), median(full)
		rows = append(rows, r)
	}
	fmt.Printf("| server | messages | QRESYNC SELECT | bytes | SELECT + UID FETCH 1:* (FLAGS) | bytes |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %v | %d | %v | %d |\n", r.name, r.n, r.qr.Round(10*time.Microsecond), r.qrBytes, r.full.Round(10*time.Microsecond), r.fullBytes)
	}
	if len(rows) == 2 && rows[1].qr > 0 {
		fmt.Printf("\nimapd/Dovecot QRESYNC time: %.2f\n", float64(rows[0].qr)/float64(rows[1].qr))
	}
}

func fail(name string, err error) {
	fmt.Fprintf(os.Stderr, "qresync: %s: %v\n", name, err)
	os.Exit(1)
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// makeMaildir replaces dir with a folder of n messages as Dovecot leaves
// one (files with ,S= and ,W= in cur/, a uidlist), owned by -owner.
func makeMaildir(dir string, n int) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		return fmt.Errorf("the Maildir %q: want an absolute path below /", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The servers, as the user, must reach the Maildir through its parent.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	var ul strings.Builder
	fmt.Fprintf(&ul, "3 V1700000000 N%d G0123456789abcdef0123456789abcdef\n", n+1)
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("From: sender%d@example.org\r\nTo: bench@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@bench>\r\n\r\nbody %d\r\n", i, i, i, i)
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d,W=%d:2,S", 1700000000+i, i, len(msg), len(msg))
		if err := os.WriteFile(filepath.Join(dir, "cur", name), []byte(msg), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&ul, "%d :%s\n", i, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte(ul.String()), 0o600); err != nil {
		return err
	}
	if *owner == "" {
		return nil
	}
	u, err := user.Lookup(*owner)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// conn is a counting IMAP connection.
type conn struct {
	c     net.Conn
	r     *bufio.Reader
	bytes int64
	n     int
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cn := &conn{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if _, err := cn.cmd(""); err != nil {
		return nil, err
	}
	if _, err := cn.cmd(fmt.Sprintf("LOGIN %s %s", *userName, *pass)); err != nil {
		return nil, err
	}
	return cn, nil
}

// cmd sends a command (none for "": the greeting) and returns every line
// up to its tagged answer, which must be OK.
func (c *conn) cmd(line string) ([]string, error) {
	tag := "* "
	if line != "" {
		c.n++
		tag = fmt.Sprintf("b%d ", c.n)
		if _, err := c.c.Write([]byte(tag + line + "\r\n")); err != nil {
			return nil, err
		}
	}
	var out []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return out, err
		}
		c.bytes += int64(len(l))
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		if strings.HasPrefix(l, tag) {
			if !strings.HasPrefix(l, tag+"OK") {
				return out, fmt.Errorf("%s: %s", line, l)
			}
			return out, nil
		}
	}
}

func (c *conn) close() {
	c.cmd("LOGOUT")
	c.c.Close()
}

var (
	reUV  = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
	reHMS = regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`)
)

// learn is the client's first visit: UIDVALIDITY and HIGHESTMODSEQ.
func learn(addr string) (uv, hms string, err error) {
	c, err := dial(addr)
	if err != nil {
		return "", "", err
	}
	defer c.close()
	lines, err := c.cmd("SELECT INBOX (CONDSTORE)")
	if err != nil {
		return "", "", err
	}
	all := strings.Join(lines, "\n")
	m1, m2 := reUV.FindStringSubmatch(all), reHMS.FindStringSubmatch(all)
	if m1 == nil || m2 == nil {
		return "", "", fmt.Errorf("SELECT (CONDSTORE) gave no UIDVALIDITY or HIGHESTMODSEQ")
	}
	return m1[1], m2[1], nil
}

// change is the other client: \Flagged on 1,000 messages, 100 others
// expunged.
func change(addr string) error {
	n := *messages
	var f, e []string
	for i := 0; i < 1000; i++ {
		f = append(f, strconv.Itoa(3+i*(n/1000)))
	}
	for i := 0; i < 100; i++ {
		e = append(e, strconv.Itoa(3+n/2000+i*(n/100)))
	}
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.close()
	for _, cmd := range []string{"SELECT INBOX", `UID STORE ` + strings.Join(f, ",") + ` +FLAGS.SILENT (\Flagged)`,
		`UID STORE ` + strings.Join(e, ",") + ` +FLAGS.SILENT (\Deleted)`, "UID EXPUNGE " + strings.Join(e, ",")} {
		if _, err := c.cmd(cmd); err != nil {
			return err
		}
	}
	return nil
}

// resync times SELECT INBOX (QRESYNC ...) and counts its bytes, its
// VANISHED (EARLIER) UIDs and its FETCHes.
func resync(addr, uv, hms string) (time.Duration, int64, int, int, error) {
	c, err := dial(addr)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer c.close()
	if _, err := c.cmd("ENABLE QRESYNC"); err != nil {
		return 0, 0, 0, 0, err
	}
	c.bytes = 0
	start := time.Now()
	lines, err := c.cmd(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s))", uv, hms))
	d := time.Since(start)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	vanished, fetched := 0, 0
	for _, l := range lines {
		if s, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			for _, part := range strings.Split(s, ",") {
				a, b, rng := strings.Cut(part, ":")
				lo, _ := strconv.Atoi(a)
				hi := lo
				if rng {
					hi, _ = strconv.Atoi(b)
				}
				vanished += hi - lo + 1
			}
		}
		if strings.Contains(l, " FETCH (") {
			fetched++
		}
	}
	return d, c.bytes, vanished, fetched, nil
}

// fullFetch times SELECT INBOX then UID FETCH 1:* (FLAGS), as a client
// without QRESYNC resyncs, and counts the bytes.
func fullFetch(addr string) (time.Duration, int64, error) {
	c, err := dial(addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.close()
	c.bytes = 0
	start := time.Now()
	if _, err := c.cmd("SELECT INBOX"); err != nil {
		return 0, 0, err
	}
	if _, err := c.cmd("UID FETCH 1:* (FLAGS)"); err != nil {
		return 0, 0, err
	}
	return time.Since(start), c.bytes, nil
}
