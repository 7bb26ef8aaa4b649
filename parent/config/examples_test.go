package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples parses the shipped configurations: they must stay valid.
func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.conf")
	if len(files) == 0 {
		t.Skip("no examples/*.conf")
	}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if strings.HasSuffix(f, "dev.conf") {
			if c.Storage != StorageMemory || c.Auth != AuthPasswdFile || c.PlaintextAuth != PlaintextLoopback ||
				len(c.Listeners) != 1 || c.Listeners[0] != (Listener{"127.0.0.1", 10143, Plain}) {
				t.Errorf("dev.conf: %+v", c)
			}
			if _, err := os.Stat(c.PasswdFile); err != nil {
				t.Errorf("dev.conf passwd-file: %v", err)
			}
		}
	}
}
