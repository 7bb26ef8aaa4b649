package preauth

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
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

// relayToBackend answers the client's login as the backend did and relays
// the session to the backend socket with the relay the TLS path uses (a
// proxied cleartext connection is relayed too: the worker opens no socket,
// it only copies between the two it was given).
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
	if !r.res.Ok || r.fd == nil {
		if r.fd != nil {
			r.fd.Close()
		}
		log.Warn("proxied login failed", "user", login.User, "reason", r.res.Reason)
		fmt.Fprintf(conn, "%s NO [UNAVAILABLE] Backend unavailable, try again\r\n", login.Tag)
		return
	}
	if _, err := conn.Write(r.res.LoginReply); err != nil {
		r.fd.Close()
		return
	}
	w.mu.Lock()
	c.relay = r.fd
	w.mu.Unlock()
	relay(conn, r.fd, log)
}
