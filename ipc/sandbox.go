package ipc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sandboxing beyond chroot and setuid (DESIGN §6, docs/security.md):
// Landlock takes away the file system (all of it, or all but the Maildir)
// and outgoing TCP; a seccomp allowlist per role (seccomp_filter.go) takes
// away every system call the role does not make; rlimits bound what is
// left. Each is applied to every thread: Landlock through
// AllThreadsSyscall, seccomp with TSYNC.

// LandlockABI reports the kernel's Landlock ABI version, 0 without Landlock.
func LandlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}

// SeccompAvailable reports whether the kernel offers seccomp filters.
func SeccompAvailable() bool {
	_, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	return err == nil
}

// Policy is the `sandbox` statement of imapd.conf(5): what a kernel
// without a sandbox feature gets.
type Policy string

const (
	// Require refuses to start without every feature (the default).
	Require Policy = "require"
	// Prefer runs with what the kernel has and says once what it lacks.
	Prefer Policy = "prefer"
)

// Missing lists the sandbox features this kernel and architecture lack,
// each as a phrase to follow "lacks": nothing on Linux 6.7 and later on
// x86-64 or arm64.
func Missing() []string {
	var m []string
	if LandlockABI() == 0 {
		m = append(m, "Landlock (file-system and TCP confinement)")
	}
	if !SeccompAvailable() {
		m = append(m, "seccomp (system call filters)")
	} else if !HasAllowlist() {
		m = append(m, "a seccomp allowlist for "+runtime.GOARCH+" (imapd has x86-64 and arm64)")
	}
	return m
}

// KernelRelease is uname -r, for messages.
func KernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// CheckPolicy is the parent's check at start: under Require a missing
// feature is one error naming the feature, the kernel and the statement
// that relaxes it; under Prefer it returns the warning to log once.
func CheckPolicy(p Policy) (warning string, err error) {
	m := Missing()
	if len(m) == 0 {
		return "", nil
	}
	what := strings.Join(m, " and ")
	if p == Prefer {
		return fmt.Sprintf("sandbox prefer: Linux %s lacks %s; workers run without it", KernelRelease(), what), nil
	}
	return "", fmt.Errorf("sandbox require: Linux %s lacks %s; `sandbox prefer` in imapd.conf runs without it", KernelRelease(), what)
}

// rulesetAttr is struct landlock_ruleset_attr up to the scoped field (ABI 6).
type rulesetAttr struct {
	fs, net, scoped uint64
}

