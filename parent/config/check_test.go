package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	return writeCertUntil(t, dir, name, time.Unix(4e9, 0))
}

func writeCertUntil(t *testing.T, dir, name string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Unix(0, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	crt, key := writeCert(t, dir, "a.example")
	_, key2 := writeCert(t, dir, "b.example")
	passwd := filepath.Join(dir, "passwd")
	os.WriteFile(passwd, nil, 0o644) // authd reads it as the preauth user
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)

	good := mustParse(t, `listen on 127.0.0.1 port 10993 tls
tls certificate "`+crt+`" key "`+key+`"
auth passwd-file "`+passwd+`"
storage maildir "`+dir+`"
preauth chroot "`+dir+`"
preauth user "nobody"
control socket "/tmp/x.sock" group "root"
`)
	if err := good.Check(); err != nil {
		t.Errorf("Check of a good configuration: %v", err)
	}
	if gid, err := good.ControlGID(); err != nil || gid != 0 {
		t.Errorf("ControlGID(root) = %d, %v", gid, err)
	}
	if gid, err := mustParse(t, "").ControlGID(); err != nil || gid != -1 {
		t.Errorf("ControlGID without group = %d, %v", gid, err)
	}

	bad := mustParse(t, `listen on 127.0.0.1 port 10993 tls
tls certificate "`+crt+`" key "`+key2+`"
tls certificate "`+dir+`/none.crt" key "`+key+`"
auth passwd-file "`+dir+`/none"
storage maildir "`+passwd+`"
preauth chroot "`+passwd+`"
preauth user "no-such-user-here"
control socket "/tmp/x.sock" group "no-such-group-here"
`)
	err := bad.Check()
	if err == nil {
		t.Fatal("Check of a bad configuration passed")
	}
	want := []string{
		"private key does not match public key",
		"none.crt",
		"auth passwd-file",
		"not a directory",
		"control socket group",
	}
	if os.Geteuid() == 0 {
		want = append(want, "preauth chroot", "preauth user")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Check error lacks %q:\n%v", w, err)
		}
	}
	// Certificate errors name the statement's line; every other line names
	// the file.
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], "test.conf:2: tls certificate ") || !strings.HasPrefix(lines[1], "test.conf:3: tls certificate ") {
		t.Errorf("certificate errors without file:line:\n%v", err)
	}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "test.conf: ") {
			t.Errorf("Check error does not name the file: %q", l)
		}
	}

	// Certificates from --cert and --key are named by the flags.
	bad.Certs = []Cert{{CertFile: dir + "/none.crt", KeyFile: key}}
	if err := bad.Check(); err == nil || !strings.HasPrefix(err.Error(), `test.conf: --cert "`+dir+`/none.crt" --key "`) {
		t.Errorf("Check of a missing --cert: %v", err)
	}
}

// TestCertWarnings: imapd -n names, by file and line, each certificate that
// has expired or expires within 30 days, and no other (issue 16).
func TestCertWarnings(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good, goodKey := writeCertUntil(t, dir, "good.example", now.Add(90*24*time.Hour))
	soon, soonKey := writeCertUntil(t, dir, "soon.example", now.Add(10*24*time.Hour+time.Hour))
	old, oldKey := writeCertUntil(t, dir, "old.example", now.Add(-time.Hour))
	file := filepath.Join(dir, "imapd.conf")
	os.WriteFile(file, []byte(`listen on 127.0.0.1 port 10993 tls
# three certificates
tls certificate "`+good+`" key "`+goodKey+`"
tls certificate "`+soon+`" key "`+soonKey+`"

tls certificate "`+old+`" \
    key "`+oldKey+`"
`), 0o644)
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	got := c.CertWarnings(now)
	want := []string{
		fmt.Sprintf("%s:4: tls certificate %q expires on ", file, soon),
		fmt.Sprintf("%s:6: tls certificate %q expired on ", file, old),
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %q, want %q...", got[i], want[i])
		}
	}
	if !strings.HasSuffix(got[0], "in 10 days") {
		t.Errorf("warning %q does not say how soon", got[0])
	}
	// Certificates from flags have no line to name.
	f := Default()
	f.Certs = []Cert{{CertFile: old, KeyFile: oldKey}}
	if w := f.CertWarnings(now); len(w) != 1 || !strings.HasPrefix(w[0], "--cert: ") {
		t.Errorf("from flags: %q", w)
	}
}
