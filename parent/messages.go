package parent

import (
	"os"
	"time"

	"imapd/parent/config"

	pb "imapd/proto"
)

// fromPreauth, fromAuthd and fromMailbox are the flat switches over what
// each role may send (its channel's type allows nothing else). Every
// message about a connection is checked against the rows of the connection
// table the sender holds; one it has no right to send kills it
// (docs/security.md, "3. Preauth worker -> parent").
func (p *Parent) fromPreauth(c *child, m *pb.FromPreauth, fd *os.File) {
	switch b := m.Body.(type) {
	case *pb.FromPreauth_Ready:
		p.ready(c)
	case *pb.FromPreauth_ConnDone:
		p.connDone(c, b.ConnDone.ConnId)
	case *pb.FromPreauth_Handoff:
		p.handoff(c, b.Handoff, fd)
		return
	}
	if fd != nil {
		fd.Close()
	}
}

func (p *Parent) fromAuthd(c *child, m *pb.FromAuthd, fd *os.File) {
	if fd != nil {
		fd.Close()
		p.misbehaved(c, "descriptor from authd")
		return
	}
	switch b := m.Body.(type) {
	case *pb.FromAuthd_Grant:
		p.grant(c, b.Grant)
	case *pb.FromAuthd_AuthStats:
		for _, ch := range p.statsWait {
			ch <- b.AuthStats
		}
		p.statsWait = nil
	case *pb.FromAuthd_AuthTestResult:
		if ch := p.authTests[m.Id]; ch != nil {
			delete(p.authTests, m.Id)
			ch <- b.AuthTestResult
		}
	}
}

func (p *Parent) fromMailbox(c *child, m *pb.FromMailbox, fd *os.File) {
	switch b := m.Body.(type) {
	case *pb.FromMailbox_HibernateWatch:
		p.hibernateWatch(c, b.HibernateWatch.SessionId, fd)
		return
	case *pb.FromMailbox_Hibernate:
		p.hibernate(c, b.Hibernate, fd)
		return
	}
	if fd != nil {
		fd.Close()
		p.misbehaved(c, "descriptor from a mailbox worker")
		return
	}
	switch b := m.Body.(type) {
	case *pb.FromMailbox_SessionDone:
		p.sessionDone(c, b.SessionDone.SessionId)
	}
}

// grant stores what authd vouches for, in the row of the connection it
// names, if that connection is live, held by the worker named, and not yet
// handed off: a worker cannot obtain a grant for someone else's connection
// by asking authd about it. The grant expires by a timer.
func (p *Parent) grant(a *child, g *pb.Grant) {
	ack := func(refused bool) {
		p.toAuthd(a, &pb.ToAuthd{Body: &pb.ToAuthd_GrantAck{GrantAck: &pb.GrantAck{Token: g.Token, Refused: refused}}}, nil)
	}
	w := p.workers[g.PreauthId]
	r := p.conns.rows[g.ConnId]
	switch {
	case w == nil || r == nil:
		// The connection may have ended while authd checked: refuse, no
		// more.
		p.log.Warn("grant refused", "reason", "no such connection", "worker", g.PreauthId, "conn", g.ConnId)
		ack(true)
		return
	case r.worker != w || r.state != connPrelogin:
		p.log.Warn("grant refused", "reason", "connection not held by that worker before login", "worker", g.PreauthId, "conn", g.ConnId)
		ack(true)
		p.misbehaved(w, "asked authd about a connection it does not hold")
		return
	case g.Uid == 0 || g.Gid == 0 || g.User == "" || g.Token == "":
		// authd refuses these; the parent does not rely on it.
		p.log.Warn("grant refused", "reason", "privileged or empty identity", "user", g.User, "uid", g.Uid, "gid", g.Gid)
		ack(true)
		return
	}
	p.conns.clearGrant(r)
	r.grant = g
	id, token := r.id, g.Token
	r.expiry = time.AfterFunc(grantTTL, func() {
		p.post(func() {
			if r := p.conns.rows[id]; r != nil && r.grant != nil && r.grant.Token == token {
				p.conns.clearGrant(r)
			}
		})
	})
	ack(false)
}

