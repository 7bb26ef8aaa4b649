package tests

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCert writes a self-signed certificate for localhost and 127.0.0.1
// into dir and returns the paths and the key's PEM bytes.
func testCert(t *testing.T, dir, name string) (certFile, keyFile string, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	return certFile, keyFile, keyPEM
}

// tlsServer starts a privileged server with an implicit-TLS listener on
// %PORT% and a STARTTLS one on the returned port; extra is appended to the
// configuration.
func tlsServer(t *testing.T, extra string) (s *server, starttlsAddr string, keyPEM []byte) {
	t.Helper()
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	ensureUser(t, "bob", "bob-pw")
	certDir := t.TempDir()
	cert, key, keyPEM := testCert(t, certDir, "localhost")
	port2 := freePort(t)
	conf := fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% tls
listen on 127.0.0.1 port %d starttls
tls certificate "%s" key "%s"
storage memory
auth pam
preauth workers 2
control socket "%%DIR%%/control.sock"
%s
`, port2, cert, key, extra)
	s = startTLSServer(t, conf)
	return s, "127.0.0.1:" + strconv.Itoa(port2), keyPEM
}

// startTLSServer is startServer for a server whose %PORT% speaks TLS.
func startTLSServer(t *testing.T, conf string) *server {
	t.Helper()
	s := startServerNoWait(t, conf)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "* OK") {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("imapd did not serve TLS within 10 s:\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialTLS(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"imap"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "imap" {
		t.Errorf("ALPN %q, want imap", p)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.greeting = c.S("* OK")[0]
	return c
}

// starttls upgrades c after a tagged OK to STARTTLS.
func (c *client) starttls() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// Issue 5, 1: implicit TLS and STARTTLS with Go's client; capabilities are
// re-announced only over TLS, STARTTLS is refused once TLS is active.
func TestTLSLogin(t *testing.T) {
	s, starttlsAddr, _ := tlsServer(t, "plaintext auth deny")
	c := dialTLS(t, s.addr)
	c.C("a1 CAPABILITY")
	caps := strings.Join(c.S("a1 OK"), "\n")
	if strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("implicit TLS capabilities: %s", caps)
	}
	c.C("a2 LOGIN alice alice-pw")
	c.S("a2 OK")
	c.C("a3 SELECT INBOX")
	c.S("a3 OK")
	c.C("a4 LOGOUT")
	c.S("a4 OK")

	p := dial(t, starttlsAddr)
	p.C("b1 CAPABILITY")
	caps = strings.Join(p.S("b1 OK"), "\n")
	if !strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("cleartext capabilities lack STARTTLS or LOGINDISABLED: %s", caps)
	}
	p.C("b2 LOGIN alice alice-pw")
	if l := p.S("b2 "); !strings.HasPrefix(l[len(l)-1], "b2 NO [PRIVACYREQUIRED]") {
		t.Errorf("cleartext LOGIN with plaintext auth deny: %q", l)
	}
	// Issue 17: the refusal is logged, with the user it was for.
	if !s.logged(`msg="cleartext login refused" `) || !s.logged(`code=PRIVACYREQUIRED user=alice`) {
		t.Errorf("no log line for the PRIVACYREQUIRED refusal:\n%s", s.log.String())
	}
	p.C("b3 STARTTLS")
	p.S("b3 OK")
	p.starttls()
	p.C("b4 CAPABILITY")
	caps = strings.Join(p.S("b4 OK"), "\n")
	if strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "LOGINDISABLED") {
		t.Errorf("capabilities after STARTTLS: %s", caps)
	}
	p.C("b5 STARTTLS")
	if l := p.S("b5 "); !strings.HasPrefix(l[len(l)-1], "b5 BAD") && !strings.HasPrefix(l[len(l)-1], "b5 NO") {
		t.Errorf("second STARTTLS: %q", l)
	}
	p.C("b6 LOGIN bob bob-pw")
	p.S("b6 OK")
	p.C("b7 NOOP")
	p.S("b7 OK")
}

// Issue 5, 2: commands pipelined after STARTTLS are never executed, neither
// in cleartext nor inside TLS (the CVE-2011-0411 class).
func TestSTARTTLSInjection(t *testing.T) {
	_, starttlsAddr, _ := tlsServer(t, "")
	c := dial(t, starttlsAddr)
	c.raw("a STARTTLS\r\nb CAPABILITY\r\n")
	lines := c.S("a ")
	if !strings.HasPrefix(lines[len(lines)-1], "a OK") {
		t.Fatalf("STARTTLS: %q", lines)
	}
	if c.r.Buffered() > 0 {
		rest, _ := c.r.Peek(c.r.Buffered())
		t.Fatalf("cleartext bytes after the STARTTLS OK: %q", rest)
	}
	c.starttls()
	c.C("c NOOP")
	for _, l := range c.S("c ") {
		if strings.HasPrefix(l, "b ") || strings.Contains(l, "CAPABILITY") && strings.HasPrefix(l, "* ") {
			t.Errorf("injected command answered inside TLS: %q", l)
		}
	}
}

// Issue 5, 1: openssl s_client, implicit and -starttls imap.
func TestOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: " + "openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	s, starttlsAddr, _ := tlsServer(t, "")
	for _, args := range [][]string{
		{"s_client", "-connect", s.addr, "-quiet", "-servername", "localhost"},
		{"s_client", "-connect", starttlsAddr, "-starttls", "imap", "-quiet", "-servername", "localhost"},
	} {
		cmd := exec.Command("openssl", args...)
		// s_client sends what it reads; the sleep lets LOGOUT's answer arrive.
		cmd.Stdin = &slowReader{lines: []string{"a1 LOGIN alice alice-pw\r\n", "a2 SELECT INBOX\r\n", "a3 LOGOUT\r\n"}}
		out, _ := cmd.CombinedOutput()
		for _, want := range []string{"a1 OK", "a2 OK [READ-WRITE]", "* BYE", "a3 OK LOGOUT completed"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("openssl %v: no %q in\n%s", args, want, out)
			}
		}
	}
}

// slowReader hands out one line at a time with a pause, like a person at a
// terminal, so s_client has the server's answers before stdin ends.
type slowReader struct{ lines []string }

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.lines) == 0 {
		time.Sleep(500 * time.Millisecond)
		return 0, os.ErrClosed
	}
	time.Sleep(300 * time.Millisecond)
	n := copy(p, r.lines[0])
	r.lines = r.lines[1:]
	return n, nil
}

// Issue 5, 3: a 20 MB message appended and fetched over TLS is byte-exact.
func TestLargeMessageOverTLS(t *testing.T) {
	s, _, _ := tlsServer(t, "")
	msg := bigMessage(20 << 20)
	c := dialTLS(t, s.addr)
	c.C("a1 LOGIN alice alice-pw")
	c.S("a1 OK")
	c.C(fmt.Sprintf("a2 APPEND INBOX {%d}", len(msg)))
	c.S("+")
	c.raw(string(msg) + "\r\n")
	c.S("a2 OK")
	c.C("a3 SELECT INBOX")
	c.S("a3 OK")
	c.C("a4 FETCH 1 BODY.PEEK[]")
	head, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("* 1 FETCH (BODY[] {%d}\r\n", len(msg))
	if head != want {
		t.Fatalf("FETCH header %q, want %q", head, want)
	}
	got := make([]byte, len(msg))
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c.r, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("20 MB message differs after the round trip over TLS")
	}
	c.S("a4 OK")
}

// bigMessage builds a message of about n bytes of base64-like text.
func bigMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n")
	line := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGH\r\n")
	for i := 0; b.Len() < n; i++ {
		line[i%70] = byte('A' + i%26)
		b.Write(line)
	}
	return b.Bytes()
}

// Issue 5, 4: with alice and bob logged in over TLS, the preauth workers
// still run as _imapd in the chroot, and the mailbox workers never held the
// private key. The test reads every writable and anonymous mapping of each
// mailbox worker through /proc/PID/mem and looks for the key's PEM body and
// its DER bytes; as a control, the same scan must find the key in the
// parent, which keeps it for reloads.
func TestMailboxWorkersNeverHoldTheKey(t *testing.T) {
	s, _, keyPEM := tlsServer(t, "")
	for _, u := range []string{"alice", "bob"} {
		c := dialTLS(t, s.addr)
		c.C("a1 LOGIN " + u + " " + u + "-pw")
		c.S("a1 OK")
		c.C("a2 SELECT INBOX")
		c.S("a2 OK")
	}
	block, _ := pem.Decode(keyPEM)
	pemBody := strings.Join(strings.Split(string(keyPEM), "\n")[1:3], "\n")
	needles := [][]byte{[]byte(pemBody), block.Bytes}
	kids := children(t, s.cmd.Process.Pid)
	for _, p := range byTitle(kids, "imapd: preauth") {
		if p.root != "/var/empty" || p.threads[0]["Uid"] == ids("0") {
			t.Errorf("preauth %d: root %q Uid %q", p.pid, p.root, p.threads[0]["Uid"])
		}
	}
	if !memContains(t, s.cmd.Process.Pid, needles) {
		t.Fatal("control failed: the key was not found in the parent's memory, so the scan proves nothing")
	}
	mbs := byTitle(kids, "imapd: mailbox")
	if len(mbs) != 2 {
		t.Fatalf("%d mailbox workers, want 2", len(mbs))
	}
	for _, p := range mbs {
		if memContains(t, p.pid, needles) {
			t.Errorf("mailbox worker %d (%s) holds the private key", p.pid, p.cmdline)
		}
	}
}

// memContains reports whether any readable mapping of pid holds one of
// needles.
func memContains(t *testing.T, pid int, needles [][]byte) bool {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "r") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		if end-start > 1<<30 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		for _, nd := range needles {
			if bytes.Contains(buf[:n], nd) {
				return true
			}
		}
	}
	return false
}

// Issue 5: several certificates, chosen by SNI.
func TestTLSCertificateBySNI(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	dir := t.TempDir()
	c1, k1, _ := testCert(t, dir, "localhost")
	c2, k2, _ := testCert(t, dir, "mail.example.org")
	s := startTLSServer(t, fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% tls
tls certificate "%s" key "%s"
tls certificate "%s" key "%s"
storage memory
auth pam
preauth workers 1
control socket "%%DIR%%/control.sock"
`, c1, k1, c2, k2))
	for _, name := range []string{"localhost", "mail.example.org"} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.addr,
			&tls.Config{InsecureSkipVerify: true, ServerName: name})
		if err != nil {
			t.Fatal(err)
		}
		if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != name {
			t.Errorf("SNI %q got the certificate of %q", name, cn)
		}
		conn.Close()
	}
}

