//go:build cgo

package main

// builtWithCgo makes imapd refuse to start, in one line, rather than let
// its workers die at their sandbox in a restart loop: the `cgo` build tag
// is set whenever CGO_ENABLED=1, Go's default where a C compiler exists.
const builtWithCgo = true
