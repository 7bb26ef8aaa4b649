package tests

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readmeCommand is one command of README.md as a reader would type it.
type readmeCommand struct {
	section string // the ## heading it stands under
	line    string // the command, comment removed
	comment string // what follows '#', if anything
}

// readmeCommands extracts README.md's shell commands (the lines of its
// ```sh blocks, and inline `bin/imapctl ...` spans) and its example
// session (the first plain ``` block).
func readmeCommands(t *testing.T) ([]readmeCommand, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []readmeCommand
	var session []string
	section, block, sessionDone := "", "", false
	inline := regexp.MustCompile("`(bin/imapctl [^`]*)`")
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "```") && block == "":
			block = strings.TrimPrefix(l, "```")
			if block == "" {
				block = "plain"
			}
			continue
		case strings.HasPrefix(l, "```"):
			sessionDone = sessionDone || block == "plain"
			block = ""
			continue
		case strings.HasPrefix(l, "## "):
			section = strings.TrimPrefix(l, "## ")
		}
		switch block {
		case "sh":
			line, comment, _ := strings.Cut(l, "#")
			if line = strings.TrimSpace(line); line != "" {
				cmds = append(cmds, readmeCommand{section, line, strings.TrimSpace(comment)})
			}
		case "plain":
			if !sessionDone && l != "" {
				session = append(session, l)
			}
		case "":
			for _, m := range inline.FindAllStringSubmatch(l, -1) {
				cmds = append(cmds, readmeCommand{section, m[1], "inline"})
			}
		}
	}
	return cmds, session
}

// Issue 17, "what it must show" 5: every command of README.md, run as
// written in a fresh clone, works: as a normal user and as root, the dev
// server and what the README says to do with it; as root, the install
// steps (inside the hermetic namespaces, so `make install` changes only
// their private copies of /etc, /usr and /var).
func TestReadmeCommands(t *testing.T) {
	requireRoot(t)
	cmds, session := readmeCommands(t)
	if len(cmds) < 5 || len(session) < 5 {
		t.Fatalf("README.md: %d commands, session of %d lines: the parser lost them", len(cmds), len(session))
	}
	for _, c := range cmds {
		t.Logf("README (%s): %s", c.section, c.line)
	}
	proxy := moduleProxy(t)
	for _, who := range []string{"user", "root"} {
		t.Run(who, func(t *testing.T) {
			clone := filepath.Join(t.TempDir(), "imapd")
			if out, err := exec.Command("git", "clone", "-q", repoRoot(), clone).CombinedOutput(); err != nil {
				t.Fatalf("git clone: %v\n%s", err, out)
			}
			sh := newReadmeShell(t, who, clone, proxy)
			if who == "root" {
				// The README speaks to a fresh machine: what earlier tests
				// left in the namespace's /etc (ensureSystemSetup's PAM
				// service) would make dpkg ask about its conffiles.
				for _, f := range []string{"/etc/pam.d/imapd", "/etc/imapd.conf"} {
					if err := os.Remove(f); err == nil {
						t.Logf("removed %s, left by an earlier test", f)
					}
				}
			}
			t.Cleanup(func() { os.RemoveAll("/tmp/imapd-dev-root") })
			var stopServer func() // an installed imapd the README started
			for _, c := range cmds {
				switch {
				case c.line == "make test":
					t.Logf("$ make test: not run from here; this test is part of it")
				case c.line == "make run":
					stop := sh.background(c.line, func(out string) bool { return strings.Contains(out, "listening") })
					runSession(t, session)
					for _, d := range cmds {
						if d.comment == "inline" {
							sh.run(d.line)
						}
					}
					stop()
				case c.line == "make deb":
					// Built once per run, as written, in a fresh clone
					// (TestDebPackage installs the same file).
					deb := madeDeb(t)
					os.MkdirAll(filepath.Join(clone, "bin", "deb"), 0o755)
					if out, err := exec.Command("cp", deb, filepath.Join(clone, "bin", "deb")).CombinedOutput(); err != nil {
						t.Fatalf("cp: %v\n%s", err, out)
					}
					t.Logf("$ make deb: %s", filepath.Base(deb))
				case c.comment == "inline":
					// Run beside make run, above.
				case c.section == "Running it for real" && who == "user":
					// Installing is root's: the normal user stops here.
				case strings.HasPrefix(c.line, "systemctl "):
					// No systemd in the namespace: the README's "or:"
					// alternative starts the server; what follows the
					// systemctl part of a line runs as written.
					if _, err := os.Stat("/run/systemd/system"); err == nil {
						t.Fatalf("%q: this host runs systemd, which the hermetic namespace cannot", c.line)
					}
					rest := c.line
					for strings.HasPrefix(rest, "systemctl ") {
						part, after, _ := strings.Cut(rest, "&&")
						t.Logf("$ %s: no systemd here", strings.TrimSpace(part))
						if strings.Contains(part, "--now") && strings.Contains(part, "disable") && stopServer != nil {
							stopServer()
							stopServer = nil
						}
						rest = strings.TrimSpace(after)
					}
					if alt, ok := strings.CutPrefix(c.comment, "or: "); ok {
						t.Logf("$ %s: the README's alternative to systemctl", alt)
						// Serving, not just a socket file (an earlier
						// server's may be left behind).
						stopServer = sh.background(alt, func(string) bool {
							c, err := net.Dial("unixpacket", "/run/imapd/control.sock")
							if err == nil {
								c.Close()
							}
							return err == nil
						})
						t.Cleanup(func() {
							if stopServer != nil {
								stopServer()
							}
						})
					}
					if rest != "" {
						sh.run(rest)
					}
				default:
					sh.run(c.line)
				}
			}
		})
	}
}

