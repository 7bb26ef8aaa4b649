package preauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"imapd/imapworker/server"
	pb "imapd/proto"
)

// backendWait bounds the wait for the parent's answer to a proxied handoff:
// its dial, the backend's greeting and login (docs/cluster.md).
const backendWait = 30 * time.Second

// backendResult is the parent's answer to a proxied handoff: the backend
// socket, logged in as the user, and the line that answers the client's
// login; or why not.
type backendResult struct {
	res *pb.HandoffResult
	fd  *os.File
}

// proxyResult passes the parent's answer to the connection waiting for it.
func (w *worker) proxyResult(r *pb.HandoffResult, fd *os.File) {
	w.mu.Lock()
	c := w.conns[r.ConnId]
	w.mu.Unlock()
	if c != nil {
		select {
		case c.backend <- backendResult{res: r, fd: fd}:
			return
		default:
		}
	}
	if fd != nil {
		fd.Close()
	}
	if c != nil && !r.Ok {
		c.net.Close()
	}
}

// relayToBackend logs in to the backend on the socket the parent dialled,
// answers the client's login as the backend did and relays the session, by
// the relay the TLS path uses. The worker opens no socket, and the ticket
// it logs in with serves once, for this user and client address only.
func (w *worker) relayToBackend(ctx context.Context, c *clientConn, conn net.Conn, login *server.Login, log *slog.Logger) {
	t := time.NewTimer(backendWait)
	defer t.Stop()
	var r backendResult
	select {
	case r = <-c.backend:
	case <-ctx.Done():
		fmt.Fprintf(conn, "* BYE server shutting down\r\n")
		return
	case <-t.C:
		r.res = &pb.HandoffResult{Reason: "backend did not answer in time"}
	}
	unavailable := func(reason string) {
		log.Warn("proxied login failed", "user", login.User, "reason", reason)
		fmt.Fprintf(conn, "%s NO [UNAVAILABLE] Backend unavailable, try again\r\n", login.Tag)
	}
	if !r.res.Ok || r.fd == nil {
		if r.fd != nil {
			r.fd.Close()
		}
		unavailable(r.res.Reason)
		return
	}
	bc, err := net.FileConn(r.fd)
	r.fd.Close()
	if err != nil {
		unavailable(err.Error())
		return
	}
	bconn, ok, err := w.backendLogin(bc, r.res)
	if err != nil {
		bc.Close()
		unavailable(err.Error())
		return
	}
	if len(login.Pending) > 0 {
		if _, err := bconn.Write(login.Pending); err != nil {
			bconn.Close()
			unavailable(err.Error())
			return
		}
	}
	if _, err := io.WriteString(conn, login.Tag+" "+ok); err != nil {
		bconn.Close()
		return
	}
	log.Info("relaying to backend", "user", login.User, "backend_tls", bconn != bc)
	relayConn(conn, bconn)
}

// backendLogin speaks the proxy's side of the login to a backend: the
// greeting, STARTTLS verified against the configured CA (RFC 9051 §6.2.1),
// ID with the client's address (RFC 2971), AUTHENTICATE PLAIN with the
// ticket (RFC 4616). It returns the connection to relay (the TLS one, if
// any) and the backend's tagged OK from "OK" on, to answer the client with.
func (w *worker) backendLogin(c net.Conn, r *pb.HandoffResult) (net.Conn, string, error) {
	c.SetDeadline(time.Now().Add(backendWait))
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "* OK") {
		return nil, "", fmt.Errorf("greeting %q: %v", strings.TrimSpace(line), err)
	}
	expect := func(tag string) (string, error) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			if rest, ok := strings.CutPrefix(line, tag+" "); ok {
				if !strings.HasPrefix(rest, "OK") {
					return "", fmt.Errorf("%s: %q", tag, strings.TrimSpace(rest))
				}
				return rest, nil
			}
		}
	}
	conn := c
	if len(w.setup.ProxyCaPem) > 0 {
		if _, err := io.WriteString(c, "S1 STARTTLS\r\n"); err != nil {
			return nil, "", err
		}
		if _, err := expect("S1"); err != nil {
			return nil, "", err
		}
		if br.Buffered() > 0 {
			return nil, "", errors.New("backend sent bytes after STARTTLS")
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(w.setup.ProxyCaPem)
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: r.BackendServerName, MinVersion: tls.VersionTLS12})
		if err := tc.Handshake(); err != nil {
			return nil, "", fmt.Errorf("TLS to the backend: %w", err)
		}
		conn, br = tc, bufio.NewReaderSize(tc, 4096)
	}
	if _, err := fmt.Fprintf(conn, "P1 ID %s\r\nP2 AUTHENTICATE PLAIN %s\r\n", r.BackendId, r.BackendLogin); err != nil {
		return nil, "", err
	}
	if _, err := expect("P1"); err != nil {
		return nil, "", err
	}
	ok, err := expect("P2")
	if err != nil {
		return nil, "", err
	}
	if br.Buffered() > 0 {
		return nil, "", errors.New("backend sent more than its login answer")
	}
	c.SetDeadline(time.Time{})
	return conn, ok, nil
}
