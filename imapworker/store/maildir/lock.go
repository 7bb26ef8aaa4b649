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
	src  *lockSource // held until unlock, when the lock is a link of it
	done bool
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

// lockDir takes dir/dovecot-uidlist.lock, waiting for a live holder and
// taking over a stale one. The lock appears with its content by link(2)
// of a finished file (Dovecot's dotlock does the same): a holder killed
// mid-way never leaves an empty lock that only its age could break. The
// linked file is this process's lock source for dir, kept between locks
// (docs/design.md#locking); while another goroutine of this process
// holds it, a fresh temp file is linked instead.
func lockDir(dir string) (*dotlock, error) {
	path := filepath.Join(dir, lockName)
	if src := takeLockSource(dir); src != nil {
		l, err := src.lock(path)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			src.mu.Unlock()
			return nil, err
		}
		// Removed or moved under us (a RENAME or DELETE by another
		// process): forget it, and lock with a temp file this time.
		lockSources.CompareAndDelete(dir, src)
		src.gone = true
		src.mu.Unlock()
	}
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
	if err := linkLock(tmp.Name(), path); err != nil {
		return nil, err
	}
	return &dotlock{path: path, id: fileID{st.Ino, st.Mtim.Nano()}}, nil
}

// linkLock links the finished file tmp to the lock path, waiting for a
// live holder and breaking a stale lock.
func linkLock(tmp, path string) error {
	host := hostName()
	deadline := time.Now().Add(lockTimeout)
	wait := time.Millisecond
	for {
		err := os.Link(tmp, path)
		if err == nil {
			crashAt("locked")
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		breakStale(path, host)
		if time.Now().After(deadline) {
			return fmt.Errorf("maildir: %s: lock held too long", path)
		}
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// lockSource is a file holding lockContent that this process links to a
// folder's lock name each time it locks the folder, so that a lock costs
// utimensat, stat, link, stat and unlink rather than also creating,
// writing and removing a temp file (issue 18's mix took 2.5 locks per
// round). mu is held from the link to the unlock: the source's inode is
// the lock, and only one holder may renew its mtime.
type lockSource struct {
	mu   sync.Mutex
	path string
	gone bool // released by User.Close; look the directory up again
}

// lockSources maps a folder directory to its *lockSource.
var lockSources sync.Map

// takeLockSource returns dir's lock source with its mu held, creating it
// on first use, or nil when another goroutine holds it.
func takeLockSource(dir string) *lockSource {
	for {
		v, ok := lockSources.Load(dir)
		if !ok {
			removeDeadLockTemps(dir)
			tmp, err := createLockTemp(dir)
			if err != nil {
				return nil
			}
			_, werr := tmp.Write(lockContent())
			if err := errors.Join(werr, tmp.Close()); err != nil {
				remove(tmp.Name())
				return nil
			}
			var loaded bool
			v, loaded = lockSources.LoadOrStore(dir, &lockSource{path: tmp.Name()})
			if loaded {
				remove(tmp.Name())
			}
		}
		src := v.(*lockSource)
		if !src.mu.TryLock() {
			return nil
		}
		if !src.gone {
			return src
		}
		src.mu.Unlock()
	}
}

// lock links the source to path, with src.mu held; on success the lock
// keeps it held until unlock. A fresh mtime first, so that the lock is not
// judged stale by its age (breakStale).
func (src *lockSource) lock(path string) (*dotlock, error) {
	now := time.Now()
	ts := []syscall.Timespec{syscall.NsecToTimespec(now.UnixNano()), syscall.NsecToTimespec(now.UnixNano())}
	if err := syscall.UtimesNano(src.path, ts); err != nil {
		return nil, &fs.PathError{Op: "utimensat", Path: src.path, Err: err}
	}
	// The file system's own rounding of the time identifies the lock.
	id, ok := statID(src.path)
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: src.path, Err: fs.ErrNotExist}
	}
	if err := linkLock(src.path, path); err != nil {
		return nil, err
	}
	return &dotlock{path: path, id: id, src: src}, nil
}

// releaseLockSource removes dir's lock source, waiting for a holder in
// this process to unlock.
func releaseLockSource(dir string) {
	v, ok := lockSources.LoadAndDelete(dir)
	if !ok {
		return
	}
	src := v.(*lockSource)
	src.mu.Lock()
	src.gone = true
	remove(src.path)
	src.mu.Unlock()
}

// removeDeadLockTemps removes the lock sources and temp files that
// processes of this host left in dir when they were killed: the pid in
// the name is gone and the content names this host.
func removeDeadLockTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	host := hostName()
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), lockName+".tmp-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		p, err := strconv.Atoi(pidStr)
		if err != nil || p <= 0 || p == pid || syscall.Kill(p, 0) != syscall.ESRCH {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if b, err := os.ReadFile(name); err == nil && string(b) == pidStr+":"+host+"\n" {
			remove(name)
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

// unlock releases the lock if it is still ours. Only the first call
// does: a later one could meet the same source linked again.
func (l *dotlock) unlock() {
	if l.done {
		return
	}
	l.done = true
	if id, ok := statID(l.path); ok && id == l.id {
		remove(l.path)
	}
	if l.src != nil {
		l.src.mu.Unlock()
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