// runSession plays README's example session against the dev server: each
// client line is sent and the server's answer must have the README's
// lines, where "..." in the README stands for anything, a capability list
// for any capability list, a long number (UIDVALIDITY) for any number and
// an object id (MAILBOXID, RFC 8474) for any.
func runSession(t *testing.T, session []string) {
	t.Helper()
	if len(session) < 3 || !strings.HasPrefix(session[0], "$ nc") {
		t.Fatalf("the session does not start with its nc command: %q", session)
	}
	c := dial(t, "127.0.0.1:10143")
	match := func(got, want string) {
		re := regexp.QuoteMeta(want)
		re = regexp.MustCompile(`\\\[CAPABILITY [^\]]*\]`).ReplaceAllString(re, `\[CAPABILITY [^\]]*\]`)
		re = regexp.MustCompile(`\\\(F[0-9a-f]{24}\\\)`).ReplaceAllString(re, `\(F[0-9a-f]{24}\)`)
		re = regexp.MustCompile(`[0-9]{6,}`).ReplaceAllString(re, `[0-9]+`)
		re = strings.ReplaceAll(re, `\.\.\.`, `.*`)
		if !regexp.MustCompile("^" + re + "$").MatchString(got) {
			t.Errorf("S: %q\n   README: %q", got, want)
		}
	}
	match(c.greeting, session[1])
	for i := 2; i < len(session); {
		line := session[i]
		tag := strings.Fields(line)[0]
		end := i + 1
		for end < len(session) && !strings.HasPrefix(session[end], tag+" ") {
			end++
		}
		if end == len(session) {
			t.Fatalf("README session: %q has no tagged answer", line)
		}
		want := session[i+1 : end+1]
		c.C(line)
		got := c.S(tag + " ")
		if len(got) != len(want) {
			t.Errorf("C: %s\nS: %q\n   README shows %q", line, got, want)
		} else {
			for k := range got {
				match(got[k], want[k])
			}
		}
		i = end + 1
	}
}

// readmeShell runs README commands in a clone as a reader would: a normal
// user (made for the test) or root, with a plain login environment.
type readmeShell struct {
	t     *testing.T
	who   string
	dir   string
	env   []string
	owner string
}

