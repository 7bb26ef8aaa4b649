package ipc

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Role names a sandboxed role for its seccomp allowlist
// (docs/security.md, "Seccomp allowlists").
type Role int

const (
	RolePreauth Role = iota + 1
	RoleMailbox
	RoleKeyd
	RoleAuthd
)

func (r Role) String() string {
	switch r {
	case RolePreauth:
		return "preauth"
	case RoleMailbox:
		return "mailbox"
	case RoleKeyd:
		return "keyd"
	case RoleAuthd:
		return "authd"
	}
	return fmt.Sprintf("role %d", int(r))
}

// calls is the role's allowlist, runtime calls first.
func (r Role) calls() []string {
	out := append([]string(nil), runtimeCalls...)
	switch r {
	case RolePreauth:
		out = append(out, preauthCalls...)
	case RoleMailbox:
		out = append(out, mailboxCalls...)
	case RoleKeyd:
		out = append(out, keydCalls...)
	case RoleAuthd:
		out = append(out, authdCalls...)
	}
	return out
}

// seccompArch is what the filter needs of an architecture: the audit
// number the kernel puts in seccomp_data, the column of sysnum, and whether
// a second system call table hides behind bit 30 (x32).
type seccompArch struct {
	name  string
	audit uint32
	col   int
	x32   bool
}

var seccompArchs = map[string]seccompArch{
	"amd64": {"x86-64", unix.AUDIT_ARCH_X86_64, 0, true},
	"arm64": {"arm64", unix.AUDIT_ARCH_AARCH64, 1, false},
}

// HasAllowlist reports whether imapd has allowlists for this architecture.
func HasAllowlist() bool {
	_, ok := seccompArchs[runtime.GOARCH]
	return ok
}

// struct seccomp_data: nr at 0, arch at 4, instruction pointer at 8, then
// six 64-bit arguments from 16; the low half of each comes first on both
// little-endian architectures.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArg0 = 16
)

func argLo(i int) uint32 { return uint32(seccompDataArg0 + 8*i) }
func argHi(i int) uint32 { return argLo(i) + 4 }

var (
	retAllow = uint32(unix.SECCOMP_RET_ALLOW)
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

func bpfStmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
func bpfLd(off uint32) unix.SockFilter              { return bpfStmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }
func bpfRet(k uint32) unix.SockFilter               { return bpfStmt(unix.BPF_RET|unix.BPF_K, k) }
func bpfJeq(k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
}

// buildFilter assembles role's allowlist for arch: a wrong architecture is
// killed (its numbers mean other calls), x32 calls and anything not listed
// fail with EPERM, and four calls are allowed only with safe arguments:
//   - clone only for threads (CLONE_THREAD): no new processes;
//   - clone3 fails with ENOSYS, so callers fall back to clone, whose flags
//     the filter can see;
//   - sendto only without an address, so a socket can only write to the
//     peer it was connected to;
//   - kill only with signal 0, which signals nothing: it asks whether a
//     process lives;
//   - socketpair only AF_UNIX of type SOCK_STREAM or SOCK_SEQPACKET: with
//     socket(2) and connect(2) denied there is no datagram socket to
//     sendto(2) or sendmsg(2) a path with (the AF_UNIX SOCK_DGRAM escape to
//     /dev/log and journald).
func buildFilter(a seccompArch, r Role) ([]unix.SockFilter, error) {
	prog := []unix.SockFilter{
		bpfLd(seccompDataArch),
		bpfJeq(a.audit, 1, 0),
		bpfRet(unix.SECCOMP_RET_KILL_PROCESS),
		bpfLd(seccompDataNr),
	}
	if a.x32 {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: 0x40000000, Jt: 0, Jf: 1},
			bpfRet(retEPERM))
	}
	nr := func(name string) (uint32, bool) {
		n, ok := sysnum[name]
		if !ok {
			panic("ipc: system call " + name + " missing from sysnum")
		}
		return uint32(n[a.col]), n[a.col] >= 0
	}
	if n, ok := nr("clone3"); ok {
		prog = append(prog, bpfJeq(n, 0, 1), bpfRet(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	}
	seen := map[string]bool{}
	for _, name := range r.calls() {
		n, ok := nr(name)
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "clone":
			prog = append(prog,
				bpfJeq(n, 0, 4),
				bpfLd(argLo(0)),
				unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, K: unix.CLONE_THREAD, Jt: 1, Jf: 0},
				bpfRet(retEPERM),
				bpfRet(retAllow))
		case "sendto":
			prog = append(prog, allowIfArgZero(n, 4)...) // the destination address
		case "kill":
			prog = append(prog, allowIfArgZero(n, 1)...) // the signal
		case "prctl":
			// Only reading the bounding set (libcap-ng in PAM's
			// modules): no way back to a dumpable process.
			prog = append(prog, allowIfArgEq(n, 0, unix.PR_CAPBSET_READ)...)
		case "socket":
			// Listed to fail as a kernel without the family would:
			// PAM's audit and syslog then carry on without them,
			// where EPERM makes libpam fail every login.
			prog = append(prog, bpfJeq(n, 0, 1), bpfRet(unix.SECCOMP_RET_ERRNO|uint32(unix.EAFNOSUPPORT)))
		case "socketpair":
			prog = append(prog,
				bpfJeq(n, 0, 8),
				bpfLd(argLo(0)),
				bpfJeq(unix.AF_UNIX, 0, 5),
				bpfLd(argLo(1)),
				bpfStmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xf), // the type without SOCK_CLOEXEC/NONBLOCK
				bpfJeq(unix.SOCK_STREAM, 1, 0),
				bpfJeq(unix.SOCK_SEQPACKET, 0, 1),
				bpfRet(retAllow),
				bpfRet(retEPERM))
		default:
			prog = append(prog, bpfJeq(n, 0, 1), bpfRet(retAllow))
		}
	}
	prog = append(prog, bpfRet(retEPERM))
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp filter of %d instructions", len(prog))
	}
	return prog, nil
}

// allowIfArgZero allows system call n only when its argument i is 0, all
// 64 bits of it; other calls go on to the next rule.
func allowIfArgZero(n uint32, i int) []unix.SockFilter { return allowIfArgEq(n, i, 0) }

// allowIfArgEq allows system call n only when its argument i is v.
func allowIfArgEq(n uint32, i int, v uint32) []unix.SockFilter {
	return []unix.SockFilter{
		bpfJeq(n, 0, 6),
		bpfLd(argLo(i)),
		bpfJeq(v, 0, 3),
		bpfLd(argHi(i)),
		bpfJeq(0, 0, 1),
		bpfRet(retAllow),
		bpfRet(retEPERM),
	}
}

// seccompRole installs role's allowlist on every thread (TSYNC). It
// returns errNoFilter on an architecture without a table.
func seccompRole(r Role) error {
	a, ok := seccompArchs[runtime.GOARCH]
	if !ok {
		return errNoFilter
	}
	prog, err := buildFilter(a, r)
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("seccomp: %w", syscall.Errno(errno))
	}
	return nil
}
