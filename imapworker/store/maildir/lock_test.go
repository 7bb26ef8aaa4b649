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
