package ipc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Credentials are the ids a process drops to. Groups are the supplementary
// groups; when empty, the process keeps only GID as its one supplementary
// group (as OpenBSD daemons do with setgroups(1, &gid)).
type Credentials struct {
	UID, GID uint32
	Groups   []uint32
}

// ErrNoNewPrivsThreadOnly reports that no-new-privs could only be set on the
// calling thread: AllThreadsSyscall is refused in binaries linked with cgo,
// whose other threads may still gain privileges through exec.
var ErrNoNewPrivsThreadOnly = errors.New("ipc: no-new-privs set on the calling thread only (cgo binary)")

// groups returns the supplementary group list Drop installs.
func (c Credentials) groups() []uint32 {
	if len(c.Groups) == 0 {
		return []uint32{c.GID}
	}
	g := slices.Clone(c.Groups)
	slices.Sort(g)
	return slices.Compact(g)
}

// Drop confines the process for good: chroot to root and chdir("/") (root ""
// skips this), then supplementary groups, gid and uid, then no-new-privs on
// every thread, then AssertDropped. The order matters: after setresuid the
// process may no longer chroot or setgroups. It refuses to "drop" to uid 0,
// gid 0 or the root group. Call SetTitle first: /proc is usually gone after
// the chroot.
func Drop(root string, c Credentials) error {
	if c.UID == 0 || c.GID == 0 || slices.Contains(c.Groups, 0) {
		return fmt.Errorf("ipc: refusing to drop to uid %d gid %d groups %v: root", c.UID, c.GID, c.Groups)
	}
	// /proc/self/task stays readable through this descriptor after the
	// chroot, so every thread can still be checked.
	tasks, err := os.Open("/proc/self/task")
	if err != nil {
		return fmt.Errorf("ipc: drop: %w", err)
	}
	defer tasks.Close()

	if root != "" {
		var want unix.Stat_t
		if err := unix.Stat(root, &want); err != nil {
			return fmt.Errorf("ipc: drop: %w", err)
		}
		if err := syscall.Chroot(root); err != nil {
			return fmt.Errorf("ipc: chroot %s: %w", root, err)
		}
		if err := syscall.Chdir("/"); err != nil {
			return fmt.Errorf("ipc: chdir /: %w", err)
		}
		var got unix.Stat_t
		if err := unix.Stat("/", &got); err != nil {
			return fmt.Errorf("ipc: drop: %w", err)
		}
		if got.Dev != want.Dev || got.Ino != want.Ino {
			return fmt.Errorf("ipc: / is not %s after chroot", root)
		}
	}

	groups := c.groups()
	ig := make([]int, len(groups))
	for i, g := range groups {
		ig[i] = int(g)
	}
	// The syscall package's setters act on all threads (Go >= 1.16);
	// unix.Setgroups acts on the calling thread only (DESIGN.md §7).
	if err := syscall.Setgroups(ig); err != nil {
		return fmt.Errorf("ipc: setgroups: %w", err)
	}
	if err := syscall.Setresgid(int(c.GID), int(c.GID), int(c.GID)); err != nil {
		return fmt.Errorf("ipc: setresgid %d: %w", c.GID, err)
	}
	if err := syscall.Setresuid(int(c.UID), int(c.UID), int(c.UID)); err != nil {
		return fmt.Errorf("ipc: setresuid %d: %w", c.UID, err)
	}
	if err := NoNewPrivs(); err != nil {
		// A thread without no-new-privs is a thread that may regain
		// privileges by exec: fail closed, even for cgo binaries.
		return err
	}
	return assertDropped(tasks, c)
}

