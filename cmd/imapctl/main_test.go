package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/parent/control"
	pb "imapd/proto"
)

type handler struct{ reloadErr error }

func (handler) Status() *pb.StatusReport { return report() }
func (h handler) Reload() error          { return h.reloadErr }
func (handler) Kick(user string) (int, error) {
	return len(user), nil
}

// AuthTest knows alice, whose password is "secret", and root, refused.
func (handler) AuthTest(user string, pw []byte) (*pb.AuthTestResult, error) {
	switch {
	case user == "root":
		return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_REFUSED, User: "root", Reason: "privileged account: uid 0, gid 0 (first valid uid 1000, root's group refused)"}, nil
	case user != "alice":
		return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_FAILED, User: user, Reason: "unknown user"}, nil
	case string(pw) != "secret":
		return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_FAILED, User: user, Reason: "wrong password"}, nil
	}
	return &pb.AuthTestResult{Result: pb.AuthResult_AUTH_OK, User: "alice", Uid: 1000, Gid: 1000, Home: "/home/alice", Mail: "maildir /home/alice/Maildir"}, nil
}

func (handler) Who() []*pb.SessionInfo {
	return []*pb.SessionInfo{
		{ConnId: 7, User: "alice", Peer: "192.0.2.1:5000", Tls: true, SinceUnix: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC).Unix(), State: "session"},
		{ConnId: 9, Peer: "192.0.2.2:6000", SinceUnix: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC).Unix(), State: "prelogin"},
	}
}

func report() *pb.StatusReport {
	return &pb.StatusReport{
		StartedUnix: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC).Unix(),
		Generation:  2,
		Listeners: []*pb.ListenerInfo{
			{Address: "127.0.0.1:143", Kind: pb.ListenerKind_LISTENER_STARTTLS},
			{Address: "[::]:993", Kind: pb.ListenerKind_LISTENER_TLS},
		},
		Processes: []*pb.ProcessInfo{
			{Role: pb.Role_ROLE_PARENT, Pid: 100, Generation: 2},
			{Role: pb.Role_ROLE_PREAUTH, Pid: 101, Generation: 2, User: "_imapd", Uid: 998, Sessions: 1},
			{Role: pb.Role_ROLE_MAILBOX, Pid: 102, Generation: 1, User: "alice", Uid: 1000, Sessions: 2},
		},
		Sessions:           []*pb.UserSessions{{User: "bob", Sessions: 1}, {User: "alice", Sessions: 2}},
		PreauthConnections: 1,
		Auth: &pb.AuthStats{Successes: 5, Failures: 7,
			Penalised: []*pb.PenalisedAddr{{Addr: "192.0.2.7", Failures: 6, DelayMs: 3200}}},
		Sandbox: []string{"landlock abi 7", "seccomp"},
	}
}

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	writeStatus(&b, report(), time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC))
	want := `up 2h4m5s since 2026-11-26 01:00:00 UTC, configuration generation 2

LISTENER       KIND
127.0.0.1:143  starttls
[::]:993       tls

ROLE     PID  GEN  USER    UID   SESSIONS
parent   100  2    -       0     0
preauth  101  2    _imapd  998   1
mailbox  102  1    alice   1000  2

3 sessions of 2 users, 1 connections before login
USER   SESSIONS
alice  2
bob    1

authentication: 5 succeeded, 7 failed, 1 addresses penalised
ADDRESS    FAILURES  DELAY
192.0.2.7  6         3.2s

sandbox: landlock abi 7, seccomp
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// serveFake serves handler on a temporary control socket for the test.
func serveFake(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	stop, err := control.Serve(context.Background(), sock, -1, handler{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return sock
}

func runCtl(args ...string) (code int, stdout, stderr string) {
	return runCtlInput("", args...)
}

// runCtlInput is runCtl with input on imapctl's standard input.
func runCtlInput(stdin string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

// imapctl auth test reads the password from standard input and prints
// what a login would get, or why it would fail (exit 1).
func TestAuthTest(t *testing.T) {
	sock := serveFake(t)
	for _, c := range []struct {
		user, pw string
		code     int
		want     string
	}{
		{"alice", "secret\n", 0, "auth succeeded for alice\nuser  alice\nuid   1000\ngid   1000\nhome  /home/alice\nmail  maildir /home/alice/Maildir\n"},
		{"alice", "wrong\n", 1, "auth failed for alice: wrong password (failed)\n"},
		{"mallory", "x\n", 1, "auth failed for mallory: unknown user (failed)\n"},
		{"root", "right\n", 1, "auth failed for root: privileged account: uid 0, gid 0 (first valid uid 1000, root's group refused) (refused)\n"},
	} {
		code, out, errs := runCtlInput(c.pw, "-s", sock, "auth", "test", c.user)
		t.Logf("$ echo %s | imapctl auth test %s\n%s", strings.TrimSpace(c.pw), c.user, out)
		if code != c.code || out != c.want {
			t.Errorf("auth test %s: exit %d, %q %q; want exit %d, %q", c.user, code, out, errs, c.code, c.want)
		}
	}
	if code, _, errs := runCtlInput("", "-s", sock, "auth", "test", "alice"); code != 1 || !strings.Contains(errs, "no password on standard input") {
		t.Errorf("no password: exit %d, %q", code, errs)
	}
	if code, _, errs := runCtl("-s", sock, "auth", "check", "alice"); code != 2 || !strings.Contains(errs, `unknown command "auth check alice"`) {
		t.Errorf("auth check: exit %d, %q", code, errs)
	}
}

// imapctl who lists connections, before and after login.
func TestWho(t *testing.T) {
	sock := serveFake(t)
	var b bytes.Buffer
	c, err := control.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	who, err := c.Who()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	writeWho(&b, who, time.Date(2026, 11, 26, 3, 0, 30, 0, time.UTC))
	want := `USER   STATE     PEER            TLS  CONNECTED  CONN
