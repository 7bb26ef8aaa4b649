package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 14, correction 9: a good login whose Maildir the user cannot open
// (here: owned by root, mode 0700) is answered NO [UNAVAILABLE], not a
// closed connection, and the log names the path, owner and mode.
func TestLoginMaildirUnavailable(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	base, err := os.MkdirTemp("", "imapd-unavail-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "alice")
	if err := os.Mkdir(dir, 0o700); err != nil { // root's, not alice's
		t.Fatal(err)
	}
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir "`+base+`"
auth pam service imapd
control socket "%DIR%/control.sock"
`)
	c := dial(t, s.addr)
	c.C("l1 LOGIN alice alice-pw")
	lines := c.S("l1 ")
	if got := lines[len(lines)-1]; !strings.HasPrefix(got, "l1 NO [UNAVAILABLE]") {
		t.Fatalf("LOGIN: %q, want l1 NO [UNAVAILABLE]\n%s", lines, s.log.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.log.String(), "mailbox unavailable") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	log := s.log.String()
	for _, want := range []string{"mailbox unavailable", "path=" + dir, "owner=0:0", "mode=drwx------"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
