//go:build race

package server

// raceBuild: the race detector slows the large-folder tests tenfold.
const raceBuild = true
