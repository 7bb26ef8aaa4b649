package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keyNeedles are what of an ECDSA key in PEM a process's memory may hold:
// the PEM body, the DER, and the private scalar big-endian (as crypto/ecdsa
// keeps it for signing) and little-endian (as a big.Int's words lie on a
// little-endian machine).
func keyNeedles(t *testing.T, keyPEM []byte) [][]byte {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.(*ecdsa.PrivateKey).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	le := slices.Clone(d)
	slices.Reverse(le)
	pemBody := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "\n")
	return [][]byte{[]byte(pemBody), block.Bytes, d, le}
}

// Issue 16, 1: with alice logged in over TLS and bob over STARTTLS (so the
// preauth workers have signed handshakes and relay both sessions), no
// preauth worker's memory holds the private key in any form; as the
// control, the same scan finds it in keyd, which holds it to sign.
func TestPreauthWorkersNeverHoldTheKey(t *testing.T) {
	s, starttls, keyPEM := tlsServer(t, "")
	c := dialTLS(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	b := dial(t, starttls)
	b.C("b1 STARTTLS")
	b.S("b1 OK")
	b.starttls()
	b.C("b2 LOGIN bob bob-pw")
	b.S("b2 OK")
	needles := keyNeedles(t, keyPEM)
	kids := children(t, s.cmd.Process.Pid)
	keyds := byTitle(kids, "imapd: keyd")
	if len(keyds) != 1 {
		t.Fatalf("%d keyd processes, want 1", len(keyds))
	}
	if !memContains(t, keyds[0].pid, needles) {
		t.Fatal("control failed: the key was not found in keyd's memory, so the scan proves nothing")
	}
	workers := byTitle(kids, "imapd: preauth")
	if len(workers) != 2 {
		t.Fatalf("%d preauth workers, want 2", len(workers))
	}
	for _, p := range workers {
		if memContains(t, p.pid, needles) {
			t.Errorf("preauth worker %d holds the private key", p.pid)
		}
	}
	if st := keyds[0].threads[0]; st["NoNewPrivs"] != "1" || st["Seccomp"] != "2" || st["Uid"] == ids("0") {
		t.Errorf("keyd: NoNewPrivs %q Seccomp %q Uid %q", st["NoNewPrivs"], st["Seccomp"], st["Uid"])
	}
	c.C("a2 NOOP")
	c.S("a2 OK")
}

// Issue 16: kill -9 of keyd: handshakes fail cleanly for a moment, the
// parent starts a new keyd, handshakes work again; a logged-in TLS session
// (relayed by its preauth worker, no key needed) goes on throughout.
func TestKeydKilled(t *testing.T) {
	s, _, _ := tlsServer(t, "")
	c := dialTLS(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	keyds := byTitle(children(t, s.cmd.Process.Pid), "imapd: keyd")
	if len(keyds) != 1 {
		t.Fatalf("%d keyd processes, want 1", len(keyds))
	}
	old := keyds[0].pid
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ks := byTitle(children(t, s.cmd.Process.Pid), "imapd: keyd"); len(ks) == 1 && ks[0].pid != old {
			if conn, err := tlsDialOnce(s.addr); err == nil {
				conn.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handshake 15 s after keyd was killed:\n%s", s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.C("a2 NOOP")
	c.S("a2 OK")
	n := dialTLS(t, s.addr)
	n.C("n1 LOGIN bob bob-pw")
	n.S("n1 OK")
}

// tlsDialOnce completes one handshake with the server and reads its
// greeting, or says why not.
func tlsDialOnce(addr string) (*tls.Conn, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		conn.Close()
		return nil, fmt.Errorf("greeting %q: %v", line, err)
	}
	return conn, nil
}
