package parent

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "imapd/proto"
)

// A child starts with the timer slack its spec names, and the next child
// without one gets the kernel's default again: the spawner's thread is
// shared by every role (docs/design.md#timer-slack).
func TestSpawnTimerSlack(t *testing.T) {
	own := readSlack(t, os.Getpid())
	sp := newSpawner()
	for _, want := range []time.Duration{mailboxTimerSlack, 0, 3 * time.Millisecond} {
		c, err := sp.spawn(spawnSpec{role: pb.Role_ROLE_MAILBOX, path: "/bin/true", title: "true", env: []string{}, dir: "/", log: io.Discard, timerSlack: want})
		if err != nil {
			t.Fatal(err)
		}
		// Until the Wait below reaps it, its /proc entry stays.
		got := readSlack(t, c.pid)
		c.kill()
		c.cmd.Wait()
		if want == 0 {
			want = own
		}
		if got != want {
			t.Errorf("child's timer slack %v, want %v", got, want)
		}
	}
}

func readSlack(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ns)
}
