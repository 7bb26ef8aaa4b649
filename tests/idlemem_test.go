package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// idleWorkerAnonCeiling bounds the private anonymous memory (kB) of a
// mailbox worker with one IDLE session on a 5-message Maildir: 1,524 kB
// measured with GOMAXPROCS=1, 1,788 without (docs/performance.md#idle-workers-issue-18).
// Loose on purpose: it catches a collection cycle's metadata (+0.5 MB) or
// a large buffer kept per session, not noise.
const idleWorkerAnonCeiling = 2048

// smapsByKind sums Private_Dirty (kB) of pid's mappings: the Go heap
// arena (the largest anonymous mapping), other anonymous mappings (runtime
// metadata, bss, thread stacks), and the binary's writable data.
func smapsByKind(t *testing.T, pid int) (arena, otherAnon, data int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var kind string
	var anons []int
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			switch {
			case len(f) == 5 || strings.HasPrefix(f[5], "["):
				kind = "anon"
			case f[1] == "rw-p":
				kind = "data"
			default:
				kind = "file"
			}
			if kind == "anon" {
				anons = append(anons, 0)
			}
			continue
		}
		if len(f) >= 2 && f[0] == "Private_Dirty:" {
			v, _ := strconv.Atoi(f[1])
			switch kind {
			case "anon":
				anons[len(anons)-1] += v
			case "data":
				data += v
			}
		}
	}
	for _, v := range anons {
		if v > arena {
			otherAnon += arena
			arena = v
		} else {
			otherAnon += v
		}
	}
	return arena, otherAnon, data
}

// Issue 18, "what it must show" 2: what one user's idle worker costs. The
// worker gets GOMAXPROCS=1 and its timer slack from the parent, its
// private memory stays under idleWorkerAnonCeiling, and a delivery still
// reaches the IDLE session.
func TestIdleWorkerMemory(t *testing.T) {
	put := mdaUser(t, "idlemem", "idlemem-pw", 5)
	if os.Getenv("GOMAXPROCS") != "" {
		t.Setenv("GOMAXPROCS", "") // restored after the test
		os.Unsetenv("GOMAXPROCS")
	}
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir
auth pam service imapd
preauth workers 1
`)
	c := login(t, s, "idlemem", "idlemem-pw")
	c.C("a2 SELECT INBOX")
	c.S("a2 OK")
	c.C("a3 IDLE")
	c.S("+ idling")
	var pid int
	for _, k := range children(t, s.cmd.Process.Pid) {
		if strings.HasPrefix(k.cmdline, "imapd: mailbox idlemem") {
			pid = k.pid
		}
	}
	if pid == 0 {
		t.Fatal("no mailbox worker for idlemem")
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\x00"+string(env)+"\x00", "\x00GOMAXPROCS=1\x00") {
		t.Errorf("mailbox worker environment %q: want GOMAXPROCS=1", strings.ReplaceAll(string(env), "\x00", " "))
	}
	// And a timer slack of 1 ms (docs/design.md#timer-slack), inherited by
	// its runtime's threads.
	if slack, _ := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", pid)); strings.TrimSpace(string(slack)) != "1000000" {
		t.Errorf("mailbox worker timer slack %q ns, want 1000000", slack)
	}
	arena, other, data := smapsByKind(t, pid)
	t.Logf("idle worker private dirty: Go heap arena %d kB, other anonymous %d kB, binary data %d kB", arena, other, data)
	if arena+other > idleWorkerAnonCeiling {
		t.Errorf("idle worker holds %d kB of private anonymous memory, above %d kB", arena+other, idleWorkerAnonCeiling)
	}
	// The MDA delivers; the IDLE session hears of it.
	put(5)
	c.S("* 6 EXISTS")
	c.C("DONE")
	c.S("a3 OK")
}

// mdaUser makes the account name (password pw) if it is missing, gives it
// an empty ~/Maildir, delivers messages 0 to n-1 into it as an MDA does
// (written to tmp/, then renamed into new/) and returns that delivery for
// more. Root only.
func mdaUser(t *testing.T, name, pw string, n int) (put func(i int)) {
	t.Helper()
	requireRoot(t)
	ensureSystemSetup(t)
	u := ensureUser(t, name, pw)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	md := filepath.Join(u.HomeDir, "Maildir")
	os.RemoveAll(md)
	for _, d := range []string{"", "new", "cur", "tmp"} {
		os.MkdirAll(filepath.Join(md, d), 0o700)
		os.Chown(filepath.Join(md, d), uid, gid)
	}
	put = func(i int) {
		t.Helper()
		file := fmt.Sprintf("%d.M%dP1.host", 1700000000+i, i)
		p := filepath.Join(md, "tmp", file)
		os.WriteFile(p, []byte(fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i)), 0o600)
		os.Chown(p, uid, gid)
		if err := os.Rename(p, filepath.Join(md, "new", file)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		put(i)
	}
	return put
}
