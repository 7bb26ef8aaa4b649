package keyd

import (
	"crypto/tls"
	"testing"
)

// BenchmarkHandshake compares TLS 1.3 and 1.2 handshakes whose server
// holds its key with the same handshakes signed through keyd over a
// socketpair, with the same certificate (ECDSA P-256, RSA 2048, Ed25519):
// in-process, so the IPC and the goroutine hops, not a second process's
// scheduling. Not measured on the shared development machine; run on a
// quiet one (tests/bench/handshake.sh prints the pairs side by side):
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
			for _, ver := range []struct {
				name string
				v    uint16
			}{{"tls13", tls.VersionTLS13}, {"tls12", tls.VersionTLS12}} {
				b.Run(c.name+"/"+ver.name+"/"+v.name, func(b *testing.B) {
					for b.Loop() {
						if _, err := handshake(b, v.conf, c, ver.v); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
