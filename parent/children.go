package parent

import (
	"errors"
	"os"
	"syscall"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// generation is one configuration's pool of preauth workers.
type generation struct {
	gen   uint32
	slots []*child // nil: starting or restarting
	back  []backoff
	// done hears once whether a reload's generation came to serve.
	done chan error
}

func (g *generation) report(err error) {
	if g.done != nil {
		select {
		case g.done <- err:
		default:
		}
	}
}

func (g *generation) has(c *child) bool {
	return g != nil && c.slot < len(g.slots) && g.slots[c.slot] == c
}

func (g *generation) allReady() bool {
	for _, c := range g.slots {
		if c == nil || !c.ready {
			return false
		}
	}
	return true
}

// backoff spaces restarts of a child that keeps dying soon after it starts
// (one that cannot sandbox itself, say): 100 ms, doubling to 30 s. A child
// that lived a while restarts after 100 ms again.
type backoff struct{ delay time.Duration }

const (
	backoffMin  = 100 * time.Millisecond
	backoffMax  = 30 * time.Second
	backoffLive = 10 * time.Second
)

func (b *backoff) next(lived time.Duration) time.Duration {
	if b.delay == 0 || lived >= backoffLive {
		b.delay = backoffMin
	} else {
		b.delay = min(2*b.delay, backoffMax)
	}
	return b.delay
}

// later posts f to the loop after d.
func (p *Parent) later(d time.Duration, f func()) {
	time.AfterFunc(d, func() { p.post(f) })
}

// spawnThen starts a child off the loop and hands the result to done on the
// loop: a fork never holds up the parent.
func (p *Parent) spawnThen(spec spawnSpec, done func(*child, error)) {
	go func() {
		c, err := p.spawn(spec)
		p.post(func() { done(c, err) })
	}()
}

// adopt gives a new child its outbox and reader.
func (p *Parent) adopt(c *child) {
	c.out = c.conn.NewOutbox(outboxSize, p.outboxWait, func(err error) {
		go p.post(func() { p.misbehaved(c, "does not read its channel: "+err.Error()) })
	})
	p.children[c] = true
	go p.read(c)
}

// read passes what c sends to the loop, and its exit once it is reaped.
func (p *Parent) read(c *child) {
	for {
		env, fd, err := c.conn.Recv()
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) {
				p.post(func() { p.misbehaved(c, err.Error()) })
			}
			break
		}
		p.post(func() { p.fromChild(c, env, fd) })
	}
	c.kill() // a closed channel ends the process too
	c.out.Close()
	var werr error
	if c.cmd != nil {
		werr = c.cmd.Wait()
	}
	p.post(func() { p.childExited(c, werr) })
	close(c.exited)
}

// send queues env (and fd, which it takes) for c. A child whose outbox is
// full is not reading: it is killed, never waited on.
func (p *Parent) send(c *child, env *pb.Envelope, fd *os.File) {
	if c == nil || c.out == nil || c.killed {
		if fd != nil {
			fd.Close()
		}
		return
	}
	if err := c.out.Post(env, fd); errors.Is(err, ipc.ErrOverflow) {
		p.misbehaved(c, "outbox full")
	}
}

// misbehaved kills a child that broke its channel's rules; its exit is
// handled like any other (pool roles restart).
func (p *Parent) misbehaved(c *child, reason string) {
	if c.killed {
		return
	}
	c.killed = true
	p.log.Warn("killing child", "child", roleName(c.role), "pid", c.pid, "worker", c.id, "user", c.user, "reason", reason)
	c.kill()
}

// startAuthd starts authd and gives it the authentication settings.
func (p *Parent) startAuthd() {
	setup := &pb.Setup{
		Role: pb.Role_ROLE_AUTHD, Generation: p.gen, AuthBackend: p.cfg.Auth, PamService: p.cfg.PAMService,
		PasswdFile: absPath(p.cfg.PasswdFile), FirstValidUid: uint32(p.cfg.FirstValidUID), Unprivileged: !p.privileged,
		AuthCacheSeconds: uint32(p.cfg.AuthCache / time.Second),
	}
	gen := p.gen
	p.spawnThen(spawnSpec{
		role: pb.Role_ROLE_AUTHD, path: p.authdExe, title: "imapd: authd", env: childEnv("authd"), dir: "/",
		allowed: []string{"grant", "auth_stats"},
	}, func(c *child, err error) {
		if err != nil {
			p.log.Error("authd did not start", "err", err)
			p.restartAuthd(0)
			return
		}
		c.gen = gen
		p.adopt(c)
		p.send(c, &pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil)
		if p.stopping {
			p.send(c, &pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: "shutting down"}}}, nil)
			return
		}
		p.authd = c
		for _, w := range p.workers {
			p.connectAuthd(w)
		}
	})
}

