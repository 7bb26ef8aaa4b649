package parent

import (
	"io"
	"strings"
	"testing"
	"time"

	"imapd/parent/config"
	pb "imapd/proto"
)

// Issue 2, "what it must show" 4, on the loop: forged handoffs are refused
// and logged, and start no mailbox worker; the genuine one works once.
func TestForgedHandoffsAreRefused(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	w, a := r.connect()
	_, b := r.connect()
	if ack := r.grant(w, a.ConnId, "T-a"); ack.Refused {
		t.Fatal("grant refused")
	}
	for _, c := range []struct {
		name  string
		token string
		conn  uint64
	}{
		{"unknown token", "T-unknown", b.ConnId},
		{"token granted for another connection", "T-a", b.ConnId},
	} {
		r.handoff(w, c.conn, c.token)
		if res := w.recv("handoff_result").env.(*pb.ToPreauth).GetHandoffResult(); res.Ok {
			t.Errorf("%s: handoff accepted", c.name)
		}
	}
	// Presenting T-a for b did not burn it for a: grants live in their
	// connection's row. It works once.
	r.handoff(w, a.ConnId, "T-a")
	mb := r.fs.next(pb.Role_ROLE_MAILBOX)
	if m := mb.recv("new_session"); m.env.(*pb.ToMailbox).GetNewSession().GetUser() != "alice" || m.fd == nil {
		t.Fatalf("mailbox worker got %v", m.env)
	} else {
		m.fd.Close()
		if tok := m.env.(*pb.ToMailbox).GetNewSession().GetHandoff().GetToken(); tok != "" {
			t.Errorf("the used token went on to the mailbox worker: %q", tok)
		}
		if peer := m.env.(*pb.ToMailbox).GetNewSession().GetHandoff().GetRemoteAddr(); peer == "203.0.113.66:1" {
			t.Error("the mailbox worker got the worker's claimed peer, not the parent's")
		}
	}
	if res := w.recv("handoff_result").env.(*pb.ToPreauth).GetHandoffResult(); !res.Ok {
		t.Fatalf("genuine handoff refused: %s", res.Reason)
	}
	if n := r.logs.count("handoff refused"); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, r.logs)
	}
	// A second handoff of a, now logged in, is one of a connection the
	// worker no longer holds before login: it is killed.
	r.handoff(w, a.ConnId, "T-a")
	if !w.killed() {
		t.Error("handoff of a connection already handed off: worker not killed")
	}
}

// Over the per-address limit, a plain listener says why in one BYE line;
// a TLS listener writes nothing, since its client expects a handshake
// (issue 14, correction 8).
func TestRefusalWritesNoCleartextOnTLS(t *testing.T) {
	for _, kind := range []config.Kind{config.Plain, config.TLS} {
		cfg := testConfig(1)
		cfg.Listeners[0].Kind = kind
		cfg.ConnsPerIP = 1
		r := newRig(t, cfg, nil)
		r.connect()
		c := r.dial()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		want := ""
		if kind == config.Plain {
			want = "* BYE [UNAVAILABLE] Too many connections from your address\r\n"
		}
		if string(got) != want {
			t.Errorf("%v listener, refused: S: %q, want %q", kind, got, want)
		}
	}
}

// The pre-login caps per address, per network and overall refuse what is
// over them, and the counts come from the connection table.
func TestPreloginLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*config.Config)
		log  string
	}{
		{"per ip", func(cfg *config.Config) { cfg.PreloginPerIP = 2 }, "before login from your address"},
		{"per net24", func(cfg *config.Config) { cfg.PreloginPerNet24 = 2 }, "before login from your network"},
		{"total", func(cfg *config.Config) { cfg.PreloginTotal = 2 }, "reason=\"before login\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(1)
			c.set(cfg)
			r := newRig(t, cfg, nil)
			r.connect()
			r.connect()
			conn := r.dial()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if got, _ := io.ReadAll(conn); !strings.HasPrefix(string(got), "* BYE [UNAVAILABLE] Too many connections before login") {
				t.Errorf("third connection: S: %q", got)
			}
			if r.logs.count(c.log) == 0 {
				t.Errorf("no %q logged", c.log)
			}
			st := r.p.Status()
			if st.PreauthConnections != 2 || st.PreauthLimits == nil {
				t.Errorf("status: %d pre-login connections, limits %v", st.PreauthConnections, st.PreauthLimits)
			}
		})
	}
}
