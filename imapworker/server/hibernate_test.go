package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// hibServer serves loopback connections over a Maildir as the workers do,
// with SessionConfig.Hibernate the test's: a taken session's connection is
// kept open for ResumeSession, which runs on a new Backend, as a new
// worker process would (docs/design.md#idle-workers-and-hibernation).
type hibServer struct {
	t      *testing.T
	dir    string
	ln     net.Listener
	ctx    context.Context
	offers chan hibOffer
	ended  chan hibEnd
	// take is what Hibernate returns (nil: the session is taken); it may
	// block.
	take func() error
	wg   sync.WaitGroup
}

// hibOffer is one call of Hibernate: the state, and a duplicate of the
// watch (Hibernate's caller closes the one it gave).
type hibOffer struct {
	state []byte
	watch *os.File
}

// hibEnd is what ServeSession or ResumeSession returned, with the
// session's end of the connection.
type hibEnd struct {
	err error
	nc  net.Conn
}

func newHibServer(t *testing.T, take func() error) *hibServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hs := &hibServer{t: t, dir: t.TempDir(), ln: ln, ctx: ctx, take: take,
		offers: make(chan hibOffer, 10), ended: make(chan hibEnd, 10)}
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			hs.wg.Add(1)
			go func() {
				defer hs.wg.Done()
				login, err := ServePreauth(ctx, nc, PreauthConfig{Auth: fakeAuth{}, Secure: true})
				if err != nil || login == nil {
					nc.Close()
					return
				}
				u := hs.user()
				defer u.Close()
				hs.ended <- hibEnd{ServeSession(ctx, login.Conn, hs.config(u), login), login.Conn}
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		hs.wg.Wait()
	})
	return hs
}

// user opens alice's Maildir on a new Backend: another process's view.
func (hs *hibServer) user() store.User {
	b := maildir.NewBackend(func(user string) (string, error) {
		return filepath.Join(hs.dir, user, "Maildir"), nil
	}, maildir.Options{NoSpecialUse: true})
	u, err := b.Open("alice")
	if err != nil {
		hs.t.Fatal(err)
	}
	return u
}

func (hs *hibServer) config(u store.User) SessionConfig {
	return SessionConfig{User: u, UserName: "alice", AppendLimit: 1 << 20, HibernateAfter: 50 * time.Millisecond,
		Hibernate: func(state []byte, watch *os.File) error {
			rc, err := watch.SyscallConn()
			if err != nil {
				return err
			}
			dup := -1
			rc.Control(func(fd uintptr) { dup, err = unix.Dup(int(fd)) })
			if err != nil {
				return err
			}
			hs.offers <- hibOffer{append([]byte(nil), state...), os.NewFile(uintptr(dup), "watch")}
			return hs.take()
		}}
}

func (hs *hibServer) login() *client {
	nc, err := net.Dial("tcp", hs.ln.Addr().String())
	if err != nil {
		hs.t.Fatal(err)
	}
	hs.t.Cleanup(func() { nc.Close() })
	c := &client{t: hs.t, nc: nc, br: bufio.NewReader(nc)}
	c.line()
	c.C("l1 LOGIN alice pw")
	c.until("l1 OK")
	return c
}

// offer waits for Hibernate to be called.
func (hs *hibServer) offer() hibOffer {
	hs.t.Helper()
	select {
	case o := <-hs.offers:
		hs.t.Cleanup(func() { o.watch.Close() })
		return o
	case <-time.After(5 * time.Second):
		hs.t.Fatal("the session did not offer itself")
	}
	return hibOffer{}
}

// end waits for a session to end.
func (hs *hibServer) end() hibEnd {
	hs.t.Helper()
	select {
	case e := <-hs.ended:
		return e
	case <-time.After(5 * time.Second):
		hs.t.Fatal("the session did not end")
	}
	return hibEnd{}
}

// hibernate sends IDLE and waits until the session is taken, checking it
// wrote nothing more; it returns the state and the session's connection.
func (hs *hibServer) hibernate(c *client, tag string) (hibOffer, net.Conn) {
	hs.t.Helper()
	c.C(tag + " IDLE")
	c.S("+ idling")
	o := hs.offer()
	e := hs.end()
	if e.err != ErrHibernated {
		hs.t.Fatalf("ServeSession returned %v, want ErrHibernated", e.err)
	}
	c.silent()
	return o, e.nc
}

