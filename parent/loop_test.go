package parent

import (
	"strings"
	"testing"
	"time"

	"imapd/parent/config"
	pb "imapd/proto"
)

// login plays one whole login through fakes: a connection reaches a
// worker, authd grants it, the worker hands it off, and the mailbox worker
// gets the session. It returns the mailbox fake (started on first use).
func (r *rig) login(token string, mb **fake) {
	r.t.Helper()
	w, nc := r.connect()
	if ack := r.grant(w, nc.ConnId, token); ack.Refused {
		r.t.Fatalf("grant for conn %d refused", nc.ConnId)
	}
	r.handoff(w, nc.ConnId, token)
	if *mb == nil {
		*mb = r.fs.next(pb.Role_ROLE_MAILBOX)
	}
	m := (*mb).recv("new_session")
	if m.fd == nil || m.env.(*pb.ToMailbox).GetNewSession().GetSessionId() != nc.ConnId {
		r.t.Fatalf("mailbox worker got %v", m.env)
	}
	m.fd.Close()
	if res := w.recv("handoff_result").env.(*pb.ToPreauth).GetHandoffResult(); !res.Ok {
		r.t.Fatalf("handoff refused: %s", res.Reason)
	}
}

// within runs f and fails if it takes longer than d.
func within(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if took := time.Since(start); took > d {
		t.Errorf("%s took %v, want under %v", what, took, d)
	}
}

// Issue 15, finding 1: a mailbox worker that stops reading its channel
// (after a spoofed session_done, say) used to hold the parent's lock
// forever. Now logins, imapctl status and reload keep working within 1 s,
// and the stuck worker is killed when its outbox stops draining.
func TestStuckMailboxWorkerIsKilled(t *testing.T) {
	r := newRig(t, testConfig(2), func(fs *fakes) { fs.stuck[pb.Role_ROLE_MAILBOX].Store(true) })
	r.p.opts.Reload = func() (*config.Config, error) { return testConfig(2), nil }
	w, nc := r.connect()
	r.grant(w, nc.ConnId, "T1")
	r.handoff(w, nc.ConnId, "T1")
	stuck := r.fs.next(pb.Role_ROLE_MAILBOX)
	// The fake exists before the parent's loop adopts it: until then a kick
	// finds no session and sends nothing.
	r.waitFor("mailbox worker adopted", func() bool {
		e := r.p.mailboxes["alice"]
		return e != nil && e.c == stuck.c
	})
	// The parent keeps sending to it (kicks) while it reads nothing.
	for range 20 {
		within(t, "kick", time.Second, func() { r.p.Kick("alice") })
	}
	within(t, "status", time.Second, func() {
		if st := r.p.Status(); st.Generation != 1 {
			t.Errorf("status: generation %d", st.Generation)
		}
	})
	within(t, "reload", time.Second, func() {
		if err := r.p.Reload(); err != nil {
			t.Errorf("reload: %v", err)
		}
	})
	// Killed once a send has waited outboxWait (300 ms here) on the full
	// socket: allow a few of those after the last kick.
	for deadline := time.Now().Add(2 * time.Second); !stuck.killed() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !stuck.killed() {
		t.Fatal("the mailbox worker that does not read was not killed")
	}
	if r.logs.count("killing child") == 0 {
		t.Errorf("no kill logged:\n%s", r.logs)
	}
	// The next login starts a new mailbox worker.
	r.fs.stuck[pb.Role_ROLE_MAILBOX].Store(false)
	r.preauth = nil
	for range 2 {
		r.preauth = append(r.preauth, r.fs.next(pb.Role_ROLE_PREAUTH))
	}
	r.waitFor("new generation", func() bool { return r.p.current.gen == 2 })
	var mb *fake
	within(t, "login", time.Second, func() { r.login("T2", &mb) })
}

// The same for authd: status answers without its counters, within 1 s,
// and authd is killed once its channel stops draining.
func TestStuckAuthdIsKilled(t *testing.T) {
	r := newRig(t, testConfig(1), func(fs *fakes) { fs.stuck[pb.Role_ROLE_AUTHD].Store(true) })
	for i := 0; ; i++ {
		within(t, "status", time.Second, func() { r.p.Status() })
		select {
		case <-r.authd.c.exited:
		default:
			if i < 10 {
				continue
			}
			t.Fatal("the authd that does not read was not killed")
		}
		break
	}
	// It is restarted, and the preauth worker gets a channel to the new one.
	r.fs.stuck[pb.Role_ROLE_AUTHD].Store(false)
	r.authd = r.fs.next(pb.Role_ROLE_AUTHD)
	r.authd.recv("setup")
	r.preauth[0].recv("authd_channel")
}

