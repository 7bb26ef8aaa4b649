package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// bigMaildir makes an INBOX of n messages as Dovecot would have left it:
// files with ,S= and ,W= in cur/ and a uidlist naming them.
func bigMaildir(b *testing.B, n int) string {
	b.Helper()
	root := filepath.Join(b.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
	var ul strings.Builder
	fmt.Fprintf(&ul, "3 V1600000000 N%d G0123456789abcdef0123456789abcdef\n", n+1)
	t0 := time.Unix(1600000000, 0)
	for i := 1; i <= n; i++ {
		base := fmt.Sprintf("%d.M%dP1.host,S=%d,W=%d", 1600000000+i, i, len(msg), len(msg))
		name := base + ":2,S"
		p := filepath.Join(root, "cur", name)
		if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
		d := t0.Add(time.Duration(i) * time.Second)
		os.Chtimes(p, d, d)
		fmt.Fprintf(&ul, "%d :%s\n", i, name)
	}
	os.WriteFile(filepath.Join(root, uidlistName), []byte(ul.String()), 0o600)
	// Age new/ past the timestamp guard, then let one process build the
	// index.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(root, "new"), old, old)
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Select("INBOX", false)
	if err != nil || len(mb.Messages()) != n {
		b.Fatalf("select: %v", err)
	}
	mb.Close()
	u.Close()
	return root
}

func benchN() int {
	if os.Getenv("MAILDIR_BENCH_100K") != "" {
		return 100000
	}
	return 10000
}

// SELECT in a worker that has the folder open already (the common case:
// the mailbox worker outlives sessions): stat calls only.
func BenchmarkSelectWarm(b *testing.B) {
	root := bigMaildir(b, benchN())
	u, _ := Open(root, Options{NoSpecialUse: true})
	defer u.Close()
	mb, err := u.Select("INBOX", false) // the worker's first session
	if err != nil {
		b.Fatal(err)
	}
	mb.Close()
	before := readdirs.Load()
	b.ResetTimer()
	for range b.N {
		mb, err := u.Select("INBOX", false)
		if err != nil {
			b.Fatal(err)
		}
		mb.Close()
	}
	if readdirs.Load() != before {
		b.Fatal("warm SELECT read directories")
	}
}

// SELECT in a new process: imapd.index, no directory scan.
func BenchmarkSelectIndex(b *testing.B) {
	root := bigMaildir(b, benchN())
	before := readdirs.Load()
	b.ResetTimer()
	for range b.N {
		u, _ := Open(root, Options{NoSpecialUse: true})
		mb, err := u.Select("INBOX", false)
		if err != nil {
			b.Fatal(err)
		}
		mb.Close()
		u.Close()
	}
	if readdirs.Load() != before {
		b.Fatal("indexed SELECT read directories")
	}
}

// SELECT after a restart without imapd.index: readdir plus the uidlist.
func BenchmarkSelectNoIndex(b *testing.B) { benchSelectWithout(b, indexName) }

// The first SELECT of a folder no IMAP server has indexed (issue 4's
// cold SELECT): readdir, UIDs for every file, the uidlist written.
func BenchmarkSelectFirst(b *testing.B) { benchSelectWithout(b, indexName, uidlistName) }

// benchSelectWithout times a new process's SELECT with the named files
// removed before each.
func benchSelectWithout(b *testing.B, files ...string) {
	root := bigMaildir(b, benchN())
	b.ResetTimer()
	for range b.N {
		for _, name := range files {
			os.Remove(filepath.Join(root, name))
		}
		u, _ := Open(root, Options{NoSpecialUse: true})
		mb, err := u.Select("INBOX", false)
		if err != nil {
			b.Fatal(err)
		}
		mb.Close()
		u.Close()
	}
}

// One STORE in a large folder: a rename, not a directory scan.
func BenchmarkStoreOne(b *testing.B) {
	root := bigMaildir(b, benchN())
	u, _ := Open(root, Options{NoSpecialUse: true})
	defer u.Close()
	mb, err := u.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	b.ResetTimer()
	for i := range b.N {
		op := store.StoreAdd
		if i%2 == 1 {
			op = store.StoreRemove
		}
		if _, err := mb.Store([]uint32{7}, op, store.Flags{System: store.FlagFlagged}); err != nil {
			b.Fatal(err)
		}
	}
}
