package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Client is a minimal IMAP client for load generation: one command in
// flight per connection, so the latency measured is the server's answer
// time for that command alone. Literal payloads in responses are counted
// and discarded, never kept, so FETCH of large bodies costs the generator
// little.
type Client struct {
	conn  net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	tagN  int
	Caps  map[string]bool
	Bytes int64 // bytes of literals received
}

// Response is the outcome of one tagged command.
type Response struct {
	Untagged []string // untagged lines, literals replaced by "{N}"
	Status   string   // OK, NO or BAD
	Text     string   // the rest of the tagged line
}

// StatusError is a tagged NO or BAD: the server refused the command.
type StatusError struct {
	Cmd    string
	Status string
	Text   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %s %s", e.Cmd, e.Status, e.Text)
}

// Dial connects and reads the greeting (RFC 9051 §7.1.1, §7.1.5).
func Dial(addr string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return NewClient(conn)
}

// NewClient wraps an established connection and reads the greeting.
func NewClient(conn net.Conn) (*Client, error) {
	c := &Client{
		conn: conn,
		r:    bufio.NewReaderSize(conn, 64<<10),
		w:    bufio.NewWriterSize(conn, 16<<10),
		Caps: map[string]bool{},
	}
	line, err := c.readLine()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	switch {
	case strings.HasPrefix(line, "* OK"):
		c.noteCaps(line)
		return c, nil
	case strings.HasPrefix(line, "* PREAUTH"):
		return c, nil
	default:
		conn.Close()
		return nil, fmt.Errorf("greeting: %q", line)
	}
}

// Close closes the connection without LOGOUT.
func (c *Client) Close() error { return c.conn.Close() }

// SetDeadline bounds the next reads and writes.
func (c *Client) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// noteCaps records a CAPABILITY response code or untagged response.
func (c *Client) noteCaps(line string) {
	i := strings.Index(strings.ToUpper(line), "CAPABILITY ")
	if i < 0 {
		return
	}
	s := line[i+len("CAPABILITY "):]
	if j := strings.IndexByte(s, ']'); j >= 0 {
		s = s[:j]
	}
	for _, f := range strings.Fields(s) {
		c.Caps[strings.ToUpper(f)] = true
	}
}

// readLine reads one logical response line: a CRLF line plus, for every
// literal it announces (RFC 9051 §4.3), the literal's octets and the line
// continuing after them. Literal octets are counted and replaced by {N}.
func (c *Client) readLine() (string, error) {
	var sb strings.Builder
	for {
		part, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: keep reading.
			sb.Write(part)
			continue
		}
		if err != nil {
			return "", err
		}
		part = bytes.TrimRight(part, "\r\n")
		sb.Write(part)
		n, ok := literalLen(part)
		if !ok {
			return sb.String(), nil
		}
		if _, err := io.CopyN(io.Discard, c.r, n); err != nil {
			return "", err
		}
		c.Bytes += n
	}
}

