// Package hermetic keeps tests that need root from changing the host they
// run on (docs/testing.md#hermetic). Its Main, used as a package's TestMain,
// re-runs the test binary in new mount, network, PID and UTS namespaces:
// /etc, /usr and /var are overlays whose writes land in a temporary
// directory (so even `make install` as written stays inside),
// /home and /run are fresh tmpfs mounts, $TMPDIR a directory removed
// with the namespace, the network is a loopback of its own and every
// process the tests start dies with the namespace. A small
// init, PID 1 of the namespace, reaps the processes orphaned there (as an
// init does), so none lingers as a zombie that pgrep would count. Accounts,
// PAM services, sockets and daemons made by the tests exist only there.
package hermetic

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	// inside marks the re-run test binary, so it sets up instead of re-running.
	inside = "IMAPD_HERMETIC"
	// hostNS carries the host's namespace identities to the re-run binary,
	// so a test can show that its own differ.
	hostNS = "IMAPD_HERMETIC_HOST_NS"
)

// Main runs the package's tests: directly when not root (nothing a normal
// user's test can do reaches the host's accounts), and in namespaces of
// their own as root. It never returns.
func Main(m *testing.M) {
	switch os.Getenv(inside) {
	case "1":
		os.Exit(m.Run())
	case "init":
		os.Exit(runInit())
	}
	switch {
	case os.Geteuid() != 0:
		os.Exit(m.Run())
	default:
		os.Exit(rerun())
	}
}

// Inside reports whether the tests run in the namespaces Main made.
func Inside() bool { return os.Getenv(inside) == "1" }

// HostNamespaces names the namespaces of the process that called Main, in
// the form namespaces returns; empty when the tests run on the host.
func HostNamespaces() string { return os.Getenv(hostNS) }

// namespaces names this process's mount, network, PID and UTS namespaces,
// as /proc/self/ns shows them ("mnt:[4026531841] net:[...] ...").
func namespaces() string {
	var s string
	for _, ns := range []string{"mnt", "net", "pid", "uts"} {
		l, _ := os.Readlink("/proc/self/ns/" + ns)
		if s != "" {
			s += " "
		}
		s += l
	}
	return s
}

// Namespaces is namespaces for tests: the calling process's own.
func Namespaces() string { return namespaces() }

// startSelf starts this test binary again with its arguments, env added,
// and passes on the signals that end a test run (go test's timeout, ^C).
func startSelf(attr *syscall.SysProcAttr, env ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	return cmd, nil
}

// rerun starts the namespaces' init (this binary again, see runInit) and
// returns the tests' exit status. Ending the init ends every process in
// the namespace.
func rerun() int {
	cmd, err := startSelf(&syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		Pdeathsig:  syscall.SIGKILL,
	}, inside+"=init", hostNS+"="+namespaces())
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic: cannot create mount, network, PID and UTS namespaces:", err)
		return 2
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			fmt.Fprintln(os.Stderr, "hermetic: test binary killed by", ws.Signal())
			return 2
		}
		return ee.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic:", err)
		return 2
	}
	return 0
}

// runInit is PID 1 of the namespaces: it builds the private file system
// and network, runs the tests as its child, reaps every process orphaned in
// the namespace meanwhile, and returns the tests' exit status. Its exit
// ends every process left in the namespace; the overlays' upper layers are
// removed.
func runInit() int {
	state, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic: setup:", err)
		return 2
	}
	defer func() {
		for _, dir := range []string{"/etc", "/usr", "/var", "/home", "/run"} {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		os.RemoveAll(state)
	}()
	// The tests' temporary files, and those of the tools they run, go to
	// a directory of the namespace's lifetime: what a test leaves behind
	// (a package build's clone, a tool's scratch file) is removed with it.
	// Its name is short: sockets are made under it (108-byte paths).
	tmp, err := os.MkdirTemp("", "ih-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic: temporary directory:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, os.ModeSticky|0o777) // like /tmp: the tests' users write there too
	cmd, err := startSelf(nil, inside+"=1", "TMPDIR="+tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hermetic: start tests:", err)
		return 2
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "hermetic: wait:", err)
			return 2
		}
		if pid != cmd.Process.Pid {
			continue // an orphan, reaped
		}
		if ws.Signaled() {
			fmt.Fprintln(os.Stderr, "hermetic: test binary killed by", ws.Signal())
			return 2
		}
		return ws.ExitStatus()
	}
}

func setup() (string, error) {
	// Nothing mounted here may propagate back to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", fmt.Errorf("mount /proc: %w", err)
	}
	state, err := os.MkdirTemp("", "imapd-hermetic-")
	if err != nil {
		return "", err
	}
	for _, dir := range []string{"/etc", "/usr", "/var"} {
		if err := overlay(state, dir); err != nil {
			return state, err
		}
	}
	for _, dir := range []string{"/home", "/run"} {
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return state, fmt.Errorf("tmpfs on %s: %w", dir, err)
		}
	}
	// Programs expect these in /run; the host's are hidden now.
	for _, dir := range []string{"/run/lock", "/run/user"} {
		os.MkdirAll(dir, 0o755)
	}
	os.Chmod("/run/lock", os.ModeSticky|0o777)
	if err := loopbackUp(); err != nil {
		return state, err
	}
	unix.Sethostname([]byte("imapd-test"))
	return state, nil
}

// overlay mounts dir over itself, writes going to state.
func overlay(state, dir string) error {
	name := filepath.Base(dir)
	upper, work := filepath.Join(state, name, "upper"), filepath.Join(state, name, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir, upper, work)
	if err := unix.Mount("overlay", dir, "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlay on %s: %w", dir, err)
	}
	return nil
}

// loopbackUp brings up lo, the only interface a new network namespace has.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}
