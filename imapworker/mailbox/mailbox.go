// Package mailbox is the mailbox worker role: one process per logged-in user,
// running with that user's ids, serving every session of the user from their
// mail store (docs/design.md, "Processes").
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"

	"imapd/imapworker/server"
	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
	"imapd/imapworker/store/memstore"
	"imapd/ipc"
	pb "imapd/proto"
)

// Main is the mailbox role: receive the setup, restrict the process, open the
// user's store, then serve the sessions the parent passes until it says to
// stop or goes away.
func Main(parent *ipc.MailboxToParent) error {
	// Nothing reads a worker's heap profile, and each sampled allocation
	// site touches a page of the profiler's 1.4 MB bucket table.
	runtime.MemProfileRate = 0
	// A host runs a worker per user: memory matters more than collector
	// CPU. At GOGC=50 the heap peaks at 1.5x what is live, not 2x: the
	// worker of a 100,000-message folder peaked at 65 MiB, not 81, and
	// its SEARCH BODY took 3% more CPU (tests/bench/folder.sh).
	// GOGC in imapd's environment overrides.
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	governHeap()
	env, fd, err := parent.Recv()
	if fd != nil {
		fd.Close()
	}
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	setup := env.GetSetup()
	if setup == nil {
		return errors.New("first message is not a mailbox setup")
	}
	log := slog.Default().With("role", "mailbox", "pid", os.Getpid(), "user", setup.User)
	if err := assertIDs(setup); err != nil {
		return err
	}
	if err := ipc.NoNewPrivs(); err != nil {
		return err
	}
	w := &worker{parent: parent, setup: setup, log: log, sessions: map[uint64]session{},
		activity: make(chan struct{}, 1)}
	if err := sandbox(setup, log, w.unavailable); err != nil {
		return err
	}
	if !w.down {
		if w.store, err = openStore(setup); err != nil {
			w.unavailable(err)
		}
	}
	// Until Go first collects, the heap is under 4 MB and forcing a
	// collection costs more metadata than it frees; only then start looking.
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) { go w.releaseIdle() })
	return w.serve()
}

// assertIDs checks, from inside, what the parent was to start this worker
// as: the user's ids, never root, and no way back to root. The parent and
// authd refuse uid and gid 0 too; this is the last line
// (docs/security.md, "6. Mailbox worker -> other users' files").
func assertIDs(setup *pb.MailboxSetup) error {
	if err := ipc.AssertUser(setup.Uid, setup.Gid); err != nil {
		return fmt.Errorf("user %q: %w", setup.User, err)
	}
	return nil
}

// MaildirPath is where user's mail lives: BASE/user with a base path, else
// HOME/Maildir.
func MaildirPath(base, user, home string) string {
	if base != "" {
		return filepath.Join(base, user)
	}
	return filepath.Join(home, "Maildir")
}

// sandbox confines the worker to the user's Maildir (memory storage: no
// file system at all) and checks from inside that the confinement holds.
// A Maildir that cannot be made goes to unavailable, and the worker is
// confined to nothing.
func sandbox(setup *pb.MailboxSetup, log *slog.Logger, unavailable func(error)) error {
	var dirs []string
	if setup.Storage == pb.Storage_STORAGE_MAILDIR {
		dir := MaildirPath(setup.MaildirPath, setup.User, setup.Home)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			unavailable(err)
		} else {
			dirs = append(dirs, dir)
		}
	}
	_, err := ipc.Confine(log, ipc.RoleMailbox, []string{"/etc/passwd"}, dirs...)
	return err
}

func openStore(setup *pb.MailboxSetup) (store.User, error) {
	switch setup.Storage {
	case pb.Storage_STORAGE_MEMORY:
		return memstore.New().Open(setup.User)
	case pb.Storage_STORAGE_MAILDIR:
		if setup.MaildirPath == "" && setup.Home == "" {
			return nil, errors.New("no home directory and no maildir base path")
		}
		dir := MaildirPath(setup.MaildirPath, setup.User, setup.Home)
		u, err := maildir.Open(dir, maildir.Options{Shared: setup.MaildirShared})
		if err != nil {
			return nil, err
		}
		// ensureDirs accepts a tmp/ that exists but is not ours to write.
		if err := syscall.Access(filepath.Join(dir, "tmp"), 2 /* W_OK */); err != nil {
			u.Close()
			return nil, &os.PathError{Op: "write", Path: filepath.Join(dir, "tmp"), Err: err}
		}
		return u, nil
	}
	return nil, fmt.Errorf("unknown storage %v", setup.Storage)
}

type worker struct {
	parent *ipc.MailboxToParent
	setup  *pb.MailboxSetup
	store  store.User
	log    *slog.Logger
	down   bool // the store could not be opened: every login is refused

	mu       sync.Mutex
	sessions map[uint64]session
	wg       sync.WaitGroup
	activity chan struct{} // a session started or ended; see releaseIdle
}