alice  session   192.0.2.1:5000  yes  1h0m30s    7
-      prelogin  192.0.2.2:6000  no   30s        9
2 connections
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if code, out, _ := runCtl("-s", sock, "who", "-json"); code != 0 || !strings.Contains(out, `"tls": true`) || !strings.Contains(out, `"connId": 7`) {
		t.Errorf("who -json: %d %s", code, out)
	}
}

// TestCommands runs imapctl against a control server on a temporary socket,
// the socket found both from -s and from a configuration file.
func TestCommands(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	stop, err := control.Serve(context.Background(), sock, -1, handler{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	conf := filepath.Join(dir, "imapd.conf")
	os.WriteFile(conf, []byte("control socket \""+sock+"\"\n"), 0o644)

	if code, out, errs := runCtl("-c", conf, "status"); code != 0 || !strings.Contains(out, "configuration generation 2") {
		t.Errorf("status: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCtl("-s", sock, "reload"); code != 0 || out != "reloaded\n" {
		t.Errorf("reload: %d %q", code, out)
	}
	if code, out, _ := runCtl("-s", sock, "kick", "alice"); code != 0 || out != "5 sessions of alice ended\n" {
		t.Errorf("kick: %d %q", code, out)
	}
	if code, _, errs := runCtl("-c", filepath.Join(dir, "missing.conf"), "status"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("missing explicit config: %d %q", code, errs)
	}
	if os.Geteuid() != 0 {
		os.Chmod(conf, 0)
		if code, _, errs := runCtl("-c", conf, "status"); code != 1 || !strings.Contains(errs, "give the socket with -s") {
			t.Errorf("unreadable config: %d %q", code, errs)
		}
		os.Chmod(conf, 0o644)
	}
	os.WriteFile(conf, []byte("bogus\n"), 0o644)
	if code, _, errs := runCtl("-c", conf, "status"); code != 1 || !strings.Contains(errs, "imapd.conf:1: unknown statement") {
		t.Errorf("bad config: %d %q", code, errs)
	}
}

// TestCommandLine reads like a shell session: each case is what an admin
// types and the first line imapctl answers, on stdout or stderr.
func TestCommandLine(t *testing.T) {
	sock := serveFake(t)
	none := filepath.Join(filepath.Dir(sock), "none.sock")
	for _, c := range []struct {
		args []string
		code int
		want string // prefix of the output's first line
	}{
		{[]string{"-s", sock, "status", "-json"}, 0, "{"},
		{[]string{"-s", sock, "-json", "status"}, 0, "{"},
		{[]string{"status", "-s", sock}, 0, "up "},
		{[]string{"-s", sock, "kick", "alice", "-json"}, 0, "5 sessions of alice ended"},
		{[]string{"-s", sock, "frobnicate"}, 2, `imapctl: unknown command "frobnicate"`},
		{[]string{"-s", sock, "status", "x"}, 2, "imapctl: status takes 0 argument(s), not 1"},
		{[]string{"-s", sock, "kick"}, 2, "imapctl: kick takes 1 argument(s), not 0"},
		{[]string{"-s", sock}, 2, "usage: imapctl"},
		{[]string{"-s", sock, "-bogus", "status"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-s", none, "status"}, 1, "imapctl: cannot reach imapd: is imapd running? (socket " + none + ")"},
		{[]string{"-version"}, 0, "imapctl dev (commit "},
		{[]string{"status", "-version"}, 0, "imapctl dev (commit "},
	} {
		code, out, errs := runCtl(c.args...)
		got := strings.SplitN(out+errs, "\n", 2)[0]
		t.Logf("$ imapctl %s\n%s", strings.Join(c.args, " "), got)
		if code != c.code || !strings.HasPrefix(got, c.want) {
			t.Errorf("imapctl %v: exit %d, %q; want exit %d, %q", c.args, code, got, c.code, c.want)
		}
	}
}

// status -json has every field, numbers as numbers and enums as plain
// names, so that jq '.processes[0].role == "parent"' works.
func TestStatusJSON(t *testing.T) {
	sock := serveFake(t)
	code, out, errs := runCtl("-s", sock, "status", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st struct {
		StartedUnix float64 `json:"startedUnix"`
		Generation  float64 `json:"generation"`
		Listeners   []struct {
			Address string `json:"address"`
			Kind    string `json:"kind"`
		} `json:"listeners"`
		Processes []struct {
			Role string  `json:"role"`
			Pid  float64 `json:"pid"`
		} `json:"processes"`
		Auth struct {
			Penalised []struct {
				DelayMs float64 `json:"delayMs"`
			} `json:"penalised"`
		} `json:"auth"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	if st.StartedUnix != float64(report().StartedUnix) || st.Generation != 2 || len(st.Processes) != 3 ||
		st.Processes[0].Role != "parent" || st.Processes[1].Pid != 101 || st.Listeners[0].Kind != "starttls" ||
		len(st.Auth.Penalised) != 1 || st.Auth.Penalised[0].DelayMs != 3200 {
		t.Errorf("status -json:\n%s", out)
	}
}

func TestReloadRefused(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	stop, err := control.Serve(context.Background(), sock, -1, handler{reloadErr: os.ErrInvalid}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if code, _, errs := runCtl("-s", sock, "reload"); code != 1 || !strings.Contains(errs, "reload failed, configuration unchanged") {
		t.Errorf("reload: %d %q", code, errs)
	}
}

// TestBuildWithoutCgo is the dependency firewall: imapctl builds with
// CGO_ENABLED=0 and links neither authd, the workers, the parent role nor PAM.
func TestBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	gotool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gotool); err != nil {
		gotool = "go"
	}
	env := append(os.Environ(), "CGO_ENABLED=0")
	build := exec.Command(gotool, "build", "-o", filepath.Join(t.TempDir(), "imapctl"), ".")
	build.Env = env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	for _, cgo := range []string{"0", "1"} {
		list := exec.Command(gotool, "list", "-deps", ".")
		list.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		out, err := list.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, dep := range strings.Fields(string(out)) {
			forbidden := dep == "imapd/authd" || strings.HasPrefix(dep, "imapd/authd/") ||
				dep == "imapd/parent" || strings.HasPrefix(dep, "imapd/imapworker") ||
				strings.Contains(dep, "msteinert/pam") || (cgo == "0" && dep == "runtime/cgo")
			if forbidden {
				t.Errorf("CGO_ENABLED=%s: imapctl links %s", cgo, dep)
			}
		}
	}
}

// On a proxy, status lists the ring: each backend's health, users,
// sessions and pinned users.
func TestWriteStatusProxy(t *testing.T) {
	st := &pb.StatusReport{StartedUnix: time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC).Unix(), Generation: 1,
		ProxyBackends: []*pb.ProxyBackend{
			{Name: "b1", Address: "10.0.0.11:143", Weight: 1, Healthy: true, Users: 12, Sessions: 15, Pinned: []string{"alice"}},
			{Name: "b2", Address: "10.0.0.12:143", Weight: 2, LastError: "dial tcp 10.0.0.12:143: connection refused"},
		}}
	var b bytes.Buffer
	writeStatus(&b, st, time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC))
	want := `
proxy backends:
BACKEND  ADDRESS        WEIGHT  HEALTH                                            USERS  SESSIONS  PINNED
b1       10.0.0.11:143  1       up                                                12     15        alice
b2       10.0.0.12:143  2       down: dial tcp 10.0.0.12:143: connection refused  0      0         -
`
	if !strings.Contains(b.String(), want) {
		t.Errorf("got:\n%s\nwant it to contain:\n%s", b.String(), want)
	}
}
