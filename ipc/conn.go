// Package ipc carries imapd's messages between processes and holds the only
// code that changes a process's privileges. A channel is a SOCK_SEQPACKET
// socketpair: one datagram is one message of the channel's direction plus at
// most one descriptor (docs/design.md, "Channels").
package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "imapd/proto"
)

// Version is the catalogue version every message carries; a peer that sends
// another is refused at its first message.
const Version = 2

// MaxMessage caps one datagram. Readers use a buffer one byte larger so that
// an oversized datagram shows up as truncation rather than passing silently.
const MaxMessage = 64 << 10

// ErrClosed reports that the peer closed its end (EOF on the channel).
var ErrClosed = errors.New("ipc: channel closed")

// Socketpair returns both ends of a new close-on-exec SOCK_SEQPACKET pair.
func Socketpair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "ipc"), os.NewFile(uintptr(fds[1]), "ipc"), nil
}

// Conn is one end of a channel that sends Out and receives In, each a
// direction's union from proto/imapd.proto: the compiler checks what each
// end may send, and Recv accepts only what its peer may send. Send is safe
// for concurrent use; Recv must be called from one goroutine at a time.
type Conn[Out, In proto.Message] struct {
	uc     *net.UnixConn
	peer   string
	sendMu sync.Mutex
	buf    []byte
	oob    []byte
}

// The channels, each seen from one end.
type (
	ParentToPreauth = Conn[*pb.ToPreauth, *pb.FromPreauth]
	PreauthToParent = Conn[*pb.FromPreauth, *pb.ToPreauth]
	ParentToAuthd   = Conn[*pb.ToAuthd, *pb.FromAuthd]
	AuthdToParent   = Conn[*pb.FromAuthd, *pb.ToAuthd]
	ParentToMailbox = Conn[*pb.ToMailbox, *pb.FromMailbox]
	MailboxToParent = Conn[*pb.FromMailbox, *pb.ToMailbox]
	PreauthToAuthd  = Conn[*pb.AuthCall, *pb.AuthAnswer]
	AuthdToPreauth  = Conn[*pb.AuthAnswer, *pb.AuthCall]
)

// NewConn wraps f (which the Conn now owns) as a channel to peer.
func NewConn[Out, In proto.Message](f *os.File, peer string) (*Conn[Out, In], error) {
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("ipc: %w", err)
	}
	uc, ok := fc.(*net.UnixConn)
	if !ok {
		fc.Close()
		return nil, errors.New("ipc: not a unix socket")
	}
	return &Conn[Out, In]{uc: uc, peer: peer, buf: make([]byte, MaxMessage+1), oob: make([]byte, unix.CmsgSpace(4*4))}, nil
}

// File returns a duplicate of the channel's descriptor (close-on-exec), for
// a role that re-executes itself with its channel (authd, confine.go).
func (c *Conn[Out, In]) File() (*os.File, error) { return c.uc.File() }

// Peer names the process at the other end, for logs.
func (c *Conn[Out, In]) Peer() string { return c.peer }

// Close closes this end; the peer reads EOF.
func (c *Conn[Out, In]) Close() error { return c.uc.Close() }

// versionField is field 1 of every channel message.
func versionField(m protoreflect.Message) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByNumber(1)
}

// Send writes m as one datagram, with fd attached when it is not nil. The
// caller keeps ownership of fd.
func (c *Conn[Out, In]) Send(m Out, fd *os.File) error {
	rm := m.ProtoReflect()
	rm.Set(versionField(rm), protoreflect.ValueOfUint32(Version))
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("ipc: marshal: %w", err)
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("ipc: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	var oob []byte
	if fd != nil {
		// Not fd.Fd(): it would put the descriptor, shared with the
		// sender's other copies, in blocking mode.
		rc, err := fd.SyscallConn()
		if err != nil {
			return fmt.Errorf("ipc: descriptor: %w", err)
		}
		rc.Control(func(n uintptr) { oob = unix.UnixRights(int(n)) })
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	n, oobn, err := c.uc.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("ipc: send to %s: %w", c.peer, err)
	}
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("ipc: short send to %s", c.peer)
	}
	return nil
}

