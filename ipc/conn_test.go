package ipc

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "imapd/proto"
)

// pair returns the parent's end of a preauth channel, which receives what
// a preauth worker may send, and the raw fd of the other end, for the test
// to write hostile datagrams into.
func pair(t *testing.T) (*ParentToPreauth, int) {
	t.Helper()
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn[*pb.ToPreauth, *pb.FromPreauth](a, "peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); b.Close() })
	fd, err := unix.Dup(int(b.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return c, fd
}

func marshal(t *testing.T, env proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openFile returns a descriptor to pass, and a check that it was closed by
// the receiver (no descriptor leaks from refused messages).
func openFiles(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for i := 0; i < n; i++ {
		f, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		fd, _ := unix.Dup(int(f.Fd()))
		f.Close()
		fds = append(fds, fd)
	}
	return fds
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestConnRoundTripWithDescriptor(t *testing.T) {
	a, b, err := Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := NewConn[*pb.ToPreauth, *pb.FromPreauth](a, "rx")
	rx, _ := NewConn[*pb.FromPreauth, *pb.ToPreauth](b, "tx")
	defer tx.Close()
	defer rx.Close()
	f, _ := os.Open("/dev/null")
	defer f.Close()
	if err := tx.Send(&pb.ToPreauth{Id: 7, Body: &pb.ToPreauth_NewConn{NewConn: &pb.NewConn{ConnId: 42}}}, f); err != nil {
		t.Fatal(err)
	}
	env, fd, err := rx.Recv()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if env.Id != 7 || env.GetNewConn().GetConnId() != 42 || fd == nil || BodyName(env) != "new_conn" {
		t.Fatalf("got %v fd=%v", env, fd)
	}
}

// A receiving end refuses what its peer may not send, and closes any
// descriptor that came with a refused message (DESIGN §3).
func TestConnRefusesHostileDatagrams(t *testing.T) {
	good := &pb.FromPreauth{Version: Version, Body: &pb.FromPreauth_ConnDone{ConnDone: &pb.ConnDone{ConnId: 1}}}
	cases := []struct {
		name string
		data func(t *testing.T) []byte
		nfds int
		want string
	}{
		{"another direction's message", func(t *testing.T) []byte {
			return marshal(t, &pb.FromAuthd{Version: Version, Body: &pb.FromAuthd_Grant{Grant: &pb.Grant{Token: "x"}}})
		}, 1, "unexpected message"},
		{"no body", func(t *testing.T) []byte { return marshal(t, &pb.FromPreauth{Version: Version}) }, 1, "unexpected message"},
		{"wrong version", func(t *testing.T) []byte {
			return marshal(t, &pb.FromPreauth{Version: Version + 1, Body: good.Body})
		}, 1, "version"},
		{"garbage", func(t *testing.T) []byte { return []byte{0xff, 0xff, 0xff, 0xff, 0x0f} }, 1, "decode"},
		{"two descriptors", func(t *testing.T) []byte { return marshal(t, good) }, 2, "descriptors"},
		{"too large", func(t *testing.T) []byte { return make([]byte, MaxMessage+100) }, 1, "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rx, raw := pair(t)
			before := countFDs(t)
			fds := openFiles(t, c.nfds)
			if err := unix.Sendmsg(raw, c.data(t), unix.UnixRights(fds...), nil, 0); err != nil {
				t.Fatal(err)
			}
			for _, fd := range fds {
				unix.Close(fd)
			}
			_, fd, err := rx.Recv()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Recv: %v, want an error about %q", err, c.want)
			}
			if fd != nil {
				t.Fatal("a descriptor came back with a refused message")
			}
			if after := countFDs(t); after != before {
				t.Fatalf("%d descriptors open after the refusal, %d before: the passed one leaked", after, before)
			}
			// The channel still works for a well-formed message.
			if err := unix.Sendmsg(raw, marshal(t, good), nil, nil, 0); err != nil {
				t.Fatal(err)
			}
			if env, _, err := rx.Recv(); err != nil || env.GetConnDone().GetConnId() != 1 {
				t.Fatalf("after the refusal: %v %v", env, err)
			}
		})
	}
}

func TestConnEOFIsClosed(t *testing.T) {
	rx, raw := pair(t)
	unix.Shutdown(raw, unix.SHUT_WR)
	if _, _, err := rx.Recv(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after the peer closed: %v, want ErrClosed", err)
	}
}

// FuzzRecv feeds arbitrary datagrams to a receiving end: it must never
// panic, and whatever it accepts must be an allowed, current-version message.
func FuzzRecv(f *testing.F) {
	for _, env := range []proto.Message{
		&pb.FromPreauth{Version: Version, Id: 1, Body: &pb.FromPreauth_Handoff{Handoff: &pb.Handoff{ConnId: 3, Token: "t", Tag: "a1", Pending: []byte("a2 NOOP\r\n")}}},
		&pb.FromPreauth{Version: Version, Body: &pb.FromPreauth_ConnDone{ConnDone: &pb.ConnDone{ConnId: 9}}},
		&pb.FromAuthd{Version: Version, Body: &pb.FromAuthd_Grant{Grant: &pb.Grant{Token: "t", Groups: []uint32{1, 2}}}},
	} {
		b, _ := proto.Marshal(env)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // an empty datagram reads as EOF on SOCK_SEQPACKET
		}
		rx, raw := pair(t)
		if err := unix.Sendmsg(raw, data, nil, nil, 0); err != nil {
			if len(data) > MaxMessage {
				return
			}
			t.Fatal(err)
		}
		env, fd, err := rx.Recv()
		if fd != nil {
			t.Fatal("descriptor from a datagram that carried none")
		}
		if err != nil {
			return
		}
		if env.Version != Version {
			t.Fatalf("accepted version %d", env.Version)
		}
		if n := BodyName(env); n != "handoff" && n != "conn_done" && n != "ready" {
			t.Fatalf("accepted %q", n)
		}
	})
}
