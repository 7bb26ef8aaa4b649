package server

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"imapd/imapworker/store/maildir"
)

// metadataDovecotScript is RFC 5464 use both servers accept (Dovecot 2.3
// takes GETMETADATA's options before the mailbox only, and has no
// LIST-METADATA).
var metadataDovecotScript = []string{
	`SETMETADATA INBOX (/private/comment "My own comment" /shared/comment "This one is for you!")`,
	`GETMETADATA INBOX (/shared/comment /private/comment)`,
	`GETMETADATA INBOX (/shared/comment /private/nothing)`,
	`SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" /private/filters/values/boss "FROM x" /private/filters/values/boss/deep "y")`,
	`GETMETADATA (DEPTH 1) INBOX (/private/filters/values)`,
	`GETMETADATA (DEPTH infinity) INBOX /private/filters`,
	`GETMETADATA (MAXSIZE 5) INBOX (/shared/comment /private/comment)`,
	`GETMETADATA (MAXSIZE 15) INBOX (/shared/comment /private/comment)`,
	`GETMETADATA "" /shared/comment`,
	`SETMETADATA "" (/private/vendor/x/y "v")`,
	`GETMETADATA "" /private/vendor/x/y`,
	`SETMETADATA INBOX (/private/comment NIL)`,
	`GETMETADATA INBOX /private/comment`,
	`GETMETADATA INBOX /comment`,
	`SETMETADATA foo (/shared/comment "f")`,
	`GETMETADATA foo /shared/comment`,
	`GETMETADATA nosuch /shared/comment`,
}

// metadataDovecotKnown are the answers that differ, imapd's then
// Dovecot's: imapd names the missing mailbox with RFC 5530's code.
var metadataDovecotKnown = map[string][2]string{
	`GETMETADATA nosuch /shared/comment`: {"NO [NONEXISTENT] ", "NO "},
}

var metaValRE = regexp.MustCompile(`^(\S+) (NIL|"(?:[^"\\]|\\.)*"|\{(\d+)\}\r\n)`)

// metadataAnswer reduces a command's answer to its status, its response
// code's name, and the entries of its METADATA responses as entry=value,
// sorted: the servers may order entries differently and send a value as a
// quoted string or a literal.
func metadataAnswer(t *testing.T, lines []string, tagged string) string {
	t.Helper()
	var entries []string
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "* METADATA ")
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, " (")
		for rest != "" && rest != ")" {
			m := metaValRE.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("METADATA response %q", l)
			}
			v := m[2]
			rest = rest[len(m[0]):]
			switch {
			case m[3] != "":
				n, _ := strconv.Atoi(m[3])
				v, rest = strconv.Quote(rest[:n]), rest[n:]
			case v != "NIL":
				u, _ := strconv.Unquote(v)
				v = strconv.Quote(u)
			}
			entries = append(entries, m[1]+"="+v)
			rest = strings.TrimPrefix(rest, " ")
		}
	}
	slices.Sort(entries)
	_, status, _ := strings.Cut(tagged, " ")
	if i := strings.IndexByte(status, ']'); i > 0 && strings.Contains(status[:i], " [") {
		status = status[:i+1] // the status and its code
	} else {
		status, _, _ = strings.Cut(status, " ")
	}
	return status + " " + strings.Join(entries, " ")
}

// Annotations as Dovecot 2.3 (with mail_attribute_dict) keeps them: the
// same answers to the same commands.
func TestMetadataDovecot(t *testing.T) {
	nobody := needDovecot(t)
	root, md := dovecotRoot(t, "imapd-metadc-")
	u, err := maildir.Open(md, maildir.Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Create("foo", 0); err != nil {
		t.Fatal(err)
	}
	u.Close()
	conf := dovecotConf(t, root, md, nobody)
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "mail_attribute_dict = file:%s/dovecot-attributes\nimap_metadata = yes\n", md)
	f.Close()
	in, stdout, dcmd := startDovecot(t, root, conf)
	for i, cmd := range metadataDovecotScript {
		io.WriteString(in, "d"+strconv.Itoa(i)+" "+cmd+"\r\n")
	}
	io.WriteString(in, "z LOGOUT\r\n")
	in.Close()
	rd := bufio.NewReader(stdout)
	var want []string
	var lines []string
	for len(want) < len(metadataDovecotScript) {
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("Dovecot ended: %v after %q", err, want)
		}
		l = strings.TrimSuffix(l, "\r\n")
		for {
			m := litRE.FindStringSubmatch(l)
			if m == nil {
				break
			}
			n, _ := strconv.Atoi(m[1])
			buf := make([]byte, n)
			io.ReadFull(rd, buf)
			more, _ := rd.ReadString('\n')
			l += "\r\n" + string(buf) + strings.TrimSuffix(more, "\r\n")
		}
		if strings.HasPrefix(l, "d") {
			want = append(want, metadataAnswer(t, lines, l))
			lines = nil
		} else {
			lines = append(lines, l)
		}
	}
	dcmd.Wait()

	useMaildir(t, md, maildir.Options{NoSpecialUse: true})
	ts := newTestServer(t)
	c := ts.login("alice")
	for i, cmd := range metadataDovecotScript {
		un, tg := c.do("d" + strconv.Itoa(i) + " " + cmd)
		got := metadataAnswer(t, un, tg)
		if k, ok := metadataDovecotKnown[cmd]; ok && got == k[0] && want[i] == k[1] {
			continue
		}
		if got != want[i] {
			t.Errorf("C: %s\nimapd:   %s\nDovecot: %s", cmd, got, want[i])
		}
	}
}