// And for a preauth worker: new connections go to the other worker, and
// the stuck one is killed.
func TestStuckPreauthWorkerIsKilled(t *testing.T) {
	r := newRig(t, testConfig(1), func(fs *fakes) { fs.stuck[pb.Role_ROLE_PREAUTH].Store(true) })
	stuck := r.preauth[0]
	r.fs.stuck[pb.Role_ROLE_PREAUTH].Store(false)
	for range 12 {
		r.dial()
	}
	if !stuck.killed() {
		t.Fatal("the preauth worker that does not read was not killed")
	}
	within(t, "status", time.Second, func() { r.p.Status() })
	// Its slot restarts; connections keep being served.
	r.preauth = []*fake{r.fs.next(pb.Role_ROLE_PREAUTH)}
	w := r.preauth[0]
	r.waitFor("restarted worker ready", func() bool { return w.c.ready })
	if w, _ := r.connect(); w != r.preauth[0] {
		t.Fatal("connection went elsewhere")
	}
}

// Issue 15, finding 2: a compromised preauth worker sends conn_done,
// handoff and a grant request for a connection of another worker, and a
// mailbox worker sends session_done for a session it does not serve. Each
// is refused and logged, its sender killed, and the connection table (the
// loads, the per-address counts) unchanged.
func TestForgedMessagesAreRefused(t *testing.T) {
	r := newRig(t, testConfig(2), nil)
	var mb *fake
	r.login("T0", &mb) // a session of alice, for session_done below

	byWorker := map[*fake]uint64{}
	for len(byWorker) < 2 {
		w, nc := r.connect()
		byWorker[w] = nc.ConnId
	}
	attacker, victim := r.preauth[0], r.preauth[1]
	victimConn := byWorker[victim]
	before := r.counts()

	for _, c := range []struct {
		name  string
		forge func(bad *fake)
		log   string
	}{
		{"conn_done", func(bad *fake) {
			bad.send(&pb.FromPreauth{Body: &pb.FromPreauth_ConnDone{ConnDone: &pb.ConnDone{ConnId: victimConn}}}, nil)
		}, "conn_done refused"},
		{"handoff", func(bad *fake) { r.handoff(bad, victimConn, "T-none") }, "handoff refused"},
		{"grant", func(bad *fake) {
			// authd passes on the worker's claim; the parent checks it.
			if ack := r.grant(bad, victimConn, "T-stolen"); !ack.Refused {
				t.Error("grant for another worker's connection stored")
			}
		}, "grant refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.forge(attacker)
			if !attacker.killed() {
				t.Fatalf("forged %s: sender not killed", c.name)
			}
			if r.logs.count(c.log) == 0 {
				t.Errorf("forged %s: no %q in the log", c.name, c.log)
			}
			after := r.counts()
			if after.held[r.id(victim)] != before.held[r.id(victim)] || after.prelogin >= before.prelogin+1 {
				t.Errorf("forged %s changed the table: before %+v after %+v", c.name, before, after)
			}
			// The killed worker's place is taken by a fresh one, with a
			// new identity; give it a connection to attack with.
			attacker = r.fs.next(pb.Role_ROLE_PREAUTH)
			r.preauth[0] = attacker
			r.waitFor("replacement ready", func() bool { return attacker.c.ready })
			for {
				w, nc := r.connect()
				if w == attacker {
					break
				}
				_ = nc
			}
			before = r.counts()
		})
	}
	// The victim's connection survived all of it, still its own.
	r.waitFor("victim's row", func() bool {
		row := r.p.conns.rows[victimConn]
		return row != nil && row.worker == victim.c && row.state == connPrelogin
	})
	// A genuine grant for it still works.
	if ack := r.grant(victim, victimConn, "T-genuine"); ack.Refused {
		t.Fatal("genuine grant refused")
	}

	// session_done for a session the mailbox worker does not serve.
	mb.send(&pb.FromMailbox{Body: &pb.FromMailbox_SessionDone{SessionDone: &pb.SessionDone{SessionId: victimConn}}}, nil)
	if !mb.killed() {
		t.Fatal("forged session_done: mailbox worker not killed")
	}
	if r.logs.count("session_done refused") == 0 {
		t.Errorf("no session_done refusal logged")
	}
	r.waitFor("victim's row after session_done", func() bool { return r.p.conns.rows[victimConn] != nil })
}

