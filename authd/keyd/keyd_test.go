package keyd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imapd/ipc"
	pb "imapd/proto"
)

// testCert is a self-signed certificate and its key, as PEM.
type testCert struct {
	name            string
	certPEM, keyPEM []byte
	leaf            *x509.Certificate
}

var (
	certsOnce sync.Once
	certs     map[string]testCert
)

// makeCert makes a self-signed certificate for name, padded with extra
// names (alias-N.name) to make it bigger.
func makeCert(t testing.TB, name string, key crypto.Signer, extra int) testCert {
	names := []string{name}
	for i := range extra {
		names = append(names, fmt.Sprintf("alias-%03d-padding-padding-padding.%s", i, name))
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return testCert{name: name, leaf: leaf,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})}
}

// testCerts returns one certificate per key type, made once per run.
func testCerts(t testing.TB) []testCert {
	certsOnce.Do(func() {
		ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		certs = map[string]testCert{
			"ecdsa":   makeCert(t, "ecdsa.test", ec, 0),
			"rsa":     makeCert(t, "rsa.test", rk, 0),
			"ed25519": makeCert(t, "ed25519.test", ed, 0),
		}
	})
	return []testCert{certs["ecdsa"], certs["rsa"], certs["ed25519"]}
}

// rig is a keyd served over its parent channel, as the parent drives it,
// with one preauth worker's client.
type rig struct {
	srv    *Server
	parent *channel
	client *Client
	done   chan error
}

func newRig(t testing.TB, rate, burst uint32, cs []testCert) *rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(log, rate, burst)
	ours, theirs, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := newChannel(theirs, "parent")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := newChannel(ours, "keyd")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{srv: srv, parent: pc, client: NewClient(log), done: make(chan error, 1)}
	go func() { r.done <- srv.ServeParent(kc) }()
	t.Cleanup(func() {
		pc.Close()
		if err := <-r.done; err != nil {
			t.Errorf("keyd: %v", err)
		}
		r.client.Close()
	})
	if rep := r.load(t, 1, cs); rep.Error != "" {
		t.Fatalf("generation 1 refused: %s", rep.Error)
	}
	r.connect(t, 7, 1)
	return r
}

// load sends a generation's keys one message each, as the parent does.
func (r *rig) load(t testing.TB, gen uint32, cs []testCert) *pb.KeydReady {
	t.Helper()
	for i, c := range cs {
		k := &pb.KeydKey{Generation: gen, Index: uint32(i), CertPem: c.certPEM, KeyPem: bytes.Clone(c.keyPEM)}
		if err := r.parent.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Key{Key: k}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	done := &pb.KeydKeysDone{Generation: gen, Count: uint32(len(cs))}
	if err := r.parent.Send(&pb.KeydMessage{Id: 99, Body: &pb.KeydMessage_KeysDone{KeysDone: done}}, nil); err != nil {
		t.Fatal(err)
	}
	m, _, err := r.parent.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.Id != 99 || m.GetReady() == nil {
		t.Fatalf("keys_done answered with %v", m)
	}
	return m.GetReady()
}

// connect gives keyd one end of a new worker channel and the client the other.
func (r *rig) connect(t testing.TB, worker, gen uint32) {
	t.Helper()
	a, b, err := ipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := &pb.KeydWorker{WorkerId: worker, Generation: gen}
	if err := r.parent.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Worker{Worker: w}}, b); err != nil {
		t.Fatal(err)
	}
	if err := r.client.Replace(a); err != nil {
		t.Fatal(err)
	}
}

// recorder notes the options of each signature the handshake asks for.
type recorder struct {
	crypto.Signer
	mu   sync.Mutex
	opts []crypto.SignerOpts
}

func (r *recorder) Sign(rnd io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.mu.Lock()
	r.opts = append(r.opts, opts)
	r.mu.Unlock()
	return r.Signer.Sign(rnd, digest, opts)
}

