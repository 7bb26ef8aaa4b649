package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 13, 2: the whole server (mailbox worker, Maildir, imapd.cache)
// sorts and threads a mailing-list folder exactly as Dovecot does. The
// engine's own differential test (imapworker/server TestSortDovecot) covers
// the odd headers; this one the deployed path, a first and a repeated run.
func TestDovecotSortThreadDifferential(t *testing.T) {
	requireDovecot(t)
	u, maildir := freshDcUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeListFolder(t, maildir, 3000)
	filepath.Walk(maildir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Chown(p, uid, gid)
		}
		return nil
	})

	var cmds []string
	for _, k := range []string{"ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"} {
		cmds = append(cmds, "UID SORT ("+k+") UTF-8 ALL", "UID SORT (REVERSE "+k+" SUBJECT) UTF-8 ALL")
	}
	cmds = append(cmds, "UID SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "SORT (DISPLAYFROM SIZE) UTF-8 SINCE 1-Jan-2024",
		"UID SORT RETURN (MIN MAX ALL) (DATE) UTF-8 FROM example.org", // COUNT: Dovecot puts it last
		"UID THREAD ORDEREDSUBJECT UTF-8 ALL", "UID THREAD REFERENCES UTF-8 ALL", "THREAD REFERENCES UTF-8 SUBJECT release")

	dc := newDovecot(t)
	dc.start()
	d := dial(t, dc.addr)
	d.C("d1 LOGIN dcuser dcuser-pw")
	d.S("d1 OK")
	d.C("d2 SELECT INBOX")
	d.S("d2 OK")
	s := startServer(t, dcImapdConf)
	m := login(t, s, "dcuser", "dcuser-pw")
	m.C("m2 SELECT INBOX")
	m.S("m2 OK")
	answer := func(c *client, tag, cmd string) string {
		un, st := c.command(tag, cmd)
		if !strings.HasPrefix(st, tag+" OK") {
			t.Fatalf("C: %s %s\nS: %s", tag, cmd, st)
		}
		var out []string
		for _, l := range un {
			if strings.HasPrefix(l, "* SORT") || strings.HasPrefix(l, "* THREAD") || strings.HasPrefix(l, "* ESEARCH") {
				// Dovecot ends an empty THREAD with a space; ESEARCH's tag differs.
				out = append(out, strings.TrimRight(strings.Replace(l, `(TAG "`+tag+`") `, "", 1), " "))
			}
		}
		return strings.Join(out, "\n")
	}
	for i, cmd := range cmds {
		want := answer(d, fmt.Sprintf("d%d", i+3), cmd)
		for run := range 2 { // the second from the cached keys
			got := answer(m, fmt.Sprintf("m%d%c", i+3, 'a'+run), cmd)
			if got != want {
				t.Errorf("C: %s (imapd run %d)\nimapd:   %.400s\nDovecot: %.400s", cmd, run+1, got, want)
			}
		}
	}
}

// writeListFolder writes n messages of a mailing list into maildir/cur:
// threads of replies (References, or only In-Reply-To, sometimes to a
// message not in the folder), "Re:", "[list]" and "Fwd:" subjects, a
// crowd of posters with and without display names, dates in several
// zones, a few messages without Message-ID or Date.
func writeListFolder(t *testing.T, maildir string, n int) {
	t.Helper()
	r := rand.New(rand.NewPCG(2026, 13))
	people := []string{"Ann Lee <ann@example.org>", `"Ben, Dr." <ben@example.net>`, "cat@example.com",
		"=?UTF-8?B?w5ZzdGVy?= <oester@example.de>", "dan <Dan@Example.org>", "Eve <eve@example.org> (ops)",
		"fritz@example.de", "Gül <gul@example.com.tr>"}
	topics := []string{"release 2.0", "build broken", "Meeting notes", "café menu", "Question about IMAP", "ÜBER alles", "[RFC] sort order"}
	type post struct{ id, subject, refs string }
	var posts []post
	base := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range n {
		var h []string
		date := base.Add(time.Duration(i)*17*time.Minute + time.Duration(r.IntN(3600))*time.Second)
		zone := []string{"+0000", "-0700", "+0900", "+0100"}[r.IntN(4)]
		loc := time.FixedZone("", map[string]int{"+0000": 0, "-0700": -7 * 3600, "+0900": 9 * 3600, "+0100": 3600}[zone])
		if r.IntN(50) > 0 {
			h = append(h, "Date: "+date.In(loc).Format("Mon, 2 Jan 2006 15:04:05 ")+zone)
		}
		h = append(h, "From: "+people[r.IntN(len(people))], "To: list@example.org")
		if r.IntN(4) == 0 {
			h = append(h, "Cc: "+people[r.IntN(len(people))])
		}
		p := post{id: fmt.Sprintf("<%d.%x@list.example.org>", i, r.Uint32())}
		if len(posts) == 0 || r.IntN(4) == 0 {
			p.subject = "[list] " + topics[r.IntN(len(topics))]
		} else {
			parent := posts[r.IntN(len(posts))]
			p.subject = "Re: " + parent.subject
			if r.IntN(10) == 0 {
				p.subject = "Fwd: " + parent.subject
			}
			p.refs = strings.TrimSpace(parent.refs + " " + parent.id)
			switch r.IntN(10) {
			case 0:
				h = append(h, "In-Reply-To: "+parent.id)
			case 1:
				h = append(h, fmt.Sprintf("References: <gone%d@list.example.org>", r.IntN(30)))
			default:
				h = append(h, "In-Reply-To: "+parent.id, "References: "+strings.ReplaceAll(p.refs, " ", "\r\n "))
			}
		}
		h = append(h, "Subject: "+p.subject)
		if r.IntN(40) > 0 {
			h = append(h, "Message-ID: "+p.id)
		}
		posts = append(posts, p)
		msg := strings.Join(h, "\r\n") + "\r\n\r\n" + strings.Repeat("> quoted text\r\n", r.IntN(80)) + "reply\r\n"
		f := filepath.Join(maildir, "cur", fmt.Sprintf("%d.M%dP13.list:2,S", 1704096000+i, i))
		if err := os.WriteFile(f, []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i/2) * time.Hour) // INTERNALDATE: pairs alike
		os.Chtimes(f, mt, mt)
	}
}