// resume runs ResumeSession on nc with a new Backend.
func (hs *hibServer) resume(nc net.Conn, state []byte) {
	hs.wg.Add(1)
	go func() {
		defer hs.wg.Done()
		u := hs.user()
		defer u.Close()
		hs.ended <- hibEnd{ResumeSession(hs.ctx, nc, hs.config(u), state), nc}
	}()
}

// silent checks that the server sends nothing for a while.
func (c *client) silent() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if l, err := c.br.ReadString('\n'); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("server sent %q (%v), want nothing", l, err)
	}
}

// deliver puts a message into new/ as an MDA does: written in tmp/, then
// renamed.
// resumeAltered hibernates c's session in IDLE (tag) and resumes it from
// its own state as alter changed it.
func (hs *hibServer) resumeAltered(c *client, tag string, alter func(*idleState)) {
	hs.t.Helper()
	o, nc := hs.hibernate(c, tag)
	st, err := decodeState(o.state)
	if err != nil {
		hs.t.Fatal(err)
	}
	alter(st)
	hs.resume(nc, st.encode())
}

func (hs *hibServer) deliver(name string) {
	md := filepath.Join(hs.dir, "alice", "Maildir")
	tmp := filepath.Join(md, "tmp", name)
	if err := os.WriteFile(tmp, []byte("Subject: "+name+"\r\n\r\nbody\r\n"), 0o600); err != nil {
		hs.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
		hs.t.Fatal(err)
	}
}

// change flags and expunges messages from another process.
func (hs *hibServer) change(flag, expunge uint32) {
	u := hs.user()
	defer u.Close()
	h, err := u.Select("INBOX", false)
	if err != nil {
		hs.t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Store([]uint32{flag}, store.StoreAdd, store.Flags{System: store.FlagFlagged}); err != nil {
		hs.t.Fatal(err)
	}
	if _, err := h.Store([]uint32{expunge}, store.StoreAdd, store.Flags{System: store.FlagDeleted}); err != nil {
		hs.t.Fatal(err)
	}
	if _, err := h.Expunge([]uint32{expunge}); err != nil {
		hs.t.Fatal(err)
	}
}

// readable reports whether f becomes readable within d.
func readable(t *testing.T, f *os.File, d time.Duration) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	rc.Control(func(fd uintptr) {
		n, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(d/time.Millisecond))
	})
	return err == nil && n > 0
}

// setup logs in, appends three messages and selects INBOX.
func (hs *hibServer) setup(enable string) *client {
	c := hs.login()
	if enable != "" {
		c.do("e1 ENABLE " + enable)
	}
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", i)
		c.C(fmt.Sprintf("p%d APPEND INBOX {%d+}", i, len(msg)))
		c.C(msg)
		c.until(fmt.Sprintf("p%d OK", i))
	}
	if un, tg := c.do("a2 SELECT INBOX"); !strings.HasPrefix(tg, "a2 OK") {
		c.t.Fatalf("SELECT: %q %q", un, tg)
	}
	return c
}

func takes() error { return nil }

// A session quiet in IDLE hibernates; resumed after the mailbox changed,
// it tells the client what it missed, numbered as the client numbers
// (RFC 9051 §7.4.1), and goes on in the same IDLE (RFC 2177).
func TestHibernateResume(t *testing.T) {
	hs := newHibServer(t, takes)
	c := hs.setup("")
	o, nc := hs.hibernate(c, "a3")
	if readable(t, o.watch, 0) {
		t.Fatal("watch readable before any change")
	}
	hs.deliver("1700000000.M1P1.test")
	if !readable(t, o.watch, 2*time.Second) {
		t.Fatal("watch not readable after a delivery into new/")
	}
	hs.change(1, 2) // which claims \Recent of the delivered message
	hs.resume(nc, o.state)
	c.transcript(`
		S: * 2 EXPUNGE
		S: * 3 EXISTS
		S: * 2 RECENT
		S: * 1 FETCH (UID 1 FLAGS (\Flagged \Recent))
		C: DONE
		S: a3 OK IDLE terminated
		C: a4 FETCH 1:* (UID FLAGS)
		S: * 1 FETCH (UID 1 FLAGS (\Flagged \Recent))
		S: * 2 FETCH (UID 3 FLAGS (\Recent))
		S: * 3 FETCH (UID 4 FLAGS ())
		S: a4 OK FETCH completed
	`)
	// The resumed session hibernates again.
	o, nc = hs.hibernate(c, "a5")
	hs.resume(nc, o.state)
	c.transcript(`
		C: DONE
		S: a5 OK IDLE terminated
		C: a6 LOGOUT
		S: * BYE IMAP4rev2 Server logging out
		S: a6 OK LOGOUT completed
	`)
	if e := hs.end(); e.err != nil {
		t.Fatalf("resumed session: %v", e.err)
	}
}

