package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// proc is what /proc says about one process.
type proc struct {
	pid     int
	ppid    int
	cmdline string
	threads []map[string]string // /proc/PID/task/*/status of every thread
	root    string              // readlink /proc/PID/root
}

func readProc(pid int) (*proc, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	cmd, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return nil, err
	}
	p := &proc{pid: pid, cmdline: strings.TrimRight(strings.ReplaceAll(string(cmd), "\x00", " "), " ")}
	st, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	// The comm field may hold spaces: fields start after the last ')'.
	fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	p.ppid, _ = strconv.Atoi(fields[1])
	p.root, _ = os.Readlink(dir + "/root")
	tasks, _ := filepath.Glob(dir + "/task/*/status")
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		m := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				m[k] = strings.Join(strings.Fields(v), " ")
			}
		}
		p.threads = append(p.threads, m)
	}
	return p, nil
}

// children lists the live child processes of pid.
func children(t *testing.T, pid int) []*proc {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []*proc
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readProc(n)
		if err != nil || p.ppid != pid {
			continue
		}
		if len(p.threads) > 0 && strings.HasPrefix(p.threads[0]["State"], "Z") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// byTitle returns the children whose command line starts with title.
func byTitle(ps []*proc, title string) []*proc {
	var out []*proc
	for _, p := range ps {
		if strings.HasPrefix(p.cmdline, title) {
			out = append(out, p)
		}
	}
	return out
}

// ids is "uid uid uid uid" as /proc status prints Uid/Gid (real, effective,
// saved, filesystem).
func ids(n string) string { return strings.TrimSpace(strings.Repeat(n+" ", 4)) }
