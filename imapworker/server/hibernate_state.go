package server

import (
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// idleState is a hibernated IDLE session: what the client's view depends
// on (docs/design.md#idle-workers-and-hibernation). It travels through
// another process, so decodeState checks it as any input.
type idleState struct {
	tag     string // the IDLE's, answered by the resumed session at DONE
	mailbox string
	flags   stateFlags
	// uidValidity and hms (the HIGHESTMODSEQ the session may have
	// announced: every change up to it was sent) are the mailbox's as the
	// session knew them.
	uidValidity uint32
	hms         uint64
	since       time.Time // when the IDLE's autologout timer started
	uids        uidRuns   // the view: UIDs in sequence order
	recent      uidRuns   // \Recent in this session (IMAP4rev1), among uids
	saved       uidRuns   // SEARCH RETURN (SAVE) result (RFC 5182), in its order
	keywords    []string  // announced in FLAGS
}

// stateFlags are the session's booleans.
type stateFlags uint8

const (
	flagReadOnly stateFlags = 1 << iota // EXAMINE
	flagRev2                            // ENABLE IMAP4rev2
	flagUTF8                            // ENABLE UTF8=ACCEPT
	flagCondStore
	flagQResync
	flagTLS
	flagValidSeen
	flagHasSaved

	knownFlags = 1<<iota - 1
)

// uidRun is the UIDs first .. first+n-1, n >= 1.
type uidRun struct{ first, n uint32 }

type uidRuns []uidRun

// maxStateUIDs bounds each list of a state: its runs are expanded when the
// session resumes.
const maxStateUIDs = 1 << 24

// stateMagic starts a state; its last byte is the encoding's version.
const stateMagic = "IH\x01"

var errBadState = errors.New("unusable session state")

func runsOf(uids []uint32) uidRuns {
	var rs uidRuns
	for _, u := range uids {
		if n := len(rs); n > 0 && rs[n-1].first+rs[n-1].n == u && u != 0 {
			rs[n-1].n++
			continue
		}
		rs = append(rs, uidRun{u, 1})
	}
	return rs
}

func (rs uidRuns) each(f func(uint32)) {
	for _, r := range rs {
		for k := uint32(0); k < r.n; k++ {
			f(r.first + k)
		}
	}
}

func (rs uidRuns) list() []uint32 {
	var out []uint32
	rs.each(func(u uint32) { out = append(out, u) })
	return out
}

// last is the highest UID of ascending runs, 0 when empty.
func (rs uidRuns) last() uint32 {
	if len(rs) == 0 {
		return 0
	}
	r := rs[len(rs)-1]
	return r.first + r.n - 1
}

func (rs uidRuns) count() int {
	n := 0
	for _, r := range rs {
		n += int(r.n)
	}
	return n
}

// contains reports whether x lies in one of rs, ascending.
func (rs uidRuns) contains(x uidRun) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].first+rs[i].n-1 >= x.first })
	return i < len(rs) && rs[i].first <= x.first && uint64(x.first)+uint64(x.n) <= uint64(rs[i].first)+uint64(rs[i].n)
}

// encode writes the state: the magic, then uvarints (since a varint of
// Unix nanoseconds), strings as a length and bytes, each UID list as a
// run count, then per run the signed distance of its first UID from the
// end of the previous run and its length less one, so that a folder of
// 100,000 messages with few gaps takes a few bytes.
func (st *idleState) encode() []byte {
	b := []byte(stateMagic)
	b = binary.AppendUvarint(b, uint64(st.flags))
	b = appendString(b, st.tag)
	b = appendString(b, st.mailbox)
	b = binary.AppendUvarint(b, uint64(st.uidValidity))
	b = binary.AppendUvarint(b, st.hms)
	b = binary.AppendVarint(b, st.since.UnixNano())
	for _, rs := range []uidRuns{st.uids, st.recent, st.saved} {
		b = binary.AppendUvarint(b, uint64(len(rs)))
		var end int64 // the previous run's last UID
		for _, r := range rs {
			b = binary.AppendVarint(b, int64(r.first)-end-1)
			b = binary.AppendUvarint(b, uint64(r.n-1))
			end = int64(r.first) + int64(r.n) - 1
		}
	}
	b = binary.AppendUvarint(b, uint64(len(st.keywords)))
	for _, k := range st.keywords {
		b = appendString(b, k)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// stateReader reads an encoded state; the first error sticks.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = errBadState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errBadState
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) str(valid func(string) bool) string {
	n := r.uvarint(math.MaxInt32)
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errBadState
	}
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	if !valid(s) {
		r.err = errBadState
	}
	return s
}

// runs reads a UID list: UIDs from 1, at most maxStateUIDs; ascending
// demands each run above the previous one.
func (r *stateReader) runs(ascending bool) uidRuns {
	count := r.uvarint(uint64(len(r.b) / 2)) // a run takes two bytes at least
	if r.err != nil || count == 0 {
		return nil
	}
	rs := make(uidRuns, 0, count)
	var end int64
	total := 0
	for range count {
		d := r.varint()
		n := r.uvarint(math.MaxUint32-1) + 1
		first := end + 1 + d
		if r.err != nil || first < 1 || first+int64(n)-1 > math.MaxUint32 || (ascending && d < 0) {
			r.err = errBadState
			return nil
		}
		if total += int(n); total > maxStateUIDs {
			r.err = errBadState
			return nil
		}
		rs = append(rs, uidRun{uint32(first), uint32(n)})
		end = first + int64(n) - 1
	}
	return rs
}

// decodeState reads a state encode wrote, refusing anything else: a
// state comes from another process (docs/design.md#idle-workers-and-hibernation).
func decodeState(b []byte) (*idleState, error) {
	if len(b) > MaxHibernateState || len(b) < len(stateMagic) || string(b[:len(stateMagic)]) != stateMagic {
		return nil, errBadState
	}
	r := &stateReader{b: b[len(stateMagic):]}
	st := &idleState{}
	st.flags = stateFlags(r.uvarint(knownFlags))
	st.tag = r.str(imap.IsTag)
	st.mailbox = r.str(func(s string) bool { return store.ValidName(s) == nil && store.CanonicalName(s) == s })
	st.uidValidity = uint32(r.uvarint(math.MaxUint32))
	st.hms = r.uvarint(math.MaxUint64)
	st.since = time.Unix(0, r.varint())
	st.uids = r.runs(true)
	st.recent = r.runs(true)
	st.saved = r.runs(false)
	nk := r.uvarint(uint64(len(r.b)))
	for range nk {
		k := r.str(imap.IsAtom)
		if r.err != nil {
			break
		}
		st.keywords = append(st.keywords, k)
	}
	switch {
	case r.err != nil:
		return nil, r.err
	case len(r.b) > 0, st.uidValidity == 0, st.hms == 0, // only mod-sequence folders hibernate
		len(st.saved) > 0 && st.flags&flagHasSaved == 0:
		return nil, errBadState
	}
	for _, x := range st.recent {
		if !st.uids.contains(x) {
			return nil, errBadState // \Recent only among the view's UIDs
		}
	}
	return st, nil
}
