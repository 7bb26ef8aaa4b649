package control

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	pb "imapd/proto"
)

// FuzzRequest decodes arbitrary datagrams as the server does and checks that
// handling never panics, always answers, and never lets a non-root peer
// reach Reload or Kick.
func FuzzRequest(f *testing.F) {
	for _, req := range []*pb.CtlRequest{
		{CtlVersion: Version, Op: &pb.CtlRequest_Status{Status: &pb.CtlStatus{}}},
		{CtlVersion: Version, Op: &pb.CtlRequest_Reload{Reload: &pb.CtlReload{}}},
		{CtlVersion: Version, Op: &pb.CtlRequest_Kick{Kick: &pb.CtlKick{User: "alice"}}},
		{CtlVersion: Version + 1},
	} {
		b, _ := marshal(1, req)
		f.Add(b, uint32(0))
		f.Add(b, uint32(1000))
	}
	f.Fuzz(func(t *testing.T, data []byte, uid uint32) {
		env := &pb.Envelope{}
		if proto.Unmarshal(data, env) != nil {
			return
		}
		h := &fakeHandler{}
		s := &server{h: h, log: quiet, statusGID: -1}
		reply, _ := s.handle(quiet, uid, func() bool { return false }, env)
		if reply == nil || reply.CtlVersion != Version {
			t.Fatalf("reply %v", reply)
		}
		if reloads, kicked := h.snapshot(); uid != 0 && (reloads != 0 || len(kicked) != 0) {
			t.Fatalf("uid %d reached the handler", uid)
		}
		if uid != 0 && reply.Status != nil {
			t.Fatalf("uid %d outside the group got a status", uid)
		}
		if env.Version == ipc.Version && reply.Ok && env.GetCtlRequest().GetCtlVersion() != Version {
			t.Fatalf("wrong ctl_version accepted")
		}
	})
}

// In unprivileged mode the user who started the server administers it;
// other users still get nothing without the group.
func TestServerUserIsAdmin(t *testing.T) {
	h := &fakeHandler{}
	s := &server{h: h, log: quiet, statusGID: -1, self: 1234}
	reload := &pb.Envelope{Version: ipc.Version, Body: &pb.Envelope_CtlRequest{CtlRequest: &pb.CtlRequest{
		CtlVersion: Version, Op: &pb.CtlRequest_Reload{Reload: &pb.CtlReload{}}}}}
	if reply, _ := s.handle(quiet, 1234, func() bool { return false }, reload); !reply.Ok {
		t.Errorf("the server's own user could not reload: %v", reply.Error)
	}
	if reply, _ := s.handle(quiet, 4321, func() bool { return false }, reload); reply.Ok {
		t.Error("another user reloaded")
	}
	if reloads, _ := h.snapshot(); reloads != 1 {
		t.Errorf("%d reloads reached the handler, want 1", reloads)
	}
}
