package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Issue 18, end to end: the sandboxed mailbox worker builds the folder's
// full-text index in the user's Maildir (flock, mmap and rename allowed by
// its Landlock and seccomp rules), keeps it as mail arrives, and answers
// SEARCH BODY and TEXT as the scan does.
func TestFullTextIndexSandboxed(t *testing.T) {
	requireRoot(t)
	u, maildir := freshDcUser(t)
	s := startServer(t, dcImapdConf)
	c := login(t, s, "dcuser", "dcuser-pw")
	var want []string
	for i := 1; i <= 30; i++ {
		word := "plain"
		if i%7 == 0 {
			word = "zymurgy"
			want = append(want, strconv.Itoa(i))
		}
		c.appendMsg(fmt.Sprintf("p%d", i), "INBOX", "", dcMessage(i, "")+"a "+word+" line\r\n")
	}
	c.C("a1 SELECT INBOX")
	c.S("a1 OK")
	search := func(tag, key, want string) {
		t.Helper()
		c.C(tag + " SEARCH " + key)
		lines := c.S(tag + " OK")
		if got := strings.Join(lines[:len(lines)-1], "\n"); got != want {
			t.Fatalf("C: %s SEARCH %s\nS: %q, want %q", tag, key, got, want)
		}
	}
	search("a2", "BODY ZYMURGY", "* SEARCH "+strings.Join(want, " "))
	st, err := os.Stat(filepath.Join(maildir, "imapd.fts"))
	if err != nil || st.Size() <= 20 {
		t.Fatalf("no full-text index in the Maildir: %v", err)
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != u.Uid {
		t.Fatalf("imapd.fts owned by uid %d, want the user's %s", uid, u.Uid)
	}
	c.appendMsg("a3", "INBOX", "", dcMessage(31, "")+"zymurgy again\r\n")
	want = append(want, "31")
	search("a4", "TEXT zymurgy", "* SEARCH "+strings.Join(want, " "))
	search("a5", "BODY ym", "* SEARCH "+strings.Join(want, " ")) // too short for the index: the scan
	if st2, err := os.Stat(filepath.Join(maildir, "imapd.fts")); err != nil || st2.Size() <= st.Size() {
		t.Fatalf("the index did not grow with the new message: %v", err)
	}
}
