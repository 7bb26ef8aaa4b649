package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"imapd/ipc"
	pb "imapd/proto"
)

// TestMain lets the test re-execute itself as imapd-authd, the way the parent
// starts it: channel on fd 3, argv[0] "imapd: authd".
func TestMain(m *testing.M) {
	if os.Getenv("IMAPD_AUTHD_TEST_MAIN") == "1" {
		os.Args = os.Args[:1]
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestAuthdProcess(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pw, []byte("alice:{PLAIN}secret:5000:5000::/home/alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ours, theirs, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Args[0] = "imapd: authd"
	cmd.Env = append(os.Environ(), "IMAPD_AUTHD_TEST_MAIN=1")
	cmd.ExtraFiles = []*os.File{theirs} // fd 3
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	parent, err := ipc.NewConn[*pb.ToAuthd, *pb.FromAuthd](ours, "authd")
	if err != nil {
		t.Fatal(err)
	}
	send := func(env *pb.ToAuthd, fd *os.File) {
		t.Helper()
		if err := parent.Send(env, fd); err != nil {
			t.Fatal(err)
		}
	}
	send(&pb.ToAuthd{Body: &pb.ToAuthd_Setup{Setup: &pb.AuthdSetup{
		Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE, PasswdFile: pw, FirstValidUid: 1000}}}, nil)
	a, b, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	send(&pb.ToAuthd{Body: &pb.ToAuthd_AuthdChannel{AuthdChannel: &pb.AuthdChannel{WorkerId: 1}}}, b)
	b.Close()
	preauth, err := ipc.NewConn[*pb.AuthCall, *pb.AuthAnswer](a, "authd")
	if err != nil {
		t.Fatal(err)
	}
	// C: a1 LOGIN alice secret
	if err := preauth.Send(&pb.AuthCall{Id: 5, Body: &pb.AuthCall_AuthRequest{AuthRequest: &pb.AuthRequest{
		ConnId: 3, Mechanism: "LOGIN", User: []byte("alice"), Password: []byte("secret"), RemoteAddr: "127.0.0.1:5000"}}}, nil); err != nil {
		t.Fatal(err)
	}
	env, _, err := parent.Recv()
	if err != nil {
		t.Fatal(err)
	}
	g := env.GetGrant()
	if g == nil || g.User != "alice" || g.Uid != 5000 {
		t.Fatalf("parent got %v", env)
	}
	send(&pb.ToAuthd{Body: &pb.ToAuthd_GrantAck{GrantAck: &pb.GrantAck{Token: g.Token}}}, nil)
	ans, _, err := preauth.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r := ans.GetAuthReply(); ans.Id != 5 || r.GetResult() != pb.AuthResult_AUTH_OK || r.Token != g.Token {
		t.Fatalf("preauth got %v", ans)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
	if got := strings.TrimSpace(string(comm)); got != "imapd: authd" {
		t.Errorf("comm %q", got)
	}

	// The parent dies: authd must exit on EOF of fd 3, with an error.
	parent.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("after the parent closed fd 3: %v, want exit status 1\n%s", err, stderr.String())
	}
	logs := stderr.String()
	if !strings.Contains(logs, "role=authd") || !strings.Contains(logs, "user=alice") || strings.Contains(logs, "secret") {
		t.Errorf("log lines:\n%s", logs)
	}
	preauth.Close()
}
