package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer is a loopback IMAP responder just rich enough for the
// workloads: every command is answered OK, SELECT reports its mailbox's
// count, APPEND takes its literal and, while other sessions of the same
// account IDLE, announces the new count to them. It records each
// command verb so the tests can check what the workloads sent.
type fakeServer struct {
	ln     net.Listener
	mu     sync.Mutex
	exists map[string]int // account -> INBOX count
	idlers map[string][]net.Conn
	verbs  map[string]int
	wg     sync.WaitGroup
}

func newFakeServer(t *testing.T) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, exists: map[string]int{}, idlers: map[string][]net.Conn{}, verbs: map[string]int{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) seen(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verbs[verb]
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := func(f string, a ...any) { fmt.Fprintf(c, f+"\r\n", a...) }
	w("* OK [CAPABILITY IMAP4rev2 IDLE MOVE] fake ready")
	user := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		tag, rest, _ := strings.Cut(line, " ")
		v := verb(rest)
		s.mu.Lock()
		s.verbs[v]++
		s.mu.Unlock()
		switch v {
		case "LOGIN":
			f := strings.Fields(rest)
			user = strings.Trim(f[1], `"`)
			if f[2] != `"pw"` {
				w("%s NO [AUTHENTICATIONFAILED] bad", tag)
				continue
			}
			s.mu.Lock()
			if _, ok := s.exists[user]; !ok {
				s.exists[user] = 50
			}
			s.mu.Unlock()
		case "SELECT":
			s.mu.Lock()
			w("* %d EXISTS", s.exists[user])
			s.mu.Unlock()
		case "FETCH":
			if strings.Contains(rest, "BODY.PEEK[]") {
				w("* 1 FETCH (BODY[] {5}\r\nhello)")
			}
		case "APPEND":
			n, _ := literalLen([]byte(line))
			w("+ go")
			io.CopyN(io.Discard, r, n+2)
			s.mu.Lock()
			s.exists[user]++
			for _, ic := range s.idlers[user] {
				fmt.Fprintf(ic, "* %d EXISTS\r\n", s.exists[user])
			}
			s.mu.Unlock()
		case "IDLE":
			// Registered before "+ idling": a delivery right after the
			// client sees it must reach this session.
			s.mu.Lock()
			s.idlers[user] = append(s.idlers[user], c)
			s.mu.Unlock()
			w("+ idling")
			if _, err := r.ReadString('\n'); err != nil { // DONE
				return
			}
		case "LOGOUT":
			w("* BYE fake")
			w("%s OK LOGOUT", tag)
			return
		}
		w("%s OK %s done", tag, v)
	}
}

func TestSteadyIterationSendsTheMix(t *testing.T) {
	srv := newFakeServer(t)
	c := &common{addr: srv.addr(), users: "u%d:pw", clients: 1, timeout: 5 * time.Second}
	st, setup := NewStats(), NewStats()
	cl, err := steadyConnect(c, 0, setup)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r := rand.New(rand.NewPCG(1, 1))
	pool := [][]byte{[]byte("Subject: a\r\n\r\nb\r\n")}
	if err := steadyIteration(c, cl, st, r, pool); err != nil {
		t.Fatal(err)
	}
	per, all := st.Summaries()
	if all.Count != len(steadyMix) {
		t.Errorf("%d commands recorded, the mix has %d", all.Count, len(steadyMix))
	}
	if len(per) != 15 {
		t.Errorf("%d command kinds: %+v", len(per), per)
	}
	for _, v := range []string{"SELECT", "LIST", "STATUS", "UID FETCH", "FETCH", "STORE", "SEARCH", "APPEND", "COPY", "MOVE", "EXPUNGE"} {
		if srv.seen(v) == 0 {
			t.Errorf("server never saw %s", v)
		}
	}
	if st.Errors() != 0 {
		t.Errorf("errors: %d", st.Errors())
	}
}

func TestLoginCycleCountsOnlyGoodSessions(t *testing.T) {
	srv := newFakeServer(t)
	st := NewStats()
	good := &common{addr: srv.addr(), users: "u%d:pw", clients: 2, timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		if err := loginCycle(good, st, i); err != nil {
			t.Fatal(err)
		}
	}
	bad := &common{addr: srv.addr(), users: "u%d:wrong", clients: 2, timeout: 5 * time.Second}
	if err := loginCycle(bad, st, 0); err == nil {
		t.Fatal("wrong password: cycle succeeded")
	}
	per, _ := st.Summaries()
	counts := map[string]int{}
	for _, p := range per {
		counts[p.Cmd] = p.Count
	}
	if counts["cycle"] != 3 || counts["LOGIN"] != 4 || counts["LOGOUT"] != 3 {
		t.Errorf("counts %v: want 3 cycles, 4 LOGINs, 3 LOGOUTs", counts)
	}
	if st.Errors() != 1 {
		t.Errorf("errors %d, want the one refused LOGIN", st.Errors())
	}
}

// Four sessions of two accounts idle; one APPEND per account must reach
// every session as an EXISTS above what SELECT said.
func TestIdleSessionsSeeDelivery(t *testing.T) {
	srv := newFakeServer(t)
	c := &common{addr: srv.addr(), users: "u%d:pw", clients: 4, nusers: 2, timeout: 5 * time.Second}
	st := NewStats()
	var sessions []*idleSession
	for i := 0; i < 4; i++ {
		s, err := idleStart(c, st, i)
		if err != nil {
			t.Fatal(err)
		}
		defer s.cl.Close()
		if s.exists != 50 {
			t.Fatalf("session %d: SELECT said %d", i, s.exists)
		}
		sessions = append(sessions, s)
	}
	var t0 atomic.Int64
	t0.Store(time.Now().UnixNano())
	for _, s := range sessions {
		go idleWait(s, &t0)
	}
	for u := 0; u < 2; u++ {
		cl, err := loginAccount(c, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.DoLiteral("APPEND INBOX", []byte("Subject: x\r\n\r\ny\r\n")); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	for i, s := range sessions {
		if _, ok, waited := waitSeen(s.seen, 5*time.Second); !waited || !ok {
			t.Errorf("session %d (%s) saw no EXISTS: %v", i, s.user, s.err)
		}
	}
}

func TestAccountPattern(t *testing.T) {
	c := &common{users: "bench%d:secret", clients: 100, nusers: 10, first: 5}
	u, p, err := c.account(23)
	if err != nil || u != "bench8" || p != "secret" {
		t.Errorf("account(23) = %q %q %v, want bench8 secret", u, p, err)
	}
	c.users = "nopassword"
	if _, _, err := c.account(0); err == nil {
		t.Error("pattern without password accepted")
	}
}
