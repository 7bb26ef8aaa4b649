// Package inflate decompresses a raw DEFLATE stream (RFC 1951) the way a
// COMPRESS=DEFLATE session needs it (RFC 4978): the bytes of a block are
// returned as soon as the block ends, so a client's Z_PARTIAL_FLUSH is
// enough for its command to be read. compress/flate holds a finished
// block's bytes back until a stored block or a full window follows, which
// leaves a partial-flushing client (isync) waiting for an answer to a
// command the server never saw (docs/conformance.md, the RFC 4978 row).
//
// Memory is bounded whatever the input: the 32 KiB window and three code
// tables, nothing that grows with the stream.
package inflate

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

const (
	maxBits    = 15      // longest code, RFC 1951 §3.2.2
	windowSize = 1 << 15 // farthest back-reference, §3.2.5
	windowMask = windowSize - 1
	maxLitLen  = 286 // literal/length codes that can occur, §3.2.5
	maxDist    = 30
)

var (
	errHeader  = errors.New("inflate: invalid block header")
	errCode    = errors.New("inflate: invalid Huffman code")
	errStored  = errors.New("inflate: stored block length mismatch")
	errTooFar  = errors.New("inflate: back-reference before the start of the stream")
	errLengths = errors.New("inflate: invalid code lengths")
)

// §3.2.5: base values and extra bits of the length and distance codes.
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// §3.2.7: the order in which code length code lengths are sent.
	codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// huffman is a canonical code (§3.2.2) as counts of codes per length and
// the symbols in code order: decoding walks the lengths one bit at a time.
type huffman struct {
	count  [maxBits + 1]uint16
	symbol [288]uint16
}

func (h *huffman) build(lengths []uint8) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l <= maxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errLengths // more codes than the lengths allow
		}
	}
	// An incomplete code is accepted; a bit pattern it lacks is an
	// error when it is met (decode).
	var offset [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offset[l+1] = offset[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offset[l]] = uint16(sym)
			offset[l]++
		}
	}
	return nil
}

// fixed are the codes of BTYPE 01 (§3.2.6), built when first needed.
var fixed = sync.OnceValues(func() (*huffman, *huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var lit, dist huffman
	lit.build(l[:])
	for i := range 32 {
		l[i] = 5
	}
	dist.build(l[:32])
	return &lit, &dist
})

type state uint8

const (
	atHeader state = iota
	inStored
	inCoded
	atEnd
)

// Reader decompresses what it reads from its source.
type Reader struct {
	src *bufio.Reader
	bb  uint32 // bits read from src and not yet used, first bit lowest
	nb  uint

	state      state
	final      bool // the current block is the last one
	storedLeft int
	lit, dist  *huffman
	dynLit     huffman
	dynDist    huffman
	copyLen    int // what is left of a back-reference cut by a full buffer
	copyDist   int

	win    [windowSize]byte
	wpos   int
	filled int // bytes in win, up to windowSize
	err    error
}

// NewReader reads DEFLATE data from src.
func NewReader(src io.Reader) *Reader {
	br, ok := src.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(src, 4096)
	}
	return &Reader{src: br}
}

