// Package parent is the parent role: the root process that holds the
// configuration, the listening sockets and the grant table, passes client
// connections to preauth workers, redeems authd's grants into mailbox
// sessions, and supervises every child (docs/design.md).
package parent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"imapd/ipc"
	"imapd/parent/config"
	pb "imapd/proto"
)

// grantTTL bounds the time between authd's grant and the worker's handoff.
const grantTTL = 30 * time.Second

// mailboxIdle is how long a Maildir mailbox worker with no sessions lives on,
// so a client that reconnects finds its worker (and its index) warm.
const mailboxIdle = 2 * time.Minute

// Options carries what the command line decided besides the configuration.
type Options struct {
	// Reload re-reads the configuration (the file plus the flags that
	// override it); nil disables reloading.
	Reload func() (*config.Config, error)
	// Log receives the children's log lines: stderr or syslog.
	Log io.Writer
}

// Parent is the state of the parent process. Every field below mu is
// guarded by it; the child channels each have a reader goroutine.
type Parent struct {
	log        *slog.Logger
	opts       Options
	exe        string // our executable, re-executed for preauth and mailbox
	authdExe   string
	privileged bool
	started    time.Time
	spawner    *spawner
	now        func() time.Time
	// spawnMailbox is replaced by tests that must prove no worker starts.
	spawnMailbox func(gr *pb.Grant) (*child, error)

	mu        sync.Mutex
	cfg       *config.Config
	gen       uint32
	certs     []*pb.TLSCert
	listeners map[string]*listener // by "addr kind"
	authd     *child
	preauth   map[uint32]*child // current generation, by worker id
	old       []*child          // draining preauth workers of older generations
	mailboxes map[string]*child // by user
	grants    *grants
	conns     map[uint64]*connInfo
	nextConn  uint64
	perIP     map[string]int
	stopping  bool
	authStats chan *pb.AuthStats
}

type connInfo struct {
	ip        string
	worker    *child // the preauth worker holding it
	handedOff bool
	user      string
}

// Main runs the parent until SIGTERM/SIGINT, and returns after every child
// has gone.
func Main(cfg *config.Config, opts Options) error {
	log := slog.Default().With("role", "parent", "pid", os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	p := &Parent{
		// /proc/self/exe reaches our binary whatever the directories above it
		// allow, so a mailbox worker can re-execute it as its user.
		log: log, opts: opts, exe: "/proc/self/exe", authdExe: filepath.Join(filepath.Dir(exe), "imapd-authd"),
		privileged: os.Geteuid() == 0, started: time.Now(), spawner: newSpawner(), now: time.Now,
		cfg: cfg, preauth: map[uint32]*child{}, mailboxes: map[string]*child{},
		listeners: map[string]*listener{}, conns: map[uint64]*connInfo{}, perIP: map[string]int{},
		authStats: make(chan *pb.AuthStats, 1),
	}
	p.grants = newGrants(p.now)
	p.spawnMailbox = p.startMailbox
	for _, f := range sandboxFeatures(p.privileged) {
		if strings.HasPrefix(f, "WARNING") {
			log.Warn(f)
		}
	}
	if !p.privileged {
		log.Warn("unprivileged mode: running as a normal user, without chroot or setuid; every session runs as this user",
			"uid", os.Getuid())
	}
	if err := p.start(); err != nil {
		p.shutdown("start-up failed")
		return err
	}
	stopControl, err := p.serveControl()
	if err != nil {
		p.shutdown("start-up failed")
		return err
	}
	defer stopControl()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for s := range sigs {
		if s == syscall.SIGHUP {
			if err := p.Reload(); err != nil {
				log.Error("reload refused; keeping the running configuration", "err", err)
			}
			continue
		}
		log.Info("stopping", "signal", s.String())
		p.shutdown("server shutting down")
		return nil
	}
	return nil
}

func (p *Parent) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	certs, err := readCerts(p.cfg)
	if err != nil {
		return err
	}
	p.certs = certs
	p.gen = 1
	if err := p.applyListeners(p.cfg); err != nil {
		return err
	}
	if err := p.startAuthd(); err != nil {
		return err
	}
	for i := 0; i < p.cfg.PreauthWorkers; i++ {
		if err := p.startPreauth(uint32(i)); err != nil {
			return err
		}
	}
	p.log.Info("serving", "listeners", len(p.listeners), "preauth_workers", p.cfg.PreauthWorkers,
		"storage", p.cfg.Storage, "auth", p.cfg.Auth)
	return nil
}

