package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// Hibernation of IDLE sessions, the session side
// (docs/design.md#idle-workers-and-hibernation): a session quiet in IDLE
// for SessionConfig.HibernateAfter, with nothing in flight, offers its
// state to SessionConfig.Hibernate; another process resumes it with
// ResumeSession. The invariant: no client byte is ever read from the
// socket by a session that may hibernate, so none is lost with it.

// ErrHibernated is what ServeSession and ResumeSession return when
// SessionConfig.Hibernate took the session.
var ErrHibernated = errors.New("session hibernated")

// MaxHibernateState bounds a session's state; a session whose state would
// be larger does not hibernate.
const MaxHibernateState = 48 << 10

var (
	// errAwake: the offer found changes to send, which it sent.
	errAwake = errors.New("changes sent")
	// errNoState: the session's state is too large (or not encodable).
	errNoState = errors.New("session state does not fit")
)

// ResumeSession continues a session that Hibernate took, on nc (the same
// client connection, possibly a new descriptor of it, in another process),
// from state: it re-opens the mailbox, sends in IDLE what the client would
// have seen had the session stayed awake, and goes on as that session (still
// in IDLE with the same tag; DONE answers "<tag> OK IDLE terminated"). State it
// cannot use (bad encoding, another UIDVALIDITY, a missing mailbox) ends the
// session with "* BYE ..." and an error.
func ResumeSession(ctx context.Context, nc net.Conn, cfg SessionConfig, state []byte) error {
	c := newSession(ctx, nc, nc, &cfg)
	st, err := decodeState(state)
	if err == nil {
		err = c.resume(st)
	}
	if err != nil {
		if err != errTimeout {
			c.bye("cannot resume the session")
			err = fmt.Errorf("resuming session: %w", err)
		}
		c.stop(true)
		c.unselect()
		return err
	}
	cmd := &imap.Command{Tag: st.tag, Name: "IDLE"}
	idle := handler{fn: func(c *conn, cmd *imap.Command) error { return c.idle(cmd, st.since) }}
	err = c.serve(func() error { return c.finish(cmd, c.run(idle, cmd)) })
	c.unselect()
	return err
}

// resume restores the session of st: its flags, its mailbox opened as
// SELECT or EXAMINE would but silently, and its view of it as the client
// has it; then it sends what changed since, through apply as a Poll's
// changes would go (RFC 9051 §7.4.1: EXPUNGEs first, each numbered as the
// client numbers at that point; RFC 7162 §3.2.10: VANISHED instead once
// QRESYNC is on), and flushes. The handle's later Polls report only what
// changes after its Select, which the view then includes.
func (c *conn) resume(st *idleState) error {
	f := st.flags
	c.rev2, c.utf8 = f&flagRev2 != 0, f&flagUTF8 != 0
	c.condstore, c.qresync = f&flagCondStore != 0, f&flagQResync != 0
	c.tls, c.validSeen = f&flagTLS != 0, f&flagValidSeen != 0
	now := time.Now()
	if st.since.After(now) {
		st.since = now
	}
	if now.Sub(st.since) >= c.timeout {
		return c.autologout() // as the session would have, awake
	}
	readOnly := f&flagReadOnly != 0
	h, err := c.user.Select(st.mailbox, readOnly)
	if err != nil {
		return err
	}
	s := &selected{h: h, name: h.Name(), readOnly: h.ReadOnly(), ghosts: map[uint32]bool{},
		keywords: st.keywords, saved: st.saved.list(), hasSaved: f&flagHasSaved != 0, safeHMS: st.hms}
	c.mbox, c.state = s, stateSelected
	hms := h.HighestModSeq()
	if h.UIDValidity() != st.uidValidity || s.readOnly != readOnly || hms == 0 || st.hms > hms || st.uids.last() >= h.UIDNext() {
		return errBadState // not the mailbox the session had
	}
	cur, recent := h.Messages(), h.Recent()
	var ch store.Changes
	s.msgs = make([]store.MessageInfo, 0, st.uids.count())
	j := 0
	st.uids.each(func(u uint32) {
		for j < len(cur) && cur[j].UID < u {
			j++ // not in the view: ignored, as updates ignores it
		}
		if j < len(cur) && cur[j].UID == u {
			m := cur[j]
			s.msgs = append(s.msgs, m)
			if m.ModSeq > st.hms {
				ch.Flags = append(ch.Flags, store.FlagUpdate{UID: u, Flags: m.Flags, ModSeq: m.ModSeq})
			}
			return
		}
		s.msgs = append(s.msgs, store.MessageInfo{UID: u}) // gone: apply sends its EXPUNGE
		ch.Expunged = append(ch.Expunged, u)
	})
	top := st.uids.last()
	for ; j < len(cur); j++ {
		if m := cur[j]; m.UID > top {
			_, m.Recent = slices.BinarySearch(recent, m.UID)
			ch.New = append(ch.New, m)
		}
	}
	s.recent = recentSet(st.recent.list())
	if kw := h.Keywords(); !sameKeywords(s.keywords, kw) {
		ch.Keywords = kw
	}
	mark := c.sent + int64(c.bw.Buffered())
	c.apply(ch, true)
	if c.wrote(mark) {
		st.since = now // the session awake would have woken for them and restarted its timer
	}
	c.flush()
	return nil
}

