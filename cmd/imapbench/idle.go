package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type idleSession struct {
	user   string
	cl     *Client
	tag    string
	exists int
	acct   int                // index of its account: i % the number of accounts
	seen   chan time.Duration // latency of the new EXISTS, or closed without one
	err    error
}

// runIdle: K sessions LOGIN, SELECT INBOX and IDLE; the server's PSS is
// sampled; then one message is delivered to each account and the time
// until every session has seen its EXISTS is measured (RFC 9051 §6.3.13).
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	var c common
	c.register(fs, 200, 0)
	deliver := fs.String("deliver", "maildir", "how to deliver: maildir (write into new/ as an MDA) or append")
	mdPattern := fs.String("maildir", "/home/%s/Maildir", "Maildir of a user, %s is the user name")
	settle := fs.Duration("settle", 2*time.Second, "wait after the last IDLE before sampling memory")
	notifyTimeout := fs.Duration("notify-timeout", 30*time.Second, "give up waiting for EXISTS after this")
	par := fs.Int("parallel", 50, "logins in flight while setting up")
	hold := fs.Duration("hold", 0, "keep the sessions idle this long after sampling memory (to inspect the server)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nusers := c.nusers
	if nusers <= 0 || nusers > c.clients {
		nusers = c.clients
	}
	c.nusers = nusers
	roots, err := parsePids(c.pids)
	if err != nil {
		return err
	}
	measure := len(roots) > 0 || c.cmd != ""
	fmt.Printf("idle: %d sessions of %d accounts, %s, delivery by %s\n", c.clients, nusers, c.addr, *deliver)

	var base MemSample
	if measure {
		if base, err = serverPSS(roots, c.cmd); err != nil {
			return err
		}
		fmt.Printf("server before: %d processes, PSS %d kB\n", base.Procs, base.PSSKB)
	}

	st := NewStats()
	sessions := make([]*idleSession, c.clients)
	sem := make(chan struct{}, *par)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, err := idleStart(&c, st, i)
			if err != nil {
				st.Error("setup", err)
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	var live []*idleSession
	for _, s := range sessions {
		if s != nil {
			live = append(live, s)
		}
	}
	fmt.Printf("idling: %d of %d sessions\n", len(live), c.clients)
	if len(live) == 0 {
		st.PrintErrors(os.Stdout)
		return errors.New("no session reached IDLE")
	}

	var mem MemSample
	if measure {
		time.Sleep(*settle)
		if mem, err = serverPSS(roots, c.cmd); err != nil {
			return err
		}
		fmt.Printf("server with %d idle sessions: %d processes, PSS %d kB = %.1f kB per session (%.1f kB per session above the idle server)\n",
			len(live), mem.Procs, mem.PSSKB, float64(mem.PSSKB)/float64(len(live)), float64(mem.PSSKB-base.PSSKB)/float64(len(live)))
		comms := make([]string, 0, len(mem.ByComm))
		for k := range mem.ByComm {
			comms = append(comms, k)
		}
		sort.Strings(comms)
		for _, k := range comms {
			fmt.Printf("  %-20s %5d processes %9d kB\n", k, mem.NByComm[k], mem.ByComm[k])
		}
	}

	if *hold > 0 {
		fmt.Printf("holding %d idle sessions for %s\n", len(live), *hold)
		time.Sleep(*hold)
	}

	// Delivery: one message per account; t0 is taken before the first.
	var appenders []*Client
	if *deliver == "append" {
		for u := 0; u < nusers; u++ {
			cl, err := loginAccount(&c, u)
			if err != nil {
				st.Error("append login", err)
				continue
			}
			appenders = append(appenders, cl)
		}
	}
	var t0 atomic.Int64
	for _, s := range live {
		go idleWait(s, &t0)
	}
	r := rand.New(rand.NewPCG(7, 7))
	msgs := make([][]byte, nusers)
	for u := range msgs {
		msgs[u] = genMessage(r, 900000+u, 2048+r.IntN(4096), time.Now()).Raw
	}
	// When each account's message was in place, from start: a session's
	// own latency is from there, apart from the wait for its turn among
	// the deliveries.
	delivered := make([]time.Duration, nusers)
	start := time.Now()
	t0.Store(start.UnixNano())
	var dwg sync.WaitGroup
	dsem := make(chan struct{}, 8)
	for u := 0; u < nusers; u++ {
		dwg.Add(1)
		dsem <- struct{}{}
		go func() {
			defer dwg.Done()
			defer func() { <-dsem }()
			var err error
			switch *deliver {
			case "maildir":
				user, _, _ := c.account(u)
				err = maildirDeliver(fmt.Sprintf(*mdPattern, user), msgs[u])
			case "append":
				if u < len(appenders) {
					cl := appenders[u]
					cl.SetDeadline(time.Now().Add(c.timeout))
					_, err = cl.DoLiteral("APPEND INBOX", msgs[u])
				}
			default:
				err = fmt.Errorf("unknown -deliver %q", *deliver)
			}
			if err != nil {
				st.Error("deliver", err)
			}
			delivered[u] = time.Since(start)
		}()
	}
	dwg.Wait()
	deliveredAll := time.Since(start)

	var lat, own []time.Duration
	deadline := start.Add(*notifyTimeout)
	missed := 0
	for _, s := range live {
		d, ok, waited := waitSeen(s.seen, time.Until(deadline))
		switch {
		case !waited:
			missed++
			st.Error("IDLE", fmt.Errorf("no EXISTS within %s", *notifyTimeout))
		case ok:
			lat = append(lat, d)
			own = append(own, d-delivered[s.acct])
		default:
			missed++
			st.Error("IDLE", s.err)
		}
	}
	slices.Sort(lat)
	slices.Sort(own)
	fmt.Printf("delivery of %d messages took %.1f ms\n", nusers, ms(deliveredAll))
	all, ownMax := time.Duration(0), time.Duration(0)
	if len(own) > 0 {
		ownMax = own[len(own)-1]
	}
	if len(lat) > 0 {
		all = lat[len(lat)-1]
		fmt.Printf("EXISTS seen by %d of %d sessions: p50 %.1f ms, p99 %.1f ms, all %.1f ms after delivery began\n",
			len(lat), len(live), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(all))
		fmt.Printf("EXISTS after the session's own message was delivered: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			ms(pct(own, 50)), ms(pct(own, 99)), ms(ownMax))
	}

	// Wind down: DONE and LOGOUT, then close.
	for _, s := range live {
		s.cl.SetDeadline(time.Now().Add(2 * time.Second))
		s.cl.Close()
	}
	for _, a := range appenders {
		a.Close()
	}
	st.PrintErrors(os.Stdout)
	fmt.Printf("RESULT idle label=%s sessions=%d users=%d pss_kb=%d pss_per_session_kb=%.1f pss_delta_per_session_kb=%.1f notify_all_ms=%.1f notify_p50_ms=%.1f notify_own_max_ms=%.1f missed=%d errors=%d\n",
		c.label, len(live), nusers, mem.PSSKB, float64(mem.PSSKB)/float64(len(live)),
		float64(mem.PSSKB-base.PSSKB)/float64(len(live)), ms(all), ms(pct(lat, 50)), ms(ownMax), missed, st.Errors())
	return nil
}

func loginAccount(c *common, i int) (*Client, error) {
	user, pass, err := c.account(i)
	if err != nil {
		return nil, err
	}
	cl, err := c.dial()
	if err != nil {
		return nil, err
	}
	cl.SetDeadline(time.Now().Add(c.timeout))
	if err := cl.Login(user, pass); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

func idleStart(c *common, st *Stats, i int) (*idleSession, error) {
	user, pass, err := c.account(i)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	cl, err := c.dial()
	st.Record("connect", time.Since(t0), err)
	if err != nil {
		return nil, err
	}
	if _, err := timed(st, cl, c.timeout, "LOGIN", func() (*Response, error) { return nil, cl.Login(user, pass) }); err != nil {
		cl.Close()
		return nil, err
	}
	resp, err := timed(st, cl, c.timeout, "SELECT", func() (*Response, error) { return cl.Do("SELECT INBOX") })
	if err != nil {
		cl.Close()
		return nil, err
	}
	s := &idleSession{user: user, cl: cl, exists: Exists(resp.Untagged), acct: i % c.nusers, seen: make(chan time.Duration, 1)}
	if !cl.Caps["IDLE"] {
		if _, err := cl.Do("CAPABILITY"); err == nil && !cl.Caps["IDLE"] {
			cl.Close()
			return nil, errors.New("server does not advertise IDLE")
		}
	}
	if s.tag, err = timed2(st, cl, c.timeout, "IDLE start", cl.StartIdle); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

func timed2(st *Stats, cl *Client, timeout time.Duration, name string, f func() (string, error)) (string, error) {
	cl.SetDeadline(time.Now().Add(timeout))
	t0 := time.Now()
	v, err := f()
	st.Record(name, time.Since(t0), err)
	return v, err
}

// idleWait reads untagged lines until an EXISTS above the count SELECT
// reported, then sends its latency from t0. Lines before delivery (e.g.
// "* OK still here" keepalives) are ignored.
func idleWait(s *idleSession, t0 *atomic.Int64) {
	s.cl.SetDeadline(time.Time{})
	for {
		line, err := s.cl.ReadUntagged()
		if err != nil {
			s.err = err
			close(s.seen)
			return
		}
		if n, ok := existsOf(line); ok && n > s.exists {
			s.seen <- time.Since(time.Unix(0, t0.Load()))
			return
		}
	}
}

// waitSeen takes a session's result, waiting at most wait; waited is
// false when it timed out.
func waitSeen(ch chan time.Duration, wait time.Duration) (d time.Duration, ok, waited bool) {
	select {
	case d, ok = <-ch:
		return d, ok, true
	default:
	}
	if wait <= 0 {
		return 0, false, false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case d, ok = <-ch:
		return d, ok, true
	case <-t.C:
		return 0, false, false
	}
}
