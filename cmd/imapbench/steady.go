package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// steadyMix is one iteration of a steady client, in order: what a mail
// client does when it opens a folder, reads, files and deletes mail. It
// keeps every mailbox at a constant size: APPEND adds one to INBOX and
// MOVE takes one away; COPY and MOVE add two to Archive, EXPUNGE removes
// two.
var steadyMix = []string{
	"SELECT INBOX",
	"LIST \"\" \"*\"",
	"STATUS Archive (MESSAGES UIDNEXT UNSEEN)",
	"UID FETCH 1:* (FLAGS)",
	"FETCH last10 (UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE BODYSTRUCTURE)",
	"FETCH k BODY.PEEK[]",
	"FETCH k BODY.PEEK[1]",
	"STORE k +FLAGS (\\Flagged)",
	"STORE k -FLAGS (\\Flagged)",
	"SEARCH UNSEEN",
	"SEARCH TEXT \"quarterly\"",
	"APPEND INBOX (\\Seen) {1-250 KB}",
	"COPY k Archive",
	"MOVE k Archive",
	"SELECT Archive",
	"FETCH 1:* (FLAGS)",
	"STORE 1:2 +FLAGS.SILENT (\\Deleted)",
	"EXPUNGE",
}

// appendPool is a shared set of realistic messages for APPEND, made
// before the clock starts so the generator spends no CPU on them.
func appendPool(n int) [][]byte {
	r := rand.New(rand.NewPCG(42, 7))
	pool := make([][]byte, n)
	for i := range pool {
		pool[i] = genMessage(r, 100000+i, messageSize(r), time.Now()).Raw
	}
	return pool
}

func runSteady(args []string) error {
	fs := flag.NewFlagSet("steady", flag.ContinueOnError)
	var c common
	c.register(fs, 10, 30*time.Second)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool := appendPool(64)
	var poolBytes int
	for _, m := range pool {
		poolBytes += len(m)
	}
	fmt.Printf("steady: %d clients, %s, %s\n", c.clients, c.duration, c.addr)
	fmt.Printf("mix per iteration (k: a random message; APPEND from %d messages averaging %d KB):\n",
		len(pool), poolBytes/len(pool)/1024)
	for _, m := range steadyMix {
		fmt.Printf("  %s\n", m)
	}

	setup := NewStats()
	st := NewStats()
	clients := make([]*Client, c.clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := steadyConnect(&c, i, setup)
			if err != nil {
				setup.Error("connect", err)
				return
			}
			clients[i] = cl
		}()
	}
	wg.Wait()
	ready := 0
	for _, cl := range clients {
		if cl != nil {
			ready++
		}
	}
	fmt.Printf("logged in: %d of %d clients\n", ready, c.clients)
	if ready == 0 {
		setup.PrintErrors(os.Stdout)
		return errors.New("no client could log in")
	}

	var iters sync.Map
	cpuDone := c.cpuStart(os.Stdout)
	start := time.Now()
	deadline := start.Add(c.duration)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := steadyLoop(&c, i, clients[i], st, setup, pool, deadline)
			iters.Store(i, n)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := 0
	iters.Range(func(_, v any) bool { total += v.(int); return true })

	fmt.Printf("\nsetup (connect + LOGIN):\n")
	setup.Print(os.Stdout, elapsed)
	fmt.Printf("\nmeasured %.1fs, %d iterations (%.1f/s):\n", elapsed.Seconds(), total, float64(total)/elapsed.Seconds())
	st.Print(os.Stdout, elapsed)
	_, all := st.Summaries()
	cpu := cpuDone(all.Count, elapsed)
	fmt.Printf("RESULT steady label=%s clients=%d ops_per_s=%.1f p50_ms=%.3f p99_ms=%.3f cpu_ms_per_op=%.3f errors=%d\n",
		c.label, c.clients, float64(all.Count)/elapsed.Seconds(), ms(all.P50), ms(all.P99), cpu, st.Errors()+setup.Errors())
	return nil
}

