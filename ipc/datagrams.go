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
)

// Datagrams is one end of a SOCK_SEQPACKET channel carrying opaque byte
// datagrams, each with at most one descriptor: the transport under a
// catalogue other than Envelope's (keyd's, proto/keyd.proto). Send is safe
// for concurrent use and gives up after its write deadline, so a peer that
// stops reading costs the sender one timeout, not a goroutine for ever;
// Recv must be called from one goroutine at a time.
type Datagrams struct {
	uc     *net.UnixConn
	peer   string
	wait   time.Duration
	sendMu sync.Mutex
	buf    []byte
	oob    []byte
}

// NewDatagrams wraps f (which it now owns) as a channel to peer; a Send
// that cannot complete within sendWait fails (0: no deadline).
func NewDatagrams(f *os.File, peer string, sendWait time.Duration) (*Datagrams, error) {
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
	return &Datagrams{uc: uc, peer: peer, wait: sendWait,
		buf: make([]byte, MaxMessage+1), oob: make([]byte, unix.CmsgSpace(4*4))}, nil
}

// Peer names the process at the other end, for logs.
func (d *Datagrams) Peer() string { return d.peer }

// Close closes this end; the peer reads EOF.
func (d *Datagrams) Close() error { return d.uc.Close() }

// Send writes b as one datagram, with fd attached when it is not nil. The
// caller keeps ownership of fd.
func (d *Datagrams) Send(b []byte, fd *os.File) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("ipc: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	if d.wait > 0 {
		d.uc.SetWriteDeadline(time.Now().Add(d.wait))
	}
	n, oobn, err := d.uc.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return fmt.Errorf("ipc: send to %s: %w", d.peer, err)
	}
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("ipc: short send to %s", d.peer)
	}
	return nil
}

// Recv reads one datagram; the bytes are valid until the next Recv. It
// refuses truncated datagrams and more than one descriptor (closing what
// came with a refused datagram), and returns ErrClosed at EOF.
func (d *Datagrams) Recv() ([]byte, *os.File, error) {
	n, fd, err := readDatagram(d.uc, d.buf, d.oob, d.peer)
	if err != nil {
		return nil, nil, err
	}
	return d.buf[:n], fd, nil
}

// readDatagram is the one reader of every channel (Conn, Datagrams): one
// datagram into buf (MaxMessage+1 bytes, so that an oversized one shows as
// truncation), at most one descriptor; ErrClosed at EOF.
func readDatagram(uc *net.UnixConn, buf, oobBuf []byte, peer string) (int, *os.File, error) {
	n, oobn, flags, _, err := uc.ReadMsgUnix(buf, oobBuf)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) {
		return 0, nil, ErrClosed
	}
	if err != nil {
		return 0, nil, fmt.Errorf("ipc: recv from %s: %w", peer, err)
	}
	fds, ferr := parseRights(oobBuf[:oobn])
	var fd *os.File
	if len(fds) > 0 {
		fd = os.NewFile(uintptr(fds[0]), "passed")
		for _, extra := range fds[1:] {
			unix.Close(extra)
		}
	}
	fail := func(format string, args ...any) (int, *os.File, error) {
		if fd != nil {
			fd.Close()
		}
		return 0, nil, fmt.Errorf("ipc: from %s: "+format, append([]any{peer}, args...)...)
	}
	switch {
	case n == 0 && oobn == 0:
		return 0, nil, ErrClosed
	case ferr != nil:
		return fail("%v", ferr)
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n > MaxMessage:
		return fail("truncated message")
	case len(fds) > 1:
		return fail("%d descriptors in one message", len(fds))
	}
	return n, fd, nil
}
