package server

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFolder runs issue 4's large-folder steps against a copy of a
// real Maildir (IMAPD_BENCH_FOLDER, e.g. one tests/bench/folder.sh built), cut to
// IMAPD_BENCH_N messages when set, for CPU and heap profiles and the
// allocation per step:
//
//	IMAPD_BENCH_FOLDER=/var/tmp/imapbench/cache/folder-v4-n100000-s1 IMAPD_BENCH_N=20000 \
//	  go test -run XXX -bench Folder -benchtime 1x -cpuprofile cpu.out ./imapworker/server/
func BenchmarkFolder(b *testing.B) {
	src := os.Getenv("IMAPD_BENCH_FOLDER")
	if src == "" {
		b.Skip("IMAPD_BENCH_FOLDER not set")
	}
	n, _ := strconv.Atoi(os.Getenv("IMAPD_BENCH_N"))
	dir := b.TempDir()
	md := filepath.Join(dir, "alice", "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			b.Fatal(err)
		}
		ents, err := os.ReadDir(filepath.Join(src, sub))
		if err != nil {
			b.Fatal(err)
		}
		for i, e := range ents {
			if n > 0 && i >= n {
				break
			}
			if err := os.Link(filepath.Join(src, sub, e.Name()), filepath.Join(md, sub, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
	}
	withMaildirIn(b, dir)
	ts := newTestServer(b)
	c := ts.login("alice")
	step := func(name, cmd string) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			peak := watchHeap()
			for i := 0; i < b.N; i++ {
				benchDo(b, c, cmd)
			}
			reportHeap(b, peak)
		})
	}
	step("Select", "SELECT INBOX")
	step("FetchFlags", "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
	step("FetchEnvelope1", "UID FETCH 1:* (ENVELOPE)")
	step("FetchEnvelope2", "UID FETCH 1:* (ENVELOPE)")
	// Issue 13's views, from the sort records FETCH ENVELOPE cached.
	step("SortDate", "UID SORT (DATE) UTF-8 ALL")
	step("SortSubject", "UID SORT (SUBJECT) UTF-8 ALL")
	step("SortFrom", "UID SORT (FROM) UTF-8 ALL")
	step("SortReverseArrival", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL")
	step("ThreadReferences", "UID THREAD REFERENCES UTF-8 ALL")
	step("SearchPartial", "UID SEARCH RETURN (PARTIAL 1:50) UNDELETED")
	step("SearchUnseen", "UID SEARCH UNSEEN")
	step("SearchSubject", "UID SEARCH SUBJECT invoice")
	step("SearchBody", "UID SEARCH BODY zymurgical")
	// With the full-text index built by SearchBody: a common word, and a
	// key most messages match (their answers' allocation, issue 18).
	step("SearchBodyCommon", "UID SEARCH BODY budget")
	step("SearchUndeleted", "UID SEARCH UNDELETED")
	// Each run appends a 10 KB message and searches, which indexes it:
	// the worst shows what a merge of the index's segments costs.
	b.Run("SearchAfterAppend", func(b *testing.B) {
		var worst time.Duration
		for i := 0; i < b.N; i++ {
			msg := fmt.Sprintf("Subject: delivery %d\r\n\r\n%s\r\n", i, strings.Repeat("a line of a delivered message\r\n", 320))
			benchDo(b, c, fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(msg), msg))
			start := time.Now()
			benchDo(b, c, "UID SEARCH BODY zymurgical")
			worst = max(worst, time.Since(start))
		}
		b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
	})
}

// benchDo sends cmd tagged t and reads to its answer, with a deadline of
// its own: the login's would end mid-run, and a first SEARCH BODY of a
// large folder builds the full-text index (a minute).
func benchDo(b *testing.B, c *client, cmd string) {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Minute))
	c.C("t " + cmd)
	for {
		l, err := c.br.ReadSlice('\n')
		if err != nil && len(l) == 0 {
			b.Fatal(err)
		}
		if len(l) > 1 && l[0] == 't' && l[1] == ' ' {
			return
		}
	}
}

// reportHeap reports the live heap after a benchmark step (server and
// client share the process; the client holds little), untimed, and the
// most the heap's objects (live and garbage) took during the step.
func reportHeap(b *testing.B, peak *heapPeak) {
	b.StopTimer()
	b.ReportMetric(float64(peak.stop())/(1<<20), "MiB-peak")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "MiB-live")
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "MiB-heapsys")
}

// heapPeak samples the heap's objects every millisecond until stopped.
type heapPeak struct {
	done chan struct{}
	max  chan uint64
}

func watchHeap() *heapPeak {
	p := &heapPeak{done: make(chan struct{}), max: make(chan uint64)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var top uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-p.done:
				p.max <- top
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *heapPeak) stop() uint64 {
	close(p.done)
	return <-p.max
}
