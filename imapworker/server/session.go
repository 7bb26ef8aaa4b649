package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"

	"imapd/imapworker/imap"
	"imapd/imapworker/mutf7"
	"imapd/imapworker/store"
)

// ServeSession answers the login (`tag OK [CAPABILITY ...] LOGIN
// completed`), then executes login.Pending, then reads conn until LOGOUT
// or EOF. On ctx cancellation it sends "* BYE shutting down" (also while
// IDLE) and returns.
func ServeSession(ctx context.Context, nc net.Conn, cfg SessionConfig, login *Login) error {
	var src io.Reader = nc
	if len(login.Pending) > 0 {
		src = io.MultiReader(bytes.NewReader(login.Pending), nc)
	}
	c := newSession(ctx, nc, src, &cfg)
	c.validSeen = true // the login was valid
	c.tls = login.TLS
	what := "LOGIN completed"
	if login.SASL {
		what = "AUTHENTICATE completed"
	}
	c.tagged(login.Tag, "OK", "CAPABILITY "+c.capabilities(), what)
	err := c.serve(nil)
	c.unselect()
	if err == errLoggedIn {
		err = nil
	}
	return err
}

// newSession makes the conn of an authenticated session reading src, as
// ServeSession and ResumeSession share it.
func newSession(ctx context.Context, nc net.Conn, src io.Reader, cfg *SessionConfig) *conn {
	wt := cfg.WriteTimeout
	if wt <= 0 {
		wt = sessionWriteTimeout
	}
	c := newConn(ctx, nc, bufio.NewReaderSize(src, 32<<10), cfg.Logger, wt)
	c.scfg = cfg
	c.src = src
	c.user = cfg.User
	c.state = stateAuth
	c.appendMax = cfg.AppendLimit
	if c.appendMax <= 0 {
		c.appendMax = defaultAppendLimit
	}
	c.timeout = max(cfg.AutoLogout, minAutoLogout)
	if cfg.MaxLine > 0 {
		c.r.SetMaxLine(cfg.MaxLine)
	}
	return c
}

// selected is the session's view of its selected mailbox: its own sequence
// numbers (RFC 9051 §2.3.1.2), independent of other sessions.
type selected struct {
	h        store.Mailbox
	name     string
	readOnly bool
	msgs     []store.MessageInfo // seq-1 -> message, ascending UID
	shared   bool                // msgs is the store's list, shared with other sessions: own() before writing
	recent   recentSet           // \Recent in this session (IMAP4rev1)
	ghosts   map[uint32]bool     // expunged elsewhere, EXPUNGE not yet sent
	keywords []string
	saved    []uint32 // SEARCH RETURN (SAVE) result as UIDs (RFC 5182)
	hasSaved bool
	// RFC 7162: nomodseq when the store keeps no mod-sequences here;
	// safeHMS the HIGHESTMODSEQ the session may announce: every change up
	// to it has been sent (none is held back as a ghost).
	nomodseq bool
	safeHMS  uint64
	contexts []*searchCtx // RETURN (UPDATE) searches (RFC 5267 §4.3)
	// gen counts the changes of msgs and recent (own is called before
	// each): a memo of a search result is valid while it stays the same.
	gen        uint64
	lastSort   sortMemo   // the last SORT's order (sort.go)
	lastThread threadMemo // the last THREAD's answer (thread.go)
	lastSearch searchMemo // the last paged search's result (search.go)
}

// recentSet is a session's \Recent messages: ascending UIDs, 4 bytes
// each, as a first SELECT after a delivery may make every message recent.
type recentSet []uint32

func (r recentSet) has(uid uint32) bool {
	_, ok := slices.BinarySearch(r, uid)
	return ok
}

func (r *recentSet) add(uid uint32) {
	if i, ok := slices.BinarySearch(*r, uid); !ok {
		*r = slices.Insert(*r, i, uid)
	}
}

// own gives the session its own copy of msgs before a write: SELECT takes
// the store's list as it is (no 8 MB copy per session on 100k messages),
// and most sessions never change it. Every write of msgs or recent comes
// after it, so it also counts the change (gen).
func (s *selected) own() {
	s.gen++
	if s.shared {
		s.msgs = slices.Clone(s.msgs)
		s.shared = false
	}
}

func (s *selected) index(uid uint32) int {
	i := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].UID >= uid })
	if i < len(s.msgs) && s.msgs[i].UID == uid {
		return i
	}
	return -1
}

// uids returns the UIDs of all messages, in sequence order.
func (s *selected) uids() []uint32 {
	out := make([]uint32, len(s.msgs))
	for i := range s.msgs {
		out[i] = s.msgs[i].UID
	}
	return out
}

