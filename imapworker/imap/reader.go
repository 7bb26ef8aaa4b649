package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
)

// LiteralFunc decides whether the Reader may read a literal of size bytes.
// It is called when a line ends in {size} (nonSync false), {size+} (nonSync
// true, LITERAL+ RFC 7888) or ~{size} (binary true, RFC 3516).
//
// For a synchronizing literal the function sends "+ ..." to the client
// before returning nil; for a non-synchronizing one it must send nothing.
// A non-nil error refuses the literal; the Reader then returns a
// *LiteralError carrying the command's tag.
type LiteralFunc func(size int64, nonSync, binary bool) error

// Defaults for a Reader.
const (
	DefaultMaxLine    = 64 << 10
	DefaultMaxDiscard = 1 << 20
	chunk             = 32 << 10 // literal bytes are read this many at a time
	maxLiteralSize    = 1<<63 - 1
)

// Reader frames IMAP commands: one command is its first line plus any
// literals and the lines that follow them.
type Reader struct {
	br         *bufio.Reader
	lit        LiteralFunc
	maxLine    int
	maxDiscard int64
	buf        []byte
}

// NewReader returns a Reader reading br. lit may be nil, in which case every
// literal is refused.
func NewReader(br *bufio.Reader, lit LiteralFunc) *Reader {
	return &Reader{br: br, lit: lit, maxLine: DefaultMaxLine, maxDiscard: DefaultMaxDiscard}
}

// SetLiteralFunc replaces the literal callback (for example at login, when
// the limits change).
func (r *Reader) SetLiteralFunc(lit LiteralFunc) { r.lit = lit }

// SetMaxLine sets the longest line accepted, CRLF included (default 64 KiB).
// It bounds the whole command outside its literals, so that a command cannot
// grow without limit through many small literals.
func (r *Reader) SetMaxLine(n int) { r.maxLine = n }

// SetMaxDiscard sets how many bytes of refused non-synchronizing literals
// the Reader reads and drops to stay in step with the client (default
// 1 MiB); beyond that it gives up with LiteralError.Desync.
func (r *Reader) SetMaxDiscard(n int64) { r.maxDiscard = n }

// Buffered returns the bytes read from the connection but not yet consumed:
// what a client pipelined after the last command. The slice is valid until
// the next read.
func (r *Reader) Buffered() []byte {
	b, _ := r.br.Peek(r.br.Buffered())
	return b
}

// Current returns the tag and upper-case command name (without the UID
// prefix) of the command being read, as far as they can be told; for use
// inside a LiteralFunc, for example to allow large literals only for APPEND.
func (r *Reader) Current() (tag, name string) {
	p := parser{b: r.buf}
	t, ok := p.tryTag()
	if !ok {
		return "", ""
	}
	n := p.peekName()
	if n == "UID" {
		p.pos += 3
		if p.pos < len(p.b) && p.b[p.pos] == ' ' {
			p.pos++
			n = p.peekName()
		}
	}
	return t, n
}

// ReadCommand reads and parses one command. Errors are *SyntaxError (answer
// BAD), *LiteralError (answer NO or BAD, see Desync), or I/O errors (io.EOF
// at a clean end of input). The Command does not alias the Reader's buffer.
func (r *Reader) ReadCommand() (*Command, error) {
	raw, err := r.ReadRaw()
	if err != nil {
		return nil, err
	}
	cmd, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := cmd.Args.(*Append); ok {
		// The message literal aliases the buffer: hand it over.
		r.buf = nil
	}
	return cmd, nil
}

