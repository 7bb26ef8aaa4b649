package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// BenchmarkMix runs rounds of issue 18's write-heavy mix (cmd/imapbench/
// mix.go) pipelined against a Maildir INBOX of 30 messages, for CPU
// profiles and system-call counts per command, not for timings on a
// shared machine:
//
//	go test -run XXX -bench Mix -benchtime 200x -cpuprofile cpu.out ./imapworker/server/
//	strace -c -f go test ... (the test binary, built with -c)
//
// One op is one round, of 4.4 commands on average. cpu-ns/op is the
// process's CPU time (getrusage: the server, the test's client and the
// runtime) per round, steadier than ns/op when other processes run.
func BenchmarkMix(b *testing.B) {
	dir := b.TempDir()
	withMaildirIn(b, dir)
	ts := newTestServer(b)
	r := rand.New(rand.NewPCG(18, 4))
	pool := make([][]byte, 64)
	for i := range pool {
		pool[i] = mixMessage(r, i)
	}
	u, err := ts.backend.Open("alice")
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Create("Archive", 0); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		b.Fatal(err)
	}
	const exists = 30
	for i := 0; i < exists; i++ {
		if _, _, err := u.Append("INBOX", store.Flags{}, time.Time{}, pool[i%len(pool)]); err != nil {
			b.Fatal(err)
		}
	}
	u.Close()
	c := ts.login("alice")
	c.C("s SELECT INBOX")
	c.until("s OK")
	w := bufio.NewWriterSize(c.nc, 64<<10)
	flags := []string{`\Seen`, `\Flagged`, `\Answered`, `$Work`}
	cmds := 0
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tag := 0
		cmd := func(line string) {
			tag++
			fmt.Fprintf(w, "m%d %s\r\n", tag, line)
		}
		if r.Float64() < 0.2 {
			cmd("SELECT INBOX")
		}
		if r.Float64() < 0.1 {
			cmd(`LIST "" "*"`)
		}
		if r.Float64() < 0.1 {
			cmd("STATUS Archive (MESSAGES)")
		}
		lo := 1 + r.IntN(exists-10+1)
		cmd(fmt.Sprintf("FETCH %d:%d (FLAGS ENVELOPE)", lo, lo+9))
		if r.Float64() < 0.5 {
			var set []string
			for k := 1 + r.IntN(3); k <= exists; k += 3 {
				set = append(set, strconv.Itoa(k))
			}
			cmd("FETCH " + strings.Join(set, ",") + " BODY.PEEK[]")
		}
		if r.Float64() < 0.5 {
			op := []string{"+", "-"}[r.IntN(2)]
			cmd(fmt.Sprintf("STORE %d %sFLAGS (%s)", 1+r.IntN(exists), op, flags[r.IntN(len(flags))]))
		}
		if r.Float64() < 0.5 {
			d := 1 + r.IntN(3)
			first := 1 + r.IntN(exists-d+1)
			cmd(fmt.Sprintf(`STORE %d:%d +FLAGS.SILENT (\Deleted)`, first, first+d-1))
			cmd("EXPUNGE")
			for j := 0; j < d; j++ {
				m := pool[r.IntN(len(pool))]
				tag++
				fmt.Fprintf(w, "m%d APPEND INBOX {%d+}\r\n", tag, len(m))
				w.Write(m)
				w.WriteString("\r\n")
			}
		}
		cmds += tag
		c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := mixRead(c.br, "m"+strconv.Itoa(tag)+" "); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cmds)/float64(b.N), "cmds/op")
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mixRead reads answers up to the tagged one starting with last,
// skipping literals unread into memory, so that the client's own costs
// stay small beside the server's; a tagged NO or BAD is an error.
func mixRead(br *bufio.Reader, last string) error {
	for {
		l, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			l, err = br.ReadSlice('\n') // a long line: its end tells a literal
		}
		if err != nil {
			return err
		}
		if l[0] == 'm' && (bytes.Contains(l, []byte(" BAD ")) || bytes.Contains(l, []byte(" NO "))) {
			return fmt.Errorf("S: %s", l)
		}
		if bytes.HasPrefix(l, []byte(last)) {
			return nil
		}
		t := bytes.TrimRight(l, "\r\n")
		if i := bytes.LastIndexByte(t, '{'); i >= 0 && t[len(t)-1] == '}' {
			n, err := strconv.Atoi(string(t[i+1 : len(t)-1]))
			if err != nil {
				return fmt.Errorf("S: %s", l)
			}
			if _, err := br.Discard(n); err != nil {
				return err
			}
		}
	}
}

// mixMessage is a plain-text message of the mix's sizes: 60% 1-8 KB,
// 30% 8-50 KB, 10% 50-250 KB.
func mixMessage(r *rand.Rand, i int) []byte {
	var size int
	switch p := r.IntN(10); {
	case p < 6:
		size = 1024 + r.IntN(7*1024)
	case p < 9:
		size = 8*1024 + r.IntN(42*1024)
	default:
		size = 50*1024 + r.IntN(200*1024)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: Sender %d <s%d@example.org>\r\nTo: alice@example.org\r\nSubject: mix message %d\r\n"+
		"Date: Fri, 4 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\n", i, i, i, i)
	for sb.Len() < size {
		sb.WriteString("The quick brown fox jumps over the lazy dog, line after line.\r\n")
	}
	return []byte(sb.String())
}
