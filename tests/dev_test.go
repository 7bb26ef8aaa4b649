package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 2, "what it must show" 6, and issue 3, 5: `make run` from a fresh
// clone, as a normal user, serves the demo account, and the seed README's
// example session works against it.
func TestMakeRunFromFreshClone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a fresh clone")
	}
	clone := filepath.Join(t.TempDir(), "imapd")
	if out, err := exec.Command("git", "clone", "-q", repoRoot(), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	cmd := exec.Command("make", "run")
	cmd.Dir = clone
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	env := os.Environ()
	if os.Geteuid() == 0 {
		// A normal user, as the README means: one made for the test.
		u := ensureUser(t, "imapd-dev", "unused-"+t.Name())
		os.Chmod(filepath.Dir(clone), 0o755)
		os.Chmod(filepath.Dir(filepath.Dir(clone)), 0o755)
		if out, err := exec.Command("chown", "-R", u.Username, clone).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
		goroot, _ := exec.Command("go", "env", "GOROOT").Output()
		cmd = exec.Command("runuser", "-u", u.Username, "--", "make", "run")
		cmd.Dir = clone
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		env = []string{
			"HOME=" + u.HomeDir, "USER=" + u.Username,
			"PATH=" + filepath.Join(strings.TrimSpace(string(goroot)), "bin") + ":/usr/local/bin:/usr/bin:/bin",
		}
		// The namespace has no network: the user's go fetches modules from
		// a copy of root's module cache.
		env = append(env, "GOPROXY=file://"+moduleProxy(t), "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local")
	}
	cmd.Env = env
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("make run output:\n%s", log.String())
		}
	})
	// The first build of a fresh clone by a new user compiles everything.
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(log.String(), "listening") {
		select {
		case <-done:
			t.Fatalf("make run exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run did not start listening in 5 minutes:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "demo / demo") {
		t.Errorf("make run did not say how to log in:\n%s", log.String())
	}

	// The seed README's example session.
	c := dial(t, "127.0.0.1:10143")
	if !strings.HasPrefix(c.greeting, "* OK [CAPABILITY IMAP4rev2 ") || !strings.HasSuffix(c.greeting, "IMAP4rev2 Service Ready") {
		t.Errorf("greeting %q", c.greeting)
	}
	c.C("a001 LOGIN demo demo")
	if l := c.S("a001 "); !strings.HasPrefix(l[len(l)-1], "a001 OK [CAPABILITY ") || !strings.HasSuffix(l[len(l)-1], "LOGIN completed") {
		t.Fatalf("S: %q, want a001 OK [CAPABILITY ...] LOGIN completed", l)
	}
	c.C("a002 SELECT INBOX")
	sel := strings.Join(c.S("a002 "), "\n")
	for _, want := range []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)`,
		"* 0 EXISTS",
		"* OK [UIDVALIDITY ",
		"a002 OK [READ-WRITE] SELECT completed",
	} {
		if !strings.Contains(sel, want) {
			t.Errorf("SELECT INBOX: missing %q in\n%s", want, sel)
		}
	}
	c.C("a003 LOGOUT")
	out := c.S("a003 ")
	if len(out) != 2 || !strings.HasPrefix(out[0], "* BYE") || out[1] != "a003 OK LOGOUT completed" {
		t.Errorf("LOGOUT: %q, want * BYE then a003 OK LOGOUT completed", out)
	}
}

// moduleProxy copies the module downloads of the running user's cache into
// a directory every user can read, for GOPROXY=file://: go.sum still checks
// every module fetched from it.
func moduleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	src := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	if out, err := exec.Command("cp", "-r", src+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy module cache: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "a+rX", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	return dir
}
