// Package server is the IMAP session engine: the state machine and every
// command of RFC 9051 §6 plus the IMAP4rev1 forms. It talks to storage only
// through imapworker/store and to authentication only through
// Authenticator. The two entry points are ServePreauth (not-authenticated
// state, in the preauth worker) and ServeSession (after login, in the
// mailbox worker).
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// AuthRequest is one authentication attempt.
type AuthRequest struct {
	Mechanism, User, Password, AuthzID string
	ID                                 []string // the ID (RFC 2971) params sent before, key/value pairs
}

// AuthResponse answers an AuthRequest.
type AuthResponse struct {
	OK   bool
	Code string // RFC 5530 code when !OK, e.g. "AUTHENTICATIONFAILED", "UNAVAILABLE"
	User string // canonical name when OK
}

// Authenticator checks credentials (the authd client in production).
type Authenticator interface {
	Authenticate(ctx context.Context, req AuthRequest) AuthResponse
}

// PreauthConfig configures ServePreauth.
type PreauthConfig struct {
	Auth      Authenticator
	StartTLS  *tls.Config // nil: STARTTLS not offered
	TLSActive bool        // the connection is already TLS (implicit TLS)
	Secure    bool        // cleartext auth allowed anyway; else LOGINDISABLED + NO [PRIVACYREQUIRED]
	// LoginTimeout bounds the whole not-authenticated state (default 1
	// minute; RFC 9051 §5.4 allows a shorter autologout before login).
	LoginTimeout time.Duration
	// MaxLine caps a command outside its literals (`limit line`); before
	// login it is at most preauthMaxLine.
	MaxLine int
	// WriteTimeout bounds each write to a client that does not read
	// (default 30 s before login, and never past the login timeout).
	WriteTimeout time.Duration
	// MasterUser, when set, may act as another user (PLAIN authorization
	// identity): a proxy's master-secret login, which authd checks
	// (docs/cluster.md).
	MasterUser string
	Logger     *slog.Logger
}

// Login is a successful login handed from ServePreauth to ServeSession.
type Login struct {
	Conn    net.Conn // the connection to continue on: conn, or the *tls.Conn made by STARTTLS
	TLS     bool
	Tag     string // tag of the LOGIN/AUTHENTICATE command, not yet answered
	User    string
	SASL    bool     // AUTHENTICATE rather than LOGIN
	Pending []byte   // bytes the client sent after the login command
	ID      []string // ID params the client sent, key/value pairs
}

// SessionConfig configures ServeSession.
type SessionConfig struct {
	User        store.User
	UserName    string
	AppendLimit int64          // APPENDLIMIT (RFC 7889); default 64 MiB
	AutoLogout  time.Duration  // default and minimum 30 minutes (RFC 9051 §5.4)
	MaxLine     int            // caps a command outside its literals; default 64 KiB
	Quota       Quota          // RFC 9208 limits; zero: none
	Metadata    MetadataConfig // RFC 5464 server entries (metadata.go)
	// WriteTimeout bounds each write to a client that does not read
	// (default 5 minutes).
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// HibernateAfter is how long a session stays in IDLE, quiet, before it
	// offers itself to Hibernate; 0 or a nil Hibernate: never.
	HibernateAfter time.Duration
	// Hibernate takes a quiescent IDLE session away from this process:
	// state is the session's opaque, self-describing state (at most
	// MaxHibernateState bytes), watch a non-blocking descriptor that becomes
	// readable when the selected mailbox changes (the caller closes it
	// after use; Hibernate does not keep it). It returns nil if the caller
	// has taken the session: the session then writes nothing more and
	// ServeSession/ResumeSession return ErrHibernated, and the caller closes
	// its net.Conn without writing (another process holds a duplicate of the
	// socket). A non-nil error means "not taken": the session goes on idling
	// as if nothing happened (and may offer itself again after another
	// HibernateAfter). See docs/design.md#idle-workers-and-hibernation.
	Hibernate func(state []byte, watch *os.File) error
}

