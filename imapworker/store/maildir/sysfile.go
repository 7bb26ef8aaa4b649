package maildir

import (
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// openFile is os.OpenFile for the store's regular files and directories
// in fewer system calls: os.OpenFile tries to register every descriptor
// with the runtime poller, which for a disk file on Linux costs four fcntl
// and a failing epoll_ctl after the open; os.NewFile of a blocking
// descriptor costs one fcntl. The mix of issue 18 opens several files per
// command (docs/performance.md).
func openFile(path string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, perm)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// rename is os.Rename without its lstat of the target (which only tells a
// directory there apart; rename(2) refuses to put a file over one anyway).
func rename(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// remove is os.Remove for a file: without the rmdir os.Remove tries after
// a failed unlink.
func remove(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}

// hostName is the host name as Maildir file names and dotlocks carry it,
// looked up once: os.Hostname reads it from the kernel at every call.
var hostName = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	return h
})

// maildirHost is hostName with '/', ':' and ',' escaped, as Maildir names
// need.
var maildirHost = sync.OnceValue(func() string {
	host := strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(hostName())
	if host == "" {
		host = "localhost"
	}
	return host
})

// pid is this process's, for Maildir names and dotlocks.
var pid = os.Getpid()

// futimens sets fh's access and modification times to t: utimensat(2) on
// the descriptor (a NULL path), no second lookup of the name.
func futimens(fh *os.File, t time.Time) error {
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	_, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, fh.Fd(), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return &fs.PathError{Op: "futimens", Path: fh.Name(), Err: e}
	}
	return nil
}
