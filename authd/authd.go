// Package authd is the authentication role: it checks passwords (PAM or a
// Dovecot passwd-file) for preauth workers, applies login penalties, and
// tells the parent whom a login may become (a Grant) before it tells the
// worker that the login succeeded (DESIGN.md §2.3). It never sees a client
// socket.
package authd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"imapd/authd/ticket"
	"imapd/ipc"
	pb "imapd/proto"
)

// account is what a backend knows of a user once the password checked out.
type account struct {
	user     string // canonical name
	uid, gid uint32
	hasIDs   bool // uid and gid came from the backend
	home     string
	groups   []uint32
	host     string // the user's backend on a proxy, if the backend names one
}

// backend checks one request. real reports that the check ran against an
// existing account's secret, so its duration is a fair failure floor.
type backend interface {
	check(a attempt) (acct account, res pb.AuthResult, real bool)
}

// attempt is what a backend checks. The wire carries user and password as
// bytes: a password need not be UTF-8, and a user name that is not fails
// like any unknown user.
type attempt struct {
	user, password, remote string
}

// options are the timings of the role; tests shorten them.
type options struct {
	setupTimeout  time.Duration
	grantTimeout  time.Duration // wait for the parent's GrantAck
	grantTTL      time.Duration // Grant.expiry - now
	penaltyBase   time.Duration
	penaltyMax    time.Duration
	penaltyExpiry time.Duration
	floorMin      time.Duration // failure floor before any check was timed; <0: per backend
	floorCap      time.Duration
	maxInFlight   int // concurrent requests per preauth channel
	maxChecks     int // concurrent backend checks
	now           func() time.Time
	sleep         func(time.Duration)
	newBackend    func(*pb.AuthdSetup, *slog.Logger) (backend, error)
}

func defaultOptions() options {
	return options{
		setupTimeout:  30 * time.Second,
		grantTimeout:  5 * time.Second,
		grantTTL:      30 * time.Second,
		penaltyBase:   250 * time.Millisecond,
		penaltyMax:    15 * time.Second,
		penaltyExpiry: 15 * time.Minute,
		floorMin:      -1,
		floorCap:      2 * time.Second,
		maxInFlight:   256,
		maxChecks:     16,
		now:           time.Now,
		sleep:         time.Sleep,
		newBackend:    newBackend,
	}
}

func newBackend(s *pb.AuthdSetup, log *slog.Logger) (backend, error) {
	switch s.Backend {
	case pb.AuthBackend_AUTH_BACKEND_PAM:
		service := s.PamService
		if service == "" {
			service = "imapd"
		}
		return newPAM(service, log)
	case pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE:
		if s.PasswdFile == "" {
			return nil, errors.New("authd: passwd-file backend without passwd_file")
		}
		return newPasswdFile(s.PasswdFile, log)
	default:
		return nil, fmt.Errorf("authd: unknown auth backend %v", s.Backend)
	}
}

// Main runs the authd role on ch, its channel to the parent: it waits for
// Setup, then serves until Shutdown (nil) or until the parent's end closes
// (an error: the parent died).
func Main(ch *ipc.AuthdToParent) error {
	opt, log := defaultOptions(), slog.Default()
	setup, abi, err := confinedSetup()
	if err != nil {
		return err
	}
	if setup == nil {
		if setup, err = recvSetup(ch, opt); err != nil {
			return err
		}
		abi = -1
	}
	if err := confine(ch, setup, abi, log); err != nil {
		return err
	}
	return serve(ch, setup, opt, log)
}

type server struct {
	opt     options
	release ipc.Releaser // after a burst of logins (docs/performance.md#hibernated-sessions-issue-18)
	log     *slog.Logger
	parent  *ipc.AuthdToParent
	setup   *pb.AuthdSetup
	backend backend
	pen     *penalties
	floor   *failFloor
	cache   *credCache
	checks  chan struct{}
	tickets *ticket.Checker // proxies' login tickets (proxy.go)

	mu      sync.Mutex
	pending map[string]chan bool // grant token -> the parent's GrantAck: stored or refused

	nextID    atomic.Uint64
	successes atomic.Uint64
	failures  atomic.Uint64
}

