// Package tests drives the built imapd binaries end to end: the process
// tree, privilege separation and PAM as root, the dev server as a normal
// user. Helpers here read like IMAP transcripts: c.C("a1 LOGIN ...") sends a
// line, c.S("a1 OK") reads up to the line with that prefix.
package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/tests/hermetic"
)

// repoRoot is the module root (this file lives in tests/).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// requireRoot skips a test that needs root, except under CI, where such a
// test must run: skipping there would hide the checks that matter most.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI=true: it must not be skipped")
	}
	t.Skip("needs root")
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds imapd, imapd-authd (with PAM when its headers exist) and
// imapctl once per test run, into a directory every user can execute from:
// mailbox workers re-execute imapd as the user who logged in.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "imapd-bin-")
		if buildErr != nil {
			return
		}
		os.Chmod(binDir, 0o755)
		tags := ""
		if _, err := os.Stat("/usr/include/security/pam_appl.h"); err == nil {
			tags = "pam"
		}
		for _, b := range []struct {
			out, pkg, tags string
			cgo            bool
		}{
			{"imapd", "./cmd/imapd", "", false},
			{"imapd-authd", "./cmd/imapd-authd", tags, true},
			{"imapctl", "./cmd/imapctl", "", false},
		} {
			cmd := exec.Command("go", "build", "-tags", b.tags, "-o", filepath.Join(binDir, b.out), b.pkg)
			cmd.Dir = repoRoot()
			cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "1", false: "0"}[b.cgo])
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// freePort finds a loopback port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a process's output safely across goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a running imapd parent started from a config file.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	conf   string
	addr   string
	port   int
	log    *lockedBuffer
	exited chan struct{}
}

// startServer writes conf (with %PORT% and %DIR% replaced) and starts
// imapd -c on it, waiting until a cleartext listener on %PORT% greets.
func startServer(t *testing.T, conf string) *server {
	t.Helper()
	s := startServerNoWait(t, conf)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			// The greeting proves a preauth worker is serving, not just the listener.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "* OK") {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("imapd exited at start-up:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd did not serve within 10 s:\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startServerNoWait starts imapd on conf and returns at once.
func startServerNoWait(t *testing.T, conf string) *server {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	port := freePort(t)
	conf = strings.ReplaceAll(conf, "%PORT%", strconv.Itoa(port))
	conf = strings.ReplaceAll(conf, "%DIR%", dir)
	path := filepath.Join(dir, "imapd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, conf: path, port: port, addr: fmt.Sprintf("127.0.0.1:%d", port), log: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(bin, "imapd"), "-c", path)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("imapd log:\n%s", s.log.String())
		}
	})
	return s
}

// client is one IMAP connection driven as a transcript.
type client struct {
	t        *testing.T
	conn     net.Conn
	r        *bufio.Reader
	greeting string
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.greeting = c.S("* OK")[0]
	return c
}

// C sends one line as the client (CRLF added).
func (c *client) C(line string) {
	c.t.Helper()
	c.raw(line + "\r\n")
}

func (c *client) raw(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("C: %q: %v", s, err)
	}
}

// S reads server lines up to and including the first that starts with
// prefix, and returns them all.
func (c *client) S(prefix string) []string {
	c.t.Helper()
	lines, err := c.readUntil(prefix, 10*time.Second)
	if err != nil {
		c.t.Fatalf("S: waiting for %q: %v (got %q)", prefix, err, lines)
	}
	return lines
}

func (c *client) readUntil(prefix string, d time.Duration) ([]string, error) {
	var lines []string
	c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if strings.HasPrefix(line, prefix) {
			return lines, nil
		}
	}
}

// ensureUser creates a system account with a home and password, or resets
// the password of one this test binary created, returning its ids. It acts
// only inside the hermetic namespaces (tests/hermetic), on their private
// copy of /etc, and never changes an account it did not create.
func ensureUser(t *testing.T, name, password string, useraddArgs ...string) *user.User {
	t.Helper()
	if !hermetic.Inside() {
		t.Fatal("ensureUser outside the hermetic namespaces: it would change the host's accounts")
	}
	createdMu.Lock()
	defer createdMu.Unlock()
	if _, err := user.Lookup(name); err == nil && !created[name] {
		t.Fatalf("account %s exists and was not created by the tests: not changing it", name)
	} else if err != nil {
		args := append([]string{"-m", "-s", "/bin/sh"}, useraddArgs...)
		if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		created[name] = true
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd %s: %v\n%s", name, err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	createdMu sync.Mutex
	created   = map[string]bool{} // accounts this test binary made
)

// ensureSystemSetup creates what a privileged server needs: the _imapd
// account, the empty chroot and the PAM service file.
func ensureSystemSetup(t *testing.T) {
	t.Helper()
	if !hermetic.Inside() {
		t.Fatal("ensureSystemSetup outside the hermetic namespaces: it would change the host")
	}
	if _, err := user.Lookup("_imapd"); err != nil {
		if out, err := exec.Command("useradd", "-r", "-s", "/usr/sbin/nologin", "-d", "/var/empty", "_imapd").CombinedOutput(); err != nil {
			t.Fatalf("useradd _imapd: %v\n%s", err, out)
		}
	}
	if err := os.MkdirAll("/var/empty", 0o755); err != nil {
		t.Fatal(err)
	}
	pam := "auth required pam_unix.so\naccount required pam_unix.so\n"
	if err := os.WriteFile("/etc/pam.d/imapd", []byte(pam), 0o644); err != nil {
		t.Fatal(err)
	}
}