// quietConn returns the socket's raw connection when this IDLE may end in
// hibernation: Hibernate is configured, the mailbox keeps mod-sequences
// and can be watched, and nothing is in flight that the state could not
// carry or that another process could not take over: no NOTIFY (it
// polls), no COMPRESS (its deflate state), no RETURN (UPDATE) contexts, no
// input read from the socket and not consumed (a login's Pending bytes,
// read-ahead commands, buffered bytes), no read pending.
func (c *conn) quietConn() syscall.RawConn {
	cfg, s := c.scfg, c.mbox
	if cfg == nil || cfg.Hibernate == nil || cfg.HibernateAfter <= 0 || s == nil || s.nomodseq || len(s.contexts) > 0 ||
		c.notify != nil || c.zw != nil || c.src != io.Reader(c.nc) || len(c.queue) > 0 || c.pending || len(c.r.Buffered()) > 0 {
		return nil
	}
	if _, ok := s.h.(store.Watcher); !ok {
		return nil
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// idleQuiet is IDLE's wait while the session may hibernate: instead of
// asking the reader goroutine for the DONE line, which would read from the
// socket, it waits for the socket to become readable without reading it,
// sending changes as they come (RFC 2177), and offers the session after
// HibernateAfter without any. It returns, with the time the autologout
// timer started, when the client has something to read (or the session
// cannot hibernate): the caller then reads as usual.
func (c *conn) idleQuiet(tag string, changed <-chan struct{}, since time.Time) (time.Time, error) {
	rc := c.quietConn()
	if rc == nil {
		return since, nil
	}
	readable := make(chan struct{})
	go awaitReadable(rc, readable)
	defer func() {
		// A deadline in the past ends the wait, if it still runs.
		c.nc.SetReadDeadline(time.Now())
		<-readable
		c.nc.SetReadDeadline(time.Time{})
	}()
	after := c.scfg.HibernateAfter
	nap := time.NewTimer(after)
	defer nap.Stop()
	logout := time.NewTimer(time.Until(since.Add(c.timeout)))
	defer logout.Stop()
	for {
		select {
		case <-readable:
			return since, nil
		case <-changed:
			mark := c.sent + int64(c.bw.Buffered())
			c.updates(true)
			c.flush()
			since = time.Now() // as await restarts its timer at each wake
			logout.Reset(c.timeout)
			if c.wrote(mark) {
				nap.Reset(after)
			}
		case <-nap.C:
			switch err := c.offer(tag, since); err {
			case ErrHibernated:
				return since, err
			case errNoState:
				return since, nil
			}
			nap.Reset(after)
		case <-logout.C:
			return since, c.autologout()
		case <-c.ctx.Done():
			return since, c.ended()
		}
	}
}

// awaitReadable returns, closing done, when rc has input, EOF or an error,
// having read nothing: it peeks (MSG_PEEK, which a socket allows; recvfrom
// is in every worker's seccomp allowlist), since the runtime forgets a
// readiness that came before this wait, then waits for the next one. A
// read deadline ends it.
func awaitReadable(rc syscall.RawConn, done chan<- struct{}) {
	defer close(done)
	var b [1]byte
	rc.Read(func(fd uintptr) bool {
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN
	})
}

// offer hands the session to Hibernate if it has nothing to send: a last
// look at the mailbox first, and a session that found changes sends them
// and goes on idling (errAwake). The watch is made after that look, and a
// second look closes the gap between them: a change the watch missed,
// the handle's next Poll reports (store.Watcher). ErrHibernated when
// taken; errNoState when the state does not fit; else not taken.
func (c *conn) offer(tag string, since time.Time) error {
	s := c.mbox
	mark := c.sent + int64(c.bw.Buffered())
	c.updates(true) // with expunges: no ghost is left to carry
	if c.wrote(mark) {
		c.flush()
		return errAwake
	}
	watch, err := s.h.(store.Watcher).WatchFile()
	if err != nil {
		c.log.Warn("hibernate: cannot watch the mailbox", "err", err)
		return err
	}
	defer watch.Close()
	c.updates(true)
	if c.wrote(mark) {
		c.flush()
		return errAwake
	}
	state, err := c.idleState(tag, since)
	if err != nil {
		return err
	}
	if err := c.scfg.Hibernate(state, watch); err != nil {
		c.log.Debug("hibernate: not taken", "err", err)
		return err
	}
	return ErrHibernated
}

// idleState encodes the session for ResumeSession; errNoState when it
// exceeds MaxHibernateState or would not decode (a keyword that is not an
// atom).
func (c *conn) idleState(tag string, since time.Time) ([]byte, error) {
	s := c.mbox
	st := &idleState{tag: tag, mailbox: s.name, uidValidity: s.h.UIDValidity(), hms: s.safeHMS, since: since,
		uids: runsOf(s.uids()), recent: runsOf(s.recent), saved: runsOf(s.saved), keywords: s.keywords}
	for _, b := range []struct {
		on bool
		f  stateFlags
	}{{s.readOnly, flagReadOnly}, {c.rev2, flagRev2}, {c.utf8, flagUTF8}, {c.condstore, flagCondStore},
		{c.qresync, flagQResync}, {c.tls, flagTLS}, {c.validSeen, flagValidSeen}, {s.hasSaved, flagHasSaved}} {
		if b.on {
			st.flags |= b.f
		}
	}
	b := st.encode()
	if _, err := decodeState(b); err != nil {
		return nil, errNoState
	}
	return b, nil
}
