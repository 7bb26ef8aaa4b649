package ipc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The privilege tests re-execute this test binary (Tailscale's way): the
// child drops privileges for good, which a test process must not do to
// itself. IPC_TEST_CHILD names what the child does.
func TestMain(m *testing.M) {
	if mode := os.Getenv("IPC_TEST_CHILD"); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

// requireRoot skips a test that needs root, unless CI=true: there a skip
// would hide a missing check, so it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root and CI=true: run the suite as root")
	}
	t.Skip("needs root")
}

const testTitle = "imapd: testdrop"

// childMain runs in the re-executed child. It parks a few goroutines on their
// own threads first, so that a per-thread drop would leave visibly different
// threads behind, then says "ready <result>" on stdout and waits for stdin to
// close while the parent inspects /proc/PID from outside.
func childMain(mode string) int {
	park := make(chan struct{})
	var parked sync.WaitGroup
	for range 4 {
		parked.Add(1)
		go func() {
			runtime.LockOSThread()
			parked.Done()
			<-park
		}()
	}
	parked.Wait() // every thread exists before "ready"
	c, err := parseCreds(os.Getenv("IPC_TEST_CREDS"))
	if err != nil {
		fmt.Println("ready ERR", err)
		return 2
	}
	switch mode {
	case "drop":
		SetTitle(testTitle)
		err = Drop(os.Getenv("IPC_TEST_ROOT"), c)
	case "nnp":
		err = NoNewPrivs()
	case "partial":
		// The DESIGN.md §7 trap: raw system calls change only this
		// thread (as unix.Setgroups and unix.Prctl do).
		runtime.LockOSThread()
		err = rawDropThisThread(c)
		if err == nil {
			err = AssertDropped(c)
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Println("ready ERR", err)
	} else {
		fmt.Println("ready OK")
	}
	// Facts only the child can see. AllThreadsSyscall is refused (ENOTSUP)
	// in cgo binaries, where NoNewPrivs takes the seccomp TSYNC path.
	_, _, e := syscall.AllThreadsSyscall(syscall.SYS_GETPID, 0, 0, 0) // same answer on every thread
	fmt.Println("allthreads", e != syscall.ENOTSUP)
	_, perr := os.Stat("/etc/passwd")
	fmt.Println("etc-passwd-visible", perr == nil)
	if mode == "drop" {
		fmt.Println("setuid0-fails", syscall.Setuid(0) != nil)
	} else {
		// With cgo, glibc would abort on threads that disagree.
		fmt.Println("setuid0-fails untested")
	}
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	close(park)
	return 0
}

func rawDropThisThread(c Credentials) error {
	g := []uint32{c.GID}
	calls := [][4]uintptr{
		{unix.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&g[0]))},
		{unix.SYS_SETRESGID, uintptr(c.GID), uintptr(c.GID), uintptr(c.GID)},
		{unix.SYS_SETRESUID, uintptr(c.UID), uintptr(c.UID), uintptr(c.UID)},
		{unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1},
	}
	for _, a := range calls {
		if _, _, e := unix.RawSyscall(a[0], a[1], a[2], a[3]); e != 0 {
			return e
		}
	}
	runtime.KeepAlive(g)
	return nil
}

func parseCreds(s string) (Credentials, error) {
	var c Credentials
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return c, fmt.Errorf("bad creds %q", s)
	}
	u, err1 := strconv.ParseUint(parts[0], 10, 32)
	g, err2 := strconv.ParseUint(parts[1], 10, 32)
	if err1 != nil || err2 != nil {
		return c, fmt.Errorf("bad creds %q", s)
	}
	c.UID, c.GID = uint32(u), uint32(g)
	for _, f := range strings.Split(parts[2], ",") {
		if f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return c, fmt.Errorf("bad creds %q", s)
		}
		c.Groups = append(c.Groups, uint32(n))
	}
	return c, nil
}

type child struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	lines map[string]string
}

// startChild re-executes the test binary in mode and reads its report.
func startChild(t *testing.T, mode, root, creds string) *child {
	t.Helper()
	return startChildExe(t, os.Args[0], mode, root, creds)
}

func startChildExe(t *testing.T, exe, mode, root, creds string) *child {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "IPC_TEST_CHILD="+mode, "IPC_TEST_ROOT="+root, "IPC_TEST_CREDS="+creds)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{cmd: cmd, stdin: in, lines: map[string]string{}}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v", err)
		}
	})
	sc := bufio.NewScanner(out)
	for range 4 {
		if !sc.Scan() {
			t.Fatalf("child report cut short: %v", sc.Err())
		}
		k, v, _ := strings.Cut(sc.Text(), " ")
		ch.lines[k] = v
	}
	return ch
}

