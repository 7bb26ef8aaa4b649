package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// benchIMAP is a minimal IMAP client for benchmarks: it sends a command
// and consumes the response, counting untagged lines and skipping
// literals, with as little client work as possible so the figures measure
// the server. It parses nothing but what the benchmarks need.
type benchIMAP struct {
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	tag     int
	timeout time.Duration // per command; 0 for none
}

// benchResult is what one command returned.
type benchResult struct {
	Status      string   // OK, NO or BAD
	Text        string   // the tagged response's text
	Untagged    int      // untagged lines ("* ...")
	LiteralSize int64    // bytes of all literals received
	SearchUIDs  []uint32 // numbers of "* SEARCH" and "* SORT" responses
	Exists      int      // the last "* N EXISTS"
	Elapsed     time.Duration
}

// commandTimeout is the longest wait for one command's answer (folder's
// -timeout).
var commandTimeout = 15 * time.Minute

func benchDial(addr string, tlsConf *tls.Config, timeout time.Duration) (*benchIMAP, error) {
	d := net.Dialer{Timeout: timeout}
	d.SetMultipathTCP(false)
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(c, tlsConf)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		c = tc
	}
	b := &benchIMAP{c: c, r: bufio.NewReaderSize(c, 256<<10), w: bufio.NewWriter(c), timeout: commandTimeout}
	line, err := b.readLine()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", addr, err)
	}
	if !bytes.HasPrefix(line, []byte("* OK")) && !bytes.HasPrefix(line, []byte("* PREAUTH")) {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %q", addr, line)
	}
	return b, nil
}

func (b *benchIMAP) Close() error { return b.c.Close() }

// readLine returns one line without CRLF; the slice is valid until the
// next read.
func (b *benchIMAP) readLine() ([]byte, error) {
	line, err := b.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = b.r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// literalSize returns n if line ends with {n} (or ~{n}), else -1.
func benchLiteralSize(line []byte) int64 {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return -1
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Cmd sends "tag cmd" and reads to the tagged response. A literal in the
// command must be sent with LITERAL+ ({n+}) by the caller.
func (b *benchIMAP) Cmd(cmd string) (*benchResult, error) {
	return b.cmdWithLiteral(cmd, nil)
}

func (b *benchIMAP) cmdWithLiteral(cmd string, lit []byte) (*benchResult, error) {
	b.tag++
	tag := fmt.Sprintf("b%d", b.tag)
	if b.timeout > 0 {
		_ = b.c.SetDeadline(time.Now().Add(b.timeout))
	}
	start := time.Now()
	if lit == nil {
		fmt.Fprintf(b.w, "%s %s\r\n", tag, cmd)
	} else {
		// Synchronizing literal: wait for the continuation.
		fmt.Fprintf(b.w, "%s %s {%d}\r\n", tag, cmd, len(lit))
		if err := b.w.Flush(); err != nil {
			return nil, err
		}
		line, err := b.readLine()
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(line, []byte("+")) {
			return nil, fmt.Errorf("%s: no continuation: %q", cmd, line)
		}
		b.w.Write(lit)
		b.w.WriteString("\r\n")
	}
	if err := b.w.Flush(); err != nil {
		return nil, err
	}
	res := &benchResult{}
	tagPrefix := []byte(tag + " ")
	for {
		line, err := b.readLine()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		if bytes.HasPrefix(line, tagPrefix) {
			rest := string(line[len(tagPrefix):])
			st, text, _ := strings.Cut(rest, " ")
			res.Status, res.Text = st, text
			res.Elapsed = time.Since(start)
			return res, nil
		}
		if bytes.HasPrefix(line, []byte("* ")) {
			res.Untagged++
			// Checked without splitting every line: a SORT or THREAD of
			// 100,000 messages is one line of 600 KB, and the client's
			// time is in what is measured.
			if bytes.HasSuffix(line, []byte(" EXISTS")) {
				if f := bytes.Fields(line); len(f) == 3 {
					res.Exists, _ = strconv.Atoi(string(f[1]))
				}
			}
			if bytes.HasPrefix(line, []byte("* SEARCH")) || bytes.HasPrefix(line, []byte("* SORT")) {
				_, nums, _ := bytes.Cut(line[2:], []byte(" "))
				res.SearchUIDs = benchNumbers(res.SearchUIDs, nums)
			}
		}
		// A line ending in a literal continues after it.
		for n := benchLiteralSize(line); n >= 0; n = benchLiteralSize(line) {
			if _, err := io.CopyN(io.Discard, b.r, n); err != nil {
				return nil, fmt.Errorf("%s: literal: %w", cmd, err)
			}
			res.LiteralSize += n
			if line, err = b.readLine(); err != nil {
				return nil, fmt.Errorf("%s: %w", cmd, err)
			}
		}
	}
}

// benchNumbers appends the space-separated words of s that are 32-bit
// decimal numbers (not "(MODSEQ" nor "5)").
func benchNumbers(out []uint32, s []byte) []uint32 {
	for len(s) > 0 {
		var w []byte
		w, s, _ = bytes.Cut(s, []byte(" "))
		n, ok := uint64(0), len(w) > 0
		for _, ch := range w {
			if ch < '0' || ch > '9' || n > math.MaxUint32/10 {
				ok = false
				break
			}
			n = n*10 + uint64(ch-'0')
		}
		if ok && n <= math.MaxUint32 {
			out = append(out, uint32(n))
		}
	}
	return out
}

// MustOK runs cmd and fails unless the server answered OK.
func (b *benchIMAP) MustOK(cmd string) (*benchResult, error) {
	res, err := b.Cmd(cmd)
	if err != nil {
		return nil, err
	}
	if res.Status != "OK" {
		return res, fmt.Errorf("%s: %s %s", cmd, res.Status, res.Text)
	}
	return res, nil
}

func benchQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Login dials, logs in and returns the session.
func benchLogin(addr string, tlsConf *tls.Config, user, pass string) (*benchIMAP, error) {
	b, err := benchDial(addr, tlsConf, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := b.MustOK("LOGIN " + benchQuote(user) + " " + benchQuote(pass)); err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return b, nil
}
