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
// closes the parent's copy: the parent never reads client bytes. A worker
// whose channel fails (it just died) is skipped for the next one.
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
	p.nextConn++
	id := p.nextConn
	ci := &connInfo{ip: ip}
	p.conns[id] = ci
	p.perIP[ip]++
	p.mu.Unlock()

	f, err := conn.File()
	if err != nil {
		p.log.Error("connection descriptor", "err", err)
		p.forgetConn(id)
		return
	}
	defer f.Close()
	msg := &pb.Envelope{Body: &pb.Envelope_NewConn{NewConn: &pb.NewConn{
		ConnId: id, Kind: kindOf(kind), LocalAddr: local, RemoteAddr: remote,
	}}}
	tried := map[*child]bool{}
	for {
		p.mu.Lock()
		var w *child
		for _, c := range p.preauth {
			if !tried[c] && (w == nil || c.load < w.load) {
				w = c
			}
		}
		if w != nil {
			w.load++
			ci.worker = w
		}
		p.mu.Unlock()
		if w == nil {
			p.log.Error("no preauth worker took the connection", "peer", remote)
			conn.Write([]byte("* BYE [UNAVAILABLE] Server starting or overloaded, try again\r\n"))
			p.forgetConn(id)
			return
		}
		if err := w.conn.Send(msg, f); err != nil {
			p.log.Warn("pass connection to preauth", "worker", w.id, "pid", w.pid, "err", err)
			tried[w] = true
			p.mu.Lock()
			w.load--
			p.mu.Unlock()
			continue
		}
		return
	}
}

// forgetConn drops a connection that never reached a worker.
func (p *Parent) forgetConn(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseConn(id)
}
