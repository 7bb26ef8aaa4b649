package authd

import (
	"strings"
	"testing"
	"time"

	"imapd/authd/ticket"

	pb "imapd/proto"
)

// masterLogin sends what a proxy's AUTHENTICATE PLAIN becomes:
// "C: a2 AUTHENTICATE PLAIN <user\0proxy\0secret>", after
// "C: a1 ID ("x-originating-ip" "198.51.100.7" ...)".
func (h *harness) masterLogin(id uint64, from, user, password string) {
	h.t.Helper()
	err := h.preauth.Send(&pb.AuthCall{Id: id, Body: &pb.AuthCall_AuthRequest{AuthRequest: &pb.AuthRequest{
		ConnId: id * 10, Mechanism: "PLAIN", User: []byte("proxy"), Password: []byte(password), AuthzId: user,
		RemoteAddr: from, LocalAddr: "10.0.0.2:143",
		IdParams: []string{"x-originating-ip", "198.51.100.7", "x-originating-port", "50123"}}}}, nil)
	if err != nil {
		h.t.Fatal(err)
	}
}

var secret = []byte("0123456789abcdef")

func proxySetup(t *testing.T) *pb.AuthdSetup {
	s := fileSetup(t)
	s.ProxyMasterUser, s.ProxySecret, s.ProxyTrusted = "proxy", secret, []string{"10.0.0.1/32"}
	return s
}

// From a trusted proxy with the secret: a grant for the authorization
// identity, with the passwd-file's ids; the log names the client's address.
func TestMasterLoginFromTrustedProxy(t *testing.T) {
	h := startAuthd(t, proxySetup(t), nil)
	h.masterLogin(1, "10.0.0.1:41000", "alice", ticket.Make(secret, "alice", "198.51.100.7", time.Now()))
	g := h.recvGrant()
	if g.User != "alice" || g.Uid != 5000 || g.Gid != 5001 {
		t.Fatalf("grant %+v", g)
	}
	h.ack(g.Token)
	if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK || r.User != "alice" {
		t.Fatalf("reply %+v", r)
	}
	if !strings.Contains(h.logs.String(), "client=198.51.100.7:0") {
		t.Errorf("log does not name the forwarded client:\n%s", h.logs)
	}
}

// S: a2 NO [AUTHENTICATIONFAILED]: from an untrusted address (even with the
// secret), with a wrong secret, or for an unknown user; no grant, and the
// forwarded address is penalised.
func TestMasterLoginRefused(t *testing.T) {
	h := startAuthd(t, proxySetup(t), nil)
	tk := func(user string) string { return ticket.Make(secret, user, "198.51.100.7", time.Now()) }
	replayed := tk("alice")
	for i, c := range []struct{ from, user, password string }{
		{"203.0.113.9:41000", "alice", tk("alice")}, // not a proxy
		{"10.0.0.1:41000", "alice", string(secret)}, // the secret itself
		{"10.0.0.1:41000", "alice", tk("bob")},      // another user's ticket
		{"10.0.0.1:41000", "alice", ticket.Make([]byte("another secret"), "alice", "198.51.100.7", time.Now())},
		{"10.0.0.1:41000", "nobody", tk("nobody")}, // unknown user
		{"10.0.0.1:41000", "alice", replayed},      // first use: fine
		{"10.0.0.1:41000", "alice", replayed},      // replayed
	} {
		h.masterLogin(uint64(i+1), c.from, c.user, c.password)
		if i == 5 {
			h.ack(h.recvGrant().Token)
			if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_OK {
				t.Fatalf("first use of a ticket: %v", r.Result)
			}
			continue
		}
		if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_FAILED {
			t.Errorf("%+v: %v, want AUTH_FAILED", c, r.Result)
		}
	}
	st := h.stats() // no grant came first
	found := map[string]bool{}
	for _, p := range st.Penalised {
		found[p.Addr] = true
	}
	if !found["198.51.100.7"] || !found["203.0.113.9"] {
		t.Errorf("penalised %v, want the forwarded 198.51.100.7 and the connecting 203.0.113.9", st.Penalised)
	}
	if !strings.Contains(h.logs.String(), "not a trusted proxy") {
		t.Errorf("no log of the untrusted forwarded login:\n%s", h.logs)
	}
}

// Without a configured secret, a PLAIN login acting as another user stays
// refused (RFC 4616 §2).
func TestMasterLoginNeedsSecret(t *testing.T) {
	h := startAuthd(t, fileSetup(t), nil)
	h.masterLogin(1, "10.0.0.1:41000", "alice", "")
	if _, r := recvReply(t, h.preauth); r.Result == pb.AuthResult_AUTH_OK {
		t.Fatalf("reply %+v", r)
	}
}

func TestPasswdHostField(t *testing.T) {
	users, errs := parsePasswd(strings.NewReader("carol:{PLAIN}x:5003:5003::/home/carol::userdb_quota=1 host=b2\n"))
	if len(errs) > 0 || users["carol"].host != "b2" {
		t.Fatalf("%v %+v", errs, users["carol"])
	}
}
