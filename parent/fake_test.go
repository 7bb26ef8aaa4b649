package parent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	"imapd/parent/config"
	pb "imapd/proto"
)

// Tests here run the parent's real loop against fake children: each fake is
// the far end of a real channel, which the test drives as that child would
// (or as a compromised one would).

type received struct {
	env proto.Message // the role's To* union
	fd  *os.File
}

// fake is one fake child.
type fake struct {
	t    *testing.T
	c    *child
	side io.Closer
	// sendAny sends one of the role's From* unions.
	sendAny func(proto.Message, *os.File) error
	msgs    chan received
}

// recv waits for the next message of the given body, skipping others.
func (f *fake) recv(body string) received {
	f.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-f.msgs:
			if !ok {
				f.t.Fatalf("%s[%d]: channel closed waiting for %s", roleName(f.c.role), f.c.pid, body)
			}
			if ipc.BodyName(m.env) == body {
				return m
			}
			if m.fd != nil {
				m.fd.Close()
			}
		case <-deadline:
			f.t.Fatalf("%s[%d]: no %s", roleName(f.c.role), f.c.pid, body)
		}
	}
}

func (f *fake) send(m proto.Message, fd *os.File) {
	f.t.Helper()
	if err := f.sendAny(m, fd); err != nil {
		f.t.Fatalf("%s[%d] send: %v", roleName(f.c.role), f.c.pid, err)
	}
}

// killed waits for the parent to have reaped the fake.
func (f *fake) killed() bool {
	select {
	case <-f.c.exited:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// fakes is the test's spawner.
type fakes struct {
	t       *testing.T
	mu      sync.Mutex
	all     []*fake
	spawned chan *fake
	pid     atomic.Int32
	// fail makes the spawns of a role fail.
	fail map[pb.Role]*atomic.Bool
	// stuck: the next fake of a role never reads its channel (after Ready, for
	// preauth).
	stuck map[pb.Role]*atomic.Bool
}

func newFakes(t *testing.T) *fakes {
	f := &fakes{t: t, spawned: make(chan *fake, 64), fail: map[pb.Role]*atomic.Bool{}, stuck: map[pb.Role]*atomic.Bool{}}
	for _, r := range []pb.Role{pb.Role_ROLE_PREAUTH, pb.Role_ROLE_AUTHD, pb.Role_ROLE_MAILBOX, pb.Role_ROLE_KEYD} {
		f.fail[r], f.stuck[r] = &atomic.Bool{}, &atomic.Bool{}
	}
	f.pid.Store(1000)
	return f
}

// tinyBuffers makes a channel fill after a few datagrams, as a peer that
// stops reading fills any buffer in time.
func tinyBuffers(t *testing.T, a, b *os.File) {
	for _, x := range []struct {
		f   *os.File
		opt int
	}{{a, unix.SO_SNDBUF}, {b, unix.SO_RCVBUF}} {
		if err := unix.SetsockoptInt(int(x.f.Fd()), unix.SOL_SOCKET, x.opt, 2048); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeEnd makes f's side of the channel, typed as the child's own end. It
// forwards what the parent sends to f.msgs; onSetup runs after the setup
// (a preauth worker says ready); a stuck fake reads nothing (after setup).
func fakeEnd[Out, In proto.Message](f *fake, file *os.File, stuck bool, onSetup func(*ipc.Conn[Out, In])) error {
	side, err := ipc.NewConn[Out, In](file, "parent")
	if err != nil {
		return err
	}
	f.side = side
	f.sendAny = func(m proto.Message, fd *os.File) error {
		om, ok := m.(Out)
		if !ok {
			return fmt.Errorf("a %s cannot send %T", roleName(f.c.role), m)
		}
		return side.Send(om, fd)
	}
	go func() {
		defer close(f.msgs)
		if stuck && onSetup == nil {
			return
		}
		for {
			m, fd, err := side.Recv()
			if err != nil {
				return
			}
			if ipc.BodyName(m) == "setup" && onSetup != nil {
				onSetup(side)
				if stuck {
					return
				}
			}
			f.msgs <- received{m, fd}
		}
	}()
	return nil
}

func (fs *fakes) spawn(spec spawnSpec) (*child, error) {
	if fs.fail[spec.role].Load() {
		return nil, errors.New("fake: cannot start")
	}
	a, b, err := ipc.Socketpair()
	if err != nil {
		return nil, err
	}
	stuck := fs.stuck[spec.role].Swap(false)
	if stuck {
		tinyBuffers(fs.t, a, b)
	}
	c := &child{role: spec.role, pid: int(fs.pid.Add(1)), file: a, started: time.Now(), exited: make(chan struct{})}
	f := &fake{t: fs.t, c: c, msgs: make(chan received, 4096)}
	var err2 error
	switch spec.role {
	case pb.Role_ROLE_PREAUTH:
		err2 = fakeEnd[*pb.FromPreauth, *pb.ToPreauth](f, b, stuck, func(side *ipc.PreauthToParent) {
			side.Send(&pb.FromPreauth{Body: &pb.FromPreauth_Ready{Ready: &pb.Ready{}}}, nil)
		})
	case pb.Role_ROLE_AUTHD:
		err2 = fakeEnd[*pb.FromAuthd, *pb.ToAuthd](f, b, stuck, nil)
	case pb.Role_ROLE_MAILBOX:
		err2 = fakeEnd[*pb.FromMailbox, *pb.ToMailbox](f, b, stuck, nil)
	case pb.Role_ROLE_KEYD:
		err2 = fakeEnd[*pb.KeydMessage, *pb.KeydMessage](f, b, stuck, nil)
	}
	if err2 != nil {
		return nil, err2
	}
	fs.mu.Lock()
	fs.all = append(fs.all, f)
	fs.mu.Unlock()
	fs.spawned <- f
	return c, nil
}

// next waits for the next fake of role to start.
func (fs *fakes) next(role pb.Role) *fake {
	fs.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-fs.spawned:
			if f.c.role == role {
				return f
			}
			fs.spawned <- f // another test step's
			time.Sleep(time.Millisecond)
		case <-deadline:
			fs.t.Fatalf("no %s started", roleName(role))
		}
	}
}

func (fs *fakes) closeAll() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.all {
		f.side.Close()
	}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// rig is a parent with fake children: authd and n preauth workers, ready,
// and a plain listener on a loopback port.
type rig struct {
	t       *testing.T
	p       *Parent
	fs      *fakes
	logs    *logBuffer
	authd   *fake
	preauth []*fake
	addr    string
}

func testConfig(workers int) *config.Config {
	cfg := config.Default()
	cfg.Listeners = []config.Listener{{Host: "127.0.0.1", Port: 0, Kind: config.Plain}}
	cfg.PreauthWorkers = workers
	cfg.Storage = config.StorageMemory
	cfg.ControlSocket = ""
	return cfg
}

func newRig(t *testing.T, cfg *config.Config, setup func(*fakes)) *rig {
	t.Helper()
	logs := &logBuffer{}
	fs := newFakes(t)
	if setup != nil {
		setup(fs)
	}
	p := newParent(cfg, Options{Log: logs}, slog.New(slog.NewTextHandler(logs, nil)))
	p.spawn = fs.spawn
	p.outboxWait = 300 * time.Millisecond
	r := &rig{t: t, p: p, fs: fs, logs: logs}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fs.closeAll()
		p.Shutdown("test over")
	})
	r.authd = fs.next(pb.Role_ROLE_AUTHD)
	for range cfg.PreauthWorkers {
		r.preauth = append(r.preauth, fs.next(pb.Role_ROLE_PREAUTH))
	}
	r.waitFor("workers ready", func() bool {
		for _, w := range r.preauth {
			if !w.c.ready {
				return false
			}
		}
		return true
	})
	r.p.call(func() {
		for _, l := range p.listeners {
			r.addr = l.ln.Addr().String()
		}
	})
	return r
}