func (s *selected) maxUID() uint32 {
	if len(s.msgs) == 0 {
		return 0
	}
	return s.msgs[len(s.msgs)-1].UID
}

func (c *conn) unselect() {
	if c.mbox != nil {
		c.mbox.h.Close()
		c.mbox = nil
	}
	if c.state == stateSelected {
		c.state = stateAuth
	}
}

// updates polls the store and sends what other sessions changed: EXISTS
// and FETCH FLAGS always, EXPUNGE only when allowed (RFC 9051 §7.4.1,
// §7.5.1).
func (c *conn) updates(expungeOK bool) {
	s := c.mbox
	if s == nil {
		return
	}
	ch, err := s.h.Poll()
	if err != nil {
		c.log.Warn("poll failed", "err", err)
		return
	}
	c.apply(ch, expungeOK)
}

// apply sends changes of the selected mailbox and applies them to the
// view: those Poll found, or those a resumed session missed (hibernate.go).
func (c *conn) apply(ch store.Changes, expungeOK bool) {
	s := c.mbox
	if ch.Keywords != nil && !sameKeywords(s.keywords, ch.Keywords) {
		s.keywords = ch.Keywords
		c.writeFlags()
	}
	if expungeOK {
		// EXPUNGE before EXISTS, so that no count includes a message and
		// its copy (MOVE or COPY into the selected mailbox, RFC 6851 §4.3).
		for _, uid := range ch.Expunged {
			if s.index(uid) >= 0 {
				s.ghosts[uid] = true
			}
		}
		if len(s.ghosts) > 0 {
			c.sendExpunges(s.ghosts)
			clear(s.ghosts)
		}
	}
	if len(ch.New) > 0 {
		for _, m := range ch.New {
			if s.index(m.UID) >= 0 || (len(s.msgs) > 0 && m.UID <= s.maxUID()) {
				continue
			}
			if expungeOK {
				if _, gone := slices.BinarySearch(ch.Expunged, m.UID); gone {
					continue // added and expunged since the last look
				}
			}
			s.own()
			s.msgs = append(s.msgs, m)
			if m.Recent {
				s.recent.add(m.UID)
			}
		}
		b := append(c.out[:0], "* "...)
		b = strconv.AppendInt(b, int64(len(s.msgs)), 10)
		b = append(b, " EXISTS\r\n"...)
		if !c.rev2 {
			b = append(b, "* "...)
			b = strconv.AppendInt(b, int64(len(s.recent)), 10)
			b = append(b, " RECENT\r\n"...)
		}
		c.write(b)
		c.out = b
	}
	for _, f := range ch.Flags {
		i := s.index(f.UID)
		if i < 0 || s.ghosts[f.UID] {
			continue
		}
		s.own()
		s.msgs[i].Flags, s.msgs[i].ModSeq = f.Flags, f.ModSeq
		if c.notify != nil && c.notify.quietFlags {
			continue // RFC 5465: FlagChange not asked for
		}
		b := c.out[:0]
		b = append(b, "* "...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, " FETCH (UID "...)
		b = strconv.AppendUint(b, uint64(f.UID), 10)
		b = append(b, " FLAGS "...)
		b = c.appendFlags(b, &s.msgs[i])
		if c.condstore && !s.nomodseq {
			b = append(b, ' ')
			b = appendModSeq(b, f.ModSeq) // RFC 7162 §3.1.4.2
		}
		b = append(b, ")\r\n"...)
		c.write(b)
		c.out = b
	}
	c.ctxChanged(ch)
	if !expungeOK {
		for _, uid := range ch.Expunged {
			if s.index(uid) >= 0 {
				s.ghosts[uid] = true
			}
		}
	}
	if len(s.ghosts) == 0 {
		s.safeHMS = s.h.HighestModSeq()
	}
}

// sendExpunges removes uids from the view, sending EXPUNGE for each with
// sequence numbers from the highest down, so none needs adjusting.
func (c *conn) sendExpunges(uids map[uint32]bool) {
	s := c.mbox
	if c.qresync && !s.nomodseq {
		c.writeVanished(uids)
	}
	c.ctxExpunging(uids)
	b := c.out[:0]
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if uids[s.msgs[i].UID] && (!c.qresync || s.nomodseq) {
			b = append(b, "* "...)
			b = strconv.AppendInt(b, int64(i+1), 10)
			b = append(b, " EXPUNGE\r\n"...)
			if len(b) > 16<<10 {
				c.write(b)
				b = b[:0]
			}
		}
	}
	c.write(b)
	c.out = b
	s.own()
	kept := s.msgs[:0]
	for _, m := range s.msgs {
		if uids[m.UID] {
			continue
		}
		kept = append(kept, m)
	}
	s.msgs = kept
	s.recent = slices.DeleteFunc(s.recent, func(u uint32) bool { return uids[u] })
}

