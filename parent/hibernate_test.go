package parent

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "imapd/proto"
)

// Hibernation as the parent sees it (docs/design.md#idle-workers-and-hibernation):
// a fake mailbox worker hands over an IDLE session; the parent retires the
// worker, holds the socket without reading it, and gives it back with the
// state to a new worker when the client speaks or the watch fires.

// hibernating logs alice in with a real socket (the test keeps the client
// end) and returns the mailbox fake, the session id, the socket the worker
// got and the client end.
func (r *rig) hibernating() (mb *fake, id uint64, sock *os.File, client net.Conn) {
	r.t.Helper()
	w, nc := r.connect()
	if ack := r.grant(w, nc.ConnId, "H1"); ack.Refused {
		r.t.Fatal("grant refused")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	server := os.NewFile(uintptr(fds[0]), "server")
	cf := os.NewFile(uintptr(fds[1]), "client")
	client, err = net.FileConn(cf)
	cf.Close()
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { client.Close() })
	w.send(&pb.FromPreauth{Body: &pb.FromPreauth_Handoff{Handoff: &pb.Handoff{ConnId: nc.ConnId, Token: "H1", Tag: "a1"}}}, server)
	server.Close()
	mb = r.fs.next(pb.Role_ROLE_MAILBOX)
	m := mb.recv("new_session")
	if m.fd == nil {
		r.t.Fatal("new session without a descriptor")
	}
	r.t.Cleanup(func() { m.fd.Close() })
	// As a plaintext session's preauth worker does, once handed off.
	w.recv("handoff_result")
	w.send(&pb.FromPreauth{Body: &pb.FromPreauth_ConnDone{ConnDone: &pb.ConnDone{ConnId: nc.ConnId}}}, nil)
	return mb, nc.ConnId, m.fd, client
}

// watchDir is an inotify instance on a fresh directory, as a worker would
// make on new/ and cur/.
func watchDir(t *testing.T) (*os.File, string) {
	t.Helper()
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), "inotify"), dir
}

// hibernate hands session id over as a worker does, with a fresh watch,
// and waits until the worker is retired and the parent holds the session;
// it returns the watched directory.
func (r *rig) hibernate(mb *fake, id uint64, sock *os.File, state string) string {
	r.t.Helper()
	watch, dir := watchDir(r.t)
	r.sendHibernate(mb, id, sock, watch, []byte(state))
	watch.Close()
	// Its last session gone, the worker is retired at once.
	mb.recv("shutdown")
	r.waitFor("hibernated", func() bool { return r.state(id) == "hibernated" })
	return dir
}

// resumed is the new_session the next mailbox worker gets: session id with
// its state.
func (r *rig) resumed(id uint64, state string) (*fake, received) {
	r.t.Helper()
	mb := r.fs.next(pb.Role_ROLE_MAILBOX)
	m := mb.recv("new_session")
	if m.fd != nil {
		r.t.Cleanup(func() { m.fd.Close() })
	}
	if ns := m.env.(*pb.ToMailbox).GetNewSession(); ns.SessionId != id || string(ns.Resume) != state || m.fd == nil {
		r.t.Fatalf("resumed session %v (descriptor %v)", ns, m.fd != nil)
	}
	return mb, m
}

func (r *rig) sendHibernate(mb *fake, id uint64, sock *os.File, watch *os.File, state []byte) {
	r.t.Helper()
	mb.send(&pb.FromMailbox{Body: &pb.FromMailbox_HibernateWatch{HibernateWatch: &pb.HibernateWatch{SessionId: id}}}, watch)
	// A hostile watch kills the worker before this one arrives.
	mb.sendAny(&pb.FromMailbox{Body: &pb.FromMailbox_Hibernate{Hibernate: &pb.Hibernate{SessionId: id, State: state}}}, sock)
}

// state is imapctl who's state of connection id, on the loop.
func (r *rig) state(id uint64) string {
	for _, s := range r.p.who() {
		if s.ConnId == id {
			return s.State
		}
	}
	return ""
}

