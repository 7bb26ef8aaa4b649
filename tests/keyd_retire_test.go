package tests

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// peerCert is the DER of the certificate the server presents.
func peerCert(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

func certDER(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	return block.Bytes
}

// Issue 16: a reload that replaces the certificate moves new handshakes to
// the new key at once; a session logged in over the old one goes on; keyd
// drops the old generation's keys once its last worker is gone (or its
// handshake grace is over: parent TestReloadRetiresOldKeys; a retired
// generation's handle signs nothing: authd/keyd TestSignRefusals).
func TestReloadRetiresOldCertificate(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	dir := t.TempDir()
	cert, key, _ := testCert(t, dir, "localhost")
	port2 := freePort(t)
	s := startTLSServer(t, fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% tls
listen on 127.0.0.1 port %d plain
tls certificate "%s" key "%s"
storage memory
auth pam
preauth workers 1
control socket "%%DIR%%/control.sock"
`, port2, cert, key))
	old := certDER(t, cert)
	if !bytes.Equal(peerCert(t, s.addr), old) {
		t.Fatal("the server does not present its certificate")
	}
	a := dialTLS(t, s.addr)
	a.C("a1 LOGIN alice alice-pw")
	a.S("a1 OK")

	// The same files, a new key.
	testCert(t, dir, "localhost")
	if out, err := imapctl(t, s, "", "reload"); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if got := peerCert(t, s.addr); bytes.Equal(got, old) || !bytes.Equal(got, certDER(t, cert)) {
		t.Error("after the reload a new handshake does not get the new certificate")
	}
	n := dialTLS(t, s.addr)
	n.C("n1 LOGIN alice alice-pw")
	n.S("n1 OK")
	a.C("a2 NOOP")
	a.S("a2 OK")
	if s.logged(`msg="keys retired" role=parent`) {
		t.Error("generation 1 retired while its worker relays a session")
	}
	a.C("a3 LOGOUT")
	a.S("a3 OK")
	if !s.logged(`msg="keys retired" role=parent pid=` + strconv.Itoa(s.cmd.Process.Pid) + ` generation=1 reason="its workers are gone"`) {
		t.Errorf("generation 1's keys not retired after its last worker left:\n%s", s.log.String())
	}
}
