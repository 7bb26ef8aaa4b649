package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	pb "imapd/proto"
)

var quiet = slog.New(slog.DiscardHandler)

type fakeHandler struct {
	mu        sync.Mutex
	reloads   int
	reloadErr error
	kicked    []string
}

// snapshot reads the handler's record under its lock: the server's
// goroutines write it, and the race detector cannot see the socket's
// ordering.
func (h *fakeHandler) snapshot() (reloads int, kicked []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reloads, append([]string(nil), h.kicked...)
}

func (h *fakeHandler) setReloadErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reloadErr = err
}

func (h *fakeHandler) Status() *pb.StatusReport {
	return &pb.StatusReport{StartedUnix: 1700000000, Generation: 3,
		Listeners: []*pb.ListenerInfo{{Address: "127.0.0.1:143", Kind: pb.ListenerKind_LISTENER_PLAIN}}}
}

func (h *fakeHandler) Reload() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reloads++
	return h.reloadErr
}

func (h *fakeHandler) AuthTest(user string, pw []byte) (*pb.AuthTestResult, error) {
	if string(pw) == "right" {
		return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_OK, User: user}, nil
	}
	return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_FAILED, Reason: "wrong password"}, nil
}

func (h *fakeHandler) Who() []*pb.SessionInfo { return []*pb.SessionInfo{{ConnId: 1, User: "alice"}} }

func (h *fakeHandler) Kick(user string) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if user == "nobody-here" {
		return 0, errors.New("no such user")
	}
	h.kicked = append(h.kicked, user)
	return 2, nil
}

// socketDir is a directory any user may traverse (t.TempDir is 0700), so
// that the unprivileged child of TestPeerCredentials can reach the socket.
func socketDir(t *testing.T) string {
	d := t.TempDir()
	for _, dir := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func start(t *testing.T, gid int, h Handler) string {
	t.Helper()
	path := filepath.Join(socketDir(t), "run", "control.sock")
	stop, err := Serve(context.Background(), path, gid, h, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return path
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRootRequests(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: " + "needs root: the server tells root from others by SO_PEERCRED")
		}
		t.Skip("needs root: the server tells root from others by SO_PEERCRED")
	}
	h := &fakeHandler{}
	path := start(t, -1, h)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, err %v", fi.Mode(), err)
	}
	c := dial(t, path)

	st, err := c.Status()
	if err != nil || st.Generation != 3 || len(st.Listeners) != 1 {
		t.Fatalf("status %v, %v", st, err)
	}
	if err := c.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if n, _ := h.snapshot(); n != 1 {
		t.Fatalf("reloads %d", n)
	}
	h.setReloadErr(errors.New("imapd.conf:3: unknown statement \"bogus\""))
	err = c.Reload()
	if err == nil || !strings.Contains(err.Error(), "configuration unchanged") || !strings.Contains(err.Error(), "imapd.conf:3:") {
		t.Fatalf("failed reload: %v", err)
	}
	if n, err := c.Kick("alice"); err != nil || n != 2 {
		t.Fatalf("kick: %d, %v", n, err)
	}
	if _, kicked := h.snapshot(); len(kicked) != 1 || kicked[0] != "alice" {
		t.Fatalf("kicked %v", kicked)
	}
	if _, err := c.Kick(""); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("kick empty: %v", err)
	}
	if _, err := c.Kick("nobody-here"); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("kick unknown: %v", err)
	}
	// The connection survived the refusals.
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
}

// raw sends one envelope as bytes and returns the reply and whether the
// server then closed the connection.
func raw(t *testing.T, path string, data []byte, fd *os.File) (*pb.CtlReply, bool) {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	if _, _, err := c.WriteMsgUnix(data, oob, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxMessage+1)
	env, err := readEnvelope(c, buf)
	if errors.Is(err, ipc.ErrClosed) {
		return nil, true
	}
	if err != nil {
		t.Fatal(err)
	}
	_, err = readEnvelope(c, buf)
	return env.GetCtlReply(), errors.Is(err, ipc.ErrClosed)
}