// literalLen reports the size of a literal announced at the end of line.
func literalLen(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	digits := strings.TrimSuffix(string(line[i+1:len(line)-1]), "+")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func (c *Client) nextTag() string {
	c.tagN++
	return "a" + strconv.Itoa(c.tagN)
}

// Do sends one command (without tag) and reads until its tagged response.
// A NO or BAD comes back as a *StatusError along with the response.
func (c *Client) Do(cmd string) (*Response, error) {
	tag := c.nextTag()
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(cmd)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.readTagged(tag, cmd)
}

func (c *Client) readTagged(tag, cmd string) (*Response, error) {
	resp := &Response{}
	for {
		line, err := c.readLine()
		if err != nil {
			return resp, fmt.Errorf("%s: %w", verb(cmd), err)
		}
		if strings.HasPrefix(line, "* ") {
			if strings.HasPrefix(line, "* BYE") {
				// Keep reading: LOGOUT sends BYE then its OK.
				resp.Untagged = append(resp.Untagged, line)
				continue
			}
			c.noteCaps(line)
			resp.Untagged = append(resp.Untagged, line)
			continue
		}
		if strings.HasPrefix(line, "+") {
			return resp, fmt.Errorf("%s: unexpected continuation %q", verb(cmd), line)
		}
		rest, ok := strings.CutPrefix(line, tag+" ")
		if !ok {
			return resp, fmt.Errorf("%s: unexpected line %q", verb(cmd), line)
		}
		st, text, _ := strings.Cut(rest, " ")
		resp.Status, resp.Text = strings.ToUpper(st), text
		c.noteCaps(text)
		if resp.Status != "OK" {
			return resp, &StatusError{Cmd: verb(cmd), Status: resp.Status, Text: text}
		}
		return resp, nil
	}
}

// DoLiteral sends a command whose last argument is a synchronizing
// literal (RFC 9051 §4.3): "cmd {N}", wait for "+", then the octets.
// Synchronizing literals are used for every server alike, so the extra
// round trip is the same for all.
func (c *Client) DoLiteral(cmd string, lit []byte) (*Response, error) {
	tag := c.nextTag()
	fmt.Fprintf(c.w, "%s %s {%d}\r\n", tag, cmd, len(lit))
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", verb(cmd), err)
		}
		if strings.HasPrefix(line, "+") {
			break
		}
		if strings.HasPrefix(line, "* ") {
			continue
		}
		// A tagged answer instead of "+": the server refused the literal.
		rest, _ := strings.CutPrefix(line, tag+" ")
		st, text, _ := strings.Cut(rest, " ")
		return &Response{Status: st, Text: text}, &StatusError{Cmd: verb(cmd), Status: st, Text: text}
	}
	c.w.Write(lit)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.readTagged(tag, cmd)
}

// Login sends LOGIN with quoted user name and password.
func (c *Client) Login(user, pass string) error {
	_, err := c.Do("LOGIN " + quote(user) + " " + quote(pass))
	return err
}

// StartIdle sends IDLE and waits for the continuation (RFC 9051 §6.3.13).
func (c *Client) StartIdle() (string, error) {
	tag := c.nextTag()
	c.w.WriteString(tag + " IDLE\r\n")
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return "", fmt.Errorf("IDLE: %w", err)
		}
		if strings.HasPrefix(line, "+") {
			return tag, nil
		}
		if !strings.HasPrefix(line, "* ") {
			return "", fmt.Errorf("IDLE: %q", line)
		}
	}
}

// ReadUntagged reads one line while idling.
func (c *Client) ReadUntagged() (string, error) { return c.readLine() }

// StopIdle sends DONE and reads IDLE's tagged response.
func (c *Client) StopIdle(tag string) error {
	c.w.WriteString("DONE\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	_, err := c.readTagged(tag, "IDLE")
	return err
}

// Logout sends LOGOUT and closes the connection.
func (c *Client) Logout() error {
	_, err := c.Do("LOGOUT")
	c.conn.Close()
	return err
}

// Exists returns the message count from "* N EXISTS" lines, or -1.
func Exists(untagged []string) int {
	n := -1
	for _, l := range untagged {
		if v, ok := existsOf(l); ok {
			n = v
		}
	}
	return n
}

func existsOf(line string) (int, bool) {
	f := strings.Fields(line)
	if len(f) == 3 && f[0] == "*" && strings.EqualFold(f[2], "EXISTS") {
		n, err := strconv.Atoi(f[1])
		return n, err == nil
	}
	return 0, false
}

// quote makes an IMAP quoted string (RFC 9051 §4.3).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// verb is the command name used to group latencies and errors.
func verb(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return ""
	}
	v := strings.ToUpper(f[0])
	if v == "UID" && len(f) > 1 {
		v += " " + strings.ToUpper(f[1])
	}
	return v
}
