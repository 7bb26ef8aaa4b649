package parent

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"imapd/authd/ticket"
	"imapd/parent/config"
	pb "imapd/proto"
)

// The proxy tier (docs/cluster.md): after authd grants a login, the parent
// dials the user's backend and hands the socket, with a one-time ticket, to
// the preauth worker that holds the client, which logs in there and relays
// the two. The preauth worker opens no socket and never holds the master
// secret; the parent never reads the client's bytes.

const backendDialWait = 3 * time.Second

// proxyState is the loop's view of the ring. Loop state only.
type proxyState struct {
	master   string
	secret   []byte
	backends []*backendState // in configuration order
	byName   map[string]*backendState
	ring     *ring             // over the healthy backends
	pins     map[string]string // user -> backend, by imapctl move
	ca       []byte            // proxy tls ca: the backends' CA, PEM
	stop     chan struct{}
}

type backendState struct {
	cfg     config.Backend
	healthy bool
	lastErr string
	checked time.Time
}

// proxiedConn is a connection table row's backend, once logged in there.
type proxiedConn struct {
	backend string
	host    string   // the grant's host= override, if any
	sock    *os.File // the parent's copy of the backend socket: kicks shut it down
}

// readProxySecret reads the master secret and the backends' CA as root
// (the secret's trailing white space dropped); nil when not configured.
func readProxySecret(cfg *config.Config) (secret, ca []byte, err error) {
	if cfg.Proxy.TLSCA != "" {
		if ca, err = os.ReadFile(cfg.Proxy.TLSCA); err != nil {
			return nil, nil, fmt.Errorf("proxy tls ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return nil, nil, fmt.Errorf("proxy tls ca %s: no PEM certificate", cfg.Proxy.TLSCA)
		}
	}
	if cfg.Proxy.SecretFile == "" {
		return nil, ca, nil
	}
	b, err := os.ReadFile(cfg.Proxy.SecretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy secret: %w", err)
	}
	b = []byte(strings.TrimRight(string(b), " \t\r\n"))
	if len(b) < 16 {
		return nil, nil, fmt.Errorf("proxy secret %s: shorter than 16 bytes", cfg.Proxy.SecretFile)
	}
	return b, ca, nil
}

// startProxy sets up the ring (every backend healthy until a probe says
// otherwise) and starts the probes. On the loop, at start.
func (p *Parent) startProxy(secret, ca []byte) {
	p.proxySecret = secret
	if !p.cfg.IsProxy() {
		return
	}
	px := &proxyState{master: p.cfg.Proxy.Master(), secret: secret, byName: map[string]*backendState{},
		pins: map[string]string{}, stop: make(chan struct{}), ca: ca}
	for _, b := range p.cfg.Proxy.Backends {
		s := &backendState{cfg: b, healthy: true}
		px.backends = append(px.backends, s)
		px.byName[b.Name] = s
	}
	p.proxy = px
	p.rebuildRing()
	for _, b := range px.backends {
		go p.probeLoop(b.cfg, p.cfg.Proxy.Interval(), px.stop)
	}
	p.log.Info("proxy", "backends", len(px.backends))
}

// proxyReloadable refuses a reload that changes the proxy statements: the
// ring, its probes and the secret are set at start (docs/cluster.md).
func proxyReloadable(old, cfg *config.Config) error {
	if fmt.Sprint(old.Proxy) != fmt.Sprint(cfg.Proxy) {
		return errors.New("the proxy statements changed: restart imapd to apply them")
	}
	return nil
}

// authdProxySetup gives authd the master login's settings (a backend).
func (p *Parent) authdProxySetup(s *pb.AuthdSetup) {
	if len(p.cfg.Proxy.Trusted) == 0 || p.proxySecret == nil {
		return
	}
	s.ProxyMasterUser, s.ProxySecret = p.cfg.Proxy.Master(), p.proxySecret
	for _, t := range p.cfg.Proxy.Trusted {
		s.ProxyTrusted = append(s.ProxyTrusted, t.String())
	}
}

// preauthProxySetup tells a preauth worker how logins are handed off.
func (p *Parent) preauthProxySetup(s *pb.PreauthSetup) {
	s.Proxy = p.proxy != nil
	if p.proxy != nil {
		s.ProxyCaPem = p.proxy.ca
	}
	if len(p.cfg.Proxy.Trusted) > 0 && p.proxySecret != nil {
		s.ProxyMasterUser = p.cfg.Proxy.Master()
	}
}

func (p *Parent) rebuildRing() {
	w := map[string]int{}
	for _, b := range p.proxy.backends {
		if b.healthy {
			w[b.cfg.Name] = b.cfg.Weight
		}
	}
	p.proxy.ring = newRing(w)
}

// target is user's backend now: an imapctl move pin, else the passwd-file's
// host=, else the ring; a pinned or named backend that is down gives way
// to the ring.
func (p *Parent) target(user, host string) string {
	px := p.proxy
	for _, name := range []string{px.pins[user], host} {
		if b := px.byName[name]; b != nil && b.healthy {
			return name
		}
	}
	return px.ring.lookup(user)
}

// kickElsewhere ends user's proxied sessions that are not on backend: the
// old backend's sessions go before the new one gets a login, so no two
// backends serve one user's Maildir (docs/cluster.md, "Affinity").
func (p *Parent) kickElsewhere(user, backend string) int {
	n := 0
	for _, r := range p.conns.rows {
		if r.user == user && r.proxy != nil && r.proxy.backend != backend {
			p.log.Info("proxy kick", "user", user, "backend", r.proxy.backend, "now", backend, "conn", r.id)
			syscall.Shutdown(int(r.proxy.sock.Fd()), syscall.SHUT_RDWR)
			r.proxy.backend = "" // counted nowhere until its preauth worker reports it done
			n++
		}
	}
	return n
}

// rebalance kicks every session whose user now belongs elsewhere: after a
// ring change or a move.
func (p *Parent) rebalance() {
	for _, r := range p.conns.rows {
		if r.proxy != nil && r.proxy.backend != "" {
			if t := p.target(r.user, r.proxy.host); t != r.proxy.backend {
				p.kickElsewhere(r.user, t)
			}
		}
	}
}

// proxyHandoff replaces the mailbox worker's part of handoff on a proxy:
// the parent dials the backend (the worker may not connect) and gives the
// worker the socket with a one-time ticket for the login there; the worker
// does STARTTLS and the login, and relays.
func (p *Parent) proxyHandoff(w *child, r *connRow, h *pb.Handoff, gr *pb.Grant) {
	p.conns.handOff(r, nil, gr.User)
	r.delivering, r.tls = true, h.Tls
	fail := func(reason string) {
		r.delivering = false
		p.log.Warn("proxied login failed", "user", gr.User, "peer", r.remote, "conn", r.id, "reason", reason)
		p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_HandoffResult{HandoffResult: &pb.HandoffResult{ConnId: r.id, Reason: reason}}}, nil)
		if p.conns.rows[r.id] == r {
			p.conns.removeIfDone(r)
		}
	}
	name := p.target(gr.User, gr.ProxyHost)
	b := p.proxy.byName[name]
	if b == nil {
		fail("no backend available")
		return
	}
	p.kickElsewhere(gr.User, name)
	addr, user, id, host := b.cfg.Address, gr.User, r.id, gr.ProxyHost
	go func() {
		fd, err := dialBackend(addr)
		p.post(func() {
			if p.conns.rows[id] != r || r.worker != w {
				if fd != nil {
					fd.Close()
				}
				return
			}
			if err != nil {
				fail(name + ": " + err.Error())
				return
			}
			own, err := dupFile(fd)
			if err != nil {
				fd.Close()
				fail(err.Error())
				return
			}
			r.delivering = false
			r.proxy = &proxiedConn{backend: name, host: host, sock: own}
			if t := p.target(user, host); t != name {
				// The ring changed while we dialled: this session goes too.
				p.kickElsewhere(user, t)
			}
			client := ""
			if ap, err := netip.ParseAddrPort(r.remote); err == nil {
				client = ap.Addr().String()
			}
			login := base64.StdEncoding.EncodeToString([]byte(user + "\x00" + p.proxy.master + "\x00" +
				ticket.Make(p.proxy.secret, user, client, p.now())))
			serverName, _, _ := net.SplitHostPort(addr)
			p.log.Info("login", "user", user, "peer", r.remote, "conn", id, "tls", h.Tls, "backend", name)
			p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_HandoffResult{HandoffResult: &pb.HandoffResult{
				ConnId: id, Ok: true, BackendLogin: login, BackendId: forwardedID(r.remote, r.local, id),
				BackendServerName: serverName}}}, fd)
		})
	}()
}

