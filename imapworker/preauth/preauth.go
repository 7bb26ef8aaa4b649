// Package preauth is the pre-authentication worker role: an unprivileged,
// chrooted process that owns client connections until they log in. It does
// TLS, serves the not-authenticated state, asks authd to check credentials,
// and hands a logged-in connection to the parent, relaying TLS connections
// for the rest of their life (docs/design.md, "A connection's path").
package preauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"imapd/authd/keyd"
	"imapd/imapworker/server"
	"imapd/ipc"
	pb "imapd/proto"
)

// maxInlinePending is the most pipelined bytes a Handoff carries inline; a
// cleartext connection with more is relayed like a TLS one instead.
const maxInlinePending = 32 << 10

// Main is the preauth role: receive the setup, drop privileges, serve the
// connections the parent passes, and exit when the parent goes away.
func Main(parent *ipc.PreauthToParent) error {
	env, _, err := recvTimeout(parent, 30*time.Second)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	setup := env.GetSetup()
	if setup == nil {
		return errors.New("first message is not a preauth setup")
	}
	log := slog.Default().With("role", "preauth", "pid", os.Getpid(), "worker", setup.WorkerId, "gen", setup.Generation)

	w := &worker{parent: parent, setup: setup, log: log, conns: map[uint64]*clientConn{}}
	if setup.Keyd {
		w.keyd = keyd.NewClient(log)
		w.tls = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"imap"}, GetConfigForClient: w.keydConfig}
	}
	if err := dropPrivileges(setup, log); err != nil {
		return fmt.Errorf("drop privileges: %w", err)
	}
	if err := sandbox(log); err != nil {
		return err
	}

	w.ctx, w.cancel = context.WithCancel(context.Background())
	// Only a worker that holds its sandbox gets connections; a reload's old
	// generation drains once the new one is ready (docs/design.md#reload).
	if err := parent.Send(&pb.FromPreauth{Body: &pb.FromPreauth_Ready{Ready: &pb.Ready{}}}, nil); err != nil {
		return err
	}
	return w.serve()
}

func recvTimeout(c *ipc.PreauthToParent, d time.Duration) (*pb.ToPreauth, *os.File, error) {
	type res struct {
		env *pb.ToPreauth
		fd  *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		env, fd, err := c.Recv()
		ch <- res{env, fd, err}
	}()
	select {
	case r := <-ch:
		return r.env, r.fd, r.err
	case <-time.After(d):
		return nil, nil, errors.New("timed out")
	}
}

func dropPrivileges(setup *pb.PreauthSetup, log *slog.Logger) error {
	if setup.PreauthUser == "" {
		log.Warn("unprivileged mode: preauth worker keeps the server's user, without chroot")
	}
	return ipc.DropToUser(setup.Chroot, setup.PreauthUser)
}

// sandbox takes away what a preauth worker never needs (files, outgoing
// connections, new processes, exec) and then checks, from inside, that the
// restrictions hold: a worker whose sandbox leaks refuses to serve.
func sandbox(log *slog.Logger) error {
	if err := ipc.LimitPreauth(); err != nil {
		return err
	}
	_, err := ipc.Confine(log, ipc.RolePreauth, []string{"/", "/etc/passwd"})
	return err
}

// keydConfig is the server side of TLS for one handshake: the certificates
// keyd sent on its channel, each signing through keyd, so this process
// never holds a private key (docs/security.md, boundary 9). Go picks among
// them by SNI.
func (w *worker) keydConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	certs, err := w.keyd.Certificates(10 * time.Second)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"imap"}, Certificates: certs}, nil
}

type worker struct {
	parent *ipc.PreauthToParent
	setup  *pb.PreauthSetup
	tls    *tls.Config  // nil without certificates
	keyd   *keyd.Client // the signer of every certificate
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	authdMu sync.Mutex
	authd   *authdClient

	mu      sync.Mutex
	conns   map[uint64]*clientConn
	wg      sync.WaitGroup
	release ipc.Releaser
}

// releaseDelay: how long after its last connection left a preauth worker
// gives back free memory.
const releaseDelay = 10 * time.Second