// Worker identities are unique across generations: a grant names a worker,
// and the worker of the same slot in the next generation is another one.
func TestWorkerIdentitiesUnique(t *testing.T) {
	r := newRig(t, testConfig(2), nil)
	r.p.opts.Reload = func() (*config.Config, error) { return testConfig(2), nil }
	seen := map[uint32]bool{}
	for _, w := range r.preauth {
		seen[r.id(w)] = true
	}
	if err := r.p.Reload(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := r.fs.next(pb.Role_ROLE_PREAUTH)
		s := w.recv("setup").env.(*pb.ToPreauth).GetSetup()
		if seen[r.id(w)] {
			t.Errorf("worker id %d reused", r.id(w))
		}
		if s.WorkerId != r.id(w) {
			t.Errorf("setup says worker %d, parent knows %d", s.WorkerId, r.id(w))
		}
	}
}

// A grant not redeemed in time expires by its timer.
func TestGrantExpires(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	w, nc := r.connect()
	r.grant(w, nc.ConnId, "T-late")
	var expiry *time.Timer
	r.p.call(func() { expiry = r.p.conns.rows[nc.ConnId].expiry })
	if expiry == nil || !expiry.Reset(time.Millisecond) {
		t.Fatal("no grant timer")
	}
	r.waitFor("grant expired", func() bool { return r.p.conns.rows[nc.ConnId].grant == nil })
	r.handoff(w, nc.ConnId, "T-late")
	if res := w.recv("handoff_result").env.(*pb.ToPreauth).GetHandoffResult(); res.Ok || !strings.Contains(res.Reason, "expired") {
		t.Errorf("expired token: %v", res)
	}
}

// Issue 15, finding 3: a reload whose new workers fail to start keeps the
// old generation serving, and retries until the new one is ready; only
// then does the old one drain.
func TestReloadFailureKeepsServing(t *testing.T) {
	r := newRig(t, testConfig(2), nil)
	r.p.opts.Reload = func() (*config.Config, error) { return testConfig(2), nil }
	old := r.preauth
	r.fs.fail[pb.Role_ROLE_PREAUTH].Store(true)
	if err := r.p.Reload(); err == nil || !strings.Contains(err.Error(), "keeps serving") {
		t.Fatalf("reload with failing workers: %v", err)
	}
	r.waitFor("start failure", func() bool { return r.p.pending == nil })
	for range 4 {
		w, _ := r.connect()
		if w != old[0] && w != old[1] {
			t.Fatal("connection went to a worker of the failed generation")
		}
	}
	r.waitFor("old generation serving", func() bool {
		return !old[0].c.draining && !old[1].c.draining && r.p.current.has(old[0].c)
	})
	if r.logs.count("keeps serving") == 0 {
		t.Errorf("failure not logged:\n%s", r.logs)
	}
	r.fs.fail[pb.Role_ROLE_PREAUTH].Store(false)
	var fresh []*fake
	for range 2 {
		fresh = append(fresh, r.fs.next(pb.Role_ROLE_PREAUTH))
	}
	r.waitFor("new generation serving", func() bool { return r.p.current.gen == 2 })
	for _, w := range old {
		if s := w.recv("shutdown").env.(*pb.ToPreauth).GetShutdown(); !s.Drain {
			t.Errorf("old worker told %v, want a drain", s)
		}
	}
	r.preauth = fresh
	if w, _ := r.connect(); w != fresh[0] && w != fresh[1] {
		t.Fatal("connection after the reload went to an old worker")
	}
}

// Correction 8 of issue 14: a connection accepted while no worker is ready
// waits for one instead of getting BYE.
func TestConnectionWaitsForWorker(t *testing.T) {
	r := newRig(t, testConfig(1), nil)
	w := r.preauth[0]
	w.side.Close() // the worker dies
	if !w.killed() {
		t.Fatal("worker not reaped")
	}
	r.dial()
	r.preauth = []*fake{r.fs.next(pb.Role_ROLE_PREAUTH)}
	if got, _ := r.connect(); got != r.preauth[0] {
		t.Fatal("waiting connection not passed on")
	}
}

// A child that dies right after it starts (one that cannot sandbox itself,
// say) is restarted with backoff, doubling from 100 ms to 30 s, not every
// 100 ms forever; one that lived a while restarts after 100 ms again.
func TestRestartBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 10 {
		got = append(got, b.next(0))
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := b.next(backoffLive); d != backoffMin {
		t.Errorf("after a long life: %v, want %v", d, backoffMin)
	}

	// On the loop: a preauth worker that dies at once, three times, is
	// started the fourth time no sooner than 100+200+400 ms after.
	r := newRig(t, testConfig(1), nil)
	start := time.Now()
	w := r.preauth[0]
	for range 3 {
		w.side.Close()
		if !w.killed() {
			t.Fatal("worker not reaped")
		}
		w = r.fs.next(pb.Role_ROLE_PREAUTH)
	}
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("three quick deaths restarted within %v: no backoff", took)
	}
}
