package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
	"imapd/imapworker/store/memstore"
)

// Odd but valid commands: each gets a tagged answer and the session goes
// on.
func TestOddCommandsSurvive(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, mimeMsg, "no header at all")
	c := ts.login("alice")
	selectInbox(c)
	for _, cmd := range []string{
		"FETCH 1:* BODY.PEEK[1.2.3.4.5]",
		"FETCH * BINARY.PEEK[1]",
		"FETCH 3 (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER] BODY.PEEK[TEXT] BINARY.SIZE[1])",
		"FETCH 2 BODY.PEEK[2.HEADER]",
		"FETCH 1 BODY.PEEK[]<0.0>",
		"FETCH 1 BODY.PEEK[1]<5.3>",
		"SEARCH NOT NOT NOT ALL",
		"SEARCH OR OR SEEN UNSEEN OR DELETED UNDELETED",
		"SEARCH HEADER X-Nothing \"\"",
		"SEARCH TEXT \"\"",
		"STORE $ FLAGS ()",
		"COPY $ INBOX",
		"UID FETCH 4294967295 FLAGS",
		"UID FETCH 1:4294967295 UID",
		"UID STORE 1:* -FLAGS ()",
		`LIST "" "%%%%**"`,
		`LIST "" ("INBOX" "Sent")`,
		"STATUS INBOX ()",
		"UID EXPUNGE 1:*",
		"MOVE 1:* INBOX",
		"SEARCH CHARSET US-ASCII SUBJECT x",
	} {
		un, tg := c.do("t " + cmd)
		if !strings.HasPrefix(tg, "t OK") && !strings.HasPrefix(tg, "t NO") && !strings.HasPrefix(tg, "t BAD") {
			t.Fatalf("%s: %q", cmd, tg)
		}
		if strings.Contains(tg, "SERVERBUG") {
			t.Fatalf("%s: %q %q", cmd, un, tg)
		}
		if _, tg := c.do("n NOOP"); tg != "n OK NOOP completed" {
			t.Fatalf("after %s: NOOP got %q", cmd, tg)
		}
	}
}

// FuzzSession feeds arbitrary bytes to a logged-in session over loopback:
// the engine must answer or hang up, never panic or hang.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY[])\r\n",
		"a SELECT INBOX\r\nb SEARCH RETURN (SAVE) ALL\r\nc FETCH $ BODYSTRUCTURE\r\n",
		"a APPEND INBOX {5+}\r\nhello\r\nb STATUS INBOX (MESSAGES SIZE)\r\n",
		"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\" RETURN (STATUS (MESSAGES))\r\n",
		"a SELECT INBOX\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\nd IDLE\r\nDONE\r\n",
		"a CREATE x/y\r\nb RENAME x z\r\nc DELETE z\r\nd LSUB \"\" *\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		backend := memstore.New()
		u, _ := backend.Open("alice")
		u.Append("INBOX", store.Flags{}, time.Time{}, []byte(mimeMsg))
		srv, cli := tcpPair(t)
		done := make(chan error, 1)
		go func() {
			done <- ServeSession(context.Background(), srv, SessionConfig{User: u, AppendLimit: 1 << 16}, &Login{Tag: "l", User: "alice"})
			srv.Close()
		}()
		go io.Copy(io.Discard, bufio.NewReader(cli))
		cli.Write(in)
		cli.Write([]byte("\r\nzz LOGOUT\r\n"))
		cli.(*net.TCPConn).CloseWrite()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("session did not end")
		}
		cli.Close()
	})
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return <-ch, cli
}

// A panicking handler ends its own session with NO [SERVERBUG] and BYE;
// the process and other sessions go on.
func TestPanicEndsOnlyThatSession(t *testing.T) {
	saved := commands["NAMESPACE"]
	commands["NAMESPACE"] = handler{states: anyState, fn: func(*conn, *imap.Command) error { panic("bug") }}
	defer func() { commands["NAMESPACE"] = saved }()
	ts := newTestServer(t)
	other := ts.login("alice")
	c := ts.login("alice")
	c.C("a1 NAMESPACE")
	c.S("a1 NO [SERVERBUG] internal error", "* BYE internal error")
	c.closed()
	other.expectDo("b1 NOOP", "b1 OK NOOP completed")
}
