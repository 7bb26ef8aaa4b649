//go:build pam

package authd

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// requireRoot skips a root-only test, except under CI=true where it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root and CI=true: run the suite as root")
	}
	t.Skip("needs root")
}

const (
	pamTestUser     = "imapdpamtest"
	pamTestPassword = "pam test pw 7"
	pamTestService  = "imapd-test"
)

// pamUser creates a system user with a known password and a PAM service
// that checks it with pam_unix (nodelay: its 2 s failure delay is authd's
// business, not PAM's), removing both afterwards.
func pamUser(t *testing.T) {
	t.Helper()
	requireRoot(t)
	run := func(stdin, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("%s %v: %v: %s", name, args, err, out)
		}
		return err
	}
	// A leftover of an interrupted run.
	_ = exec.Command("userdel", "-r", pamTestUser).Run()
	// Other packages' tests may hold the passwd lock for a moment.
	var err error
	for try := 0; try < 5; try++ {
		if err = run("", "useradd", "-m", "-s", "/usr/sbin/nologin", pamTestUser); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal("useradd failed")
	}
	t.Cleanup(func() { _ = run("", "userdel", "-r", pamTestUser) })
	if err := run(pamTestUser+":"+pamTestPassword+"\n", "chpasswd"); err != nil {
		t.Fatal("chpasswd failed")
	}
	svc := "/etc/pam.d/" + pamTestService
	if err := os.WriteFile(svc, []byte("auth required pam_unix.so nodelay\naccount required pam_unix.so\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(svc) })
}

func TestPAMBackend(t *testing.T) {
	pamUser(t)
	be, err := newPAM(pamTestService, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, password string
		want           pb.AuthResult
	}{
		{pamTestUser, pamTestPassword, pb.AuthResult_AUTH_OK},
		{pamTestUser, "wrong", pb.AuthResult_AUTH_FAILED},
		{pamTestUser, "", pb.AuthResult_AUTH_FAILED},
		{"imapd-no-such-user", pamTestPassword, pb.AuthResult_AUTH_FAILED},
	} {
		acct, res, _ := be.check(attempt{user: c.user, password: c.password, remote: "[::1]:5555"})
		if res != c.want {
			t.Errorf("%s/%q: %v, want %v", c.user, c.password, res, c.want)
		}
		if res == pb.AuthResult_AUTH_OK && acct.user != pamTestUser {
			t.Errorf("canonical user %q", acct.user)
		}
	}
}

// C: a1 LOGIN imapdpamtest "pam test pw 7" through the whole role: the grant
// carries the system account's ids and home.
func TestPAMGrant(t *testing.T) {
	pamUser(t)
	sys, home, err := ipc.LookupUser(pamTestUser)
	if err != nil {
		t.Fatal(err)
	}
	h := startAuthd(t, &pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PAM, PamService: pamTestService, FirstValidUid: 1000}, nil)
	h.login(h.preauth, 1, pamTestUser, "wrong")
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_FAILED {
		t.Errorf("wrong password: %v", r)
	}
	h.login(h.preauth, 2, pamTestUser, pamTestPassword)
	g := h.recvGrant()
	if g.User != pamTestUser || g.Uid != sys.UID || g.Gid != sys.GID || g.Home != home || home == "" {
		t.Errorf("grant %v, want uid %d gid %d home %q", g, sys.UID, sys.GID, home)
	}
	h.ack(g.Token)
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK || r.Token != g.Token {
		t.Errorf("right password: %v", r)
	}
	if strings.Contains(h.logs.String(), pamTestPassword) {
		t.Error("the password reached the log")
	}
}
