package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

const (
	maxClients  = 16              // concurrent imapctl connections
	idleTimeout = 5 * time.Minute // a connection sending nothing is closed
)

type server struct {
	h         Handler
	log       *slog.Logger
	statusGID int
	// self is the server's own uid: root normally; the user who started it
	// in unprivileged mode, who then administers it.
	self uint32
	ln   *net.UnixListener

	mu      sync.Mutex
	conns   map[*net.UnixConn]bool
	stopped bool // set by stop: a connection accepted after it is closed, not served
	wg      sync.WaitGroup
}

// Serve listens on the unix socket path, creating its directory (mode 0755)
// and replacing a stale socket, and answers imapctl until stop is called or
// ctx ends. The socket is mode 0660 with group statusGID, or 0600 when
// statusGID is -1; SO_PEERCRED decides each request all the same. stop closes
// the socket and every connection, waits for them, and removes the file.
func Serve(ctx context.Context, path string, statusGID int, h Handler, log *slog.Logger) (stop func(), err error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("socket", path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	// Between bind and chmod the socket has the umask's mode; that is
	// harmless because every request is checked against SO_PEERCRED.
	mode, err := os.FileMode(0o600), error(nil)
	if statusGID >= 0 {
		mode = 0o660
		err = os.Chown(path, -1, statusGID)
	}
	if err == nil {
		err = os.Chmod(path, mode)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	s := &server{h: h, log: log, statusGID: statusGID, self: uint32(os.Getuid()), ln: ln, conns: map[*net.UnixConn]bool{}}
	s.wg.Add(1)
	go s.accept()
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			ln.Close() // also unlinks path
			s.mu.Lock()
			s.stopped = true
			for c := range s.conns {
				c.Close()
			}
			s.mu.Unlock()
			s.wg.Wait()
		})
	}
	go func() {
		<-ctx.Done()
		stop()
	}()
	group := "none (root and the server's own user only)"
	if statusGID >= 0 {
		group = strconv.Itoa(statusGID)
		if g, err := user.LookupGroupId(group); err == nil {
			group = g.Name
		}
	}
	log.Info("control socket listening", "group", group)
	return stop, nil
}

// removeStale deletes a socket left by a dead imapd, and refuses to start
// when another one still answers on it or the path is not a socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control: %s exists and is not a socket", path)
	}
	if c, err := net.Dial("unixpacket", path); err == nil {
		c.Close()
		return fmt.Errorf("control: %s is in use by a running imapd", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return nil
}

func (s *server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("control accept", "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.stopped {
			// Accepted as stop closed the others: served, it would hold
			// stop's wait until its idle timeout.
			s.mu.Unlock()
			c.Close()
			return
		}
		if len(s.conns) >= maxClients {
			s.mu.Unlock()
			s.log.Warn("control: too many clients")
			c.Close()
			continue
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *server) serve(c *net.UnixConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	cred, err := peerCred(c)
	if err != nil {
		s.log.Error("control: SO_PEERCRED", "err", err)
		return
	}
	log := s.log.With("uid", cred.Uid, "pid", cred.Pid)
	buf := make([]byte, maxMessage+1)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		env, err := readEnvelope(c, buf)
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
				log.Warn("control: bad request", "err", err)
			}
			return
		}
		reply, keep := s.handle(log, cred.Uid, func() bool { return inGroup(cred, s.statusGID) }, env)
		data, err := marshal(env.Id, reply)
		if err != nil {
			log.Error("control: reply", "err", err)
			return
		}
		if _, err := c.Write(data); err != nil || !keep {
			return
		}
	}
}

// admin reports whether uid may do everything: root, or the user the
// server runs as.
func (s *server) admin(uid uint32) bool { return uid == 0 || uid == s.self }

