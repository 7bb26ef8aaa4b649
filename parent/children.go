package parent

import (
	"errors"
	"os"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	"imapd/parent/config"
	pb "imapd/proto"
)

// generation is one configuration's pool of preauth workers.
type generation struct {
	gen          uint32
	loginTimeout time.Duration // its configuration's: bounds a STARTTLS handshake
	slots        []*child      // nil: starting or restarting
	back         []backoff
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

// adopt types a new child's channel by its role and gives it its outbox
// and reader. The channel's type is what the child may send
// (docs/design.md#channels).
func (p *Parent) adopt(c *child) error {
	f := c.file
	c.file = nil
	onFail := func(err error) {
		go p.post(func() { p.misbehaved(c, "does not read its channel: "+err.Error()) })
	}
	switch c.role {
	case pb.Role_ROLE_PREAUTH:
		conn, err := ipc.NewConn[*pb.ToPreauth, *pb.FromPreauth](f, "preauth")
		if err != nil {
			return p.adoptFailed(c, err)
		}
		c.closer, c.toPreauth = conn, conn.NewOutbox(outboxSize, p.outboxWait, onFail)
		go readChild(p, c, conn, p.fromPreauth)
	case pb.Role_ROLE_AUTHD:
		conn, err := ipc.NewConn[*pb.ToAuthd, *pb.FromAuthd](f, "authd")
		if err != nil {
			return p.adoptFailed(c, err)
		}
		c.closer, c.toAuthd = conn, conn.NewOutbox(outboxSize, p.outboxWait, onFail)
		go readChild(p, c, conn, p.fromAuthd)
	case pb.Role_ROLE_MAILBOX:
		conn, err := ipc.NewConn[*pb.ToMailbox, *pb.FromMailbox](f, "mailbox")
		if err != nil {
			return p.adoptFailed(c, err)
		}
		c.closer, c.toMailbox = conn, conn.NewOutbox(outboxSize, p.outboxWait, onFail)
		go readChild(p, c, conn, p.fromMailbox)
	case pb.Role_ROLE_KEYD:
		conn, err := ipc.NewConn[*pb.KeydMessage, *pb.KeydMessage](f, "keyd")
		if err != nil {
			return p.adoptFailed(c, err)
		}
		c.closer, c.toKeyd = conn, conn.NewOutbox(outboxSize, p.outboxWait, onFail)
		go readChild(p, c, conn, p.fromKeyd)
	}
	p.children[c] = true
	return nil
}

func (p *Parent) adoptFailed(c *child, err error) error {
	c.kill()
	if c.cmd != nil {
		go c.cmd.Wait()
	}
	return err
}

// readChild passes what c sends to the loop, and its exit once it is
// reaped.
func readChild[Out, In proto.Message](p *Parent, c *child, conn *ipc.Conn[Out, In], handle func(*child, In, *os.File)) {
	for {
		m, fd, err := conn.Recv()
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) {
				p.post(func() { p.misbehaved(c, err.Error()) })
			}
			break
		}
		p.post(func() {
			if c.killed {
				if fd != nil {
					fd.Close()
				}
				return
			}
			handle(c, m, fd)
		})
	}
	c.kill() // a closed channel ends the process too
	c.closeOutbox()
	var werr error
	if c.cmd != nil {
		werr = c.cmd.Wait()
	}
	p.post(func() { p.childExited(c, werr) })
	close(c.exited)
}

// send queues m (and fd, which it takes) on o, the outbox of c. A child
// whose outbox is full is not reading: it is killed, never waited on.
func send[Out, In proto.Message](p *Parent, c *child, o *ipc.Outbox[Out, In], m Out, fd *os.File) {
	if c == nil || o == nil || c.killed {
		if fd != nil {
			fd.Close()
		}
		return
	}
	if err := o.Post(m, fd); errors.Is(err, ipc.ErrOverflow) {
		p.misbehaved(c, "outbox full")
	}
}

func (p *Parent) toPreauth(c *child, m *pb.ToPreauth, fd *os.File) { send(p, c, c.toPreauth, m, fd) }
func (p *Parent) toAuthd(c *child, m *pb.ToAuthd, fd *os.File)     { send(p, c, c.toAuthd, m, fd) }
func (p *Parent) toMailbox(c *child, m *pb.ToMailbox, fd *os.File) { send(p, c, c.toMailbox, m, fd) }