func inode(t *testing.T, f *os.File) uint64 {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// C: a2 IDLE (the worker hibernates the session and exits)
// C: DONE    (the parent has read none of it: the new worker gets it)
func TestHibernatedSessionWakesWhenClientSpeaks(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	mb, id, sock, client := r.hibernating()
	r.hibernate(mb, id, sock, "opaque state")
	for _, s := range r.p.Who() {
		if s.ConnId == id && s.State != "hibernated" {
			t.Errorf("imapctl who: state %q, want hibernated", s.State)
		}
	}
	if _, err := client.Write([]byte("DONE\r\n")); err != nil {
		t.Fatal(err)
	}
	mb2, m := r.resumed(id, "opaque state")
	if inode(t, m.fd) != inode(t, sock) {
		t.Error("the resumed session got another socket than the hibernated one")
	}
	// Every byte the client sent is still there for the new worker.
	unix.SetNonblock(int(m.fd.Fd()), false)
	buf := make([]byte, 16)
	n, _ := m.fd.Read(buf)
	if got := string(buf[:n]); got != "DONE\r\n" {
		t.Errorf("the new worker read %q, want DONE", got)
	}
	r.waitFor("session attached", func() bool { return r.state(id) == "session" && r.p.conns.held(mb2.c) == 1 })
}

// Input already there when the parent starts waiting (DONE sent during
// the handover, a delivery before the watch reached the parent) wakes it:
// the runtime forgets readiness its poller saw before a wait, which the
// sleep lets it see first.
func TestAwaitReadableSeesInputAlreadyThere(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.Write(fds[1], []byte("DONE\r\n"))
	watch, dir := watchDir(t)
	if err := os.WriteFile(filepath.Join(dir, "1.msg"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*os.File{"socket": os.NewFile(uintptr(fds[0]), "socket"), "inotify": watch} {
		pf, err := pollable(f)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		pf.SetReadDeadline(time.Now().Add(2 * time.Second))
		if err := awaitReadable(pf); err != nil {
			t.Errorf("%s with input before the wait: %v, want readable", name, err)
		}
		pf.Close()
	}
}

// A delivery (the watch becomes readable) wakes the session too.
func TestHibernatedSessionWakesOnMailboxChange(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	mb, id, sock, _ := r.hibernating()
	dir := r.hibernate(mb, id, sock, "s")
	if err := os.WriteFile(filepath.Join(dir, "1.msg"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.resumed(id, "s")
	if !strings.Contains(r.logs.String(), "session woken") {
		t.Errorf("no wake logged:\n%s", r.logs)
	}
}

// imapctl kick ends hibernated sessions: one BYE from the parent, then the
// connection closes; the row goes.
func TestKickEndsHibernatedSession(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	mb, id, sock, client := r.hibernating()
	r.hibernate(mb, id, sock, "s")
	sock.Close() // the worker's copy, gone with the worker
	if n, err := r.p.Kick("alice"); n != 1 || err != nil {
		t.Fatalf("kick: %d, %v", n, err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(client)
	if !bytes.Equal(got, []byte("* BYE Administrator ended the session\r\n")) {
		t.Errorf("client read %q", got)
	}
	r.waitFor("row removed", func() bool { return r.p.conns.rows[id] == nil })
}

// A mailbox worker may hibernate only a session it serves, with the socket
// it was given, after an inotify watch, with a bounded state; anything else
// kills it, and the session is neither held nor woken.
func TestHostileHibernateKillsWorker(t *testing.T) {
	pipe := func(t *testing.T) *os.File {
		rd, wr, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rd.Close(); wr.Close() })
		return rd
	}
	otherSocket := func(t *testing.T) *os.File {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fds[1])
		f := os.NewFile(uintptr(fds[0]), "other")
		t.Cleanup(func() { f.Close() })
		return f
	}
	for _, tc := range []struct {
		name string
		send func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File)
	}{
		{"watch that is a pipe", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			mb.send(&pb.FromMailbox{Body: &pb.FromMailbox_HibernateWatch{HibernateWatch: &pb.HibernateWatch{SessionId: id}}}, pipe(t))
		}},
		{"hibernate without a watch", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			mb.send(&pb.FromMailbox{Body: &pb.FromMailbox_Hibernate{Hibernate: &pb.Hibernate{SessionId: id, State: []byte("s")}}}, sock)
		}},
		{"another session's id", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			w, _ := watchDir(t)
			r.sendHibernate(mb, id+100, sock, w, []byte("s"))
		}},
		{"another socket", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			w, _ := watchDir(t)
			r.sendHibernate(mb, id, otherSocket(t), w, []byte("s"))
		}},
		{"oversized state", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			w, _ := watchDir(t)
			r.sendHibernate(mb, id, sock, w, bytes.Repeat([]byte("x"), maxHibernateState+1))
		}},
		{"empty state", func(t *testing.T, r *rig, mb *fake, id uint64, sock *os.File) {
			w, _ := watchDir(t)
			r.sendHibernate(mb, id, sock, w, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testConfig(1), nil)
			r.t = t
			mb, id, sock, _ := r.hibernating()
			tc.send(t, r, mb, id, sock)
			if !mb.killed() {
				t.Fatal("worker not killed")
			}
			if n := len(r.p.hibernatedOfCall("")); n != 0 {
				t.Errorf("%d sessions held after a refused hibernation", n)
			}
		})
	}
}

// hibernatedOfCall is hibernatedOf on the loop.
func (p *Parent) hibernatedOfCall(user string) []*connRow {
	var out []*connRow
	p.call(func() { out = p.hibernatedOf(user) })
	return out
}