// gcPercent is the mailbox worker's GOGC (see Main).
const gcPercent = 50

// When releaseIdle looks at the heap: soon after activity, rarely otherwise.
const (
	releaseSoon  = time.Second
	releaseLater = 30 * time.Second
	// Worth a collection: dead objects and free pages at least this large.
	releaseMin = 1 << 20
	// Allocated since the last look and still quiet.
	releaseQuiet = 64 << 10
)

// gcSentinel's finalizer runs after the next collection (it holds a
// pointer so that it is not batched by the tiny allocator, whose objects
// may never be finalized).
type gcSentinel struct{ _ *byte }

// releaseIdle collects and returns free memory to the kernel once the worker
// has gone quiet after a burst that left much garbage. Go keeps up to twice
// the live heap (at least 4 MB) between collections and a worker serving
// one user collects rarely, so what a client's sync left behind would
// otherwise stay resident in every idle worker (docs/performance.md,
// issue 7). It only reads counters while sessions are busy, so busy workers
// pay nothing but the look. It runs from Go's first collection on.
func (w *worker) releaseIdle() {
	sample := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	read := func() (allocs, reclaimable uint64) {
		metrics.Read(sample)
		var v [4]uint64
		for i, s := range sample {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		// Dead objects and free pages: all but what the last collection
		// found live.
		if v[1]+v[2] > v[3] {
			reclaimable = v[1] + v[2] - v[3]
		}
		return v[0], reclaimable
	}
	last, _ := read()
	t := time.NewTimer(releaseSoon)
	for {
		select {
		case <-w.activity:
			// Look again a moment after the latest session start or end.
			last, _ = read()
			t.Reset(releaseSoon)
			continue
		case <-t.C:
		}
		now, reclaimable := read()
		busy := now-last >= releaseQuiet
		last = now
		switch {
		case reclaimable < releaseMin:
			t.Reset(releaseLater)
		case busy:
			t.Reset(releaseSoon)
		default:
			debug.FreeOSMemory()
			last, _ = read()
			t.Reset(releaseLater)
		}
	}
}

// active tells releaseIdle that sessions changed; it never blocks.
func (w *worker) active() {
	select {
	case w.activity <- struct{}{}:
	default:
	}
}

func (w *worker) serve() error {
	for {
		env, fd, err := w.parent.Recv()
		if errors.Is(err, ipc.ErrClosed) {
			w.log.Info("parent went away; exiting")
			w.stopAll()
			return nil
		}
		if err != nil {
			return err
		}
		switch b := env.Body.(type) {
		case *pb.ToMailbox_NewSession:
			if fd == nil {
				w.log.Error("session without a descriptor", "session", b.NewSession.SessionId)
				continue
			}
			w.start(b.NewSession, fd)
		case *pb.ToMailbox_Kick:
			// Off the control loop: the parent's next message is read
			// while the sessions end.
			w.log.Info("kicked by the administrator")
			go w.stopAll()
		case *pb.ToMailbox_Shutdown:
			w.log.Info("shutting down", "reason", b.Shutdown.Reason)
			w.stopAll()
			return nil
		}
	}
}

func (w *worker) start(ns *pb.NewSession, fd *os.File) {
	conn, err := net.FileConn(fd)
	fd.Close()
	if err != nil {
		w.log.Error("session descriptor", "err", err)
		w.done(ns.SessionId)
		return
	}
	if w.down {
		refuse(conn, ns.Handoff.GetTag())
		conn.Close()
		w.done(ns.SessionId)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.mu.Lock()
	w.sessions[ns.SessionId] = session{cancel, conn}
	w.mu.Unlock()
	h := ns.Handoff
	log := w.log.With("session", ns.SessionId, "peer", h.GetRemoteAddr())
	resumed := len(ns.Resume) > 0
	if resumed {
		log.Info("session resumed")
	} else {
		log.Info("session started", "tls", h.GetTls(), "tls_version", h.GetTlsVersion(), "cipher", h.GetTlsCipher())
	}
	w.active()
	cfg := server.SessionConfig{
		User:        w.store,
		UserName:    w.setup.User,
		AppendLimit: int64(w.setup.AppendLimit),
		AutoLogout:  time.Duration(w.setup.AutologoutSeconds) * time.Second,
		MaxLine:     int(w.setup.MaxLine),
		Quota:       server.Quota{Storage: int64(w.setup.QuotaStorage), Messages: int64(w.setup.QuotaMessages)},
		Metadata:    server.MetadataConfig{Admin: w.setup.MetadataAdmin, Comment: w.setup.MetadataComment},
		Logger:      log,
	}
	if w.setup.HibernateAfterSeconds > 0 {
		cfg.HibernateAfter = time.Duration(w.setup.HibernateAfterSeconds) * time.Second
		cfg.Hibernate = func(state []byte, watch *os.File) error { return w.hibernate(ns.SessionId, conn, state, watch) }
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer conn.Close()
		var err error
		if resumed {
			err = server.ResumeSession(ctx, conn, cfg, ns.Resume)
		} else {
			err = server.ServeSession(ctx, conn, cfg, &server.Login{
				Conn: conn, TLS: h.GetTls(), Tag: h.GetTag(), User: w.setup.User, SASL: h.GetSasl(),
				Pending: h.GetPending(), ID: h.GetIdParams(),
			})
		}
		cancel()
		switch {
		case errors.Is(err, server.ErrHibernated):
			// The parent holds it now and said nothing to the client.
			log.Info("session handed to the parent")
			w.forget(ns.SessionId)
			return
		case err != nil:
			log.Info("session ended", "err", err)
		default:
			log.Info("session ended")
		}
		w.done(ns.SessionId)
	}()
}

// hibernate hands session id to the parent: first the watch that will wake
// it, then the session with a duplicate of its socket
// (docs/design.md#idle-workers-and-hibernation). Once it returns nil the
// parent has both, and the session must write nothing more.
func (w *worker) hibernate(id uint64, conn net.Conn, state []byte, watch *os.File) error {
	fc, ok := conn.(interface{ File() (*os.File, error) })
	if !ok {
		return errors.New("connection has no descriptor")
	}
	sock, err := fc.File()
	if err != nil {
		return err
	}
	defer sock.Close()
	if err := w.parent.Send(&pb.FromMailbox{Body: &pb.FromMailbox_HibernateWatch{HibernateWatch: &pb.HibernateWatch{SessionId: id}}}, watch); err != nil {
		return err
	}
	return w.parent.Send(&pb.FromMailbox{Body: &pb.FromMailbox_Hibernate{Hibernate: &pb.Hibernate{SessionId: id, State: state}}}, sock)
}

// forget drops a session the parent took.
func (w *worker) forget(id uint64) {
	w.mu.Lock()
	delete(w.sessions, id)
	w.mu.Unlock()
	w.active()
}

func (w *worker) done(id uint64) {
	w.forget(id)
	if err := w.parent.Send(&pb.FromMailbox{Body: &pb.FromMailbox_SessionDone{SessionDone: &pb.SessionDone{SessionId: id}}}, nil); err != nil && !errors.Is(err, ipc.ErrClosed) {
		w.log.Debug("session done", "err", err)
	}
}

// stopAll ends every session (each says BYE) and waits for them, a bounded
// time: a session's writes get the engine's BYE grace once it is told to
// end, and one still there after stopWait has its connection closed.
func (w *worker) stopAll() {
	w.mu.Lock()
	for _, s := range w.sessions {
		s.cancel()
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(stopWait):
	}
	w.mu.Lock()
	for _, s := range w.sessions {
		s.conn.Close()
	}
	w.mu.Unlock()
	select {
	case <-done:
	case <-time.After(stopWait):
		w.log.Warn("sessions did not end in time")
	}
}

// stopWait bounds stopAll's waits.
const stopWait = 3 * time.Second

type session struct {
	cancel context.CancelFunc
	conn   net.Conn
}

// unavailable records that the user's mail cannot be opened, and logs
// what stopped it: the failing path and the owner and mode of it or of its
// nearest existing superior (issue 14, correction 9).
func (w *worker) unavailable(err error) {
	w.down = true
	path := MaildirPath(w.setup.MaildirPath, w.setup.User, w.setup.Home)
	var pe *os.PathError
	if errors.As(err, &pe) {
		path = pe.Path
	}
	w.log.Error("mailbox unavailable; logins are refused", append([]any{"err", err}, describePath(path)...)...)
}

// describePath gives the owner and mode of path, or of its nearest
// existing superior, as log attributes.
func describePath(path string) []any {
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err == nil {
			attrs := []any{"path", p, "mode", fi.Mode().String()}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				attrs = append(attrs, "owner", fmt.Sprintf("%d:%d", st.Uid, st.Gid))
			}
			if p != path {
				attrs = append(attrs, "missing", path)
			}
			return attrs
		}
		if p == filepath.Dir(p) {
			return []any{"path", path}
		}
	}
}

// refuse answers a login whose mail cannot be opened (RFC 5530
// UNAVAILABLE) and ends the connection, instead of closing it without a
// word.
func refuse(conn net.Conn, tag string) {
	if tag == "" {
		tag = "*"
	}
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "%s NO [UNAVAILABLE] Mailbox unavailable, try again later\r\n"+
		"* BYE [UNAVAILABLE] Mailbox unavailable\r\n", tag)
}