// waitFor polls cond on the loop until it holds (5 s at most).
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var ok bool
		if err := r.p.call(func() { ok = cond() }); err == nil && ok {
			return
		}
	}
	r.t.Fatalf("timed out waiting for %s", what)
}

// dial connects a client; the test closes it at cleanup.
func (r *rig) dial() net.Conn {
	r.t.Helper()
	c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	return c
}

// connect dials and returns the worker that got the connection and the
// NewConn it got.
func (r *rig) connect() (*fake, *pb.NewConn) {
	r.t.Helper()
	r.dial()
	deadline := time.After(5 * time.Second)
	for {
		for _, w := range r.preauth {
			select {
			case m, ok := <-w.msgs:
				if !ok {
					continue
				}
				if nc := m.env.(*pb.ToPreauth).GetNewConn(); nc != nil {
					m.fd.Close()
					return w, nc
				}
				if m.fd != nil {
					m.fd.Close()
				}
			default:
			}
		}
		select {
		case <-deadline:
			r.t.Fatal("no worker got the connection")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// counts is what the connection table says, for before/after comparisons.
type counts struct {
	prelogin, rows int
	held           map[uint32]int
	perAddr        int
}

func (r *rig) counts() counts {
	var c counts
	r.p.call(func() {
		t := r.p.conns
		c = counts{prelogin: t.prelogin, rows: len(t.rows), held: map[uint32]int{}}
		for _, n := range t.perAddr {
			c.perAddr += n
		}
		for ch, m := range t.of {
			if ch.role == pb.Role_ROLE_PREAUTH {
				c.held[ch.id] = len(m)
			}
		}
	})
	return c
}

// id is the worker identity the parent gave f.
func (r *rig) id(f *fake) uint32 {
	var id uint32
	r.p.call(func() { id = f.c.id })
	return id
}

// grant plays authd vouching for conn of worker w.
func (r *rig) grant(w *fake, conn uint64, token string) *pb.GrantAck {
	r.t.Helper()
	r.authd.send(&pb.FromAuthd{Body: &pb.FromAuthd_Grant{Grant: &pb.Grant{
		Token: token, PreauthId: r.id(w), ConnId: conn, User: "alice", Uid: 1001, Gid: 1001,
	}}}, nil)
	return r.authd.recv("grant_ack").env.(*pb.ToAuthd).GetGrantAck()
}

// handoff plays w handing conn off with token, passing a descriptor.
func (r *rig) handoff(w *fake, conn uint64, token string) {
	r.t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		r.t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	w.send(&pb.FromPreauth{Body: &pb.FromPreauth_Handoff{Handoff: &pb.Handoff{ConnId: conn, Token: token, Tag: "a1", RemoteAddr: "203.0.113.66:1"}}}, rd)
}