func (p *Parent) restartAuthd(lived time.Duration) {
	d := p.authdBack.next(lived)
	p.later(d, func() {
		if !p.stopping && p.authd == nil {
			p.startAuthd()
		}
	})
}

// connectAuthd gives a preauth worker and authd the two ends of a new
// channel.
func (p *Parent) connectAuthd(w *child) {
	if p.authd == nil {
		return
	}
	a, b, err := ipc.Socketpair()
	if err != nil {
		p.log.Error("authd channel", "err", err)
		return
	}
	msg := func() *pb.Envelope {
		return &pb.Envelope{Body: &pb.Envelope_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: w.id}}}
	}
	p.send(p.authd, msg(), a)
	p.send(w, msg(), b)
}

// newGeneration starts n preauth workers of the current configuration.
func (p *Parent) newGeneration(n int) *generation {
	g := &generation{gen: p.gen, slots: make([]*child, n), back: make([]backoff, n)}
	for i := range n {
		p.startPreauth(g, i)
	}
	return g
}

// startPreauth starts the worker of slot in g, with an identity no worker
// had before: grants and authd channels name it.
func (p *Parent) startPreauth(g *generation, slot int) {
	p.nextWorker++
	id := p.nextWorker
	setup := &pb.Setup{
		Role: pb.Role_ROLE_PREAUTH, Generation: g.gen, WorkerId: id, Certs: p.certs,
		PlaintextAuth: string(p.cfg.PlaintextAuth), LoginTimeoutSeconds: uint32(p.cfg.LoginTimeout / time.Second),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	if p.privileged {
		setup.PreauthUser, setup.Chroot = p.cfg.PreauthUser, p.cfg.PreauthChroot
	}
	p.spawnThen(spawnSpec{
		role: pb.Role_ROLE_PREAUTH, path: p.exe, title: "imapd: preauth", env: childEnv("preauth"), dir: "/",
		allowed: []string{"ready", "conn_done", "handoff"},
	}, func(c *child, err error) {
		if err != nil {
			p.log.Error("preauth worker did not start", "generation", g.gen, "err", err)
			p.preauthFailed(g, slot, 0)
			return
		}
		c.id, c.slot, c.gen = id, slot, g.gen
		p.adopt(c)
		p.send(c, &pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil)
		if p.stopping || (g != p.current && g != p.pending) {
			c.draining = true
			p.send(c, &pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: "superseded"}}}, nil)
			return
		}
		g.slots[slot] = c
		p.workers[id] = c
		p.connectAuthd(c)
	})
}

// preauthFailed handles a worker of g that did not start or died: a slot of
// the serving generation restarts with backoff; a failure in a reload's new
// generation abandons it, the old one serving on, and the reload is retried
// with backoff (docs/design.md#reload).
func (p *Parent) preauthFailed(g *generation, slot int, lived time.Duration) {
	if p.stopping {
		return
	}
	switch g {
	case p.pending:
		p.log.Error("reload: a new preauth worker failed; the running generation keeps serving", "generation", g.gen)
		for _, c := range g.slots {
			if c != nil {
				c.draining = true
				delete(p.workers, c.id)
				c.kill()
			}
		}
		p.pending = nil
		g.report(errors.New("new preauth workers failed to start; the running generation keeps serving, and the start is retried"))
		d := g.back[0].next(lived)
		retry := &generation{gen: g.gen, slots: make([]*child, len(g.slots)), back: g.back}
		p.later(d, func() {
			if p.stopping || p.pending != nil || p.gen != retry.gen {
				return
			}
			p.log.Info("reload: starting the new preauth workers again", "generation", retry.gen)
			p.pending = retry
			for i := range retry.slots {
				p.startPreauth(retry, i)
			}
		})
	case p.current:
		d := g.back[slot].next(lived)
		p.later(d, func() {
			if !p.stopping && p.current == g && g.slots[slot] == nil {
				p.startPreauth(g, slot)
			}
		})
	}
}

