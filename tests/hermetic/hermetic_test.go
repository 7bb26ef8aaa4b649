package hermetic

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// As root the tests run in namespaces of their own: none of the host's
// mount, network, PID or UTS namespaces, /etc, /usr and /var are overlays, and a
// change to /etc/passwd stays inside (the host side is checked by
// .ci/test.sh, which checksums the host's files around the whole suite).
func TestNamespacesAreOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root, and CI=true: it must not be skipped")
		}
		t.Skip("needs root")
	}
	if !Inside() {
		t.Fatal("a root test binary runs outside the hermetic namespaces")
	}
	host, own := strings.Fields(HostNamespaces()), strings.Fields(Namespaces())
	if len(host) != 4 || len(own) != 4 {
		t.Fatalf("namespaces: host %q, own %q", host, own)
	}
	for i := range host {
		if host[i] == own[i] {
			t.Errorf("shares the host's %s", host[i])
		}
	}
	// $TMPDIR is the namespace's own, writable by every user like /tmp.
	if tmp := os.TempDir(); !strings.HasPrefix(tmp, "/tmp/ih-") {
		t.Errorf("TMPDIR %q: not the namespace's own", tmp)
	} else if st, err := os.Stat(tmp); err != nil || st.Mode()&(os.ModeSticky|0o777) != os.ModeSticky|0o777 {
		t.Errorf("TMPDIR %s: %v %v, want mode 1777", tmp, st.Mode(), err)
	}
	if os.Getppid() != 1 {
		t.Errorf("parent pid %d, want 1: the namespace's init", os.Getppid())
	}
	// An orphan in the namespace is reaped by its init, not left a zombie.
	orphan := exec.Command("sh", "-c", "sleep 0.2 & echo $!")
	out, err := orphan.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(out))
	time.Sleep(time.Second)
	if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
		t.Errorf("orphan %s still there: %s", pid, st)
	}
	mounts := map[string]string{}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		mounts[fields[1]] = fields[2]
	}
	for dir, fs := range map[string]string{"/etc": "overlay", "/usr": "overlay", "/var": "overlay", "/home": "tmpfs", "/run": "tmpfs"} {
		if mounts[dir] != fs {
			t.Errorf("%s is %q, want %s", dir, mounts[dir], fs)
		}
	}
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", "imapd-hermetic-probe").CombinedOutput(); err != nil {
		t.Fatalf("useradd inside: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:143")
	if err != nil {
		t.Fatalf("port 143 of the private loopback: %v", err)
	}
	l.Close()
}