// shutdownChild tells c to stop; drain lets a preauth worker's connections
// before login finish first.
func (p *Parent) shutdownChild(c *child, reason string, drain bool) {
	s := &pb.Shutdown{Reason: reason, Drain: drain}
	switch c.role {
	case pb.Role_ROLE_PREAUTH:
		p.toPreauth(c, &pb.ToPreauth{Body: &pb.ToPreauth_Shutdown{Shutdown: s}}, nil)
	case pb.Role_ROLE_AUTHD:
		p.toAuthd(c, &pb.ToAuthd{Body: &pb.ToAuthd_Shutdown{Shutdown: s}}, nil)
	case pb.Role_ROLE_MAILBOX:
		p.toMailbox(c, &pb.ToMailbox{Body: &pb.ToMailbox_Shutdown{Shutdown: s}}, nil)
	case pb.Role_ROLE_KEYD:
		p.toKeyd(c, &pb.KeydMessage{Body: &pb.KeydMessage_Shutdown{Shutdown: &pb.KeydShutdown{Reason: reason}}}, nil)
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
	setup := &pb.AuthdSetup{
		Generation: p.gen, Backend: authBackend(p.cfg.Auth), PamService: p.cfg.PAMService,
		PasswdFile: absPath(p.cfg.PasswdFile), FirstValidUid: uint32(p.cfg.FirstValidUID), Unprivileged: !p.privileged,
		AuthCacheSeconds: uint32(p.cfg.AuthCache / time.Second),
	}
	p.authdProxySetup(setup)
	gen := p.gen
	spec := spawnSpec{role: pb.Role_ROLE_AUTHD, path: p.authdExe, title: "imapd: authd", env: childEnv("authd"), dir: "/"}
	if name := p.cfg.AuthdUser(); p.privileged && name != "" {
		// authd drops root where its backend allows (docs/security.md,
		// "authd"); it confines itself further once set up.
		cred, _, err := ipc.LookupUser(name)
		if err != nil {
			p.log.Error("authd user", "user", name, "err", err)
			p.restartAuthd(0)
			return
		}
		spec.cred = &syscall.Credential{Uid: cred.UID, Gid: cred.GID, Groups: cred.Groups}
	}
	p.spawnThen(spec, func(c *child, err error) {
		if err != nil {
			p.log.Error("authd did not start", "err", err)
			p.restartAuthd(0)
			return
		}
		c.gen = gen
		if err := p.adopt(c); err != nil {
			p.log.Error("authd channel", "err", err)
			p.restartAuthd(0)
			return
		}
		p.toAuthd(c, &pb.ToAuthd{Body: &pb.ToAuthd_Setup{Setup: setup}}, nil)
		if p.stopping {
			p.shutdownChild(c, "shutting down", false)
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
	p.toAuthd(p.authd, &pb.ToAuthd{Body: &pb.ToAuthd_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: w.id}}}, a)
	p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: w.id}}}, b)
}

