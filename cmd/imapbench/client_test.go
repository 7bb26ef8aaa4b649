package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// script plays the server side of a transcript: "S: " lines are sent,
// "C: " lines must arrive exactly, "C+N" reads N raw octets (a literal).
func script(t *testing.T, conn net.Conn, lines []string) {
	t.Helper()
	r := bufio.NewReader(conn)
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "S: "):
			if _, err := io.WriteString(conn, l[3:]+"\r\n"); err != nil {
				t.Errorf("write %q: %v", l, err)
				return
			}
		case strings.HasPrefix(l, "C: "):
			got, err := r.ReadString('\n')
			if err != nil {
				t.Errorf("want %q: %v", l, err)
				return
			}
			if got = strings.TrimRight(got, "\r\n"); got != l[3:] {
				t.Errorf("C: got %q, want %q", got, l[3:])
				return
			}
		case strings.HasPrefix(l, "C+"):
			var n int
			for _, c := range l[2:] {
				n = n*10 + int(c-'0')
			}
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				t.Errorf("literal: %v", err)
				return
			}
		}
	}
}

func pipeClient(t *testing.T, lines []string) (*Client, chan struct{}) {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.Close()
		script(t, s, lines)
	}()
	cl, err := NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); <-done })
	return cl, done
}

func TestLoginSelectFetchLiteral(t *testing.T) {
	cl, _ := pipeClient(t, []string{
		"S: * OK [CAPABILITY IMAP4rev2 IDLE LITERAL+] ready",
		`C: a1 LOGIN "bench1" "p\"w"`,
		"S: a1 OK [CAPABILITY IMAP4rev2 IDLE MOVE] LOGIN completed",
		"C: a2 SELECT INBOX",
		"S: * 50 EXISTS",
		"S: * OK [UIDVALIDITY 7] ok",
		"S: a2 OK [READ-WRITE] SELECT completed",
		"C: a3 FETCH 1 BODY.PEEK[]",
		"S: * 1 FETCH (BODY[] {12}\r\nhello\r\nworld FLAGS (\\Seen))",
		"S: a3 OK FETCH completed",
	})
	if !cl.Caps["LITERAL+"] {
		t.Errorf("greeting capabilities not noted: %v", cl.Caps)
	}
	if err := cl.Login("bench1", `p"w`); err != nil {
		t.Fatal(err)
	}
	if !cl.Caps["MOVE"] {
		t.Errorf("LOGIN OK capabilities not noted: %v", cl.Caps)
	}
	resp, err := cl.Do("SELECT INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if n := Exists(resp.Untagged); n != 50 {
		t.Errorf("EXISTS = %d, want 50", n)
	}
	resp, err = cl.Do("FETCH 1 BODY.PEEK[]")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Untagged) != 1 || !strings.HasSuffix(resp.Untagged[0], "FLAGS (\\Seen))") {
		t.Errorf("literal not skipped into one line: %q", resp.Untagged)
	}
	if cl.Bytes != 12 {
		t.Errorf("literal bytes = %d, want 12", cl.Bytes)
	}
}

func TestNoIsStatusError(t *testing.T) {
	cl, _ := pipeClient(t, []string{
		"S: * OK ready",
		"C: a1 SELECT Nope",
		"S: a1 NO [NONEXISTENT] no such mailbox",
	})
	_, err := cl.Do("SELECT Nope")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != "NO" || se.Cmd != "SELECT" {
		t.Fatalf("err = %v, want a SELECT NO", err)
	}
}

func TestAppendWaitsForContinuation(t *testing.T) {
	msg := "Subject: x\r\n\r\nbody\r\n"
	cl, _ := pipeClient(t, []string{
		"S: * OK ready",
		`C: a1 APPEND INBOX (\Seen) {20}`,
		"S: + go ahead",
		"C+20",
		"C: ",
		"S: a1 OK [APPENDUID 7 51] APPEND completed",
		`C: a2 APPEND INBOX {20}`,
		"S: a2 NO [TOOBIG] too big",
	})
	if _, err := cl.DoLiteral(`APPEND INBOX (\Seen)`, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, err := cl.DoLiteral(`APPEND INBOX`, []byte(msg))
	var se *StatusError
	if !errors.As(err, &se) || se.Status != "NO" {
		t.Fatalf("refused literal: err = %v, want NO", err)
	}
}

func TestIdleSeesExists(t *testing.T) {
	cl, _ := pipeClient(t, []string{
		"S: * OK ready",
		"C: a1 IDLE",
		"S: + idling",
		"S: * OK still here",
		"S: * 51 EXISTS",
		"C: DONE",
		"S: a1 OK IDLE terminated",
	})
	tag, err := cl.StartIdle()
	if err != nil {
		t.Fatal(err)
	}
	for {
		line, err := cl.ReadUntagged()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := existsOf(line); ok {
			if n != 51 {
				t.Errorf("EXISTS %d, want 51", n)
			}
			break
		}
	}
	if err := cl.StopIdle(tag); err != nil {
		t.Fatal(err)
	}
}

func TestBadGreeting(t *testing.T) {
	c, s := net.Pipe()
	go func() { io.WriteString(s, "* BYE too busy\r\n"); s.Close() }()
	if _, err := NewClient(c); err == nil {
		t.Fatal("BYE greeting accepted")
	}
}

func TestLiteralLen(t *testing.T) {
	for in, want := range map[string]int64{
		"* 1 FETCH (BODY[] {12}": 12,
		"* 1 FETCH (BODY[] {0}":  0,
		"a1 APPEND x {5+}":       5,
		"* OK {x}":               -1,
		"* OK done}":             -1,
		"}":                      -1,
	} {
		n, ok := literalLen([]byte(in))
		if want < 0 {
			if ok {
				t.Errorf("%q: literal %d, want none", in, n)
			}
			continue
		}
		if !ok || n != want {
			t.Errorf("%q: %d %v, want %d", in, n, ok, want)
		}
	}
}
