package parent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"imapd/parent/config"
	pb "imapd/proto"
)

// listener is one listening socket and its accept loop.
type listener struct {
	spec config.Listener
	ln   *net.TCPListener
	done chan struct{}
}

// close closes the socket; the accept loop ends on its own (it may be
// waiting to post to the loop that calls this).
func (l *listener) close() {
	l.ln.Close()
}

func listenerKey(l config.Listener) string { return l.Addr() + " " + l.Kind.String() }

func kindOf(k config.Kind) pb.ListenerKind {
	switch k {
	case config.TLS:
		return pb.ListenerKind_LISTENER_TLS
	case config.StartTLS:
		return pb.ListenerKind_LISTENER_STARTTLS
	}
	return pb.ListenerKind_LISTENER_PLAIN
}

// applyListeners opens the listeners cfg names that are not open yet and
// closes those it no longer names; unchanged ones keep their sockets. Called
// with mu held.
func (p *Parent) applyListeners(cfg *config.Config) error {
	want := map[string]config.Listener{}
	for _, l := range cfg.Listeners {
		want[listenerKey(l)] = l
	}
	var opened []*listener
	for k, spec := range want {
		if _, ok := p.listeners[k]; ok {
			continue
		}
		// Multipath TCP stays off: Landlock's network rules do not cover it
		// (DESIGN §7), and nothing here needs it.
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		ln, err := lc.Listen(context.Background(), "tcp", spec.Addr())
		if err != nil {
			for _, l := range opened {
				l.close()
			}
			return fmt.Errorf("listen on %s: %w", spec.Addr(), err)
		}
		opened = append(opened, &listener{spec: spec, ln: ln.(*net.TCPListener), done: make(chan struct{})})
	}
	for k, l := range p.listeners {
		if _, ok := want[k]; !ok {
			l.close()
			delete(p.listeners, k)
			p.log.Info("listener closed", "addr", l.spec.String())
		}
	}
	for _, l := range opened {
		p.listeners[listenerKey(l.spec)] = l
		go p.accept(l)
		p.log.Info("listening", "addr", l.ln.Addr().String(), "kind", l.spec.Kind.String())
	}
	return nil
}

func (p *Parent) accept(l *listener) {
	defer close(l.done)
	for {
		conn, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Error("accept", "err", err)
			continue
		}
		a, err := newAccepted(conn, l.spec.Kind)
		if err != nil {
			p.log.Error("connection descriptor", "err", err)
			continue
		}
		p.post(func() { p.admit(a) })
	}
}

// acceptedConn is a client connection the parent holds until a preauth
// worker takes it. The parent never reads client bytes.
type acceptedConn struct {
	conn          *net.TCPConn
	fd            *os.File // a duplicate of conn's descriptor, for passing
	kind          config.Kind
	addr          netip.Addr
	remote, local string
	timer         *time.Timer
}

func newAccepted(conn *net.TCPConn, kind config.Kind) (*acceptedConn, error) {
	f, err := conn.File()
	if err != nil {
		conn.Close()
		return nil, err
	}
	ap := conn.RemoteAddr().(*net.TCPAddr).AddrPort()
	return &acceptedConn{conn: conn, fd: f, kind: kind, addr: ap.Addr().Unmap(),
		remote: conn.RemoteAddr().String(), local: conn.LocalAddr().String()}, nil
}

// refuse ends a connection no worker took. On a TLS listener nothing is
// written: a client there expects a handshake, never cleartext. Else a
// one-line BYE goes out from its own goroutine, with a deadline.
func (a *acceptedConn) refuse(text string) {
	a.fd.Close()
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.kind == config.TLS || text == "" {
		a.conn.Close()
		return
	}
	go func() {
		a.conn.SetWriteDeadline(time.Now().Add(time.Second))
		a.conn.Write([]byte("* BYE [UNAVAILABLE] " + text + "\r\n"))
		a.conn.Close()
	}()
}

// admit applies the connection limits and passes a to the least-loaded
// ready preauth worker of the serving generation; with none ready (start,
// restart, a generation failing) it waits up to workerWait for one.
func (p *Parent) admit(a *acceptedConn) {
	if p.stopping {
		a.refuse("")
		return
	}
	if reason := p.overLimit(a.addr); reason != "" {
		p.log.Warn("connection refused", "peer", a.remote, "reason", reason)
		a.refuse("Too many connections " + reason)
		return
	}
	if p.dispatch(a) {
		return
	}
	p.waiting = append(p.waiting, a)
	a.timer = time.AfterFunc(workerWait, func() {
		p.post(func() {
			for i, w := range p.waiting {
				if w == a {
					p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
					p.log.Error("no preauth worker took the connection", "peer", a.remote)
					a.refuse("Server starting or overloaded, try again")
					return
				}
			}
		})
	})
}

// dispatch gives a to a ready worker; false when there is none.
func (p *Parent) dispatch(a *acceptedConn) bool {
	var w *child
	for _, c := range p.current.slots {
		if c != nil && c.ready && !c.killed && (w == nil || p.conns.held(c) < p.conns.held(w)) {
			w = c
		}
	}
	if w == nil {
		return false
	}
	if a.timer != nil {
		a.timer.Stop()
	}
	r := p.conns.add(a.addr, a.remote, a.local, kindOf(a.kind), w)
	r.since = p.now()
	p.log.Info("connected", "peer", r.remote, "conn", r.id, "listener", a.local, "kind", a.kind.String(), "preauth_pid", w.pid)
	p.toPreauth(w, &pb.ToPreauth{Body: &pb.ToPreauth_NewConn{NewConn: &pb.NewConn{
		ConnId: r.id, Kind: r.kind, LocalAddr: a.local, RemoteAddr: a.remote,
	}}}, a.fd)
	a.conn.Close()
	return true
}

// flushWaiting dispatches connections that waited for a worker.
func (p *Parent) flushWaiting() {
	for len(p.waiting) > 0 && !p.stopping {
		if !p.dispatch(p.waiting[0]) {
			return
		}
		p.waiting = p.waiting[1:]
	}
}

// overLimit says which connection limit a new connection from addr would
// pass ("" when none): every connection per address, and before login per
// address, per prefix (IPv6 /64, IPv4 /24) and overall.
func (p *Parent) overLimit(addr netip.Addr) string {
	l := limitsOf(p.cfg)
	t := p.conns
	if p.cfg.Proxy.IsTrusted(addr) {
		// A proxy brings many clients from one address; their own
		// addresses were limited on the proxy (docs/cluster.md).
		l.perIP, l.preIP, l.pre64, l.pre24 = 0, 0, 0, 0
	}
	switch {
	case l.perIP > 0 && t.perAddr[addr] >= l.perIP:
		return "from your address"
	case l.preIP > 0 && t.preAddr[addr] >= l.preIP:
		return "before login from your address"
	case l.prePrefix(addr) > 0 && t.prePrefix[prefixOf(addr)] >= l.prePrefix(addr):
		return "before login from your network"
	case l.preTotal > 0 && t.prelogin+len(p.waiting) >= l.preTotal:
		return "before login"
	}
	return ""
}

// limits are the connection caps of one configuration.
type limits struct {
	perIP, preIP, pre64, pre24, preTotal int
}

func limitsOf(cfg *config.Config) limits {
	l := limits{perIP: cfg.ConnsPerIP}
	l.preIP, l.pre64, l.pre24, l.preTotal = cfg.PreloginLimits()
	return l
}

func (l limits) prePrefix(a netip.Addr) int {
	if a.Is6() {
		return l.pre64
	}
	return l.pre24
}
