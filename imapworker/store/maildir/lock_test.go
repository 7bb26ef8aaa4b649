package maildir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestLockStaleDeadPid(t *testing.T) {
	dir := t.TempDir()
	// A holder that was kill -9ed: its pid no longer exists.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	host, _ := os.Hostname()
	writeFile(t, filepath.Join(dir, lockName), fmt.Sprintf("%d:%s\n", cmd.Process.Pid, host), time.Time{})
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.unlock()
	if _, err := os.Stat(filepath.Join(dir, lockName)); !os.IsNotExist(err) {
		t.Fatalf("lock left behind: %v", err)
	}
}

func TestLockStaleAge(t *testing.T) {
	dir := t.TempDir()
	// A live pid, but the lock is older than Dovecot's 2 minute limit.
	host, _ := os.Hostname()
	writeFile(t, filepath.Join(dir, lockName), fmt.Sprintf("%d:%s\n", os.Getpid(), host), time.Now().Add(-3*time.Minute))
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.unlock()
}

func TestLockLiveHolderWaits(t *testing.T) {
	dir := t.TempDir()
	old := lockTimeout
	lockTimeout = 200 * time.Millisecond
	defer func() { lockTimeout = old }()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDir(dir); err == nil {
		t.Fatal("second lock taken while the first is held")
	}
	// Released: the next one gets it; an unlock of a lock taken over by
	// someone else leaves theirs alone.
	l.unlock()
	l2, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.unlock()
	if _, err := os.Stat(filepath.Join(dir, lockName)); err != nil {
		t.Fatal("stale unlock removed the new holder's lock")
	}
	l2.unlock()
}

func TestLockTouch(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, lockName)
	old := time.Now().Add(-10 * time.Minute)
	os.Chtimes(path, old, old)
	l.id, _ = statID(path) // as if held that long
	l.touch()
	// Renewed: not stale, and still ours to remove.
	breakStale(path, "otherhost")
	if _, err := os.Stat(path); err != nil {
		t.Fatal("touched lock broken as stale")
	}
	l.unlock()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("touched lock not released")
	}
}

// lockFiles lists dir's lock and lock temp files.
func lockFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, lockName+"*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// Locks of one directory reuse this process's lock source, which a
// release removes; a source removed under us (a RENAME by another
// process) is replaced, and a killed process's leftovers are removed.
func TestLockSource(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		l, err := lockDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(lockFiles(t, dir)); n != 2 {
			t.Fatalf("held: %v, want the lock and its source", lockFiles(t, dir))
		}
		l.unlock()
	}
	srcs := lockFiles(t, dir)
	if len(srcs) != 1 {
		t.Fatalf("released: %v, want the source alone", srcs)
	}
	os.Remove(filepath.Join(dir, srcs[0]))
	l, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.unlock()
	if got := lockFiles(t, dir); len(got) != 0 {
		t.Fatalf("after the source went: %v, want nothing until the next lock", got)
	}

	// A process killed while it kept a source.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s.tmp-%d-1-x", lockName, cmd.Process.Pid)
	writeFile(t, filepath.Join(dir, dead), fmt.Sprintf("%d:%s\n", cmd.Process.Pid, host), time.Time{})
	l, err = lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.unlock()
	releaseLockSource(dir)
	if got := lockFiles(t, dir); len(got) != 0 {
		t.Fatalf("after release: %v, want nothing", got)
	}
}