// newGeneration starts n preauth workers of the current configuration.
func (p *Parent) newGeneration(n int) *generation {
	g := &generation{gen: p.gen, loginTimeout: p.cfg.LoginTimeout, slots: make([]*child, n), back: make([]backoff, n)}
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
	// With certificates, keyd gives the worker them and its signatures:
	// the setup carries no key (docs/security.md, boundary 9).
	setup := &pb.PreauthSetup{
		Generation: g.gen, WorkerId: id, Keyd: len(p.certs) > 0,
		PlaintextAuth: plaintextAuth(p.cfg.PlaintextAuth), LoginTimeoutSeconds: uint32(p.cfg.LoginTimeout / time.Second),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	p.preauthProxySetup(setup)
	if p.privileged {
		setup.PreauthUser, setup.Chroot = p.cfg.PreauthUser, p.cfg.PreauthChroot
	}
	p.spawnThen(spawnSpec{
		role: pb.Role_ROLE_PREAUTH, path: p.exe, title: "imapd: preauth", env: childEnv("preauth"), dir: "/",
	}, func(c *child, err error) {
		if err != nil {
			p.log.Error("preauth worker did not start", "generation", g.gen, "err", err)
			p.preauthFailed(g, slot, 0)
			return
		}
		c.id, c.slot, c.gen = id, slot, g.gen
		if err := p.adopt(c); err != nil {
			p.log.Error("preauth worker channel", "err", err)
			p.preauthFailed(g, slot, 0)
			return
		}
		p.toPreauth(c, &pb.ToPreauth{Body: &pb.ToPreauth_Setup{Setup: setup}}, nil)
		if p.stopping || (g != p.current && g != p.pending) {
			c.draining = true
			p.shutdownChild(c, "superseded", false)
			return
		}
		g.slots[slot] = c
		p.workers[id] = c
		p.connectAuthd(c)
		p.connectKeyd(c)
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
		if old.gen != 0 && len(p.certs) > 0 {
			p.retireKeysLater(old.gen, old.loginTimeout)
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
	p.shutdownChild(c, reason, true)
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
			for id, ch := range p.authTests {
				close(ch)
				delete(p.authTests, id)
			}
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
				p.oldWorkerGone(c)
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
		// What the parent held for it (channel buffers, process
		// records) goes back to the kernel: with hibernated sessions, the
		// heap's peak was most of what a logged-in user cost.
		p.release.Soon(releaseDelay)
	case pb.Role_ROLE_KEYD:
		if p.keyd == c {
			p.keyd = nil
			if !p.stopping {
				p.restartKeyd(lived)
			}
		}
	}
}

// startMailbox starts the mailbox worker of the user a grant names, with
// that user's ids (docs/security.md, boundary 6), and delivers the
// sessions waiting for it.
func (p *Parent) startMailbox(gr *pb.Grant, e *mailboxEntry) {
	spec := spawnSpec{
		role: pb.Role_ROLE_MAILBOX, path: p.exe, title: "imapd: mailbox " + gr.User, env: childEnv("mailbox"),
		dir: "/", timerSlack: mailboxTimerSlack,
	}
	if p.privileged {
		spec.cred = &syscall.Credential{Uid: gr.Uid, Gid: gr.Gid, Groups: gr.Groups}
		spec.env = append(spec.env, "HOME="+gr.Home, "USER="+gr.User)
	}
	setup := &pb.MailboxSetup{
		Generation: p.gen, User: gr.User, Uid: gr.Uid, Gid: gr.Gid, Home: gr.Home,
		Storage: storage(p.cfg.Storage), MaildirPath: absPath(p.cfg.MaildirPath), MaildirShared: p.cfg.MaildirShared,
		AutologoutSeconds: uint32(p.cfg.Autologout / time.Second), AppendLimit: uint64(p.cfg.AppendLimit),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	if p.cfg.Storage == config.StorageMaildir {
		setup.HibernateAfterSeconds = uint32(p.cfg.HibernateAfter / time.Second)
	}
	q := p.cfg.QuotaFor(gr.User)
	setup.QuotaStorage, setup.QuotaMessages = uint64(q.Storage), uint64(q.Messages)
	setup.MetadataAdmin, setup.MetadataComment = p.cfg.MetadataAdmin, p.cfg.MetadataComment
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
		if err := p.adopt(c); err != nil {
			p.log.Error("mailbox worker channel", "user", gr.User, "err", err)
			if p.mailboxes[gr.User] == e {
				delete(p.mailboxes, gr.User)
			}
			for _, s := range waiting {
				p.undeliverable(s)
			}
			return
		}
		p.toMailbox(c, &pb.ToMailbox{Body: &pb.ToMailbox_Setup{Setup: setup}}, nil)
		e.c = c
		for _, s := range waiting {
			p.deliver(c, s)
		}
	})
}

// The configuration's words as the setups' enums.
func authBackend(a string) pb.AuthBackend {
	switch a {
	case config.AuthPAM:
		return pb.AuthBackend_AUTH_BACKEND_PAM
	case config.AuthPasswdFile:
		return pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE
	}
	return pb.AuthBackend_AUTH_BACKEND_UNSPECIFIED
}

func plaintextAuth(a config.PlaintextAuth) pb.PlaintextAuth {
	switch a {
	case config.PlaintextAllow:
		return pb.PlaintextAuth_PLAINTEXT_ALLOW
	case config.PlaintextDeny:
		return pb.PlaintextAuth_PLAINTEXT_DENY
	}
	return pb.PlaintextAuth_PLAINTEXT_LOOPBACK
}

func storage(s string) pb.Storage {
	switch s {
	case config.StorageMemory:
		return pb.Storage_STORAGE_MEMORY
	case config.StorageMaildir:
		return pb.Storage_STORAGE_MAILDIR
	}
	return pb.Storage_STORAGE_UNSPECIFIED
}

// mailboxTimerSlack lets the kernel fire a mailbox worker's timers up to
// 1 ms late. The Go runtime's sysmon thread sleeps 20 µs at a time while
// its process works, and starts again at 20 µs whenever it takes the one P
// from an fsync: those wake-ups were a tenth or more of the workers' CPU
// under the write-heavy mix (docs/design.md#timer-slack).
const mailboxTimerSlack = time.Millisecond
