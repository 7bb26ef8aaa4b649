package server

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPythonImaplib runs Python's imaplib against the server. It skips only
// when python3 is absent, and fails instead under CI=true.
func TestPythonImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 not found under CI=true")
		}
		t.Skip("python3 not installed")
	}
	ts := newTestServer(t)
	_, port, _ := net.SplitHostPort(ts.ln.Addr().String())
	out, err := exec.Command(py, "testdata/imaplib_client.py", port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
