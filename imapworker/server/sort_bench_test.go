package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkSortRepeat measures issue 13's repeated views on a generated
// Maildir of IMAPD_BENCH_N messages (default 100,000) in threads of five:
// each step's first run (b.N = 1) is the first command, the runs after
// it the repeats, which are what -benchtime 5x reports:
//
//	go test -run XXX -bench SortRepeat -benchtime 5x -cpuprofile cpu.out ./imapworker/server/
func BenchmarkSortRepeat(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("IMAPD_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	md := filepath.Join(dir, "alice", "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		t, j := i/5, i%5
		var h string
		if j > 0 {
			h = fmt.Sprintf("In-Reply-To: <m%d@bench>\r\nReferences: <m%d@bench> <m%d@bench>\r\nSubject: Re: topic %d of the week\r\n",
				i-1, t*5, i-1, t%2000)
		} else {
			h = fmt.Sprintf("Subject: topic %d of the week\r\n", t%2000)
		}
		// Sent dates out of arrival order, so DATE is a real sort.
		sent := base.Add(time.Duration((i*7919)%n) * time.Minute)
		msg := fmt.Sprintf("From: \"User %d\" <user%d@example.org>\r\nTo: list@example.org\r\nDate: %s\r\nMessage-ID: <m%d@bench>\r\n%s\r\nbody %d\r\n",
			i%300, (i*31)%300, sent.Format(time.RFC1123Z), i, h, i)
		flags := "S"
		if i%10 == 3 {
			flags = "ST"
		}
		name := fmt.Sprintf("%d.M%07dP1.bench,S=%d:2,%s", 1700000000+i, i, len(msg), flags)
		p := filepath.Join(md, "cur", name)
		if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, at, at); err != nil {
			b.Fatal(err)
		}
	}
	withMaildirIn(b, dir)
	ts := newTestServer(b)
	c := ts.login("alice")
	selectInbox(c)
	step := func(name, before, cmd string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			peak := watchHeap()
			for i := 0; i < b.N; i++ {
				if before != "" {
					b.StopTimer()
					benchDo(b, c, before)
					b.StartTimer()
				}
				benchDo(b, c, cmd)
			}
			reportHeap(b, peak)
		})
	}
	step("SortDate", "", "UID SORT (DATE) UTF-8 ALL")
	step("SortSubject", "", "UID SORT (SUBJECT) UTF-8 ALL")
	step("SortFrom", "", "UID SORT (FROM) UTF-8 ALL")
	step("SortPartial", "", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL")
	step("Thread", "", "UID THREAD REFERENCES UTF-8 ALL")
	step("SearchPartial1", "", "UID SEARCH RETURN (PARTIAL 1:50) UNDELETED")
	step("SearchPartial2", "UID SEARCH RETURN (PARTIAL 1:50) UNDELETED", "UID SEARCH RETURN (PARTIAL 51:100) UNDELETED")
}
