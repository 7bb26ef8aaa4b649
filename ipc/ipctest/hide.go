// Package ipctest makes a kernel look as if it lacked a sandbox feature,
// for the tests of `sandbox require|prefer` (docs/security.md, "When the
// kernel lacks a feature"). Nothing but tests imports it.
package ipctest

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Hide installs, on every thread of the calling process and whatever it
// executes, a seccomp filter of the test's own under which feature
// ("landlock" or "seccomp") seems absent, as on kernels built without it:
// Landlock's calls fail with ENOSYS; or seccomp(2) fails with ENOSYS and
// PR_GET_SECCOMP with EINVAL. It sets no-new-privs on the calling thread,
// as a filter needs; call it from a locked thread of a child about to exec.
func Hide(feature string) error {
	var calls []uint32
	switch feature {
	case "landlock":
		calls = []uint32{unix.SYS_LANDLOCK_CREATE_RULESET, unix.SYS_LANDLOCK_ADD_RULE, unix.SYS_LANDLOCK_RESTRICT_SELF}
	case "seccomp":
		calls = []uint32{unix.SYS_SECCOMP}
	default:
		return fmt.Errorf("ipctest: cannot hide %q", feature)
	}
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	errno := func(e syscall.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }
	prog := []unix.SockFilter{ld(0)} // seccomp_data.nr
	for _, nr := range calls {
		prog = append(prog, jeq(nr, 0, 1), ret(errno(unix.ENOSYS)))
	}
	if feature == "seccomp" {
		prog = append(prog, jeq(unix.SYS_PRCTL, 0, 3), ld(16), // args[0]
			jeq(unix.PR_GET_SECCOMP, 0, 1), ret(errno(unix.EINVAL)))
	}
	prog = append(prog, ret(unix.SECCOMP_RET_ALLOW))
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if e != 0 {
		return fmt.Errorf("ipctest: hiding %s: %w", feature, e)
	}
	return nil
}
