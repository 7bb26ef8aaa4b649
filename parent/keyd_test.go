package parent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/parent/config"
	pb "imapd/proto"
)

// certConfig is testConfig with one certificate (the parent only reads
// the files; the fake keyd does not parse them).
func certConfig(t *testing.T, loginTimeout time.Duration) func() (*config.Config, error) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, []byte("certificate"), 0o600)
	os.WriteFile(key, []byte("key"), 0o600)
	return func() (*config.Config, error) {
		cfg := testConfig(1)
		cfg.Certs = []config.Cert{{CertFile: cert, KeyFile: key}}
		cfg.LoginTimeout = loginTimeout
		return cfg, nil
	}
}

// retired waits for keyd's next retire and returns its generation.
func retired(f *fake) uint32 {
	return f.recv("retire").env.(*pb.KeydMessage).GetRetire().Generation
}

// Issue 16: after a reload keyd keeps the old generation's keys only while
// handshakes its draining workers started may still need them (the grace:
// the login timeout, at least the handshake bound), then drops them; a
// generation whose last worker is gone is retired at once.
func TestReloadRetiresOldKeys(t *testing.T) {
	conf := certConfig(t, 300*time.Millisecond)
	cfg, _ := conf()
	r := newRig(t, cfg, nil)
	r.p.opts.Reload = conf
	r.p.call(func() { r.p.keyGrace = 100 * time.Millisecond })
	kd := r.fs.next(pb.Role_ROLE_KEYD)
	if g := kd.recv("keys_done").env.(*pb.KeydMessage).GetKeysDone().Generation; g != 1 {
		t.Fatalf("keyd loaded generation %d first", g)
	}

	// The old worker stays (a handshake or a relayed session): its keys go
	// when the grace, here the 300 ms login timeout, is over.
	start := time.Now()
	if err := r.p.Reload(); err != nil {
		t.Fatal(err)
	}
	if g := kd.recv("keys_done").env.(*pb.KeydMessage).GetKeysDone().Generation; g != 2 {
		t.Fatalf("reload loaded generation %d", g)
	}
	w2 := r.fs.next(pb.Role_ROLE_PREAUTH)
	if g := retired(kd); g != 1 {
		t.Errorf("retired generation %d, want 1", g)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("generation 1 retired %v after the reload, before its grace", d)
	}
	if !strings.Contains(r.logs.String(), `msg="keys retired" generation=1 reason="grace over"`) {
		t.Errorf("no retirement logged:\n%s", r.logs.String())
	}

	// With a long grace, the last worker's exit retires its generation.
	r.p.call(func() { r.p.keyGrace = time.Hour })
	if err := r.p.Reload(); err != nil {
		t.Fatal(err)
	}
	r.fs.next(pb.Role_ROLE_PREAUTH)
	w2.recv("shutdown")
	w2.side.Close()
	if g := retired(kd); g != 2 {
		t.Errorf("retired generation %d, want 2", g)
	}
	if !strings.Contains(r.logs.String(), `msg="keys retired" generation=2 reason="its workers are gone"`) {
		t.Errorf("no retirement logged:\n%s", r.logs.String())
	}
	// Once only: the grace's timer finds nothing more to retire.
	if n := r.logs.count(`generation=2 reason=`); n != 1 {
		t.Errorf("generation 2 retired %d times", n)
	}
}
