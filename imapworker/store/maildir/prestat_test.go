package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A first SELECT of a folder large enough for adopt to stat its files in
// parallel lists the regular files with their sizes and mtimes, and skips
// what is not a message.
func TestFirstSelectManyFiles(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	const n = statParallel + 300
	t0 := time.Unix(1700000000, 0)
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, make([]byte, i%7))
		name := fmt.Sprintf("%d.M%dP1.host:2,S", 1700000000+i, i) // no S=, W=
		sub := "cur"
		if i%50 == 0 {
			sub, name = "new", name[:len(name)-4]
		}
		p := filepath.Join(root, sub, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		d := t0.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, d, d)
	}
	os.Symlink("/etc/hostname", filepath.Join(root, "cur", "1800000000.M1P1.host:2,S"))
	os.Mkdir(filepath.Join(root, "cur", "1800000001.M1P1.host:2,S"), 0o700)
	_, mb := openInbox(t, root, Options{NoSpecialUse: true})
	msgs := mb.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	uids := make([]uint32, n)
	for k, m := range msgs {
		uids[k] = m.UID
	}
	dates, err := mb.InternalDates(uids)
	if err != nil {
		t.Fatal(err)
	}
	for k, m := range msgs {
		i := k + 1 // delivery order is name order is i
		want := int64(len(fmt.Sprintf("Subject: m%d\r\n\r\n", i)) + i%7 + 2)
		if m.Size != want || !dates[k].Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("message %d: size %d date %v, want %d %v", i, m.Size, dates[k], want, t0.Add(time.Duration(i)*time.Minute))
		}
	}
}

// Names that carry S= and W= (Dovecot's, and ours) give a first SELECT
// everything it needs: no file is stat-ed until a date is asked for, once,
// and a symlink with such a name is still not a message.
func TestFirstSelectStatsNoFile(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	t0 := time.Unix(1700000000, 0)
	const n = 40
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("Subject: m%d\r\n\r\n", i)
		p := filepath.Join(root, "cur", fmt.Sprintf("%d.M%dP1.host,S=%d,W=%d:2,S", 1700000000+i, i, len(body), len(body)))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		d := t0.Add(time.Duration(i) * time.Hour)
		os.Chtimes(p, d, d)
	}
	os.Symlink("/etc/hostname", filepath.Join(root, "cur", "1800000000.M1P1.host,S=5,W=5:2,S"))
	before := fileStats.Load()
	_, mb := openInbox(t, root, Options{NoSpecialUse: true})
	if got := fileStats.Load() - before; got != 0 {
		t.Errorf("first SELECT stat-ed %d files", got)
	}
	msgs := mb.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d (the symlink is not one)", len(msgs), n)
	}
	uids := []uint32{msgs[n-1].UID, msgs[0].UID}
	for range 2 {
		dates, err := mb.InternalDates(uids)
		if err != nil {
			t.Fatal(err)
		}
		if !dates[0].Equal(t0.Add(n*time.Hour)) || !dates[1].Equal(t0.Add(time.Hour)) {
			t.Fatalf("dates %v", dates)
		}
	}
	if got := fileStats.Load() - before; got != 2 {
		t.Errorf("two dates asked twice: %d files stat-ed, want 2", got)
	}
}
