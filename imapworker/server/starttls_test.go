package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
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