// readCerts reads every certificate and key as root; the preauth workers get
// the bytes over IPC and never open a file.
func readCerts(cfg *config.Config) ([]*pb.TLSCert, error) {
	var out []*pb.TLSCert
	for _, c := range cfg.Certs {
		cert, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, err
		}
		key, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, err
		}
		out = append(out, &pb.TLSCert{CertPem: cert, KeyPem: key})
	}
	return out, nil
}

func childEnv(role string) []string {
	env := []string{"IMAPD_ROLE=" + role, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"GOTRACEBACK", "GODEBUG", "GOGC", "GOMEMLIMIT", "IMAPD_LOG_LEVEL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// spawn starts a child whose log lines go where ours do.
func (p *Parent) spawn(spec spawnSpec) (*child, error) {
	spec.log = p.opts.Log
	return p.spawner.spawn(spec)
}

// startAuthd starts authd and gives it the authentication settings. Called
// with mu held.
func (p *Parent) startAuthd() error {
	c, err := p.spawn(spawnSpec{
		role: pb.Role_ROLE_AUTHD, path: p.authdExe, title: "imapd: authd", env: childEnv("authd"), dir: "/",
		allowed: []string{"grant", "auth_stats"},
	})
	if err != nil {
		return err
	}
	c.gen = p.gen
	setup := &pb.Setup{
		Role: pb.Role_ROLE_AUTHD, Generation: p.gen, AuthBackend: p.cfg.Auth, PamService: p.cfg.PAMService,
		PasswdFile: absPath(p.cfg.PasswdFile), FirstValidUid: uint32(p.cfg.FirstValidUID), Unprivileged: !p.privileged,
		AuthCacheSeconds: uint32(p.cfg.AuthCache / time.Second),
	}
	if err := c.conn.Send(&pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil); err != nil {
		c.kill()
		return err
	}
	p.authd = c
	go p.readChild(c)
	for _, w := range p.preauth {
		p.connectAuthd(w)
	}
	for _, w := range p.old {
		p.connectAuthd(w)
	}
	return nil
}

func absPath(path string) string {
	if path == "" {
		return ""
	}
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// connectAuthd gives a preauth worker and authd the two ends of a new
// channel. Called with mu held.
func (p *Parent) connectAuthd(w *child) {
	if p.authd == nil {
		return
	}
	a, b, err := ipc.Socketpair()
	if err != nil {
		p.log.Error("authd channel", "err", err)
		return
	}
	defer a.Close()
	defer b.Close()
	msg := func() *pb.Envelope {
		return &pb.Envelope{Body: &pb.Envelope_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: w.id}}}
	}
	if err := p.authd.conn.Send(msg(), a); err != nil {
		p.log.Error("authd channel to authd", "err", err)
		return
	}
	if err := w.conn.Send(msg(), b); err != nil {
		p.log.Error("authd channel to preauth", "worker", w.id, "err", err)
	}
}

// startPreauth starts preauth worker id of the current generation. Called
// with mu held.
func (p *Parent) startPreauth(id uint32) error {
	c, err := p.spawn(spawnSpec{
		role: pb.Role_ROLE_PREAUTH, path: p.exe, title: "imapd: preauth", env: childEnv("preauth"), dir: "/",
		allowed: []string{"conn_done", "handoff"},
	})
	if err != nil {
		return err
	}
	c.id, c.gen = id, p.gen
	setup := &pb.Setup{
		Role: pb.Role_ROLE_PREAUTH, Generation: p.gen, WorkerId: id, Certs: p.certs,
		PlaintextAuth: string(p.cfg.PlaintextAuth), LoginTimeoutSeconds: uint32(p.cfg.LoginTimeout / time.Second),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	if p.privileged {
		setup.PreauthUser, setup.Chroot = p.cfg.PreauthUser, p.cfg.PreauthChroot
	}
	if err := c.conn.Send(&pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil); err != nil {
		c.kill()
		return err
	}
	p.preauth[id] = c
	p.connectAuthd(c)
	go p.readChild(c)
	return nil
}

// startMailbox starts the mailbox worker of the user a grant names, with
// that user's ids (DESIGN §1).
func (p *Parent) startMailbox(gr *pb.Grant) (*child, error) {
	spec := spawnSpec{
		role: pb.Role_ROLE_MAILBOX, path: p.exe, title: "imapd: mailbox " + gr.User, env: childEnv("mailbox"),
		dir: "/", allowed: []string{"session_done"},
	}
	if p.privileged {
		spec.cred = &syscall.Credential{Uid: gr.Uid, Gid: gr.Gid, Groups: gr.Groups}
		spec.env = append(spec.env, "HOME="+gr.Home, "USER="+gr.User)
	}
	c, err := p.spawn(spec)
	if err != nil {
		return nil, err
	}
	c.user, c.uid, c.gen = gr.User, gr.Uid, p.gen
	setup := &pb.Setup{
		Role: pb.Role_ROLE_MAILBOX, Generation: p.gen, User: gr.User, Uid: gr.Uid, Gid: gr.Gid, Home: gr.Home,
		Storage: p.cfg.Storage, MaildirPath: absPath(p.cfg.MaildirPath),
		AutologoutSeconds: uint32(p.cfg.Autologout / time.Second), AppendLimit: uint64(p.cfg.AppendLimit),
		MaxLine: uint32(p.cfg.LineLimit),
	}
	q := p.cfg.QuotaFor(gr.User)
	setup.QuotaStorage, setup.QuotaMessages = uint64(q.Storage), uint64(q.Messages)
	if err := c.conn.Send(&pb.Envelope{Body: &pb.Envelope_Setup{Setup: setup}}, nil); err != nil {
		c.kill()
		return nil, err
	}
	go p.readChild(c)
	return c, nil
}

// readChild is the flat switch over what one child may send; a message a
// role may not send, or one that does not decode, drops that child.
func (p *Parent) readChild(c *child) {
	defer p.childExited(c)
	for {
		env, fd, err := c.conn.Recv()
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) {
				p.log.Error("bad message; dropping the child", "child", roleName(c.role), "pid", c.pid, "err", err)
				c.kill()
			}
			return
		}
		switch b := env.Body.(type) {
		case *pb.Envelope_ConnDone:
			p.connDone(c, b.ConnDone.ConnId)
		case *pb.Envelope_Handoff:
			p.handoff(c, b.Handoff, fd)
			fd = nil
		case *pb.Envelope_Grant:
			p.grant(c, b.Grant)
		case *pb.Envelope_AuthStats:
			select {
			case p.authStats <- b.AuthStats:
			default:
			}
		case *pb.Envelope_SessionDone:
			p.sessionDone(c, b.SessionDone.SessionId)
		}
		if fd != nil {
			fd.Close()
		}
	}
}

