package preauth

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
)

// relayBuffer bounds what one direction of a relay holds at a time; a slow
// reader stops the copy (back-pressure) rather than growing a buffer.
const relayBuffer = 32 << 10

// relay copies between the client's TLS connection and the mailbox worker's
// end of the socketpair (or, on a proxy, the backend's socket). The client finishing its side is passed on as a
// half-close, so the worker still sends its last responses; the worker
// closing its end ends the session: close_notify, then close.
func relay(client net.Conn, worker *os.File, log *slog.Logger) {
	wconn, err := net.FileConn(worker)
	worker.Close()
	if err != nil {
		log.Error("relay", "err", err)
		client.Close()
		return
	}
	relayConn(client, wconn)
}

// relayConn is relay over a connection already made (a proxy's backend,
// perhaps TLS).
func relayConn(client, wconn net.Conn) {
	go func() {
		io.CopyBuffer(wconn, client, make([]byte, relayBuffer))
		if cw, ok := wconn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	io.CopyBuffer(client, wconn, make([]byte, relayBuffer))
	if tc, ok := client.(*tls.Conn); ok {
		tc.CloseWrite()
	}
	if tc, ok := wconn.(*tls.Conn); ok {
		tc.CloseWrite()
	}
	client.Close()
	wconn.Close()
}