func newReadmeShell(t *testing.T, who, dir, proxy string) *readmeShell {
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	path := filepath.Join(strings.TrimSpace(string(goroot)), "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	s := &readmeShell{t: t, who: who, dir: dir}
	home := "/root"
	if who == "user" {
		u := ensureUser(t, "imapd-reader", "unused-"+t.Name())
		s.owner, home = u.Username, u.HomeDir
		for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		if out, err := exec.Command("chown", "-R", u.Username, dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
		shareBuildCache(t, u)
	}
	s.env = []string{"HOME=" + home, "PATH=" + path, "USER=" + map[string]string{"user": s.owner, "root": "root"}[who],
		// The namespace has no network: modules come from a copy of the cache.
		"GOPROXY=file://" + proxy, "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local"}
	if who == "root" {
		// root's own module and build caches, as on a real machine.
		for _, v := range []string{"GOMODCACHE", "GOCACHE"} {
			out, _ := exec.Command("go", "env", v).Output()
			s.env = append(s.env, v+"="+strings.TrimSpace(string(out)))
		}
	}
	return s
}

// shareBuildCache lets u's go commands find what root's build cache holds,
// through an overlay u writes to: a cold cache cost the suite 45 s of
// compiling the standard library, which is Go's work, not the README's.
// The user's module cache stays empty: downloading the modules is.
func shareBuildCache(t *testing.T, u *user.User) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOCACHE: %v", err)
	}
	lower := strings.TrimSpace(string(out))
	if fi, err := os.Stat(lower); err != nil || !fi.IsDir() {
		t.Logf("no build cache to share (GOCACHE=%s): the user builds from cold", lower)
		return
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	scratch := t.TempDir()
	upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	// A merged directory takes its owner from the upper one: each of the
	// cache's directories gets one owned by u.
	entries, err := os.ReadDir(lower)
	if err != nil {
		t.Fatal(err)
	}
	dirs := []string{upper, work}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(upper, e.Name()))
		}
	}
	target := filepath.Join(u.HomeDir, ".cache", "go-build")
	dirs = append(dirs, filepath.Dir(target), target)
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay on %s: %v", target, err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
}

func (s *readmeShell) command(line string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.who == "user" {
		cmd = exec.Command("runuser", "-u", s.owner, "--", "sh", "-c", line)
	} else {
		cmd = exec.Command("sh", "-c", line)
	}
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs line to its end: it must exit 0. A question it asks (apt's
// "Do you want to continue?") gets the answer a reader gives: yes.
func (s *readmeShell) run(line string) {
	s.t.Helper()
	start := time.Now()
	cmd := s.command(line)
	cmd.Stdin = strings.NewReader("y\n")
	out, err := cmd.CombinedOutput()
	s.t.Logf("$ %s (as %s, %v)\n%s", line, s.who, time.Since(start).Round(time.Millisecond), firstLines(string(out), 12))
	if err != nil {
		s.t.Fatalf("$ %s: %v\n%s", line, err, out)
	}
}

// background starts a server command and waits until ready says so of
// its output; the returned function stops it and its children.
func (s *readmeShell) background(line string, ready func(output string) bool) func() {
	s.t.Helper()
	start := time.Now()
	cmd := s.command(line)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	deadline := time.Now().Add(5 * time.Minute) // a new user's first build
	for !ready(log.String()) {
		select {
		case <-done:
			s.t.Fatalf("$ %s exited:\n%s", line, log.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			s.t.Fatalf("$ %s: not ready in 5 minutes:\n%s", line, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Logf("$ %s & (as %s, ready in %v)\n%s", line, s.who, time.Since(start).Round(time.Millisecond), firstLines(log.String(), 6))
	return stop
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines[n] = "..."
	}
	return strings.Join(lines, "\n")
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
	os.Chmod(filepath.Dir(dir), 0o755) // the test's own temporary directory
	src := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	if out, err := exec.Command("cp", "-r", src+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy module cache: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "a+rX", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	return dir
}
