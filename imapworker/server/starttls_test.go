package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// RFC 9051 §6.2.1: STARTTLS; cleartext bytes pipelined after it are
// discarded (CVE-2011-0411), capabilities change over TLS.
func TestStartTLS(t *testing.T) {
	cfg := testTLSConfig(t)
	ts := newTestServer(t, func(c *PreauthConfig) { c.StartTLS = cfg; c.Secure = false })
	c := ts.dial()
	c.S("* OK [CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED] IMAP4rev2 Service Ready")
	// The injected LOGIN must never run.
	c.raw("a1 STARTTLS\r\ninj LOGIN alice pw\r\n")
	c.S("a1 OK Begin TLS negotiation now")
	tc := tls.Client(c.nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.nc = tc
	c.br = bufio.NewReader(tc)
	c.expectDo("a2 CAPABILITY", "* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN", "a2 OK CAPABILITY completed")
	c.expectDo("a3 STARTTLS", "a3 BAD TLS already active")
	c.expectDo("a4 LOGIN alice pw", "~a4 OK \\[CAPABILITY .*\\] LOGIN completed")
	c.expectDo("a5 NOOP", "a5 OK NOOP completed")

	// Not offered without a config.
	ts2 := newTestServer(t)
	c2 := ts2.dial()
	c2.line()
	c2.expectDo("b1 STARTTLS", "b1 BAD STARTTLS not available")
}

// A handshake error gets a hint an admin can act on: Go's "bad record MAC"
// is most often a client that refused the certificate.
func TestHandshakeHint(t *testing.T) {
	for err, want := range map[string]string{
		"local error: tls: bad record MAC":                     "the client probably rejected the certificate",
		"remote error: tls: bad certificate":                   "the client probably rejected the certificate",
		"tls: first record does not look like a TLS handshake": "the client spoke cleartext to a TLS port",
		"tls: client offered only unsupported versions: [301]": "the client offers only old TLS versions or ciphers",
		"EOF":            "the client closed the connection during the handshake",
		"something else": "",
	} {
		if got := HandshakeHint(errors.New(err)); !strings.HasPrefix(got, want) || (want == "" && got != "") {
			t.Errorf("%q: hint %q, want %q", err, got, want)
		}
	}
}