// handoff redeems a preauth worker's token and passes the connection to the
// user's mailbox worker, starting one when the user has none. The grant is
// the row's: the same worker, the same connection, in time, once.
func (p *Parent) handoff(w *child, h *pb.Handoff, fd *os.File) {
	r := p.conns.owned(w, h.ConnId)
	if r == nil || r.state != connPrelogin || (fd == nil) != (p.proxy != nil) {
		if fd != nil {
			fd.Close()
		}
		p.log.Warn("handoff refused", "worker", w.id, "pid", w.pid, "conn", h.ConnId, "reason", "connection not held by this worker before login")
		p.misbehaved(w, "handoff of a connection it does not hold")
		return
	}
	gr := r.grant
	p.conns.clearGrant(r) // any presentation burns the grant
	if gr == nil || gr.Token != h.Token {
		fd.Close()
		p.log.Warn("handoff refused", "worker", w.id, "pid", w.pid, "conn", h.ConnId, "reason", "unknown, expired or used token")
		p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: h.ConnId, Reason: "unknown, expired or used token"}}}, nil)
		return
	}
	// What the mailbox worker learns of the peer is the parent's record,
	// and the token, used, stays here.
	h.Token, h.RemoteAddr, h.LocalAddr = "", r.remote, r.local
	if p.proxy != nil {
		p.proxyHandoff(w, r, h, gr)
		return
	}
	p.conns.handOff(r, nil, gr.User)
	r.tls = h.Tls
	r.account = &pb.Grant{User: gr.User, Uid: gr.Uid, Gid: gr.Gid, Groups: gr.Groups, Home: gr.Home}
	p.toWorker(r.account, waitingSession{row: r, h: h, fd: fd, w: w})
}

// toWorker passes a session to the worker of the user gr names, starting
// one when the user has none.
func (p *Parent) toWorker(gr *pb.Grant, s waitingSession) {
	s.row.delivering = true
	e := p.mailboxes[gr.User]
	if e != nil && e.c != nil && (e.c.killed || e.c.draining) {
		// Killed or retiring, not yet reaped: the session goes to a new worker.
		delete(p.mailboxes, gr.User)
		e = nil
	}
	switch {
	case e == nil:
		e = &mailboxEntry{waiting: []waitingSession{s}}
		p.mailboxes[gr.User] = e
		p.startMailbox(gr, e)
	case e.c == nil:
		e.waiting = append(e.waiting, s)
	default:
		p.deliver(e.c, s)
	}
}

// deliver passes a redeemed connection to its mailbox worker.
func (p *Parent) deliver(mb *child, s waitingSession) {
	if p.conns.rows[s.row.id] != s.row {
		s.fd.Close()
		return
	}
	p.conns.attach(s.row, mb)
	s.row.sockIno = socketInode(s.fd)
	if s.resume == nil {
		p.log.Info("login", "user", mb.user, "peer", s.row.remote, "conn", s.row.id, "tls", s.h.Tls, "mailbox_pid", mb.pid)
	}
	p.toMailbox(mb, &pb.ToMailbox{Body: &pb.ToMailbox_NewSession{NewSession: &pb.NewSession{SessionId: s.row.id, Handoff: s.h, User: mb.user, Resume: s.resume}}}, s.fd)
	if s.w != nil {
		p.toPreauth(s.w, &pb.ToPreauth{Body: &pb.ToPreauth_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: s.row.id, Ok: true}}}, nil)
	}
}

// undeliverable ends a redeemed connection whose mailbox worker did not
// start.
func (p *Parent) undeliverable(s waitingSession) {
	s.fd.Close()
	s.row.delivering = false
	if s.w != nil {
		p.toPreauth(s.w, &pb.ToPreauth{Body: &pb.ToPreauth_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: s.row.id, Reason: "mailbox worker did not start"}}}, nil)
	}
	if p.conns.rows[s.row.id] == s.row {
		p.conns.removeIfDone(s.row)
	}
}

// connDone: the worker is done with a connection it holds.
func (p *Parent) connDone(w *child, id uint64) {
	r := p.conns.owned(w, id)
	if r == nil {
		p.log.Warn("conn_done refused", "worker", w.id, "pid", w.pid, "conn", id, "reason", "connection not held by this worker")
		p.misbehaved(w, "conn_done for a connection it does not hold")
		return
	}
	if r.state == connPrelogin {
		p.log.Info("disconnected before login", "peer", r.remote, "conn", r.id, "after", p.now().Sub(r.since).Round(time.Millisecond))
	}
	p.conns.releaseWorker(r)
	p.flushWaiting()
}

// sessionDone: a mailbox worker's session ended.
func (p *Parent) sessionDone(mb *child, id uint64) {
	r := p.conns.owned(mb, id)
	if r == nil {
		p.log.Warn("session_done refused", "user", mb.user, "pid", mb.pid, "session", id, "reason", "session not served by this worker")
		p.misbehaved(mb, "session_done for a session it does not serve")
		return
	}
	p.conns.releaseMailbox(r)
	if p.conns.held(mb) == 0 && p.cfg.Storage == config.StorageMaildir {
		p.later(mailboxIdle, func() { p.retireIdleMailbox(mb) })
	}
}

// retireIdleMailbox stops a mailbox worker that stayed without sessions. The
// map entry goes first, so a login never picks a worker on its way out.
func (p *Parent) retireIdleMailbox(mb *child) {
	e := p.mailboxes[mb.user]
	if p.conns.held(mb) != 0 || e == nil || e.c != mb {
		return
	}
	delete(p.mailboxes, mb.user)
	mb.draining = true
	p.shutdownChild(mb, "idle", false)
}
