package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

// runLogin: N clients each loop connect, LOGIN, SELECT INBOX, LOGOUT.
// A cycle is one whole session; its rate is the figure compared.
func runLogin(args []string) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	var c common
	c.register(fs, 10, 20*time.Second)
	if err := fs.Parse(args); err != nil {
		return err
	}
	nusers := c.nusers
	if nusers <= 0 {
		nusers = c.clients
	}
	fmt.Printf("login: %d clients over %d accounts, %s, %s\n", c.clients, nusers, c.duration, c.addr)
	fmt.Println("cycle: connect (greeting), LOGIN, SELECT INBOX, LOGOUT, close")
	st := NewStats()
	var wg sync.WaitGroup
	cpuDone := c.cpuStart(os.Stdout)
	start := time.Now()
	deadline := start.Add(c.duration)
	for i := 0; i < c.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(deadline); j++ {
				if err := loginCycle(&c, st, i+j*c.clients); err != nil {
					time.Sleep(10 * time.Millisecond) // a refusing server is not spun on
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st.Print(os.Stdout, elapsed)
	per, _ := st.Summaries()
	for _, s := range per {
		if s.Cmd == "cycle" {
			cpu := cpuDone(s.Count, elapsed)
			fmt.Printf("RESULT login label=%s clients=%d cycles_per_s=%.1f p50_ms=%.3f p99_ms=%.3f cpu_ms_per_op=%.3f errors=%d\n",
				c.label, c.clients, float64(s.Count)/elapsed.Seconds(), ms(s.P50), ms(s.P99), cpu, st.Errors())
		}
	}
	return nil
}

// loginCycle runs one session; "cycle" is recorded only when it all
// succeeded, so the cycle rate counts good sessions.
func loginCycle(c *common, st *Stats, n int) error {
	user, pass, err := c.account(n)
	if err != nil {
		return err
	}
	t0 := time.Now()
	cl, err := c.dial()
	st.Record("connect", time.Since(t0), err)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := timed(st, cl, c.timeout, "LOGIN", func() (*Response, error) { return nil, cl.Login(user, pass) }); err != nil {
		return err
	}
	if _, err := timed(st, cl, c.timeout, "SELECT", func() (*Response, error) { return cl.Do("SELECT INBOX") }); err != nil {
		return err
	}
	if _, err := timed(st, cl, c.timeout, "LOGOUT", func() (*Response, error) { return nil, cl.Logout() }); err != nil {
		return err
	}
	st.Record("cycle", time.Since(t0), nil)
	return nil
}
