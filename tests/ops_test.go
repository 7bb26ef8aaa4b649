package tests

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imapctl runs imapctl against s's configuration as the given user ("" for
// the test's own user) and returns its output and exit status.
func imapctl(t *testing.T, s *server, asUser string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "imapctl"), append([]string{"-c", s.conf}, args...)...)
	if asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", asUser, "--", filepath.Join(binaries(t), "imapctl"), "-c", s.conf}, args...)...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out) + stderr.String(), err
}

// statusJSON is the part of `imapctl status -json` the tests read.
type statusJSON struct {
	Generation int `json:"generation"`
	Processes  []struct {
		Role       string `json:"role"`
		Pid        int    `json:"pid"`
		Generation int    `json:"generation"`
		User       string `json:"user"`
		Uid        int    `json:"uid"`
	} `json:"processes"`
}

func status(t *testing.T, s *server) statusJSON {
	t.Helper()
	cmd := exec.Command(filepath.Join(binaries(t), "imapctl"), "-c", s.conf, "-json", "status")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("imapctl status: %v\n%s", err, out)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return st
}

// Issue 6, 2: imapctl status -json agrees with /proc; a non-root caller
// reads status only from the configured group and can never reload.
func TestImapctlStatusMatchesProc(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	ensureUser(t, "carol", "carol-pw") // not in the control group
	ensureUser(t, "dave", "dave-pw")   // in it
	exec.Command("groupadd", "-f", "imapdstat").Run()
	exec.Command("usermod", "-aG", "imapdstat", "dave").Run()
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage memory
auth pam
preauth workers 2
control socket "%DIR%/control.sock" group imapdstat
`)
	c := dial(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	st := status(t, s)
	roles := map[string]int{}
	for _, p := range st.Processes {
		roles[p.Role]++
		pr, err := readProc(p.Pid)
		if err != nil {
			t.Errorf("status lists pid %d (%s), which /proc does not have", p.Pid, p.Role)
			continue
		}
		if got := strings.Fields(pr.threads[0]["Uid"])[1]; got != strconv.Itoa(p.Uid) {
			t.Errorf("%s pid %d: status says uid %d, /proc says %s", p.Role, p.Pid, p.Uid, got)
		}
		title := map[string]string{"parent": "imapd: parent", "authd": "imapd: authd", "preauth": "imapd: preauth", "mailbox": "imapd: mailbox " + p.User}[p.Role]
		if !strings.HasPrefix(pr.cmdline, title) {
			t.Errorf("%s pid %d: cmdline %q", p.Role, p.Pid, pr.cmdline)
		}
	}
	if roles["parent"] != 1 || roles["authd"] != 1 || roles["preauth"] != 2 || roles["mailbox"] != 1 {
		t.Errorf("roles in status: %v", roles)
	}
	if n := len(children(t, s.cmd.Process.Pid)); n != len(st.Processes)-1 {
		t.Errorf("/proc shows %d children, status %d processes besides the parent", n, len(st.Processes)-1)
	}
	// t.TempDir's parent is private to root: open the path to the socket.
	os.Chmod(filepath.Dir(s.dir), 0o755)
	if out, err := imapctl(t, s, "dave", "status"); err != nil {
		t.Errorf("group member could not read status: %v\n%s", err, out)
	}
	if out, err := imapctl(t, s, "carol", "status"); err == nil {
		t.Errorf("non-member read status:\n%s", out)
	}
	if out, err := imapctl(t, s, "dave", "reload"); err == nil {
		t.Errorf("non-root reloaded:\n%s", out)
	}
}

// Issue 6, 1 and 3: a client IDLE over STARTTLS keeps working while a
// reload changes the listener port, the certificate and the preauth pool;
// new connections see the new setup; a broken configuration is refused.
func TestReloadKeepsSessions(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	certDir := t.TempDir()
	cert1, key1, _ := testCert(t, certDir, "localhost")
	conf := `
listen on 127.0.0.1 port %PORT% starttls
tls certificate "` + cert1 + `" key "` + key1 + `"
storage memory
auth pam
preauth workers 2
control socket "%DIR%/control.sock"
`
	s := startServer(t, conf)
	idle := dial(t, s.addr)
	idle.C("a1 STARTTLS")
	idle.S("a1 OK")
	idle.starttls()
	idle.C("a2 LOGIN alice alice-pw")
	idle.S("a2 OK")
	idle.C("a3 SELECT INBOX")
	idle.S("a3 OK")
	idle.C("a4 IDLE")
	idle.S("+")

	// A broken configuration is refused with the reason, and nothing changes.
	good, err := os.ReadFile(s.conf)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.conf, append(good, "\nno such statement\n"...), 0o644)
	out, err := imapctl(t, s, "", "reload")
	if err == nil || !strings.Contains(out, "imapd.conf:9: unknown statement") {
		t.Errorf("reload of a broken configuration: err=%v out=%q", err, out)
	}
	if st := status(t, s); st.Generation != 1 {
		t.Errorf("generation %d after a refused reload", st.Generation)
	}

	cert2, key2, _ := testCert(t, certDir, "renewed")
	port2 := freePort(t)
	newConf := strings.NewReplacer("port "+strconv.Itoa(s.port), "port "+strconv.Itoa(port2), cert1, cert2, key1, key2, "preauth workers 2", "preauth workers 3").Replace(string(good))
	os.WriteFile(s.conf, []byte(newConf), 0o644)
	if out, err := imapctl(t, s, "", "reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	st := status(t, s)
	current := 0
	for _, p := range st.Processes {
		if p.Role == "preauth" && p.Generation == st.Generation {
			current++
		}
	}
	if st.Generation != 2 || current != 3 {
		t.Errorf("after reload: generation %d with %d current preauth workers, want 2 and 3", st.Generation, current)
	}
	// The new listener presents the new certificate; the old port is gone.
	nc := dial(t, "127.0.0.1:"+strconv.Itoa(port2))
	nc.C("b1 STARTTLS")
	nc.S("b1 OK")
	tc := tls.Client(nc.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed" {
		t.Errorf("new connection got certificate %q, want the reloaded one", cn)
	}
	if c, err := dialRaw(s.addr); err == nil {
		c.Close()
		t.Errorf("old port still accepts after the reload removed it")
	}
	// The IDLE session still works: new mail reaches it, DONE ends the IDLE.
	other := dial(t, "127.0.0.1:"+strconv.Itoa(port2))
	other.C("c1 STARTTLS")
	other.S("c1 OK")
	other.starttls()
	other.C("c2 LOGIN alice alice-pw")
	other.S("c2 OK")
	msg := "Subject: hi\r\n\r\nhello\r\n"
	other.C(fmt.Sprintf("c3 APPEND INBOX {%d+}", len(msg)))
	other.raw(msg + "\r\n")
	other.S("c3 OK")
	idle.S("* 1 EXISTS")
	idle.C("DONE")
	idle.S("a4 OK")
	idle.C("a5 NOOP")
	idle.S("a5 OK")
}

func dialRaw(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}

// Issue 6, 3: SIGTERM with an IDLE session: * BYE, then every process gone
// within 10 s.
func TestSIGTERMWithIdleSession(t *testing.T) {
	s, _, _ := privServer(t)
	c := login(t, s, "alice", "alice-pw")
	c.C("a2 SELECT INBOX")
	c.S("a2 OK")
	c.C("a3 IDLE")
	c.S("+")
	kids := children(t, s.cmd.Process.Pid)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	c.S("* BYE")
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("parent still running 10 s after SIGTERM")
	}
	for _, k := range kids {
		for syscall.Kill(k.pid, 0) == nil {
			if p, err := readProc(k.pid); err == nil && strings.HasPrefix(p.threads[0]["State"], "Z") {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s (%d) still running 10 s after SIGTERM", k.cmdline, k.pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("every process gone %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	// Issue 17: the log says when the server has stopped, and how long it took.
	if !s.logged(`msg=stopped role=parent`) {
		t.Errorf("no final stopped line in the log:\n%s", s.log.String())
	}
}

// Issue 17, "what it must show" 4: imapctl auth test runs the real authd
// path, with PAM and with a passwd-file: a good password gives the account,
// a wrong one and a refused (uid 0) account the reason, and no session or
// mailbox worker is made.
func TestImapctlAuthTest(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	alice := ensureUser(t, "alice", "alice-pw")
	ensureUser(t, "imapd-uid0", "uid0-pw", "-o", "-u", "0", "-g", "0")
	pw := filepath.Join(t.TempDir(), "passwd")
	// authd reads it as the preauth user (docs/security.md, authd).
	os.Chmod(filepath.Dir(pw), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(pw)), 0o755)
	os.WriteFile(pw, []byte("carol:{PLAIN}carol-pw:"+alice.Uid+":"+alice.Gid+"::/home/alice\nzero:{PLAIN}zero-pw:0:0::/root\n"), 0o644)
	for _, c := range []struct {
		backend string
		lines   []string // user, password, exit code, the output's first line
	}{
		{"auth pam", []string{
			"alice", "alice-pw", "0", "auth succeeded for alice",
			"alice", "wrong", "1", "auth failed for alice: wrong password (failed)",
			"imapd-uid0", "uid0-pw", "1", "auth failed for imapd-uid0: privileged account: uid 0, gid 0",
		}},
		{`auth passwd-file "` + pw + `"`, []string{
			"carol", "carol-pw", "0", "auth succeeded for carol",
			"carol", "wrong", "1", "auth failed for carol: wrong password (failed)",
			"nobody-here", "x", "1", "auth failed for nobody-here: unknown user (failed)",
			"zero", "zero-pw", "1", "auth failed for zero: privileged account: uid 0, gid 0",
		}},
	} {
		t.Run(strings.Fields(c.backend)[1], func(t *testing.T) {
			s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir
`+c.backend+`
preauth workers 1
control socket "%DIR%/control.sock"
`)
			for i := 0; i < len(c.lines); i += 4 {
				user, pass, code, want := c.lines[i], c.lines[i+1], c.lines[i+2], c.lines[i+3]
				cmd := exec.Command(filepath.Join(binaries(t), "imapctl"), "-c", s.conf, "auth", "test", user)
				cmd.Stdin = strings.NewReader(pass + "\n")
				out, err := cmd.CombinedOutput()
				got := 0
				if ee, ok := err.(*exec.ExitError); ok {
					got = ee.ExitCode()
				}
				t.Logf("$ echo %s | imapctl auth test %s\n%s", pass, user, out)
				if strconv.Itoa(got) != code || !strings.HasPrefix(string(out), want) {
					t.Errorf("auth test %s: exit %d, %q; want exit %s, %q", user, got, out, code, want)
				}
				if code == "0" && !strings.Contains(string(out), "mail  maildir /home/alice/Maildir") {
					t.Errorf("auth test %s: no mail location in %q", user, out)
				}
			}
			if mb := byTitle(children(t, s.cmd.Process.Pid), "imapd: mailbox"); len(mb) != 0 {
				t.Errorf("auth test started %d mailbox workers", len(mb))
			}
			if !strings.Contains(s.log.String(), `msg="auth test" role=authd user=alice result=AUTH_FAILED reason="wrong password"`) && c.backend == "auth pam" {
				t.Errorf("authd did not log the test's reason:\n%s", s.log.String())
			}
		})
	}
}

// The RFC 5464 server annotations come from imapd.conf's metadata
// statements all the way to a user's GETMETADATA, and stay read-only.
func TestMetadataFromConfig(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage memory
auth pam
preauth workers 1
metadata admin "mailto:postmaster@example.org"
metadata comment "Test host"
`)
	c := dial(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	c.C(`a2 GETMETADATA "" (/shared/admin /shared/comment)`)
	lines := strings.Join(c.S("a2 OK"), "\n")
	for _, want := range []string{`"mailto:postmaster@example.org"`, `"Test host"`, "/shared/admin", "/shared/comment"} {
		if !strings.Contains(lines, want) {
			t.Errorf("S: no %s in\n%s", want, lines)
		}
	}
	c.C(`a3 SETMETADATA "" (/shared/comment "mine")`)
	c.S("a3 NO")
}