// dialBackend connects to a backend, off the loop.
func dialBackend(addr string) (*os.File, error) {
	c, err := net.DialTimeout("tcp", addr, backendDialWait)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*net.TCPConn).File()
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// imapQuote makes s an IMAP quoted string (RFC 9051 §4.3); the values
// here are addresses and numbers.
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// forwardedID is the ID command's arguments (RFC 2971) that tell the backend the
// client's real address, with the field names Dovecot's proxies use.
func forwardedID(remote, local string, conn uint64) string {
	var f []string
	add := func(k, v string) { f = append(f, imapQuote(k), imapQuote(v)) }
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		add("x-originating-ip", ap.Addr().String())
		add("x-originating-port", fmt.Sprint(ap.Port()))
	}
	if ap, err := netip.ParseAddrPort(local); err == nil {
		add("x-connected-ip", ap.Addr().String())
		add("x-connected-port", fmt.Sprint(ap.Port()))
	}
	add("x-session-id", fmt.Sprint(conn))
	return "(" + strings.Join(f, " ") + ")"
}

// probeLoop checks one backend every interval: greeting, then CAPABILITY.
func (p *Parent) probeLoop(b config.Backend, every time.Duration, stop chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		err := probe(b.Address, every)
		p.post(func() { p.probed(b.Name, err) })
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func probe(addr string, wait time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("greeting %q: %v", strings.TrimSpace(line), err)
	}
	if _, err := fmt.Fprintf(c, "H1 CAPABILITY\r\nH2 LOGOUT\r\n"); err != nil {
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "H1 ") {
			if !strings.HasPrefix(line, "H1 OK") {
				return fmt.Errorf("CAPABILITY: %q", strings.TrimSpace(line))
			}
			return nil
		}
	}
}

