// Package parent is the parent role: the root process that holds the
// configuration, the listening sockets and the connection table, passes
// client connections to preauth workers, redeems authd's grants into
// mailbox sessions, and supervises every child (docs/design.md).
//
// One goroutine, the loop, owns all of that state; everything else (accept
// loops, child readers, the spawner, timers, imapctl requests) posts events
// to it and never touches the state itself. The loop never blocks on a
// child: each child has a bounded outbox with its own writer, and a child
// that overflows it or sends what it has no right to send is killed
// (docs/design.md#the-event-loop).
package parent

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/ipc"
	"imapd/parent/config"
	pb "imapd/proto"
)

const (
	// grantTTL bounds the time between authd's grant and the worker's handoff.
	grantTTL = 30 * time.Second
	// mailboxIdle is how long a Maildir mailbox worker with no sessions
	// lives on, so a client that reconnects finds its worker (and its
	// index) warm.
	mailboxIdle = 2 * time.Minute
	// releaseDelay: how long after a mailbox worker's exit the parent
	// gives back free memory, once per burst.
	releaseDelay = 10 * time.Second
	// outboxSize and outboxDeadline bound what a child may leave unread:
	// past either, it is killed. The deadline is the sign of a stuck child;
	// the size only bounds memory, and is large enough that a burst of
	// connections to a busy but live worker does not reach it.
	outboxSize     = 4096
	outboxDeadline = 5 * time.Second
	// workerWait is how long a connection accepted while no preauth worker
	// is ready (at start, during a restart) waits for one.
	workerWait = 5 * time.Second
	// stopWait is shutdown's one deadline, counted before anything is sent.
	stopWait = 8 * time.Second
	// callWait bounds an imapctl request's wait for the loop.
	callWait = 2 * time.Second
	// statsWait bounds imapctl status's wait for authd's counters.
	statsWait = 500 * time.Millisecond
)

// Options carries what the command line decided besides the configuration.
type Options struct {
	// Reload re-reads the configuration (the file plus the flags that
	// override it); nil disables reloading.
	Reload func() (*config.Config, error)
	// Log receives the children's log lines: stderr or syslog.
	Log io.Writer
}

// Parent is the state of the parent process. Fields below "loop state" are
// read and written by the loop goroutine only.
type Parent struct {
	log        *slog.Logger
	opts       Options
	exe        string // our executable, re-executed for preauth and mailbox
	authdExe   string
	privileged bool
	started    time.Time
	now        func() time.Time
	// spawn starts a child; it runs off the loop. Tests replace it with
	// fake children.
	spawn func(spawnSpec) (*child, error)
	// outboxWait is how long a child may leave a datagram unread
	// (outboxDeadline; tests shorten it).
	outboxWait time.Duration

	events   chan func()
	loopDone chan struct{}

	// loop state
	cfg          *config.Config
	gen          uint32
	certs        []*pb.TLSCert
	preauthUID   uint32
	listeners    map[string]*listener // by "addr kind"
	authd        *child
	authdBack    backoff
	keyd         *child // while certificates are configured
	keydBack     backoff
	keydStarting bool
	keyGrace     time.Duration   // handshakeBound; shorter in tests
	retiring     map[uint32]bool // drained generations whose keys keyd still holds
	current      *generation     // the preauth workers that get new connections
	pending      *generation     // a reload's workers, starting; nil when none
	old          []*child        // draining preauth workers of older generations
	release      ipc.Releaser
	workers      map[uint32]*child
	nextWorker   uint32
	mailboxes    map[string]*mailboxEntry // by user
	conns        *connTable
	waiting      []*acceptedConn // accepted while no preauth worker was ready
	statsWait    []chan *pb.AuthStats
	authTests    map[uint64]chan *pb.AuthTestResult // imapctl auth test waiters, by request id
	nextTest     uint64
	stopping     bool
	children     map[*child]bool // every live child
	proxy        *proxyState     // on a proxy (parent/proxy.go)
	proxySecret  []byte          // the master secret, on a proxy or a backend
}

