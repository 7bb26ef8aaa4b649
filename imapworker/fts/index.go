package fts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// Source gives the texts of message uid to d (d.Add for each); an error
// leaves the message out of the index, so it stays a candidate.
type Source func(uid uint32, d *Doc) error

// Limits bound an index's work; the zero value means the defaults.
type Limits struct {
	// FlushPostings is how many postings are held in memory while
	// indexing before they are written as a segment (about 12 bytes of
	// memory each).
	FlushPostings int
	// MaxSegments is how many segments the file may have before they are
	// merged.
	MaxSegments int
}

const (
	defaultFlush    = 2 << 20
	defaultSegments = 8
	maxQueryGrams   = 6 // trigrams intersected; the rarest of the needle
)

// Index is one folder's index file. Its methods are safe for concurrent
// use; each holds the file's lock while it runs.
type Index struct {
	mu     sync.Mutex
	path   string
	limits Limits

	data    []byte // read-only mapping of the file
	ino     uint64
	mtime   int64
	valid   int64 // end of the valid prefix of data
	bad     bool  // a damaged segment ends the valid prefix
	uv      uint32
	segs    []segment
	covered []uint32 // UIDs of segs, ascending
}

// New returns the index kept at path; nothing is read until it is used.
func New(path string, limits Limits) *Index {
	if limits.FlushPostings <= 0 {
		limits.FlushPostings = defaultFlush
	}
	if limits.MaxSegments <= 0 {
		limits.MaxSegments = defaultSegments
	}
	return &Index{path: path, limits: limits}
}

// Close drops the mapping; the Index may be used again.
func (ix *Index) Close() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.unmap()
}

func (ix *Index) unmap() {
	if ix.data != nil {
		unix.Munmap(ix.data)
	}
	ix.data, ix.ino, ix.mtime, ix.valid, ix.bad, ix.segs, ix.covered = nil, 0, 0, 0, false, nil, nil
}

// Answer is what the index says of a needle for a list of UIDs: those
// in Sure match it, those in Maybe must be verified with the matcher,
// the others do not match. Both are ascending.
type Answer struct{ Sure, Maybe []uint32 }

// Lookup brings the index up to date for the folder's messages uids
// (ascending) under uidValidity, indexing those it lacks through src, and
// answers for uids whether their texts of the given kinds may contain
// needle (folded, non-empty). An ASCII needle (ascii: compared with the
// texts Doc.Add was told ASCII needles read) of word bytes only and at
// most MaxExact bytes is answered from the tokens: a message holds it if
// and only if one of its tokens does. Another needle of at least
// MinNeedle bytes is answered from the trigrams, all Maybe: every UID
// whose text holds all its trigrams. A UID it could not index is Maybe.
func (ix *Index) Lookup(uidValidity uint32, uids []uint32, src Source, kinds []uint8, needle []byte, ascii bool) (Answer, error) {
	exact := ascii && len(needle) <= MaxExact && !slices.ContainsFunc(needle, func(c byte) bool { return !wordByte[c] })
	if len(needle) == 0 || !exact && len(needle) < MinNeedle {
		return Answer{}, errors.New("fts: needle too short")
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	fh, err := ix.lock()
	if err != nil {
		return Answer{}, err
	}
	defer func() { fh.Close() }()
	if fh, err = ix.refresh(fh, uidValidity); err != nil {
		return Answer{}, err
	}
	if fh, err = ix.update(fh, uids, src); err != nil {
		return Answer{}, err
	}
	if exact {
		return ix.tokenQuery(uids, kinds, needle), nil
	}
	return Answer{Maybe: ix.query(uids, kinds, needle)}, nil
}

// lock opens the file at path with its flock held, creating it if need
// be; if it was renamed away while we waited, the new one is taken.
func (ix *Index) lock() (*os.File, error) {
	for range 100 {
		fh, err := os.OpenFile(ix.path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(fh.Fd()), unix.LOCK_EX); err != nil {
			fh.Close()
			return nil, err
		}
		var a, b unix.Stat_t
		if unix.Fstat(int(fh.Fd()), &a) == nil && unix.Stat(ix.path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			return fh, nil
		}
		fh.Close()
	}
	return nil, errors.New("fts: index file keeps being replaced")
}

// refresh maps the file as it now is and reads the segments added since
// the last look; a file with a bad header or another UIDVALIDITY is
// started afresh. It returns the file now locked (a reset replaces it).
func (ix *Index) refresh(fh *os.File, uv uint32) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil {
		return fh, err
	}
	mtime := st.Mtim.Nano()
	if st.Ino == ix.ino && st.Size == int64(len(ix.data)) && mtime == ix.mtime && ix.uv == uv {
		return fh, nil
	}
	// imapd only appends to the file or replaces it: changed otherwise
	// (by hand), it is read again whole.
	if st.Ino != ix.ino || st.Size <= int64(len(ix.data)) || ix.uv != uv {
		ix.unmap()
	}
	ix.mtime = mtime
	if st.Size < headerLen {
		return ix.reset(fh, uv)
	}
	data, err := ix.mapFile(st.Ino, st.Size)
	if err != nil {
		return fh, err
	}
	old := ix.data
	ix.data, ix.ino = data, st.Ino
	if old == nil {
		if !bytes.Equal(data[:headerLen], fileHeader(uv)) {
			return ix.reset(fh, uv)
		}
		ix.uv, ix.valid, ix.bad = uv, headerLen, false
	} else {
		// The segments read stay as they were, now in the new mapping.
		for i := range ix.segs {
			ix.segs[i], _ = parseSegment(data, ix.segs[i].start, false)
		}
		unix.Munmap(old)
	}
	if !ix.bad {
		ix.readSegments()
	}
	return fh, nil
}

