package parent

import (
	"os"
	"slices"
	"testing"
)

// Issue 18: a mailbox worker starts with GOMAXPROCS=1 (its idle memory
// depends on it), and imapd's own environment still wins.
func TestChildEnvRuntimeDefaults(t *testing.T) {
	t.Setenv("GOGC", "80")
	t.Setenv("GOMAXPROCS", "") // restored after the test
	os.Unsetenv("GOMAXPROCS")
	if env := childEnv("mailbox"); !slices.Contains(env, "GOMAXPROCS=1") || !slices.Contains(env, "GOGC=80") {
		t.Errorf("mailbox env %q: want GOMAXPROCS=1 and GOGC=80", env)
	}
	for _, role := range []string{"preauth", "authd", "keyd"} {
		for _, kv := range childEnv(role) {
			if kv == "GOMAXPROCS=1" {
				t.Errorf("%s env %q: GOMAXPROCS is the mailbox worker's default only", role, childEnv(role))
			}
		}
	}
	t.Setenv("GOMAXPROCS", "4")
	env := childEnv("mailbox")
	if !slices.Contains(env, "GOMAXPROCS=4") || slices.Contains(env, "GOMAXPROCS=1") {
		t.Errorf("mailbox env %q with GOMAXPROCS=4 in imapd's: want it to win", env)
	}
}