func steadyConnect(c *common, i int, setup *Stats) (*Client, error) {
	user, pass, err := c.account(i)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	cl, err := c.dial()
	setup.Record("connect", time.Since(t0), err)
	if err != nil {
		return nil, err
	}
	_, err = timed(setup, cl, c.timeout, "LOGIN", func() (*Response, error) { return nil, cl.Login(user, pass) })
	if err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// steadyLoop runs iterations of steadyMix until deadline and returns how
// many it completed. A broken connection is replaced by a new login.
func steadyLoop(c *common, i int, cl *Client, st, setup *Stats, pool [][]byte, deadline time.Time) int {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	n := 0
	for time.Now().Before(deadline) {
		if cl == nil {
			var err error
			if cl, err = steadyConnect(c, i, setup); err != nil {
				setup.Error("reconnect", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		if err := steadyIteration(c, cl, st, r, pool); err != nil {
			var se *StatusError
			if !errors.As(err, &se) {
				cl.Close()
				cl = nil
			}
			continue
		}
		n++
	}
	if cl != nil {
		cl.SetDeadline(time.Now().Add(c.timeout))
		cl.Logout()
	}
	return n
}

// steadyIteration runs steadyMix once. NO/BAD answers are recorded and
// the iteration goes on; a connection error ends it.
func steadyIteration(c *common, cl *Client, st *Stats, r *rand.Rand, pool [][]byte) error {
	var firstErr error
	do := func(name, cmd string) *Response {
		resp, err := timed(st, cl, c.timeout, name, func() (*Response, error) { return cl.Do(cmd) })
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return resp
	}
	fatal := func() bool {
		var se *StatusError
		return firstErr != nil && !errors.As(firstErr, &se)
	}
	resp := do("SELECT", "SELECT INBOX")
	if fatal() {
		return firstErr
	}
	n := 0
	if resp != nil {
		n = Exists(resp.Untagged)
	}
	if n < 2 {
		time.Sleep(100 * time.Millisecond) // do not spin on an empty mailbox
		return &StatusError{Cmd: "SELECT", Status: "EMPTY", Text: fmt.Sprintf("INBOX has %d messages; seed it first", n)}
	}
	k := func() int { return 1 + r.IntN(n) }
	do("LIST", `LIST "" "*"`)
	do("STATUS", "STATUS Archive (MESSAGES UIDNEXT UNSEEN)")
	do("UID FETCH", "UID FETCH 1:* (FLAGS)")
	do("FETCH headers", fmt.Sprintf("FETCH %d:%d (UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE BODYSTRUCTURE)", max(1, n-9), n))
	do("FETCH body", fmt.Sprintf("FETCH %d BODY.PEEK[]", k()))
	do("FETCH part", fmt.Sprintf("FETCH %d BODY.PEEK[1]", k()))
	m := k()
	do("STORE", fmt.Sprintf(`STORE %d +FLAGS (\Flagged)`, m))
	do("STORE", fmt.Sprintf(`STORE %d -FLAGS (\Flagged)`, m))
	do("SEARCH", "SEARCH UNSEEN")
	do("SEARCH TEXT", `SEARCH TEXT "quarterly"`)
	if fatal() {
		return firstErr
	}
	msg := pool[r.IntN(len(pool))]
	_, err := timed(st, cl, c.timeout, "APPEND", func() (*Response, error) {
		return cl.DoLiteral(`APPEND INBOX (\Seen)`, msg)
	})
	if err != nil && firstErr == nil {
		firstErr = err
	}
	do("COPY", fmt.Sprintf("COPY %d Archive", k()))
	do("MOVE", fmt.Sprintf("MOVE %d Archive", k()))
	if fatal() {
		return firstErr
	}
	do("SELECT", "SELECT Archive")
	do("FETCH flags", "FETCH 1:* (FLAGS)")
	do("STORE", `STORE 1:2 +FLAGS.SILENT (\Deleted)`)
	do("EXPUNGE", "EXPUNGE")
	return firstErr
}