// ready: a preauth worker serves. A reload's generation takes over once all
// of its workers are ready, and only then does the old one drain.
func (p *Parent) ready(c *child) {
	if c.ready {
		p.misbehaved(c, "ready twice")
		return
	}
	c.ready = true
	if p.pending.has(c) && p.pending.allReady() {
		old := p.current
		p.current, p.pending = p.pending, nil
		for _, w := range old.slots {
			if w != nil {
				p.drain(w, "reload")
			}
		}
		p.log.Info("generation serving", "generation", p.current.gen, "preauth_workers", len(p.current.slots))
		p.current.report(nil)
	}
	p.flushWaiting()
}

// drain tells an old preauth worker to let its connections finish logging
// in and exit; it gets no new connections.
func (p *Parent) drain(c *child, reason string) {
	c.draining = true
	p.old = append(p.old, c)
	p.send(c, &pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: reason, Drain: true}}}, nil)
}

// childExited reaps a child: its rows in the connection table go, and what
// the parent supervises restarts.
func (p *Parent) childExited(c *child, err error) {
	delete(p.children, c)
	p.log.Info("child exited", "child", roleName(c.role), "pid", c.pid, "worker", c.id, "user", c.user, "status", exitStatus(err))
	for _, r := range p.conns.rowsOf(c) {
		if r.worker == c {
			p.conns.releaseWorker(r)
		}
		if r.mailbox == c {
			p.conns.releaseMailbox(r)
		}
	}
	lived := p.now().Sub(c.started)
	switch c.role {
	case pb.Role_ROLE_AUTHD:
		if p.authd == c {
			p.authd, p.statsWait = nil, nil
			if !p.stopping {
				p.restartAuthd(lived)
			}
		}
	case pb.Role_ROLE_PREAUTH:
		if p.workers[c.id] == c {
			delete(p.workers, c.id)
		}
		for i, o := range p.old {
			if o == c {
				p.old = append(p.old[:i], p.old[i+1:]...)
				break
			}
		}
		for _, g := range []*generation{p.current, p.pending} {
			if g.has(c) {
				g.slots[c.slot] = nil
				if !c.draining {
					p.preauthFailed(g, c.slot, lived)
				}
			}
		}
	case pb.Role_ROLE_MAILBOX:
		if e := p.mailboxes[c.user]; e != nil && e.c == c {
			delete(p.mailboxes, c.user)
		}
	}
}

// startMailbox starts the mailbox worker of the user a grant names, with
// that user's ids (docs/security.md, boundary 6), and delivers the
// sessions waiting for it.
func (p *Parent) startMailbox(gr *pb.Grant, e *mailboxEntry) {
	spec := spawnSpec{
		role: pb.Role_ROLE_MAILBOX, path: p.exe, title: "imapd: mailbox " + gr.User, env: childEnv("mailbox"),
		dir: "/", allowed: []string{"session_done"},
	}
	if p.privileged {
		spec.cred = &syscall.Credential{Uid: gr.Uid, Gid: gr.Gid, Groups: gr.Groups}
		spec.env = append(spec.env, "HOME="+gr.Home, "USER="+gr.User)
	}
	setup := &pb.Setup{
		Role: pb.Role_ROLE_MAILBOX, Generation: p.gen, User: gr.User, Uid: gr.Uid, Gid: gr.Gid, Home: gr.Home,
		Storage: p.cfg.Storage, MaildirPath: absPath(p.cfg.MaildirPath),
		AutologoutSeconds: uint32(p.cfg.Autologout / time.Second), AppendLimit: uint64(p.cfg.AppendLimit),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	gen := p.gen
	p.spawnThen(spec, func(c *child, err error) {
		waiting := e.waiting
		e.waiting = nil
		if err != nil || p.stopping {
			if err != nil {
				p.log.Error("mailbox worker did not start", "user", gr.User, "err", err)
			}
			if p.mailboxes[gr.User] == e {
				delete(p.mailboxes, gr.User)
			}
			for _, s := range waiting {
				p.undeliverable(s)
			}
			if c != nil {
				c.kill()
			}
			return
		}
		c.user, c.uid, c.gen = gr.User, gr.Uid, gen
		p.adopt(c)
		p.send(c, &pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil)
		e.c = c
		for _, s := range waiting {
			p.deliver(c, s)
		}
	})
}