func run(ch *ipc.AuthdToParent, opt options, log *slog.Logger) error {
	setup, err := recvSetup(ch, opt)
	if err != nil {
		ch.Close()
		return err
	}
	return serve(ch, setup, opt, log)
}

func recvSetup(ch *ipc.AuthdToParent, opt options) (*pb.AuthdSetup, error) {
	// A parent that never sends Setup must not leave authd waiting forever.
	t := time.AfterFunc(opt.setupTimeout, func() { ch.Close() })
	env, fd, err := ch.Recv()
	t.Stop()
	if err != nil {
		return nil, fmt.Errorf("authd: waiting for setup: %w", err)
	}
	if fd != nil {
		fd.Close()
	}
	setup := env.GetSetup()
	if setup == nil {
		return nil, fmt.Errorf("authd: first message is %s, want an authd setup", ipc.BodyName(env))
	}
	return setup, nil
}

// serve runs the role once set up (and confined, by Main).
func serve(ch *ipc.AuthdToParent, setup *pb.AuthdSetup, opt options, log *slog.Logger) error {
	defer ch.Close()
	be, err := opt.newBackend(setup, log)
	if err != nil {
		return err
	}
	s := &server{opt: opt, log: log, parent: ch, setup: setup, backend: be,
		pen:     newPenalties(opt.penaltyBase, opt.penaltyMax, opt.penaltyExpiry, opt.now),
		floor:   &failFloor{min: opt.floorMin, cap: opt.floorCap},
		checks:  make(chan struct{}, opt.maxChecks),
		pending: map[string]chan bool{}, tickets: ticket.NewChecker(setup.ProxySecret)}
	if s.floor.min < 0 {
		// pam_unix with yescrypt takes ~180 ms (DESIGN.md §7).
		s.floor.min = 0
		if setup.Backend == pb.AuthBackend_AUTH_BACKEND_PAM {
			s.floor.min = 250 * time.Millisecond
		}
	}
	if setup.AuthCacheSeconds > 0 {
		s.cache = newCredCache(time.Duration(setup.AuthCacheSeconds)*time.Second, opt.now)
	}
	log.Info("authd ready", "backend", setup.Backend.String(), "unprivileged", setup.Unprivileged,
		"first_valid_uid", setup.FirstValidUid, "cache_seconds", setup.AuthCacheSeconds)
	return s.serveParent()
}

