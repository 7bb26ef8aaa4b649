package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// readNames lists every regular file once, whether the directory fits its
// first small buffer or needs the large one and many reads.
func TestReadNamesSmallAndLarge(t *testing.T) {
	for _, n := range []int{0, 3, 60, 2000} {
		dir := t.TempDir()
		want := map[string]bool{}
		for i := range n {
			name := fmt.Sprintf("17000%05d.M%dP1.host.example.org,S=%d,W=%d:2,S", i, i, i, i)
			os.WriteFile(filepath.Join(dir, name), nil, 0o600)
			want[name] = true
		}
		os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o600)
		os.Mkdir(filepath.Join(dir, "sub"), 0o700)
		got, err := readNames(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range got {
			if !want[name] {
				t.Errorf("%d files: %q listed, not a message or twice", n, name)
			}
			delete(want, name)
		}
		if len(want) > 0 {
			t.Errorf("%d files: %d not listed", n, len(want))
		}
	}
}
