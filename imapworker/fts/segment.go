package fts

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
)

const (
	fileMagic  = "IMAPDFTS"
	version    = 1
	headerLen  = 20
	segMagic   = "FTSG"
	segHdrLen  = 12
	trailerLen = 12
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// MinNeedle is the shortest folded needle the index can narrow for.
const MinNeedle = 3

func key(kind uint8, a, b, c byte) uint32 {
	return uint32(kind)<<24 | uint32(a)<<16 | uint32(b)<<8 | uint32(c)
}

// Doc collects the trigram keys of one message.
type Doc struct{ keys []uint32 }

// Reset empties d for the next message.
func (d *Doc) Reset() { d.keys = d.keys[:0] }

// Add adds the trigrams of a folded text of the given kind
// (mime.TextKind).
func (d *Doc) Add(kind uint8, folded []byte) {
	for i := 0; i+2 < len(folded); i++ {
		d.keys = append(d.keys, key(kind, folded[i], folded[i+1], folded[i+2]))
	}
	if len(d.keys) > 1<<16 {
		d.dedupe() // a long text repeats itself: keep d small
	}
}

func (d *Doc) dedupe() {
	slices.Sort(d.keys)
	d.keys = slices.Compact(d.keys)
}

// builder gathers postings in memory until they are written as a
// segment.
type builder struct {
	post map[uint32][]uint32
	uids []uint32
	n    int // postings held
}

func (b *builder) add(uid uint32, d *Doc) {
	if b.post == nil {
		b.post = map[uint32][]uint32{}
	}
	d.dedupe()
	for _, k := range d.keys {
		b.post[k] = append(b.post[k], uid)
	}
	b.n += len(d.keys)
	b.uids = append(b.uids, uid)
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
	seg := w.finish()
	*b = builder{}
	return seg
}

// segWriter encodes a segment: the caller gives the UIDs, then postings
// in key order, then calls finish. With w nil the segment is kept whole
// in buf, header space first; else the body goes to w as it grows, and
// the header (header) is known at the end.
type segWriter struct {
	buf     []byte
	w       io.Writer
	err     error
	crc     uint32
	bodyLen int64
	postLen uint32
	nuids   uint32
	dir     []uint32 // key, end pairs
}

func (w *segWriter) begin(uids []uint32) {
	for _, u := range uids {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, u)
		w.spill()
	}
	w.nuids = uint32(len(uids))
}

func (w *segWriter) posting(k uint32, uids []uint32) {
	if len(uids) == 0 {
		return
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
	w.dir = append(w.dir, k, w.postLen)
	w.spill()
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
	for _, v := range w.dir {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, v)
		w.spill()
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, w.nuids)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.dir)/2))
	w.buf = binary.LittleEndian.AppendUint32(w.buf, w.postLen)
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

// header returns the segment header of what was encoded.
func (w *segWriter) header() []byte {
	h := make([]byte, 0, segHdrLen)
	h = append(h, segMagic...)
	h = binary.LittleEndian.AppendUint32(h, uint32(w.bodyLen))
	return binary.LittleEndian.AppendUint32(h, w.crc)
}

// segment is a parsed segment of a mapped file.
type segment struct {
	uids  []byte // nuids × u32
	post  []byte
	dir   []byte // nkeys × (key, end)
	start int64  // file offset of the segment
	end   int64  // file offset after it
}

func (s *segment) nkeys() int { return len(s.dir) / 8 }

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
	nuids := int64(binary.LittleEndian.Uint32(t))
	nkeys := int64(binary.LittleEndian.Uint32(t[4:]))
	plen := int64(binary.LittleEndian.Uint32(t[8:]))
	if 4*nuids+plen+8*nkeys+trailerLen != n {
		return segment{}, errSegment
	}
	s := segment{
		uids:  body[:4*nuids],
		post:  body[4*nuids : 4*nuids+plen],
		dir:   body[4*nuids+plen : n-trailerLen],
		start: off,
		end:   off + segHdrLen + n,
	}
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
