package main

import (
	"bytes"
	"path/filepath"
	"testing"
)

// The scan's counts agree with what the generator knows (the rare word's
// messages), find the common needles, and are cached.
func TestFolderFTSExpect(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "f")
	man, err := buildFolder(dir, 300, 4)
	if err != nil {
		t.Fatal(err)
	}
	c, err := folderFTSExpect(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Body[folderRareWord] != man.BodyHits || c.Body[folderCommonWord] == 0 || c.Body[folderTriGram] <= c.Body[folderCommonWord] || c.Text[folderTextWord] == 0 {
		t.Fatalf("counts %+v, manifest body hits %d", c, man.BodyHits)
	}
	again, err := folderFTSExpect(dir)
	if err != nil || again.Body[folderTriGram] != c.Body[folderTriGram] {
		t.Fatalf("cached: %+v, %v", again, err)
	}
	if m := folderFTSMessage(); len(m) < 10000 || bytes.Count(m, []byte(folderNewWord)) != 1 {
		t.Fatalf("appended message: %d bytes", len(m))
	}
}
