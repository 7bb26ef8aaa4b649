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
	const n = prestatMin + 300
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
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	mb, err := u.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	msgs := mb.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for k, m := range msgs {
		i := k + 1 // delivery order is name order is i
		want := int64(len(fmt.Sprintf("Subject: m%d\r\n\r\n", i)) + i%7 + 2)
		if m.Size != want || !m.InternalDate.Equal(t0.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("message %d: size %d date %v, want %d %v", i, m.Size, m.InternalDate, want, t0.Add(time.Duration(i)*time.Minute))
		}
	}
}