// Recv reads one datagram. It refuses truncated datagrams, more than one
// descriptor, version mismatches and messages without a body (which is what
// a body of another direction decodes to); a descriptor that arrives with a
// refused message is closed.
func (c *Conn[Out, In]) Recv() (In, *os.File, error) {
	var none In
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(c.buf, c.oob)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return none, nil, ErrClosed
	}
	if err != nil {
		return none, nil, fmt.Errorf("ipc: recv from %s: %w", c.peer, err)
	}
	fds, ferr := parseRights(c.oob[:oobn])
	var fd *os.File
	if len(fds) > 0 {
		fd = os.NewFile(uintptr(fds[0]), "passed")
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
	}
	fail := func(format string, args ...any) (In, *os.File, error) {
		if fd != nil {
			fd.Close()
		}
		return none, nil, fmt.Errorf("ipc: from %s: "+format, append([]any{c.peer}, args...)...)
	}
	switch {
	case n == 0 && oobn == 0:
		return none, nil, ErrClosed
	case ferr != nil:
		return fail("%v", ferr)
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n > MaxMessage:
		return fail("truncated message")
	case len(fds) > 1:
		return fail("%d descriptors in one message", len(fds))
	}
	m := none.ProtoReflect().Type().New()
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(c.buf[:n], m.Interface()); err != nil {
		return fail("decode: %v", err)
	}
	if v := m.Get(versionField(m)).Uint(); v != Version {
		return fail("version %d, want %d", v, Version)
	}
	if BodyName(m.Interface()) == "" {
		return fail("unexpected message: no body of this channel")
	}
	return m.Interface().(In), fd, nil
}

// BodyName is the proto field name of m's body ("" when it has none), for
// logs.
func BodyName(m proto.Message) string {
	rm := m.ProtoReflect()
	od := rm.Descriptor().Oneofs().ByName("body")
	if od == nil {
		return ""
	}
	fd := rm.WhichOneof(od)
	if fd == nil {
		return ""
	}
	return string(fd.Name())
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	var bad error
	for _, m := range msgs {
		rights, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = err
			continue
		}
		fds = append(fds, rights...)
	}
	if bad != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, bad
	}
	return fds, nil
}

// StreamSocketpair returns a close-on-exec SOCK_STREAM pair: the byte stream
// a preauth worker relays a TLS session through.
func StreamSocketpair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("ipc: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "relay"), os.NewFile(uintptr(fds[1]), "relay"), nil
}

// ErrOverflow reports that an Outbox is full: its peer does not read.
var ErrOverflow = errors.New("ipc: outbox full")

// Outbox is a bounded queue of messages to one peer, drained by its own
// writer goroutine: the sender never blocks on a peer that stops reading.
// A full queue, or a datagram the peer does not take within the write
// deadline, is the peer's fault; the owner is told once through onFail and
// kills it (docs/design.md#channels).
type Outbox[Out, In proto.Message] struct {
	c        *Conn[Out, In]
	q        chan queued[Out]
	deadline time.Duration
	onFail   func(error)

	mu     sync.Mutex
	closed bool
	failed bool
}

type queued[Out proto.Message] struct {
	msg Out
	fd  *os.File
}

// NewOutbox starts a writer for c holding up to n messages. onFail runs at
// most once, on the writer's goroutine or the poster's.
func (c *Conn[Out, In]) NewOutbox(n int, deadline time.Duration, onFail func(error)) *Outbox[Out, In] {
	o := &Outbox[Out, In]{c: c, q: make(chan queued[Out], n), deadline: deadline, onFail: onFail}
	go o.write()
	return o
}

// Post queues env with fd, which the Outbox now owns and closes once sent
// or dropped. It never blocks: a full queue is ErrOverflow.
func (o *Outbox[Out, In]) Post(m Out, fd *os.File) error {
	o.mu.Lock()
	if o.closed || o.failed {
		o.mu.Unlock()
		if fd != nil {
			fd.Close()
		}
		return ErrClosed
	}
	select {
	case o.q <- queued[Out]{m, fd}:
		o.mu.Unlock()
		return nil
	default:
	}
	o.mu.Unlock()
	if fd != nil {
		fd.Close()
	}
	o.fail(ErrOverflow)
	return ErrOverflow
}

// Close stops the writer once it has sent what is queued (or failed).
func (o *Outbox[Out, In]) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.q)
	}
}

func (o *Outbox[Out, In]) fail(err error) {
	o.mu.Lock()
	first := !o.failed
	o.failed = true
	o.mu.Unlock()
	if first && o.onFail != nil {
		o.onFail(err)
	}
}

func (o *Outbox[Out, In]) write() {
	for m := range o.q {
		o.mu.Lock()
		failed := o.failed
		o.mu.Unlock()
		if !failed {
			if o.deadline > 0 {
				o.c.uc.SetWriteDeadline(time.Now().Add(o.deadline))
			}
			if err := o.c.Send(m.msg, m.fd); err != nil {
				o.fail(err)
			}
		}
		if m.fd != nil {
			m.fd.Close()
		}
	}
}
