package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent regenerates imapd.pb.go and keyd.pb.go and
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
	for _, name := range []string{"imapd", "keyd"} {
		out := t.TempDir()
		cmd := exec.Command("protoc", "--go_out="+out, "--go_opt=module=imapd", "proto/"+name+".proto")
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("protoc: %v\n%s", err, b)
		}
		fresh, err := os.ReadFile(filepath.Join(out, "proto", name+".pb.go"))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(name + ".pb.go")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Fatalf("proto/%s.pb.go is stale: run `make proto` and commit the result", name)
		}
	}
}
