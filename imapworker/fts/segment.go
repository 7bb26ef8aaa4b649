package fts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
)

const (
	fileMagic  = "IMAPDFTS"
	version    = 2
	headerLen  = 20
	segMagic   = "FTSG"
	segHdrLen  = 12
	trailerLen = 24
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MinNeedle is the shortest folded needle the index can narrow for.
const MinNeedle = 3

func key(kind uint8, a, b, c byte) uint32 {
	return uint32(kind)<<24 | uint32(a)<<16 | uint32(b)<<8 | uint32(c)
}

// Tokens are the maximal runs of word bytes (ASCII letters and digits,
// and every byte of a non-ASCII rune) of the texts an ASCII needle reads,
// kept whole up to maxToken bytes; a longer run is kept as pieces of
// maxToken bytes starting every tokenStep bytes, so that any substring of
// it up to MaxExact bytes lies within one piece.
const (
	maxToken  = 64
	tokenStep = 32
	// MaxExact is the longest needle of word bytes the tokens answer
	// exactly: it lies within one token or piece.
	MaxExact = maxToken - tokenStep + 1
)

var wordByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
	}
	return
}()

// Doc collects the trigram keys and tokens of one message.
type Doc struct {
	keys    []uint32
	toks    []byte   // kind byte then token, for each token
	ends    []uint32 // where each token of toks ends
	inexact bool
}

// Reset empties d for the next message.
func (d *Doc) Reset() {
	d.keys, d.toks, d.ends, d.inexact = d.keys[:0], d.toks[:0], d.ends[:0], false
}

