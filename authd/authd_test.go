package authd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"imapd/ipc"
	pb "imapd/proto"
)

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs the authd role over real socketpairs, with the test playing
// the parent and one preauth worker.
type harness struct {
	t       *testing.T
	parent  *ipc.ParentToAuthd  // the parent's end: receives grant, auth_stats
	preauth *ipc.PreauthToAuthd // preauth worker 7's end: receives auth_reply
	done    chan error
	logs    *syncBuffer
	sleeps  chan time.Duration
}

func startAuthd(t *testing.T, setup *pb.AuthdSetup, tweak func(*options)) *harness {
	t.Helper()
	a, b, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	parent, err := ipc.NewConn[*pb.ToAuthd, *pb.FromAuthd](a, "authd")
	if err != nil {
		t.Fatal(err)
	}
	authdEnd, err := ipc.NewConn[*pb.FromAuthd, *pb.ToAuthd](b, "parent")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, parent: parent, done: make(chan error, 1), logs: &syncBuffer{},
		sleeps: make(chan time.Duration, 1000)}
	opt := defaultOptions()
	opt.floorMin = 0
	// Waits are recorded, not slept: the tests assert on what authd decided.
	opt.sleep = func(d time.Duration) {
		if d > 0 {
			h.sleeps <- d
		}
	}
	if tweak != nil {
		tweak(&opt)
	}
	go func() { h.done <- run(authdEnd, opt, slog.New(slog.NewTextHandler(h.logs, nil))) }()

	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_Setup{Setup: setup}}, nil)
	h.preauth = h.newPreauth(7)
	t.Cleanup(func() {
		parent.Close()
		h.preauth.Close()
		<-h.done
	})
	return h
}

// newPreauth hands authd a channel to preauth worker id, as the parent does.
func (h *harness) newPreauth(id uint32) *ipc.PreauthToAuthd {
	a, b, err := ipc.Socketpair()
	if err != nil {
		h.t.Fatal(err)
	}
	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: id}}}, b)
	b.Close()
	c, err := ipc.NewConn[*pb.AuthCall, *pb.AuthAnswer](a, "authd")
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) sendParent(env *pb.ToAuthd, fd *os.File) {
	h.t.Helper()
	if err := h.parent.Send(env, fd); err != nil {
		h.t.Fatal(err)
	}
}

// login sends "C: a1 LOGIN user password" as the preauth worker would.
func (h *harness) login(c *ipc.PreauthToAuthd, id uint64, user, password string) {
	h.t.Helper()
	err := c.Send(&pb.AuthCall{Id: id, Body: &pb.AuthCall_AuthRequest{AuthRequest: &pb.AuthRequest{
		ConnId: id * 10, Mechanism: "LOGIN", User: []byte(user), Password: []byte(password),
		RemoteAddr: "192.0.2.1:40000", LocalAddr: "127.0.0.1:143"}}}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
}

func recvReply(t *testing.T, c *ipc.PreauthToAuthd) (uint64, *pb.AuthReply) {
	t.Helper()
	env, _, err := c.Recv()
	if err != nil {
		t.Fatalf("preauth: %v", err)
	}
	return env.Id, env.GetAuthReply()
}

func (h *harness) recvGrant() *pb.Grant {
	h.t.Helper()
	env, _, err := h.parent.Recv()
	if err != nil {
		h.t.Fatalf("parent: %v", err)
	}
	g := env.GetGrant()
	if g == nil {
		h.t.Fatalf("parent got %s, want grant", ipc.BodyName(env))
	}
	return g
}

func (h *harness) ack(token string) {
	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_GrantAck{GrantAck: &pb.GrantAck{Token: token}}}, nil)
}

// stats asks for AuthStats; any grant authd sent earlier would arrive first
// and fail the test, which is how "no grant was sent" is checked.
func (h *harness) stats() *pb.AuthStats {
	h.t.Helper()
	h.sendParent(&pb.ToAuthd{Id: 99, Body: &pb.ToAuthd_StatsRequest{StatsRequest: &pb.StatsRequest{}}}, nil)
	env, _, err := h.parent.Recv()
	if err != nil {
		h.t.Fatal(err)
	}
	if env.Id != 99 || env.GetAuthStats() == nil {
		h.t.Fatalf("parent got %s id %d, want auth_stats id 99", ipc.BodyName(env), env.Id)
	}
	return env.GetAuthStats()
}

func writePasswd(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bcryptHash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

const alicePassword = "correct horse"

func fileSetup(t *testing.T) *pb.AuthdSetup {
	return &pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE, FirstValidUid: 1000, PasswdFile: writePasswd(t,
		"alice:{BLF-CRYPT}"+bcryptHash(t, alicePassword)+":5000:5001::/home/alice::",
		"bob:{PLAIN}bobpw:5002:5002::/home/bob",
		"toor:{PLAIN}rootpw:0:0::/root",
		"daemonish:{PLAIN}daemonpw:500:500::/",
	)}
}

