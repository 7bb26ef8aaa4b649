package authd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"imapd/ipc"
	pb "imapd/proto"
)

// Environment of confineChild, the re-executed test binary.
const (
	envConfineTest = "IMAPD_AUTHD_CONFINE_TEST" // the passwd-file
	envOutside     = "IMAPD_AUTHD_OUTSIDE"      // a readable file outside authd's rules
)

// confineChild is authd's confinement as Main runs it, in two images: the
// first restricts itself and re-executes this binary, the second checks
// what it may read and prints it.
func confineChild() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	fd := ChannelFD() // as cmd/imapd-authd: before confinedSetup clears it
	setup, abi, err := confinedSetup()
	if err == nil && setup == nil {
		setup, abi = &pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE, PasswdFile: os.Getenv(envConfineTest)}, -1
	}
	var ch *ipc.AuthdToParent
	if err == nil {
		var f *os.File
		if abi < 0 {
			f, _, err = ipc.Socketpair()
		} else {
			f = os.NewFile(uintptr(fd), "parent")
		}
		if err == nil {
			ch, err = ipc.NewConn[*pb.FromAuthd, *pb.ToAuthd](f, "parent")
		}
	}
	if err == nil {
		err = confine(ch, setup, abi, log)
	}
	if err != nil {
		fmt.Println("confine:", err)
		os.Exit(1)
	}
	for _, p := range []string{setup.PasswdFile, os.Getenv(envOutside)} {
		_, err := os.ReadFile(p)
		var errno syscall.Errno
		switch {
		case err == nil:
			fmt.Println("read", p)
		case errors.As(err, &errno):
			fmt.Println("refused", p, errno == syscall.EACCES)
		default:
			fmt.Println("error", p, err)
		}
	}
	os.Exit(0)
}

// Issue 16: a confined authd reads its passwd-file, and not a file that
// its uid could read but that lies outside its Landlock rules.
func TestConfinedAuthdReadsOnlyItsFiles(t *testing.T) {
	if ipc.LandlockABI() == 0 {
		t.Skip("no Landlock on this kernel")
	}
	// Everything world-readable, so only Landlock stands in the way.
	top := t.TempDir()
	for d := top; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	mk := func(dir, name, text string) string {
		os.MkdirAll(filepath.Join(top, dir), 0o755)
		p := filepath.Join(top, dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := mk("etc-imapd", "passwd", "carol:{PLAIN}carol-pw\n")
	outside := mk("elsewhere", "secret", "not for authd\n")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy the unprivileged user may execute.
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "bin", "authd.test")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), envConfineTest+"="+pw, envOutside+"="+outside)
	if os.Getuid() == 0 {
		// authd confines itself only when it is not root.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	t.Logf("confined authd:\n%s", out)
	if err != nil {
		t.Fatalf("confined child: %v", err)
	}
	for _, want := range []string{"read " + pw + "\n", "refused " + outside + " true\n", `msg="sandbox in force"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if _, err := os.ReadFile(outside); err != nil {
		t.Errorf("the control: the test itself cannot read %s", outside)
	}
}
