package tests

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg depends on, as `go list -deps` sees them.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The layout is the architecture: these firewalls keep it so (CONVENTIONS
// §11). Each forbidden import is a boundary someone could cross by accident.
func TestDependencyFirewalls(t *testing.T) {
	for _, c := range []struct {
		pkg, why  string
		forbidden []string
	}{
		{"imapd/cmd/imapd", "no process that parses network input links PAM or the authd role",
			[]string{"github.com/msteinert/pam/v2", "imapd/authd"}},
		{"imapd/imapworker/server", "protocol code knows nothing of Maildir, IPC or the process tree",
			[]string{"imapd/imapworker/store/maildir", "imapd/ipc", "imapd/proto", "imapd/parent", "imapd/authd"}},
		{"imapd/imapworker/store/maildir", "storage knows nothing of the wire",
			[]string{"imapd/imapworker/imap", "imapd/imapworker/server", "imapd/ipc", "imapd/proto"}},
		{"imapd/imapworker/store/memstore", "storage knows nothing of the wire",
			[]string{"imapd/imapworker/imap", "imapd/imapworker/server", "imapd/ipc", "imapd/proto"}},
		{"imapd/cmd/imapctl", "the control tool needs no server code",
			[]string{"imapd/authd", "imapd/imapworker/server", "github.com/msteinert/pam/v2"}},
		{"imapd/authd", "authd never touches client bytes or mail",
			[]string{"imapd/imapworker/server", "imapd/imapworker/imap", "imapd/imapworker/store"}},
	} {
		have := map[string]bool{}
		for _, d := range deps(t, c.pkg) {
			have[d] = true
		}
		for _, f := range c.forbidden {
			if have[f] {
				t.Errorf("%s imports %s: %s", c.pkg, f, c.why)
			}
		}
	}
}
