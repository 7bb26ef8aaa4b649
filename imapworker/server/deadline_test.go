package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
	"imapd/imapworker/store/memstore"
)

// stallPair is a loopback connection whose client end never reads, with
// small socket buffers so that the server's writes block soon.
func stallPair(t *testing.T) (srv, cli net.Conn) {
	t.Helper()
	srv, cli = tcpPair(t)
	cli.(*net.TCPConn).SetReadBuffer(4096)
	srv.(*net.TCPConn).SetWriteBuffer(4096)
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return srv, cli
}

// pipeline sends n copies of command, numbered, and never reads.
func pipeline(cli net.Conn, n int, command string) {
	go func() {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d %s\r\n", i, command)
		}
		cli.Write([]byte(b.String()))
	}()
}

// ended waits for a session's end and fails if it is later than d.
func ended(t *testing.T, what string, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: the session was still alive after %v", what, d)
	}
}

// Issue 15, finding 4: a client that pipelines and never reads is
// disconnected at the write deadline, before login as after it.
//
//	C: p0 CAPABILITY
//	C: ... (1,000 of them, nothing read)
//	S: (the server's writes block; at the deadline it disconnects)
func TestNonReadingClientBeforeLogin(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  PreauthConfig
	}{
		{"write deadline", PreauthConfig{WriteTimeout: 300 * time.Millisecond, LoginTimeout: time.Hour}},
		// The login timeout bounds the whole pre-login life, blocked
		// writes included.
		{"login timeout", PreauthConfig{LoginTimeout: 500 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, cli := stallPair(t)
			done := make(chan error, 1)
			go func() {
				_, err := ServePreauth(context.Background(), srv, c.cfg)
				done <- err
			}()
			// Before login a FETCH is BAD and ten BADs end the session;
			// CAPABILITY is what fills the buffers here.
			pipeline(cli, 1000, "CAPABILITY")
			ended(t, c.name, done, 4*time.Second)
		})
	}
}

// After login: 1,000 FETCH BODY[] of a 64 KiB message, nothing read.
//
//	C: p0 FETCH 1 BODY[]
//	C: ... (1,000 of them)
func TestNonReadingClientAfterLogin(t *testing.T) {
	u := deadlineUser(t)
	srv, cli := stallPair(t)
	done := make(chan error, 1)
	go func() {
		done <- ServeSession(context.Background(), srv, SessionConfig{User: u, WriteTimeout: 300 * time.Millisecond},
			&Login{Tag: "l", User: "alice", Pending: []byte("s SELECT INBOX\r\n")})
	}()
	pipeline(cli, 1000, "FETCH 1 BODY[]")
	ended(t, "FETCH BODY[] not read", done, 4*time.Second)
}

// A kick (the session's context ends) of such a client takes under 2 s,
// whatever the write deadline: a blocked write gets byeGrace, no more.
func TestKickOfNonReadingClient(t *testing.T) {
	u := deadlineUser(t)
	srv, cli := stallPair(t)
	ctx, kick := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeSession(ctx, srv, SessionConfig{User: u}, &Login{Tag: "l", User: "alice", Pending: []byte("s SELECT INBOX\r\n")})
	}()
	pipeline(cli, 1000, "FETCH 1 BODY[]")
	time.Sleep(300 * time.Millisecond) // the server is blocked writing by now
	kick()
	ended(t, "kick", done, 2*time.Second)
}

func deadlineUser(t *testing.T) store.User {
	t.Helper()
	u, err := memstore.New().Open("alice")
	if err != nil {
		t.Fatal(err)
	}
	body := "Subject: big\r\n\r\n" + strings.Repeat("x", 64<<10) + "\r\n"
	if _, _, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(body)); err != nil {
		t.Fatal(err)
	}
	return u
}
