package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Stats collects latencies per command and every error. Safe for
// concurrent use; each client records into the shared instance.
type Stats struct {
	mu    sync.Mutex
	lat   map[string][]time.Duration
	order []string
	errs  map[string]int // "CMD: message" -> count
	nerr  int
}

func NewStats() *Stats {
	return &Stats{lat: map[string][]time.Duration{}, errs: map[string]int{}}
}

// Record adds one completed command. err may be nil.
func (s *Stats) Record(cmd string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.lat[cmd]; !ok {
		s.order = append(s.order, cmd)
	}
	s.lat[cmd] = append(s.lat[cmd], d)
	if err != nil {
		s.errs[errKey(cmd, err)]++
		s.nerr++
	}
}

// Error records an error outside any command (dial, setup).
func (s *Stats) Error(what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[errKey(what, err)]++
	s.nerr++
}

func errKey(cmd string, err error) string {
	msg := err.Error()
	if !strings.HasPrefix(msg, cmd+":") {
		msg = cmd + ": " + msg
	}
	return msg
}

// Errors returns the number of errors recorded.
func (s *Stats) Errors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nerr
}

// Summary of one command's latencies.
type Summary struct {
	Cmd      string
	Count    int
	P50, P99 time.Duration
	Max      time.Duration
}

func summarize(cmd string, ds []time.Duration) Summary {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return Summary{Cmd: cmd, Count: len(ds), P50: pct(ds, 50), P99: pct(ds, 99), Max: ds[len(ds)-1]}
}

// pct is the nearest-rank percentile of sorted ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return ds[rank-1]
}

// Summaries per command in first-seen order, and over all commands.
func (s *Stats) Summaries() (per []Summary, all Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var every []time.Duration
	for _, c := range s.order {
		per = append(per, summarize(c, s.lat[c]))
		every = append(every, s.lat[c]...)
	}
	if len(every) > 0 {
		all = summarize("all", every)
	}
	return per, all
}

// Print writes the per-command table, the total rate over elapsed and
// every distinct error with its count.
func (s *Stats) Print(w io.Writer, elapsed time.Duration) {
	per, all := s.Summaries()
	fmt.Fprintf(w, "%-14s %8s %9s %9s %9s %9s\n", "command", "count", "ops/s", "p50 ms", "p99 ms", "max ms")
	for _, r := range per {
		fmt.Fprintf(w, "%-14s %8d %9.1f %9.3f %9.3f %9.3f\n", r.Cmd, r.Count,
			float64(r.Count)/elapsed.Seconds(), ms(r.P50), ms(r.P99), ms(r.Max))
	}
	fmt.Fprintf(w, "%-14s %8d %9.1f %9.3f %9.3f %9.3f\n", "all", all.Count,
		float64(all.Count)/elapsed.Seconds(), ms(all.P50), ms(all.P99), ms(all.Max))
	s.PrintErrors(w)
}

// PrintErrors lists every distinct error with its count; nothing hidden.
func (s *Stats) PrintErrors(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nerr == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	fmt.Fprintf(w, "errors: %d\n", s.nerr)
	keys := make([]string, 0, len(s.errs))
	for k := range s.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %6d  %s\n", s.errs[k], k)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