// mailboxEntry is a user's mailbox worker, or the sessions waiting for one
// to start.
type mailboxEntry struct {
	c       *child // nil while starting
	waiting []waitingSession
}

type waitingSession struct {
	row    *connRow
	h      *pb.Handoff
	fd     *os.File
	w      *child // the preauth worker told of the result; nil for a resumed session
	resume []byte // a hibernated session's state
}

// Main runs the parent until SIGTERM/SIGINT, and returns after every child
// has gone.
func Main(cfg *config.Config, opts Options) error {
	log := slog.Default().With("role", "parent", "pid", os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	// Whatever started imapd may have left descriptors open without
	// close-on-exec; every child would inherit them (tests/fd_test.go).
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		log.Warn("close_range: inherited descriptors may reach the children", "err", err)
	}
	p := newParent(cfg, opts, log)
	// /proc/self/exe reaches our binary whatever the directories above it
	// allow, so a mailbox worker can re-execute it as its user.
	p.exe, p.authdExe = "/proc/self/exe", filepath.Join(filepath.Dir(exe), "imapd-authd")
	p.privileged = os.Geteuid() == 0
	sp := newSpawner()
	p.spawn = func(spec spawnSpec) (*child, error) {
		spec.log = p.opts.Log
		return sp.spawn(spec)
	}
	for _, f := range sandboxFeatures(p.privileged) {
		if strings.HasPrefix(f, "WARNING") {
			log.Warn(f)
		}
	}
	if !p.privileged {
		log.Warn("unprivileged mode: running as a normal user, without chroot or setuid; every session runs as this user",
			"uid", os.Getuid())
	}
	if err := p.Start(); err != nil {
		p.Shutdown("start-up failed")
		return err
	}
	stopControl, err := p.serveControl()
	if err != nil {
		p.Shutdown("start-up failed")
		return err
	}
	defer stopControl()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for s := range sigs {
		if s == syscall.SIGHUP {
			// Reload waits for the new generation; SIGTERM must not.
			go func() {
				if err := p.Reload(); err != nil {
					log.Error("reload refused; keeping the running configuration", "err", err)
				}
			}()
			continue
		}
		log.Info("stopping", "signal", s.String())
		start := time.Now()
		p.Shutdown("server shutting down")
		log.Info("stopped", "after", time.Since(start).Round(time.Millisecond))
		return nil
	}
	return nil
}

// newParent makes a parent whose loop runs; Start begins serving.
func newParent(cfg *config.Config, opts Options, log *slog.Logger) *Parent {
	p := &Parent{
		log: log, opts: opts, started: time.Now(), now: time.Now, cfg: cfg,
		events: make(chan func(), 1024), loopDone: make(chan struct{}),
		listeners: map[string]*listener{}, workers: map[uint32]*child{}, mailboxes: map[string]*mailboxEntry{},
		conns: newConnTable(), children: map[*child]bool{},
		current: &generation{}, outboxWait: outboxDeadline, keyGrace: handshakeBound, retiring: map[uint32]bool{},
	}
	go p.loop()
	return p
}

// loop is the one goroutine that owns the parent's state.
func (p *Parent) loop() {
	defer close(p.loopDone)
	for ev := range p.events {
		ev()
	}
}

// post hands f to the loop. Called from any goroutine but the loop's own
// (which just calls f).
func (p *Parent) post(f func()) {
	select {
	case p.events <- f:
	case <-p.loopDone:
	}
}

// call runs f on the loop and waits for it, at most callWait.
func (p *Parent) call(f func()) error {
	done := make(chan struct{})
	select {
	case p.events <- func() { f(); close(done) }:
	case <-time.After(callWait):
		return errors.New("parent busy")
	}
	select {
	case <-done:
		return nil
	case <-time.After(callWait):
		return errors.New("parent busy")
	}
}

