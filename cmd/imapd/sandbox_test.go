package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/ipc"
	"imapd/ipc/ipctest"
)

// TestHideHelper is not a test: re-executed by startHidden, it hides a
// sandbox feature from itself and everything it executes, then becomes
// imapd.
func TestHideHelper(t *testing.T) {
	feature := os.Getenv("IMAPD_TEST_HIDE")
	if feature == "" {
		t.Skip("run by TestSandboxPolicyAtStart")
	}
	runtime.LockOSThread()
	if err := ipctest.Hide(feature); err != nil {
		t.Fatal(err)
	}
	args := strings.Split(os.Getenv("IMAPD_TEST_ARGS"), "\n")
	t.Fatal(syscall.Exec(args[0], args, os.Environ()))
}

// demo's password is "demo" (examples/dev-passwd).
const demoHash = "{SHA512-CRYPT}$6$4hVwkSAqc8ta19eI$y5Fb0tcahOtpUlZIIS4jBstPzOap5XoE6ygKDQAxOdnTDwrkN/SaTPQjdI9HYJyXfBBLOFSks/9kaPX2Hfo/Q."

// TestSandboxPolicyAtStart starts imapd on a kernel made to look as if it
// lacked Landlock or seccomp (a seccomp filter of the test's own, around
// the server): under `sandbox require` it stops at once with one line
// naming the feature, the kernel and the statement; under `sandbox prefer`
// it serves a login and says once, in the parent's log, what it lacks
// (issue 16).
func TestSandboxPolicyAtStart(t *testing.T) {
	if ipc.LandlockABI() == 0 || !ipc.SeccompAvailable() {
		t.Skip("no Landlock or seccomp to hide")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // authd runs imapd-authd as nobody
	bin := filepath.Join(dir, "imapd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, b := range []string{"imapd-authd", "imapctl"} {
		build = exec.Command("go", "build", "-o", filepath.Join(dir, b), "../"+b)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	for _, feature := range []string{"landlock", "seccomp"} {
		for _, policy := range []string{"require", "prefer"} {
			t.Run(feature+"/"+policy, func(t *testing.T) {
				conf, addr := writeConf(t, dir, policy)
				helper := exec.Command(os.Args[0], "-test.run=^TestHideHelper$")
				helper.Env = append(os.Environ(), "IMAPD_TEST_HIDE="+feature, "IMAPD_TEST_ARGS="+bin+"\n-c\n"+conf)
				var stderr bytes.Buffer
				helper.Stderr = &stderr
				if err := helper.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- helper.Wait() }()
				name := map[string]string{"landlock": "Landlock", "seccomp": "seccomp"}[feature]
				if policy == "require" {
					select {
					case err := <-done:
						lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
						want := "imapd: sandbox require: Linux " + ipc.KernelRelease() + " lacks " + name
						if err == nil || len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.Contains(lines[0], "`sandbox prefer`") {
							t.Fatalf("exit %v, stderr:\n%s\nwant one line %q...", err, stderr.String(), want)
						}
					case <-time.After(20 * time.Second):
						helper.Process.Kill()
						t.Fatalf("imapd did not stop; stderr:\n%s", stderr.String())
					}
					return
				}
				defer func() {
					helper.Process.Signal(syscall.SIGTERM)
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						helper.Process.Kill()
					}
					log := stderr.String()
					if n := strings.Count(log, "sandbox prefer: Linux"); n != 1 {
						t.Errorf("the parent said %d times what the kernel lacks:\n%s", n, log)
					}
					if !strings.Contains(log, "MISSING "+name) {
						t.Errorf("no worker reported what it runs without:\n%s", log)
					}
				}()
				c := dialRetry(t, addr)
				defer c.Close()
				// imapctl status says what this server runs without.
				status, err := exec.Command(filepath.Join(dir, "imapctl"), "-c", conf, "status").CombinedOutput()
				if err != nil || !strings.Contains(string(status), "WARNING: running without "+name) {
					t.Errorf("imapctl status: %v\n%s", err, status)
				}
				r := bufio.NewReader(c)
				for _, step := range [][2]string{{"", "* OK"}, {"a1 LOGIN demo demo", "a1 OK"}, {"a2 SELECT INBOX", "a2 OK"}, {"a3 LOGOUT", "* BYE"}} {
					if step[0] != "" {
						fmt.Fprintf(c, "%s\r\n", step[0])
					}
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							t.Fatalf("C: %s: %v\n%s", step[0], err, stderr.String())
						}
						if strings.HasPrefix(line, step[1]) {
							break
						}
						if !strings.HasPrefix(line, "* ") {
							t.Fatalf("C: %s\nS: %s", step[0], line)
						}
					}
				}
			})
		}
	}
}

func writeConf(t *testing.T, dir, policy string) (conf, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	sub := t.TempDir()
	os.Chmod(sub, 0o755)
	os.Chmod(filepath.Dir(sub), 0o755) // authd reads the passwd-file as nobody
	uid := os.Getuid()
	priv := ""
	if uid == 0 {
		uid = 65534
		os.MkdirAll(filepath.Join(sub, "empty"), 0o755)
		priv = fmt.Sprintf("preauth user \"nobody\"\npreauth chroot %q\n", filepath.Join(sub, "empty"))
	}
	home := filepath.Join(sub, "home")
	os.MkdirAll(home, 0o700)
	os.Chown(home, uid, uid)
	passwd := filepath.Join(sub, "passwd")
	os.WriteFile(passwd, fmt.Appendf(nil, "demo:%s:%d:%d::%s::\n", demoHash, uid, uid, home), 0o644)
	conf = filepath.Join(sub, "imapd.conf")
	os.WriteFile(conf, fmt.Appendf(nil, `listen on 127.0.0.1 port %s plain
storage memory
auth passwd-file %q
first valid uid 1
plaintext auth allow
preauth workers 1
%scontrol socket %q
sandbox %s
`, port, passwd, priv, filepath.Join(sub, "control.sock"), policy), 0o644)
	return conf, addr
}

func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
