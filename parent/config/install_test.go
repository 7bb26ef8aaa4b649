package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeInstall runs `make install` into a staging DESTDIR. The binaries
// are stand-ins (BIN=..., -o build): this checks where files go, not the
// build, which `make build` and the packages' own tests cover.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make")
	}
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: " + "make not installed")
		}
		t.Skip("make not installed")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	dest := filepath.Join(tmp, "root")
	os.Mkdir(bin, 0o755)
	for _, b := range []string{"imapd", "imapd-authd", "imapctl"} {
		os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755)
	}
	install := func(extra ...string) {
		t.Helper()
		args := append([]string{"-C", "../..", "-o", "build", "install", "DESTDIR=" + dest, "BIN=" + bin}, extra...)
		if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
			t.Fatalf("make install: %v\n%s", err, out)
		}
	}
	install("PREFIX=/opt/imapd")
	files := map[string]os.FileMode{
		"opt/imapd/sbin/imapd":                  0o755,
		"opt/imapd/sbin/imapd-authd":            0o755,
		"opt/imapd/bin/imapctl":                 0o755,
		"opt/imapd/share/man/man5/imapd.conf.5": 0o644,
		"opt/imapd/share/man/man8/imapd.8":      0o644,
		"opt/imapd/share/man/man8/imapctl.8":    0o644,
		"etc/imapd.conf":                        0o644,
		"etc/pam.d/imapd":                       0o644,
		"etc/systemd/system/imapd.service":      0o644,
		"var/empty":                             os.ModeDir | 0o755,
		"opt/imapd/share/imapd/installed":       0o644,
	}
	for f, mode := range files {
		fi, err := os.Stat(filepath.Join(dest, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode(), mode)
		}
	}
	// Not a package's unit: the administrator's directory holds it.
	unit, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system/imapd.service"))
	if !strings.Contains(string(unit), "ExecStart=/opt/imapd/sbin/imapd ") || !strings.Contains(string(unit), "ExecReload=/opt/imapd/bin/imapctl ") {
		t.Errorf("unit does not follow PREFIX:\n%s", unit)
	}
	if _, err := Load(filepath.Join(dest, "etc/imapd.conf")); err != nil {
		t.Errorf("installed imapd.conf: %v", err)
	}
	if mandoc, err := exec.LookPath("mandoc"); err == nil {
		pages, _ := filepath.Glob(filepath.Join(dest, "opt/imapd/share/man/man*/*"))
		out, err := exec.Command(mandoc, append([]string{"-T", "lint", "-W", "warning"}, pages...)...).CombinedOutput()
		if err != nil || len(out) > 0 || len(pages) != 3 {
			t.Errorf("installed man pages %v: %v\n%s", pages, err, out)
		}
	}

	// A package's prefix puts the unit where packages' units go.
	install("PREFIX=/usr")
	if _, err := os.Stat(filepath.Join(dest, "lib/systemd/system/imapd.service")); err != nil {
		t.Errorf("PREFIX=/usr: %v", err)
	}

	// A second install keeps the administrator's configuration.
	conf := filepath.Join(dest, "etc/imapd.conf")
	os.WriteFile(conf, []byte("storage memory\n"), 0o644)
	install("PREFIX=/opt/imapd")
	if b, _ := os.ReadFile(conf); string(b) != "storage memory\n" {
		t.Errorf("make install overwrote /etc/imapd.conf: %q", b)
	}
}
