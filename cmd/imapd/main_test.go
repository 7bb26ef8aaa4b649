package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgoBuildRefusesToStart: imapd built with cgo (Go's default where a C
// compiler exists) stops at once with one line saying how to build it,
// whatever role it is asked to be, instead of workers dying at their
// sandbox in a restart loop (issue 16).
func TestCgoBuildRefusesToStart(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler: cgo cannot be enabled")
	}
	bin := filepath.Join(t.TempDir(), "imapd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, role := range []string{"parent", "preauth", "keyd"} {
		cmd := exec.Command(bin, "-n")
		cmd.Env = append(os.Environ(), "IMAPD_ROLE="+role)
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil || len(lines) != 1 || !strings.Contains(lines[0], "CGO_ENABLED=0") {
			t.Errorf("role %s: %v\n%s", role, err, out)
		}
	}
}
