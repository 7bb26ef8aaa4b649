package mime

import (
	"go/build"
	"testing"
)

// The package is pure: no I/O, network, storage or IPC, and nothing
// outside the standard library (golang.org/x/text is not in go.mod). io
// and bufio only as interfaces: Prune reads the io.Reader it is given.
func TestImportsArePure(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"bufio": true, "bytes": true, "io": true, "encoding/base64": true, "errors": true, "sort": true, "strconv": true,
		"strings": true, "sync": true, "time": true, "unicode": true, "unicode/utf8": true, "html": true,
	}
	for _, imp := range pkg.Imports {
		if !allowed[imp] {
			t.Errorf("imapworker/mime imports %q", imp)
		}
	}
}