func (p *Parent) grant(c *child, g *pb.Grant) {
	p.mu.Lock()
	if g.ExpiryUnixNano == 0 || g.ExpiryUnixNano > p.now().Add(grantTTL).UnixNano() {
		g.ExpiryUnixNano = p.now().Add(grantTTL).UnixNano()
	}
	p.grants.add(g)
	p.mu.Unlock()
	if err := c.conn.Send(&pb.Envelope{Id: 0, Body: &pb.Envelope_GrantAck{GrantAck: &pb.GrantAck{Token: g.Token}}}, nil); err != nil {
		p.log.Error("grant ack", "err", err)
	}
}

// handoff redeems a preauth worker's token and passes the connection to the
// user's mailbox worker, starting one when the user has none.
func (p *Parent) handoff(w *child, h *pb.Handoff, fd *os.File) {
	refuse := func(reason string) {
		p.log.Warn("handoff refused", "worker", w.id, "pid", w.pid, "conn", h.ConnId, "reason", reason)
		if fd != nil {
			fd.Close()
		}
		w.conn.Send(&pb.Envelope{Body: &pb.Envelope_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: h.ConnId, Reason: reason}}}, nil)
	}
	if fd == nil {
		refuse("no descriptor")
		return
	}
	defer fd.Close()
	p.mu.Lock()
	if w.role != pb.Role_ROLE_PREAUTH {
		p.mu.Unlock()
		refuse("not a preauth worker")
		return
	}
	gr, err := p.grants.redeem(h.Token, w.id, h.ConnId)
	if err != nil {
		p.mu.Unlock()
		refuse(err.Error())
		return
	}
	if ci := p.conns[h.ConnId]; ci != nil {
		ci.handedOff, ci.user = true, gr.User
	}
	p.mu.Unlock()
	mb, err := p.deliverSession(gr, h, fd)
	if err != nil {
		p.log.Error("new session", "user", gr.User, "err", err)
		return
	}
	p.log.Info("login", "user", gr.User, "peer", h.RemoteAddr, "conn", h.ConnId, "tls", h.Tls, "mailbox_pid", mb.pid)
	w.conn.Send(&pb.Envelope{Body: &pb.Envelope_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: h.ConnId, Ok: true}}}, nil)
}

