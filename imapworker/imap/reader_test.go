package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// session stands in for the engine's literal policy: it records what it
// would have sent to the client ("S: + Ready") and refuses literals over
// max.
type session struct {
	max  int64
	sent []string
	r    *Reader
}

func (s *session) lit(size int64, nonSync, binary bool) error {
	if size > s.max {
		return fmt.Errorf("literal too big")
	}
	if !nonSync {
		s.sent = append(s.sent, "+ Ready")
	}
	return nil
}

func newTestReader(input string, bufSize int, max int64) (*Reader, *session) {
	s := &session{max: max}
	r := NewReader(bufio.NewReaderSize(strings.NewReader(input), bufSize), s.lit)
	s.r = r
	return r, s
}

func TestReaderLiterals(t *testing.T) {
	in := "a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n" +
		"a2 LOGIN {5+}\r\nalice {6+}\r\nsecret\n" +
		"a3 APPEND x ~{3}\r\n\x00\r\n\r\n"
	for _, size := range []int{16, 4096} {
		r, s := newTestReader(in, size, 100)
		c, err := r.ReadCommand()
		if err != nil || c.Tag != "a1" || *c.Args.(*Login) != (Login{"alice", "secret"}) {
			t.Fatalf("a1: %v %+v", err, c)
		}
		if len(s.sent) != 2 {
			t.Fatalf("S: %q, want two continuation requests", s.sent)
		}
		c, err = r.ReadCommand()
		if err != nil || c.Tag != "a2" || *c.Args.(*Login) != (Login{"alice", "secret"}) {
			t.Fatalf("a2: %v %+v", err, c)
		}
		if len(s.sent) != 2 {
			t.Fatalf("S: %q: LITERAL+ must not get continuation requests", s.sent)
		}
		c, err = r.ReadCommand()
		if err != nil || c.Tag != "a3" {
			t.Fatalf("a3: %v %+v", err, c)
		}
		a := c.Args.(*Append)
		if !a.Binary || string(a.Literal) != "\x00\r\n" {
			t.Fatalf("a3: %+v", a)
		}
		if _, err := r.ReadCommand(); err != io.EOF {
			t.Fatalf("at end: %v, want io.EOF", err)
		}
	}
}