// Add adds the trigrams of a folded text of the given kind
// (mime.TextKind), and its tokens when ASCII needles read it (ascii).
func (d *Doc) Add(kind uint8, folded []byte, ascii bool) {
	for i := 0; i+2 < len(folded); i++ {
		d.keys = append(d.keys, key(kind, folded[i], folded[i+1], folded[i+2]))
	}
	if len(d.keys) > 1<<16 {
		d.dedupe() // a long text repeats itself: keep d small
	}
	if !ascii {
		return
	}
	for i := 0; i < len(folded); {
		if !wordByte[folded[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(folded) && wordByte[folded[j]] {
			j++
		}
		for p := i; ; p += tokenStep {
			e := min(p+maxToken, j)
			d.toks = append(append(d.toks, kind), folded[p:e]...)
			d.ends = append(d.ends, uint32(len(d.toks)))
			if e == j {
				break
			}
		}
		i = j
	}
}

// Inexact marks the message as one whose tokens may hold an ASCII needle
// that does not match it (mime.ViewASCIIWide): the caller verifies it.
func (d *Doc) Inexact() { d.inexact = true }

func (d *Doc) dedupe() {
	slices.Sort(d.keys)
	d.keys = slices.Compact(d.keys)
}

// builder gathers postings in memory until they are written as a
// segment.
type builder struct {
	post    map[uint32][]uint32
	tokIdx  map[string]int // token entry to its index in tokPost
	tokPost [][]uint32
	uids    []uint32
	inexact []uint32
	n       int // postings held, and the tokens' own cost in postings
}

func (b *builder) add(uid uint32, d *Doc) {
	if b.post == nil {
		b.post = map[uint32][]uint32{}
		b.tokIdx = map[string]int{}
	}
	d.dedupe()
	for _, k := range d.keys {
		b.post[k] = append(b.post[k], uid)
	}
	b.n += len(d.keys)
	start := uint32(0)
	for _, end := range d.ends {
		t := d.toks[start:end]
		start = end
		i, ok := b.tokIdx[string(t)]
		if !ok {
			i = len(b.tokPost)
			b.tokIdx[string(t)] = i
			b.tokPost = append(b.tokPost, nil)
			// A new token costs its string, map entry and posting slice:
			// about what 6 postings and its bytes cost.
			b.n += 6 + len(t)/8
		}
		if p := b.tokPost[i]; len(p) == 0 || p[len(p)-1] != uid {
			b.tokPost[i] = append(p, uid)
			b.n++
		}
	}
	b.uids = append(b.uids, uid)
	if d.inexact {
		b.inexact = append(b.inexact, uid)
	}
}

// segment encodes what b holds as a segment and empties b.
func (b *builder) segment() []byte {
	keys := make([]uint32, 0, len(b.post))
	for k := range b.post {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(b.uids)
	var w segWriter
	w.buf = make([]byte, segHdrLen, segHdrLen+4*len(b.uids)+2*b.n+8*len(keys)+trailerLen)
	w.begin(b.uids)
	for _, k := range keys {
		u := b.post[k]
		slices.Sort(u)
		w.posting(k, u)
	}
	toks := make([]string, 0, len(b.tokIdx))
	for t := range b.tokIdx {
		toks = append(toks, t)
	}
	slices.Sort(toks)
	for _, t := range toks {
		u := b.tokPost[b.tokIdx[t]]
		slices.Sort(u)
		w.token([]byte(t), u)
	}
	slices.Sort(b.inexact)
	w.inexact = b.inexact
	seg := w.finish()
	*b = builder{}
	return seg
}

// segWriter encodes a segment: the caller gives the UIDs, then postings
// in key order, then tokens in order, sets inexact, then calls finish.
// With w nil the segment is kept whole in buf, header space first; else
// the body goes to w as it grows, and the header (header) is known at
// the end.
type segWriter struct {
	buf     []byte
	w       io.Writer
	err     error
	crc     uint32
	bodyLen int64
	postLen uint32
	nuids   uint32
	dir     []uint32 // key, end pairs
	toks    []byte   // token entries
	tokDir  []uint32 // token end, posting end pairs
	inexact []uint32 // ascending
}

func (w *segWriter) begin(uids []uint32) {
	for _, u := range uids {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, u)
		w.spill()
	}
	w.nuids = uint32(len(uids))
}

func (w *segWriter) posting(k uint32, uids []uint32) {
	if w.appendPosting(uids) {
		w.dir = append(w.dir, k, w.postLen)
		w.spill()
	}
}

// token adds the posting of token entry t (kind byte, token).
func (w *segWriter) token(t []byte, uids []uint32) {
	if w.appendPosting(uids) {
		w.toks = append(w.toks, t...)
		w.tokDir = append(w.tokDir, uint32(len(w.toks)), w.postLen)
		w.spill()
	}
}

// appendPosting encodes uids (ascending) as a posting, if any.
func (w *segWriter) appendPosting(uids []uint32) bool {
	if len(uids) == 0 {
		return false
	}
	start := len(w.buf)
	prev := uint32(0)
	for i, u := range uids {
		if i > 0 && u == prev {
			continue
		}
		w.buf = binary.AppendUvarint(w.buf, uint64(u-prev))
		prev = u
	}
	w.postLen += uint32(len(w.buf) - start)
	return true
}

// spill writes out what buf holds once it is big, when streaming.
func (w *segWriter) spill() {
	if w.w != nil && len(w.buf) >= 256<<10 {
		w.flush()
	}
}

func (w *segWriter) flush() {
	w.crc = crc32.Update(w.crc, crcTable, w.buf)
	w.bodyLen += int64(len(w.buf))
	if w.err == nil {
		_, w.err = w.w.Write(w.buf)
	}
	w.buf = w.buf[:0]
}

// finish encodes the directory and trailer. In memory it returns the
// whole segment; streaming, nil (see header).
func (w *segWriter) finish() []byte {
	w.words(w.dir)
	for i := 0; i < len(w.toks); i += 64 << 10 {
		w.buf = append(w.buf, w.toks[i:min(i+64<<10, len(w.toks))]...)
		w.spill()
	}
	w.words(w.tokDir)
	w.words(w.inexact)
	for _, v := range []uint32{w.nuids, uint32(len(w.dir) / 2), w.postLen, uint32(len(w.tokDir) / 2), uint32(len(w.toks)), uint32(len(w.inexact))} {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, v)
	}
	if w.w != nil {
		w.flush()
		return nil
	}
	body := w.buf[segHdrLen:]
	w.crc = crc32.Checksum(body, crcTable)
	w.bodyLen = int64(len(body))
	copy(w.buf, w.header())
	return w.buf
}

func (w *segWriter) words(vs []uint32) {
	for _, v := range vs {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, v)
		w.spill()
	}
}

// header returns the segment header of what was encoded.
func (w *segWriter) header() []byte {
	h := make([]byte, 0, segHdrLen)
	h = append(h, segMagic...)
	h = binary.LittleEndian.AppendUint32(h, uint32(w.bodyLen))
	return binary.LittleEndian.AppendUint32(h, w.crc)
}

// segment is a parsed segment of a mapped file.
type segment struct {
	uids    []byte // nuids × u32
	post    []byte
	dir     []byte // nkeys × (key, end)
	toks    []byte // token entries
	tokDir  []byte // ntoks × (token end, posting end)
	inexact []byte // ninexact × u32
	start   int64  // file offset of the segment
	end     int64  // file offset after it
}

func (s *segment) nkeys() int { return len(s.dir) / 8 }

func (s *segment) ntoks() int { return len(s.tokDir) / 8 }

// tokAt returns token entry i: its kind byte, then the token.
func (s *segment) tokAt(i int) []byte { return s.toks[s.tokStart(i):s.tokEnd(i)] }

// tokStart returns where in s.toks token entry i starts.
func (s *segment) tokStart(i int) int {
	if i == 0 {
		return 0
	}
	return s.tokEnd(i - 1)
}