// serve is the flat switch over what the parent sends.
func (w *worker) serve() error {
	for {
		env, fd, err := w.parent.Recv()
		if errors.Is(err, ipc.ErrClosed) {
			w.log.Info("parent went away; exiting")
			return nil
		}
		if err != nil {
			return err
		}
		switch b := env.Body.(type) {
		case *pb.ToPreauth_AuthdChannel:
			if fd == nil {
				w.log.Error("authd channel without a descriptor")
				continue
			}
			w.setAuthd(fd)
		case *pb.ToPreauth_KeydChannel:
			if fd == nil || w.keyd == nil {
				w.log.Error("keyd channel without a descriptor or certificates")
				if fd != nil {
					fd.Close()
				}
				continue
			}
			if err := w.keyd.Replace(fd); err != nil {
				w.log.Error("keyd channel", "err", err)
			}
		case *pb.ToPreauth_NewConn:
			if fd == nil {
				w.log.Error("new connection without a descriptor", "conn", b.NewConn.ConnId)
				continue
			}
			w.startConn(b.NewConn, fd)
		case *pb.ToPreauth_HandoffResult:
			if w.setup.Proxy {
				w.proxyResult(b.HandoffResult, fd)
				continue
			}
			if fd != nil {
				fd.Close()
			}
			if !b.HandoffResult.Ok {
				w.log.Warn("handoff refused", "conn", b.HandoffResult.ConnId, "reason", b.HandoffResult.Reason)
				w.closeConn(b.HandoffResult.ConnId)
			}
		case *pb.ToPreauth_Shutdown:
			w.stop(b.Shutdown)
			return nil
		}
	}
}

// stop ends the worker. Draining (after a reload) lets connections before
// login finish, bounded by the login timeout; otherwise they get BYE now.
// Either way the relays of logged-in TLS sessions end with their sessions.
func (w *worker) stop(s *pb.Shutdown) {
	w.log.Info("stopping", "reason", s.Reason, "drain", s.Drain)
	if !s.Drain {
		w.mu.Lock()
		for _, c := range w.conns {
			c.cancelPreauth()
		}
		w.mu.Unlock()
	}
	w.wg.Wait()
}

func (w *worker) setAuthd(fd *os.File) {
	c, err := ipc.NewConn[*pb.AuthCall, *pb.AuthAnswer](fd, "authd")
	if err != nil {
		w.log.Error("authd channel", "err", err)
		return
	}
	a := newAuthdClient(c, w.log)
	w.authdMu.Lock()
	old := w.authd
	w.authd = a
	w.authdMu.Unlock()
	if old != nil {
		old.close()
	}
}

func (w *worker) authdClient() *authdClient {
	w.authdMu.Lock()
	defer w.authdMu.Unlock()
	return w.authd
}

type clientConn struct {
	id            uint64
	net           net.Conn
	cancelPreauth context.CancelFunc
	relay         *os.File           // our end of the relay socketpair, if relaying
	backend       chan backendResult // on a proxy: the parent's answer to the handoff
}

func (w *worker) startConn(nc *pb.NewConn, fd *os.File) {
	conn, err := net.FileConn(fd)
	fd.Close()
	if err != nil {
		w.log.Error("client descriptor", "conn", nc.ConnId, "err", err)
		w.connDone(nc.ConnId)
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	c := &clientConn{id: nc.ConnId, net: conn, cancelPreauth: cancel, backend: make(chan backendResult, 1)}
	w.mu.Lock()
	w.conns[nc.ConnId] = c
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer cancel()
		w.handle(ctx, c, nc)
		w.connDone(nc.ConnId)
	}()
}

func (w *worker) closeConn(id uint64) {
	w.mu.Lock()
	c := w.conns[id]
	w.mu.Unlock()
	if c != nil {
		c.net.Close()
		if c.relay != nil {
			c.relay.Close()
		}
	}
}

