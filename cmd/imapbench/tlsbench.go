package main

// imapbench tls: the TLS benchmark of issue 5. FETCH BODY[] throughput of
// a large message and the login rate over implicit TLS (RFC 8314), imapd
// and Dovecot with the same certificate, in rounds that alternate between
// the servers so both see the same machine load.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type tlsServer struct {
	name  string
	addr  string
	sess  *benchIMAP
	uid   uint32
	size  int64
	fetch []float64 // MB/s per fetch
	rate  map[int][]float64
	lat   []float64 // seconds per login, one client
	loads []string
	errs  int
	state string // negotiated TLS version and suite
	root  int    // the server's root process (imapd parent, Dovecot master), 0 unknown

	// CPU of the whole server process tree, summed over the rounds.
	cpu    map[int]time.Duration // key: 0 for fetches, clients for logins
	cpuOps map[int]int
}

// cpuNow samples the server tree's CPU time (serverCPU counts reaped
// children, so Dovecot's per-connection processes are included).
func (s *tlsServer) cpuNow() (time.Duration, bool) {
	if s.root == 0 {
		return 0, false
	}
	cs, err := serverCPU([]int{s.root}, "")
	if err != nil {
		return 0, false
	}
	return cs.Total, true
}

func (s *tlsServer) addCPU(key int, before time.Duration, ok bool, ops int) {
	after, ok2 := s.cpuNow()
	if !ok || !ok2 {
		return
	}
	if s.cpu == nil {
		s.cpu, s.cpuOps = map[int]time.Duration{}, map[int]int{}
	}
	s.cpu[key] += after - before
	s.cpuOps[key] += ops
}

// cpuPerOp is the server CPU per operation for key, in ms, or -1.
func (s *tlsServer) cpuPerOp(key int) float64 {
	if s.cpuOps[key] == 0 {
		return -1
	}
	return float64(s.cpu[key]) / float64(time.Millisecond) / float64(s.cpuOps[key])
}

type tlsConfig struct {
	user, pass  string
	tlsConf     *tls.Config
	rounds      int
	fetches     int
	logins      int
	concurrency []int
	servers     []*tlsServer
}

func runTLS(args []string) error {
	fs := flag.NewFlagSet("tls", flag.ContinueOnError)
	c := tlsConfig{}
	fs.StringVar(&c.user, "user", "ibench", "IMAP login name")
	fs.StringVar(&c.pass, "pass", "ibench", "IMAP password")
	imapdAddr := fs.String("imapd", "127.0.0.1:31993", "imapd implicit-TLS address; empty to skip")
	dovecotAddr := fs.String("dovecot", "127.0.0.1:32993", "Dovecot implicit-TLS address; empty to skip")
	ca := fs.String("ca", "", "PEM certificate to verify the servers with (default: no verification)")
	serverName := fs.String("servername", "localhost", "TLS server name (SNI)")
	fs.IntVar(&c.rounds, "rounds", 5, "rounds, alternating between the servers")
	fs.IntVar(&c.fetches, "fetches", 3, "FETCH BODY[] per server per round")
	fs.IntVar(&c.logins, "logins", 100, "logins per server per round and concurrency")
	clients := fs.String("clients", "1,4", "concurrent clients for the login rate, comma-separated")
	imapdPid := fs.Int("imapd-pid", 0, "pid of imapd's parent, to measure the server's CPU time (optional)")
	dovecotPid := fs.Int("dovecot-pid", 0, "pid of Dovecot's master, to measure the server's CPU time (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range splitComma(*clients) {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			return fmt.Errorf("tls: bad -clients %q", *clients)
		}
		c.concurrency = append(c.concurrency, n)
	}
	// No ClientSessionCache: every connection is a full handshake, as a
	// client that starts afresh would make.
	c.tlsConf = &tls.Config{ServerName: *serverName, MinVersion: tls.VersionTLS12, NextProtos: []string{"imap"}}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("tls: no certificate in %s", *ca)
		}
		c.tlsConf.RootCAs = pool
	} else {
		c.tlsConf.InsecureSkipVerify = true
	}
	if *imapdAddr != "" {
		c.servers = append(c.servers, &tlsServer{name: "imapd", addr: *imapdAddr, root: *imapdPid})
	}
	if *dovecotAddr != "" {
		c.servers = append(c.servers, &tlsServer{name: "Dovecot", addr: *dovecotAddr, root: *dovecotPid})
	}
	if len(c.servers) == 0 {
		return errors.New("tls: no server to measure")
	}
	return c.run()
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// prepare logs in, and APPENDs the large message unless INBOX has it.
func (c *tlsConfig) prepare(s *tlsServer, msg []byte) error {
	sess, err := benchLogin(s.addr, c.tlsConf, c.user, c.pass)
	if err != nil {
		return err
	}
	s.sess = sess
	if tc, ok := sess.c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		s.state = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	find := func() (*benchResult, error) {
		if _, err := sess.MustOK("SELECT INBOX"); err != nil {
			return nil, err
		}
		return sess.MustOK(fmt.Sprintf("UID SEARCH LARGER %d", len(msg)-1))
	}
	res, err := find()
	if err != nil {
		return err
	}
	if len(res.SearchUIDs) == 0 {
		if _, err := sess.cmdWithLiteral("APPEND INBOX (\\Seen)", msg); err != nil {
			return err
		}
		if res, err = find(); err != nil {
			return err
		}
	}
	if len(res.SearchUIDs) == 0 {
		return fmt.Errorf("%s: the %d-byte message is not in INBOX after APPEND", s.name, len(msg))
	}
	s.uid = res.SearchUIDs[len(res.SearchUIDs)-1]
	s.size = int64(len(msg))
	return nil
}

