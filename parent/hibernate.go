package parent

import (
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	pb "imapd/proto"
)

// hibernation is a session the parent holds while its user's mailbox worker
// is gone (docs/design.md#idle-workers-and-hibernation): the client
// descriptor and the mailbox watch, neither of which the parent reads, and
// the worker's opaque state, given back only to a worker of the same user.
type hibernation struct {
	sock, watch *os.File
	state       []byte
	since       time.Time
	autologout  *time.Timer
}

// maxHibernateState bounds what a worker may leave with the parent: its
// state must fit in the NewSession that resumes it (the worker's own bound
// is server.MaxHibernateState, the same).
const maxHibernateState = 48 << 10

// hibernateWatch keeps the descriptor that will wake session id: it must be
// an inotify instance, the only kind a worker makes for this.
func (p *Parent) hibernateWatch(mb *child, id uint64, fd *os.File) {
	r := p.conns.owned(mb, id)
	if r == nil || fd == nil || r.account == nil || p.cfg.HibernateAfter == 0 || !isInotify(fd) {
		if fd != nil {
			fd.Close()
		}
		p.misbehaved(mb, "hibernate watch for a session it does not serve, or not an inotify descriptor")
		return
	}
	if r.watch != nil {
		r.watch.Close()
	}
	r.watch = fd
}

// hibernate takes session h.SessionId from mb: the socket must be the one
// the parent gave it, and the watch must have come first.
func (p *Parent) hibernate(mb *child, h *pb.Hibernate, fd *os.File) {
	r := p.conns.owned(mb, h.SessionId)
	if r == nil || fd == nil || r.watch == nil || len(h.State) == 0 || len(h.State) > maxHibernateState || socketInode(fd) != r.sockIno || r.sockIno == 0 {
		if fd != nil {
			fd.Close()
		}
		p.misbehaved(mb, "hibernate of a session it does not serve, without a watch, with another socket or an oversized state")
		return
	}
	sock, err := pollable(fd)
	if err != nil {
		p.log.Warn("hibernate", "conn", r.id, "err", err)
		p.misbehaved(mb, "hibernate with a descriptor that cannot be polled")
		return
	}
	watch, err := pollable(r.watch)
	r.watch = nil
	if err != nil {
		sock.Close()
		p.misbehaved(mb, "hibernate watch that cannot be polled")
		return
	}
	hib := &hibernation{sock: sock, watch: watch, state: h.State, since: p.now()}
	p.conns.hibernate(r, hib)
	p.log.Info("session hibernated", "user", r.user, "conn", r.id, "mailbox_pid", mb.pid)
	// The parent only waits for readability: the client spoke or the
	// mailbox changed. At the autologout time the worker is started again
	// to end the session as it would have.
	for _, f := range []*os.File{sock, watch} {
		go func() {
			if awaitReadable(f) == nil {
				p.post(func() { p.wake(r, hib, "readable") })
			}
		}()
	}
	hib.autologout = time.AfterFunc(p.cfg.Autologout, func() { p.post(func() { p.wake(r, hib, "autologout") }) })
	if p.conns.held(mb) == 0 {
		p.retireIdleMailbox(mb)
	}
}

// wake gives a hibernated session back to its user's worker, starting one
// if the user has none.
func (p *Parent) wake(r *connRow, hib *hibernation, why string) {
	if p.conns.rows[r.id] != r || r.hib != hib || p.stopping {
		return
	}
	p.conns.unhibernate(r)
	hib.stop()
	p.log.Info("session woken", "user", r.user, "conn", r.id, "why", why, "after", p.now().Sub(hib.since).Round(time.Millisecond))
	h := &pb.Handoff{ConnId: r.id, RemoteAddr: r.remote, LocalAddr: r.local, Tls: r.tls}
	p.toWorker(r.account, waitingSession{row: r, h: h, fd: hib.sock, resume: hib.state})
}

// stop ends the waits; the socket stays open for the worker.
func (h *hibernation) stop() {
	h.autologout.Stop()
	h.watch.Close()
	h.sock.SetReadDeadline(time.Now())
}

// endHibernated closes a hibernated session the parent will not wake
// (kick, shutdown): one BYE, written only if the socket takes it at once.
func (p *Parent) endHibernated(r *connRow, why string) {
	hib := r.hib
	p.conns.unhibernate(r)
	hib.stop()
	if rc, err := hib.sock.SyscallConn(); err == nil {
		rc.Write(func(fd uintptr) bool {
			unix.Write(int(fd), []byte("* BYE "+why+"\r\n"))
			return true
		})
	}
	hib.sock.Close()
	p.conns.removeIfDone(r)
}

// hibernatedOf lists user's hibernated sessions ("" for every user).
func (p *Parent) hibernatedOf(user string) []*connRow {
	var out []*connRow
	for _, r := range p.conns.rows {
		if r.hib != nil && (user == "" || r.user == user) {
			out = append(out, r)
		}
	}
	return out
}

// awaitReadable returns nil once f is readable, without reading it, or an
// error once f is closed or its deadline passed. f must be pollable.
func awaitReadable(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	first := true
	return rc.Read(func(fd uintptr) bool {
		// The runtime forgets readiness it saw before this wait, so the
		// first call looks for what is there already; after that, being
		// called again means readable. Neither reads.
		if first {
			first = false
			return pending(int(fd))
		}
		return true
	})
}

// pending reports whether fd has something to read: bytes or the end of a
// socket (peeked, not taken), or events of an inotify instance.
func pending(fd int) bool {
	var b [1]byte
	n, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	switch {
	case err == nil:
		return n >= 0 // data, or 0 at the client's end of stream
	case err == unix.ENOTSOCK:
		q, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
		return err != nil || q > 0
	default:
		return err != unix.EAGAIN
	}
}

// pollable returns f as a non-blocking file the runtime's poller waits on
// (os.NewFile polls only what is non-blocking already), and closes f.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, err
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// isInotify reports whether f is an inotify instance, by what the kernel
// calls the parent's own descriptor (no path of the user's is resolved).
func isInotify(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var link string
	rc.Control(func(fd uintptr) { link, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd))) })
	return link == "anon_inode:inotify"
}

// socketInode identifies a socket (0: f is not one), so that a worker can
// only give back the client socket it was given.
func socketInode(f *os.File) uint64 {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var st unix.Stat_t
	var serr error
	rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) })
	if serr != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0
	}
	return st.Ino
}
