package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestManPages lints the manual pages; mandoc must print nothing.
func TestManPages(t *testing.T) {
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: " + "mandoc not installed")
		}
		t.Skip("mandoc not installed")
	}
	pages, _ := filepath.Glob("../../docs/man/*.[158]")
	if len(pages) != 3 {
		t.Errorf("found man pages %v, want imapd.8, imapd.conf.5, imapctl.8", pages)
	}
	for _, p := range pages {
		out, err := exec.Command(mandoc, "-T", "lint", "-W", "warning", p).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("mandoc -T lint %s: %v\n%s", p, err, out)
		}
	}
}
