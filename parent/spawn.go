package parent

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/ipc"
	pb "imapd/proto"
)

// child is one supervised process and the parent's end of its channel. The
// loop owns every field but conn, out and exited.
type child struct {
	role   pb.Role
	slot   int    // preauth: place in its generation
	id     uint32 // preauth: worker identity, unique across generations
	gen    uint32
	user   string // mailbox workers
	uid    uint32
	pid    int
	file   *os.File  // the parent's end of the channel, until adopt types it
	closer io.Closer // the typed channel
	// The outbox of the child's role; the others are nil.
	toPreauth *ipc.Outbox[*pb.ToPreauth, *pb.FromPreauth]
	toAuthd   *ipc.Outbox[*pb.ToAuthd, *pb.FromAuthd]
	toMailbox *ipc.Outbox[*pb.ToMailbox, *pb.FromMailbox]
	toKeyd    *ipc.Outbox[*pb.KeydMessage, *pb.KeydMessage]
	cmd       *exec.Cmd
	started   time.Time
	ready     bool // preauth: said Ready
	// draining: told to finish and exit; not restarted
	draining bool
	killed   bool
	exited   chan struct{} // closed once it is reaped
}

// kill ends the child at once (a child that misbehaved, or one that did not
// stop in time). It never blocks.
func (c *child) kill() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Kill()
	}
	if c.closer != nil {
		c.closer.Close()
	} else if c.file != nil {
		c.file.Close()
	}
}

// closeOutbox stops the writer of whichever outbox the child has.
func (c *child) closeOutbox() {
	switch {
	case c.toPreauth != nil:
		c.toPreauth.Close()
	case c.toAuthd != nil:
		c.toAuthd.Close()
	case c.toMailbox != nil:
		c.toMailbox.Close()
	}
}

// spawnSpec says how to start a child.
type spawnSpec struct {
	role  pb.Role
	path  string // executable
	title string // argv[0]: the process title ps shows
	env   []string
	cred  *syscall.Credential // nil: keep the parent's ids
	dir   string
	log   io.Writer // where its stderr lines go
	// timerSlack is the child's timer slack, 0 the kernel's default. A
	// child inherits it from the thread that forks it, and the runtime's
	// threads from the child's first: only the spawner can set it before
	// the child's runtime starts (docs/design.md#timer-slack).
	timerSlack time.Duration
}

// spawner starts every child from one locked OS thread: Pdeathsig is tied to
// the thread that forked the child, and a thread Go retires would kill
// children that are alive and well (DESIGN §7).
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	spec spawnSpec
	res  chan spawnRes
}

type spawnRes struct {
	c   *child
	err error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the parent
		for r := range s.reqs {
			// PR_SET_TIMERSLACK 0 is the thread's default again.
			unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(r.spec.timerSlack.Nanoseconds()), 0, 0, 0)
			c, err := startChild(r.spec)
			r.res <- spawnRes{c, err}
		}
	}()
	return s
}

func (s *spawner) spawn(spec spawnSpec) (*child, error) {
	res := make(chan spawnRes, 1)
	s.reqs <- spawnReq{spec, res}
	r := <-res
	return r.c, r.err
}

func startChild(spec spawnSpec) (*child, error) {
	ours, theirs, err := ipc.Socketpair()
	if err != nil {
		return nil, err
	}
	defer theirs.Close()
	cmd := &exec.Cmd{
		Path:       spec.path,
		Args:       []string{spec.title},
		Env:        spec.env,
		Dir:        spec.dir,
		ExtraFiles: []*os.File{theirs}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{
			Pdeathsig:  syscall.SIGKILL,
			Credential: spec.cred,
			Setpgid:    false,
		},
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		ours.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, fmt.Errorf("start %s: %w", spec.title, err)
	}
	c := &child{role: spec.role, pid: cmd.Process.Pid, file: ours, cmd: cmd, started: time.Now(), exited: make(chan struct{})}
	go relayLog(stderr, spec.log, fmt.Sprintf("%s[%d]", roleName(spec.role), c.pid))
	return c, nil
}

// relayLog copies a child's stderr to the log, one write per line (one
// syslog message), prefixed with the child's role and pid (DESIGN §5).
func relayLog(r io.Reader, out io.Writer, prefix string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := []byte(prefix + ": ")
	for sc.Scan() {
		out.Write(append(append(line[:len(prefix)+2], sc.Bytes()...), '\n'))
	}
}

func roleName(r pb.Role) string {
	switch r {
	case pb.Role_ROLE_PARENT:
		return "parent"
	case pb.Role_ROLE_PREAUTH:
		return "preauth"
	case pb.Role_ROLE_AUTHD:
		return "authd"
	case pb.Role_ROLE_MAILBOX:
		return "mailbox"
	case pb.Role_ROLE_CONTROL:
		return "control"
	case pb.Role_ROLE_KEYD:
		return "keyd"
	}
	return "unknown"
}
