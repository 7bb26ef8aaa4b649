package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/memstore"
)

// newBackend makes the store the transcript tests run against: memstore,
// or maildir under TestMaildirBackend.
var newBackend = func(testing.TB) store.Backend { return memstore.New() }

// fakeAuth accepts alice/pw and bob/pw2.
type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, r AuthRequest) AuthResponse {
	users := map[string]string{"alice": "pw", "bob": "pw2"}
	if p, ok := users[r.User]; ok && p == r.Password {
		return AuthResponse{OK: true, User: r.User}
	}
	return AuthResponse{Code: "AUTHENTICATIONFAILED"}
}

// testServer serves loopback connections: ServePreauth, then ServeSession
// with the shared memstore backend, as the two workers do.
type testServer struct {
	t       testing.TB
	ln      net.Listener
	backend store.Backend
	cfg     PreauthConfig
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan error

	mu    sync.Mutex
	users []store.User

	session func(*SessionConfig) // changes each session's configuration; see setSession
}

func (ts *testServer) setSession(f func(*SessionConfig)) {
	ts.mu.Lock()
	ts.session = f
	ts.mu.Unlock()
}

func newTestServer(t testing.TB, mod ...func(*PreauthConfig)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{t: t, ln: ln, backend: newBackend(t), ctx: ctx, cancel: cancel, done: make(chan error, 100)}
	ts.cfg = PreauthConfig{Auth: fakeAuth{}, Secure: true}
	for _, m := range mod {
		m(&ts.cfg)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case ts.done <- ts.serve(nc):
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		// Sessions end (BYE) before their users close and the test's
		// directories go.
		cancel()
		ln.Close()
		wg.Wait()
		ts.mu.Lock()
		for _, u := range ts.users {
			u.Close()
		}
		ts.mu.Unlock()
	})
	return ts
}

func (ts *testServer) serve(nc net.Conn) error {
	login, err := ServePreauth(ts.ctx, nc, ts.cfg)
	if err != nil || login == nil {
		nc.Close()
		return err
	}
	u, err := ts.backend.Open(login.User)
	if err != nil {
		return err
	}
	ts.mu.Lock()
	ts.users = append(ts.users, u)
	ts.mu.Unlock()
	defer login.Conn.Close()
	cfg := SessionConfig{User: u, UserName: login.User, AppendLimit: 1 << 20}
	ts.mu.Lock()
	if ts.session != nil {
		ts.session(&cfg)
	}
	ts.mu.Unlock()
	return ServeSession(ts.ctx, login.Conn, cfg, login)
}

// client is the test's end of one connection.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial() *client {
	ts.t.Helper()
	nc, err := net.Dial("tcp", ts.ln.Addr().String())
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { nc.Close() })
	return &client{t: ts.t, nc: nc, br: bufio.NewReader(nc)}
}

// login dials, reads the greeting and logs in as user.
func (ts *testServer) login(user string) *client {
	c := ts.dial()
	c.line()
	pw := map[string]string{"alice": "pw", "bob": "pw2"}[user]
	c.C("l1 LOGIN " + user + " " + pw)
	c.until("l1 OK")
	return c
}

// C sends one client line.
func (c *client) C(line string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, line+"\r\n"); err != nil {
		c.t.Fatalf("C: %s: %v", line, err)
	}
}

// raw sends bytes as they are.
func (c *client) raw(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatal(err)
	}
}

// line reads one server line without CRLF; a literal's bytes are read
// with it and returned inline.
func (c *client) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading server line: %v (got %q)", err, l)
	}
	l = strings.TrimSuffix(l, "\r\n")
	if m := litRE.FindStringSubmatch(l); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatal(err)
		}
		return l + "\r\n" + string(buf) + c.line()
	}
	return l
}

var litRE = regexp.MustCompile(`~?\{(\d+)\}$`)

// S reads lines and checks each against want: exact text, or a regexp
// when the want starts with "~".
func (c *client) S(want ...string) {
	c.t.Helper()
	for _, w := range want {
		got := c.line()
		if !lineMatch(got, w) {
			c.t.Fatalf("S: got  %q\n   want %q", got, w)
		}
	}
}

func lineMatch(got, want string) bool {
	if strings.HasPrefix(want, "~") {
		return regexp.MustCompile("^(?s:" + want[1:] + ")$").MatchString(got)
	}
	return got == want
}

// until reads lines up to and including the first that starts with prefix
// and returns them all.
func (c *client) until(prefix string) []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
		if len(out) > 10000 {
			c.t.Fatalf("no %q in %d lines", prefix, len(out))
		}
	}
}

// do sends a command and returns the untagged lines and the tagged one.
func (c *client) do(cmd string) (untagged []string, tagged string) {
	c.t.Helper()
	tag := strings.Fields(cmd)[0]
	c.C(cmd)
	lines := c.until(tag + " ")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// expectDo runs cmd and checks the responses exactly (or by regexp).
func (c *client) expectDo(cmd string, want ...string) {
	c.t.Helper()
	un, tg := c.do(cmd)
	got := append(un, tg)
	if len(got) != len(want) {
		c.t.Fatalf("C: %s\ngot  %q\nwant %q", cmd, got, want)
	}
	for i := range want {
		if !lineMatch(got[i], want[i]) {
			c.t.Fatalf("C: %s\nline %d: got  %q\n         want %q\nall: %q", cmd, i, got[i], want[i], got)
		}
	}
}

// transcript runs a script of "C: ..." and "S: ..." lines (S lines are
// exact, or regexps after "S~ ").
func (c *client) transcript(script string) {
	c.t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		l = strings.TrimLeft(l, " \t")
		switch {
		case strings.HasPrefix(l, "C: "):
			c.C(l[3:])
		case strings.HasPrefix(l, "S: "):
			c.S(l[3:])
		case strings.HasPrefix(l, "S~ "):
			c.S("~" + l[3:])
		case l == "":
		default:
			c.t.Fatalf("bad script line %q", l)
		}
	}
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	if err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
}
