package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sandboxing beyond chroot and setuid (DESIGN §6): Landlock takes away the
// file system and outgoing TCP, a seccomp filter takes away what a preauth
// worker never needs (exec, new processes, new network sockets, ptrace,
// mount, BPF, ...), and rlimits bound what is left. Each is applied to every
// thread: Landlock through AllThreadsSyscall, seccomp with TSYNC.

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

// landlock restricts every thread to the given directories (full access
// beneath each), no TCP bind or connect, and (ABI 6) no abstract unix
// sockets or signals outside the process. It returns what it applied.
func landlock(dirs ...string) (string, error) {
	abi := LandlockABI()
	if abi == 0 {
		return "", errors.New("landlock not available")
	}
	attr := rulesetAttr{fs: fsAccess(abi)}
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
		return "", fmt.Errorf("landlock_create_ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	for _, dir := range dirs {
		d, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC|unix.O_DIRECTORY, 0)
		if err != nil {
			return "", fmt.Errorf("landlock: %s: %w", dir, err)
		}
		rule := unix.LandlockPathBeneathAttr{Allowed_access: attr.fs, Parent_fd: int32(d)}
		_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
		unix.Close(d)
		if errno != 0 {
			return "", fmt.Errorf("landlock_add_rule %s: %w", dir, errno)
		}
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return "", fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return fmt.Sprintf("landlock abi %d", abi), nil
}

// Restrict applies a worker's sandbox after its privileges are dropped:
// Landlock confines it to dirs (none: no file system at all) and takes away
// TCP bind and connect; the seccomp filter takes away exec, new processes,
// network sockets other than unix ones (so MPTCP too, which Landlock does
// not cover), ptrace, mount, BPF and the like. What the kernel lacks is
// skipped and returned as a warning; what it has must work.
func Restrict(dirs ...string) (applied, warnings []string, err error) {
	// Load what the time package reads lazily while files are reachable.
	_ = time.Local.String()
	if ll, err := landlock(dirs...); err != nil {
		if LandlockABI() != 0 {
			return nil, nil, err
		}
		warnings = append(warnings, "kernel without Landlock: file-system and network rights are not restricted beyond the process's ids")
	} else {
		applied = append(applied, ll)
	}
	if err := seccompWorker(); err != nil {
		if SeccompAvailable() && runtime.GOARCH == "amd64" {
			return nil, nil, err
		}
		warnings = append(warnings, "no seccomp filter: "+err.Error())
	} else {
		applied = append(applied, "seccomp")
	}
	return applied, warnings, nil
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

// CheckConfined tries what a sandboxed worker must not be able to do and
// returns an error naming anything that succeeded. Run by each worker after
// restricting itself: a sandbox that does not hold stops the worker.
func CheckConfined(forbiddenPaths []string, network bool) (string, error) {
	var report []string
	for _, p := range forbiddenPaths {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
			return "", fmt.Errorf("sandbox does not hold: opened %s", p)
		}
		report = append(report, fmt.Sprintf("open %s: %v", p, errnoOf(err)))
	}
	if network {
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
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP)
		if err == nil {
			unix.Close(fd)
			return "", errors.New("sandbox does not hold: created an MPTCP socket")
		}
		report = append(report, "mptcp socket: "+errnoOf(err))
	}
	return fmt.Sprint(report), nil
}

// isDenied tells a refusal by the sandbox from the network's own answer
// (a connection refused means the connect got through).
func isDenied(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

func errnoOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// The seccomp filter, for x86-64. A classic BPF program over struct
// seccomp_data: nr at offset 0, arch at 4, args from 16.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArg0 = 16
)

// workerDenied are system calls neither worker role ever makes.
var workerDenied = []uint32{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_FORK, unix.SYS_VFORK,
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_CONNECT, unix.SYS_BIND, unix.SYS_LISTEN,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_SETNS, unix.SYS_UNSHARE,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE, unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID, unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETGROUPS,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT, unix.SYS_MKNOD, unix.SYS_MKNODAT,
}

func seccompWorker() error {
	if runtime.GOARCH != "amd64" {
		return errors.New("seccomp filter written for amd64 only")
	}
	errnoRet := func(e syscall.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	ld := func(off uint32) unix.SockFilter { return stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
	ret := func(k uint32) unix.SockFilter { return stmt(unix.BPF_RET|unix.BPF_K, k) }

	prog := []unix.SockFilter{
		ld(seccompDataArch),
		jeq(unix.AUDIT_ARCH_X86_64, 1, 0),
		ret(unix.SECCOMP_RET_KILL_PROCESS),
		ld(seccompDataNr),
		// x32 system calls (bit 30) would bypass the numbers below.
		{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: 0x40000000, Jt: 0, Jf: 1},
		ret(errnoRet(unix.EPERM)),
	}
	for _, nr := range workerDenied {
		prog = append(prog, jeq(nr, 0, 1), ret(errnoRet(unix.EPERM)))
	}
	prog = append(prog,
		// clone3 hides its flags in memory: make callers fall back to clone.
		jeq(unix.SYS_CLONE3, 0, 1), ret(errnoRet(unix.ENOSYS)),
		// clone: threads only (CLONE_THREAD in flags, the first argument).
		jeq(unix.SYS_CLONE, 0, 4),
		ld(seccompDataArg0),
		unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: unix.CLONE_THREAD, Jt: 1, Jf: 0},
		ret(errnoRet(unix.EPERM)),
		ret(unix.SECCOMP_RET_ALLOW),
		// socket: AF_UNIX only (relay socketpairs, inotify needs none); no
		// TCP, MPTCP, UDP, netlink or packet sockets.
		jeq(unix.SYS_SOCKET, 0, 3),
		ld(seccompDataArg0),
		jeq(unix.AF_UNIX, 1, 0),
		ret(errnoRet(unix.EPERM)),
		ret(unix.SECCOMP_RET_ALLOW),
	)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("seccomp: %w", errno)
	}
	return nil
}