// NoNewPrivs sets PR_SET_NO_NEW_PRIVS on every thread of the process.
// AllThreadsSyscall does it in pure Go binaries; in cgo ones it returns
// ENOTSUP, and NoNewPrivs then sets the flag on the calling thread and spreads
// it with an allow-all seccomp filter installed with SECCOMP_FILTER_FLAG_TSYNC
// (the kernel gives every synced thread the caller's no-new-privs). If that
// fails too it returns ErrNoNewPrivsThreadOnly.
func NoNewPrivs() error {
	_, _, e := syscall.AllThreadsSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
	if e == 0 {
		return nil
	}
	if e != syscall.ENOTSUP {
		return fmt.Errorf("ipc: prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("ipc: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := syncNoNewPrivs(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoNewPrivsThreadOnly, err)
	}
	return nil
}

// syncNoNewPrivs installs a filter that allows every system call, with TSYNC,
// on the calling thread (which must have no-new-privs already).
func syncNoNewPrivs() error {
	allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	prog := unix.SockFprog{Len: uint16(len(allow)), Filter: &allow[0]}
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(allow)
	if e != 0 {
		return fmt.Errorf("seccomp tsync: %w", e)
	}
	if r != 0 {
		return fmt.Errorf("seccomp tsync: thread %d could not be synced", r)
	}
	return nil
}

// AssertDropped checks that the process runs as c and cannot get root back:
// setuid(0), setgid(0), setresuid and setgroups must all fail, and every
// thread listed in /proc/self/task must show c's ids and groups and
// NoNewPrivs. It needs /proc (Drop keeps a descriptor across its chroot).
func AssertDropped(c Credentials) error {
	tasks, err := os.Open("/proc/self/task")
	if err != nil {
		return fmt.Errorf("ipc: assert dropped: %w", err)
	}
	defer tasks.Close()
	return assertDropped(tasks, c)
}

func assertDropped(tasks *os.File, c Credentials) error {
	if c.UID == 0 || c.GID == 0 {
		return fmt.Errorf("ipc: uid %d gid %d is root", c.UID, c.GID)
	}
	ids := []int{syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid()}
	if ids[0] != int(c.UID) || ids[1] != int(c.UID) || ids[2] != int(c.GID) || ids[3] != int(c.GID) {
		return fmt.Errorf("ipc: running as uid %d/%d gid %d/%d, want %d/%d", ids[0], ids[1], ids[2], ids[3], c.UID, c.GID)
	}
	threads, err := readTaskStatuses(tasks)
	if err != nil {
		return err
	}
	want := c.groups()
	for tid, st := range threads {
		if err := st.check(c.UID, c.GID, want); err != nil {
			return fmt.Errorf("ipc: thread %s: %w", tid, err)
		}
	}
	// Each of these succeeding would restore privileges on every thread;
	// the process must then die, which the caller's error path ensures.
	// They come after the thread scan: with cgo, glibc aborts the process
	// when a set*id call succeeds on some threads and fails on others.
	regain := []struct {
		name string
		fn   func() error
	}{
		{"setuid(0)", func() error { return syscall.Setuid(0) }},
		{"setresuid(-1,0,-1)", func() error { return syscall.Setresuid(-1, 0, -1) }},
		{"setresuid(0,0,0)", func() error { return syscall.Setresuid(0, 0, 0) }},
		{"setgid(0)", func() error { return syscall.Setgid(0) }},
		{"setresgid(-1,0,-1)", func() error { return syscall.Setresgid(-1, 0, -1) }},
		{"setgroups([0])", func() error { return syscall.Setgroups([]int{0}) }},
	}
	for _, r := range regain {
		if r.fn() == nil {
			return fmt.Errorf("ipc: privileges not dropped: %s succeeded", r.name)
		}
	}
	return nil
}

// taskStatus holds the lines of /proc/PID/task/TID/status that matter here.
type taskStatus struct {
	Uid, Gid   [4]uint32 // real, effective, saved, filesystem
	Groups     []uint32
	NoNewPrivs bool
	CapEff     string
	CapPrm     string
}

func (st taskStatus) check(uid, gid uint32, groups []uint32) error {
	for _, u := range st.Uid {
		if u != uid {
			return fmt.Errorf("uids %v, want %d", st.Uid, uid)
		}
	}
	for _, g := range st.Gid {
		if g != gid {
			return fmt.Errorf("gids %v, want %d", st.Gid, gid)
		}
	}
	got := slices.Clone(st.Groups)
	slices.Sort(got)
	if !slices.Equal(got, groups) {
		return fmt.Errorf("groups %v, want %v", got, groups)
	}
	if !st.NoNewPrivs {
		return errors.New("NoNewPrivs is not set")
	}
	if strings.Trim(st.CapEff, "0") != "" || strings.Trim(st.CapPrm, "0") != "" {
		return fmt.Errorf("capabilities left: effective %s permitted %s", st.CapEff, st.CapPrm)
	}
	return nil
}

// readTaskStatuses reads the status of every thread under tasks, an open
// /proc/PID/task directory. Threads that exit meanwhile are skipped.
func readTaskStatuses(tasks *os.File) (map[string]taskStatus, error) {
	// Reopen "." so that every call lists the directory from the start.
	dfd, err := unix.Openat(int(tasks.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("ipc: open task dir: %w", err)
	}
	dir := os.NewFile(uintptr(dfd), "task")
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("ipc: list threads: %w", err)
	}
	out := map[string]taskStatus{}
	for _, tid := range names {
		fd, err := unix.Openat(dfd, tid+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT || err == unix.ESRCH {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ipc: thread %s status: %w", tid, err)
		}
		f := os.NewFile(uintptr(fd), "status")
		st, err := parseTaskStatus(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ipc: thread %s status: %w", tid, err)
		}
		out[tid] = st
	}
	if len(out) == 0 {
		return nil, errors.New("ipc: no threads listed in /proc/self/task")
	}
	return out, nil
}

func parseTaskStatus(f *os.File) (taskStatus, error) {
	var st taskStatus
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(val))
		k := string(key)
		switch k {
		case "Uid", "Gid":
			if len(fields) != 4 {
				return st, fmt.Errorf("bad %s line %q", k, val)
			}
			dst := &st.Uid
			if k == "Gid" {
				dst = &st.Gid
			}
			for i, s := range fields {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return st, fmt.Errorf("bad %s line %q", k, val)
				}
				dst[i] = uint32(n)
			}
		case "Groups":
			for _, s := range fields {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil {
					return st, fmt.Errorf("bad Groups line %q", val)
				}
				st.Groups = append(st.Groups, uint32(n))
			}
		case "NoNewPrivs":
			st.NoNewPrivs = len(fields) == 1 && fields[0] == "1"
		case "CapEff", "CapPrm":
			if len(fields) != 1 {
				return st, fmt.Errorf("bad %s line %q", k, val)
			}
			if k == "CapEff" {
				st.CapEff = fields[0]
			} else {
				st.CapPrm = fields[0]
			}
		default:
			continue
		}
		seen[k] = true
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	for _, k := range []string{"Uid", "Gid", "Groups", "NoNewPrivs", "CapEff", "CapPrm"} {
		if !seen[k] {
			return st, fmt.Errorf("no %s line", k)
		}
	}
	return st, nil
}

