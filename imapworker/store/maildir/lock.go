package maildir

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Lock timing, like Dovecot's dotlock for dovecot-uidlist.lock: a lock whose
// holder is a dead process on this host, or that is older than
// lockStaleAge, is taken over.
var (
	lockStaleAge = 2 * time.Minute
	lockTimeout  = 3 * time.Minute
)

const lockName = "dovecot-uidlist.lock"

// crashPoint, set only by the crash tests, is called at the steps between
// which a crash must lose nothing, to kill the process there.
var crashPoint func(string)

func crashAt(point string) {
	if crashPoint != nil {
		crashPoint(point)
	}
}

// dotlock is a held dovecot-uidlist.lock.
type dotlock struct {
	path string
	id   fileID
}

// fileID tells a lock file from a later one that reuses its inode number.
type fileID struct {
	ino   uint64
	mtime int64
}

func statID(path string) (fileID, bool) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileID{}, false
	}
	return fileID{st.Ino, st.Mtim.Nano()}, true
}

// lockDir takes dir/dovecot-uidlist.lock with O_CREAT|O_EXCL, waiting for a
// live holder and taking over a stale one.
func lockDir(dir string) (*dotlock, error) {
	path := filepath.Join(dir, lockName)
	host := hostName()
	deadline := time.Now().Add(lockTimeout)
	wait := time.Millisecond
	// The lock appears with its content by link(2) of a finished temp
	// file (Dovecot's dotlock does the same): a holder killed mid-way never
	// leaves an empty lock that only its age could break.
	tmp, err := createLockTemp(dir)
	if err != nil {
		return nil, err
	}
	defer remove(tmp.Name())
	_, werr := tmp.Write(lockContent())
	var st syscall.Stat_t
	serr := syscall.Fstat(int(tmp.Fd()), &st)
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		return nil, err
	}
	for {
		err := os.Link(tmp.Name(), path)
		if err == nil {
			crashAt("locked")
			return &dotlock{path: path, id: fileID{st.Ino, st.Mtim.Nano()}}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		breakStale(path, host)
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("maildir: %s: lock held too long", path)
		}
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// lockContent is what a lock of this process holds: "pid:host\n".
var lockContent = sync.OnceValue(func() []byte {
	return []byte(strconv.Itoa(pid) + ":" + hostName() + "\n")
})

// lockTemps numbers this process's lock temp files.
var lockTemps atomic.Uint64

// createLockTemp creates dir/dovecot-uidlist.lock.tmp-<pid>-<n>-<rand>
// exclusively, as os.CreateTemp would, in fewer system calls (openFile).
func createLockTemp(dir string) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, lockName+".tmp-"+strconv.Itoa(pid)+"-"+
			strconv.FormatUint(lockTemps.Add(1), 10)+"-"+strconv.FormatUint(uint64(rand.Uint32()), 36))
		fh, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		return fh, err
	}
}

// breakStale removes the lock at path if its holder is gone: a dead pid on
// this host (kill -9 of a session) or an age past lockStaleAge.
func breakStale(path, host string) {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return
	}
	stale := time.Since(time.Unix(st.Mtim.Unix())) >= lockStaleAge
	if !stale {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		pidStr, lhost, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		if !ok {
			// Still being written, or a foreign format: age decides.
			return
		}
		pid, err := strconv.Atoi(pidStr)
		if err == nil && pid > 0 && lhost == host && syscall.Kill(pid, 0) == syscall.ESRCH {
			stale = true
		}
	}
	if !stale {
		return
	}
	// Only remove the file we judged: a new holder has a new inode.
	if id, ok := statID(path); ok && id == (fileID{st.Ino, st.Mtim.Nano()}) {
		os.Remove(path)
	}
}

// touch renews the lock's mtime during a long operation, so that nobody
// takes it for stale after lockStaleAge.
func (l *dotlock) touch() {
	now := time.Now()
	if os.Chtimes(l.path, now, now) == nil {
		if id, ok := statID(l.path); ok {
			l.id = id
		}
	}
}

// unlock releases the lock if it is still ours.
func (l *dotlock) unlock() {
	if id, ok := statID(l.path); ok && id == l.id {
		remove(l.path)
	}
}

// writeFileAtomic writes data to path through a temp file, fsync and rename,
// then fsyncs the directory so the rename is durable.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicFunc(path, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileAtomicFunc is writeFileAtomic of what write writes: a large
// file is never held whole.
func writeFileAtomicFunc(path string, write func(*bufio.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".imapd-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := openFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
