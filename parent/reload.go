package parent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"imapd/ipc"
	"imapd/parent/config"
	"imapd/parent/control"
	pb "imapd/proto"
)

// Reload re-reads the configuration and applies it without ending sessions:
// a broken configuration is refused and the running one kept; listeners
// change in place; a new generation of preauth workers starts, and only once
// all of it is ready does the old one drain (docs/design.md#reload). Reading
// files and looking up users happen here, off the loop.
func (p *Parent) Reload() error {
	if p.opts.Reload == nil {
		return errors.New("reloading is not configured")
	}
	cfg, err := p.opts.Reload()
	if err != nil {
		return err
	}
	certs, err := readCerts(cfg)
	if err != nil {
		return err
	}
	uid := p.lookupPreauthUID(cfg)
	var rerr error
	var done chan error
	if err := p.call(func() {
		if rerr = p.reload(cfg, certs, uid); rerr == nil {
			done = p.pending.done
		}
	}); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	// The answer waits for the new generation to serve (or to fail), so
	// that imapctl reload says which; the loop does not wait.
	select {
	case err := <-done:
		return err
	case <-time.After(reloadWait):
		return errors.New("new preauth workers not ready yet; the running generation keeps serving")
	}
}

// reloadWait bounds Reload's wait for the new generation.
const reloadWait = 10 * time.Second

func (p *Parent) reload(cfg *config.Config, certs []*pb.TLSCert, uid uint32) error {
	if p.stopping {
		return errors.New("shutting down")
	}
	if err := proxyReloadable(p.cfg, cfg); err != nil {
		return err
	}
	if err := p.applyListeners(cfg); err != nil {
		return err
	}
	old := p.cfg
	p.cfg, p.certs, p.preauthUID = cfg, certs, uid
	p.gen++
	// The new generation's keys reach keyd before any of its workers'
	// channels do (one outbox, in order).
	switch {
	case len(certs) > 0 && p.keyd == nil:
		p.startKeyd()
	case p.keyd != nil:
		p.loadKeys(p.gen)
	}
	if p.pending != nil {
		// A newer configuration replaces a generation still starting;
		// none of its workers served, so keyd may drop its keys now.
		p.retiring[p.pending.gen] = true
		p.retireKeys(p.pending.gen, "replaced before it served")
		for _, c := range p.pending.slots {
			if c != nil {
				delete(p.workers, c.id)
				c.draining = true
				c.kill()
			}
		}
	}
	p.pending = p.newGeneration(cfg.PreauthWorkers)
	p.pending.done = make(chan error, 1)
	if authChanged(old, cfg) && p.authd != nil {
		// The new authd starts when the old one's exit is noticed.
		p.shutdownChild(p.authd, "reload", false)
	}
	p.log.Info("reloading", "generation", p.gen, "listeners", len(p.listeners), "preauth_workers", cfg.PreauthWorkers)
	return nil
}

func authChanged(a, b *config.Config) bool {
	return a.Auth != b.Auth || a.PAMService != b.PAMService || a.PasswdFile != b.PasswdFile || a.AuthUser != b.AuthUser ||
		a.FirstValidUID != b.FirstValidUID || a.AuthCache != b.AuthCache
}

// serveControl opens the control socket imapctl talks to.
func (p *Parent) serveControl() (func(), error) {
	var path, group string
	if err := p.call(func() { path, group = p.cfg.ControlSocket, p.cfg.ControlGroup }); err != nil {
		return nil, err
	}
	if path == "" {
		return func() {}, nil
	}
	gid, err := lookupGroup(group)
	if err != nil {
		return nil, fmt.Errorf("control group %q: %w", group, err)
	}
	return control.Serve(context.Background(), path, gid, p, p.log)
}

// Status reports the running server for imapctl status, all of it derived
// from the connection table and the children the loop knows.
func (p *Parent) Status() *pb.StatusReport {
	stats := p.fetchAuthStats()
	var r *pb.StatusReport
	if err := p.call(func() { r = p.status() }); err != nil {
		return &pb.StatusReport{StartedUnix: p.started.Unix()}
	}
	r.Auth = stats
	return r
}

