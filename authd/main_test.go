package authd

import (
	"testing"

	"imapd/tests/hermetic"
)

// The PAM tests create an account and a PAM service: as root they run in
// namespaces of their own (tests/hermetic), never on the host's /etc.
func TestMain(m *testing.M) { hermetic.Main(m) }