func TestReaderCallbackArgs(t *testing.T) {
	type call struct {
		size         int64
		nonSync, bin bool
		tag, cmd     string
	}
	var calls []call
	var r *Reader
	r = NewReader(bufio.NewReader(strings.NewReader(
		"t1 APPEND INBOX {3}\r\nabc\r\nt2 UID SEARCH TEXT {1+}\r\nx\r\nt3 APPEND INBOX ~{0}\r\n\r\n")),
		func(size int64, nonSync, binary bool) error {
			tag, name := r.Current()
			calls = append(calls, call{size, nonSync, binary, tag, name})
			return nil
		})
	for i := 0; i < 3; i++ {
		if _, err := r.ReadCommand(); err != nil {
			t.Fatal(err)
		}
	}
	want := []call{{3, false, false, "t1", "APPEND"}, {1, true, false, "t2", "SEARCH"}, {0, false, true, "t3", "APPEND"}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
}

// TestReaderRefusedSync: C: a1 APPEND x {1000}  S: a1 NO too big; the
// client sends nothing more for a1, so the next line is a new command.
func TestReaderRefusedSync(t *testing.T) {
	r, s := newTestReader("a1 APPEND x {1000}\r\na2 NOOP\r\n", 4096, 100)
	_, err := r.ReadCommand()
	var le *LiteralError
	if !errors.As(err, &le) || le.Tag != "a1" || le.Name != "APPEND" || le.Desync {
		t.Fatalf("got %v (%+v)", err, le)
	}
	if len(s.sent) != 0 {
		t.Fatalf("S: %q after refusal", s.sent)
	}
	c, err := r.ReadCommand()
	if err != nil || c.Tag != "a2" {
		t.Fatalf("a2: %v %+v", err, c)
	}
}

// TestReaderRefusedNonSync: a refused {n+} literal was sent anyway; the
// reader drops it and the rest of the command, including further
// non-synchronizing literals, then reads the next command.
func TestReaderRefusedNonSync(t *testing.T) {
	big := strings.Repeat("x", 200)
	in := "a1 LOGIN {200+}\r\n" + big + " {3+}\r\nabc\r\na2 NOOP\r\n"
	r, _ := newTestReader(in, 16, 100)
	_, err := r.ReadCommand()
	var le *LiteralError
	if !errors.As(err, &le) || le.Tag != "a1" || le.Desync {
		t.Fatalf("got %v (%+v)", err, le)
	}
	c, err := r.ReadCommand()
	if err != nil || c.Tag != "a2" {
		t.Fatalf("a2: %v %+v", err, c)
	}

	// Beyond the discard budget the stream cannot be trusted.
	r, _ = newTestReader(in, 16, 100)
	r.SetMaxDiscard(100)
	if _, err := r.ReadCommand(); !errors.As(err, &le) || !le.Desync {
		t.Fatalf("got %v, want Desync", err)
	}
}

// TestReaderHugeLiteral: an announced 4 GiB literal that never comes must
// not make the reader allocate 4 GiB.
func TestReaderHugeLiteral(t *testing.T) {
	r, _ := newTestReader("a1 APPEND x {4294967296}\r\n"+strings.Repeat("y", 100000), 4096, 1<<40)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := r.ReadCommand()
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("allocated %d bytes for 100 kB of literal", d)
	}

	r, _ = newTestReader("a1 APPEND x {99999999999999999999}\r\n", 4096, 1<<40)
	var se *SyntaxError
	if _, err := r.ReadCommand(); !errors.As(err, &se) || se.Tag != "a1" {
		t.Fatalf("got %v, want syntax error", err)
	}
}

// TestReaderLineTooLong: S: a1 BAD line too long, then the next command
// is read normally.
func TestReaderLineTooLong(t *testing.T) {
	in := "a1 LOGIN " + strings.Repeat("x", 300) + "\r\na2 NOOP\r\nb" + strings.Repeat("y", 300)
	r, _ := newTestReader(in, 16, 100)
	r.SetMaxLine(100)
	_, err := r.ReadCommand()
	var se *SyntaxError
	if !errors.Is(err, ErrLineTooLong) || !errors.As(err, &se) || se.Tag != "a1" {
		t.Fatalf("got %v, want line too long for a1", err)
	}
	c, err := r.ReadCommand()
	if err != nil || c.Tag != "a2" {
		t.Fatalf("a2: %v %+v", err, c)
	}
	if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF {
		t.Fatalf("at end: %v", err)
	}
}

// TestReaderBuffered: the bytes pipelined after LOGIN go with the handoff.
func TestReaderBuffered(t *testing.T) {
	r, _ := newTestReader("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n", 4096, 100)
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if got := string(r.Buffered()); got != "a2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n" {
		t.Fatalf("Buffered = %q", got)
	}
}

func TestReaderReadLineDone(t *testing.T) {
	r, _ := newTestReader("a1 IDLE\r\ndone\r\nAGFsaWNlAHNlY3JldA==\n*\r\n", 4096, 100)
	c, err := r.ReadCommand()
	if err != nil || c.Name != "IDLE" {
		t.Fatal(err, c)
	}
	l, err := r.ReadLine()
	if err != nil || !IsDone(l) {
		t.Fatalf("%q %v", l, err)
	}
	l, _ = r.ReadLine()
	if IsDone(l) || string(l) != "AGFsaWNlAHNlY3JldA==" {
		t.Fatalf("%q", l)
	}
	l, _ = r.ReadLine()
	if string(l) != "*" {
		t.Fatalf("%q", l)
	}
	if _, err := r.ReadLine(); err != io.EOF {
		t.Fatal(err)
	}
	for _, s := range []string{"DONE", "Done", "dOnE"} {
		if !IsDone([]byte(s)) {
			t.Error(s)
		}
	}
	for _, s := range []string{"DONE ", "DON", "", "DONEX"} {
		if IsDone([]byte(s)) {
			t.Error(s)
		}
	}
}