func (p *Parent) status() *pb.StatusReport {
	l := limitsOf(p.cfg)
	r := &pb.StatusReport{StartedUnix: p.started.Unix(), Generation: p.gen, PreauthConnections: uint32(p.conns.prelogin),
		PreauthLimits: &pb.PreauthLimits{PerAddress: uint32(l.preIP), PerNet64: uint32(l.pre64), PerNet24: uint32(l.pre24), Total: uint32(l.preTotal)}}
	for pre, n := range p.conns.prePrefix {
		if lim := l.prePrefix(pre.Addr()); lim > 0 && n >= lim {
			r.PreauthLimits.PrefixesAtLimit++
		}
	}
	for _, l := range p.listeners {
		r.Listeners = append(r.Listeners, &pb.ListenerInfo{Address: l.ln.Addr().String(), Kind: kindOf(l.spec.Kind)})
	}
	sort.Slice(r.Listeners, func(i, j int) bool { return r.Listeners[i].Address < r.Listeners[j].Address })
	r.Processes = append(r.Processes, &pb.ProcessInfo{Role: pb.Role_ROLE_PARENT, Pid: int32(os.Getpid()), Generation: p.gen, Uid: uint32(os.Getuid())})
	users := map[string]uint32{}
	for c := range p.children {
		if c.killed {
			continue
		}
		uid := uint32(os.Getuid())
		switch c.role {
		case pb.Role_ROLE_MAILBOX:
			uid = c.uid
			users[c.user] += uint32(p.conns.held(c))
		case pb.Role_ROLE_PREAUTH:
			uid = p.preauthUID
		}
		r.Processes = append(r.Processes, &pb.ProcessInfo{Role: c.role, Pid: int32(c.pid), Generation: c.gen, User: c.user, Uid: uid, Sessions: uint32(p.conns.held(c))})
	}
	hibernated := map[string]uint32{}
	for _, row := range p.hibernatedOf("") {
		hibernated[row.user]++
		if _, ok := users[row.user]; !ok {
			users[row.user] = 0
		}
	}
	for u, n := range users {
		r.Sessions = append(r.Sessions, &pb.UserSessions{User: u, Sessions: n, Hibernated: hibernated[u]})
	}
	sort.Slice(r.Sessions, func(i, j int) bool { return r.Sessions[i].User < r.Sessions[j].User })
	sort.SliceStable(r.Processes, func(i, j int) bool {
		a, b := r.Processes[i], r.Processes[j]
		return a.Role < b.Role || a.Role == b.Role && a.Pid < b.Pid
	})
	r.Sandbox = sandboxFeatures(p.privileged)
	p.proxyStatus(r)
	return r
}

// fetchAuthStats asks authd for its counters and waits at most statsWait.
func (p *Parent) fetchAuthStats() *pb.AuthStats {
	ch := make(chan *pb.AuthStats, 1)
	asked := false
	p.call(func() {
		if p.authd == nil {
			return
		}
		asked = true
		// Every request asks again: an authd that stopped answering then
		// fills its outbox and is killed, and the waiters it never answered
		// are dropped with it (see childExited).
		p.statsWait = append(p.statsWait, ch)
		p.toAuthd(p.authd, &pb.ToAuthd{Body: &pb.ToAuthd_StatsRequest{StatsRequest: &pb.StatsRequest{}}}, nil)
	})
	if !asked {
		return nil
	}
	select {
	case s := <-ch:
		return s
	case <-time.After(statsWait):
		return nil
	}
}

// authTestWait bounds imapctl auth test: a PAM check takes a fraction of
// a second; a backend that hangs must not hang imapctl.
const authTestWait = 10 * time.Second

