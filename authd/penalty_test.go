package authd

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestPenaltySchedule(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := newPenalties(250*time.Millisecond, 15*time.Second, 15*time.Minute, clk.now)
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i, w := range want {
		if got := p.delay("198.51.100.7:1234", "someone"); got != w {
			t.Errorf("after %d failures: %v, want %v", i, got, w)
		}
		p.fail("198.51.100.7:1234", "someone")
		clk.advance(time.Second)
	}
	// A huge count must not overflow into a short or negative delay.
	for range 100 {
		p.fail("198.51.100.7:1234", "someone")
	}
	if got := p.delay("198.51.100.7", ""); got != 15*time.Second {
		t.Errorf("after 100+ failures: %v", got)
	}
}

func TestPenaltyKeys(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := newPenalties(250*time.Millisecond, 15*time.Second, 15*time.Minute, clk.now)
	p.fail("[2001:db8:1:2::1]:993", "alice")
	p.fail("[2001:db8:1:2:ffff::9]:143", "bob")
	// Same /64: two failures.
	if got := p.delay("2001:db8:1:2:1234::1", "carol"); got != 500*time.Millisecond {
		t.Errorf("same /64: %v, want 500ms", got)
	}
	// Another /64, but alice's own failure counts.
	if got := p.delay("[2001:db8:1:3::1]:993", "alice"); got != 250*time.Millisecond {
		t.Errorf("other /64, user alice: %v, want 250ms", got)
	}
	if got := p.delay("[2001:db8:1:3::1]:993", "dave"); got != 0 {
		t.Errorf("other /64, clean user: %v", got)
	}
	// An IPv4-mapped address is the IPv4 address.
	p.fail("[::ffff:192.0.2.5]:143", "x")
	if got := p.delay("192.0.2.5:9999", "y"); got != 250*time.Millisecond {
		t.Errorf("mapped v4: %v", got)
	}
	if got := p.delay("192.0.2.6:9999", "y"); got != 0 {
		t.Errorf("neighbour v4 address penalised: %v", got)
	}
	snap := p.snapshot()
	if len(snap) != 2 || snap[0].Addr != "2001:db8:1:2::/64" || snap[0].Failures != 2 || snap[0].DelayMs != 500 ||
		snap[1].Addr != "192.0.2.5" {
		t.Errorf("snapshot %v", snap)
	}
}

func TestPenaltyResetAndExpiry(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := newPenalties(250*time.Millisecond, 15*time.Second, 10*time.Minute, clk.now)
	p.fail("192.0.2.1", "alice")
	p.fail("192.0.2.1", "alice")
	p.succeed("192.0.2.1", "alice")
	if got := p.delay("192.0.2.1", "alice"); got != 0 {
		t.Errorf("after success: %v", got)
	}
	p.fail("192.0.2.1", "alice")
	clk.advance(10*time.Minute + time.Second)
	if got := p.delay("192.0.2.1", "alice"); got != 0 {
		t.Errorf("after expiry: %v", got)
	}
	if len(p.snapshot()) != 0 {
		t.Error("expired entry still listed")
	}
	// An expired entry starts again from one failure.
	p.fail("192.0.2.2", "")
	clk.advance(11 * time.Minute)
	p.fail("192.0.2.2", "")
	if got := p.delay("192.0.2.2", ""); got != 250*time.Millisecond {
		t.Errorf("fresh count after expiry: %v", got)
	}
}

func TestPenaltyTableBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := newPenalties(time.Second, time.Minute, time.Hour, clk.now)
	p.maxEntries = 10
	for i := range 50 {
		p.fail("10.0.0."+string(rune('0'+i%10))+string(rune('0'+i/10)), "")
	}
	if n := len(p.byKey); n > 11 {
		t.Errorf("%d entries, want about 10", n)
	}
}

func TestFailFloor(t *testing.T) {
	f := &failFloor{min: 10 * time.Millisecond, cap: time.Second}
	if f.floor() != 10*time.Millisecond {
		t.Errorf("initial floor %v", f.floor())
	}
	f.observe(180 * time.Millisecond)
	f.observe(9 * time.Millisecond)
	if f.floor() != 360*time.Millisecond {
		t.Errorf("floor %v, want twice the slowest recent check", f.floor())
	}
	f.observe(time.Hour)
	if f.floor() != time.Second {
		t.Errorf("floor %v, want the cap", f.floor())
	}
	for range len(f.recent) {
		f.observe(50 * time.Millisecond)
	}
	if f.floor() != 100*time.Millisecond {
		t.Errorf("floor %v after old checks rolled off, want twice 50ms", f.floor())
	}
}

func TestCredCache(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	c := newCredCache(time.Minute, clk.now)
	c.put("alice", "pw", account{user: "alice", uid: 5000})
	if a, ok := c.get("alice", "pw"); !ok || a.uid != 5000 {
		t.Errorf("hit: %+v %v", a, ok)
	}
	for _, k := range [][2]string{{"alice", "pw2"}, {"alice2", "pw"}, {"alicep", "w"}} {
		if _, ok := c.get(k[0], k[1]); ok {
			t.Errorf("%q/%q hit alice's entry", k[0], k[1])
		}
	}
	clk.advance(time.Minute)
	if _, ok := c.get("alice", "pw"); ok {
		t.Error("hit after the TTL")
	}
	var off *credCache // auth_cache_seconds 0
	off.put("a", "b", account{})
	if _, ok := off.get("a", "b"); ok {
		t.Error("disabled cache hit")
	}
}