// fsAccess is every file-system right the ABI knows: handled and not
// granted means denied.
func fsAccess(abi int) uint64 {
	a := uint64(0x1fff) // ABI 1: execute .. make_sym
	if abi >= 2 {
		a |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		a |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		a |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return a
}

// maildirAccess is what a mailbox worker may do beneath its Maildir: read,
// write, create and remove files and directories, rename and link between
// tmp/, new/ and cur/ (REFER), truncate its index. Not granted: execute,
// sockets, FIFOs, device nodes, symlinks, device ioctls.
const maildirAccess = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
	unix.LANDLOCK_ACCESS_FS_READ_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR |
	unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
	unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_REFER |
	unix.LANDLOCK_ACCESS_FS_TRUNCATE

// newRuleset creates a ruleset that handles every file-system right of
// the kernel's ABI, TCP bind and connect (ABI 4) and the scopes (ABI 6).
func newRuleset() (fd uintptr, attr rulesetAttr, abi int, err error) {
	abi = LandlockABI()
	if abi == 0 {
		return 0, attr, 0, errors.New("landlock not available")
	}
	attr = rulesetAttr{fs: fsAccess(abi)}
	size := unsafe.Sizeof(attr.fs)
	if abi >= 4 {
		attr.net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
		size += unsafe.Sizeof(attr.net)
	}
	if abi >= 6 {
		attr.scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
		size += unsafe.Sizeof(attr.scoped)
	}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return 0, attr, 0, fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	return fd, attr, abi, nil
}

// landlock restricts every thread to the given directories (maildirAccess
// beneath each), no TCP bind or connect, and (ABI 6) no abstract unix
// sockets or signals outside the process. It returns the ABI applied.
func landlock(dirs ...string) (int, error) {
	fd, attr, abi, err := newRuleset()
	if err != nil {
		return 0, err
	}
	defer unix.Close(int(fd))
	for _, dir := range dirs {
		d, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
		if err != nil {
			return 0, fmt.Errorf("landlock: %s: %w", dir, err)
		}
		rule := unix.LandlockPathBeneathAttr{Allowed_access: maildirAccess & attr.fs, Parent_fd: int32(d)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
		unix.Close(d)
		if errno != 0 {
			return 0, fmt.Errorf("landlock_add_rule %s: %w", dir, errno)
		}
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		if errno == syscall.ENOTSUP {
			return 0, errors.New("landlock_restrict_self: not supported in a binary built with cgo: build imapd with CGO_ENABLED=0 (make build does)")
		}
		return 0, fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return abi, nil
}

// errNoFilter: no allowlist for this architecture.
var errNoFilter = errors.New("no seccomp allowlist for " + runtime.GOARCH)

// Sandbox is what Restrict put in force, for the worker's log and the
// parent's status.
type Sandbox struct {
	Role     Role
	Landlock int  // ABI applied, 0: none
	Seccomp  bool // the role's allowlist
	Missing  []string
}

func (s Sandbox) String() string {
	var a []string
	if s.Landlock > 0 {
		a = append(a, fmt.Sprintf("landlock abi %d", s.Landlock))
	}
	if s.Seccomp {
		a = append(a, "seccomp allowlist "+s.Role.String()+" "+runtime.GOARCH)
	}
	for _, m := range s.Missing {
		a = append(a, "MISSING "+m)
	}
	return strings.Join(a, ", ")
}

// Restrict applies role's sandbox after its privileges are dropped:
// Landlock confines it to dirs (none: no file system at all) and takes away
// TCP bind and connect; the role's seccomp allowlist takes away the rest.
// A feature the kernel lacks is skipped and named in Missing (the parent
// has already refused to start under `sandbox require`, CheckPolicy); one
// the kernel has must work.
func Restrict(role Role, dirs ...string) (Sandbox, error) {
	// Load what the time package reads lazily while files are reachable.
	_ = time.Local.String()
	sb := Sandbox{Role: role}
	if LandlockABI() == 0 {
		sb.Missing = append(sb.Missing, "Landlock")
	} else if abi, err := landlock(dirs...); err != nil {
		return sb, err
	} else {
		sb.Landlock = abi
	}
	switch err := seccompRole(role); {
	case err == nil:
		sb.Seccomp = true
	case !SeccompAvailable():
		sb.Missing = append(sb.Missing, "seccomp")
	case errors.Is(err, errNoFilter):
		sb.Missing = append(sb.Missing, err.Error())
	default:
		return sb, err
	}
	return sb, nil
}

// LimitPreauth sets the preauth worker's resource limits: it writes no
// files, and its user may not run away with processes. Threads count
// against RLIMIT_NPROC, so the cap is generous; the seccomp filter refuses
// new processes anyway.
func LimitPreauth() error {
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("RLIMIT_FSIZE: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: 4096, Max: 4096}); err != nil {
		return fmt.Errorf("RLIMIT_NPROC: %w", err)
	}
	return nil
}

// Confine is a worker's last step before it serves: Restrict, then
// CheckConfined against forbidden paths, then one log line saying what
// holds and what the kernel lacks. It returns what is in force, for the
// parent's status.
func Confine(log *slog.Logger, role Role, forbidden []string, dirs ...string) (Sandbox, error) {
	sb, err := Restrict(role, dirs...)
	if err != nil {
		return sb, fmt.Errorf("sandbox: %w", err)
	}
	report, err := CheckConfined(sb, forbidden)
	if err != nil {
		return sb, err
	}
	log.Info("sandbox in force", "applied", sb.String(), "check", report)
	return sb, nil
}

// CheckConfined tries what the sandbox sb claims to take away and returns
// an error naming anything that succeeded. Run by each worker after
// restricting itself: a sandbox that does not hold what it claims stops
// the worker; what it does not claim (Missing) is not tried.
func CheckConfined(sb Sandbox, forbiddenPaths []string) (string, error) {
	var report []string
	filesDenied := sb.Landlock > 0 || (sb.Seccomp && sb.Role != RoleMailbox && sb.Role != RoleAuthd)
	for _, p := range forbiddenPaths {
		if !filesDenied {
			break
		}
		f, err := os.Open(p)
		if err == nil {
			f.Close()
			return "", fmt.Errorf("sandbox does not hold: opened %s", p)
		}
		report = append(report, fmt.Sprintf("open %s: %v", p, errnoOf(err)))
	}
	if sb.Landlock >= 4 || sb.Seccomp {
		d := net.Dialer{Timeout: time.Second}
		d.SetMultipathTCP(false)
		if c, err := d.Dial("tcp", "127.0.0.1:1"); err == nil || !isDenied(err) {
			if c != nil {
				c.Close()
			}
			return "", fmt.Errorf("sandbox does not hold: tcp connect: %v", err)
		} else {
			report = append(report, "tcp connect: "+errnoOf(err))
		}
	}
	if sb.Seccomp {
		for _, s := range []struct {
			name         string
			domain, kind int
			pair         bool
		}{
			{"mptcp socket", unix.AF_INET, unix.SOCK_STREAM, false},
			{"unix datagram socket", unix.AF_UNIX, unix.SOCK_DGRAM, false},
			{"unix datagram socketpair", unix.AF_UNIX, unix.SOCK_DGRAM, true},
		} {
			var err error
			if s.pair {
				var fds [2]int
				if fds, err = unix.Socketpair(s.domain, s.kind|unix.SOCK_CLOEXEC, 0); err == nil {
					unix.Close(fds[0])
					unix.Close(fds[1])
				}
			} else {
				proto := 0
				if s.domain == unix.AF_INET {
					proto = unix.IPPROTO_MPTCP
				}
				var fd int
				if fd, err = unix.Socket(s.domain, s.kind|unix.SOCK_CLOEXEC, proto); err == nil {
					unix.Close(fd)
				}
			}
			if err == nil {
				return "", fmt.Errorf("sandbox does not hold: created a %s", s.name)
			}
			report = append(report, s.name+": "+errnoOf(err))
		}
	}
	return fmt.Sprint(report), nil
}

// isDenied tells a refusal by the sandbox from the network's own answer
// (a connection refused means the connect got through).
func isDenied(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EAFNOSUPPORT)
}

func errnoOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}