func TestVersionMismatch(t *testing.T) {
	path := start(t, -1, &fakeHandler{})
	// An imapctl of another release: a clear error, then the end.
	data, _ := proto.Marshal(&pb.Envelope{Version: ipc.Version, Id: 7, Body: &pb.Envelope_CtlRequest{
		CtlRequest: &pb.CtlRequest{CtlVersion: Version + 1, Op: &pb.CtlRequest_Status{Status: &pb.CtlStatus{}}}}})
	r, closed := raw(t, path, data, nil)
	if r == nil || r.Ok || !strings.Contains(r.Error, fmt.Sprintf("control protocol version %d, this imapd speaks %d", Version+1, Version)) || !closed {
		t.Errorf("ctl_version mismatch: %v, closed %v", r, closed)
	}
	data, _ = proto.Marshal(&pb.Envelope{Version: ipc.Version + 1, Body: &pb.Envelope_CtlRequest{
		CtlRequest: &pb.CtlRequest{CtlVersion: Version, Op: &pb.CtlRequest_Reload{Reload: &pb.CtlReload{}}}}})
	if r, closed := raw(t, path, data, nil); r == nil || r.Ok || !strings.Contains(r.Error, "message version") || !closed {
		t.Errorf("envelope version mismatch: %v, closed %v", r, closed)
	}
	// Another body type on the control socket.
	data, _ = proto.Marshal(&pb.Envelope{Version: ipc.Version, Body: &pb.Envelope_CtlReply{CtlReply: &pb.CtlReply{Ok: true}}})
	if r, closed := raw(t, path, data, nil); r == nil || r.Ok || !strings.Contains(r.Error, `got "ctl_reply"`) || !closed {
		t.Errorf("wrong body: %v, closed %v", r, closed)
	}
	// Garbage and passed descriptors end the connection without an answer.
	if r, closed := raw(t, path, []byte{0xff, 0xff, 0xff}, nil); r != nil || !closed {
		t.Errorf("garbage: %v, closed %v", r, closed)
	}
	data, _ = marshal(1, &pb.CtlRequest{CtlVersion: Version, Op: &pb.CtlRequest_Status{Status: &pb.CtlStatus{}}})
	if r, closed := raw(t, path, data, os.Stdin); r != nil || !closed {
		t.Errorf("descriptor: %v, closed %v", r, closed)
	}
}

func TestSocketLifecycle(t *testing.T) {
	path := filepath.Join(socketDir(t), "control.sock")
	stop, err := Serve(context.Background(), path, -1, &fakeHandler{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(context.Background(), path, -1, &fakeHandler{}, quiet); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on a live socket: %v", err)
	}
	c := dial(t, path)
	stop()
	stop() // idempotent
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if _, err := c.Status(); err == nil {
		t.Error("status after stop succeeded")
	}
	// A stale socket from a dead server is replaced.
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := Serve(ctx, path, -1, &fakeHandler{}, quiet); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	cancel() // the context stops the server too
	// Not a socket: refused, not deleted.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Serve(context.Background(), file, -1, &fakeHandler{}, quiet); err == nil {
		t.Error("Serve over a regular file")
	}
	if _, err := os.Stat(file); err != nil {
		t.Error(err)
	}
}

// TestPeerCredentials re-executes the test binary as an unprivileged user,
// with and without the status group, and checks what the server allows.
func TestPeerCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: " + "needs root to run a child under another uid")
		}
		t.Skip("needs root to run a child under another uid")
	}
	const statusGID = 4242
	h := &fakeHandler{}
	path := start(t, statusGID, h)
	fi, _ := os.Stat(path)
	if st := fi.Sys().(*syscall.Stat_t); st.Gid != statusGID || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket gid %d mode %v", st.Gid, fi.Mode().Perm())
	}
	// The test binary lives in a 0700 directory: copy it where uid 65534
	// may execute it.
	bin := filepath.Join(socketDir(t), "control.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	src.Close()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	run := func(gid uint32, groups []uint32) string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestPeerChild$")
		cmd.Env = append(os.Environ(), "CONTROL_TEST_SOCKET="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: gid, Groups: groups}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	// In the group as a supplementary group: status only.
	out := run(65534, []uint32{100, statusGID})
	for _, want := range []string{"status ok gen 3", "reload: imapd: permission denied: reload needs root", "kick: imapd: permission denied: kick needs root"} {
		if !strings.Contains(out, want) {
			t.Errorf("supplementary group member: missing %q in\n%s", want, out)
		}
	}
	// In the group as the primary group.
	if out := run(statusGID, nil); !strings.Contains(out, "status ok gen 3") {
		t.Errorf("primary group member:\n%s", out)
	}
	// Not in the group: the mode keeps it out, and if the mode were wrong
	// SO_PEERCRED still would.
	if out := run(65534, nil); !strings.Contains(out, "dial: control socket:") || !strings.Contains(out, "permission denied") {
		t.Errorf("outsider with mode 0660:\n%s", out)
	}
	os.Chmod(path, 0o666)
	out = run(65534, nil)
	if !strings.Contains(out, "status: imapd: permission denied: status needs root") || !strings.Contains(out, "reload needs root") {
		t.Errorf("outsider with mode 0666:\n%s", out)
	}
	if reloads, kicked := h.snapshot(); reloads != 0 || len(kicked) != 0 {
		t.Errorf("unprivileged peers reached the handler: %d reloads, kicked %v", reloads, kicked)
	}
}

// TestPeerChild is the unprivileged side of TestPeerCredentials.
func TestPeerChild(t *testing.T) {
	path := os.Getenv("CONTROL_TEST_SOCKET")
	if path == "" {
		t.Skip("helper for TestPeerCredentials")
	}
	c, err := Dial(path)
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()
	if st, err := c.Status(); err != nil {
		fmt.Println("status:", err)
	} else {
		fmt.Println("status ok gen", st.Generation)
	}
	fmt.Println("reload:", c.Reload())
	_, err = c.Kick("alice")
	fmt.Println("kick:", err)
}
