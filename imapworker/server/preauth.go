package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"time"

	"imapd/imapworker/imap"
)

// ServePreauth writes the greeting, serves the not-authenticated state, and
// on a successful login returns without answering it. It returns (nil, nil)
// when the client logs out or goes away; on ctx cancellation it sends
// "* BYE" and returns ctx.Err().
func ServePreauth(ctx context.Context, nc net.Conn, cfg PreauthConfig) (*Login, error) {
	timeout := cfg.LoginTimeout
	if timeout <= 0 {
		timeout = defaultLoginTime
	}
	// The login time bounds the whole not-authenticated state, not just each
	// read: a client sending NOOP now and then must still log in in time.
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	wt := cfg.WriteTimeout
	if wt <= 0 {
		wt = preauthWriteTimeout
	}
	c := newConn(ctx, nc, bufio.NewReaderSize(nc, 4096), cfg.Logger, wt)
	c.pcfg = &cfg
	c.state = stateNotAuth
	c.tls = cfg.TLSActive
	c.timeout = 0 // the deadline on ctx bounds every read
	c.maxLine = preauthMaxLine
	if cfg.MaxLine > 0 {
		c.maxLine = min(cfg.MaxLine, preauthMaxLine)
	}
	c.r.SetMaxLine(c.maxLine)
	c.r.SetMaxDiscard(preauthMaxLiteral)
	c.writeString("* OK [CAPABILITY " + c.capabilities() + "] IMAP4rev2 Service Ready\r\n")
	err := c.serve(nil)
	if err == errLoggedIn {
		// The connection lives on (a relay, a mailbox worker): no deadline
		// of this state may follow it.
		c.stopBye()
		c.nc.SetWriteDeadline(time.Time{})
		l := c.login
		l.Conn = c.nc
		l.TLS = c.tls
		l.ID = c.idArg
		return l, nil
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return nil, err
}

// authAllowed: cleartext authentication only over TLS or where configured
// (RFC 9051 §6.2.3, LOGINDISABLED).
func (c *conn) authAllowed() bool { return c.tls || c.pcfg.Secure }

// RFC 9051 §6.2.1: STARTTLS. Bytes the client sent after the command were
// sent in cleartext: they are dropped, never executed (CVE-2011-0411).
func (c *conn) cmdStartTLS(cmd *imap.Command) error {
	if c.pcfg.StartTLS == nil {
		return badf("STARTTLS not available")
	}
	if c.tls {
		return badf("TLS already active")
	}
	c.tagged(cmd.Tag, "OK", "", "Begin TLS negotiation now")
	c.flush()
	tc := tls.Server(c.nc, c.pcfg.StartTLS)
	hctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.log.Info("STARTTLS handshake failed", "err", err, "hint", HandshakeHint(err))
		return errLogout
	}
	c.nc = tc
	c.tls = true
	c.bw.Reset(deadlineWriter{c})
	c.r = imap.NewReader(bufio.NewReaderSize(tc, 4096), c.literal) // the old buffer is dropped here
	c.r.SetMaxLine(c.maxLine)
	c.r.SetMaxDiscard(preauthMaxLiteral)
	return nil
}

// RFC 9051 §6.2.3: LOGIN.
func (c *conn) cmdLogin(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Login)
	if !c.authAllowed() {
		c.log.Info("cleartext login refused", "code", "PRIVACYREQUIRED", "user", args.User)
		return no("PRIVACYREQUIRED", "LOGIN disabled without TLS")
	}
	return c.authenticate(cmd, AuthRequest{Mechanism: "LOGIN", User: args.User, Password: args.Password}, false)
}

// RFC 9051 §6.2.2, RFC 4616 PLAIN, RFC 4959 SASL-IR.
func (c *conn) cmdAuthenticate(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Authenticate)
	if args.Mechanism != "PLAIN" {
		return no("CANNOT", "unsupported authentication mechanism")
	}
	if !c.authAllowed() {
		c.log.Info("cleartext authentication refused", "code", "PRIVACYREQUIRED", "mechanism", args.Mechanism)
		return no("PRIVACYREQUIRED", "authentication disabled without TLS")
	}
	var resp string
	if args.InitialResponse != nil {
		resp = *args.InitialResponse
	} else {
		c.writeString("+ \r\n")
		c.flush()
		res, _, err := c.read(readLine, nil)
		if err != nil {
			return err
		}
		if res.err != nil {
			return errLogout
		}
		resp = string(res.line)
		if resp == "*" {
			return badf("authentication cancelled") // RFC 9051 §6.2.2
		}
	}
	dec, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return badf("invalid base64")
	}
	parts := bytes.Split(dec, []byte{0})
	if len(parts) != 3 {
		return badf("invalid PLAIN response")
	}
	req := AuthRequest{Mechanism: "PLAIN", AuthzID: string(parts[0]), User: string(parts[1]), Password: string(parts[2])}
	if req.AuthzID != "" && req.AuthzID != req.User && (c.pcfg.MasterUser == "" || req.User != c.pcfg.MasterUser) {
		return no("AUTHORIZATIONFAILED", "cannot act as another user")
	}
	return c.authenticate(cmd, req, true)
}

func (c *conn) authenticate(cmd *imap.Command, req AuthRequest, sasl bool) error {
	if c.pcfg.Auth == nil {
		return no("UNAVAILABLE", "authentication unavailable")
	}
	req.ID = c.idArg
	resp := c.pcfg.Auth.Authenticate(c.ctx, req)
	if !resp.OK {
		code := resp.Code
		if code == "" {
			code = "AUTHENTICATIONFAILED"
		}
		if code == "AUTHENTICATIONFAILED" {
			return no(code, "Authentication failed")
		}
		return no(code, "Authentication not possible")
	}
	user := resp.User
	if user == "" {
		user = req.User
	}
	c.login = &Login{Tag: cmd.Tag, User: user, SASL: sasl, Pending: bytes.Clone(c.r.Buffered())}
	return errLoggedIn
}

// HandshakeHint says what a TLS handshake error usually means, for the log:
// Go reports a client that refused our certificate (self-signed, wrong
// name) as "bad record MAC" or an alert, which sends admins looking in the
// wrong place.
func HandshakeHint(err error) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "bad record MAC"), strings.Contains(msg, "bad certificate"),
		strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "certificate unknown"):
		return "the client probably rejected the certificate (self-signed, expired or for another name)"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the client spoke cleartext to a TLS port"
	case strings.Contains(msg, "no cipher suite supported"), strings.Contains(msg, "protocol version not supported"),
		strings.Contains(msg, "unsupported versions"):
		return "the client offers only old TLS versions or ciphers"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"):
		return "the client closed the connection during the handshake"
	}
	return ""
}