// AuthTest checks user's password through authd as a login would,
// without a session, and says where the user's mail would be served from.
func (p *Parent) AuthTest(user string, password []byte) (*pb.AuthTestResult, error) {
	ch := make(chan *pb.AuthTestResult, 1)
	var storage, base string
	var err error
	if cerr := p.call(func() {
		if p.authd == nil {
			err = errors.New("authd is not running")
			return
		}
		if p.authTests == nil {
			p.authTests = map[uint64]chan *pb.AuthTestResult{}
		}
		p.nextTest++
		p.authTests[p.nextTest] = ch
		p.toAuthd(p.authd, &pb.ToAuthd{Id: p.nextTest, Body: &pb.ToAuthd_AuthTest{AuthTest: &pb.AuthTest{User: []byte(user), Password: password}}}, nil)
		storage, base = p.cfg.Storage, absPath(p.cfg.MaildirPath)
	}); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, errors.New("authd exited before answering")
		}
		if r.Result == pb.AuthResult_AUTH_OK {
			r.Mail = mailOf(storage, base, r.User, r.Home)
		}
		return r, nil
	case <-time.After(authTestWait):
		return nil, fmt.Errorf("authd did not answer within %v", authTestWait)
	}
}

// mailOf is where a mailbox worker serves user's mail from, as the
// maildir store finds it: BASE/USER with a base path, else ~/Maildir.
func mailOf(storage, base, user, home string) string {
	switch {
	case storage == config.StorageMemory:
		return "memory (lost when imapd stops)"
	case base != "":
		return "maildir " + filepath.Join(base, user)
	case home != "":
		return "maildir " + filepath.Join(home, "Maildir")
	}
	return "maildir: the account has no home directory"
}

// Who lists every connection the parent holds: users, peers, TLS, since.
func (p *Parent) Who() []*pb.SessionInfo {
	var out []*pb.SessionInfo
	p.call(func() { out = p.who() })
	sort.Slice(out, func(i, j int) bool {
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].ConnId < out[j].ConnId
	})
	return out
}

func (p *Parent) who() []*pb.SessionInfo {
	var out []*pb.SessionInfo
	for _, r := range p.conns.rows {
		st := "prelogin"
		switch {
		case r.hib != nil:
			st = "hibernated"
		case r.state == connHanded:
			st = "session"
		}
		out = append(out, &pb.SessionInfo{ConnId: r.id, User: r.user, Peer: r.remote,
			Tls: r.tls || r.kind == pb.ListenerKind_LISTENER_TLS, SinceUnix: r.since.Unix(), State: st})
	}
	return out
}

// Kick ends every session of user. It only queues the request: the mailbox
// worker ends the sessions itself, with its own deadline.
func (p *Parent) Kick(user string) (int, error) {
	var n int
	var err error
	if cerr := p.call(func() {
		if p.proxy != nil {
			if n = p.proxyKick(user); n == 0 {
				err = fmt.Errorf("%s has no sessions", user)
			}
			return
		}
		for _, r := range p.hibernatedOf(user) {
			p.endHibernated(r, "Administrator ended the session")
			n++
		}
		e := p.mailboxes[user]
		if e == nil || e.c == nil {
			if n == 0 {
				err = fmt.Errorf("%s has no sessions", user)
			}
			return
		}
		n += p.conns.held(e.c)
		p.toMailbox(e.c, &pb.ToMailbox{Body: &pb.ToMailbox_Kick{Kick: &pb.Kick{User: user}}}, nil)
	}); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// sandboxFeatures names the restrictions the children run under, as
// detected at start, for imapctl status. The workers check from inside that
// each one holds and refuse to serve otherwise.
func sandboxFeatures(privileged bool) []string {
	var f []string
	if privileged {
		f = append(f, "preauth: chroot, setuid to the preauth user", "mailbox: setuid to the user")
	} else {
		f = append(f, "unprivileged mode: no chroot, no setuid")
	}
	f = append(f, "no-new-privs on every thread")
	if abi := ipc.LandlockABI(); abi > 0 {
		f = append(f, fmt.Sprintf("landlock abi %d: preauth without file system, mailbox confined to its Maildir, no TCP connect", abi))
	}
	if ipc.SeccompAvailable() && ipc.HasAllowlist() {
		f = append(f, "seccomp allowlist per role ("+runtime.GOARCH+"): no exec, no new processes, no socket(2), no sendto to a path")
	}
	// Under `sandbox prefer` the server runs without these; under require
	// it would not have started (docs/security.md).
	for _, m := range ipc.Missing() {
		f = append(f, "WARNING: running without "+m)
	}
	return append(f, "preauth rlimits: fsize 0, nproc 4096")
}