// Issue 14, must-show 2 and correction 8: openssl s_client connecting the
// moment the TLS listener exists (the first connection imapd accepts,
// while its pre-auth workers may still be starting) completes its
// handshake and is greeted; imapd never writes cleartext on a TLS port.
func TestOpenSSLRightAfterStart(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run this test: openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	requireRoot(t)
	ensureSystemSetup(t)
	cert, key, _ := testCert(t, t.TempDir(), "localhost")
	s := startServerNoWait(t, fmt.Sprintf(`
listen on 127.0.0.1 port %%PORT%% tls
tls certificate "%s" key "%s"
storage memory
auth pam
preauth workers 2
`, cert, key))
	start := time.Now() // imapd was started just now
	for try := 0; ; try++ {
		began := time.Since(start)
		cmd := exec.Command("openssl", "s_client", "-connect", s.addr, "-quiet", "-servername", "localhost")
		cmd.Stdin = &slowReader{lines: []string{"a1 LOGOUT\r\n"}}
		out, _ := cmd.CombinedOutput()
		if bytes.Contains(out, []byte("Connection refused")) && time.Since(start) < 10*time.Second {
			continue // the listener is not there yet
		}
		t.Logf("connected %v after start (try %d), served in %v", began.Round(time.Millisecond), try+1, (time.Since(start) - began).Round(time.Millisecond))
		for _, want := range []string{"* OK", "* BYE", "a1 OK LOGOUT completed"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("openssl s_client: no %q in\n%s", want, out)
			}
		}
		break
	}
}