// RFC 7162 §3.2.10: with QRESYNC the resumed session reports VANISHED,
// and its FETCH carries MODSEQ.
func TestHibernateResumeQResync(t *testing.T) {
	hs := newHibServer(t, takes)
	c := hs.setup("QRESYNC")
	o, nc := hs.hibernate(c, "a3")
	hs.change(3, 2)
	hs.resume(nc, o.state)
	c.transcript(`
		S: * VANISHED 2
		S~ \* 2 FETCH \(UID 3 FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)\)
		C: DONE
		S: a3 OK IDLE terminated
	`)
}

// The client's DONE is never lost: sent after the offer and before the
// resume, the resumed session answers it; sent while Hibernate decides
// and refuses, the session still awake answers it; pipelined behind IDLE,
// it is answered at once and no offer is made.
func TestHibernateDoneNotLost(t *testing.T) {
	t.Run("BeforeResume", func(t *testing.T) {
		hs := newHibServer(t, takes)
		c := hs.setup("")
		o, nc := hs.hibernate(c, "a3")
		c.C("DONE")
		hs.resume(nc, o.state)
		c.transcript(`
			S: a3 OK IDLE terminated
			C: a4 NOOP
			S: a4 OK NOOP completed
		`)
	})
	t.Run("DuringRefusedOffer", func(t *testing.T) {
		sent := make(chan struct{})
		hs := newHibServer(t, func() error { <-sent; return errors.New("not now") })
		c := hs.setup("")
		c.C("a3 IDLE")
		c.S("+ idling")
		hs.offer()
		c.C("DONE")
		close(sent)
		c.transcript(`
			S: a3 OK IDLE terminated
			C: a4 NOOP
			S: a4 OK NOOP completed
		`)
	})
	t.Run("Pipelined", func(t *testing.T) {
		hs := newHibServer(t, takes)
		c := hs.setup("")
		c.raw("a3 IDLE\r\nDONE\r\n")
		c.transcript(`
			S: + idling
			S: a3 OK IDLE terminated
		`)
		time.Sleep(150 * time.Millisecond)
		if len(hs.offers) > 0 {
			t.Fatal("a session with DONE read ahead offered itself")
		}
	})
}

// A Hibernate that refuses leaves the session idling: it reports changes,
// offers itself again, and answers DONE.
func TestHibernateRefused(t *testing.T) {
	hs := newHibServer(t, func() error { return errors.New("no room") })
	c := hs.setup("IMAP4rev2")
	c.C("a3 IDLE")
	c.S("+ idling")
	hs.offer()
	hs.offer()
	hs.deliver("1700000001.M1P1.test")
	c.transcript(`
		S: * 4 EXISTS
		C: DONE
		S: a3 OK IDLE terminated
	`)
	if len(hs.ended) > 0 {
		t.Fatal("a refused session ended")
	}
}

// Sessions with NOTIFY, COMPRESS or RETURN (UPDATE) contexts do not offer
// themselves: the state could not carry them.
func TestHibernateNotOffered(t *testing.T) {
	for name, prep := range map[string]func(*client) *client{
		"Notify": func(c *client) *client {
			c.do("n1 NOTIFY SET (selected (MessageNew MessageExpunge))")
			return c
		},
		"Compress": func(c *client) *client { return c.compress("z1") },
		"ContextUpdate": func(c *client) *client {
			c.do("u1 SEARCH RETURN (UPDATE) ALL")
			return c
		},
	} {
		t.Run(name, func(t *testing.T) {
			hs := newHibServer(t, takes)
			c := prep(hs.setup("IMAP4rev2"))
			c.C("a3 IDLE")
			c.S("+ idling")
			time.Sleep(300 * time.Millisecond)
			if len(hs.offers) > 0 {
				t.Fatal("the session offered itself")
			}
			c.C("DONE")
			c.until("a3 OK IDLE terminated")
		})
	}
}