// LookupUser resolves name to its uid, primary gid, every group it belongs to
// (the primary one included) and its home directory. CGO_ENABLED=0 binaries
// read /etc/passwd and /etc/group; cgo ones ask NSS.
func LookupUser(name string) (Credentials, string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Credentials{}, "", fmt.Errorf("ipc: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return Credentials{}, "", fmt.Errorf("ipc: user %q has non-numeric ids %s:%s", name, u.Uid, u.Gid)
	}
	c := Credentials{UID: uint32(uid), GID: uint32(gid), Groups: []uint32{uint32(gid)}}
	gids, err := u.GroupIds()
	if err != nil {
		return Credentials{}, "", fmt.Errorf("ipc: groups of %q: %w", name, err)
	}
	for _, s := range gids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return Credentials{}, "", fmt.Errorf("ipc: user %q has non-numeric group %s", name, s)
		}
		c.Groups = append(c.Groups, uint32(g))
	}
	c.Groups = c.groups()
	return c, u.HomeDir, nil
}

// DropToUser is Drop to the account name with its own group as the only
// supplementary one, as the preauth and keyd roles run; name "" is the
// unprivileged mode (no chroot, no setuid: no-new-privs only).
func DropToUser(root, name string) error {
	if name == "" {
		return NoNewPrivs()
	}
	cred, _, err := LookupUser(name)
	if err != nil {
		return err
	}
	cred.Groups = []uint32{cred.GID}
	return Drop(root, cred)
}

// AssertUser checks that the process runs as uid and gid, neither of them
// 0, and cannot become root: what a mailbox worker, started with its user's
// ids by the parent, checks before it serves (defence in depth; the parent
// and authd refuse uid and gid 0 too). Unlike AssertDropped it leaves the
// supplementary groups to the caller's starter.
func AssertUser(uid, gid uint32) error {
	if uid == 0 || gid == 0 {
		return fmt.Errorf("ipc: refusing to run as uid %d gid %d", uid, gid)
	}
	ids := []int{syscall.Getuid(), syscall.Geteuid(), syscall.Getgid(), syscall.Getegid()}
	if ids[0] != int(uid) || ids[1] != int(uid) || ids[2] != int(gid) || ids[3] != int(gid) {
		return fmt.Errorf("ipc: running as uid %d/%d gid %d/%d, want %d/%d", ids[0], ids[1], ids[2], ids[3], uid, gid)
	}
	if syscall.Setuid(0) == nil || syscall.Setgid(0) == nil {
		return errors.New("ipc: privileges not dropped: setuid(0) or setgid(0) succeeded")
	}
	return nil
}
