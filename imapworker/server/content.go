package server

import (
	"bytes"
	"io"

	"golang.org/x/sys/unix"

	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// Reading only what a command needs keeps large folders cheap: ENVELOPE
// and header SEARCH keys need the header block, which is usually within
// the first few KiB of a multi-MiB message.
const (
	headChunk = 16 << 10  // first read for a header
	headMax   = 256 << 10 // a longer header is read with the whole message
	keepBuf   = 4 << 20   // larger read buffers are dropped after use
)

// headerLen returns the length of b's header block including the blank
// line that ends it, parsing lines as mime.Parse does, or -1 when b ends
// before the header does.
func headerLen(b []byte) int {
	i := 0
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		line := b[i : i+j+1]
		i += j + 1
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			return i
		}
	}
	return -1
}

// bigMsg is the size from which a message read whole is kept off the
// heap, pruneMin the size from which SEARCH prunes one (msgBuf);
// variables for tests.
var (
	bigMsg   = 1 << 20
	pruneMin = 64 << 10
)

// msgBuf holds the message being parsed, one at a time. A small one is
// read into a heap buffer reused from message to message; one of bigMsg
// bytes or more into anonymous memory mapped for it alone and unmapped by
// done. The collector lets the heap grow to twice what is live, so a 20 MB
// message read onto the heap would raise the worker's resident size by
// 40 MB, and keep it raised long after. Nothing parsed from a message may
// be used after done.
type msgBuf struct {
	heap   []byte
	mapped []byte
	pr     mime.Pruner
}

// grow returns mb's heap buffer with at least n bytes.
func (mb *msgBuf) grow(n int) []byte {
	if cap(mb.heap) < n {
		mb.heap = make([]byte, n)
	}
	return mb.heap[:n]
}

// read returns the whole message, unless the content holds its bytes
// already.
func (mb *msgBuf) read(cnt store.Content) ([]byte, error) {
	if b, ok := cnt.(interface{ Bytes() []byte }); ok {
		return b.Bytes(), nil
	}
	mb.done()
	size := int(cnt.Size())
	var data []byte
	if size >= bigMsg {
		m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err == nil {
			mb.mapped, data = m, m
		}
	}
	if data == nil {
		data = mb.grow(size)
	}
	n, err := cnt.ReadAt(data, 0)
	if err == io.EOF && n == size {
		err = nil
	}
	return data[:n], err
}

// readPruned is read for SEARCH: a message of pruneMin bytes or more is
// streamed through mime.Prune, which leaves out its attachments; a big
// one into its own mapping (untouched pages take no memory), in case
// what remains is big too.
func (mb *msgBuf) readPruned(cnt store.Content) ([]byte, error) {
	size := int(cnt.Size())
	if _, ok := cnt.(interface{ Bytes() []byte }); ok || size < pruneMin {
		return mb.read(cnt)
	}
	mb.done()
	r := io.NewSectionReader(cnt, 0, int64(size))
	if size >= bigMsg {
		if m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err == nil {
			mb.mapped = m
			return mb.pr.Prune(r, m[:0])
		}
	}
	out, err := mb.pr.Prune(r, mb.heap[:0])
	mb.heap = out[:0]
	return out, err
}

// done ends the use of the last message read: a mapping is unmapped, a
// heap buffer grown past keepBuf dropped.
func (mb *msgBuf) done() {
	if mb.mapped != nil {
		unix.Munmap(mb.mapped)
		mb.mapped = nil
	}
	if cap(mb.heap) > keepBuf {
		mb.heap = nil
	}
}

// readHeader returns the message's header block (blank line included),
// reading a small prefix of the file when that holds all of it.
func readHeader(cnt store.Content, mb *msgBuf) ([]byte, error) {
	if b, ok := cnt.(interface{ Bytes() []byte }); ok {
		data := b.Bytes()
		if n := headerLen(data); n >= 0 {
			return data[:n], nil
		}
		return data, nil
	}
	size := cnt.Size()
	for want := int64(headChunk); ; want *= 4 {
		if want >= size || want > headMax {
			return mb.read(cnt)
		}
		data := mb.grow(int(want))
		n, err := cnt.ReadAt(data, 0)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if h := headerLen(data[:n]); h >= 0 {
			return data[:h], nil
		}
		if n < len(data) {
			return data[:n], nil // the file shrank: all of it is header
		}
	}
}

// shKey names the cached header fields that header SEARCH keys match;
// shFields lists them (lower case).
const shKey = "sh"

var shFields = []string{"subject", "from", "to", "cc", "bcc", "date"}

func isSHField(name string) bool {
	for _, f := range shFields {
		if len(f) == len(name) && equalFoldASCII(f, name) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// searchHeader is the value cached under shKey: the raw shFields fields
// of p's header, then a blank line, so that mime.Parse of it gives a header
// those SEARCH keys match exactly as the message's own. Nil when too big to
// be worth caching.
func searchHeader(p *mime.Part) []byte {
	var b []byte
	for _, f := range p.Header.Fields() {
		for _, name := range shFields {
			if f.Is(name) {
				b = append(b, f.Raw()...)
				if n := len(b); b[n-1] != '\n' {
					b = append(b, '\r', '\n')
				}
				break
			}
		}
	}
	if len(b) > 32<<10 {
		return nil
	}
	return append(b, '\r', '\n')
}

// cacheSearchHeader stores p's searchHeader for uid, and its sort record
// (sort.go) unless that is cached already: a client that fetched the
// envelopes then sorts or threads without opening a file again.
func (c *conn) cacheSearchHeader(uid uint32, p *mime.Part) {
	if v := searchHeader(p); v != nil {
		c.mbox.h.SetCached(uid, shKey, v)
	}
	if _, ok := c.mbox.h.Cached(uid, skKey); !ok {
		r := newSortRec(&p.Header)
		c.mbox.h.SetCached(uid, skKey, r.encode())
	}
}
