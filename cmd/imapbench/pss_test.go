package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestParseStatOddComm(t *testing.T) {
	p, ok := parseStat(42, []byte("42 (imapd: mailbox (x) y) S 7 42 42 0 -1"))
	if !ok || p.ppid != 7 || p.comm != "imapd: mailbox (x) y" {
		t.Fatalf("got %+v %v", p, ok)
	}
	if _, ok := parseStat(1, []byte("garbage")); ok {
		t.Error("garbage parsed")
	}
}

func TestServerTree(t *testing.T) {
	ps := []proc{
		{1, 0, "init"},
		{10, 1, "dovecot"}, {11, 10, "imap-login"}, {12, 10, "imap"}, {13, 12, "helper"},
		{20, 1, "dovecot"}, {21, 20, "auth"}, // a second instance
		{30, 1, "sshd"},
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
