package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// proc is one entry of the process table.
type proc struct {
	pid, ppid int
	comm      string
	ticks     int64 // utime+stime
	kidTicks  int64 // cutime+cstime: children that exited and were reaped
}

// readProcs reads pid, parent pid and command name of every process.
func readProcs(root string) ([]proc, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var ps []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		p, ok := parseStat(pid, b)
		if ok {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// parseStat reads "pid (comm) state ppid ..." (proc(5)); comm may hold
// spaces and parentheses, so it ends at the last ')'.
func parseStat(pid int, b []byte) (proc, bool) {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j < i {
		return proc{}, false
	}
	f := strings.Fields(string(b[j+1:]))
	if len(f) < 2 {
		return proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return proc{}, false
	}
	p := proc{pid: pid, ppid: ppid, comm: string(b[i+1 : j])}
	if len(f) > 14 {
		// Fields 14-17 of proc(5), here 11-14: utime stime cutime cstime.
		var t [4]int64
		for k := range t {
			t[k], _ = strconv.ParseInt(f[11+k], 10, 64)
		}
		p.ticks, p.kidTicks = t[0]+t[1], t[2]+t[3]
	}
	return p, true
}

// serverTree returns the given roots and all their descendants. If roots
// is empty, the roots are the processes named cmd whose parent is not
// also named cmd (the Dovecot master, whose children have other names).
func serverTree(ps []proc, roots []int, cmd string) []int {
	byPid := map[int]proc{}
	kids := map[int][]int{}
	for _, p := range ps {
		byPid[p.pid] = p
		kids[p.ppid] = append(kids[p.ppid], p.pid)
	}
	if len(roots) == 0 && cmd != "" {
		for _, p := range ps {
			if p.comm == cmd && byPid[p.ppid].comm != cmd {
				roots = append(roots, p.pid)
			}
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		if _, ok := byPid[pid]; ok {
			out = append(out, pid)
		}
		for _, k := range kids[pid] {
			walk(k)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// pssKB reads the Pss line of /proc/PID/smaps_rollup, in kB.
func pssKB(root string, pid int) (int64, error) {
	f, err := os.Open(filepath.Join(root, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("pid %d: no Pss in smaps_rollup", pid)
}

// MemSample is the server's memory at one moment.
type MemSample struct {
	Procs   int
	PSSKB   int64
	ByComm  map[string]int64 // kB per command name
	NByComm map[string]int
}

// serverPSS sums PSS over the server's process tree. Processes that exit
// while being read are skipped.
func serverPSS(roots []int, cmd string) (MemSample, error) {
	ps, err := readProcs("/proc")
	if err != nil {
		return MemSample{}, err
	}
	comm := map[int]string{}
	for _, p := range ps {
		comm[p.pid] = p.comm
	}
	pids := serverTree(ps, roots, cmd)
	if len(pids) == 0 {
		return MemSample{}, fmt.Errorf("no server processes found (pids %v, cmd %q)", roots, cmd)
	}
	s := MemSample{ByComm: map[string]int64{}, NByComm: map[string]int{}}
	for _, pid := range pids {
		kb, err := pssKB("/proc", pid)
		if err != nil {
			continue
		}
		s.Procs++
		s.PSSKB += kb
		s.ByComm[comm[pid]] += kb
		s.NByComm[comm[pid]]++
	}
	return s, nil
}

func parsePids(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad pid %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// clockTick is USER_HZ: every Linux architecture Go supports reports
// times in /proc in hundredths of a second.
const clockTick = 10 * time.Millisecond

// CPUSample is the CPU time the server's processes have used so far,
// including processes that exited and were reaped by a process of the
// tree (their time is in the parent's cutime and cstime), so a
// difference of two samples covers short-lived processes too.
type CPUSample struct {
	Total  time.Duration
	ByComm map[string]time.Duration // own time of live processes; "reaped by X" for children
}

func serverCPU(roots []int, cmd string) (CPUSample, error) {
	ps, err := readProcs("/proc")
	if err != nil {
		return CPUSample{}, err
	}
	byPid := map[int]proc{}
	for _, p := range ps {
		byPid[p.pid] = p
	}
	pids := serverTree(ps, roots, cmd)
	if len(pids) == 0 {
		return CPUSample{}, fmt.Errorf("no server processes found (pids %v, cmd %q)", roots, cmd)
	}
	s := CPUSample{ByComm: map[string]time.Duration{}}
	for _, pid := range pids {
		p := byPid[pid]
		s.Total += time.Duration(p.ticks+p.kidTicks) * clockTick
		s.ByComm[p.comm] += time.Duration(p.ticks) * clockTick
		if p.kidTicks > 0 {
			s.ByComm["reaped by "+p.comm] += time.Duration(p.kidTicks) * clockTick
		}
	}
	return s, nil
}

// Sub is the CPU used between an earlier sample o and s.
func (s CPUSample) Sub(o CPUSample) CPUSample {
	d := CPUSample{Total: s.Total - o.Total, ByComm: map[string]time.Duration{}}
	for k, v := range s.ByComm {
		if v-o.ByComm[k] != 0 {
			d.ByComm[k] = v - o.ByComm[k]
		}
	}
	return d
}

// Print shows the CPU used per op and by process kind.
func (s CPUSample) Print(w io.Writer, ops int, elapsed time.Duration) {
	fmt.Fprintf(w, "server CPU: %.2f s in %.1f s (%.0f%% of one core), %.3f ms per op\n",
		s.Total.Seconds(), elapsed.Seconds(), 100*s.Total.Seconds()/elapsed.Seconds(), ms(s.Total)/float64(max(ops, 1)))
	keys := make([]string, 0, len(s.ByComm))
	for k := range s.ByComm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-30s %8.2f s\n", k, s.ByComm[k].Seconds())
	}
}
