package ipc

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// authd is linked with cgo (PAM, NSS), where AllThreadsSyscall is refused:
// it cannot Landlock a running process's every thread. It restricts the
// one thread that then execs authd again instead; the new image starts
// with that thread's no-new-privs and Landlock domain, and every thread it
// makes inherits them (docs/security.md, "authd").

// readOnlyAccess is what authd may do beneath a directory it reads.
const readOnlyAccess = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR

// LandlockThreadReadOnly sets no-new-privs on the calling thread, which
// must be locked to its goroutine and exec next, and restricts it to
// reading beneath dirs and reading and executing files (the binary, its
// interpreter and libraries, which the exec that follows opens); no TCP
// bind or connect, and (ABI 6) no abstract unix sockets or signals out. It
// returns the ABI applied.
func LandlockThreadReadOnly(dirs, files []string) (int, error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fd, attr, abi, err := newRuleset()
	if err != nil {
		return 0, err
	}
	defer unix.Close(int(fd))
	add := func(path string, flags int, access uint64) error {
		d, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC|flags, 0)
		if err != nil {
			return fmt.Errorf("landlock: %s: %w", path, err)
		}
		defer unix.Close(d)
		rule := unix.LandlockPathBeneathAttr{Allowed_access: access & attr.fs, Parent_fd: int32(d)}
		if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); errno != 0 {
			return fmt.Errorf("landlock_add_rule %s: %w", path, errno)
		}
		return nil
	}
	for _, d := range dirs {
		if err := add(d, unix.O_DIRECTORY, readOnlyAccess); err != nil {
			return 0, err
		}
	}
	for _, f := range files {
		if err := add(f, 0, unix.LANDLOCK_ACCESS_FS_READ_FILE|unix.LANDLOCK_ACCESS_FS_EXECUTE); err != nil {
			return 0, err
		}
	}
	// This thread only: the exec that follows makes it the process.
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return 0, fmt.Errorf("landlock_restrict_self: %w", errno)
	}
	return abi, nil
}

// NoNewPrivsSet reports whether the calling thread has no-new-privs.
func NoNewPrivsSet() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	return err == nil && v == 1
}

// SeccompRole installs role's allowlist on every thread (TSYNC works in
// cgo binaries too): authd's step after its re-exec. A kernel without
// seccomp or an architecture without an allowlist gives the reason to add
// to Sandbox.Missing and no error.
func SeccompRole(role Role) (missing string, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch err := seccompRole(role); {
	case err == nil:
		return "", nil
	case !SeccompAvailable():
		return "seccomp", nil
	case errors.Is(err, errNoFilter):
		return err.Error(), nil
	default:
		return "", err
	}
}
