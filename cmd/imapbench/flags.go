package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// common holds the flags every workload shares.
type common struct {
	addr     string
	users    string // pattern "bench%d:password"
	nusers   int
	first    int
	clients  int
	duration time.Duration
	timeout  time.Duration
	pids     string
	cmd      string
	label    string
}

func (c *common) register(fs *flag.FlagSet, clients int, duration time.Duration) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:143", "server address")
	fs.StringVar(&c.users, "users", "bench%d:bench", "account pattern USER%d:PASSWORD (%d is the user number)")
	fs.IntVar(&c.nusers, "nusers", 0, "number of distinct accounts (0: one per client)")
	fs.IntVar(&c.first, "first", 0, "number of the first account")
	fs.IntVar(&c.clients, "clients", clients, "parallel clients")
	fs.DurationVar(&c.duration, "duration", duration, "measurement time")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-command I/O timeout")
	fs.StringVar(&c.pids, "server-pids", "", "server root pids (comma separated); their descendants count too")
	fs.StringVar(&c.cmd, "server-cmd", "", "server command name (e.g. dovecot) if -server-pids is not given")
	fs.StringVar(&c.label, "label", "", "label for the RESULT line (e.g. imapd, dovecot)")
}

// account returns user name and password of client i.
func (c *common) account(i int) (string, string, error) {
	pat, pass, ok := strings.Cut(c.users, ":")
	if !ok {
		return "", "", fmt.Errorf("-users %q: want USER%%d:PASSWORD", c.users)
	}
	n := c.nusers
	if n <= 0 {
		n = c.clients
	}
	return fmt.Sprintf(pat, c.first+i%n), pass, nil
}

func (c *common) dial() (*Client, error) {
	cl, err := Dial(c.addr, c.timeout)
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// timed runs one command on cl with the I/O deadline and records it.
func timed(st *Stats, cl *Client, timeout time.Duration, name string, f func() (*Response, error)) (*Response, error) {
	cl.SetDeadline(time.Now().Add(timeout))
	t0 := time.Now()
	resp, err := f()
	st.Record(name, time.Since(t0), err)
	return resp, err
}

// cpuStart samples the server's CPU if its processes were named; the
// returned function prints the CPU used since and returns ms per op.
func (c *common) cpuStart(w io.Writer) func(ops int, elapsed time.Duration) float64 {
	roots, err := parsePids(c.pids)
	if err != nil || (len(roots) == 0 && c.cmd == "") {
		return func(int, time.Duration) float64 { return 0 }
	}
	before, err := serverCPU(roots, c.cmd)
	if err != nil {
		fmt.Fprintln(w, "server CPU:", err)
		return func(int, time.Duration) float64 { return 0 }
	}
	return func(ops int, elapsed time.Duration) float64 {
		after, err := serverCPU(roots, c.cmd)
		if err != nil {
			fmt.Fprintln(w, "server CPU:", err)
			return 0
		}
		d := after.Sub(before)
		d.Print(w, ops, elapsed)
		return ms(d.Total) / float64(max(ops, 1))
	}
}
