package parent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"sort"
	"strconv"
	"time"

	"imapd/ipc"
	"imapd/parent/config"
	"imapd/parent/control"
	pb "imapd/proto"
)

// Reload re-reads the configuration and applies it without ending sessions:
// a broken configuration is refused and the running one kept; listeners
// change in place; a new generation of preauth workers starts and the old
// one drains (DESIGN §5).
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
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return errors.New("shutting down")
	}
	if err := p.applyListeners(cfg); err != nil {
		return err
	}
	old := p.cfg
	p.cfg, p.certs = cfg, certs
	p.gen++
	for id, w := range p.preauth {
		w.draining = true
		p.old = append(p.old, w)
		delete(p.preauth, id)
		w.conn.Send(&pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: "reload", Drain: true}}}, nil)
	}
	var errs []error
	for i := 0; i < cfg.PreauthWorkers; i++ {
		if err := p.startPreauth(uint32(i)); err != nil {
			errs = append(errs, err)
		}
	}
	if authChanged(old, cfg) && p.authd != nil {
		// The new authd starts when the old one's exit is noticed.
		p.authd.conn.Send(&pb.Envelope{Body: &pb.Envelope_Shutdown{Shutdown: &pb.Shutdown{Reason: "reload"}}}, nil)
	}
	p.log.Info("reloaded", "generation", p.gen, "listeners", len(p.listeners), "preauth_workers", cfg.PreauthWorkers)
	return errors.Join(errs...)
}

func authChanged(a, b *config.Config) bool {
	return a.Auth != b.Auth || a.PAMService != b.PAMService || a.PasswdFile != b.PasswdFile ||
		a.FirstValidUID != b.FirstValidUID || a.AuthCache != b.AuthCache
}

// serveControl opens the control socket imapctl talks to.
func (p *Parent) serveControl() (func(), error) {
	p.mu.Lock()
	path, group := p.cfg.ControlSocket, p.cfg.ControlGroup
	p.mu.Unlock()
	if path == "" {
		return func() {}, nil
	}
	gid, err := lookupGroup(group)
	if err != nil {
		return nil, fmt.Errorf("control group %q: %w", group, err)
	}
	return control.Serve(context.Background(), path, gid, p, p.log)
}

// Status reports the running server for imapctl status.
func (p *Parent) Status() *pb.StatusReport {
	stats := p.fetchAuthStats()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &pb.StatusReport{StartedUnix: p.started.Unix(), Generation: p.gen, PreauthConnections: 0, Auth: stats}
	for _, l := range p.listeners {
		r.Listeners = append(r.Listeners, &pb.ListenerInfo{Address: l.ln.Addr().String(), Kind: kindOf(l.spec.Kind)})
	}
	sort.Slice(r.Listeners, func(i, j int) bool { return r.Listeners[i].Address < r.Listeners[j].Address })
	r.Processes = append(r.Processes, &pb.ProcessInfo{Role: pb.Role_ROLE_PARENT, Pid: int32(os.Getpid()), Generation: p.gen, Uid: uint32(os.Getuid())})
	add := func(c *child) {
		r.Processes = append(r.Processes, &pb.ProcessInfo{Role: c.role, Pid: int32(c.pid), Generation: c.gen, User: c.user, Uid: p.childUID(c), Sessions: uint32(c.load)})
	}
	if p.authd != nil {
		add(p.authd)
	}
	for _, c := range p.preauth {
		add(c)
	}
	for _, c := range p.old {
		add(c)
	}
	users := map[string]uint32{}
	for _, c := range p.mailboxes {
		add(c)
		users[c.user] += uint32(c.load)
	}
	for _, ci := range p.conns {
		if !ci.handedOff {
			r.PreauthConnections++
		}
	}
	for u, n := range users {
		r.Sessions = append(r.Sessions, &pb.UserSessions{User: u, Sessions: n})
	}
	sort.Slice(r.Sessions, func(i, j int) bool { return r.Sessions[i].User < r.Sessions[j].User })
	sort.SliceStable(r.Processes, func(i, j int) bool { return r.Processes[i].Role < r.Processes[j].Role })
	r.Sandbox = sandboxFeatures(p.privileged)
	return r
}

// childUID is the uid a child runs as: preauth workers drop to the preauth
// user themselves, mailbox workers start as their user.
func (p *Parent) childUID(c *child) uint32 {
	if c.role == pb.Role_ROLE_MAILBOX {
		return c.uid
	}
	if c.role == pb.Role_ROLE_PREAUTH && p.privileged {
		if u, err := user.Lookup(p.cfg.PreauthUser); err == nil {
			if uid, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
				return uint32(uid)
			}
		}
	}
	return uint32(os.Getuid())
}

func (p *Parent) fetchAuthStats() *pb.AuthStats {
	p.mu.Lock()
	a := p.authd
	p.mu.Unlock()
	if a == nil {
		return nil
	}
	select { // drop a stale answer
	case <-p.authStats:
	default:
	}
	if err := a.conn.Send(&pb.Envelope{Body: &pb.Envelope_StatsRequest{StatsRequest: &pb.StatsRequest{}}}, nil); err != nil {
		return nil
	}
	select {
	case s := <-p.authStats:
		return s
	case <-time.After(time.Second):
		return nil
	}
}

// Kick ends every session of user.
func (p *Parent) Kick(user string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	mb := p.mailboxes[user]
	if mb == nil {
		return 0, fmt.Errorf("%s has no sessions", user)
	}
	n := mb.load
	return n, mb.conn.Send(&pb.Envelope{Body: &pb.Envelope_Kick{Kick: &pb.Kick{User: user}}}, nil)
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
	} else {
		f = append(f, "WARNING: no Landlock in this kernel")
	}
	if ipc.SeccompAvailable() {
		f = append(f, "seccomp: workers cannot exec, fork, open network sockets or ptrace")
	} else {
		f = append(f, "WARNING: no seccomp in this kernel")
	}
	return append(f, "preauth rlimits: fsize 0, nproc 4096")
}