// Limits.
const (
	preauthMaxLiteral = 8 << 10 // LOGIN/AUTHENTICATE literals before login
	// preauthMaxLine holds the longest ID that RFC 2971 §3.3 allows (30
	// pairs, fields up to 30 octets, values up to 1024: 31.8 KB quoted),
	// with room; other commands before login are short.
	preauthMaxLine = 40 << 10
	// idValueKept bounds each ID value kept for the mailbox worker's log,
	// so that 30 long values fit the handoff message (docs/design.md,
	// "A connection's path").
	idValueKept        = 256
	defaultAppendLimit = 64 << 20
	minAutoLogout      = 30 * time.Minute
	defaultLoginTime   = time.Minute
	maxBadCommands     = 10 // consecutive BADs before BYE
	idleInterval       = 30 * time.Minute
	// Write deadlines (docs/security.md#deadlines): a client that stops
	// reading holds a session no longer than this per write, and one told
	// to end (kick, shutdown, login timeout) gets byeGrace for its BYE.
	preauthWriteTimeout = 30 * time.Second
	sessionWriteTimeout = 5 * time.Minute
	byeGrace            = time.Second
)

type state uint8

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected

	anyState = stateNotAuth | stateAuth | stateSelected
	authed   = stateAuth | stateSelected
)

var (
	errLogout   = errors.New("logout")
	errShutdown = errors.New("shutting down")
	errTimeout  = errors.New("autologout")
	errLoggedIn = errors.New("logged in")
)

// conn is one client connection in either role.
type conn struct {
	ctx context.Context
	log *slog.Logger
	nc  net.Conn
	r   *imap.Reader
	tls bool

	maxLine int // preauth: the line cap, kept for the reader STARTTLS makes
	// litTotal sums the current command's literals (MULTIAPPEND, see
	// literal); the reader goroutine alone uses it.
	litTotal int64

	wmu          sync.Mutex // bw is written by the main loop and by the literal callback
	bw           *bufio.Writer
	sent         int64 // bytes bw has written to nc (see wrote)
	writeTimeout time.Duration
	stopBye      func() bool // cancels the byeGrace deadline, for a handoff
	src          io.Reader   // what the session's reader reads from (COMPRESS wraps it)
	zw           *zWriter    // non-nil once COMPRESS is active: flush flushes it too

	reqs    chan readKind
	res     chan readResult
	pending bool // a read was requested and not yet received
	// queue holds commands read ahead and not yet executed (appendBatch).
	queue   []readResult
	stopped bool

	state     state
	timeout   time.Duration
	logoutAt  time.Time // non-zero: the next wait's autologout comes then, not timeout from now
	validSeen bool      // a valid command was received: garbage after it is BAD, not BYE
	bad       int       // consecutive BAD answers

	// Not-authenticated state.
	pcfg  *PreauthConfig
	login *Login
	idArg []string

	// Authenticated state.
	scfg      *SessionConfig
	user      store.User
	rev2      bool // ENABLE IMAP4rev2 (RFC 9051 §6.3.1)
	utf8      bool // ENABLE UTF8=ACCEPT (RFC 6855); see utf8OK
	mbox      *selected
	out       []byte // scratch line buffer
	appendMax int64

	condstore bool         // a CONDSTORE enabling command was seen (RFC 7162 §3.1)
	qresync   bool         // ENABLE QRESYNC (RFC 7162 §3.2.3)
	notify    *notifyState // NOTIFY SET (RFC 5465); nil: none
}

type readKind uint8

const (
	readCommand readKind = iota
	readLine
)

type readResult struct {
	cmd  *imap.Command
	line []byte
	err  error
}

func newConn(ctx context.Context, nc net.Conn, br *bufio.Reader, log *slog.Logger, writeTimeout time.Duration) *conn {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &conn{
		ctx:          ctx,
		log:          log,
		nc:           nc,
		reqs:         make(chan readKind),
		res:          make(chan readResult, 1),
		writeTimeout: writeTimeout,
	}
	c.bw = bufio.NewWriterSize(deadlineWriter{c}, 32<<10)
	// A write blocked when the session is told to end (or the login time
	// runs out) gets byeGrace more, not its whole deadline.
	c.stopBye = context.AfterFunc(ctx, func() { nc.SetWriteDeadline(time.Now().Add(byeGrace)) })
	c.r = imap.NewReader(br, c.literal)
	go c.reader()
	return c
}

