package keyd

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/ipc"
	"imapd/ipc/ipctest"
	pb "imapd/proto"
)

// TestKeydChild is the keyd role itself, run by TestKeydRole in a
// re-executed test binary with its parent channel on fd 3.
func TestKeydChild(t *testing.T) {
	if os.Getenv("IMAPD_KEYD_CHILD") == "" {
		t.Skip("run by TestKeydRole")
	}
	ipc.SetTitle("imapd: keyd")
	c, err := newChannel(os.NewFile(3, "parent"), "parent")
	if err != nil {
		t.Fatal(err)
	}
	if err := Main(c); err != nil {
		t.Fatal(err)
	}
}

// startKeyd starts the keyd role in a child and returns the parent's end
// of its channel.
func startKeyd(t *testing.T, bin string) (*channel, *exec.Cmd) {
	t.Helper()
	ours, theirs, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestKeydChild$")
	cmd.Env = append(os.Environ(), "IMAPD_KEYD_CHILD=1")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c, err := newChannel(ours, "keyd")
	if err != nil {
		t.Fatal(err)
	}
	// Held until the end: a channel nothing refers to is closed by the
	// garbage collector, and keyd exits when its parent's end closes.
	t.Cleanup(func() { c.Close() })
	if err := c.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Setup{Setup: &pb.KeydSetup{}}}, nil); err != nil {
		t.Fatal(err)
	}
	return c, cmd
}

// TestKeydRole runs the role as the parent would start it: it sandboxes
// itself (seccomp, no-new-privs), loads keys sent one per message, signs a
// handshake; killed with SIGKILL, handshakes fail at once, and a new keyd
// serves the same worker's client through a new channel.
func TestKeydRole(t *testing.T) {
	if ipc.LandlockABI() == 0 || !ipc.SeccompAvailable() {
		t.Skip("no Landlock or seccomp")
	}
	bin := ipctest.StaticTestBinary(t)
	cs := testCerts(t)
	client := NewClient(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer client.Close()
	r := &rig{client: client}
	start := func() *exec.Cmd {
		var cmd *exec.Cmd
		r.parent, cmd = startKeyd(t, bin)
		if rep := r.load(t, 1, cs); rep.Error != "" {
			t.Fatal(rep.Error)
		}
		r.connect(t, 3, 1)
		return cmd
	}
	cmd := start()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("keyd's status lacks %q", want)
		}
	}
	conf, _ := serverConfig(t, r, cs)
	for _, c := range cs {
		if _, err := handshake(t, conf, c, tls.VersionTLS13); err != nil {
			t.Fatalf("%s through the keyd role: %v", c.name, err)
		}
	}

	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	begin := time.Now()
	if _, err := handshake(t, conf, cs[0], tls.VersionTLS13); err == nil {
		t.Fatal("handshake without keyd succeeded")
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("a handshake without keyd took %v to fail", d)
	}
	start()
	if _, err := handshake(t, conf, cs[0], tls.VersionTLS13); err != nil {
		t.Fatalf("after keyd's restart: %v", err)
	}
}
