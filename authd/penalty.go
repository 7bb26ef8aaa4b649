package authd

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	pb "imapd/proto"
)

// penalties delays authentication attempts from addresses and for users with
// recent failures (DESIGN.md §6): base, 2*base, 4*base ... up to max per
// consecutive failure; a success resets both; an entry is forgotten expiry
// after its last failure. IPv6 addresses count by /64, since one host
// commonly owns the whole prefix.
type penalties struct {
	base, max, expiry time.Duration
	maxEntries        int
	now               func() time.Time

	mu    sync.Mutex
	byKey map[string]*penaltyEntry
}

type penaltyEntry struct {
	failures uint32
	last     time.Time
}

func newPenalties(base, max, expiry time.Duration, now func() time.Time) *penalties {
	return &penalties{base: base, max: max, expiry: expiry, maxEntries: 100000, now: now,
		byKey: map[string]*penaltyEntry{}}
}

// addrKey maps "host:port" or "host" to the unit penalised: the address, or
// its /64 for IPv6. Unparsable input is used as is (it came from our parent).
func addrKey(addr string) string {
	host := addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		host = ap.Addr().String()
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return "addr " + addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return "addr " + p.String()
	}
	return "addr " + ip.String()
}

func userKey(user string) string {
	if len(user) > 256 { // a hostile name must not bloat the table
		user = user[:256]
	}
	return "user " + user
}

// delayFor is the wait for a failure count.
func (p *penalties) delayFor(failures uint32) time.Duration {
	if failures == 0 {
		return 0
	}
	d := p.base
	for i := uint32(1); i < failures && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// delay is how long an attempt from addr for user waits before it is checked:
// the larger of the two penalties.
func (p *penalties) delay(addr, user string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return max(p.delayLocked(addrKey(addr)), p.delayLocked(userKey(user)))
}

func (p *penalties) delayLocked(key string) time.Duration {
	e := p.byKey[key]
	if e == nil {
		return 0
	}
	if p.now().Sub(e.last) > p.expiry {
		delete(p.byKey, key)
		return 0
	}
	return p.delayFor(e.failures)
}

func (p *penalties) fail(addr, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, k := range []string{addrKey(addr), userKey(user)} {
		e := p.byKey[k]
		if e == nil || now.Sub(e.last) > p.expiry {
			if e == nil && len(p.byKey) >= p.maxEntries {
				p.sweepLocked(now)
			}
			e = &penaltyEntry{}
			p.byKey[k] = e
		}
		if e.failures < 1<<20 {
			e.failures++
		}
		e.last = now
	}
}

func (p *penalties) succeed(addr, user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byKey, addrKey(addr))
	delete(p.byKey, userKey(user))
}

// sweepLocked drops expired entries; if the table is still full (a flood of
// distinct addresses) it drops arbitrary ones, as memory is the scarcer good.
func (p *penalties) sweepLocked(now time.Time) {
	for k, e := range p.byKey {
		if now.Sub(e.last) > p.expiry {
			delete(p.byKey, k)
		}
	}
	for k := range p.byKey {
		if len(p.byKey) < p.maxEntries {
			break
		}
		delete(p.byKey, k)
	}
}

// snapshot lists the penalised addresses (not users: their names stay out of
// status output), most failures first.
func (p *penalties) snapshot() []*pb.PenalisedAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var out []*pb.PenalisedAddr
	for k, e := range p.byKey {
		if now.Sub(e.last) > p.expiry {
			delete(p.byKey, k)
			continue
		}
		if a, ok := strings.CutPrefix(k, "addr "); ok {
			out = append(out, &pb.PenalisedAddr{Addr: a, Failures: e.failures,
				DelayMs: p.delayFor(e.failures).Milliseconds()})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Failures != out[j].Failures {
			return out[i].Failures > out[j].Failures
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}

// failFloor pads failure answers to twice the slowest recent real password
// check, so that an unknown user (pam_unix: ~9 ms) answers no sooner than a
// wrong password (~180 ms) (DESIGN.md §7). The margin keeps a check that
// runs slow on a busy machine under the floor too: a wrong password that
// took longer than the floor would stand out.
type failFloor struct {
	min, cap time.Duration

	mu     sync.Mutex
	recent [32]time.Duration
	next   int
}

// observe records the duration of a check against a real account's hash.
func (f *failFloor) observe(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent[f.next] = d
	f.next = (f.next + 1) % len(f.recent)
}

func (f *failFloor) floor() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var slowest time.Duration
	for _, r := range f.recent {
		slowest = max(slowest, r)
	}
	return min(max(f.min, 2*slowest), f.cap)
}