// deadlineWriter is what bw writes through: every write has a deadline, the
// login deadline before login, and a client that makes one miss it is
// disconnected, so the reader and with it the session end
// (docs/security.md#deadlines).
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(b []byte) (int, error) {
	c := w.c
	d := time.Now().Add(c.writeTimeout)
	if c.ctx.Err() != nil {
		d = time.Now().Add(byeGrace)
	} else if dl, ok := c.ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	c.nc.SetWriteDeadline(d)
	n, err := c.nc.Write(b)
	c.sent += int64(n)
	if err != nil {
		// Close the socket itself: a TLS close would try to write again.
		if tc, ok := c.nc.(interface{ NetConn() net.Conn }); ok {
			tc.NetConn().Close()
		} else {
			c.nc.Close()
		}
	}
	return n, err
}

// reader runs reads on request, so that the main loop can wait for input,
// store changes, timers and ctx at once, and so that no byte is read past a
// command before the main loop decides (STARTTLS, login handoff).
func (c *conn) reader() {
	for k := range c.reqs {
		var res readResult
		r := c.r
		if k == readCommand {
			c.litTotal = 0
			res.cmd, res.err = r.ReadCommand()
		} else {
			var l []byte
			l, res.err = r.ReadLine()
			res.line = append([]byte(nil), l...)
		}
		c.res <- res
	}
}

// read asks the reader goroutine for input and waits for it (see await).
// The reader goroutine is idle, so the send does not block.
func (c *conn) read(k readKind, changed <-chan struct{}) (readResult, bool, error) {
	c.reqs <- k
	c.pending = true
	return c.await(changed)
}

