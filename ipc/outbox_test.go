package ipc

import (
	"testing"
	"time"

	pb "imapd/proto"
)

// An Outbox never blocks its sender: a peer that reads nothing makes the
// writer miss its deadline, and Post then fails at once; onFail runs once.
func TestOutboxPeerStopsReading(t *testing.T) {
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close() // the peer: never read
	c, err := NewConn[*pb.ToMailbox, *pb.FromMailbox](a, "stuck")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	failed := make(chan error, 4)
	o := c.NewOutbox(8, 100*time.Millisecond, func(err error) { failed <- err })
	defer o.Close()
	big := &pb.ToMailbox{Body: &pb.ToMailbox_Shutdown{Shutdown: &pb.Shutdown{Reason: string(make([]byte, 32<<10))}}}
	start := time.Now()
	var postErr error
	for i := 0; i < 10000 && postErr == nil; i++ {
		postErr = o.Post(big, nil)
	}
	if postErr == nil {
		t.Fatal("10000 posts to a peer that does not read all succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("posting took %v: the sender was blocked", took)
	}
	select {
	case err := <-failed:
		t.Logf("onFail: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("onFail not called")
	}
	if len(failed) != 0 {
		t.Error("onFail called more than once")
	}
}
