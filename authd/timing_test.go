package authd

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	pb "imapd/proto"
)

// Issue 15, finding 5: a refused account's right password must take as long
// as a wrong password, else the answer time says the password was right.
//
//	C: a1 LOGIN toor rootpw   S: a1 NO [AUTHENTICATIONFAILED]  (refused: uid 0)
//	C: a2 LOGIN toor wrong    S: a2 NO [AUTHENTICATIONFAILED]  (wrong password)
//
// Both are timed here against each other, with real sleeps, and their
// medians must agree within 10 %. Each attempt comes from its own address so
// that no login penalty adds to one side.
func TestRefusedAccountAnswersLikeWrongPassword(t *testing.T) {
	h := startAuthd(t, fileSetup(t), func(o *options) {
		o.sleep = time.Sleep
		o.floorMin = 150 * time.Millisecond
		// Every attempt names toor, so its user penalty would double
		// with each: equal on both sides and not what is compared here.
		o.penaltyBase = 0
	})
	attempt := func(n int, user, password string) time.Duration {
		t.Helper()
		start := time.Now()
		err := h.preauth.Send(&pb.AuthCall{Id: uint64(n), Body: &pb.AuthCall_AuthRequest{AuthRequest: &pb.AuthRequest{
			Mechanism: "LOGIN", User: []byte(user), Password: []byte(password),
			RemoteAddr: fmt.Sprintf("192.0.2.%d:1", n)}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, r := recvReply(t, h.preauth); r.Result == pb.AuthResult_AUTH_OK {
			t.Fatalf("%s logged in", user)
		}
		return time.Since(start)
	}
	var refused, wrong []time.Duration
	for i := 0; i < 7; i++ {
		refused = append(refused, attempt(2*i+1, "toor", "rootpw"))
		wrong = append(wrong, attempt(2*i+2, "toor", "wrong"))
	}
	slices.Sort(refused)
	slices.Sort(wrong)
	r, w := refused[len(refused)/2], wrong[len(wrong)/2]
	if diff := max(r, w) - min(r, w); diff*10 > max(r, w) {
		t.Errorf("refused account with the right password answers in %v, a wrong password in %v: differ by more than 10%%", r, w)
	}
}

// canonBackend accepts any password and answers with a fixed canonical name,
// as a PAM module that rewrites PAM_USER may.
type canonBackend struct{ canon string }

func (b canonBackend) check(a attempt) (account, pb.AuthResult, bool) {
	return account{user: b.canon, uid: 5000, gid: 5000, hasIDs: true}, pb.AuthResult_AUTH_OK, true
}

// A backend's canonical name is validated like the client's: "../root" from
// PAM must not become a mailbox worker's user.
//
//	C: a1 LOGIN alice secret   S: a1 NO [AUTHENTICATIONFAILED]
func TestCanonicalNameValidated(t *testing.T) {
	for _, canon := range []string{"../root", "a/b", "x y", ".hidden"} {
		h := startAuthd(t, &pb.AuthdSetup{Backend: pb.AuthBackend_AUTH_BACKEND_PAM, FirstValidUid: 1000}, func(o *options) {
			o.newBackend = func(*pb.AuthdSetup, *slog.Logger) (backend, error) { return canonBackend{canon}, nil }
		})
		h.login(h.preauth, 1, "alice", "secret")
		if _, r := recvReply(t, h.preauth); r.Result != pb.AuthResult_AUTH_REFUSED {
			t.Errorf("canonical name %q: %v, want AUTH_REFUSED", canon, r.Result)
		}
	}
}

// A grant the parent refuses (its connection is gone, or not the named
// worker's) is answered UNAVAILABLE at once, without waiting out the ack
// timeout, and without a token.
//
//	C: a1 LOGIN alice "correct horse"   S: a1 NO [UNAVAILABLE]
func TestRefusedGrantAnswersUnavailable(t *testing.T) {
	h := startAuthd(t, fileSetup(t), func(o *options) { o.grantTimeout = time.Hour })
	h.login(h.preauth, 1, "alice", alicePassword)
	g := h.recvGrant()
	h.sendParent(&pb.ToAuthd{Body: &pb.ToAuthd_GrantAck{GrantAck: &pb.GrantAck{Token: g.Token, Refused: true}}}, nil)
	done := make(chan *pb.AuthReply, 1)
	go func() {
		m, _, err := h.preauth.Recv()
		if err != nil {
			done <- nil
			return
		}
		done <- m.GetAuthReply()
	}()
	select {
	case r := <-done:
		if r == nil || r.Result != pb.AuthResult_AUTH_UNAVAILABLE || r.Token != "" {
			t.Errorf("reply %v, want AUTH_UNAVAILABLE without a token", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after the parent refused the grant")
	}
	if !strings.Contains(h.logs.String(), "grant refused by parent") {
		t.Error("the refusal was not logged")
	}
}