// serveParent is the parent channel's dispatch loop.
func (s *server) serveParent() error {
	for {
		env, fd, err := s.parent.Recv()
		if err != nil {
			if errors.Is(err, ipc.ErrClosed) || errors.Is(err, io.EOF) {
				return errors.New("authd: parent closed the channel")
			}
			// The parent is trusted: a bad message from it is a bug.
			return fmt.Errorf("authd: %w", err)
		}
		switch b := env.Body.(type) {
		case *pb.ToAuthd_AuthdChannel:
			if fd == nil {
				return errors.New("authd: authd_channel without a descriptor")
			}
			go s.servePreauth(b.AuthdChannel.WorkerId, fd)
			continue
		case *pb.ToAuthd_GrantAck:
			s.acked(b.GrantAck.Token, !b.GrantAck.Refused)
		case *pb.ToAuthd_StatsRequest:
			err = s.parent.Send(&pb.FromAuthd{Id: env.Id, Body: &pb.FromAuthd_AuthStats{AuthStats: s.stats()}}, nil)
		case *pb.ToAuthd_AuthTest:
			// A check may take PAM's time: answered off this loop.
			go func(id uint64, t *pb.AuthTest) {
				r := s.test(string(t.User), string(t.Password))
				if err := s.parent.Send(&pb.FromAuthd{Id: id, Body: &pb.FromAuthd_AuthTestResult{AuthTestResult: r}}, nil); err != nil {
					s.log.Warn("auth test reply", "error", err.Error())
				}
			}(env.Id, b.AuthTest)
		case *pb.ToAuthd_Shutdown:
			s.log.Info("shutdown", "reason", b.Shutdown.Reason)
			err = errShutdown
		default:
			err = fmt.Errorf("authd: unexpected %s from parent", ipc.BodyName(env))
		}
		if fd != nil {
			fd.Close()
		}
		if err == errShutdown {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errShutdown = errors.New("shutdown")

func (s *server) stats() *pb.AuthStats {
	return &pb.AuthStats{Successes: s.successes.Load(), Failures: s.failures.Load(), Penalised: s.pen.snapshot()}
}

// servePreauth answers AuthRequests from preauth worker id on f. A worker is
// less privileged than authd: anything amiss drops the channel, not authd.
func (s *server) servePreauth(id uint32, f *os.File) {
	peer := fmt.Sprintf("preauth[%d]", id)
	c, err := ipc.NewConn[*pb.AuthAnswer, *pb.AuthCall](f, peer)
	if err != nil {
		s.log.Error("preauth channel", "peer", peer, "error", err.Error())
		return
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		c.Close()
	}()
	inFlight := make(chan struct{}, s.opt.maxInFlight)
	for {
		env, fd, err := c.Recv()
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Warn("dropping preauth channel", "peer", peer, "error", err.Error())
			}
			return
		}
		if fd != nil {
			fd.Close()
			s.log.Warn("dropping preauth channel: descriptor with auth_request", "peer", peer)
			return
		}
		select {
		case inFlight <- struct{}{}:
		default:
			s.reply(c, env.Id, pb.AuthResult_AUTH_UNAVAILABLE, "", "")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			res, token, user := s.authenticate(id, env.GetAuthRequest())
			s.reply(c, env.Id, res, token, user)
		}()
	}
}

func (s *server) reply(c *ipc.AuthdToPreauth, id uint64, res pb.AuthResult, token, user string) {
	err := c.Send(&pb.AuthAnswer{Id: id, Body: &pb.AuthAnswer_AuthReply{AuthReply: &pb.AuthReply{
		Result: res, Token: token, User: user}}}, nil)
	if err != nil {
		s.log.Warn("auth reply", "peer", c.Peer(), "error", err.Error())
	}
	s.release.Soon(releaseDelay)
}

// releaseDelay: how long after the first answer of a burst of logins authd
// gives back the free memory the burst left.
const releaseDelay = 10 * time.Second

// authenticate runs one attempt to its answer: penalty, check, failure floor,
// account resolution, then Grant to the parent and its ack.
func (s *server) authenticate(worker uint32, req *pb.AuthRequest) (res pb.AuthResult, token, canon string) {
	a := attempt{user: string(req.User), password: string(req.Password), remote: req.RemoteAddr}
	var reason string
	defer func() {
		s.log.Info("auth", "user", logName(a.user), "remote", req.RemoteAddr, "mech", req.Mechanism,
			"preauth", worker, "conn", req.ConnId, "result", res.String(), "reason", reason)
		switch res {
		case pb.AuthResult_AUTH_OK:
			s.successes.Add(1)
		default:
			s.failures.Add(1)
		}
	}()
	start := s.opt.now()
	// Every answer but OK waits for the same failure floor, whatever the
	// reason: a refused account (root, a system uid) with the right password
	// must not answer sooner than a wrong password (docs/security.md, "2.
	// Client -> authd").
	defer func() {
		if res == pb.AuthResult_AUTH_OK {
			return
		}
		if wait := s.floor.floor() - s.opt.now().Sub(start); wait > 0 {
			s.opt.sleep(wait)
		}
	}()
	if s.isMasterLogin(req) {
		return s.masterLogin(worker, req, &reason)
	}
	// RFC 4616 §2: acting as someone else is not supported.
	if req.AuthzId != "" && req.AuthzId != a.user {
		return pb.AuthResult_AUTH_REFUSED, "", ""
	}
	s.opt.sleep(s.pen.delay(req.RemoteAddr, a.user))

	// The floor counts from after the penalty: the penalty is the address's
	// own, the floor hides which way the check went.
	start = s.opt.now()
	acct, res, cached, why := s.check(a)
	switch res {
	case pb.AuthResult_AUTH_OK:
	case pb.AuthResult_AUTH_FAILED:
		s.pen.fail(req.RemoteAddr, a.user)
		reason = why
		return res, "", ""
	default:
		reason = why
		return res, "", ""
	}

	acct, res, reason = s.resolve(acct)
	if res != pb.AuthResult_AUTH_OK {
		return res, "", ""
	}
	if !cached {
		s.cache.put(a.user, a.password, acct)
	}
	s.pen.succeed(req.RemoteAddr, a.user)

	token = newToken()
	if !s.grant(&pb.Grant{Token: token, PreauthId: worker, ConnId: req.ConnId, User: acct.user,
		Uid: acct.uid, Gid: acct.gid, Groups: acct.groups, Home: acct.home, ProxyHost: acct.host,
		ExpiryUnixNano: s.opt.now().Add(s.opt.grantTTL).UnixNano()}) {
		return pb.AuthResult_AUTH_UNAVAILABLE, "", ""
	}
	return pb.AuthResult_AUTH_OK, token, acct.user
}

// resolve fills in uid, gid, groups and home, and refuses root and system
// accounts.
func (s *server) resolve(a account) (account, pb.AuthResult, string) {
	if s.setup.Unprivileged {
		// One uid serves every user; the mailbox worker uses the maildir
		// base path since home is empty.
		a.uid, a.gid, a.home = uint32(os.Getuid()), uint32(os.Getgid()), ""
		a.groups = []uint32{a.gid}
		if a.uid == 0 {
			s.log.Error("unprivileged mode running as root: refusing logins", "user", a.user)
			return a, pb.AuthResult_AUTH_REFUSED, "unprivileged imapd running as root"
		}
		return a, pb.AuthResult_AUTH_OK, ""
	}
	sys, home, err := ipc.LookupUser(a.user)
	switch {
	case a.hasIDs:
		// The passwd-file's ids win; system groups apply only to the same uid.
		a.groups = []uint32{a.gid}
		if err == nil && sys.UID == a.uid {
			a.groups = append(a.groups, sys.Groups...)
		}
		if a.home == "" && err == nil && sys.UID == a.uid {
			a.home = home
		}
	case err != nil:
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			s.log.Error("authenticated user has no system account", "user", a.user)
			return a, pb.AuthResult_AUTH_UNAVAILABLE, "no system account"
		}
		s.log.Error("user lookup", "user", a.user, "error", err.Error())
		return a, pb.AuthResult_AUTH_UNAVAILABLE, "user lookup failed: " + err.Error()
	default:
		a.uid, a.gid, a.groups = sys.UID, sys.GID, sys.Groups
		if a.home == "" {
			a.home = home
		}
	}
	a.groups = uniq(a.groups)
	if a.uid == 0 || a.gid == 0 || slices.Contains(a.groups, 0) || a.uid < s.setup.FirstValidUid {
		s.log.Warn("login refused for a privileged account", "user", a.user, "uid", a.uid, "gid", a.gid,
			"first_valid_uid", s.setup.FirstValidUid)
		return a, pb.AuthResult_AUTH_REFUSED, fmt.Sprintf("privileged account: uid %d, gid %d (first valid uid %d, root's group refused)",
			a.uid, a.gid, s.setup.FirstValidUid)
	}
	return a, pb.AuthResult_AUTH_OK, ""
}