func serverConfig(t testing.TB, r *rig, cs []testCert) (*tls.Config, []*recorder) {
	t.Helper()
	tcs, err := r.client.Certificates(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(tcs) != len(cs) {
		t.Fatalf("%d certificates from keyd, want %d", len(tcs), len(cs))
	}
	var recs []*recorder
	for i := range tcs {
		if _, ok := tcs[i].PrivateKey.(*remoteSigner); !ok {
			t.Fatalf("certificate %d holds a %T, not a remote signer", i, tcs[i].PrivateKey)
		}
		rec := &recorder{Signer: tcs[i].PrivateKey.(crypto.Signer)}
		tcs[i].PrivateKey = rec
		recs = append(recs, rec)
	}
	return &tls.Config{Certificates: tcs, MinVersion: tls.VersionTLS12}, recs
}

// handshake runs a Go client against a Go server over a socketpair.
func handshake(t testing.TB, srv *tls.Config, c testCert, version uint16) (tls.ConnectionState, error) {
	t.Helper()
	a, b, err := ipc.StreamSocketpair()
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := net.FileConn(a)
	cc, _ := net.FileConn(b)
	a.Close()
	b.Close()
	defer sc.Close()
	defer cc.Close()
	roots := x509.NewCertPool()
	roots.AddCert(c.leaf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	serr := make(chan error, 1)
	go func() {
		s := tls.Server(sc, srv)
		serr <- s.HandshakeContext(ctx)
	}()
	cl := tls.Client(cc, &tls.Config{ServerName: c.name, RootCAs: roots, MinVersion: version, MaxVersion: version})
	cerr := cl.HandshakeContext(ctx)
	if cerr != nil {
		sc.Close()
	}
	if err := <-serr; err != nil {
		// The server's error says why (keyd's answer); the client's is
		// only the alert.
		return tls.ConnectionState{}, err
	}
	return cl.ConnectionState(), cerr
}

// TestHandshakesThroughKeyd: TLS 1.2 and 1.3 handshakes with ECDSA, RSA
// (PSS, and PKCS #1 v1.5 where TLS 1.2 asks for it) and Ed25519 keys, the
// server holding remote signers only; each signature is made by keyd.
func TestHandshakesThroughKeyd(t *testing.T) {
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	cases := []struct {
		cert    int
		version uint16
		pkcs1   bool // restrict the certificate to PKCS #1 v1.5
		wantPSS bool
	}{
		{0, tls.VersionTLS13, false, false},
		{0, tls.VersionTLS12, false, false},
		{1, tls.VersionTLS13, false, true},
		{1, tls.VersionTLS12, false, true},
		{1, tls.VersionTLS12, true, false},
		{2, tls.VersionTLS13, false, false},
		{2, tls.VersionTLS12, false, false},
	}
	for _, tc := range cases {
		c := cs[tc.cert]
		name := c.name + " " + tls.VersionName(tc.version)
		if tc.pkcs1 {
			name += " pkcs1"
		}
		t.Run(name, func(t *testing.T) {
			conf, recs := serverConfig(t, r, cs)
			if tc.pkcs1 {
				conf.Certificates[tc.cert].SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.PKCS1WithSHA256}
			}
			before := r.srv.Signed(7)
			st, err := handshake(t, conf, c, tc.version)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tc.version || st.PeerCertificates[0].Subject.CommonName != c.name {
				t.Fatalf("got %s with %s", tls.VersionName(st.Version), st.PeerCertificates[0].Subject.CommonName)
			}
			if got := r.srv.Signed(7) - before; got != 1 {
				t.Fatalf("keyd made %d signatures for the handshake, want 1", got)
			}
			rec := recs[tc.cert]
			if len(rec.opts) != 1 {
				t.Fatalf("certificate asked for %d signatures", len(rec.opts))
			}
			if _, pss := rec.opts[0].(*rsa.PSSOptions); pss != tc.wantPSS {
				t.Fatalf("signature options %#v, want PSS %v", rec.opts[0], tc.wantPSS)
			}
		})
	}
}

// TestOpenSSLClientThroughKeyd: openssl s_client completes TLS 1.2 with
// RSA PKCS #1 v1.5 and TLS 1.3 with Ed25519 and ECDSA against the server.
func TestOpenSSLClientThroughKeyd(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not installed, and CI=true: this test must not be skipped")
		}
		t.Skip("no openssl")
	}
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	conf, _ := serverConfig(t, r, cs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, conf)
				if tc.Handshake() == nil {
					tc.Write([]byte("* OK hello\r\n"))
				}
				tc.Close()
			}()
		}
	}()
	for _, tc := range []struct {
		cert  int
		flags []string
		want  string
	}{
		{1, []string{"-tls1_2", "-sigalgs", "RSA+SHA256"}, "Signature type: RSA\n"},
		{1, []string{"-tls1_3"}, "Signature type: RSA-PSS"},
		{2, []string{"-tls1_3"}, "Signature type: ed25519"},
		{0, []string{"-tls1_2"}, "Signature type: ECDSA"},
	} {
		c := cs[tc.cert]
		ca := filepath.Join(t.TempDir(), "ca.pem")
		os.WriteFile(ca, c.certPEM, 0o644)
		args := append([]string{"s_client", "-connect", ln.Addr().String(), "-servername", c.name,
			"-CAfile", ca, "-verify_return_error", "-brief"}, tc.flags...)
		cmd := exec.Command("openssl", args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") || !strings.Contains(string(out), tc.want) {
			t.Errorf("openssl %v: %v\n%s", tc.flags, err, out)
		}
	}
}