// Read decompresses into p. It returns as soon as a block ends, or as soon
// as the source has nothing more buffered, with whatever it has: it waits
// for the source only when it has nothing to return.
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.err == nil {
		if r.copyLen > 0 {
			n += r.copyOut(p[n:])
			continue
		}
		if n > 0 && (r.state == atHeader || r.src.Buffered() == 0) {
			return n, nil
		}
		switch r.state {
		case atHeader:
			r.err = r.header()
		case inStored:
			n += r.stored(p[n:])
		case inCoded:
			r.err = r.symbol(p, &n)
		case atEnd:
			r.err = io.EOF
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

func (r *Reader) bits(n uint) (int, error) {
	for r.nb < n {
		c, err := r.src.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		r.bb |= uint32(c) << r.nb
		r.nb += 8
	}
	v := int(r.bb & (1<<n - 1))
	r.bb >>= n
	r.nb -= n
	return v, nil
}

// decode reads one symbol of h (§3.2.2: codes are sent first bit first).
func (r *Reader) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := int(h.count[l])
		if code-first < count {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errCode
}

func (r *Reader) endBlock() {
	r.state = atHeader
	if r.final {
		r.state = atEnd
	}
}

// header reads a block's header (§3.2.3) and, for BTYPE 10, its code
// tables (§3.2.7).
func (r *Reader) header() error {
	h, err := r.bits(3)
	if err != nil {
		return err
	}
	r.final = h&1 == 1
	switch h >> 1 {
	case 0: // §3.2.4: stored, from the next byte boundary
		r.bits(r.nb % 8)
		n, err := r.bits(16)
		if err != nil {
			return err
		}
		nn, err := r.bits(16)
		if err != nil {
			return err
		}
		if n != ^nn&0xffff {
			return errStored
		}
		r.storedLeft, r.state = n, inStored
	case 1:
		r.lit, r.dist = fixed()
		r.state = inCoded
	case 2:
		if err := r.dynamic(); err != nil {
			return err
		}
		r.lit, r.dist = &r.dynLit, &r.dynDist
		r.state = inCoded
	default:
		return errHeader
	}
	return nil
}

func (r *Reader) dynamic() error {
	nlen, err := r.bits(5)
	if err != nil {
		return err
	}
	ndist, err := r.bits(5)
	if err != nil {
		return err
	}
	ncode, err := r.bits(4)
	if err != nil {
		return err
	}
	nlen, ndist, ncode = nlen+257, ndist+1, ncode+4
	if nlen > maxLitLen || ndist > maxDist {
		return errHeader
	}
	var lengths [maxLitLen + maxDist]uint8
	for i := range ncode {
		l, err := r.bits(3)
		if err != nil {
			return err
		}
		lengths[codeLengthOrder[i]] = uint8(l)
	}
	var cl huffman
	if err := cl.build(lengths[:19]); err != nil {
		return err
	}
	lengths = [maxLitLen + maxDist]uint8{}
	for i := 0; i < nlen+ndist; {
		sym, err := r.decode(&cl)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var l uint8
		var rep int
		switch sym {
		case 16:
			if i == 0 {
				return errLengths
			}
			l = lengths[i-1]
			rep, err = r.bits(2)
			rep += 3
		case 17:
			rep, err = r.bits(3)
			rep += 3
		default:
			rep, err = r.bits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+rep > nlen+ndist {
			return errLengths
		}
		for ; rep > 0; rep-- {
			lengths[i] = l
			i++
		}
	}
	if lengths[256] == 0 {
		return errLengths // no end-of-block code
	}
	if err := r.dynLit.build(lengths[:nlen]); err != nil {
		return err
	}
	return r.dynDist.build(lengths[nlen : nlen+ndist])
}

func (r *Reader) put(p []byte, b byte) {
	p[0] = b
	r.remember(b)
}

// remember keeps b in the window for later back-references.
func (r *Reader) remember(b byte) {
	r.win[r.wpos] = b
	r.wpos = (r.wpos + 1) & windowMask
	if r.filled < windowSize {
		r.filled++
	}
}

func (r *Reader) copyOut(p []byte) int {
	i := 0
	for ; i < len(p) && r.copyLen > 0; i++ {
		r.put(p[i:], r.win[(r.wpos-r.copyDist)&windowMask])
		r.copyLen--
	}
	return i
}

func (r *Reader) stored(p []byte) int {
	if r.storedLeft == 0 {
		r.endBlock()
		return 0
	}
	m := min(len(p), r.storedLeft)
	i := 0
	for ; i < m && r.nb >= 8; i++ { // whole bytes left in the bit buffer
		r.put(p[i:], byte(r.bb))
		r.bb >>= 8
		r.nb -= 8
	}
	if i < m {
		k, err := r.src.Read(p[i:m])
		for _, b := range p[i : i+k] {
			r.remember(b)
		}
		i += k
		r.err = err
	}
	r.storedLeft -= i
	return i
}

// symbol decodes one literal, end of block or back-reference (§3.2.5).
func (r *Reader) symbol(p []byte, n *int) error {
	sym, err := r.decode(r.lit)
	if err != nil {
		return err
	}
	switch {
	case sym < 256:
		r.put(p[*n:], byte(sym))
		*n++
		return nil
	case sym == 256:
		r.endBlock()
		return nil
	case sym > 285:
		return errCode
	}
	sym -= 257
	extra, err := r.bits(uint(lengthExtra[sym]))
	if err != nil {
		return err
	}
	length := int(lengthBase[sym]) + extra
	dsym, err := r.decode(r.dist)
	if err != nil {
		return err
	}
	if dsym >= maxDist {
		return errCode
	}
	extra, err = r.bits(uint(distExtra[dsym]))
	if err != nil {
		return err
	}
	dist := int(distBase[dsym]) + extra
	if dist > r.filled {
		return errTooFar
	}
	r.copyLen, r.copyDist = length, dist
	return nil
}