// appendFlags appends a message's flag list, with \Recent for IMAP4rev1.
func (c *conn) appendFlags(b []byte, m *store.MessageInfo) []byte {
	b = append(b, '(')
	n := len(b)
	for i, name := range store.SystemFlagNames() {
		if m.Flags.System&(1<<i) != 0 {
			if len(b) > n {
				b = append(b, ' ')
			}
			b = append(b, name...)
		}
	}
	for _, k := range m.Flags.Keywords {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, k...)
	}
	if !c.rev2 && c.mbox != nil && c.mbox.recent.has(m.UID) {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, `\Recent`...)
	}
	return append(b, ')')
}

// writeFlags sends FLAGS and PERMANENTFLAGS (RFC 9051 §7.3.5, §7.1).
func (c *conn) writeFlags() {
	c.writeFlagsOnly()
	c.writePermanentFlags()
}

func (c *conn) writeFlagsOnly() {
	s := c.mbox
	b := append(c.out[:0], "* FLAGS ("...)
	for i, n := range store.SystemFlagNames() {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, n...)
	}
	for _, k := range s.keywords {
		b = append(b, ' ')
		b = append(b, k...)
	}
	b = append(b, ")\r\n"...)
	c.write(b)
	c.out = b
}

func (c *conn) writePermanentFlags() {
	s := c.mbox
	b := append(c.out[:0], "* OK [PERMANENTFLAGS ("...)
	if !s.readOnly {
		for i, n := range store.SystemFlagNames() {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, n...)
		}
		for _, k := range s.keywords {
			b = append(b, ' ')
			b = append(b, k...)
		}
		if s.h.NewKeywords() {
			b = append(b, ` \*`...)
		}
	}
	b = append(b, ")] Flags permitted\r\n"...)
	c.write(b)
	c.out = b
}

// seqIndexes resolves a sequence set (message numbers, or UIDs when uid)
// to view indexes, ascending. Message numbers beyond the view are BAD
// (RFC 9051 §9 seq-number); UIDs that do not exist are ignored.
func (c *conn) seqIndexes(set imap.SeqSet, uid bool) ([]int, error) {
	s := c.mbox
	if set.SearchRes {
		// RFC 5182: "$" is the saved UID set, whatever the command's form.
		out := make([]int, 0, len(s.saved))
		for _, u := range s.saved {
			if i := s.index(u); i >= 0 {
				out = append(out, i)
			}
		}
		return out, nil
	}
	// Sized first: 1:* of a large mailbox is a long list, and growing it
	// leaves twice its size as garbage.
	if uid {
		rs := set.Resolve(s.maxUID())
		spans := make([][2]int, len(rs))
		total := 0
		for k, r := range rs {
			lo := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].UID >= r.Start })
			hi := sort.Search(len(s.msgs), func(i int) bool { return s.msgs[i].UID > r.Stop })
			spans[k] = [2]int{lo, max(lo, hi)}
			total += spans[k][1] - lo
		}
		out := make([]int, 0, total)
		for _, sp := range spans {
			for i := sp[0]; i < sp[1]; i++ {
				out = append(out, i)
			}
		}
		return out, nil
	}
	n := uint32(len(s.msgs))
	for _, r := range set.Ranges {
		if (r.Start != imap.Star && r.Start > n) || (r.Stop != imap.Star && r.Stop > n) {
			return nil, badf("invalid message sequence number")
		}
	}
	rs := set.Resolve(n)
	total := 0
	for _, r := range rs {
		total += int(r.Stop - r.Start + 1)
	}
	out := make([]int, 0, total)
	for _, r := range rs {
		for i := r.Start; i <= r.Stop; i++ {
			out = append(out, int(i-1))
		}
	}
	return out, nil
}

func (c *conn) uidsOf(idx []int) []uint32 {
	out := make([]uint32, len(idx))
	for k, i := range idx {
		out[k] = c.mbox.msgs[i].UID
	}
	return out
}

// mailboxName decodes a mailbox argument: modified UTF-7 for IMAP4rev1
// clients when it decodes, UTF-8 otherwise (RFC 9051 §5.1, RFC 3501 §5.1.3).
func (c *conn) mailboxName(raw string) string {
	name := raw
	if !c.utf8OK() {
		if d, err := mutf7.Decode(raw); err == nil {
			name = d
		}
	}
	return store.CanonicalName(name)
}

func (c *conn) appendMailbox(b []byte, name string) []byte {
	return imap.AppendMailbox(b, name, !c.utf8OK())
}

func sameKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	f := store.Flags{Keywords: a}
	for _, k := range b {
		if !f.HasKeyword(k) {
			return false
		}
	}
	return true
}