// C: a1 LOGIN alice "correct horse"  ->  the parent gets the Grant, acks it,
// and only then does the worker get AUTH_OK carrying the same token.
func TestGrantBeforeReply(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	var mu sync.Mutex
	var events []string
	replied := make(chan *pb.AuthReply, 1)
	go func() {
		id, r := recvReply(t, h.preauth)
		if id != 1 {
			t.Errorf("reply id %d, want the request's id 1", id)
		}
		mu.Lock()
		events = append(events, "reply")
		mu.Unlock()
		replied <- r
	}()

	h.login(h.preauth, 1, "alice", alicePassword)
	g := h.recvGrant()
	mu.Lock()
	events = append(events, "grant")
	mu.Unlock()
	if g.User != "alice" || g.Uid != 5000 || g.Gid != 5001 || g.Home != "/home/alice" ||
		g.PreauthId != 7 || g.ConnId != 10 || len(g.Token) != 64 {
		t.Errorf("grant = %v", g)
	}
	if len(g.Groups) == 0 || g.Groups[0] != 5001 {
		t.Errorf("grant groups %v, want the primary gid first", g.Groups)
	}
	if exp := time.Unix(0, g.ExpiryUnixNano); !exp.After(time.Now()) {
		t.Errorf("grant expiry %v is not in the future", exp)
	}
	h.ack(g.Token)
	r := <-replied
	if r.Result != pb.AuthResult_AUTH_OK || r.Token != g.Token || r.User != "alice" {
		t.Errorf("reply = %v, want AUTH_OK with the grant's token", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "grant,reply" {
		t.Errorf("events %v, want grant before reply", events)
	}
	if s := h.stats(); s.Successes != 1 || s.Failures != 0 {
		t.Errorf("stats = %v", s)
	}
}

// A parent that never acknowledges means no AUTH_OK: the worker gets
// AUTH_UNAVAILABLE, and a late ack is harmless.
func TestNoAckNoLogin(t *testing.T) {
	h := startAuthd(t, fileSetup(t), func(o *options) { o.grantTimeout = 100 * time.Millisecond })
	h.login(h.preauth, 1, "alice", alicePassword)
	g := h.recvGrant()
	id, r := recvReply(t, h.preauth)
	if id != 1 || r.Result != pb.AuthResult_AUTH_UNAVAILABLE || r.Token != "" {
		t.Fatalf("reply %d %v, want AUTH_UNAVAILABLE without token", id, r)
	}
	h.ack(g.Token) // too late
	if s := h.stats(); s.Successes != 0 || s.Failures != 1 {
		t.Errorf("stats = %v", s)
	}
	if !strings.Contains(h.logs.String(), "grant not acknowledged") {
		t.Error("the timeout was not logged")
	}
}

// Concurrent logins are matched by token and request id, whatever the order
// of the acks.
func TestConcurrentGrants(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	other := h.newPreauth(8)
	h.login(h.preauth, 1, "alice", alicePassword)
	h.login(other, 2, "bob", "bobpw")
	grants := map[string]*pb.Grant{}
	for range 2 {
		g := h.recvGrant()
		grants[g.User] = g
	}
	if grants["alice"] == nil || grants["bob"] == nil {
		t.Fatalf("grants %v", grants)
	}
	if grants["bob"].PreauthId != 8 || grants["alice"].PreauthId != 7 {
		t.Errorf("preauth ids: alice %d bob %d", grants["alice"].PreauthId, grants["bob"].PreauthId)
	}
	h.ack(grants["bob"].Token)
	h.ack(grants["alice"].Token)
	for _, c := range []struct {
		conn *ipc.PreauthToAuthd
		id   uint64
		user string
	}{{h.preauth, 1, "alice"}, {other, 2, "bob"}} {
		id, r := recvReply(t, c.conn)
		if id != c.id || r.Result != pb.AuthResult_AUTH_OK || r.Token != grants[c.user].Token {
			t.Errorf("%s: reply %d %v", c.user, id, r)
		}
	}
	other.Close()
}

// Failures: wrong password, unknown user, root, a system uid, a bad name,
// another authorization identity. None may produce a grant.
func TestFailuresSendNoGrant(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	cases := []struct {
		user, password, authz string
		want                  pb.AuthResult
	}{
		{"alice", "not-alices-pw", "", pb.AuthResult_AUTH_FAILED},
		{"nosuchuser", "whatever", "", pb.AuthResult_AUTH_FAILED},
		{"toor", "rootpw", "", pb.AuthResult_AUTH_REFUSED},
		{"daemonish", "daemonpw", "", pb.AuthResult_AUTH_REFUSED},
		{"../alice", alicePassword, "", pb.AuthResult_AUTH_FAILED},
		{"\xff\xfe", "\xc3(", "", pb.AuthResult_AUTH_FAILED}, // not UTF-8: an unknown user
		{"alice", "", "", pb.AuthResult_AUTH_FAILED},
		{"bob", "bobpw", "alice", pb.AuthResult_AUTH_REFUSED},
	}
	for i, c := range cases {
		err := h.preauth.Send(&pb.AuthCall{Id: uint64(i + 1), Body: &pb.AuthCall_AuthRequest{AuthRequest: &pb.AuthRequest{
			Mechanism: "PLAIN", User: []byte(c.user), Password: []byte(c.password), AuthzId: c.authz, RemoteAddr: "192.0.2.9:1"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		id, r := recvReply(t, h.preauth)
		if id != uint64(i+1) || r.Result != c.want || r.Token != "" {
			t.Errorf("%s/%q: reply %d %v, want %v", c.user, c.password, id, r, c.want)
		}
	}
	s := h.stats() // fails if a grant was sent
	if s.Failures != uint64(len(cases)) {
		t.Errorf("failures = %d, want %d", s.Failures, len(cases))
	}
	// Wrong password, unknown user, two bad names and empty password count
	// as failures from 192.0.2.9; refusals after a right password do not.
	if len(s.Penalised) != 1 || s.Penalised[0].Addr != "192.0.2.9" || s.Penalised[0].Failures != 5 ||
		s.Penalised[0].DelayMs != 4000 {
		t.Errorf("penalised = %v, want 192.0.2.9 with 5 failures and 4000 ms", s.Penalised)
	}
	logs := h.logs.String()
	for _, secret := range []string{"not-alices-pw", "whatever", "rootpw", "daemonpw", alicePassword, "bobpw"} {
		if strings.Contains(logs, secret) {
			t.Errorf("a password (%q) reached the log", secret)
		}
	}
	if n := strings.Count(logs, "msg=auth "); n != len(cases) {
		t.Errorf("%d auth log lines, want one per attempt (%d):\n%s", n, len(cases), logs)
	}
}

// The penalty is waited before the check: the fourth failure from one
// address waits 250 ms * 2^2.
func TestPenaltyWaitsBeforeCheck(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	for i := range 4 {
		h.login(h.preauth, uint64(i+1), "alice", "wrong")
		recvReply(t, h.preauth)
	}
	var got []time.Duration
	for len(h.sleeps) > 0 {
		if d := <-h.sleeps; d >= penaltyStep {
			got = append(got, d)
		}
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("penalty waits %v, want %v", got, want)
	}
	// The right password after four failures still waits 2 s first; the
	// success then resets the penalty.
	h.login(h.preauth, 10, "alice", alicePassword)
	h.ack(h.recvGrant().Token)
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK {
		t.Fatalf("reply %v", r)
	}
	if d := <-h.sleeps; d != 2*time.Second {
		t.Errorf("wait before the successful check %v, want 2s", d)
	}
	if s := h.stats(); len(s.Penalised) != 0 {
		t.Errorf("penalised after success: %v", s.Penalised)
	}
}

// penaltyStep separates penalty waits from failure-floor padding in the
// recorded sleeps (bcrypt at MinCost pads well under 250 ms).
const penaltyStep = 250 * time.Millisecond

func TestUnprivilegedGrant(t *testing.T) {
	s := fileSetup(t)
	s.Unprivileged = true
	s.PasswdFile = writePasswd(t, "carol:{SHA512-CRYPT}"+
		"$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts.")
	h := startAuthd(t, s, nil)
	h.login(h.preauth, 1, "carol", "secret")
	if os.Getuid() == 0 {
		// Unprivileged mode run as root would hand out root mailboxes.
		if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_REFUSED {
			t.Errorf("as root: reply %v, want AUTH_REFUSED", r)
		}
		return
	}
	g := h.recvGrant()
	if g.Uid != uint32(os.Getuid()) || g.Gid != uint32(os.Getgid()) || g.Home != "" {
		t.Errorf("grant %v, want our own uid/gid and no home", g)
	}
	h.ack(g.Token)
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK {
		t.Errorf("reply %v", r)
	}
}

// A credentials cache hit skips the backend: the second login works even
// though the file no longer has the user, until the entry expires.
func TestCredentialCache(t *testing.T) {
	s := fileSetup(t)
	s.AuthCacheSeconds = 60
	h := startAuthd(t, s, nil)
	for i, rewrite := range []bool{false, true} {
		if rewrite {
			if err := os.WriteFile(s.PasswdFile, []byte("bob:{PLAIN}bobpw:5002:5002\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		h.login(h.preauth, uint64(i+1), "alice", alicePassword)
		h.ack(h.recvGrant().Token)
		if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK {
			t.Fatalf("login %d: %v", i+1, r)
		}
	}
	// A different password is not a cache hit.
	h.login(h.preauth, 3, "alice", "wrong")
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_FAILED {
		t.Errorf("wrong password with a cached entry: %v", r)
	}
}

// A worker that sends what it may not is dropped; authd serves on.
func TestHostilePreauthDropped(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	// A forged grant on the preauth channel: the compiler keeps imapd's own
	// preauth code from sending one, so this end is typed as authd's.
	a, b, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: 8}}}, b)
	b.Close()
	hostile, err := ipc.NewConn[*pb.FromAuthd, *pb.AuthAnswer](a, "authd")
	if err != nil {
		t.Fatal(err)
	}
	if err := hostile.Send(&pb.FromAuthd{Body: &pb.FromAuthd_Grant{Grant: &pb.Grant{Token: "x", User: "root"}}}, nil); err != nil {
		t.Fatal(err)
	}
	// conn.go reports a SEQPACKET EOF as io.EOF from ReadMsgUnix.
	if _, _, err := hostile.Recv(); !errors.Is(err, ipc.ErrClosed) && !errors.Is(err, io.EOF) {
		t.Errorf("hostile worker: %v, want its channel closed", err)
	}
	h.stats()
	c := h.newPreauth(9)
	defer c.Close()
	h.login(c, 1, "bob", "bobpw")
	h.ack(h.recvGrant().Token)
	if _, r := recvReply(t, c); r.Result != pb.AuthResult_AUTH_OK {
		t.Errorf("after a hostile worker: %v", r)
	}
}

func TestShutdownAndParentDeath(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_Shutdown{Shutdown: &pb.Shutdown{Reason: "test"}}}, nil)
	if err := <-h.done; err != nil {
		t.Errorf("after Shutdown: %v, want nil", err)
	}
	h.done <- nil // for Cleanup

	h = startAuthd(t, fileSetup(t), nil)
	h.parent.Close()
	if err := <-h.done; err == nil || !strings.Contains(err.Error(), "parent closed") {
		t.Errorf("after the parent's death: %v", err)
	}
	h.done <- nil
}

func TestBadSetup(t *testing.T) {
	for _, s := range []*pb.AuthdSetup{
		{Backend: pb.AuthBackend(99)},
		{Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE},
		{Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE, PasswdFile: "/nonexistent/passwd"},
	} {
		a, b, err := ipc.Socketpair()
		if err != nil {
			t.Fatal(err)
		}
		parent, _ := ipc.NewConn[*pb.ToAuthd, *pb.FromAuthd](a, "authd")
		end, _ := ipc.NewConn[*pb.FromAuthd, *pb.ToAuthd](b, "parent")
		if err := parent.Send(&pb.ToAuthd{Body: &pb.ToAuthd_Setup{Setup: s}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := run(end, defaultOptions(), slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("setup %v accepted", s)
		}
		parent.Close()
	}
}

// passwd-file lines without uid and gid take the system account's ids, home
// and groups; a name with no system account cannot log in.
func TestSystemAccountLookup(t *testing.T) {
	sys, home, err := ipc.LookupUser("nobody")
	if err != nil {
		t.Skipf("no nobody account: %v", err)
	}
	s := &pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE, FirstValidUid: 1000,
		PasswdFile: writePasswd(t, "nobody:{PLAIN}pw", "ghost-imapd-test:{PLAIN}pw", "root:{PLAIN}pw")}
	h := startAuthd(t, s, nil)
	h.login(h.preauth, 1, "nobody", "pw")
	g := h.recvGrant()
	if g.Uid != sys.UID || g.Gid != sys.GID || g.Home != home || fmt.Sprint(g.Groups) != fmt.Sprint(sys.Groups) {
		t.Errorf("grant %v, want the system's %+v home %q", g, sys, home)
	}
	h.ack(g.Token)
	recvReply(t, h.preauth)
	for i, c := range []struct {
		user string
		want pb.AuthResult
	}{{"ghost-imapd-test", pb.AuthResult_AUTH_UNAVAILABLE}, {"root", pb.AuthResult_AUTH_REFUSED}} {
		h.login(h.preauth, uint64(i+2), c.user, "pw")
		if _, r := recvReply(t, h.preauth); r.Result != c.want {
			t.Errorf("%s: %v, want %v", c.user, r.Result, c.want)
		}
	}
	h.stats() // no grant for either
}
