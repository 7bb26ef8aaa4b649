// Package ipc carries imapd's messages between processes and holds the only
// code that changes a process's privileges. A channel is a SOCK_SEQPACKET
// socketpair: one datagram is one proto.Envelope plus at most one descriptor
// (docs/design.md, "Channels").
package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "imapd/proto"
)

// Version is the catalogue version every Envelope carries; a peer that sends
// another is refused at its first message.
const Version = 1

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

// Conn is one end of a channel. Send is safe for concurrent use; Recv must be
// called from one goroutine at a time.
type Conn struct {
	uc      *net.UnixConn
	peer    string
	allowed map[string]bool // names of the body fields this end accepts
	sendMu  sync.Mutex
	buf     []byte
	oob     []byte
}

// NewConn wraps f (which the Conn now owns) as a channel to peer. Only
// envelopes whose body is one of allowed (proto field names such as
// "new_conn") are accepted; anything else is an error from Recv.
func NewConn(f *os.File, peer string, allowed ...string) (*Conn, error) {
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
	c := &Conn{uc: uc, peer: peer, allowed: map[string]bool{},
		buf: make([]byte, MaxMessage+1), oob: make([]byte, unix.CmsgSpace(4*4))}
	for _, a := range allowed {
		c.allowed[a] = true
	}
	return c, nil
}

// Peer names the process at the other end, for logs.
func (c *Conn) Peer() string { return c.peer }

// Close closes this end; the peer reads EOF.
func (c *Conn) Close() error { return c.uc.Close() }

// Send writes env as one datagram, with fd attached when it is not nil. The
// caller keeps ownership of fd.
func (c *Conn) Send(env *pb.Envelope, fd *os.File) error {
	env.Version = Version
	b, err := proto.Marshal(env)
	if err != nil {
		return fmt.Errorf("ipc: marshal: %w", err)
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("ipc: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
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
// descriptor, version mismatches and body types not allowed on this channel;
// a descriptor that arrives with a refused message is closed.
func (c *Conn) Recv() (*pb.Envelope, *os.File, error) {
	n, fd, err := readDatagram(c.uc, c.buf, c.oob, c.peer)
	if err != nil {
		return nil, nil, err
	}
	fail := func(format string, args ...any) (*pb.Envelope, *os.File, error) {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, fmt.Errorf("ipc: from %s: "+format, append([]any{c.peer}, args...)...)
	}
	env := &pb.Envelope{}
	if err := proto.Unmarshal(c.buf[:n], env); err != nil {
		return fail("decode: %v", err)
	}
	if env.Version != Version {
		return fail("version %d, want %d", env.Version, Version)
	}
	name := BodyName(env)
	if !c.allowed[name] {
		return fail("unexpected message %q", name)
	}
	return env, fd, nil
}

// BodyName is the proto field name of env's body ("" when it has none), as
// used in allow-lists and logs.
func BodyName(env *pb.Envelope) string {
	od := env.ProtoReflect().Descriptor().Oneofs().ByName("body")
	fd := env.ProtoReflect().WhichOneof(od)
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