// mapFile maps the file at path, which is the locked one (inode ino),
// through a descriptor of its own: a mapping keeps its descriptor's open
// file, and with it a flock(2) taken through it, until it is unmapped.
func (ix *Index) mapFile(ino uint64, size int64) ([]byte, error) {
	rf, err := os.OpenFile(ix.path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(rf.Fd()), &st); err != nil {
		return nil, err
	}
	if st.Ino != ino {
		return nil, errors.New("fts: index file replaced while locked")
	}
	return unix.Mmap(int(rf.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

func (ix *Index) readSegments() {
	added := false
	for ix.valid < int64(len(ix.data)) {
		s, err := parseSegment(ix.data, ix.valid, true)
		if err != nil {
			ix.bad = true // the rest is not read: update rewrites it
			break
		}
		ix.segs = append(ix.segs, s)
		for i := range len(s.uids) / 4 {
			ix.covered = append(ix.covered, s.uid(i))
		}
		ix.valid = s.end
		added = true
	}
	if added {
		slices.Sort(ix.covered)
		ix.covered = slices.Compact(ix.covered)
	}
}

// reset replaces the file with an empty one for uv.
func (ix *Index) reset(fh *os.File, uv uint32) (*os.File, error) {
	ix.unmap()
	ix.uv = uv
	return ix.merge(fh, nil)
}

// update indexes the UIDs of uids not covered, appending segments, and
// merges the segments when worthwhile. It returns the file now locked
// (a merge replaces it).
func (ix *Index) update(fh *os.File, uids []uint32, src Source) (*os.File, error) {
	missing := subtract(uids, ix.covered)
	var err error
	if ix.bad {
		// Appending after a damaged tail would be unreadable: rewrite
		// the good part first.
		if fh, err = ix.merge(fh, uids); err != nil {
			return fh, err
		}
	}
	if len(missing) > 0 {
		var b builder
		var d Doc
		for _, u := range missing {
			d.Reset()
			if src(u, &d) != nil {
				continue
			}
			b.add(u, &d)
			if b.n >= ix.limits.FlushPostings {
				if err := ix.appendSegment(fh, &b); err != nil {
					return fh, err
				}
			}
		}
		if len(b.uids) > 0 {
			if err := ix.appendSegment(fh, &b); err != nil {
				return fh, err
			}
		}
	}
	if ix.mergeDue(len(ix.covered) - common(ix.covered, uids)) {
		return ix.merge(fh, uids)
	}
	return fh, nil
}

// mergeDue says whether update merges, dead of the covered UIDs being
// gone: when they are half; when there are more than MaxSegments
// segments and those after the first hold an eighth of its bytes (a
// merge rewrites the whole file: after a large build, deliveries of a
// small segment each add up to that before it is paid again, where a
// ninth segment made a 100,000-message folder's search after a
// delivery take 2.3 s every eighth time); and, for the cost of a query,
// past 8 times MaxSegments.
func (ix *Index) mergeDue(dead int) bool {
	n := len(ix.segs)
	if dead > 0 && dead*2 >= len(ix.covered) || n > 8*ix.limits.MaxSegments {
		return true
	}
	if n <= ix.limits.MaxSegments {
		return false
	}
	first := ix.segs[0].end - ix.segs[0].start
	return ix.segs[n-1].end-ix.segs[0].end >= first/8
}

func (ix *Index) appendSegment(fh *os.File, b *builder) error {
	seg := b.segment()
	if len(seg)-segHdrLen > 1<<32-1 {
		return errors.New("fts: segment too big")
	}
	if _, err := fh.WriteAt(seg, int64(len(ix.data))); err != nil {
		return err
	}
	_, err := ix.refresh(fh, ix.uv)
	return err
}

// merge rewrites the file as one segment of the UIDs covered that are in
// live, and returns the new file, locked.
func (ix *Index) merge(fh *os.File, live []uint32) (*os.File, error) {
	tmpPath := ix.path + ".tmp"
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fh, err
	}
	if err := unix.Flock(int(tmp.Fd()), unix.LOCK_EX); err != nil {
		tmp.Close()
		return fh, err
	}
	if err := ix.writeMerged(tmp, Intersect(ix.covered, live)); err != nil {
		tmp.Close()
		os.Remove(tmpPath)
		return fh, err
	}
	if err := os.Rename(tmpPath, ix.path); err != nil {
		tmp.Close()
		return fh, err
	}
	fh.Close() // whoever waits for the old file finds it replaced
	uv := ix.uv
	ix.unmap()
	return ix.refresh(tmp, uv)
}

func (ix *Index) writeMerged(tmp *os.File, keep []uint32) error {
	bw := bufio.NewWriterSize(tmp, 256<<10)
	bw.Write(fileHeader(ix.uv))
	if len(keep) == 0 {
		return bw.Flush()
	}
	bw.Write(make([]byte, segHdrLen))
	var live uidSet
	live.init(keep)
	for _, u := range keep {
		live.add(u)
	}
	isLive := live.has
	w := segWriter{w: bw}
	w.begin(keep)
	// A k-way merge of the segments' directories, one key at a time, then
	// of their tokens.
	pos := make([]int, len(ix.segs))
	var us []uint32
	// merged decodes the postings at pos of the segments for which at is
	// true, advancing them, and keeps the live UIDs.
	merged := func(at func(s *segment, i int) bool, post func(s *segment, i int) []byte) []uint32 {
		us = us[:0]
		sorted := true
		for i := range ix.segs {
			if s := &ix.segs[i]; at(s, pos[i]) {
				n := len(us)
				us = decodePosting(us, post(s, pos[i]))
				if n > 0 && n < len(us) && us[n] <= us[n-1] {
					sorted = false
				}
				pos[i]++
			}
		}
		us = slices.DeleteFunc(us, func(u uint32) bool { return !isLive(u) })
		if !sorted {
			slices.Sort(us)
		}
		return us
	}
	for {
		k, any := uint32(0), false
		for i := range ix.segs {
			if s := &ix.segs[i]; pos[i] < s.nkeys() && (!any || s.keyAt(pos[i]) < k) {
				k, any = s.keyAt(pos[i]), true
			}
		}
		if !any {
			break
		}
		w.posting(k, merged(func(s *segment, i int) bool { return i < s.nkeys() && s.keyAt(i) == k }, (*segment).postAt))
	}
	clear(pos)
	for {
		var t []byte
		for i := range ix.segs {
			if s := &ix.segs[i]; pos[i] < s.ntoks() && (t == nil || bytes.Compare(s.tokAt(pos[i]), t) < 0) {
				t = s.tokAt(pos[i])
			}
		}
		if t == nil {
			break
		}
		w.token(t, merged(func(s *segment, i int) bool { return i < s.ntoks() && bytes.Equal(s.tokAt(i), t) }, (*segment).tokPostAt))
	}
	for i := range ix.segs {
		for j := 0; j < len(ix.segs[i].inexact); j += 4 {
			if u := binary.LittleEndian.Uint32(ix.segs[i].inexact[j:]); isLive(u) {
				w.inexact = append(w.inexact, u)
			}
		}
	}
	slices.Sort(w.inexact)
	w.finish()
	if w.err != nil {
		return w.err
	}
	if w.bodyLen > 1<<32-1 {
		return errors.New("fts: merged segment too big")
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := tmp.WriteAt(w.header(), headerLen)
	return err
}

// query returns the UIDs of uids that hold every selected trigram of
// needle in a text of kinds, or that the index does not cover.
func (ix *Index) query(uids []uint32, kinds []uint8, needle []byte) []uint32 {
	type gram struct {
		a, b, c byte
		cost    int
	}
	var grams []gram
	for i := 0; i+2 < len(needle); i++ {
		g := gram{a: needle[i], b: needle[i+1], c: needle[i+2]}
		if slices.ContainsFunc(grams, func(h gram) bool { return h.a == g.a && h.b == g.b && h.c == g.c }) {
			continue
		}
		for s := range ix.segs {
			for _, kd := range kinds {
				g.cost += len(ix.segs[s].find(key(kd, g.a, g.b, g.c)))
			}
		}
		grams = append(grams, g)
	}
	slices.SortFunc(grams, func(x, y gram) int { return x.cost - y.cost })
	grams = grams[:min(len(grams), maxQueryGrams)]
	var hits, list []uint32
	for gi, g := range grams {
		list = list[:0]
		srcs := 0
		for s := range ix.segs {
			for _, kd := range kinds {
				if p := ix.segs[s].find(key(kd, g.a, g.b, g.c)); p != nil {
					list = decodePosting(list, p)
					srcs++
				}
			}
		}
		if srcs > 1 {
			slices.Sort(list)
			list = slices.Compact(list)
		}
		if gi == 0 {
			hits = append(hits, list...)
		} else {
			hits = Intersect(hits, list)
		}
		if len(hits) == 0 {
			break
		}
	}
	// uids ∩ (hits ∪ not covered)
	var out []uint32
	h, c := 0, 0
	for _, u := range uids {
		for h < len(hits) && hits[h] < u {
			h++
		}
		for c < len(ix.covered) && ix.covered[c] < u {
			c++
		}
		if h < len(hits) && hits[h] == u || c == len(ix.covered) || ix.covered[c] != u {
			out = append(out, u)
		}
	}
	return out
}

// tokenQuery answers a needle of word bytes from the tokens: the token
// entries of a kind are searched as one string, and since an entry
// starts with its kind byte, not a word byte, every occurrence lies
// within one token.
func (ix *Index) tokenQuery(uids []uint32, kinds []uint8, needle []byte) Answer {
	var hits, inexact uidSet
	hits.init(uids)
	inexact.init(uids)
	for si := range ix.segs {
		s := &ix.segs[si]
		for _, kd := range kinds {
			lo, hi := s.kindRange(kd)
			if lo == hi {
				continue
			}
			area, base := s.toks[s.tokStart(lo):s.tokEnd(hi-1)], s.tokStart(lo)
			for at := 0; ; {
				j := bytes.Index(area[at:], needle)
				if j < 0 {
					break
				}
				// The entry holding offset base+at+j, past which to go on.
				off := base + at + j
				i := lo + sort.Search(hi-lo, func(i int) bool { return s.tokEnd(lo+i) > off })
				hits.addPosting(s.tokPostAt(i))
				at = s.tokEnd(i) - base
			}
		}
		for j := 0; j < len(s.inexact); j += 4 {
			inexact.add(binary.LittleEndian.Uint32(s.inexact[j:]))
		}
	}
	// Counted, then filled: a common word's answer is most of the
	// folder, and growing it by appends allocated it five times over.
	each := func(f func(u uint32, sure bool)) {
		c := 0
		for _, u := range uids {
			for c < len(ix.covered) && ix.covered[c] < u {
				c++
			}
			switch {
			case c == len(ix.covered) || ix.covered[c] != u:
				f(u, false)
			case !hits.has(u):
			case inexact.has(u):
				f(u, false)
			default:
				f(u, true)
			}
		}
	}
	var nSure, nMaybe int
	each(func(_ uint32, sure bool) {
		if sure {
			nSure++
		} else {
			nMaybe++
		}
	})
	a := Answer{Sure: withCap(nSure), Maybe: withCap(nMaybe)}
	each(func(u uint32, sure bool) {
		if sure {
			a.Sure = append(a.Sure, u)
		} else {
			a.Maybe = append(a.Maybe, u)
		}
	})
	return a
}

// kindRange returns the token entries of kind kd: [lo, hi).
func (s *segment) kindRange(kd uint8) (lo, hi int) {
	n := s.ntoks()
	lo = sort.Search(n, func(i int) bool { return s.toks[s.tokStart(i)] >= kd })
	hi = lo + sort.Search(n-lo, func(i int) bool { return s.toks[s.tokStart(lo+i)] > kd })
	return lo, hi
}

// uidSet is a set of UIDs up to the largest of a list: a bitmap, or a
// map when the UIDs are too sparse for one.
type uidSet struct {
	max  uint32
	bits []uint64
	m    map[uint32]bool
}

func (u *uidSet) init(uids []uint32) {
	if len(uids) == 0 {
		return
	}
	u.max = uids[len(uids)-1]
	if u.max < 1<<27 {
		u.bits = make([]uint64, u.max/64+1)
	} else {
		u.m = map[uint32]bool{}
	}
}

func (u *uidSet) add(v uint32) {
	switch {
	case v > u.max:
	case u.bits != nil:
		u.bits[v/64] |= 1 << (v % 64)
	default:
		u.m[v] = true
	}
}

// addPosting adds the UIDs of posting p.
func (u *uidSet) addPosting(p []byte) {
	v := uint32(0)
	for len(p) > 0 {
		d, n := binary.Uvarint(p)
		if n <= 0 {
			return // cannot happen in a segment whose CRC held
		}
		v += uint32(d)
		u.add(v)
		p = p[n:]
	}
}

func (u *uidSet) has(v uint32) bool {
	switch {
	case v > u.max:
		return false
	case u.bits != nil:
		return u.bits[v/64]&(1<<(v%64)) != 0
	}
	return u.m[v]
}

// Intersect returns the UIDs in both ascending lists, in a new slice.
func Intersect(a, b []uint32) []uint32 {
	out := withCap(common(a, b))
	both(a, b, func(u uint32) { out = append(out, u) })
	return out
}

// withCap is an empty list with room for n UIDs; nil for none.
func withCap(n int) []uint32 {
	if n == 0 {
		return nil
	}
	return make([]uint32, 0, n)
}

// common counts the UIDs in both ascending lists.
func common(a, b []uint32) int {
	n := 0
	both(a, b, func(uint32) { n++ })
	return n
}

// both calls f with each UID in both ascending lists, in order.
func both(a, b []uint32, f func(uint32)) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			f(a[i])
			i++
			j++
		}
	}
}

// subtract returns the UIDs of ascending a not in ascending b.
func subtract(a, b []uint32) []uint32 {
	var out []uint32
	j := 0
	for _, u := range a {
		for j < len(b) && b[j] < u {
			j++
		}
		if j == len(b) || b[j] != u {
			out = append(out, u)
		}
	}
	return out
}

// Stats describes the file, for tests and imapctl.
type Stats struct {
	Segments, Covered int
	Bytes             int64
}

// Stats returns what the index held at its last use.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return Stats{Segments: len(ix.segs), Covered: len(ix.covered), Bytes: int64(len(ix.data))}
}

func (s Stats) String() string {
	return fmt.Sprintf("%d segments, %d messages, %d bytes", s.Segments, s.Covered, s.Bytes)
}
