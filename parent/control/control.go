// Package control is the parent's control socket, which imapctl(8) talks
// to: a SOCK_SEQPACKET unix socket where each datagram is one pb.Envelope
// holding a CtlRequest or a CtlReply. Who may ask what is decided from the
// peer's credentials (SO_PEERCRED): status for root and the members of the
// status group, reload and kick for root only.
package control

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	pb "imapd/proto"
)

// Version is the control protocol's version (CtlRequest.ctl_version). Bump
// it when imapctl and imapd must be upgraded together.
const Version = 1

// maxMessage caps one datagram; reads use one byte more to see truncation.
const maxMessage = ipc.MaxMessage

// Handler is what the parent offers to imapctl.
type Handler interface {
	Status() *pb.StatusReport
	// Reload re-reads the configuration; an error means the old one is kept.
	Reload() error
	// Kick ends every session of user and says how many there were.
	Kick(user string) (int, error)
	// AuthTest checks a password as a login would, without a session.
	AuthTest(user string, password []byte) (*pb.AuthTestResult, error)
	// Who lists the connections, before and after login.
	Who() []*pb.SessionInfo
}

// Mover is a Handler that can pin a user to a proxy backend (imapctl move,
// docs/cluster.md).
type Mover interface {
	Move(user, backend string) (int, error)
}

// ErrVersion reports a peer speaking another control protocol version.
var ErrVersion = errors.New("control protocol version mismatch")

func marshal(id uint64, body isBody) ([]byte, error) {
	env := &pb.Envelope{Version: ipc.Version, Id: id}
	switch b := body.(type) {
	case *pb.CtlRequest:
		env.Body = &pb.Envelope_CtlRequest{CtlRequest: b}
	case *pb.CtlReply:
		env.Body = &pb.Envelope_CtlReply{CtlReply: b}
	}
	data, err := proto.Marshal(env)
	if err != nil {
		return nil, err
	}
	if len(data) > maxMessage {
		return nil, fmt.Errorf("control: message of %d bytes exceeds %d", len(data), maxMessage)
	}
	return data, nil
}

type isBody interface{ proto.Message }

// readEnvelope reads one datagram from c. Descriptors are never expected on
// this socket: any that arrive are closed and the message refused.
func readEnvelope(c *net.UnixConn, buf []byte) (*pb.Envelope, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) {
		return nil, ipc.ErrClosed
	}
	if err != nil {
		return nil, err
	}
	if oobn > 0 {
		closeRights(oob[:oobn])
		return nil, errors.New("control: descriptor passed on the control socket")
	}
	if n == 0 {
		return nil, ipc.ErrClosed
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n > maxMessage {
		return nil, errors.New("control: truncated message")
	}
	env := &pb.Envelope{}
	if err := proto.Unmarshal(buf[:n], env); err != nil {
		return nil, fmt.Errorf("control: decode: %w", err)
	}
	return env, nil
}

func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}

// peerCred returns the credentials the kernel recorded for c's peer at
// connect time.
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	err = rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = cerr
	}
	return cred, err
}

// inGroup reports whether the peer has gid as its group or one of its
// supplementary groups. SO_PEERCRED gives only the primary gid, so the
// others are read from /proc/PID/status.
func inGroup(cred *unix.Ucred, gid int) bool {
	if gid < 0 {
		return false
	}
	if int(cred.Gid) == gid {
		return true
	}
	groups, err := procGroups(cred.Pid, cred.Uid)
	if err != nil {
		return false
	}
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}

// procGroups reads the supplementary groups of pid, after checking that
// its real uid is still uid: a peer that exited and whose pid was reused by
// another user's process must not lend it that process's groups.
func procGroups(pid int32, uid uint32) ([]int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil, err
	}
	uidOK := false
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			uidOK = len(f) > 0 && f[0] == strconv.FormatUint(uint64(uid), 10)
			continue
		}
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		if !uidOK {
			return nil, errors.New("peer's uid changed")
		}
		var gs []int
		for _, f := range strings.Fields(rest) {
			g, err := strconv.Atoi(f)
			if err != nil {
				return nil, err
			}
			gs = append(gs, g)
		}
		return gs, nil
	}
	return nil, errors.New("no Groups line")
}
