// Package version says which build a binary is, for every binary's
// -version flag.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Release is set at link time by packagers (-ldflags "-X
// imapd/cmd/internal/version.Release=1.2"); a build from the tree says dev.
var Release = "dev"

// String is "NAME RELEASE (commit C[, modified], GOVERSION)".
func String(name string) string {
	commit, modified := "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += ", modified"
	}
	return fmt.Sprintf("%s %s (commit %s, %s)", name, Release, commit, runtime.Version())
}

// Asked reports whether args are a request for the version alone:
// -version or --version.
func Asked(args []string) bool {
	return len(args) == 1 && (args[0] == "-version" || args[0] == "--version")
}
