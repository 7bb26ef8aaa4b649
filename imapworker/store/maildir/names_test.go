package maildir

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"imapd/imapworker/store"
)

func TestNameToDir(t *testing.T) {
	for name, dir := range map[string]string{
		"Sent":           ".Sent",
		"a/b":            ".a.b",
		"Entwürfe/2024":  ".Entw&APw-rfe.2024",
		"INBOX/Projects": ".INBOX.Projects",
	} {
		got, err := nameToDir(name)
		if err != nil || got != dir {
			t.Errorf("nameToDir(%q) = %q, %v; want %q", name, got, err, dir)
		}
		back, ok := dirToName(dir)
		if !ok || back != name {
			t.Errorf("dirToName(%q) = %q, %v", dir, back, ok)
		}
	}
	// Names that could escape the Maildir or be misread as levels.
	for _, bad := range []string{"a.b", ".hidden", "..", "a/../b", "~x", "a/~b", "x\x00", "tab\there", "a//b", "/a", "a/", "del\x7f", "c1\u0085"} {
		if _, err := nameToDir(bad); !errors.Is(err, store.ErrInvalidName) {
			t.Errorf("nameToDir(%q): %v, want ErrInvalidName", bad, err)
		}
	}
	for _, notFolder := range []string{"cur", ".", "..", "..x", ".a..b", ".&Jjo"} {
		if n, ok := dirToName(notFolder); ok {
			t.Errorf("dirToName(%q) = %q, want not a folder", notFolder, n)
		}
	}
}

func TestFileNameFlags(t *testing.T) {
	base, info := splitName("1234.M1P2.host,S=10,W=12:2,FSa,xyz")
	if base != "1234.M1P2.host,S=10,W=12" || infoFlags(info) != "FSa" {
		t.Fatalf("split: %q %q", base, info)
	}
	if got := withFlags(base, info, "RS"); got != base+":2,RS,xyz" {
		t.Errorf("withFlags kept %q", got)
	}
	if baseField(base, 'S') != 10 || baseField(base, 'W') != 12 || baseField("x.y", 'S') != -1 {
		t.Error("baseField")
	}
	if sortLetters("cSaFSa") != "FSac" {
		t.Errorf("sortLetters = %q", sortLetters("cSaFSa"))
	}
}

func TestStoreErr(t *testing.T) {
	if err := storeErr(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}); !errors.Is(err, store.ErrNoSpace) {
		t.Errorf("ENOSPC -> %v", err)
	}
	if err := storeErr(&os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}); !errors.Is(err, store.ErrQuota) {
		t.Errorf("EDQUOT -> %v", err)
	}
}