// deliverSession passes a redeemed connection to the user's mailbox worker,
// starting one if needed. A worker that has just died (its channel fails
// before its exit is noticed) is replaced at once, since the descriptor is
// still ours to pass.
func (p *Parent) deliverSession(gr *pb.Grant, h *pb.Handoff, fd *os.File) (*child, error) {
	msg := &pb.Envelope{Body: &pb.Envelope_NewSession{NewSession: &pb.NewSession{SessionId: h.ConnId, Handoff: h, User: gr.User}}}
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		mb := p.mailboxes[gr.User]
		if mb == nil {
			var err error
			if mb, err = p.spawnMailbox(gr); err != nil {
				p.mu.Unlock()
				return nil, fmt.Errorf("cannot start mailbox worker: %w", err)
			}
			p.mailboxes[gr.User] = mb
		}
		mb.load++
		p.mu.Unlock()
		err := mb.conn.Send(msg, fd)
		if err == nil {
			return mb, nil
		}
		p.mu.Lock()
		mb.load--
		if p.mailboxes[gr.User] == mb {
			delete(p.mailboxes, gr.User)
		}
		p.mu.Unlock()
		mb.kill()
		if attempt > 0 {
			return nil, err
		}
		p.log.Warn("mailbox worker gone; starting another", "user", gr.User, "pid", mb.pid, "err", err)
	}
}

func (p *Parent) connDone(w *child, id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.load > 0 {
		w.load--
	}
	if ci := p.conns[id]; ci != nil && !ci.handedOff {
		p.releaseConn(id)
	}
}

func (p *Parent) sessionDone(mb *child, id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mb.load > 0 {
		mb.load--
	}
	p.releaseConn(id)
	if mb.load == 0 && p.cfg.Storage == config.StorageMaildir {
		time.AfterFunc(mailboxIdle, func() { p.retireIdleMailbox(mb) })
	}
}

