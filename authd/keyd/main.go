package keyd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"imapd/ipc"
	pb "imapd/proto"
)

// Main is the keyd role, a checklist: receive the setup, drop privileges
// (chroot, setuid, no-new-privs), make the process undumpable and without
// core files, restrict it to its channels (Landlock without file system,
// the keyd seccomp allowlist), then load keys and sign until the parent
// goes away. Keys arrive after the sandbox is in force.
func Main(c *ipc.Conn[*pb.KeydMessage, *pb.KeydMessage]) error {
	m, err := recvSetup(c, 30*time.Second)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	setup := m.GetSetup()
	if setup == nil {
		return errors.New("first message is not a keyd setup")
	}
	log := slog.Default().With("role", "keyd", "pid", os.Getpid())
	if setup.User == "" {
		log.Warn("unprivileged mode: keyd keeps the server's user, without chroot")
	}
	if err := ipc.DropToUser(setup.Chroot, setup.User); err != nil {
		return fmt.Errorf("drop privileges: %w", err)
	}
	// Undumpable: a process of the same uid can neither ptrace keyd nor
	// read its /proc/PID/mem; no core file ever holds a key.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	for _, l := range []int{unix.RLIMIT_CORE, unix.RLIMIT_FSIZE} {
		if err := unix.Setrlimit(l, &unix.Rlimit{}); err != nil {
			return fmt.Errorf("rlimit: %w", err)
		}
	}
	if _, err := ipc.Confine(log, ipc.RoleKeyd, []string{"/", "/etc/passwd"}); err != nil {
		return err
	}
	return NewServer(log, setup.Rate, setup.Burst).ServeParent(c)
}

func recvSetup(c *channel, d time.Duration) (*pb.KeydMessage, error) {
	type res struct {
		m   *pb.KeydMessage
		err error
	}
	ch := make(chan res, 1)
	go func() {
		m, fd, err := c.Recv()
		if fd != nil {
			fd.Close()
			err = errors.New("descriptor with the setup")
		}
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		return r.m, r.err
	case <-time.After(d):
		return nil, errors.New("timed out")
	}
}
