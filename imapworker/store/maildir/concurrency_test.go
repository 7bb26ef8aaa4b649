package maildir

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func newRoot(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	u, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	return root
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) say(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.b, format+"\n", a...)
}

// Two User handles on one Maildir (two processes' worth of state, as after
// a reload) and an MDA, all at once.
func TestConcurrentHandles(t *testing.T) {
	root := newRoot(t)
	var outs [2]syncBuf
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i := range outs {
		u, err := Open(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- workload(u, fmt.Sprintf("g%d", i), int64(i+1), 150, outs[i].say)
		}()
	}
	done := make(chan []string, 1)
	go mda(root, "mda", 100, done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	l := newLedger()
	l.delivered(<-done)
	for i := range outs {
		l.read(t, outs[i].b.Bytes())
	}
	l.audit(t, root)
}

func child(t *testing.T, root, prefix string, seed int64, ops int, env ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d|%d", childEnv, root, prefix, seed, ops))
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// Two mailbox worker processes of one user and an MDA at once.
func TestConcurrentProcesses(t *testing.T) {
	root := newRoot(t)
	c1, out1 := child(t, root, "p1", 11, 150)
	c2, out2 := child(t, root, "p2", 12, 150)
	done := make(chan []string, 1)
	go mda(root, "mda", 100, done)
	err1, err2 := c1.Wait(), c2.Wait()
	if err1 != nil || err2 != nil {
		t.Fatalf("children: %v, %v", err1, err2)
	}
	l := newLedger()
	l.delivered(<-done)
	l.read(t, out1.Bytes())
	l.read(t, out2.Bytes())
	l.audit(t, root)
}

// kill -9 a worker at random moments of APPEND, COPY, MOVE, EXPUNGE and
// STORE, with an MDA delivering meanwhile; after each kill the next
// session must find every acknowledged message once, the acknowledged
// UIDs, no UID given twice and no lock in the way.
func TestCrashLoop(t *testing.T) {
	iterations := 50
	if testing.Short() {
		iterations = 10
	}
	root := newRoot(t)
	l := newLedger()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	seed := rng.Int63()
	t.Logf("seed %d", seed)
	rng = rand.New(rand.NewSource(seed))
	for i := range iterations {
		cmd, out := child(t, root, fmt.Sprintf("c%d", i), rng.Int63(), 0)
		done := make(chan []string, 1)
		go mda(root, fmt.Sprintf("m%d", i), 3, done)
		time.Sleep(time.Duration(5+rng.Intn(120)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		l.delivered(<-done)
		l.read(t, out.Bytes())
		l.audit(t, root)
		if t.Failed() {
			ul, _ := os.ReadFile(filepath.Join(root, uidlistName))
			t.Fatalf("after iteration %d; child said:\n%s\nINBOX uidlist:\n%s", i, out.Bytes(), ul)
		}
	}
}

// The child kills itself at each step between which a crash must lose
// nothing (crashPoint), at its 1st to 3rd pass; the next session audits.
func TestCrashPoints(t *testing.T) {
	points := []string{"locked", "uidlist-torn", "append-renamed", "append-recorded", "copy-linked",
		"move-renamed", "move-recorded", "expunge-unlinked", "store-renamed"}
	root := newRoot(t)
	l := newLedger()
	for i, p := range points {
		for n := 1; n <= 3; n++ {
			prefix := fmt.Sprintf("x%d%d", i, n)
			cmd, out := child(t, root, prefix, int64(i*10+n), 300, fmt.Sprintf("%s=%s@%d", crashEnv, p, n))
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Errorf("%s@%d: child not killed at the point: %v", p, n, err)
			}
			l.read(t, out.Bytes())
			l.audit(t, root)
			if t.Failed() {
				t.Fatalf("crash at %s@%d; child said:\n%s", p, n, out.Bytes())
			}
		}
	}
}