// tokPostAt returns the posting of token entry i; token postings follow
// the trigram ones.
func (s *segment) tokPostAt(i int) []byte {
	var start uint32
	switch {
	case i > 0:
		start = binary.LittleEndian.Uint32(s.tokDir[8*i-4:])
	case s.nkeys() > 0:
		start = binary.LittleEndian.Uint32(s.dir[len(s.dir)-4:])
	}
	return s.post[start:binary.LittleEndian.Uint32(s.tokDir[8*i+4:])]
}

// tokEnd returns where in s.toks token entry i ends.
func (s *segment) tokEnd(i int) int { return int(binary.LittleEndian.Uint32(s.tokDir[8*i:])) }

func (s *segment) uid(i int) uint32 { return binary.LittleEndian.Uint32(s.uids[4*i:]) }

// find returns the posting bytes of k, or nil.
func (s *segment) find(k uint32) []byte {
	n := s.nkeys()
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if binary.LittleEndian.Uint32(s.dir[8*m:]) < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == n || binary.LittleEndian.Uint32(s.dir[8*lo:]) != k {
		return nil
	}
	return s.postAt(lo)
}

func (s *segment) keyAt(i int) uint32 { return binary.LittleEndian.Uint32(s.dir[8*i:]) }

func (s *segment) postAt(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = binary.LittleEndian.Uint32(s.dir[8*i-4:])
	}
	return s.post[start:binary.LittleEndian.Uint32(s.dir[8*i+4:])]
}

var errSegment = errors.New("fts: damaged segment")

// parseSegment reads the segment at off of data, checking its magic,
// length, CRC (if verify) and that its directory is consistent.
func parseSegment(data []byte, off int64, verify bool) (segment, error) {
	rest := data[off:]
	if len(rest) < segHdrLen || string(rest[:4]) != segMagic {
		return segment{}, errSegment
	}
	n := int64(binary.LittleEndian.Uint32(rest[4:]))
	if n < trailerLen || int64(len(rest)-segHdrLen) < n {
		return segment{}, errSegment
	}
	body := rest[segHdrLen : segHdrLen+n]
	if verify && crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(rest[8:]) {
		return segment{}, errSegment
	}
	t := body[len(body)-trailerLen:]
	var c [6]int64 // nuids, nkeys, postings length, ntoks, tokens length, ninexact
	for i := range c {
		c[i] = int64(binary.LittleEndian.Uint32(t[4*i:]))
	}
	nuids, nkeys, plen, ntoks, tlen, ninexact := c[0], c[1], c[2], c[3], c[4], c[5]
	if 4*nuids+plen+8*nkeys+tlen+8*ntoks+4*ninexact+trailerLen != n {
		return segment{}, errSegment
	}
	var s segment
	for _, f := range []struct {
		dst *[]byte
		n   int64
	}{{&s.uids, 4 * nuids}, {&s.post, plen}, {&s.dir, 8 * nkeys}, {&s.toks, tlen}, {&s.tokDir, 8 * ntoks}, {&s.inexact, 4 * ninexact}} {
		*f.dst, body = body[:f.n:f.n], body[f.n:]
	}
	s.start, s.end = off, off+segHdrLen+n
	if !verify {
		return s, nil
	}
	// Ends must ascend within the postings, keys strictly: a reader
	// then never slices out of range.
	prevEnd, prevKey := uint32(0), uint32(0)
	for i := range s.nkeys() {
		k, e := s.keyAt(i), binary.LittleEndian.Uint32(s.dir[8*i+4:])
		if e < prevEnd || int64(e) > plen || (i > 0 && k <= prevKey) {
			return segment{}, errSegment
		}
		prevEnd, prevKey = e, k
	}
	// Token entries: each a kind byte and a token, strictly ascending,
	// their postings after the trigrams'.
	prevTok := 0
	for i := range s.ntoks() {
		te, pe := s.tokEnd(i), binary.LittleEndian.Uint32(s.tokDir[8*i+4:])
		if te < prevTok+2 || int64(te) > tlen || pe < prevEnd || int64(pe) > plen ||
			(i > 0 && bytes.Compare(s.tokAt(i-1), s.toks[prevTok:te]) >= 0) {
			return segment{}, errSegment
		}
		prevTok, prevEnd = te, pe
	}
	return s, nil
}

// decodePosting appends the UIDs of posting p to dst.
func decodePosting(dst []uint32, p []byte) []uint32 {
	u := uint32(0)
	for len(p) > 0 {
		d, n := binary.Uvarint(p)
		if n <= 0 {
			return dst // cannot happen in a segment whose CRC held
		}
		u += uint32(d)
		dst = append(dst, u)
		p = p[n:]
	}
	return dst
}

func fileHeader(uidValidity uint32) []byte {
	h := append([]byte{}, fileMagic...)
	h = binary.LittleEndian.AppendUint32(h, version)
	h = binary.LittleEndian.AppendUint32(h, uidValidity)
	return binary.LittleEndian.AppendUint32(h, crc32.Checksum(h, crcTable))
}