func (w *worker) connDone(id uint64) {
	w.mu.Lock()
	delete(w.conns, id)
	if len(w.conns) == 0 {
		// Logins leave TLS and reader buffers behind as garbage.
		w.release.Soon(releaseDelay)
	}
	w.mu.Unlock()
	if err := w.parent.Send(&pb.FromPreauth{Body: &pb.FromPreauth_ConnDone{ConnDone: &pb.ConnDone{ConnId: id}}}, nil); err != nil {
		w.log.Error("conn done", "err", err)
	}
}

// handle serves one connection before login and then hands it off.
func (w *worker) handle(ctx context.Context, c *clientConn, nc *pb.NewConn) {
	log := w.log.With("conn", nc.ConnId, "peer", nc.RemoteAddr)
	conn := c.net
	defer func() {
		if c.relay == nil {
			conn.Close()
		}
	}()
	tlsActive := false
	if nc.Kind == pb.ListenerKind_LISTENER_TLS {
		if w.tls == nil {
			log.Error("implicit TLS listener without certificates")
			return
		}
		tc := tls.Server(conn, w.tls)
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Info("TLS handshake failed", "err", err, "hint", server.HandshakeHint(err))
			return
		}
		conn, tlsActive = tc, true
	}
	var startTLS *tls.Config
	if nc.Kind == pb.ListenerKind_LISTENER_STARTTLS {
		startTLS = w.tls
	}
	auth := &connAuth{w: w, connID: nc.ConnId, remote: nc.RemoteAddr, local: nc.LocalAddr}
	login, err := server.ServePreauth(ctx, conn, server.PreauthConfig{
		Auth:         auth,
		StartTLS:     startTLS,
		TLSActive:    tlsActive,
		Secure:       tlsActive || plaintextAllowed(w.setup.PlaintextAuth, nc.RemoteAddr),
		LoginTimeout: time.Duration(w.setup.LoginTimeoutSeconds) * time.Second,
		MaxLine:      int(w.setup.MaxLine),
		MasterUser:   w.setup.ProxyMasterUser,
		Logger:       log,
	})
	if err != nil {
		log.Info("connection ended before login", "err", err)
	}
	if login == nil {
		return
	}
	conn = login.Conn
	if err := w.handoff(c, conn, login, auth, nc, log); err != nil {
		log.Error("handoff failed", "err", err)
		fmt.Fprintf(conn, "%s NO [UNAVAILABLE] Internal error, try again\r\n", login.Tag)
		return
	}
	if w.setup.Proxy {
		w.relayToBackend(ctx, c, conn, login, log)
		return
	}
	if c.relay != nil {
		relay(conn, c.relay, log)
	}
}

// handoff sends the logged-in connection to the parent: the socket itself
// when it is cleartext, else one end of a socketpair this worker relays.
func (w *worker) handoff(c *clientConn, conn net.Conn, login *server.Login, auth *connAuth, nc *pb.NewConn, log *slog.Logger) error {
	h := &pb.Handoff{
		ConnId: nc.ConnId, Token: auth.token, Tag: login.Tag, IdParams: login.ID,
		Tls: login.TLS, RemoteAddr: nc.RemoteAddr, LocalAddr: nc.LocalAddr, Sasl: login.SASL,
	}
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		h.TlsVersion = tls.VersionName(st.Version)
		h.TlsCipher = tls.CipherSuiteName(st.CipherSuite)
	}
	var fd *os.File
	_, cleartext := conn.(*net.TCPConn)
	if w.setup.Proxy {
		// No descriptor: the parent's answer brings the backend socket,
		// and the pipelined bytes stay here (proxy.go).
	} else if cleartext && len(login.Pending) <= maxInlinePending {
		f, err := conn.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		defer f.Close()
		fd, h.Pending = f, login.Pending
	} else {
		ours, theirs, err := ipc.StreamSocketpair()
		if err != nil {
			return err
		}
		defer theirs.Close()
		if _, err := ours.Write(login.Pending); err != nil {
			ours.Close()
			return err
		}
		fd, c.relay = theirs, ours
	}
	if err := w.parent.Send(&pb.FromPreauth{Body: &pb.FromPreauth_Handoff{Handoff: h}}, fd); err != nil {
		if c.relay != nil {
			c.relay.Close()
			c.relay = nil
		}
		return err
	}
	log.Info("handed off", "user", login.User, "relay", c.relay != nil)
	return nil
}

