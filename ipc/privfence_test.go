package ipc

import (
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// privilegedCalls may only be made from package ipc (DESIGN.md §3): privilege
// changes and descriptor passing are audited in one place.
var privilegedCalls = map[string]bool{
	"Setuid": true, "Setreuid": true, "Setresuid": true, "Setfsuid": true,
	"Setgid": true, "Setregid": true, "Setresgid": true, "Setfsgid": true,
	"Setgroups": true, "Sendmsg": true, "SendmsgN": true, "WriteMsgUnix": true,
}

// TestPrivilegedCallsOnlyInIPC fails when a .go file outside ipc/ calls one of
// privilegedCalls. It scans tokens, so comments and strings do not count.
// Tests are exempt: a test that forges raw datagrams to attack a socket is
// the point of the rule, not a breach of it.
func TestPrivilegedCallsOnlyInIPC(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch rel, _ := filepath.Rel(root, path); {
			case rel == "ipc", d.Name() == "vendor", d.Name() == "testdata", len(d.Name()) > 1 && d.Name()[0] == '.':
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(path) != ".go" || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		for _, hit := range privilegedCallsIn(t, path) {
			t.Errorf("%s: %s( called outside ipc/", hit.pos, hit.name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no .go files found outside ipc/: the walk is broken")
	}
}

type callHit struct {
	pos  token.Position
	name string
}

func privilegedCallsIn(t *testing.T, path string) []callHit {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	file := fset.AddFile(path, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0) // mode 0 skips comments; scan errors are ignored
	var hits []callHit
	var prev string
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return hits
		}
		if tok == token.LPAREN && privilegedCalls[prev] {
			hits = append(hits, callHit{fset.Position(pos), prev})
		}
		prev = ""
		if tok == token.IDENT {
			prev = lit
		}
	}
}

// The fence must see a call, and must not see one in a comment or string.
func TestPrivilegedCallsScanner(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.go")
	src := "package x\n// syscall.Setuid(0)\nvar s = \"Sendmsg(\"\nfunc f() { syscall.Setuid (0); c.WriteMsgUnix(b, nil, nil) }\n"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	hits := privilegedCallsIn(t, p)
	if len(hits) != 2 || hits[0].name != "Setuid" || hits[0].pos.Line != 4 || hits[1].name != "WriteMsgUnix" {
		t.Errorf("hits = %+v, want Setuid and WriteMsgUnix on line 4", hits)
	}
}
