package server

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// deflateConn is the client's end of RFC 4978 compression: raw DEFLATE,
// every write flushed.
type deflateConn struct {
	net.Conn
	r io.Reader
	w *flate.Writer
}

func (d *deflateConn) Read(b []byte) (int, error) { return d.r.Read(b) }
func (d *deflateConn) Write(b []byte) (int, error) {
	n, err := d.w.Write(b)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// compress turns on COMPRESS DEFLATE and returns the compressed client.
func (c *client) compress(tag string) *client {
	c.t.Helper()
	c.expectDo(tag+" COMPRESS DEFLATE", tag+" OK DEFLATE active")
	w, _ := flate.NewWriter(c.nc, flate.BestSpeed)
	dc := &deflateConn{Conn: c.nc, r: flate.NewReader(c.br), w: w}
	return &client{t: c.t, nc: dc, br: bufio.NewReader(dc)}
}

// RFC 4978 §3: after login, everything after the tagged OK is compressed
// both ways; answers and IDLE updates are flushed, never held back.
func TestCompress(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	if un, _ := c.do("a0 CAPABILITY"); !strings.Contains(un[0], " COMPRESS=DEFLATE ") {
		t.Fatalf("COMPRESS=DEFLATE not advertised: %q", un)
	}
	c.expectDo("a1 COMPRESS FOO", "a1 BAD unknown compression mechanism")
	z := c.compress("a2")
	z.expectDo("a3 COMPRESS DEFLATE", "a3 BAD COMPRESS already active")
	z.expectDo("a4 NOOP", "a4 OK NOOP completed")
	big := strings.Repeat("compressible line\r\n", 5000)
	z.C("a5 APPEND INBOX {" + strconv.Itoa(len(big)) + "}")
	z.S("+ Ready for literal data")
	z.raw(big + "\r\n")
	z.S(`~a5 OK \[APPENDUID \d+ 1\] APPEND completed`)
	selectInbox(z)
	z.expectDo("a6 FETCH 1 BODY.PEEK[]<0.18>", "* 1 FETCH (BODY[]<0> {18}\r\ncompressible line\r)", "a6 OK FETCH completed")
	// An IDLE update from another session arrives at once.
	z.C("a7 IDLE")
	z.S("+ idling")
	o := ts.login("alice")
	o.expectDo("o1 APPEND INBOX {1+}\r\nx", `~o1 OK \[APPENDUID \d+ 2\] APPEND completed`)
	z.S("* 2 EXISTS", "* 2 RECENT")
	z.C("DONE")
	z.S("a7 OK IDLE terminated")
	// Pipelined commands right after COMPRESS, in the same packet.
	p := ts.login("alice")
	p.raw("b1 COMPRESS DEFLATE\r\n")
	p.S("b1 OK DEFLATE active")
	w, _ := flate.NewWriter(p.nc, flate.BestSpeed)
	w.Write([]byte("b2 NOOP\r\nb3 LOGOUT\r\n"))
	w.Flush()
	zr := bufio.NewReader(flate.NewReader(p.nc))
	for _, want := range []string{"b2 OK NOOP completed", "* BYE IMAP4rev2 Server logging out", "b3 OK LOGOUT completed"} {
		l, err := zr.ReadString('\n')
		if err != nil || strings.TrimSuffix(l, "\r\n") != want {
			t.Fatalf("S: %q (%v), want %q", l, err, want)
		}
	}
}

// The same over TLS (STARTTLS before login): compression runs inside TLS.
func TestCompressTLS(t *testing.T) {
	ts := newTestServer(t, func(c *PreauthConfig) { c.StartTLS = testTLSConfig(t); c.Secure = false })
	c := ts.dial()
	c.line()
	c.expectDo("t1 STARTTLS", "t1 OK Begin TLS negotiation now")
	tc := tls.Client(c.nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c = &client{t: t, nc: tc, br: bufio.NewReader(tc)}
	c.expectDo("t2 LOGIN alice pw", "~t2 OK \\[CAPABILITY .*\\] LOGIN completed")
	z := c.compress("t3")
	z.expectDo("t4 LIST \"\" INBOX", `* LIST (\HasNoChildren) "/" INBOX`, "t4 OK LIST completed")
}

// A client that ends each write with zlib's Z_PARTIAL_FLUSH, as isync
// does, is answered at once: these are the bytes zlib wrote for its
// commands, each partial-flushed (the inflate package's test has the same).
func TestCompressPartialFlush(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.expectDo("z1 COMPRESS DEFLATE", "z1 OK DEFLATE active")
	zr := bufio.NewReader(flate.NewReader(c.br))
	send := func(h string) {
		b, _ := hex.DecodeString(h)
		if _, err := c.nc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := zr.ReadString('\n')
		if got := strings.TrimSuffix(l, "\r\n"); err != nil || !regexp.MustCompile("^"+want+"$").MatchString(got) {
			t.Fatalf("S: %q (%v), want %q", got, err, want)
		}
	}
	send("4a3454f0f3f70fe0e50208") // C: a1 NOOP
	expect("a1 OK NOOP completed")
	send("a0442305c78000573f17054f3f27ff08856a13835a5e2e8000") // C: a2 APPEND INBOX {40}
	expect(`\+ Ready for literal data`)
	send("0a2e4dca4a4d2eb15228482c2ac94ccc5148cb292dcee0e5e2e5ca48cdc9c95728cf2fca4901710102") // the literal
	expect(`a2 OK \[APPENDUID \d+ 1\] APPEND completed`)
	send("28d158c1c7dfdd3f3484970b20") // C: a3 LOGOUT
	expect(`\* BYE .*`)
	expect("a3 OK LOGOUT completed")
}
