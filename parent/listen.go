package parent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"imapd/parent/config"
	pb "imapd/proto"
)

// listener is one listening socket and its accept loop.
type listener struct {
	spec config.Listener
	ln   *net.TCPListener
	done chan struct{}
}

func (l *listener) close() {
	l.ln.Close()
	<-l.done
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
		p.dispatch(conn, l.spec.Kind)
	}
}

// dispatch passes a new connection to the least-loaded preauth worker and
// closes the parent's copy: the parent never reads client bytes.
func (p *Parent) dispatch(conn *net.TCPConn, kind config.Kind) {
	defer conn.Close()
	remote, local := conn.RemoteAddr().String(), conn.LocalAddr().String()
	ip := conn.RemoteAddr().(*net.TCPAddr).IP.String()
	p.mu.Lock()
	if p.cfg.ConnsPerIP > 0 && p.perIP[ip] >= p.cfg.ConnsPerIP {
		p.mu.Unlock()
		p.log.Warn("too many connections", "peer", remote)
		conn.Write([]byte("* BYE [UNAVAILABLE] Too many connections from your address\r\n"))
		return
	}
	var w *child
	for _, c := range p.preauth {
		if w == nil || c.load < w.load {
			w = c
		}
	}
	if w == nil {
		p.mu.Unlock()
		p.log.Error("no preauth worker to take a connection", "peer", remote)
		conn.Write([]byte("* BYE [UNAVAILABLE] Server starting or overloaded, try again\r\n"))
		return
	}
	p.nextConn++
	id := p.nextConn
	p.conns[id] = &connInfo{ip: ip, worker: w}
	p.perIP[ip]++
	w.load++
	p.mu.Unlock()

	f, err := conn.File()
	if err != nil {
		p.log.Error("connection descriptor", "err", err)
		p.connDone(w, id)
		return
	}
	defer f.Close()
	err = w.conn.Send(&pb.Envelope{Body: &pb.Envelope_NewConn{NewConn: &pb.NewConn{
		ConnId: id, Kind: kindOf(kind), LocalAddr: local, RemoteAddr: remote,
	}}}, f)
	if err != nil {
		p.log.Error("pass connection to preauth", "worker", w.id, "err", err)
		p.connDone(w, id)
	}
}
