package mailbox

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "imapd/proto"
)

// A Maildir that cannot be opened after a good login: the login is
// answered NO [UNAVAILABLE], and the log names the path, owner and mode
// that stopped it (issue 14, correction 9).
func TestUnavailableMaildir(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	// The home is a file: the Maildir under it cannot be made.
	if err := os.WriteFile(home, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	setup := &pb.MailboxSetup{Storage: pb.Storage_STORAGE_MAILDIR, User: "alice", Home: home}
	if _, err := openStore(setup); err == nil {
		t.Fatal("openStore succeeded under a file")
	}
	var logBuf bytes.Buffer
	w := &worker{setup: setup, log: slog.New(slog.NewTextHandler(&logBuf, nil))}
	_, err := openStore(setup)
	w.unavailable(err)
	if !w.down {
		t.Fatal("worker not marked down")
	}
	line := logBuf.String()
	for _, want := range []string{"mailbox unavailable", "path=" + home, "mode=-rw-r-----", "owner="} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}

	// What the client reads.
	a, b := net.Pipe()
	go func() { refuse(a, "l1"); a.Close() }()
	br := bufio.NewReader(b)
	for _, want := range []string{"l1 NO [UNAVAILABLE] Mailbox unavailable, try again later\r\n", "* BYE [UNAVAILABLE] Mailbox unavailable\r\n"} {
		got, err := br.ReadString('\n')
		if err != nil || got != want {
			t.Fatalf("S: %q (%v), want %q", got, err, want)
		}
	}
}

// tmp/ that exists but is not writable by the worker's user is refused.
func TestUnwritableMaildir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := filepath.Join(t.TempDir(), "alice")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "Maildir", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "Maildir", "tmp"), 0o500)
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "Maildir", "tmp"), 0o700) })
	if _, err := openStore(&pb.MailboxSetup{Storage: pb.Storage_STORAGE_MAILDIR, User: "alice", Home: dir}); err == nil {
		t.Fatal("openStore accepted an unwritable tmp/")
	}
}
