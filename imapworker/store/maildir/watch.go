package maildir

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"unsafe"

	"golang.org/x/sys/unix"

	"imapd/imapworker/store"
)

// watcher announces changes made by other processes (an MDA writing into
// new/, another imapd, Dovecot): one inotify instance per User watching
// new/ and cur/ of folders that have handles. A delivery (a rename into
// new/) is read at once; other batches are coalesced for coalesce. A
// periodic stat check runs every PollInterval for folders inotify does not
// watch and every fullCheck for all (file systems where inotify sees
// nothing, such as NFS).
type watcher struct {
	u    *User
	file *os.File // inotify, nil when unavailable
	// fd is file's descriptor, kept apart: os.File.Fd would switch the
	// file to blocking mode and Close could no longer wake read.
	fd int

	mu     sync.Mutex
	wds    map[int]*folder
	newWds map[int]bool // the watches of new/ directories
	byF    map[*folder][]int
	dirty  map[*folder]bool
	timer  *time.Timer // a coalesced refresh pending
	stop   chan struct{}
	closed bool
}

// fullCheck is how often every folder is stat-checked even though inotify
// watches it, as Dovecot's mailbox_idle_check_interval (30 s) does. Idle
// workers wake for nothing more often than this (docs/performance.md#idle-workers-issue-18).
const fullCheck = 30 * time.Second

// coalesce groups a burst of events that is not a delivery: the renames of
// a flag change or an expunge in cur/ (often this worker's own), and a file
// created in place (IN_CREATE, not a rename from tmp/), whose writer may not
// be done yet.
const coalesce = 20 * time.Millisecond

// folderEvents are the inotify events on new/ and cur/ that mean a message
// arrived, left or changed flags (a rename in cur/).
const folderEvents = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ONLYDIR

func newWatcher(u *User) *watcher {
	w := &watcher{u: u, wds: map[int]*folder{}, newWds: map[int]bool{}, byF: map[*folder][]int{}, dirty: map[*folder]bool{}, stop: make(chan struct{})}
	if !u.opts.NoInotify {
		if fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC); err == nil {
			// Non-blocking: os.File parks reads in the runtime poller, and
			// Close wakes them.
			w.file, w.fd = os.NewFile(uintptr(fd), "inotify"), fd
			go w.read()
		}
	}
	go w.poll(u.opts.PollInterval)
	return w
}

// watch starts watching f (the first handle was opened).
func (w *watcher) watch(f *folder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.file == nil || w.byF[f] != nil {
		if w.byF[f] == nil {
			w.byF[f] = []int{}
		}
		return
	}
	var wds []int
	for _, d := range []string{"new", "cur"} {
		wd, err := unix.InotifyAddWatch(w.fd, filepath.Join(f.path, d), folderEvents)
		if err == nil {
			w.wds[wd] = f
			w.newWds[wd] = d == "new"
			wds = append(wds, wd)
		}
	}
	w.byF[f] = wds
}

// unwatch stops watching f (its last handle closed).
func (w *watcher) unwatch(f *folder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wd := range w.byF[f] {
		delete(w.wds, wd)
		delete(w.newWds, wd)
		if w.file != nil && !w.closed {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
		}
	}
	delete(w.byF, f)
	delete(w.dirty, f)
}

func (w *watcher) read() {
	buf := make([]byte, 64*1024)
	for {
		n, err := w.file.Read(buf)
		if err != nil {
			return
		}
		delivered, created := false, false
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if f := w.wds[int(ev.Wd)]; f != nil {
				w.dirty[f] = true
				created = created || ev.Mask&unix.IN_CREATE != 0
				delivered = delivered || w.newWds[int(ev.Wd)] && ev.Mask&unix.IN_MOVED_TO != 0
			}
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				for f := range w.byF {
					w.dirty[f] = true
				}
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
		// A delivery at once: the events of one read are one batch
		// already, and those that arrive while it refreshes are the next
		// (issue 18: an IDLE session hears of new mail as soon as the
		// worker sees it). The rest waits for coalesce, as a burst of
		// this worker's own renames in cur/ would otherwise cost a
		// refresh per batch.
		now := len(w.dirty) > 0 && delivered && !created && w.timer == nil
		if len(w.dirty) > 0 && !now && w.timer == nil {
			w.timer = time.AfterFunc(coalesce, w.flush)
		}
		w.mu.Unlock()
		if now {
			w.flush()
		}
	}
}

// flush refreshes the folders events touched; refresh wakes their handles.
func (w *watcher) flush() {
	w.mu.Lock()
	fs := make([]*folder, 0, len(w.dirty))
	for f := range w.dirty {
		fs = append(fs, f)
	}
	clear(w.dirty)
	w.timer = nil
	w.mu.Unlock()
	for _, f := range fs {
		refreshAndWake(f)
	}
}

func refreshAndWake(f *folder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.handles) == 0 || !f.loaded {
		return
	}
	if err := f.refresh(); err != nil {
		// Deleted or unreadable: let the sessions' Poll report it.
		f.notify(nil)
	}
}

func (w *watcher) poll(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	full := max(1, int(fullCheck/every))
	var fs []*folder
	for tick := 1; ; tick++ {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		fs = fs[:0]
		for f, wds := range w.byF {
			// new/ and cur/ both watched: inotify tells, the stat check is
			// only the safety net.
			if len(wds) < 2 || tick%full == 0 {
				fs = append(fs, f)
			}
		}
		w.mu.Unlock()
		for _, f := range fs {
			refreshAndWake(f)
		}
		clear(fs)
	}
}

func (w *watcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	close(w.stop)
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.file != nil {
		w.file.Close()
	}
}

var _ store.Watcher = (*mailbox)(nil)

// WatchFile implements store.Watcher: a new inotify descriptor on the
// folder's new/ and cur/, non-blocking, made as the user inside the
// worker's sandbox (docs/design.md#idle-workers-and-hibernation). Besides
// folderEvents, IN_DELETE_SELF: the folder was deleted, which the session
// resumed on it reports.
func (h *mailbox) WatchFile() (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"new", "cur"} {
		if _, err := unix.InotifyAddWatch(fd, h.f.sub(d), folderEvents|unix.IN_DELETE_SELF); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "inotify_add_watch", Path: h.f.sub(d), Err: err}
		}
	}
	return os.NewFile(uintptr(fd), "inotify"), nil
}
