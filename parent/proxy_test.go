package parent

import (
	"bufio"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imapd/authd/ticket"
	"imapd/parent/config"
	pb "imapd/proto"
)

// fakeBackend greets, answers the probe's "H1 CAPABILITY", and reports on
// ended when a session connection (one that sent no probe) closes.
type fakeBackend struct {
	ln    net.Listener
	ended chan struct{}
}

func newFakeBackend(t *testing.T) *fakeBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{ln: ln, ended: make(chan struct{}, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("* OK fake backend\r\n"))
				br := bufio.NewReader(c)
				probe := false
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						if !probe {
							b.ended <- struct{}{}
						}
						return
					}
					if strings.HasPrefix(line, "H1 CAPABILITY") {
						probe = true
						c.Write([]byte("* CAPABILITY IMAP4rev2\r\nH1 OK done\r\n"))
					}
				}
			}()
		}
	}()
	return b
}

func proxyConfig(t *testing.T, backends map[string]*fakeBackend) *config.Config {
	cfg := testConfig(1)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef\n"), 0o600)
	cfg.Proxy.SecretFile = secret
	cfg.Proxy.CheckInterval = 100 * time.Millisecond
	for _, name := range []string{"b1", "b2"} {
		cfg.Proxy.Backends = append(cfg.Proxy.Backends, config.Backend{Name: name, Address: backends[name].ln.Addr().String(), Weight: 1})
	}
	return cfg
}

func (r *rig) backendOf(user string) (name string, healthy map[string]bool) {
	healthy = map[string]bool{}
	r.p.call(func() {
		st := r.p.status()
		for _, b := range st.ProxyBackends {
			healthy[b.Name] = b.Healthy
			if b.Users > 0 {
				name = b.Name
			}
		}
	})
	return name, healthy
}

// On a proxy, a redeemed login gets the backend's socket and a ticket for
// that user and client address, never the secret; imapctl move kicks the
// session (its backend connection closes) and pins the user; a backend
// whose probe fails leaves the ring.
func TestProxyHandoff(t *testing.T) {
	backends := map[string]*fakeBackend{"b1": newFakeBackend(t), "b2": newFakeBackend(t)}
	r := newRig(t, proxyConfig(t, backends), nil)
	w, a := r.connect()
	if ack := r.grant(w, a.ConnId, "T-a"); ack.Refused {
		t.Fatal("grant refused")
	}
	w.send(&pb.FromPreauth{Body: &pb.FromPreauth_Handoff{Handoff: &pb.Handoff{ConnId: a.ConnId, Token: "T-a", Tag: "a1"}}}, nil)
	m := w.recv("handoff_result")
	res := m.env.(*pb.ToPreauth).GetHandoffResult()
	if !res.Ok || m.fd == nil {
		t.Fatalf("proxied handoff: %v", res)
	}
	m.fd.Close()
	plain, _ := base64.StdEncoding.DecodeString(res.BackendLogin)
	parts := strings.Split(string(plain), "\x00")
	if len(parts) != 3 || parts[0] != "alice" || parts[1] != "proxy" || strings.Contains(string(plain), "0123456789abcdef") {
		t.Fatalf("backend login %q", plain)
	}
	if err := ticket.NewChecker([]byte("0123456789abcdef")).Check(parts[2], "alice", "127.0.0.1", time.Now()); err != nil {
		t.Errorf("ticket: %v", err)
	}
	if !strings.Contains(res.BackendId, `"x-originating-ip" "127.0.0.1"`) {
		t.Errorf("ID arguments %q", res.BackendId)
	}
	on, _ := r.backendOf("alice")
	if on == "" {
		t.Fatal("status shows alice on no backend")
	}
	other := map[string]string{"b1": "b2", "b2": "b1"}[on]

	// imapctl move alice OTHER: the session on ON is shut down.
	if n, err := r.p.Move("alice", other); err != nil || n != 1 {
		t.Fatalf("move: %d, %v", n, err)
	}
	select {
	case <-backends[on].ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the moved session's backend connection was not closed")
	}
	if _, err := r.p.Move("alice", "nowhere"); err == nil {
		t.Error("move to an unknown backend accepted")
	}

	// b1's probe fails: it leaves the ring.
	backends["b1"].ln.Close()
	r.waitFor("b1 down", func() bool { return !r.p.proxy.byName["b1"].healthy })
	var got string
	r.p.call(func() { got = r.p.proxy.ring.lookup("anyone") })
	if got != "b2" {
		t.Errorf("ring without b1 chose %q", got)
	}
	if !strings.Contains(r.logs.String(), "backend down: out of the ring") {
		t.Error("no log of the backend leaving the ring")
	}
}

// A preauth worker of a proxy that hands off with a descriptor breaks the
// proxy protocol: refused, and the worker killed.
func TestProxyHandoffWithDescriptorRefused(t *testing.T) {
	backends := map[string]*fakeBackend{"b1": newFakeBackend(t), "b2": newFakeBackend(t)}
	r := newRig(t, proxyConfig(t, backends), nil)
	w, a := r.connect()
	r.grant(w, a.ConnId, "T-a")
	r.handoff(w, a.ConnId, "T-a")
	r.waitFor("worker killed", func() bool { return w.c.killed })
}

// A reload that changes the proxy statements is refused, the running ring
// kept; one that keeps them goes through.
func TestProxyReload(t *testing.T) {
	backends := map[string]*fakeBackend{"b1": newFakeBackend(t), "b2": newFakeBackend(t)}
	cfg := proxyConfig(t, backends)
	r := newRig(t, cfg, nil)
	same := *cfg
	r.p.opts.Reload = func() (*config.Config, error) { c := same; return &c, nil }
	if err := r.p.Reload(); err != nil {
		t.Fatalf("reload with the same proxy statements: %v", err)
	}
	changed := *cfg
	changed.Proxy.Backends = changed.Proxy.Backends[:1]
	r.p.opts.Reload = func() (*config.Config, error) { return &changed, nil }
	if err := r.p.Reload(); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("reload that drops a backend: %v", err)
	}
}