// plaintextAllowed applies the plaintext-auth policy to a cleartext
// connection: loopback peers count as secure by default, as in Dovecot.
func plaintextAllowed(policy pb.PlaintextAuth, remote string) bool {
	switch policy {
	case pb.PlaintextAuth_PLAINTEXT_ALLOW:
		return true
	case pb.PlaintextAuth_PLAINTEXT_DENY:
		return false
	}
	return isLoopback(remote)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connAuth is one connection's Authenticator: it remembers the token authd
// issued so the handoff can present it.
type connAuth struct {
	w             *worker
	connID        uint64
	remote, local string
	token         string
}

func (a *connAuth) Authenticate(ctx context.Context, req server.AuthRequest) server.AuthResponse {
	ac := a.w.authdClient()
	if ac == nil {
		return server.AuthResponse{Code: "UNAVAILABLE"}
	}
	rep, err := ac.call(ctx, &pb.AuthRequest{
		ConnId: a.connID, Mechanism: req.Mechanism, User: []byte(req.User), Password: []byte(req.Password),
		AuthzId: req.AuthzID, RemoteAddr: a.remote, LocalAddr: a.local, IdParams: req.ID,
	})
	if err != nil {
		a.w.log.Error("authd", "err", err)
		return server.AuthResponse{Code: "UNAVAILABLE"}
	}
	switch rep.Result {
	case pb.AuthResult_AUTH_OK:
		a.token = rep.Token
		return server.AuthResponse{OK: true, User: rep.User}
	case pb.AuthResult_AUTH_EXPIRED:
		return server.AuthResponse{Code: "EXPIRED"}
	case pb.AuthResult_AUTH_REFUSED:
		// A refused account (root, a system uid) gets the answer a wrong
		// password gets: telling them apart would confirm the password.
		return server.AuthResponse{Code: "AUTHENTICATIONFAILED"}
	case pb.AuthResult_AUTH_UNAVAILABLE:
		return server.AuthResponse{Code: "UNAVAILABLE"}
	default:
		return server.AuthResponse{Code: "AUTHENTICATIONFAILED"}
	}
}

// authdClient multiplexes concurrent AuthRequests over one channel, matching
// replies to requests by envelope id.
type authdClient struct {
	conn    *ipc.PreauthToAuthd
	log     *slog.Logger
	nextID  atomic.Uint64
	mu      sync.Mutex
	waiting map[uint64]chan *pb.AuthReply
	closed  bool
}

func newAuthdClient(c *ipc.PreauthToAuthd, log *slog.Logger) *authdClient {
	a := &authdClient{conn: c, log: log, waiting: map[uint64]chan *pb.AuthReply{}}
	go a.readLoop()
	return a
}

func (a *authdClient) readLoop() {
	for {
		env, fd, err := a.conn.Recv()
		if fd != nil {
			fd.Close()
		}
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) {
				a.log.Error("authd channel", "err", err)
			}
			a.close()
			return
		}
		a.mu.Lock()
		ch := a.waiting[env.Id]
		delete(a.waiting, env.Id)
		a.mu.Unlock()
		if ch != nil {
			ch <- env.GetAuthReply()
		}
	}
}

func (a *authdClient) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.closed = true
	a.conn.Close()
	for id, ch := range a.waiting {
		close(ch)
		delete(a.waiting, id)
	}
}

func (a *authdClient) call(ctx context.Context, req *pb.AuthRequest) (*pb.AuthReply, error) {
	id := a.nextID.Add(1)
	ch := make(chan *pb.AuthReply, 1)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, errors.New("authd channel closed")
	}
	a.waiting[id] = ch
	a.mu.Unlock()
	if err := a.conn.Send(&pb.AuthCall{Id: id, Body: &pb.AuthCall_AuthRequest{AuthRequest: req}}, nil); err != nil {
		return nil, err
	}
	// authd delays failures by up to 15 s per address, plus PAM's own time.
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case rep, ok := <-ch:
		if !ok || rep == nil {
			return nil, errors.New("authd went away")
		}
		return rep, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errors.New("authd timed out")
	}
}