// retireIdleMailbox stops a mailbox worker that stayed without sessions. The
// map entry goes first, under the lock, so a login never picks a worker that
// is on its way out.
func (p *Parent) retireIdleMailbox(mb *child) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mb.load != 0 || p.mailboxes[mb.user] != mb {
		return
	}
	delete(p.mailboxes, mb.user)
	mb.draining = true
	mb.conn.Send(&pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: "idle"}}}, nil)
}

// releaseConn forgets a connection. Called with mu held.
func (p *Parent) releaseConn(id uint64) {
	ci := p.conns[id]
	if ci == nil {
		return
	}
	delete(p.conns, id)
	if p.perIP[ci.ip]--; p.perIP[ci.ip] <= 0 {
		delete(p.perIP, ci.ip)
	}
}

// childExited reaps a child and restarts what the parent supervises.
func (p *Parent) childExited(c *child) {
	var err error
	if c.cmd != nil {
		err = c.cmd.Wait()
	}
	close(c.exited)
	c.conn.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Info("child exited", "child", roleName(c.role), "pid", c.pid, "user", c.user, "status", exitStatus(err))
	if p.stopping {
		return
	}
	switch c.role {
	case pb.Role_ROLE_AUTHD:
		if p.authd == c {
			p.authd = nil
			p.restartLater(func() error { return p.startAuthd() }, "authd")
		}
	case pb.Role_ROLE_PREAUTH:
		if p.preauth[c.id] == c {
			delete(p.preauth, c.id)
			id := c.id
			p.restartLater(func() error {
				if _, taken := p.preauth[id]; taken {
					return nil
				}
				return p.startPreauth(id)
			}, "preauth")
		}
		p.removeOld(c)
		for id, ci := range p.conns {
			if ci.worker == c && !ci.handedOff {
				p.releaseConn(id)
			}
		}
	case pb.Role_ROLE_MAILBOX:
		if p.mailboxes[c.user] == c {
			delete(p.mailboxes, c.user)
		}
		for id, ci := range p.conns {
			if ci.handedOff && ci.user == c.user {
				p.releaseConn(id)
			}
		}
	}
}

func (p *Parent) removeOld(c *child) {
	for i, o := range p.old {
		if o == c {
			p.old = append(p.old[:i], p.old[i+1:]...)
			return
		}
	}
}

// restartLater restarts a crashed child after a short pause, doubling the
// pause while it keeps failing to start. Called with mu held.
func (p *Parent) restartLater(start func() error, what string) {
	delay := 100 * time.Millisecond
	var try func()
	try = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopping {
			return
		}
		if err := start(); err != nil {
			p.log.Error("restart failed", "child", what, "err", err, "retry_in", delay*2)
			if delay < 5*time.Second {
				delay *= 2
			}
			time.AfterFunc(delay, try)
			return
		}
		p.log.Info("restarted", "child", what)
	}
	time.AfterFunc(delay, try)
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// shutdown stops accepting, tells every child to end its sessions with BYE,
// and waits a bounded time before killing what is left.
func (p *Parent) shutdown(reason string) {
	p.mu.Lock()
	p.stopping = true
	for k, l := range p.listeners {
		l.close()
		delete(p.listeners, k)
	}
	var all []*child
	for _, c := range p.preauth {
		all = append(all, c)
	}
	all = append(all, p.old...)
	for _, c := range p.mailboxes {
		all = append(all, c)
	}
	if p.authd != nil {
		all = append(all, p.authd)
	}
	p.mu.Unlock()
	for _, c := range all {
		c.conn.Send(&pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: reason}}}, nil)
	}
	deadline := time.After(8 * time.Second)
	for _, c := range all {
		select {
		case <-c.exited:
		case <-deadline:
			p.log.Warn("child did not stop in time; killing", "child", roleName(c.role), "pid", c.pid)
			c.kill()
			<-c.exited
		}
	}
}

// lookupGroup resolves the control group name to a gid (-1: none).
func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(g.Gid)
}