func (c *tlsConfig) fetchRound(s *tlsServer) error {
	cpu0, ok := s.cpuNow()
	defer func() { s.addCPU(0, cpu0, ok, c.fetches) }()
	for range c.fetches {
		r, err := s.sess.MustOK(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", s.uid))
		if err != nil {
			return err
		}
		if r.LiteralSize != s.size {
			return fmt.Errorf("%s: FETCH returned %d bytes, want %d", s.name, r.LiteralSize, s.size)
		}
		s.fetch = append(s.fetch, float64(r.LiteralSize)/1e6/r.Elapsed.Seconds())
	}
	return nil
}

// loginRound makes c.logins connections with n clients at once, each a
// full TLS handshake, greeting, LOGIN and LOGOUT.
func (c *tlsConfig) loginRound(s *tlsServer, n int) {
	cpu0, ok := s.cpuNow()
	defer func() { s.addCPU(n, cpu0, ok, c.logins) }()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(c.logins) {
				t0 := time.Now()
				b, err := benchLogin(s.addr, c.tlsConf, c.user, c.pass)
				if err == nil {
					_, err = b.MustOK("LOGOUT")
					b.Close()
				}
				d := time.Since(t0).Seconds()
				mu.Lock()
				if err != nil {
					if s.errs == 0 {
						fmt.Fprintf(os.Stderr, "imapbench: %s: login: %v\n", s.name, err)
					}
					s.errs++
				} else if n == 1 {
					s.lat = append(s.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if s.rate == nil {
		s.rate = map[int][]float64{}
	}
	s.rate[n] = append(s.rate[n], float64(c.logins)/time.Since(start).Seconds())
}

func (c *tlsConfig) run() error {
	g := &folderGen{r: rand.New(rand.NewPCG(7, 7))}
	msg := g.message(0, 1, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), true, false).data
	for _, s := range c.servers {
		if err := c.prepare(s, msg); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		defer s.sess.Close()
	}
	for r := range c.rounds {
		order := slices.Clone(c.servers)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			s.loads = append(s.loads, folderLoad())
			if err := c.fetchRound(s); err != nil {
				return err
			}
			for _, n := range c.concurrency {
				c.loginRound(s, n)
			}
		}
		fmt.Fprintf(os.Stderr, "imapbench: tls round %d/%d done\n", r+1, c.rounds)
	}
	for _, s := range c.servers {
		s.sess.Cmd("LOGOUT")
	}
	c.print()
	return nil
}

func tlsMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func (c *tlsConfig) print() {
	host, _ := os.Hostname()
	fmt.Printf("TLS: %d rounds alternating between the servers; %d fetches of a %.1f MB message and %d logins per client count per round; full handshakes (no session resumption)\n",
		c.rounds, c.fetches, float64(c.servers[0].size)/1e6, c.logins)
	fmt.Printf("Host %s, %s, measured %s\n", host, folderCPUInfo(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	for _, s := range c.servers {
		fmt.Printf("%s: %s, load averages at the rounds' starts: %v\n", s.name, s.state, s.loads)
	}
	fmt.Println()
	hdr, sep := "| measure |", "|---|"
	for _, s := range c.servers {
		hdr += " " + s.name + " |"
		sep += "--:|"
	}
	if len(c.servers) == 2 {
		hdr += " ratio |"
		sep += "--:|"
	}
	fmt.Println(hdr)
	fmt.Println(sep)
	row := func(label string, val func(*tlsServer) float64, format string) {
		line := "| " + label + " |"
		var vs []float64
		for _, s := range c.servers {
			v := val(s)
			vs = append(vs, v)
			if v < 0 {
				line += " - |"
				continue
			}
			line += " " + fmt.Sprintf(format, v) + " |"
		}
		if len(vs) == 2 && vs[1] > 0 && vs[0] >= 0 {
			line += fmt.Sprintf(" %.2f |", vs[0]/vs[1])
		}
		fmt.Println(line)
	}
	row("FETCH BODY[] throughput, median (MB/s)", func(s *tlsServer) float64 { return tlsMedian(s.fetch) }, "%.0f")
	row("FETCH BODY[] throughput, worst (MB/s)", func(s *tlsServer) float64 { return slices.Min(s.fetch) }, "%.0f")
	for _, n := range c.concurrency {
		row(fmt.Sprintf("logins/s, %d client(s), median of rounds", n), func(s *tlsServer) float64 { return tlsMedian(s.rate[n]) }, "%.1f")
	}
	if slices.Contains(c.concurrency, 1) {
		row("connect+TLS+LOGIN+LOGOUT latency, 1 client, median (ms)", func(s *tlsServer) float64 { return tlsMedian(s.lat) * 1e3 }, "%.1f")
	}
	if c.servers[0].root != 0 || len(c.servers) > 1 && c.servers[1].root != 0 {
		row("server CPU per FETCH (ms)", func(s *tlsServer) float64 { return s.cpuPerOp(0) }, "%.1f")
		for _, n := range c.concurrency {
			row(fmt.Sprintf("server CPU per login, %d client(s) (ms)", n), func(s *tlsServer) float64 { return s.cpuPerOp(n) }, "%.2f")
		}
	}
	row("failed logins", func(s *tlsServer) float64 { return float64(s.errs) }, "%.0f")
	if len(c.servers) == 2 {
		fmt.Printf("\nRatio: %s / %s (higher is better for throughput and logins/s, lower for latency and CPU).\n", c.servers[0].name, c.servers[1].name)
		fmt.Println("Server CPU: user+system time of the server's whole process tree, reaped children included, from /proc (10 ms ticks), over all rounds.")
	}
}
