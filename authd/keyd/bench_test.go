package keyd

import (
	"crypto/tls"
	"testing"
)

// BenchmarkHandshake compares a TLS 1.3 handshake whose server holds its
// key with one that signs through keyd over a socketpair (in-process: the
// IPC and the goroutine hops, not a second process's scheduling). Not
// measured on the shared development machine; run on a quiet one:
//
//	go test -run '^$' -bench Handshake -benchtime 2s ./authd/keyd/
func BenchmarkHandshake(b *testing.B) {
	cs := testCerts(b)
	r := newRig(b, 1e6, 1e6, cs)
	remote, _ := serverConfig(b, r, cs)
	for i, c := range cs {
		kp, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
		if err != nil {
			b.Fatal(err)
		}
		local := &tls.Config{Certificates: []tls.Certificate{kp}}
		viaKeyd := &tls.Config{Certificates: []tls.Certificate{remote.Certificates[i]}}
		for _, v := range []struct {
			name string
			conf *tls.Config
		}{{"local", local}, {"keyd", viaKeyd}} {
			b.Run(c.name+"/"+v.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := handshake(b, v.conf, c, tls.VersionTLS13); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