// handle answers one request; keep is false when the connection must end
// (a peer speaking another protocol version).
func (s *server) handle(log *slog.Logger, uid uint32, member func() bool, env *pb.Envelope) (reply *pb.CtlReply, keep bool) {
	reply = &pb.CtlReply{CtlVersion: Version}
	fail := func(format string, args ...any) (*pb.CtlReply, bool) {
		reply.Ok = false
		reply.Error = fmt.Sprintf(format, args...)
		return reply, true
	}
	if env.Version != ipc.Version {
		log.Warn("control: envelope version mismatch", "version", env.Version)
		r, _ := fail("message version %d, this imapd speaks %d: use the imapctl of the same release", env.Version, ipc.Version)
		return r, false
	}
	req := env.GetCtlRequest()
	if req == nil {
		log.Warn("control: unexpected message", "type", ipc.BodyName(env))
		r, _ := fail("expected a control request, got %q", ipc.BodyName(env))
		return r, false
	}
	if req.CtlVersion != Version {
		log.Warn("control: protocol version mismatch", "ctl_version", req.CtlVersion)
		r, _ := fail("control protocol version %d, this imapd speaks %d: use the imapctl of the same release", req.CtlVersion, Version)
		return r, false
	}
	defer func() {
		// A bug in the handler must not take the parent down with it.
		if p := recover(); p != nil {
			log.Error("control: handler panic", "panic", p)
			reply, keep = fail("internal error")
		}
	}()
	switch op := req.Op.(type) {
	case *pb.CtlRequest_Status:
		if !s.admin(uid) && !member() {
			log.Warn("control: status denied")
			return fail("permission denied: status needs root or the control socket's group")
		}
		reply.Ok, reply.Status = true, s.h.Status()
		return reply, true
	case *pb.CtlRequest_Reload:
		if !s.admin(uid) {
			log.Warn("control: reload denied")
			return fail("permission denied: reload needs root")
		}
		log.Info("control: reload requested")
		if err := s.h.Reload(); err != nil {
			log.Warn("control: reload failed, configuration unchanged", "error", err.Error())
			return fail("reload failed, configuration unchanged: %v", err)
		}
		reply.Ok, reply.Message = true, "reloaded"
		return reply, true
	case *pb.CtlRequest_Kick:
		if !s.admin(uid) {
			log.Warn("control: kick denied")
			return fail("permission denied: kick needs root")
		}
		user := op.Kick.GetUser()
		if user == "" {
			return fail("kick: no user given")
		}
		log.Info("control: kick requested", "user", user)
		n, err := s.h.Kick(user)
		if err != nil {
			return fail("kick %q: %v", user, err)
		}
		// Client.Kick reads the count back from the leading number.
		reply.Ok, reply.Message = true, fmt.Sprintf("%d sessions of %q ended", n, user)
		return reply, true
	case *pb.CtlRequest_Move:
		if !s.admin(uid) {
			log.Warn("control: move denied")
			return fail("permission denied: move needs root")
		}
		m, ok := s.h.(Mover)
		user, backend := op.Move.GetUser(), op.Move.GetBackend()
		switch {
		case !ok:
			return fail("move: not supported")
		case user == "" || backend == "":
			return fail("move: give a user and a backend")
		}
		log.Info("control: move requested", "user", user, "backend", backend)
		n, err := m.Move(user, backend)
		if err != nil {
			return fail("move %q: %v", user, err)
		}
		reply.Ok, reply.Message = true, fmt.Sprintf("%d sessions of %q ended; %q now served by %s", n, user, user, backend)
		return reply, true
	case *pb.CtlRequest_AuthTest:
		// It answers whether a password is right: root's question only.
		if !s.admin(uid) {
			log.Warn("control: auth test denied")
			return fail("permission denied: auth test needs root")
		}
		user := op.AuthTest.GetUser()
		if user == "" {
			return fail("auth test: no user given")
		}
		r, err := s.h.AuthTest(user, op.AuthTest.GetPassword())
		if err != nil {
			return fail("auth test %q: %v", user, err)
		}
		reply.Ok, reply.AuthTest = true, r
		return reply, true
	case *pb.CtlRequest_Who:
		if !s.admin(uid) && !member() {
			log.Warn("control: who denied")
			return fail("permission denied: who needs root or the control socket's group")
		}
		reply.Ok, reply.Who = true, s.h.Who()
		return reply, true
	default:
		return fail("unknown control request")
	}
}
