package ipctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StaticTestBinary builds the test binary of the package in the current
// directory with CGO_ENABLED=0, as the workers are built (AllThreadsSyscall,
// which applies Landlock to every thread, refuses to run in a cgo binary),
// and returns its path: tests re-execute it as a sandboxed child, since
// restricting the test process itself would break the test runner.
func StaticTestBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "child.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the child: %v\n%s", err, out)
	}
	return bin
}