// check runs the backend (or the cache) on a: the account, the result,
// whether it came from the cache, and why it is not OK, for logs and for
// imapctl auth test.
func (s *server) check(a attempt) (acct account, res pb.AuthResult, cached bool, reason string) {
	if !validUser(a.user) || a.password == "" || len(a.password) > 1024 {
		return account{}, pb.AuthResult_AUTH_FAILED, false, "invalid user name or password"
	}
	if acct, cached = s.cache.get(a.user, a.password); cached {
		return acct, pb.AuthResult_AUTH_OK, true, ""
	}
	s.checks <- struct{}{}
	t0 := s.opt.now() // the floor learns the check's cost, not the queue's
	acct, res, real := s.backend.check(a)
	<-s.checks
	if real {
		s.floor.observe(s.opt.now().Sub(t0))
	}
	// A backend's canonical name (PAM may rewrite it) is a user name like
	// any other: it becomes a map key, a log field and a path element.
	if res == pb.AuthResult_AUTH_OK && acct.user != "" && !validUser(acct.user) {
		s.log.Warn("backend returned an invalid canonical user name; refusing", "user", logName(a.user))
		return acct, pb.AuthResult_AUTH_REFUSED, false, "the backend returned an invalid canonical user name"
	}
	switch {
	case res == pb.AuthResult_AUTH_OK:
	case res == pb.AuthResult_AUTH_FAILED && real:
		reason = "wrong password"
	case res == pb.AuthResult_AUTH_FAILED:
		// The backend knows no such user (or PAM would not check).
		reason = "unknown user"
	case res == pb.AuthResult_AUTH_EXPIRED:
		reason = "account or password expired"
	case res == pb.AuthResult_AUTH_REFUSED:
		reason = "refused by the account policy (PAM account management)"
	default:
		reason = "backend error (see authd's log)"
	}
	return acct, res, false, reason
}