// threads reads the child's /proc/PID/task/*/status from outside.
func (c *child) threads(t *testing.T) map[string]taskStatus {
	t.Helper()
	d, err := os.Open(fmt.Sprintf("/proc/%d/task", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := readTaskStatuses(d)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDropAllThreads(t *testing.T) {
	requireRoot(t)
	checkDrop(t, os.Args[0])
}

// imapd itself is built with CGO_ENABLED=0, where NoNewPrivs takes the
// AllThreadsSyscall path; a test binary usually links cgo and takes the
// seccomp one. Build the other kind too, so that both paths are tested.
func TestDropOtherLinkMode(t *testing.T) {
	requireRoot(t)
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build with: %v", err)
	}
	// Build the kind this binary is not.
	cgo := "1"
	if !startChild(t, "nnp", "", "1:1:").allThreads() {
		cgo = "0"
	}
	exe := filepath.Join(t.TempDir(), "ipc.test")
	build := exec.Command(goTool, "test", "-c", "-o", exe, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the ipc test binary with CGO_ENABLED=%s: %v\n%s", cgo, err, out)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	c := checkDrop(t, exe)
	if want := cgo == "0"; c.allThreads() != want {
		t.Errorf("CGO_ENABLED=%s binary: AllThreadsSyscall usable = %v", cgo, c.allThreads())
	}
}

func (c *child) allThreads() bool { return c.lines["allthreads"] == "true" }

// checkDrop runs exe's drop child and checks it from outside.
func checkDrop(t *testing.T, exe string) *child {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// nobody, with one extra supplementary group (users) to see the list move.
	c := startChildExe(t, exe, "drop", root, "65534:65534:65534,100")
	if got := c.lines["ready"]; got != "OK" {
		t.Fatalf("Drop in child: %s", got)
	}
	if c.lines["etc-passwd-visible"] != "false" {
		t.Error("child still sees /etc/passwd after chroot")
	}
	if c.lines["setuid0-fails"] != "true" {
		t.Error("child could setuid(0) after Drop")
	}
	pid := c.cmd.Process.Pid
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/root", pid)); err != nil || link != root {
		t.Errorf("child root = %q (%v), want %q", link, err, root)
	}
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil || link != root {
		t.Errorf("child cwd = %q (%v), want %q", link, err, root)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if got := strings.TrimSpace(string(comm)); got != testTitle {
		t.Errorf("comm = %q, want %q", got, testTitle)
	}
	threads := c.threads(t)
	if len(threads) < 5 {
		t.Errorf("child has %d threads, want at least 5 (4 parked + main)", len(threads))
	}
	for tid, st := range threads {
		if err := st.check(65534, 65534, []uint32{100, 65534}); err != nil {
			t.Errorf("thread %s: %v", tid, err)
		}
	}
	return c
}

// A drop done per thread must be caught by the /proc scan, even though the
// calling thread itself looks perfect.
func TestAssertDroppedCatchesPartialDrop(t *testing.T) {
	requireRoot(t)
	c := startChild(t, "partial", "", "65534:65534:")
	got := c.lines["ready"]
	if !strings.HasPrefix(got, "ERR") || !strings.Contains(got, "thread") {
		t.Fatalf("AssertDropped after a one-thread drop = %q, want a thread error", got)
	}
	root := 0
	for _, st := range c.threads(t) {
		if st.Uid[0] == 0 {
			root++
		}
	}
	if root == 0 {
		t.Error("no thread kept root: the scenario did not reproduce the trap")
	}
}

// NoNewPrivs needs no privilege, so it runs as any user.
func TestNoNewPrivsAllThreads(t *testing.T) {
	c := startChild(t, "nnp", "", "1:1:")
	if got := c.lines["ready"]; got != "OK" {
		t.Fatalf("NoNewPrivs in child: %s", got)
	}
	threads := c.threads(t)
	if len(threads) < 5 {
		t.Errorf("child has %d threads, want at least 5", len(threads))
	}
	for tid, st := range threads {
		if !st.NoNewPrivs {
			t.Errorf("thread %s: NoNewPrivs not set", tid)
		}
	}
}

func TestDropRefusesRoot(t *testing.T) {
	for _, c := range []Credentials{{UID: 0, GID: 100}, {UID: 100, GID: 0}, {UID: 100, GID: 100, Groups: []uint32{100, 0}}} {
		if err := Drop("/nonexistent", c); err == nil {
			t.Errorf("Drop(%+v) succeeded", c)
		}
	}
}

func TestParseTaskStatus(t *testing.T) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := parseTaskStatus(f)
	if err != nil {
		t.Fatal(err)
	}
	if st.Uid[0] != uint32(os.Getuid()) || st.Gid[1] != uint32(os.Getegid()) {
		t.Errorf("parsed uid %v gid %v, want %d/%d", st.Uid, st.Gid, os.Getuid(), os.Getegid())
	}
	bad := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(bad, []byte("Name:\tx\nUid:\t0\t0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, _ := os.Open(bad)
	defer g.Close()
	if _, err := parseTaskStatus(g); err == nil {
		t.Error("a status with a short Uid line parsed")
	}
}

func TestLookupUser(t *testing.T) {
	c, home, err := LookupUser("root")
	if err != nil {
		t.Fatal(err)
	}
	if c.UID != 0 || c.GID != 0 || home != "/root" || len(c.Groups) == 0 || c.Groups[0] != 0 {
		t.Errorf("LookupUser(root) = %+v %q", c, home)
	}
	if _, _, err := LookupUser("no-such-user-imapd"); err == nil {
		t.Error("LookupUser of an unknown user succeeded")
	}
}

func TestCommName(t *testing.T) {
	for in, want := range map[string]string{
		"imapd: authd":         "imapd: authd",
		"imapd: preauth":       "imapd: preauth",
		"imapd: mailbox alice": "imapd: mailbox",
		"imapd: parent1234567": "imapd: parent12",
	} {
		if got := commName(in); got != want {
			t.Errorf("commName(%q) = %q, want %q", in, got, want)
		}
	}
}

// AssertUser refuses root ids outright, and ids the process does not run
// as.
func TestAssertUserRefusesRoot(t *testing.T) {
	for _, c := range [][2]uint32{{0, 1000}, {1000, 0}, {0, 0}} {
		if err := AssertUser(c[0], c[1]); err == nil {
			t.Errorf("uid %d gid %d accepted", c[0], c[1])
		}
	}
	if uid := uint32(os.Getuid()); uid != 4242 {
		if err := AssertUser(4242, 4242); err == nil {
			t.Error("ids the process does not run as accepted")
		}
	}
}