// probed records a probe's result; a change of health changes the ring
// and moves the users it concerns.
func (p *Parent) probed(name string, err error) {
	if p.proxy == nil {
		return
	}
	b := p.proxy.byName[name]
	if b == nil {
		return
	}
	b.checked = p.now()
	healthy := err == nil
	b.lastErr = ""
	if err != nil {
		b.lastErr = err.Error()
	}
	if healthy == b.healthy {
		return
	}
	b.healthy = healthy
	if healthy {
		p.log.Info("backend up: back in the ring", "backend", name)
	} else {
		p.log.Warn("backend down: out of the ring", "backend", name, "err", b.lastErr)
	}
	p.rebuildRing()
	p.rebalance()
}

// proxyKick ends user's proxied sessions.
func (p *Parent) proxyKick(user string) int { return p.kickElsewhere(user, "") }

// Move pins user to backend (imapctl move) and kicks their sessions
// elsewhere; their next login lands there.
func (p *Parent) Move(user, backend string) (int, error) {
	var n int
	var err error
	if cerr := p.call(func() {
		if p.proxy == nil {
			err = errors.New("not a proxy")
			return
		}
		if p.proxy.byName[backend] == nil {
			err = fmt.Errorf("no backend %q", backend)
			return
		}
		p.proxy.pins[user] = backend
		p.log.Info("proxy move", "user", user, "backend", backend)
		n = p.kickElsewhere(user, backend)
	}); cerr != nil {
		return 0, cerr
	}
	return n, err
}

// proxyStatus is the ring for imapctl status: each backend's health and
// the users and sessions it serves, from the connection table.
func (p *Parent) proxyStatus(r *pb.StatusReport) {
	if p.proxy == nil {
		return
	}
	users := map[string]map[string]bool{}
	sessions := map[string]uint32{}
	for _, row := range p.conns.rows {
		if row.proxy != nil && row.proxy.backend != "" {
			if users[row.proxy.backend] == nil {
				users[row.proxy.backend] = map[string]bool{}
			}
			users[row.proxy.backend][row.user] = true
			sessions[row.proxy.backend]++
		}
	}
	for _, b := range p.proxy.backends {
		pb := &pb.ProxyBackend{Name: b.cfg.Name, Address: b.cfg.Address, Weight: uint32(b.cfg.Weight),
			Healthy: b.healthy, LastError: b.lastErr, Users: uint32(len(users[b.cfg.Name])), Sessions: sessions[b.cfg.Name]}
		if !b.checked.IsZero() {
			pb.CheckedUnix = b.checked.Unix()
		}
		for u, to := range p.proxy.pins {
			if to == b.cfg.Name {
				pb.Pinned = append(pb.Pinned, u)
			}
		}
		sort.Strings(pb.Pinned)
		r.ProxyBackends = append(r.ProxyBackends, pb)
	}
}
