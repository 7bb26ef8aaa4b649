package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatOddComm(t *testing.T) {
	p, ok := parseStat(42, []byte("42 (imapd: mailbox (x) y) S 7 42 42 0 -1 4194560 100 0 0 0 12 3 40 5 20 0 1 0 99"))
	if !ok || p.ppid != 7 || p.comm != "imapd: mailbox (x) y" {
		t.Fatalf("got %+v %v", p, ok)
	}
	if p.ticks != 15 || p.kidTicks != 45 {
		t.Errorf("ticks %d, children %d; want 15, 45", p.ticks, p.kidTicks)
	}
	if _, ok := parseStat(1, []byte("garbage")); ok {
		t.Error("garbage parsed")
	}
}

func TestServerTree(t *testing.T) {
	ps := []proc{
		{pid: 1, ppid: 0, comm: "init"},
		{pid: 10, ppid: 1, comm: "dovecot"}, {pid: 11, ppid: 10, comm: "imap-login"}, {pid: 12, ppid: 10, comm: "imap"}, {pid: 13, ppid: 12, comm: "helper"},
		{pid: 20, ppid: 1, comm: "dovecot"}, {pid: 21, ppid: 20, comm: "auth"}, // a second instance
		{pid: 30, ppid: 1, comm: "sshd"},
	}
	got := serverTree(ps, []int{10}, "")
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Errorf("tree of 10 = %v", got)
	}
	got = serverTree(ps, nil, "dovecot")
	slices.Sort(got)
	if !slices.Equal(got, []int{10, 11, 12, 13, 20, 21}) {
		t.Errorf("by name = %v", got)
	}
}

// The PSS of this process and a child it started is read from /proc.
func TestServerPSSReadsProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no smaps_rollup:", err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	s, err := serverPSS([]int{os.Getpid()}, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Procs < 2 || s.PSSKB <= 0 || s.NByComm["sleep"] != 1 {
		t.Errorf("sample %+v: want this process and its sleep child", s)
	}
}

// CPU burnt by a child that exits and is reaped shows up in the delta.
func TestServerCPUCountsReapedChildren(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip(err)
	}
	before, err := serverCPU([]int{os.Getpid()}, "")
	if err != nil {
		t.Fatal(err)
	}
	// About 0.1 s of CPU in a child process.
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	after, err := serverCPU([]int{os.Getpid()}, "")
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.Total < 50*time.Millisecond {
		t.Errorf("child CPU not counted: %+v", d)
	}
	if d.ByComm["reaped by "+procComm(t)] < 50*time.Millisecond {
		t.Errorf("not attributed to the reaping parent: %+v", d.ByComm)
	}
}

func procComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
