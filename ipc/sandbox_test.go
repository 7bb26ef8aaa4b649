package ipc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSandboxChild is the body of TestSandbox, run in a re-executed test
// binary: restricting the test process itself would break the test runner.
func TestSandboxChild(t *testing.T) {
	dir := os.Getenv("IMAPD_SANDBOX_CHILD")
	if dir == "" {
		t.Skip("run by TestSandbox")
	}
	if err := NoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	applied, warnings, err := Restrict(filepath.Join(dir, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied %v, warnings %v", applied, warnings)
	if _, err := os.ReadFile(filepath.Join(dir, "mine", "msg")); err != nil {
		t.Errorf("reading inside the allowed directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mine", "new"), []byte("x"), 0o600); err != nil {
		t.Errorf("writing inside the allowed directory: %v", err)
	}
	for _, p := range []string{filepath.Join(dir, "other", "msg"), "/etc/passwd"} {
		if _, err := os.ReadFile(p); err == nil {
			t.Errorf("read %s outside the allowed directory", p)
		}
	}
	if c, err := net.Dial("tcp", os.Getenv("IMAPD_SANDBOX_ADDR")); err == nil {
		c.Close()
		t.Error("TCP connect to a listening loopback port succeeded")
	}
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP); err == nil {
		unix.Close(fd)
		t.Error("created an MPTCP socket")
	}
	if err := exec.Command("/bin/true").Run(); err == nil {
		t.Error("executed /bin/true")
	}
	if a, b, err := Socketpair(); err != nil {
		t.Errorf("unix socketpair refused: %v", err)
	} else {
		a.Close()
		b.Close()
	}
	report, err := CheckConfined([]string{"/etc/passwd"}, true)
	if err != nil {
		t.Error(err)
	}
	t.Log(report)
}

// TestSandbox checks, in a child process, that a restricted worker can use
// its own directory and unix sockets but cannot read elsewhere, connect out
// over TCP or MPTCP, or execute anything (issue 8, 4).
func TestSandbox(t *testing.T) {
	if LandlockABI() == 0 || !SeccompAvailable() {
		if os.Getenv("CI") == "true" {
			t.Fatal("this kernel lacks Landlock or seccomp, and CI must test the sandbox")
		}
		t.Skip("no Landlock or seccomp")
	}
	dir := t.TempDir()
	for _, d := range []string{"mine", "other"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "msg"), []byte("Subject: x\r\n\r\n"), 0o644)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// AllThreadsSyscall, which applies Landlock to every thread, refuses to
	// run in a cgo binary; the workers are built with CGO_ENABLED=0, and so
	// is the child here.
	bin := filepath.Join(t.TempDir(), "ipc.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the child: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-test.run=^TestSandboxChild$", "-test.v")
	cmd.Env = append(os.Environ(), "IMAPD_SANDBOX_CHILD="+dir, "IMAPD_SANDBOX_ADDR="+ln.Addr().String())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSandboxChild") {
		t.Fatalf("sandboxed child: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
