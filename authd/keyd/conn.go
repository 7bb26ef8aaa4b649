package keyd

import (
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	pb "imapd/proto"
)

// sendWait bounds a send to a peer that stopped reading: keyd drops such a
// worker rather than wait on it (docs/design.md, "Channels").
const sendWait = 2 * time.Second

// channel is one end of a keyd channel: KeydMessages over ipc.Datagrams.
type channel struct {
	d *ipc.Datagrams
}

func newChannel(f *os.File, peer string) (*channel, error) {
	d, err := ipc.NewDatagrams(f, peer, sendWait)
	if err != nil {
		return nil, err
	}
	return &channel{d: d}, nil
}

func (c *channel) send(m *pb.KeydMessage, fd *os.File) error {
	m.Version = Version
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("keyd: marshal: %w", err)
	}
	return c.d.Send(b, fd)
}

// recv reads one message and refuses another catalogue version.
func (c *channel) recv() (*pb.KeydMessage, *os.File, error) {
	b, fd, err := c.d.Recv()
	if err != nil {
		return nil, nil, err
	}
	m := &pb.KeydMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, fmt.Errorf("keyd: from %s: decode: %w", c.d.Peer(), err)
	}
	if m.Version != Version {
		if fd != nil {
			fd.Close()
		}
		return nil, nil, fmt.Errorf("keyd: from %s: version %d, want %d", c.d.Peer(), m.Version, Version)
	}
	return m, fd, nil
}

func (c *channel) close() error { return c.d.Close() }
