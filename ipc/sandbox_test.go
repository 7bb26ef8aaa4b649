package ipc

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"imapd/ipc/ipctest"
)

var sandboxRoles = map[string]Role{"preauth": RolePreauth, "mailbox": RoleMailbox, "keyd": RoleKeyd}

// TestSandboxChild is the body of TestSandbox, run in a re-executed test
// binary for one role: restricting the test process itself would break the
// test runner.
func TestSandboxChild(t *testing.T) {
	dir := os.Getenv("IMAPD_SANDBOX_CHILD")
	if dir == "" {
		t.Skip("run by TestSandbox")
	}
	role := sandboxRoles[os.Getenv("IMAPD_SANDBOX_ROLE")]
	if err := NoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	if role == RoleMailbox {
		dirs = append(dirs, filepath.Join(dir, "mine"))
	}
	// A TCP connection made before the sandbox, as a preauth worker is
	// given its clients' sockets.
	tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpOut, err := net.Dial("tcp", tcpLn.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tcpIn, err := tcpLn.Accept()
	if err != nil {
		t.Fatal(err)
	}
	tcpLn.Close()
	sb, err := Restrict(role, dirs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("applied %s", sb)
	if !sb.Seccomp || sb.Landlock == 0 {
		t.Fatalf("sandbox incomplete: %s", sb)
	}
	mine := filepath.Join(dir, "mine")
	if role == RoleMailbox {
		if _, err := os.ReadFile(filepath.Join(mine, "msg")); err != nil {
			t.Errorf("reading inside the Maildir: %v", err)
		}
		if err := os.WriteFile(filepath.Join(mine, "new"), []byte("x"), 0o600); err != nil {
			t.Errorf("writing inside the Maildir: %v", err)
		}
		if err := os.Rename(filepath.Join(mine, "new"), filepath.Join(mine, "sub", "new")); err != nil {
			t.Errorf("renaming across directories inside the Maildir: %v", err)
		}
		// The Maildir rule grants no FIFO, socket, device or symlink.
		if err := unix.Mkfifo(filepath.Join(mine, "fifo"), 0o600); err == nil {
			t.Error("made a FIFO in the Maildir")
		}
		if err := os.Symlink("/etc/passwd", filepath.Join(mine, "link")); err == nil {
			t.Error("made a symlink in the Maildir")
		}
	} else if _, err := os.ReadFile(filepath.Join(mine, "msg")); err == nil {
		t.Errorf("%s read a file", role)
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

	// The datagram escape: a unix datagram socket, made by socket(2) or
	// socketpair(2), could sendto(2) the test's socket by its path (as it
	// could /dev/log or journald's). TestSandbox checks nothing arrived.
	logSock := filepath.Join(dir, "log.sock")
	if fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0); err == nil {
		t.Error("created a unix datagram socket")
		if err := unix.Sendto(fd, []byte("escaped by socket"), 0, &unix.SockaddrUnix{Name: logSock}); err == nil {
			t.Error("sendto a path from a new datagram socket")
		}
	}
	if fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0); err == nil {
		t.Error("created a unix datagram socketpair")
		if err := unix.Sendto(fds[0], []byte("escaped by socketpair"), 0, &unix.SockaddrUnix{Name: logSock}); err == nil {
			t.Error("sendto a path from a datagram socketpair")
		}
	}
	// Nor a path through an inherited stream socket, or connect(2).
	if role == RolePreauth {
		if a, b, err := StreamSocketpair(); err != nil {
			t.Errorf("stream socketpair (the relay) refused: %v", err)
		} else {
			if err := unix.Sendto(int(a.Fd()), []byte("x"), 0, &unix.SockaddrUnix{Name: logSock}); err == nil {
				t.Error("sendto with an address on a stream socket")
			}
			a.Close()
			b.Close()
		}
		// The relay of a cleartext connection: io.Copy from a TCP socket to
		// the relay's unix stream socket, which Go does with splice(2).
		if a, b, err := StreamSocketpair(); err != nil {
			t.Errorf("stream socketpair: %v", err)
		} else {
			ua, _ := net.FileConn(a)
			a.Close()
			tcpOut.Write([]byte("relayed"))
			tcpOut.Close()
			if _, err := io.Copy(ua, tcpIn); err != nil {
				t.Errorf("relaying TCP to the socketpair: %v", err)
			}
			ua.Close()
			got, _ := io.ReadAll(b)
			b.Close()
			if string(got) != "relayed" {
				t.Errorf("relayed %q", got)
			}
		}
		if a, b, err := Socketpair(); err != nil {
			t.Errorf("seqpacket socketpair refused: %v", err)
		} else {
			a.Close()
			b.Close()
		}
	} else if a, b, err := Socketpair(); err == nil {
		a.Close()
		b.Close()
		t.Errorf("%s made a socketpair", role)
	}

	// Whole families a worker never uses: the new mount API, SysV IPC,
	// POSIX message queues, namespaces, ptrace, memfd.
	for _, c := range []struct {
		name string
		nr   uintptr
		args [3]uintptr
	}{
		{"fsopen", unix.SYS_FSOPEN, [3]uintptr{}},
		{"open_tree", unix.SYS_OPEN_TREE, [3]uintptr{}},
		{"move_mount", unix.SYS_MOVE_MOUNT, [3]uintptr{}},
		{"shmget", unix.SYS_SHMGET, [3]uintptr{unix.IPC_PRIVATE, 4096, unix.IPC_CREAT | 0o600}},
		{"msgget", unix.SYS_MSGGET, [3]uintptr{unix.IPC_PRIVATE, unix.IPC_CREAT | 0o600}},
		{"semget", unix.SYS_SEMGET, [3]uintptr{unix.IPC_PRIVATE, 1, unix.IPC_CREAT | 0o600}},
		{"mq_open", unix.SYS_MQ_OPEN, [3]uintptr{}},
		{"unshare", unix.SYS_UNSHARE, [3]uintptr{unix.CLONE_NEWUSER}},
		{"ptrace", unix.SYS_PTRACE, [3]uintptr{unix.PTRACE_TRACEME}},
		{"memfd_create", unix.SYS_MEMFD_CREATE, [3]uintptr{}},
	} {
		if _, _, errno := unix.Syscall(c.nr, c.args[0], c.args[1], c.args[2]); errno != unix.EPERM {
			t.Errorf("%s: %v, want EPERM from the filter", c.name, errno)
		}
	}
	report, err := CheckConfined(sb, []string{"/etc/passwd"})
	if err != nil {
		t.Error(err)
	}
	t.Log(report)
}

// TestSandbox checks, in a child process per role, that a restricted
// worker can use what its role needs (its Maildir, the relay's stream
// socketpair) but cannot read elsewhere, connect out over TCP or MPTCP,
// execute anything, reach a datagram socket by its path, or use the mount
// API, SysV IPC or message queues (issues 8, 4, 16).
func TestSandbox(t *testing.T) {
	if LandlockABI() == 0 || !SeccompAvailable() {
		if os.Getenv("CI") == "true" {
			t.Fatal("this kernel lacks Landlock or seccomp, and CI must test the sandbox")
		}
		t.Skip("no Landlock or seccomp")
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
	bin := ipctest.StaticTestBinary(t)
	for name := range sandboxRoles {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"mine", "mine/sub", "other"} {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
				os.WriteFile(filepath.Join(dir, d, "msg"), []byte("Subject: x\r\n\r\n"), 0o644)
			}
			logc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "log.sock"), Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer logc.Close()
			cmd := exec.Command(bin, "-test.run=^TestSandboxChild$", "-test.v")
			cmd.Env = append(os.Environ(), "IMAPD_SANDBOX_CHILD="+dir, "IMAPD_SANDBOX_ROLE="+name,
				"IMAPD_SANDBOX_ADDR="+ln.Addr().String())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestSandboxChild") {
				t.Fatalf("sandboxed child: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			logc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 100)
			if n, _, err := logc.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the datagram socket received %q (%v) from inside the sandbox", buf[:n], err)
			}
		})
	}
}
