package parent

import (
	"strings"
	"testing"

	"imapd/ipc"
)

// TestSandboxFeaturesHonest: imapctl status names the seccomp allowlists
// only where they exist and says what a `sandbox prefer` server runs
// without (issue 16).
func TestSandboxFeaturesHonest(t *testing.T) {
	got := strings.Join(sandboxFeatures(true), "\n")
	if ipc.SeccompAvailable() && ipc.HasAllowlist() != strings.Contains(got, "seccomp allowlist per role") {
		t.Errorf("allowlists %v, status says:\n%s", ipc.HasAllowlist(), got)
	}
	missing := ipc.Missing()
	if n := strings.Count(got, "WARNING: running without"); n != len(missing) {
		t.Errorf("%d features missing (%v), status warns of %d:\n%s", len(missing), missing, n, got)
	}
}
