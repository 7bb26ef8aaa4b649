package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// chunky hands out at most a random few bytes per Read, as a network does.
type chunky struct {
	r   *rand.Rand
	src []byte
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.src) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.src), 1+c.r.IntN(600))
	copy(p, c.src[:n])
	c.src = c.src[n:]
	return n, nil
}

func sample(r *rand.Rand, size int) []byte {
	b := make([]byte, size)
	switch r.IntN(3) {
	case 0: // text-like, with repeats far and near
		words := []string{"Subject: ", "hello ", "world\r\n", "a1 FETCH 1:* (FLAGS)\r\n", "=?UTF-8?B?w6k=?= "}
		b = b[:0]
		for len(b) < size {
			b = append(b, words[r.IntN(len(words))]...)
		}
		b = b[:size]
	case 1: // random: stored blocks
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	default: // long runs: back-references of every length and distance
		for i := range b {
			b[i] = byte('a' + r.IntN(3))
			if i > 40000 && r.IntN(4) != 0 {
				b[i] = b[i-1-r.IntN(32767)]
			}
		}
	}
	return b
}

// Whatever compress/flate writes, at any level and with flushes anywhere,
// decompresses to the bytes it was given.
func TestDifferential(t *testing.T) {
	levels := []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression}
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 1))
		data := sample(r, r.IntN(200000))
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, levels[int(seed)%len(levels)])
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 1+r.IntN(70000))
			w.Write(rest[:k])
			rest = rest[k:]
			if r.IntN(2) == 0 {
				w.Flush()
			}
		}
		w.Close()
		got, err := io.ReadAll(NewReader(&chunky{r: r, src: z.Bytes()}))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("seed %d: %d bytes back of %d, err %v", seed, len(got), len(data), err)
		}
	}
}

// RFC 4978 §4 wants each side to flush; zlib's Z_PARTIAL_FLUSH ends the
// block and adds an empty one of 10 bits, part of which stays behind in
// the sender. These are the bytes zlib 1.2 wrote for four writes, each
// partial-flushed, as isync sends them: each must be read before the next
// is sent.
func TestPartialFlush(t *testing.T) {
	steps := []struct{ z, plain string }{
		{"4a3454f0f3f70fe0e50208", "a1 NOOP\r\n"},
		{"a0442305c78000573f17054f3f27ff08856a13835a5e2e8000", "a2 APPEND INBOX {40}\r\n"},
		{"0a2e4dca4a4d2eb15228482c2ac94ccc5148cb292dcee0e5e2e5ca48cdc9c95728cf2fca4901710102", "Subject: partial flush\r\n\r\nhello world\r\n\r\n"},
		{"28d158c1c7dfdd3f3484970b20", "a3 LOGOUT\r\n"},
	}
	pr, pw := livePipe(t)
	zr := NewReader(pr)
	for _, s := range steps {
		z, _ := hex.DecodeString(s.z)
		pw.Write(z)
		got := make(chan string, 1)
		go func() {
			buf := make([]byte, len(s.plain))
			n, err := io.ReadFull(zr, buf)
			if err != nil {
				got <- err.Error()
			}
			got <- string(buf[:n])
		}()
		select {
		case g := <-got:
			if g != s.plain {
				t.Fatalf("read %q, want %q", g, s.plain)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("blocked on %q: the block ended, but its bytes were not returned", s.plain)
		}
	}
}

// livePipe is a connection whose writer stays open while the test reads:
// a read past what was written waits, as on a socket.
func livePipe(t *testing.T) (*os.File, *os.File) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); pr.Close() })
	return pr, pw
}

// A sync flush (go-imap, imapflow, compress/flate) is read at once too.
func TestSyncFlush(t *testing.T) {
	pr, pw := livePipe(t)
	w, _ := flate.NewWriter(pw, flate.BestSpeed)
	zr := NewReader(pr)
	for _, line := range []string{"a1 NOOP\r\n", "a2 SELECT INBOX\r\n"} {
		w.Write([]byte(line))
		w.Flush()
		buf := make([]byte, len(line))
		if _, err := io.ReadFull(zr, buf); err != nil || string(buf) != line {
			t.Fatalf("read %q (%v), want %q", buf, err, line)
		}
	}
}

// Hostile streams end in an error, never a panic or a read out of bounds.
func TestHostile(t *testing.T) {
	for _, c := range []struct {
		name, hex string
		want      error
	}{
		{"reserved block type", "07", errHeader},
		{"stored length mismatch", "010500fbff", errStored},
		{"back-reference before the start", "030200", errTooFar},
		{"too many length codes", "fdffff", errHeader},
		{"truncated", "4a", io.ErrUnexpectedEOF},
	} {
		b, _ := hex.DecodeString(c.hex)
		_, err := io.ReadAll(NewReader(bytes.NewReader(b)))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

// Where compress/flate reads a stream to its end, this reads the same
// bytes; on any other input it ends in an error or EOF, never a panic.
func FuzzInflate(f *testing.F) {
	for _, s := range []string{"4a3454f0f3f70fe0e50208", "010500faffffffffffff", "030200", "0300"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(bytes.Repeat([]byte("a1 FETCH 1:* (FLAGS)\r\n"), 50))
	w.Close()
	f.Add(z.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(io.LimitReader(NewReader(bytes.NewReader(in)), 1<<20))
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), 1<<20))
		if werr == nil && len(want) < 1<<20 && (err != nil || !bytes.Equal(got, want)) {
			t.Fatalf("compress/flate reads %d bytes, this %d (%v)", len(want), len(got), err)
		}
	})
}