func signReq(r *rig, index uint32, digest []byte, h pb.SignHash, pss bool) error {
	_, err := r.client.call(&pb.SignRequest{KeyIndex: index, Digest: digest, Hash: h, Pss: pss})
	return err
}

// TestSignRefusals: keyd signs only with the keys of the worker's own
// generation and only what a handshake asks for.
func TestSignRefusals(t *testing.T) {
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	d := sha256.Sum256([]byte("x"))
	if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err != nil {
		t.Fatalf("a good request was refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		index  uint32
		digest []byte
		hash   pb.SignHash
		pss    bool
	}{
		{"a certificate the worker was not given", 3, d[:], pb.SignHash_SIGN_HASH_SHA256, false},
		{"a digest of the wrong length", 0, d[:20], pb.SignHash_SIGN_HASH_SHA256, false},
		{"ECDSA without a hash", 0, d[:], pb.SignHash_SIGN_HASH_NONE, false},
		{"PSS with an ECDSA key", 0, d[:], pb.SignHash_SIGN_HASH_SHA256, true},
		{"Ed25519 with a hash", 2, d[:], pb.SignHash_SIGN_HASH_SHA256, false},
		{"Ed25519 with a long message", 2, make([]byte, 2000), pb.SignHash_SIGN_HASH_NONE, false},
		{"an unknown hash", 1, d[:], pb.SignHash(42), false},
	} {
		if err := signReq(r, tc.index, tc.digest, tc.hash, tc.pss); err == nil {
			t.Errorf("%s: signed", tc.name)
		}
	}

	// A worker of generation 2 cannot use generation 1's keys, and once
	// generation 1 is retired its workers get nothing.
	if rep := r.load(t, 2, cs[:1]); rep.Error != "" {
		t.Fatal(rep.Error)
	}
	r.connect(t, 8, 2)
	if err := signReq(r, 1, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err == nil {
		t.Error("a worker of generation 2 signed with generation 1's second key")
	}
	if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err != nil {
		t.Errorf("generation 2: %v", err)
	}
	r.parent.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Retire{Retire: &pb.KeydRetire{Generation: 2}}}, nil)
	deadline := time.Now().Add(5 * time.Second)
	for signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false) == nil {
		if time.Now().After(deadline) {
			t.Fatal("a retired generation still signs")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeyMismatchRefused: a key that is not its certificate's fails the
// generation, and keyd says so.
func TestKeyMismatchRefused(t *testing.T) {
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	bad := testCert{name: "bad", certPEM: cs[0].certPEM, keyPEM: cs[1].keyPEM}
	if rep := r.load(t, 2, []testCert{bad}); !strings.Contains(rep.Error, "certificate 0 of generation 2") {
		t.Fatalf("mismatched pair: %q", rep.Error)
	}
}

// TestRateLimit: past its burst a worker's requests are refused until the
// bucket refills.
func TestRateLimit(t *testing.T) {
	cs := testCerts(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(log, 1, 3)
	clock := time.Unix(1000, 0)
	var clockMu sync.Mutex
	srv.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	for i, c := range cs {
		if err := srv.addKey(&pb.KeydKey{Generation: 1, Index: uint32(i), CertPem: c.certPEM, KeyPem: bytes.Clone(c.keyPEM)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.keysDone(&pb.KeydKeysDone{Generation: 1, Count: 3}); err != nil {
		t.Fatal(err)
	}
	a, b, _ := ipc.Socketpair()
	srv.AddWorker(b, 1, 1)
	defer srv.closeWorkers()
	cl := NewClient(log)
	defer cl.Close()
	cl.Replace(a)
	r := &rig{srv: srv, client: cl}
	d := sha256.Sum256([]byte("x"))
	for i := range 3 {
		if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err == nil || !strings.Contains(err.Error(), "rate limited") {
		t.Fatalf("request past the burst: %v", err)
	}
	clockMu.Lock()
	clock = clock.Add(time.Second)
	clockMu.Unlock()
	if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err != nil {
		t.Fatalf("after a second: %v", err)
	}
}

// TestHostileWorkerDropped: a worker that sends anything but a signing
// request loses its channel; keyd and other workers go on.
func TestHostileWorkerDropped(t *testing.T) {
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	a, b, _ := ipc.Socketpair()
	r.srv.AddWorker(b, 9, 1)
	evil, _ := newChannel(a, "keyd")
	defer evil.Close()
	evil.Send(&pb.KeydMessage{Body: &pb.KeydMessage_Key{Key: &pb.KeydKey{Generation: 1, Index: 3, CertPem: cs[0].certPEM, KeyPem: cs[0].keyPEM}}}, nil)
	for {
		m, _, err := evil.Recv()
		if errors.Is(err, ipc.ErrClosed) {
			break
		}
		if err != nil || (m.GetCert() == nil && m.GetCertsDone() == nil) {
			t.Fatalf("hostile worker: %v %v, want its certificates and then its channel closed", m, err)
		}
	}
	d := sha256.Sum256([]byte("x"))
	if err := signReq(r, 0, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err != nil {
		t.Fatalf("the other worker: %v", err)
	}
	if err := signReq(r, 3, d[:], pb.SignHash_SIGN_HASH_SHA256, false); err == nil {
		t.Fatal("the hostile worker's key was added")
	}
}

// TestKeydGoneAndBack: with keyd's end closed (keyd killed), a handshake
// fails at once rather than hang; a new channel (keyd restarted) serves.
func TestKeydGoneAndBack(t *testing.T) {
	cs := testCerts(t)
	r := newRig(t, 0, 0, cs)
	conf, _ := serverConfig(t, r, cs)
	if _, err := handshake(t, conf, cs[0], tls.VersionTLS13); err != nil {
		t.Fatal(err) // and keyd has the worker's channel
	}
	r.srv.dropWorkers() // as if keyd died: every worker channel is closed
	start := time.Now()
	if _, err := handshake(t, conf, cs[0], tls.VersionTLS13); err == nil {
		t.Fatal("handshake succeeded without keyd")
	}
	if d := time.Since(start); d > signWait {
		t.Fatalf("failing took %v", d)
	}
	r.connect(t, 7, 1)
	if _, err := handshake(t, conf, cs[0], tls.VersionTLS13); err != nil {
		t.Fatalf("after the new channel: %v", err)
	}
}

// TestManyCertificatesBySNI: 50 certificates of about 4 KiB each, 200 KiB
// in all (three times a datagram's cap), reach keyd and the worker one
// per message, and SNI picks each one's key.
func TestManyCertificatesBySNI(t *testing.T) {
	var cs []testCert
	total := 0
	for i := range 50 {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		name := fmt.Sprintf("host%02d.test", i)
		c := makeCert(t, name, key, 60)
		total += len(c.certPEM)
		cs = append(cs, c)
	}
	if total < 50*4000 {
		t.Fatalf("certificates of %d bytes in all, want 50 of 4 KiB", total)
	}
	r := newRig(t, 0, 0, cs)
	conf, _ := serverConfig(t, r, cs)
	for _, i := range []int{0, 17, 49} {
		st, err := handshake(t, conf, cs[i], tls.VersionTLS13)
		if err != nil {
			t.Fatalf("%s: %v", cs[i].name, err)
		}
		if got := st.PeerCertificates[0].Subject.CommonName; got != cs[i].name {
			t.Fatalf("SNI %s got %s", cs[i].name, got)
		}
	}
}
