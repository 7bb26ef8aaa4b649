package parent

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"imapd/ipc"
	"imapd/parent/config"
	pb "imapd/proto"
)

// fakeChild connects a child struct the parent reads to a channel end the
// test drives as that child.
func fakeChild(t *testing.T, p *Parent, role pb.Role, id uint32, parentAllows, childAllows []string) (*child, *ipc.Conn) {
	t.Helper()
	a, b, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ipc.NewConn(a, roleName(role), parentAllows...)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := ipc.NewConn(b, "parent", childAllows...)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{role: role, id: id, gen: 1, pid: 1000 + int(id), conn: pc, exited: make(chan struct{})}
	t.Cleanup(func() { cc.Close() })
	return c, cc
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

// Issue 2, "what it must show" 4: forged handoffs are refused and logged,
// and start no mailbox worker. The test plays authd and two preauth workers
// on the parent's real channels.
func TestForgedHandoffsAreRefused(t *testing.T) {
	logs := &logBuffer{}
	p := &Parent{
		log: slog.New(slog.NewTextHandler(logs, nil)), now: time.Now, cfg: config.Default(),
		preauth: map[uint32]*child{}, mailboxes: map[string]*child{}, conns: map[uint64]*connInfo{}, perIP: map[string]int{},
	}
	p.grants = newGrants(p.now)
	var spawned []*pb.Grant
	var mailboxSide *ipc.Conn
	p.spawnMailbox = func(gr *pb.Grant) (*child, error) {
		spawned = append(spawned, gr)
		c, side := fakeChild(t, p, pb.Role_ROLE_MAILBOX, 99, []string{"session_done"}, []string{"new_session"})
		mailboxSide = side
		return c, nil
	}
	authd, authdSide := fakeChild(t, p, pb.Role_ROLE_AUTHD, 0, []string{"grant", "auth_stats"}, []string{"grant_ack"})
	w1, w1Side := fakeChild(t, p, pb.Role_ROLE_PREAUTH, 1, []string{"conn_done", "handoff"}, []string{"handoff_result"})
	w2, w2Side := fakeChild(t, p, pb.Role_ROLE_PREAUTH, 2, []string{"conn_done", "handoff"}, []string{"handoff_result"})
	p.preauth[1], p.preauth[2] = w1, w2
	go p.readChild(authd)
	go p.readChild(w1)
	go p.readChild(w2)

	grant := func(token string, worker uint32, conn uint64) {
		t.Helper()
		err := authdSide.Send(&pb.Envelope{Body: &pb.Envelope_Grant{Grant: &pb.Grant{
			Token: token, PreauthId: worker, ConnId: conn, User: "alice", Uid: 1001, Gid: 1001,
			ExpiryUnixNano: time.Now().Add(time.Minute).UnixNano(),
		}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, _, err := authdSide.Recv()
		if err != nil || env.GetGrantAck().GetToken() != token {
			t.Fatalf("grant ack: %v %v", env, err)
		}
	}
	handoff := func(side *ipc.Conn, token string, conn uint64) *pb.HandoffResult {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		err = side.Send(&pb.Envelope{Body: &pb.Envelope_Handoff{Handoff: &pb.Handoff{ConnId: conn, Token: token, Tag: "a1"}}}, r)
		if err != nil {
			t.Fatal(err)
		}
		env, _, err := side.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return env.GetHandoffResult()
	}

	grant("T-other-conn", 1, 11)
	grant("T-other-worker", 1, 13)
	grant("T-good", 1, 14)
	for _, c := range []struct {
		name  string
		side  *ipc.Conn
		token string
		conn  uint64
	}{
		{"unknown token", w1Side, "T-unknown", 10},
		{"token granted for another connection", w1Side, "T-other-conn", 12},
		{"token from another worker", w2Side, "T-other-worker", 13},
	} {
		if r := handoff(c.side, c.token, c.conn); r.Ok {
			t.Errorf("%s: handoff accepted", c.name)
		}
	}
	if len(spawned) != 0 {
		t.Fatalf("forged handoffs started %d mailbox workers", len(spawned))
	}
	if r := handoff(w1Side, "T-good", 14); !r.Ok {
		t.Fatalf("genuine handoff refused: %s", r.Reason)
	}
	if env, fd, err := mailboxSide.Recv(); err != nil || env.GetNewSession().GetUser() != "alice" || fd == nil {
		t.Fatalf("mailbox worker got %v fd=%v err=%v", env, fd, err)
	} else {
		fd.Close()
	}
	if r := handoff(w1Side, "T-good", 14); r.Ok {
		t.Error("reused token accepted")
	}
	if len(spawned) != 1 {
		t.Errorf("%d mailbox workers started, want exactly the genuine one", len(spawned))
	}
	if n := bytes.Count([]byte(logs.String()), []byte("handoff refused")); n != 4 {
		t.Errorf("%d refusals logged, want 4:\n%s", n, logs.String())
	}
}

func TestGrantsExpire(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newGrants(func() time.Time { return now })
	g.add(&pb.Grant{Token: "t", PreauthId: 1, ConnId: 2, ExpiryUnixNano: now.Add(time.Second).UnixNano()})
	now = now.Add(2 * time.Second)
	if _, err := g.redeem("t", 1, 2); err == nil {
		t.Fatal("expired grant redeemed")
	}
}
