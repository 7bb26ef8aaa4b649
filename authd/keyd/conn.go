package keyd

import (
	"os"

	"imapd/ipc"
	pb "imapd/proto"
)

// channel is one end of a keyd channel (parent or worker): KeydMessages,
// one per datagram, as every imapd channel (docs/design.md, "Channels").
type channel = ipc.Conn[*pb.KeydMessage, *pb.KeydMessage]

func newChannel(f *os.File, peer string) (*channel, error) {
	return ipc.NewConn[*pb.KeydMessage, *pb.KeydMessage](f, peer)
}
