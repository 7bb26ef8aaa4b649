package ipc

// The system calls each role makes once its filter is in force, measured,
// not guessed: the server ran as root with a STARTTLS and a TLS listener,
// Maildir storage, one preauth worker, under
//
//	strace -f -ff -ttt -o trace/t imapd -c imapd.conf
//
// while a client ran LOGIN (right and wrong), CREATE, LIST, SELECT, APPEND
// (up to 1 MiB), SEARCH, FETCH of every item, STORE, COPY, EXPUNGE, STATUS,
// RENAME, DELETE and IDLE over STARTTLS and implicit TLS, a reload
// (SIGHUP) and a stop; every traced thread was attributed to its process by
// its clone(CLONE_THREAD) and to its role by the title it writes, and the
// calls after each process's seccomp(2) counted by ipc/testdata/syscalls.py
// (docs/security.md, "Measuring the allowlists"). keyd was measured the
// same way under its package test TestKeydRole (RSA, ECDSA and Ed25519
// handshakes, then kill -9 and a restart). What the Go runtime calls rarely
// (exit, signals, thread creation, sleeping) is listed though a short trace
// may not show it. A call not listed fails with EPERM, never kills: a
// missed one is an error in a log, not a crash loop.

// runtimeCalls are what every Go worker needs: memory, threads, signals,
// the netpoller, time, and I/O on descriptors it was given.
var runtimeCalls = []string{
	// The hottest first: the filter is a linear list.
	"futex", "epoll_pwait", "read", "write", "nanosleep", "sched_yield",
	"recvmsg", "sendmsg", "epoll_ctl", "fcntl", "close", "getpid", "tgkill",
	"rt_sigreturn", "madvise", "mmap", "munmap", "getrandom",
	"epoll_wait", "epoll_pwait2", "epoll_create1", "eventfd2", "pipe2",
	"readv", "writev", "fstat", "newfstatat", "getsockname", "getpeername",
	"getsockopt", "setsockopt", "shutdown", "recvfrom",
	"gettid", "tkill", "rt_sigaction", "rt_sigprocmask", "sigaltstack",
	"sched_getaffinity", "clock_gettime", "clock_getres", "gettimeofday",
	"clock_nanosleep", "restart_syscall", "exit", "exit_group",
	"getrlimit", "prlimit64", "uname",
	"getuid", "geteuid", "getgid", "getegid",
	// clone and sendto are allowed with conditions (seccomp_filter.go);
	// listed here so that every role gets them.
	"clone", "sendto",
}

// preauthCalls: the relay's socketpair (stream or seqpacket only), what
// crypto/tls reads, and splice: relaying a cleartext connection, Go's
// TCPConn.ReadFrom and WriteTo splice between the TCP and the unix socket
// (through a pipe2 pipe), and fail on EPERM rather than fall back.
var preauthCalls = []string{"socketpair", "pread64", "splice"}

// mailboxCalls: the Maildir (flock: the full-text index, imapd.fts, which
// the trace predates; tests/fts_test.go TestFullTextIndexSandboxed).
var mailboxCalls = []string{
	"openat", "pread64", "pwrite64", "lseek", "getdents64", "fsync", "fdatasync", "flock",
	"ftruncate", "linkat", "renameat", "renameat2", "unlinkat", "mkdirat",
	"utimensat", "statx", "faccessat", "faccessat2", "readlinkat", "fchmod", "fchmodat",
	"inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	// kill only with signal 0 (seccomp_filter.go): whether the process
	// holding a stale dovecot-uidlist.lock still lives (maildir/lock.go),
	// which the trace did not reach; without it a worker killed while
	// holding the lock stalls its successor (tests/qresync_test.go).
	"kill",
}

// keydCalls: nothing beyond the runtime and its channels.
var keydCalls = []string{}

// authdCalls: reading its backend's files and loading PAM's and NSS's
// libraries (glibc's dlopen: mprotect, brk; the legacy x86-64 access and
// readlink), PAM's failure delay (pselect6), libcap-ng's capget and
// prctl(PR_CAPBSET_READ) only; socket fails with EAFNOSUPPORT
// (seccomp_filter.go), so NSS's nscd, syslog's /dev/log and PAM's audit
// are unreachable. Measured as above under tests/authd_sandbox_test.go
// (PAM and passwd-file logins, right and wrong).
var authdCalls = []string{
	"openat", "pread64", "lseek", "getdents64", "statx", "statfs", "faccessat", "faccessat2",
	"access", "readlinkat", "readlink", "mprotect", "brk", "rseq", "set_robust_list",
	"pselect6", "poll", "ppoll", "capget", "prctl", "socket",
}
