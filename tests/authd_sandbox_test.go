package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// authdProc returns the server's one authd.
func authdProc(t *testing.T, s *server) *proc {
	t.Helper()
	a := byTitle(children(t, s.cmd.Process.Pid), "imapd: authd")
	if len(a) != 1 {
		t.Fatalf("%d authd processes, want 1", len(a))
	}
	return a[0]
}

// checkAuthdIDs fails unless every thread of authd has u's ids, groups
// (wantGroups, sorted as /proc prints them) and no-new-privs.
func checkAuthdIDs(t *testing.T, p *proc, u *user.User, wantGroups string) {
	t.Helper()
	for _, th := range p.threads {
		if th["Uid"] != ids(u.Uid) || th["Gid"] != ids(u.Gid) || th["Groups"] != wantGroups || th["NoNewPrivs"] != "1" {
			t.Errorf("authd thread %s: Uid %q Gid %q Groups %q NoNewPrivs %q; want %s, %s, groups %q, no-new-privs",
				th["Pid"], th["Uid"], th["Gid"], th["Groups"], th["NoNewPrivs"], u.Uid, u.Gid, wantGroups)
		}
	}
}

// authdSandboxLine is what authd logs once confined: its allowlist fails
// socket(2) as a kernel without the family would, Landlock refuses every
// path outside its read-only rules.
const authdSandboxLine = `open /: EACCES open /proc/self/status: EACCES tcp connect: EAFNOSUPPORT mptcp socket: EAFNOSUPPORT unix datagram socket: EAFNOSUPPORT unix datagram socketpair: EPERM`

// Issue 16, authd without root: with a passwd-file authd runs as the
// preauth user by default, with no-new-privs on every thread, Landlock and
// its seccomp allowlist, and logins still work.
func TestAuthdPasswdFileUnprivileged(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	alice := ensureUser(t, "alice", "alice-pw")
	imapd, _ := user.Lookup("_imapd")
	dir := filepath.Join(t.TempDir(), "etc-imapd")
	os.Mkdir(dir, 0o755)
	pw := filepath.Join(dir, "passwd")
	os.WriteFile(pw, []byte("carol:{PLAIN}carol-pw:"+alice.Uid+":"+alice.Gid+"::/home/alice\n"), 0o640)
	if out, err := exec.Command("chgrp", "_imapd", pw).CombinedOutput(); err != nil {
		t.Fatalf("chgrp: %v %s", err, out)
	}
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755)
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir
auth passwd-file "`+pw+`"
preauth workers 1
control socket "%DIR%/control.sock"
`)
	c := dial(t, s.addr)
	c.C("a1 LOGIN carol wrong")
	c.S("a1 NO")
	c.C("a2 LOGIN carol carol-pw")
	c.S("a2 OK")
	c.C("a3 SELECT INBOX")
	c.S("a3 OK")
	checkAuthdIDs(t, authdProc(t, s), imapd, imapd.Gid)
	if !s.logged(`msg="sandbox in force" role=authd`) || !s.logged(authdSandboxLine) {
		t.Errorf("authd did not log its sandbox:\n%s", s.log.String())
	}
}

// An existing setup whose passwd-file only root reads stops at start with
// one line saying what to change, not a restarting authd.
func TestAuthdPasswdFileUnreadable(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pw := filepath.Join(dir, "passwd")
	os.WriteFile(pw, []byte("carol:{PLAIN}carol-pw\n"), 0o600)
	s := startServerNoWait(t, `
listen on 127.0.0.1 port %PORT% plain
storage memory
auth passwd-file "`+pw+`"
control socket "%DIR%/control.sock"
`)
	<-s.exited
	want := `auth passwd-file "` + pw + `": authd runs as _imapd, who cannot read it (mode 0600, owner 0:0)`
	if !strings.Contains(s.log.String(), want) || strings.Contains(s.log.String(), "imapd: authd") {
		t.Errorf("log lacks %q (or authd started):\n%s", want, s.log.String())
	}
}

// Issue 16, PAM without root: `auth pam ... user NAME` runs authd as NAME,
// here a user in group shadow as pam_unix needs, confined like the
// passwd-file's authd; PAM logins still work, right and wrong. Without it
// authd stays root.
func TestAuthdPAMUnprivileged(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	au := ensureUser(t, "_imapdauth", "unused-pw", "-G", "shadow")
	shadow, err := user.LookupGroup("shadow")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir
auth pam service imapd user _imapdauth
preauth workers 1
control socket "%DIR%/control.sock"
`)
	// AUTHD_STRACE=FILE traces the confined authd through the logins: how
	// its allowlist was measured (docs/security.md, "Measuring the
	// allowlists").
	if os.Getenv("AUTHD_STRACE") != "" {
		st := exec.Command("strace", "-f", "-o", os.Getenv("AUTHD_STRACE"), "-p", fmt.Sprint(authdProc(t, s).pid))
		st.Start()
		time.Sleep(time.Second)
		defer st.Process.Kill()
	}
	c := dial(t, s.addr)
	c.C("a1 LOGIN alice wrong")
	c.S("a1 NO")
	c.C("a2 LOGIN alice alice-pw")
	c.S("a2 OK")
	c.C("a3 SELECT INBOX")
	c.S("a3 OK")
	groups := []string{au.Gid, shadow.Gid}
	if a, b := atoi(groups[0]), atoi(groups[1]); a > b {
		groups[0], groups[1] = groups[1], groups[0]
	}
	checkAuthdIDs(t, authdProc(t, s), au, strings.Join(groups, " "))
	if !s.logged(`msg="sandbox in force" role=authd`) || !s.logged(authdSandboxLine) {
		t.Errorf("authd did not log its sandbox:\n%s", s.log.String())
	}

	// The default: PAM's authd keeps root, and says so.
	s2 := startServer(t, pamConf)
	c2 := dial(t, s2.addr)
	c2.C("b1 LOGIN alice alice-pw")
	c2.S("b1 OK")
	if got := authdProc(t, s2).threads[0]["Uid"]; got != ids("0") {
		t.Errorf("default PAM authd Uid %q, want root", got)
	}
	if !s2.logged("authd runs as root, without sandbox") {
		t.Errorf("root authd did not say it runs unsandboxed:\n%s", s2.log.String())
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