// ReadRaw reads one complete command: the lines and the literals inline,
// each line ending in CRLF (a bare LF is turned into CRLF). The result is
// valid until the next call.
func (r *Reader) ReadRaw() ([]byte, error) {
	if cap(r.buf) > 4*DefaultMaxLine {
		r.buf = nil // don't keep a large literal's buffer forever
	}
	r.buf = r.buf[:0]
	lines := 0 // bytes of the command outside literals, capped by maxLine
	for {
		start := len(r.buf)
		if err := r.readLine(r.maxLine - lines); err != nil {
			if err == io.EOF && len(r.buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		lines += len(r.buf) - start
		size, nonSync, binary, ok, err := literalHeader(r.buf[start : len(r.buf)-2])
		if err != nil {
			tag, _ := r.Current()
			return nil, &SyntaxError{Tag: tag, Msg: err.Error()}
		}
		if !ok {
			return r.buf, nil
		}
		if err := r.allow(size, nonSync, binary); err != nil {
			tag, name := r.Current()
			le := &LiteralError{Tag: tag, Name: name, Err: err}
			if nonSync {
				le.Desync = !r.discardRest(size)
			}
			return nil, le
		}
		if err := r.readLiteral(size); err != nil {
			return nil, err
		}
	}
}

// ReadLine reads one line, for IDLE's DONE (RFC 9051 §6.3.13) and
// AUTHENTICATE's responses (RFC 9051 §6.2.2). The line is returned without
// its CRLF and is valid until the next call. Literals are not recognised.
func (r *Reader) ReadLine() ([]byte, error) {
	r.buf = r.buf[:0]
	if err := r.readLine(r.maxLine); err != nil {
		if err == io.EOF && len(r.buf) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return r.buf[:len(r.buf)-2], nil
}

// IsDone reports whether line is the DONE that ends IDLE (RFC 9051 §6.3.13).
func IsDone(line []byte) bool {
	return len(line) == 4 && (line[0]|0x20) == 'd' && (line[1]|0x20) == 'o' &&
		(line[2]|0x20) == 'n' && (line[3]|0x20) == 'e'
}

func (r *Reader) allow(size int64, nonSync, binary bool) error {
	if r.lit == nil {
		return errors.New("literals not allowed")
	}
	return r.lit(size, nonSync, binary)
}

// readLine appends one line of at most max bytes to r.buf, ending it in
// CRLF.
func (r *Reader) readLine(max int) error {
	start := len(r.buf)
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(r.buf)-start+len(frag) > max {
			// Keep up to the limit for Current() (the tag), drop the rest
			// of the line, but only up to the discard budget: a line that
			// goes on past it is abuse, not a long command (DESIGN §6).
			if keep := max - (len(r.buf) - start); keep > 0 {
				r.buf = append(r.buf, frag[:keep]...)
			}
			tag, _ := r.Current()
			budget := r.maxDiscard
			for err == bufio.ErrBufferFull {
				if budget -= int64(len(frag)); budget < 0 {
					return &SyntaxError{Tag: tag, Msg: "line too long", Err: ErrLineGoesOn}
				}
				frag, err = r.br.ReadSlice('\n')
			}
			if err != nil {
				return err
			}
			return &SyntaxError{Tag: tag, Msg: "line too long", Err: ErrLineTooLong}
		}
		r.buf = append(r.buf, frag...)
		switch err {
		case nil:
			n := len(r.buf)
			if n-start < 2 || r.buf[n-2] != '\r' {
				r.buf[n-1] = '\r'
				r.buf = append(r.buf, '\n')
			}
			return nil
		case bufio.ErrBufferFull:
			continue
		default:
			return err
		}
	}
}

// readLiteral appends size bytes to r.buf, growing it only as bytes arrive,
// except that a literal of up to 4*DefaultMaxLine (the buffer kept between
// commands) gets its room at once: an APPEND's message is then one
// allocation, not a doubling one copied at each step.
func (r *Reader) readLiteral(size int64) error {
	if size <= 4*DefaultMaxLine {
		r.buf = slices.Grow(r.buf, int(size))
	}
	for size > 0 {
		n := int64(chunk)
		if size < n {
			n = size
		}
		l := len(r.buf)
		r.buf = append(r.buf, make([]byte, n)...)[:l]
		m, err := io.ReadFull(r.br, r.buf[l:l+int(n)])
		r.buf = r.buf[:l+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		size -= n
	}
	return nil
}

// discardRest drops a refused non-synchronizing literal and the rest of its
// command, reporting whether it stayed within maxDiscard.
func (r *Reader) discardRest(size int64) bool {
	budget := r.maxDiscard
	for {
		if size > budget {
			return false
		}
		budget -= size
		if _, err := r.br.Discard(int(size)); err != nil {
			return false
		}
		// The line after the literal: discard up to LF, keeping its tail
		// to see whether another literal follows.
		var line []byte
		for {
			frag, err := r.br.ReadSlice('\n')
			if int64(len(frag)) > budget {
				return false
			}
			budget -= int64(len(frag))
			line = append(line, frag...)
			if len(line) > 32 {
				line = append(line[:0], line[len(line)-32:]...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				return false
			}
			break
		}
		line = bytes.TrimRight(line, "\r\n")
		var ok bool
		var nonSync bool
		var err error
		size, nonSync, _, ok, err = literalHeader(line)
		if err != nil || !ok {
			return err == nil
		}
		if !nonSync {
			// The client waits for "+": the command ends here for it.
			return true
		}
	}
}

// literalHeader recognises a line ending in {n}, {n+} or ~{n} (RFC 9051 §9
// literal, RFC 7888 literal+, RFC 3516 literal8).
func literalHeader(line []byte) (size int64, nonSync, binary, ok bool, err error) {
	n := len(line)
	if n < 3 || line[n-1] != '}' {
		return 0, false, false, false, nil
	}
	i := n - 2
	if line[i] == '+' {
		nonSync = true
		i--
	}
	end := i + 1
	for i >= 0 && line[i] >= '0' && line[i] <= '9' {
		i--
	}
	if i < 0 || line[i] != '{' || i+1 == end {
		return 0, false, false, false, nil
	}
	if end-(i+1) > 19 {
		return 0, false, false, false, errors.New("literal size too large")
	}
	for _, c := range line[i+1 : end] {
		d := int64(c - '0')
		if size > (maxLiteralSize-d)/10 {
			return 0, false, false, false, errors.New("literal size too large")
		}
		size = size*10 + d
	}
	binary = i > 0 && line[i-1] == '~'
	return size, nonSync, binary, true, nil
}