// test checks user's password as a login would, for imapctl auth test:
// the backend and the account's resolution, without penalty, cache, floor
// or grant.
func (s *server) test(user, password string) *pb.AuthTestResult {
	acct, res, _, reason := s.check(attempt{user: user, password: password, remote: "imapctl"})
	if res == pb.AuthResult_AUTH_OK {
		acct, res, reason = s.resolve(acct)
	}
	if acct.user == "" {
		acct.user = user
	}
	s.log.Info("auth test", "user", logName(user), "result", res.String(), "reason", reason)
	r := &pb.AuthTestResult{Result: res, Reason: reason, User: acct.user}
	if res == pb.AuthResult_AUTH_OK {
		r.Uid, r.Gid, r.Home = acct.uid, acct.gid, acct.home
	}
	return r
}

func uniq(g []uint32) []uint32 {
	seen := map[uint32]bool{}
	out := g[:0:0]
	for _, x := range g {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// grant sends g to the parent and waits for its GrantAck: the worker hears
// AUTH_OK only once the parent can redeem the token (DESIGN.md §2.3).
func (s *server) grant(g *pb.Grant) bool {
	acked := make(chan bool, 1)
	s.mu.Lock()
	s.pending[g.Token] = acked
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, g.Token)
		s.mu.Unlock()
	}()
	err := s.parent.Send(&pb.FromAuthd{Id: s.nextID.Add(1), Body: &pb.FromAuthd_Grant{Grant: g}}, nil)
	if err != nil {
		s.log.Error("grant", "user", g.User, "error", err.Error())
		return false
	}
	t := time.NewTimer(s.opt.grantTimeout)
	defer t.Stop()
	select {
	case ok := <-acked:
		if !ok {
			s.log.Warn("grant refused by parent", "user", g.User, "conn", g.ConnId)
		}
		return ok
	case <-t.C:
		s.log.Error("grant not acknowledged by parent", "user", g.User, "timeout", s.opt.grantTimeout.String())
		return false
	}
}

func (s *server) acked(token string, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.pending[token]; ok {
		c <- stored
		delete(s.pending, token)
		return
	}
	s.log.Warn("grant_ack for no pending grant")
}

// logName cuts a client-chosen name to a loggable length; slog quotes it.
func logName(u string) string {
	if len(u) > 64 {
		return u[:64] + "..."
	}
	return u
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails (Go >= 1.24)
	return hex.EncodeToString(b)
}

// validUser accepts names that are safe as map keys, in logs and as path
// elements: printable UTF-8 without '/', ':' or leading '.'.
func validUser(u string) bool {
	if u == "" || len(u) > 256 || !utf8.ValidString(u) || u[0] == '.' {
		return false
	}
	for _, r := range u {
		if r == '/' || r == ':' || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
