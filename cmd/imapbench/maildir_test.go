package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func count(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestSeedAndDeliver(t *testing.T) {
	md := filepath.Join(t.TempDir(), "Maildir")
	if err := seedMaildir(md, 3, 12, map[string]int{"Archive": 4}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, filepath.Join(md, "cur")); n != 12 {
		t.Errorf("INBOX cur: %d, want 12", n)
	}
	if n := count(t, filepath.Join(md, ".Archive", "cur")); n != 4 {
		t.Errorf("Archive cur: %d, want 4", n)
	}
	ents, _ := os.ReadDir(filepath.Join(md, "cur"))
	for _, e := range ents {
		// Maildir info "2," then flags in ASCII order.
		_, info, ok := strings.Cut(e.Name(), ":2,")
		if !ok || (info != "" && info != "S" && info != "FS") {
			t.Errorf("bad name %q", e.Name())
		}
	}
	if err := maildirDeliver(md, []byte("Subject: new\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, filepath.Join(md, "new")); n != 1 {
		t.Errorf("new: %d, want 1", n)
	}
	if n := count(t, filepath.Join(md, "tmp")); n != 0 {
		t.Errorf("tmp: %d left behind", n)
	}
}
