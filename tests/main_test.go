package tests

import (
	"testing"

	"imapd/tests/hermetic"
)

// As root, the end-to-end tests run in namespaces of their own: the
// accounts, PAM services, ports and daemons they make never reach the host.
func TestMain(m *testing.M) { hermetic.Main(m) }
