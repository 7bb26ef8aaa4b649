package authd

import (
	"os"
	"testing"

	"imapd/tests/hermetic"
)

// The PAM tests create an account and a PAM service: as root they run in
// namespaces of their own (tests/hermetic), never on the host's /etc. The
// confinement test re-executes this binary as a confined authd.
func TestMain(m *testing.M) {
	if os.Getenv(envConfineTest) != "" {
		confineChild()
	}
	hermetic.Main(m)
}
