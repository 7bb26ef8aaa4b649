package parent

import (
	"net/netip"
	"os"
	"time"

	pb "imapd/proto"
)

// connState is where a connection is in its life.
type connState int

const (
	connPrelogin connState = iota // held by a preauth worker, not logged in
	connHanded                    // redeemed: a mailbox session (and maybe a relay)
)

// connRow is one client connection as the parent knows it: the parent's own
// record, never what a child claims (docs/design.md#the-connection-table).
type connRow struct {
	id      uint64
	addr    netip.Addr   // the peer as accept saw it
	prefix  netip.Prefix // its /64 (IPv6) or /24 (IPv4)
	remote  string       // addr:port, for logs
	local   string
	kind    pb.ListenerKind
	state   connState
	worker  *child // the preauth worker holding it; nil once it said conn_done
	mailbox *child // the mailbox worker serving it, once handed off
	user    string
	since   time.Time // accepted
	tls     bool      // as the preauth worker reported at handoff: for imapctl who only
	// delivering: redeemed, waiting for its mailbox worker to start
	delivering bool
	grant      *pb.Grant
	expiry     *time.Timer  // fires grantExpired for grant
	proxy      *proxiedConn // on a proxy: the backend serving it
	// After login: the grant's identity (no token), to start the user's
	// worker again for a hibernated session; the inode of the socket the
	// worker was given; a watch sent ahead of a hibernation; the
	// hibernation (docs/design.md#idle-workers-and-hibernation).
	account *pb.Grant
	sockIno uint64
	watch   *os.File
	hib     *hibernation
}

// connTable is the authoritative connection table: loads, per-address and
// per-prefix counts and imapctl status all derive from it, and it changes
// only through these methods, which keep the derived counts in step.
type connTable struct {
	rows      map[uint64]*connRow
	of        map[*child]map[uint64]*connRow // rows each child holds
	perAddr   map[netip.Addr]int             // every connection, for "limit connections per ip"
	preAddr   map[netip.Addr]int             // before login
	prePrefix map[netip.Prefix]int           // before login
	prelogin  int
	next      uint64
}

func newConnTable() *connTable {
	return &connTable{rows: map[uint64]*connRow{}, of: map[*child]map[uint64]*connRow{},
		perAddr: map[netip.Addr]int{}, preAddr: map[netip.Addr]int{}, prePrefix: map[netip.Prefix]int{}}
}

// prefixOf groups addresses the way one client's addresses group: an IPv6
// /64 is usually one host or one site, an IPv4 /24 one network.
func prefixOf(a netip.Addr) netip.Prefix {
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// add records a new pre-login connection held by w.
func (t *connTable) add(addr netip.Addr, remote, local string, kind pb.ListenerKind, w *child) *connRow {
	t.next++
	r := &connRow{id: t.next, addr: addr, prefix: prefixOf(addr), remote: remote, local: local, kind: kind, state: connPrelogin}
	t.rows[r.id] = r
	t.perAddr[addr]++
	t.preAddr[addr]++
	t.prePrefix[r.prefix]++
	t.prelogin++
	t.hold(w, r)
	r.worker = w
	return r
}

func (t *connTable) hold(c *child, r *connRow) {
	m := t.of[c]
	if m == nil {
		m = map[uint64]*connRow{}
		t.of[c] = m
	}
	m[r.id] = r
}

func (t *connTable) unhold(c *child, r *connRow) {
	if m := t.of[c]; m != nil {
		delete(m, r.id)
		if len(m) == 0 {
			delete(t.of, c)
		}
	}
}

// held is how many connections c holds: a preauth worker's load, a mailbox
// worker's sessions.
func (t *connTable) held(c *child) int { return len(t.of[c]) }

// owned returns the row id if c holds it, else nil: the check every child
// message about a connection passes first.
func (t *connTable) owned(c *child, id uint64) *connRow {
	return t.of[c][id]
}

func (t *connTable) leavePrelogin(r *connRow) {
	if r.state != connPrelogin {
		return
	}
	decr(t.preAddr, r.addr)
	decr(t.prePrefix, r.prefix)
	t.prelogin--
}

func decr[K comparable](m map[K]int, k K) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// handOff marks r logged in and served by mb.
func (t *connTable) handOff(r *connRow, mb *child, user string) {
	t.clearGrant(r)
	t.leavePrelogin(r)
	r.state, r.user = connHanded, user
	if mb != nil {
		t.attach(r, mb)
	}
}

func (t *connTable) attach(r *connRow, mb *child) {
	r.mailbox, r.delivering = mb, false
	t.hold(mb, r)
}

// releaseWorker records that r's preauth worker is done with it (conn_done
// or the worker's exit). A connection that never logged in is gone.
func (t *connTable) releaseWorker(r *connRow) {
	if r.worker != nil {
		t.unhold(r.worker, r)
		r.worker = nil
	}
	t.removeIfDone(r)
}

// releaseMailbox records that r's session ended (session_done or the
// mailbox worker's exit).
func (t *connTable) releaseMailbox(r *connRow) {
	if r.mailbox != nil {
		t.unhold(r.mailbox, r)
		r.mailbox = nil
	}
	if r.state == connHanded && r.worker == nil && r.hib == nil {
		t.remove(r)
	}
}

// hibernate moves r from its mailbox worker to the parent's keeping.
func (t *connTable) hibernate(r *connRow, h *hibernation) {
	if r.mailbox != nil {
		t.unhold(r.mailbox, r)
		r.mailbox = nil
	}
	r.hib = h
}

// unhibernate ends the keeping; the caller delivers or removes r.
func (t *connTable) unhibernate(r *connRow) { r.hib = nil }

func (t *connTable) removeIfDone(r *connRow) {
	if r.worker == nil && r.hib == nil && (r.state == connPrelogin || (r.mailbox == nil && !r.delivering)) {
		t.remove(r)
	}
}

func (t *connTable) remove(r *connRow) {
	if t.rows[r.id] != r {
		return
	}
	t.clearGrant(r)
	t.leavePrelogin(r)
	if r.worker != nil {
		t.unhold(r.worker, r)
	}
	if r.mailbox != nil {
		t.unhold(r.mailbox, r)
	}
	if r.proxy != nil {
		r.proxy.sock.Close()
	}
	if r.watch != nil {
		r.watch.Close()
		r.watch = nil
	}
	if r.hib != nil {
		r.hib.stop()
		r.hib.sock.Close()
		r.hib = nil
	}
	decr(t.perAddr, r.addr)
	delete(t.rows, r.id)
}

func (t *connTable) clearGrant(r *connRow) {
	if r.expiry != nil {
		r.expiry.Stop()
		r.expiry = nil
	}
	r.grant = nil
}

// rowsOf lists what c holds, for its exit.
func (t *connTable) rowsOf(c *child) []*connRow {
	var out []*connRow
	for _, r := range t.of[c] {
		out = append(out, r)
	}
	return out
}
