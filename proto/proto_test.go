package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates imapd.pb.go from imapd.proto and
// fails when the committed file differs: run `make proto` and commit.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	for _, tool := range []string{"protoc", "protoc-gen-go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found: CI must check the generated code", tool)
			}
			t.Skipf("%s not found", tool)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("protoc", "--go_out="+out, "--go_opt=module=imapd", "proto/imapd.proto")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(filepath.Join(out, "proto", "imapd.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("imapd.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("proto/imapd.pb.go is stale: run `make proto` and commit the result")
	}
}