// await waits for the requested read, for changed (then the read stays
// pending), for the autologout timer or for ctx. c.wmu is released while
// waiting, so that the literal callback can write, and held on return.
func (c *conn) await(changed <-chan struct{}) (readResult, bool, error) {
	c.wmu.Unlock()
	var timer <-chan time.Time
	if c.timeout > 0 {
		d := c.timeout
		if !c.logoutAt.IsZero() {
			d = time.Until(c.logoutAt)
			c.logoutAt = time.Time{}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case res := <-c.res:
		c.wmu.Lock()
		c.pending = false
		return res, false, nil
	case <-changed:
		c.wmu.Lock()
		return readResult{}, true, nil
	case <-timer:
		c.wmu.Lock()
		return readResult{}, false, c.autologout()
	case <-c.ctx.Done():
		c.wmu.Lock()
		return readResult{}, false, c.ended()
	}
}

// autologout ends a session idle for too long (RFC 9051 §5.4).
func (c *conn) autologout() error {
	c.bye("Autologout; idle for too long")
	return errTimeout
}

// ended says BYE to a session whose ctx is done: the login timeout or a
// shutdown.
func (c *conn) ended() error {
	if context.Cause(c.ctx) == errTimeout {
		c.bye("Autologout; login took too long")
		return errTimeout
	}
	c.bye("shutting down")
	return errShutdown
}

// wrote reports whether anything was written since mark, a sent + buffered
// count taken before.
func (c *conn) wrote(mark int64) bool { return c.sent+int64(c.bw.Buffered()) != mark }

// stop ends the reader goroutine once it is idle; with closeConn it closes
// the connection first, which unblocks a pending read.
func (c *conn) stop(closeConn bool) {
	if c.stopped {
		return
	}
	c.stopped = true
	if closeConn {
		c.nc.Close()
	}
	if c.pending {
		<-c.res
		c.pending = false
	}
	close(c.reqs)
}

// lingerClose flushes, ends our side of the connection and discards what
// the client is still sending, for a bounded time and amount, before the
// close: closing with unread input makes the kernel reset the connection,
// which can destroy the BYE before the client reads it.
func (c *conn) lingerClose() {
	c.flush()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.CopyN(io.Discard, c.nc, 64<<20)
}

func (c *conn) bye(text string) {
	c.writeString("* BYE " + text + "\r\n")
	c.flush()
}

func (c *conn) writeString(s string) { c.bw.WriteString(s) }
func (c *conn) write(b []byte)       { c.bw.Write(b) }

func (c *conn) flush() {
	err := c.bw.Flush()
	if c.zw != nil && c.zw.dirty && err == nil {
		// RFC 4978 §4: a sync flush, so that no response (IDLE's
		// included) waits in the compressor.
		c.zw.dirty = false
		err = c.zw.Flush()
	}
	if err != nil {
		c.log.Debug("write failed", "err", err)
	}
}

// pipelined reports whether the client's next command is already read
// whole (imap.Reader.CommandBuffered), so that reading it cannot block:
// the main loop may read it itself while the reader goroutine is idle.
func (c *conn) pipelined() bool {
	return len(c.queue) > 0 || !c.pending && !c.stopped && c.ctx.Err() == nil && c.r.CommandBuffered()
}

// maybeFlush flushes unless the client already pipelined more commands, so
// that pipelined commands are answered in few writes.
func (c *conn) maybeFlush() {
	if len(c.r.Buffered()) == 0 {
		c.flush()
	}
}

// literal is the Reader's literal policy; it runs on the reader goroutine.
func (c *conn) literal(size int64, nonSync, binary bool) error {
	_, name := c.r.Current()
	limit := int64(preauthMaxLiteral)
	if c.state&authed != 0 && name == "APPEND" {
		limit = c.appendMax
	}
	if c.state&authed != 0 && name == "SETMETADATA" {
		if err := metadataLiteral(size, c.litTotal+size); err != nil {
			return err // RFC 5464 §4.3 [METADATA MAXSIZE]
		}
		limit = metadataMaxSize
	}
	if size > limit {
		if name == "APPEND" {
			return &respError{code: "TOOBIG", msg: "message exceeds APPENDLIMIT"}
		}
		return &respError{code: "LIMIT", msg: "literal too big"}
	}
	if c.litTotal += size; c.litTotal > 2*limit && name == "APPEND" {
		// RFC 3502: a MULTIAPPEND is held whole until it is stored.
		return &respError{code: "LIMIT", msg: "MULTIAPPEND too large; send fewer messages at once"}
	}
	if !nonSync {
		c.wmu.Lock()
		c.writeString("+ Ready for literal data\r\n")
		c.flush()
		c.wmu.Unlock()
	}
	return nil
}

// serve is the command loop shared by both roles. It returns nil on
// LOGOUT or EOF, errLoggedIn after a successful login in the preauth role,
// ErrHibernated when the session was taken (hibernate.go). first, when
// non-nil, runs before any command is read: a resumed session's IDLE.
func (c *conn) serve(first func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if first != nil {
		if end, err := c.after(first()); end {
			return err
		}
	}
	for {
		c.notifyDue()
		c.maybeFlush()
		var res readResult
		var woke bool
		var err error
		if len(c.queue) > 0 {
			res, c.queue = c.queue[0], c.queue[1:]
		} else if c.pipelined() {
			// Read here: no hand-off to the reader goroutine and back, no
			// timer, for each command of a pipelined batch.
			c.litTotal = 0
			res.cmd, res.err = c.r.ReadCommand()
		} else {
			res, woke, err = c.read(readCommand, c.notifyWake())
		}
		for err == nil && woke { // RFC 5465: events between commands
			c.notifyCheck(true)
			c.flush()
			res, woke, err = c.await(c.notifyWake())
		}
		if err != nil {
			c.stop(true)
			return nil
		}
		if res.err != nil {
			if c.readError(res.err) {
				c.flush()
				c.stop(true)
				return nil
			}
			continue
		}
		if end, err := c.after(c.exec(res.cmd)); end {
			return err
		}
	}
}

// after handles what a command returned: end is true when the session
// ends, with err what serve returns.
func (c *conn) after(err error) (end bool, _ error) {
	switch err {
	case nil:
		return false, nil
	case errLogout:
		c.flush()
		c.stop(true)
		return true, nil
	case errLoggedIn:
		c.flush()
		c.stop(false)
		return true, errLoggedIn
	case ErrHibernated:
		// Another process holds the connection now: nothing more is
		// written, not even a deadline is set on it, and it stays open
		// for the caller (docs/design.md#idle-workers-and-hibernation).
		c.stopBye()
		c.stop(false)
		return true, err
	default:
		c.flush()
		c.stop(true)
		return true, err
	}
}

// readError answers a command that could not be read; true means close.
func (c *conn) readError(err error) bool {
	var se *imap.SyntaxError
	var le *imap.LiteralError
	switch {
	case errors.As(err, &se):
		if !c.validSeen {
			// Garbage before any valid command: not an IMAP client.
			c.writeString("* BYE not an IMAP client\r\n")
			return true
		}
		c.bad++
		tag := se.Tag
		if tag == "" {
			tag = "*"
		}
		c.tagged(tag, "BAD", "", se.Msg)
		if errors.Is(err, imap.ErrLineGoesOn) {
			c.writeString("* BYE line too long\r\n")
			c.lingerClose()
			return true
		}
		if c.bad >= maxBadCommands {
			c.writeString("* BYE too many bad commands\r\n")
			return true
		}
		return false
	case errors.As(err, &le):
		tag := le.Tag
		if tag == "" {
			tag = "*"
		}
		var re *respError
		if errors.As(le.Err, &re) {
			c.tagged(tag, "NO", re.code, re.msg)
		} else {
			c.tagged(tag, "BAD", "", le.Err.Error())
		}
		if le.Desync {
			c.writeString("* BYE literal refused, cannot resynchronize\r\n")
			return true
		}
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	default:
		c.log.Debug("read failed", "err", err)
		return true
	}
}

// exec checks the state and runs a command (CONVENTIONS 8: decode the
// whole command first, then check state, then act).
func (c *conn) exec(cmd *imap.Command) error {
	h, ok := commands[cmd.Name]
	if !ok || (cmd.UID && !h.uid) {
		c.validSeen = true
		c.bad++
		c.tagged(cmd.Tag, "BAD", "", "unknown command")
		return c.tooBad()
	}
	if h.states&c.state == 0 {
		c.validSeen = true
		c.bad++
		c.tagged(cmd.Tag, "BAD", "", "command not allowed in this state")
		return c.tooBad()
	}
	c.validSeen = true
	return c.finish(cmd, c.run(h, cmd))
}

// finish answers what a command's handler returned, as exec does.
func (c *conn) finish(cmd *imap.Command, err error) error {
	if err == errPanic {
		c.writeString("* BYE internal error\r\n")
		return errLogout
	}
	switch err {
	case nil, errLogout, errLoggedIn, errShutdown, errTimeout, ErrHibernated:
		if err == nil {
			c.bad = 0
		}
		return err
	}
	if isBad(err) {
		c.bad++
	} else {
		c.bad = 0
	}
	c.fail(cmd, err)
	return c.tooBad()
}

var errPanic = errors.New("handler panicked")

// run calls a handler; a panic is a bug: it is logged with its stack and
// answered NO [SERVERBUG], and the session ends, since its state may be
// inconsistent. Other sessions of the process go on.
func (c *conn) run(h handler, cmd *imap.Command) (err error) {
	defer func() {
		if x := recover(); x != nil {
			c.log.Error("command panicked", "cmd", cmd.Name, "panic", x, "stack", string(debug.Stack()))
			c.tagged(cmd.Tag, "NO", "SERVERBUG", "internal error")
			err = errPanic
		}
	}()
	return h.fn(c, cmd)
}

func (c *conn) tooBad() error {
	if c.bad >= maxBadCommands {
		c.writeString("* BYE too many bad commands\r\n")
		return errLogout
	}
	return nil
}

// tagged writes "tag status [code] text".
func (c *conn) tagged(tag, status, code, text string) {
	b := c.out[:0]
	b = append(b, tag...)
	b = append(b, ' ')
	b = append(b, status...)
	b = append(b, ' ')
	if code != "" {
		b = append(b, '[')
		b = append(b, code...)
		b = append(b, "] "...)
	}
	b = append(b, text...)
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
}

// ok sends pending mailbox updates allowed after cmd, then the tagged OK.
// While the client has pipelined another command, other sessions' changes
// wait for the end of the batch: one look at the store for a batch, not
// one per command (RFC 9051 §7 lets the server choose when; NOOP and IDLE
// look each time). A command that may have added messages to the selected
// mailbox still looks, so that its EXISTS comes at once (RFC 9051
// §6.3.12) and the next command can name them.
func (c *conn) ok(cmd *imap.Command, code, text string) {
	if !c.pipelined() || addsMessages(cmd) {
		c.updates(expungeAllowed(cmd))
	}
	c.tagged(cmd.Tag, "OK", code, text)
}

// addsMessages: commands that can put messages into the selected mailbox.
func addsMessages(cmd *imap.Command) bool {
	switch cmd.Name {
	case "APPEND", "COPY", "MOVE", "REPLACE":
		return true
	}
	return false
}

// expungeAllowed: RFC 9051 §7.5.1, no EXPUNGE during FETCH, STORE or
// SEARCH, nor SORT or THREAD (RFC 5256 §3); the UID forms may carry them.
func expungeAllowed(cmd *imap.Command) bool {
	switch cmd.Name {
	case "FETCH", "STORE", "SEARCH", "SORT", "THREAD":
		return cmd.UID
	}
	return true
}
