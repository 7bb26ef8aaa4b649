// Command imapbench is a load generator for IMAP servers: it speaks IMAP
// itself and measures throughput, per-command latency, memory per idle
// session and IDLE notification delay, so that imapd and Dovecot can be
// compared side by side (tests/bench/compare.sh).
package main

import (
	"fmt"
	"os"
)

const usage = `usage: imapbench COMMAND [flags]

commands:
  steady   N logged-in clients looping over a realistic command mix
  mix      N clients pipelining a write-heavy mix, answers checked against known state
  login    connect, LOGIN, SELECT INBOX, LOGOUT in a loop, N in parallel
  idle     K sessions in IDLE: server PSS per session, EXISTS delay
  folder   large-folder workloads (see folder.go)
  tls      TLS handshake and throughput workloads (see tlsbench.go)
  seed     create Maildirs of realistic messages for bench accounts

Run "imapbench COMMAND -h" for the flags of each.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var run func([]string) error
	switch os.Args[1] {
	case "steady":
		run = runSteady
	case "mix":
		run = runMix
	case "login":
		run = runLogin
	case "idle":
		run = runIdle
	case "seed":
		run = runSeed
	case "folder":
		run = runFolder
	case "tls":
		run = runTLS
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "imapbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