func TestReaderEOF(t *testing.T) {
	r, _ := newTestReader("a1 NOOP", 4096, 100)
	if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	r, _ = newTestReader("a1 LOGIN {5}\r\nali", 4096, 100)
	if _, err := r.ReadCommand(); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	r, _ = newTestReader("", 4096, 100)
	if _, err := r.ReadCommand(); err != io.EOF {
		t.Fatalf("got %v", err)
	}
}

// TestReaderAppendOwnsLiteral: the literal of an APPEND survives the next
// command.
func TestReaderAppendOwnsLiteral(t *testing.T) {
	r, _ := newTestReader("a1 APPEND x {5}\r\nhello\r\na2 APPEND y {5}\r\nworld\r\n", 4096, 100)
	c1, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if string(c1.Args.(*Append).Literal) != "hello" || string(c2.Args.(*Append).Literal) != "world" {
		t.Fatalf("%q %q", c1.Args.(*Append).Literal, c2.Args.(*Append).Literal)
	}
}

func TestReaderNoCallback(t *testing.T) {
	r := NewReader(bufio.NewReader(strings.NewReader("a1 LOGIN {5}\r\n")), nil)
	var le *LiteralError
	if _, err := r.ReadCommand(); !errors.As(err, &le) || le.Tag != "a1" {
		t.Fatalf("got %v", err)
	}
}

// TestReaderCommandCap: many small literals cannot grow a command past
// the line limit.
func TestReaderCommandCap(t *testing.T) {
	in := "a1 SEARCH" + strings.Repeat(" TEXT {0}\r\n", 100) + "\r\na2 NOOP\r\n"
	r, _ := newTestReader(in, 4096, 100)
	r.SetMaxLine(200)
	if _, err := r.ReadCommand(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
}

func TestSASL(t *testing.T) {
	b, err := DecodeSASLResponse([]byte("AGFsaWNlAHNlY3JldA=="))
	if err != nil || string(b) != "\x00alice\x00secret" {
		t.Fatalf("%q %v", b, err)
	}
	if b, err := DecodeSASLResponse(nil); err != nil || len(b) != 0 {
		t.Fatalf("empty: %q %v", b, err)
	}
	if _, err := DecodeSASLResponse([]byte("*")); err != ErrSASLCancelled {
		t.Fatal(err)
	}
	if _, err := DecodeSASLResponse([]byte("AGFsaWNl!")); err == nil {
		t.Fatal("bad base64 accepted")
	}
	if got := string(AppendSASLChallenge(nil, nil)); got != "+ \r\n" {
		t.Fatalf("%q", got)
	}
	if got := string(AppendSASLChallenge(nil, []byte("hi"))); got != "+ aGk=\r\n" {
		t.Fatalf("%q", got)
	}
}

// TestReaderLineGoesOn: a line past the limit that does not end within the
// discard budget cannot be resynchronized.
func TestReaderLineGoesOn(t *testing.T) {
	r, _ := newTestReader("a1 LOGIN "+strings.Repeat("x", 5000), 16, 100)
	r.SetMaxLine(100)
	r.SetMaxDiscard(1000)
	_, err := r.ReadCommand()
	var se *SyntaxError
	if !errors.Is(err, ErrLineGoesOn) || !errors.Is(err, ErrLineTooLong) || !errors.As(err, &se) || se.Tag != "a1" {
		t.Fatalf("got %v, want ErrLineGoesOn for a1", err)
	}
}
