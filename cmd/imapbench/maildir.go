package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var deliverSeq atomic.Int64

// maildirDeliver drops msg into dir/new the way an MDA does (write into
// tmp/, fsync-free rename into new/), owned by the owner of dir.
func maildirDeliver(dir string, msg []byte) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	host = strings.NewReplacer("/", "\\057", ":", "\\072").Replace(host)
	now := time.Now()
	name := fmt.Sprintf("%d.M%dP%dQ%d.%s,S=%d", now.Unix(), now.Nanosecond()/1000, os.Getpid(),
		deliverSeq.Add(1), host, len(msg))
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, msg, 0o600); err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Chown(tmp, int(sys.Uid), int(sys.Gid)); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// seedMaildir creates a Maildir++ (INBOX at dir, folders as dir/.Name)
// holding n messages in INBOX and per-folder counts, most of them \Seen,
// owned like dir's parent (the user's home).
func seedMaildir(dir string, seed uint64, inbox int, folders map[string]int) error {
	r := rand.New(rand.NewPCG(seed, 0x1badb002))
	home := filepath.Dir(dir)
	st, err := os.Stat(home)
	if err != nil {
		return err
	}
	uid, gid := -1, -1
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		uid, gid = int(sys.Uid), int(sys.Gid)
	}
	mk := func(d string) error {
		for _, sub := range []string{"", "cur", "new", "tmp"} {
			p := filepath.Join(d, sub)
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			if uid >= 0 {
				if err := os.Chown(p, uid, gid); err != nil {
					return err
				}
			}
		}
		return nil
	}
	fill := func(d string, n int) error {
		if err := mk(d); err != nil {
			return err
		}
		base := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
		for i := 0; i < n; i++ {
			date := base.Add(time.Duration(i) * 97 * time.Minute)
			m := genMessage(r, i, messageSize(r), date)
			flags := "S"
			if r.IntN(5) == 0 {
				flags = "" // unseen
			} else if r.IntN(8) == 0 {
				flags = "FS"
			}
			name := fmt.Sprintf("%d.M%dP%dQ%d.bench,S=%d:2,%s", date.Unix(), i, os.Getpid(), i, len(m.Raw), flags)
			p := filepath.Join(d, "cur", name)
			if err := os.WriteFile(p, m.Raw, 0o600); err != nil {
				return err
			}
			os.Chtimes(p, date, date)
			if uid >= 0 {
				if err := os.Chown(p, uid, gid); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := fill(dir, inbox); err != nil {
		return err
	}
	var subs []string
	for name, n := range folders {
		if err := fill(filepath.Join(dir, "."+name), n); err != nil {
			return err
		}
		subs = append(subs, name)
	}
	sf := filepath.Join(dir, "subscriptions")
	if err := os.WriteFile(sf, []byte(strings.Join(subs, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if uid >= 0 {
		return os.Chown(sf, uid, gid)
	}
	return nil
}

// runSeed: imapbench seed -maildir '/home/bench%d/Maildir' -from 0 -to 199 -inbox 50 -folder Archive=20
func runSeed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	pattern := fs.String("maildir", "/home/bench%d/Maildir", "Maildir path pattern, %d is the user number")
	from := fs.Int("from", 0, "first user number")
	to := fs.Int("to", 9, "last user number")
	inbox := fs.Int("inbox", 50, "messages in INBOX")
	var folders folderFlag = map[string]int{}
	fs.Var(&folders, "folder", "NAME=N: a folder with N messages (repeatable)")
	force := fs.Bool("force", false, "replace an existing Maildir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	made := 0
	for i := *from; i <= *to; i++ {
		dir := fmt.Sprintf(*pattern, i)
		if _, err := os.Stat(dir); err == nil {
			if !*force {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		if err := seedMaildir(dir, uint64(i), *inbox, folders); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		made++
	}
	fmt.Printf("seed: %d Maildirs created (%d kept)\n", made, *to-*from+1-made)
	return nil
}

type folderFlag map[string]int

func (f folderFlag) String() string { return fmt.Sprint(map[string]int(f)) }

func (f folderFlag) Set(s string) error {
	name, n, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("want NAME=N")
	}
	var v int
	if _, err := fmt.Sscan(n, &v); err != nil {
		return err
	}
	f[name] = v
	return nil
}
