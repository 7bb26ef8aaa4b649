package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTLSServer is a scripted implicit-TLS IMAP server holding one
// mailbox in memory: enough of LOGIN, SELECT, SEARCH LARGER, APPEND, FETCH
// BODY.PEEK[] and LOGOUT for imapbench tls.
type fakeTLSServer struct {
	ln     net.Listener
	mu     sync.Mutex
	msgs   [][]byte
	logins int
}

func newFakeTLSServer(t *testing.T, cert tls.Certificate) *fakeTLSServer {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeTLSServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *fakeTLSServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "* OK fake ready\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, cmd, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		f := strings.Fields(cmd)
		switch {
		case f[0] == "LOGIN":
			s.mu.Lock()
			s.logins++
			s.mu.Unlock()
			fmt.Fprintf(c, "%s OK LOGIN completed\r\n", tag)
		case f[0] == "SELECT":
			fmt.Fprintf(c, "* %d EXISTS\r\n%s OK SELECT completed\r\n", len(s.msgs), tag)
		case f[0] == "UID" && f[1] == "SEARCH":
			min, _ := strconv.Atoi(f[3])
			out := "* SEARCH"
			for i, m := range s.msgs {
				if len(m) > min {
					out += " " + strconv.Itoa(i+1)
				}
			}
			fmt.Fprintf(c, "%s\r\n%s OK SEARCH completed\r\n", out, tag)
		case f[0] == "APPEND":
			n, _ := strconv.Atoi(strings.Trim(f[len(f)-1], "{}"))
			fmt.Fprint(c, "+ go ahead\r\n")
			m := make([]byte, n)
			io.ReadFull(r, m)
			r.ReadString('\n')
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			fmt.Fprintf(c, "%s OK APPEND completed\r\n", tag)
		case f[0] == "UID" && f[1] == "FETCH":
			uid, _ := strconv.Atoi(f[2])
			m := s.msgs[uid-1]
			fmt.Fprintf(c, "* %d FETCH (UID %d BODY[] {%d}\r\n", uid, uid, len(m))
			c.Write(m)
			fmt.Fprintf(c, ")\r\n%s OK FETCH completed\r\n", tag)
		case f[0] == "LOGOUT":
			fmt.Fprintf(c, "* BYE bye\r\n%s OK LOGOUT completed\r\n", tag)
			return
		default:
			fmt.Fprintf(c, "%s BAD unknown\r\n", tag)
		}
	}
}

func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestTLSBenchAgainstFakes runs two rounds against two scripted servers:
// the large message is APPENDed once to each, every fetch returns it
// whole, and every login is counted.
func TestTLSBenchAgainstFakes(t *testing.T) {
	cert, pool := testCert(t)
	a, b := newFakeTLSServer(t, cert), newFakeTLSServer(t, cert)
	c := &tlsConfig{user: "u", pass: "p", rounds: 2, fetches: 2, logins: 6, concurrency: []int{1, 3},
		tlsConf: &tls.Config{ServerName: "localhost", RootCAs: pool, MinVersion: tls.VersionTLS12},
		servers: []*tlsServer{{name: "A", addr: a.ln.Addr().String()}, {name: "B", addr: b.ln.Addr().String()}}}
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	for i, f := range []*fakeTLSServer{a, b} {
		s := c.servers[i]
		if len(f.msgs) != 1 || len(f.msgs[0]) < 20e6 {
			t.Errorf("%s: %d messages appended", s.name, len(f.msgs))
		}
		if len(s.fetch) != 4 || len(s.rate[1]) != 2 || len(s.rate[3]) != 2 || len(s.lat) != 12 || s.errs != 0 {
			t.Errorf("%s: fetches %d, rates %v, latencies %d, errors %d", s.name, len(s.fetch), s.rate, len(s.lat), s.errs)
		}
		// 1 setup session + 2 rounds x 2 client counts x 6 logins
		if f.logins != 25 {
			t.Errorf("%s: %d logins, want 25", s.name, f.logins)
		}
		if !strings.HasPrefix(s.state, "TLS 1.3") {
			t.Errorf("%s: TLS state %q", s.name, s.state)
		}
	}
}