// State the resumed session cannot use ends it with BYE: another
// UIDVALIDITY, a bad encoding.
func TestHibernateResumeBadState(t *testing.T) {
	hs := newHibServer(t, takes)
	c := hs.setup("")
	hs.resumeAltered(c, "a3", func(st *idleState) { st.uidValidity++ })
	c.S("* BYE cannot resume the session")
	if e := hs.end(); !errors.Is(e.err, errBadState) {
		t.Fatalf("ResumeSession returned %v, want errBadState", e.err)
	}

	c = hs.setup("")
	_, nc := hs.hibernate(c, "a3")
	hs.resume(nc, []byte("IH\x01garbage"))
	c.S("* BYE cannot resume the session")
	if e := hs.end(); e.err == nil {
		t.Fatal("ResumeSession accepted garbage")
	}
}

// A session resumed after its autologout time says the autologout BYE
// (RFC 9051 §5.4), as it would have awake.
func TestHibernateResumeAutologout(t *testing.T) {
	hs := newHibServer(t, takes)
	c := hs.setup("")
	hs.resumeAltered(c, "a3", func(st *idleState) { st.since = time.Now().Add(-minAutoLogout - time.Second) })
	c.S("* BYE Autologout; idle for too long")
	c.closed()
	if e := hs.end(); e.err != errTimeout {
		t.Fatalf("ResumeSession returned %v, want errTimeout", e.err)
	}
}

func TestHibernateStateRoundTrip(t *testing.T) {
	uids := []uint32{1, 2, 3, 5, 7, 8, 9, 100}
	for u := uint32(1000); u < 101000; u++ {
		uids = append(uids, u)
	}
	st := &idleState{tag: "a3", mailbox: "INBOX/Sub ü", flags: flagRev2 | flagCondStore | flagQResync | flagHasSaved | flagValidSeen,
		uidValidity: 1700000000, hms: 1 << 40, since: time.Unix(0, 1700000000123456789),
		uids: runsOf(uids), recent: runsOf([]uint32{8, 9, 100, 100999}), saved: runsOf([]uint32{100, 3, 4, 1}),
		keywords: []string{"$Forwarded", "Junk"}}
	b := st.encode()
	if len(b) > 100 {
		t.Errorf("state of %d UIDs takes %d bytes", len(uids), len(b))
	}
	got, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, st)
	}
	if l := got.uids.list(); !reflect.DeepEqual(l, uids) {
		t.Fatalf("UIDs: got %d, want %d", len(l), len(uids))
	}
	if l := got.saved.list(); !reflect.DeepEqual(l, []uint32{100, 3, 4, 1}) {
		t.Fatalf("saved: %v", l)
	}
	// Every truncation and a trailing byte are refused.
	for n := range len(b) {
		if _, err := decodeState(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	if _, err := decodeState(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	// \Recent outside the view, UIDs out of order.
	bad := *st
	bad.recent = runsOf([]uint32{4})
	if _, err := decodeState(bad.encode()); err == nil {
		t.Fatal("\\Recent outside the view accepted")
	}
	bad = *st
	bad.uids = uidRuns{{5, 1}, {3, 1}}
	bad.recent = nil
	if _, err := decodeState(bad.encode()); err == nil {
		t.Fatal("UIDs out of order accepted")
	}
}

// Decoding a state from another process never panics, and what it accepts
// encodes back to the same bytes.
func FuzzResumeState(f *testing.F) {
	st := &idleState{tag: "a3", mailbox: "INBOX", flags: flagHasSaved, uidValidity: 7, hms: 9, since: time.Unix(0, 5),
		uids: runsOf([]uint32{1, 2, 3, 9}), recent: runsOf([]uint32{2, 3}), saved: runsOf([]uint32{9, 1}), keywords: []string{"k"}}
	f.Add(st.encode())
	f.Add([]byte(stateMagic))
	f.Add([]byte("IH\x01\x00\x02a3\x05INBOX\x01\x01\x00\x01\xfe\xff\xff\xff\x1f\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		if st.uids.count() > maxStateUIDs {
			t.Fatal("too many UIDs accepted")
		}
		if _, err := decodeState(st.encode()); err != nil {
			t.Fatalf("re-encoded state refused: %v", err)
		}
	})
}