// Start opens the listeners and starts authd and the first generation of
// preauth workers. Connections accepted before a worker is ready wait for
// one (workerWait).
func (p *Parent) Start() error {
	certs, err := readCerts(p.cfg)
	if err != nil {
		return err
	}
	uid := p.lookupPreauthUID(p.cfg)
	secret, ca, err := readProxySecret(p.cfg)
	if err != nil {
		return err
	}
	var startErr error
	err = p.call(func() {
		p.certs, p.preauthUID, p.gen = certs, uid, 1
		p.startProxy(secret, ca)
		if startErr = p.applyListeners(p.cfg); startErr != nil {
			return
		}
		p.startAuthd()
		if len(p.certs) > 0 {
			p.startKeyd()
		}
		p.current = p.newGeneration(p.cfg.PreauthWorkers)
		p.log.Info("serving", "listeners", len(p.listeners), "preauth_workers", p.cfg.PreauthWorkers,
			"storage", p.cfg.Storage, "auth", p.cfg.Auth)
	})
	return errors.Join(err, startErr)
}

// lookupPreauthUID resolves the preauth user for imapctl status, off the
// loop: a name service can be slow.
func (p *Parent) lookupPreauthUID(cfg *config.Config) uint32 {
	if p.privileged {
		if u, err := user.Lookup(cfg.PreauthUser); err == nil {
			if uid, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
				return uint32(uid)
			}
		}
	}
	return uint32(os.Getuid())
}

// readCerts reads every certificate and key as root; the preauth workers get
// the bytes over IPC and never open a file.
func readCerts(cfg *config.Config) ([]*pb.TLSCert, error) {
	var out []*pb.TLSCert
	for _, c := range cfg.Certs {
		cert, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, err
		}
		key, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, err
		}
		out = append(out, &pb.TLSCert{CertPem: cert, KeyPem: key})
	}
	return out, nil
}

// childEnv is a child's whole environment: its role, a fixed PATH, the Go
// runtime settings of imapd's own environment and, where imapd's
// environment does not set them, the role's defaults (roleEnvDefaults).
func childEnv(role string) []string {
	env := []string{"IMAPD_ROLE=" + role, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, k := range []string{"GOTRACEBACK", "GODEBUG", "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "IMAPD_LOG_LEVEL"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if v, ok := roleEnvDefaults[role][k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// roleEnvDefaults are runtime settings a role gets unless imapd's
// environment sets them. A mailbox worker serves one user, mostly waiting:
// with GOMAXPROCS=1 it has one P, so one span cache per size class and one
// stack cache instead of one per CPU, and fewer threads; an idle worker's
// private memory fell from 1,788 to 1,596 kB (docs/performance.md#idle-workers-issue-18).
// It must be set before the runtime starts: runtime.GOMAXPROCS(1) inside
// the worker comes after the caches are made.
var roleEnvDefaults = map[string]map[string]string{
	"mailbox": {"GOMAXPROCS": "1"},
}

func absPath(path string) string {
	if path == "" {
		return ""
	}
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

func exitStatus(err error) string {
	if err == nil {
		return "exit 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// Shutdown stops accepting, tells every child to end its sessions with BYE,
// and kills what is left when the one deadline, counted before anything is
// sent, passes.
func (p *Parent) Shutdown(reason string) {
	deadline := time.Now().Add(stopWait)
	var all []*child
	err := p.call(func() {
		p.stopping = true
		if p.proxy != nil {
			close(p.proxy.stop)
		}
		for k, l := range p.listeners {
			l.close()
			delete(p.listeners, k)
		}
		for _, a := range p.waiting {
			a.refuse("")
		}
		p.waiting = nil
		for _, r := range p.hibernatedOf("") {
			p.endHibernated(r, "shutting down")
		}
		for c := range p.children {
			all = append(all, c)
			p.shutdownChild(c, reason, false)
		}
	})
	if err != nil {
		p.log.Error("shutdown", "err", err)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for _, c := range all {
		select {
		case <-c.exited:
			continue
		case <-t.C:
		}
		for _, c := range all {
			select {
			case <-c.exited:
			default:
				p.log.Warn("child did not stop in time; killing", "child", roleName(c.role), "pid", c.pid)
				c.kill()
			}
		}
		for _, c := range all {
			<-c.exited
		}
		return
	}
}

// lookupGroup resolves the control group name to a gid (-1: none).
func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(g.Gid)
}
