package maildir

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"slices"
	"time"
)

// imapd.index is a cache of a folder's state so a cold SELECT of a large
// folder reads one file instead of stat-ing every message: the uidlist
// header, the stamps of the uidlist, cur/, new/ and dovecot-keywords it was
// taken at, and per message UID, name, sizes, date and where its cached
// values are in imapd.cache. It is used as is only when every stamp still
// matches; otherwise its sizes and dates spare the stat calls of a rescan.
// It ends in a CRC-32C; anything unreadable is ignored and rewritten.
//
// imapd.cache is append-only: records
// [uid u32][key len u16][value len u32][key][value][crc32c u32], after an
// 8-byte magic and the UIDVALIDITY (u32) the values belong to.
const (
	indexName  = "imapd.index"
	cacheName  = "imapd.cache"
	indexMagic = "IMAPDIX2"
	cacheMagic = "IMAPDCA1"
	// indexDelay bounds how long a dirty index waits to be written.
	indexDelay = 10 * time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type centry struct {
	key      string
	off, len int64
}

// cloc is a value's offset in imapd.cache (low clocOffBits bits) and its
// length (the rest): 8 bytes rather than 16 per message and key.
type cloc uint64

const (
	clocOffBits = 36 // 64 GiB of cache file
	maxCacheOff = 1<<clocOffBits - 1
	maxCacheLen = 1<<(64-clocOffBits) - 1 // 256 MiB per value
)

func (l cloc) off() int64 { return int64(l & maxCacheOff) }
func (l cloc) len() int64 { return int64(l >> clocOffBits) }

// centries locates cached values: key, then UID. Per key, not per UID, as
// a folder has few keys and many messages; per key a column sorted by UID,
// 12 bytes a value where a map took about 29 (docs/performance.md: the
// locations were 8 MiB of a 100,000-message folder's 30 MiB).
type centries map[string]*ccol

// ccol is one key's locations: uids ascending, locs beside them. Values
// are cached mostly in UID order, so a put usually appends; one below the
// last UID waits in late until late is an eighth of the column, then the
// two are merged: a FETCH of every message in descending order costs a
// few merges, not a shift of the column per message.
type ccol struct {
	uids []uint32
	locs []cloc
	late map[uint32]cloc
}

// put records e; a location that does not fit a cloc (only another
// program's file could hold one) is left out: a cache miss.
func (cs centries) put(uid uint32, e centry) {
	if e.off < 0 || e.off > maxCacheOff || e.len < 0 || e.len > maxCacheLen {
		return
	}
	c := cs[e.key]
	if c == nil {
		c = &ccol{}
		cs[e.key] = c
	}
	l := cloc(e.off) | cloc(e.len)<<clocOffBits
	n := len(c.uids)
	if n == 0 || uid > c.uids[n-1] {
		c.uids, c.locs = append(c.uids, uid), append(c.locs, l)
		return
	}
	if i, ok := slices.BinarySearch(c.uids, uid); ok {
		c.locs[i] = l
		return
	}
	if c.late == nil {
		c.late = map[uint32]cloc{}
	}
	c.late[uid] = l
	if len(c.late) > max(64, n/8) {
		c.merge()
	}
}

// merge moves late into the column.
func (c *ccol) merge() {
	if len(c.late) == 0 {
		return
	}
	add := slices.Sorted(maps.Keys(c.late))
	n := len(c.uids) + len(add)
	uids, locs := make([]uint32, 0, n), make([]cloc, 0, n)
	i := 0
	for _, u := range add {
		for ; i < len(c.uids) && c.uids[i] < u; i++ {
			uids, locs = append(uids, c.uids[i]), append(locs, c.locs[i])
		}
		uids, locs = append(uids, u), append(locs, c.late[u])
	}
	c.uids, c.locs = append(uids, c.uids[i:]...), append(locs, c.locs[i:]...)
	c.late = nil
}

func (c *ccol) get(uid uint32) (cloc, bool) {
	if c == nil {
		return 0, false
	}
	if i, ok := slices.BinarySearch(c.uids, uid); ok {
		return c.locs[i], true
	}
	l, ok := c.late[uid]
	return l, ok
}

func (cs centries) get(uid uint32, key string) (centry, bool) {
	l, ok := cs[key].get(uid)
	return centry{key, l.off(), l.len()}, ok
}

func (cs centries) keys() []string { return slices.Sorted(maps.Keys(cs)) }

// of appends uid's entries to out, in the order of keys (cs.keys()).
func (cs centries) of(uid uint32, keys []string, out []centry) []centry {
	for _, k := range keys {
		if l, ok := cs[k].get(uid); ok {
			out = append(out, centry{k, l.off(), l.len()})
		}
	}
	return out
}

// uids returns the UIDs with entries, ascending.
func (cs centries) uids() []uint32 {
	var out []uint32
	for _, c := range cs {
		c.merge()
		out = append(out, c.uids...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// cacheFile is a folder's open imapd.cache.
type cacheFile struct {
	fh   *os.File
	ino  uint64
	size int64 // bytes scanned
	ents centries
	// win caches bytes [winOff, winOff+len(win)) of the file for cacheGet;
	// records are never rewritten in place, only appended or compacted
	// into a new file.
	win    []byte
	winOff int64
	// pending holds whole records cacheSet made and flush has not written
	// yet, in order; pendIdx locates each value in it.
	pending []byte
	pendIdx map[pendKey]pendLoc
	// scanned is when a miss last looked for other processes' appends.
	scanned time.Time
}

type pendKey struct {
	uid uint32
	key string
}

// pendLoc is a pending value: pending[at : at+n].
type pendLoc struct{ at, n int }

// cacheFlushAt is how many pending bytes make cacheSet write them: one
// write(2) for a few hundred records, not three system calls for each
// (a first FETCH ENVELOPE of 100,000 messages made 900,000).
const cacheFlushAt = 64 << 10

// flush writes the pending records in one write(2); with O_APPEND they
// stay whole and in order beside other processes' appends. A failed
// write loses them: a cache.
func (c *cacheFile) flush() {
	c.write()
	// Not kept: an idle worker holds no buffer.
	c.pending, c.pendIdx = nil, nil
}

// write is flush keeping the buffer for the next batch, for cacheSet: a
// FETCH of every message fills a few thousand batches.
func (c *cacheFile) write() {
	if len(c.pending) == 0 {
		return
	}
	defer func() {
		c.pending = c.pending[:0]
		clear(c.pendIdx)
	}()
	c.scan()
	if _, err := c.fh.Write(c.pending); err != nil {
		return
	}
	end, err := c.fh.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	// The records in the order written, which is mostly UID order: the
	// locations then append to their columns (pendIdx's order is random).
	start := end - int64(len(c.pending))
	p := c.pending
	for at := 0; at+10 <= len(p); {
		kl, vl := int(binary.LittleEndian.Uint16(p[at+4:])), int(binary.LittleEndian.Uint32(p[at+6:]))
		val := at + 10 + kl
		c.put(binary.LittleEndian.Uint32(p[at:]), centry{key: internKey(p[at+10 : val]), off: start + int64(val), len: int64(vl)})
		at = val + vl + 4
	}
	if start == c.size {
		c.size = end
	}
}

// wbuf encodes the index; past 64 KiB it writes what it holds to w and
// adds it to the CRC, so a large folder's index is never held whole.
type wbuf struct {
	b   []byte
	w   io.Writer
	crc uint32
	err error
}

func (w *wbuf) flush() {
	w.crc = crc32.Update(w.crc, crcTable, w.b)
	if w.err == nil {
		_, w.err = w.w.Write(w.b)
	}
	w.b = w.b[:0]
}

func (w *wbuf) maybeFlush() {
	if len(w.b) >= 64<<10 {
		w.flush()
	}
}

func (w *wbuf) u(v uint64)    { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) i(v int64)     { w.b = binary.AppendVarint(w.b, v) }
func (w *wbuf) s(v string)    { w.u(uint64(len(v))); w.b = append(w.b, v...) }
func (w *wbuf) st(v stamp)    { w.u(v.ino); w.i(v.size); w.i(v.mtime) }
func (r *rbuf) st() (v stamp) { v.ino = r.u(); v.size = r.i(); v.mtime = r.i(); return }

type rbuf struct {
	b   []byte
	err bool
}

func (r *rbuf) u() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) i() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

// b0 is s without the copy: the bytes stay in r's buffer.
func (r *rbuf) b0() []byte {
	n := r.u()
	if n > uint64(len(r.b)) {
		r.err = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rbuf) s() string {
	n := r.u()
	if n > uint64(len(r.b)) {
		r.err = true
		r.b = nil
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}

func (f *folder) markIndexDirty() {
	f.indexDirty = true
	if f.indexTimer == nil {
		f.indexTimer = time.AfterFunc(indexDelay, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.indexTimer = nil
			_ = f.flushIndex()
		})
	}
}

// flushIndex writes imapd.index if the state changed. Called with f.mu.
func (f *folder) flushIndex() error {
	if f.cache != nil {
		f.cache.flush() // the index records where the values are
	}
	if !f.loaded {
		return nil
	}
	if f.newSt == (stamp{}) && !f.u.opts.Shared {
		// new/ was too fresh to trust at the last scan; if it is empty and
		// settled now, the index can vouch for it.
		st1, err1 := statStamp(f.sub("new"))
		names, err2 := readNames(f.sub("new"))
		st2, err3 := statStamp(f.sub("new"))
		if err1 == nil && err2 == nil && err3 == nil && len(names) == 0 && st1 == st2 &&
			time.Now().UnixNano()-st1.mtime >= int64(time.Second) {
			f.newSt = st1
			f.indexDirty = true
		}
	}
	if !f.indexDirty {
		return nil
	}
	f.indexDirty = false
	_ = f.compactCache() // best effort: the old file stays usable
	// A cache: no fsync; a torn file fails its CRC and is rebuilt. On
	// shared storage it is fsynced before the rename, so that another
	// host never opens a name whose data has not reached the server.
	tmp := f.sub(indexName + ".tmp")
	fh, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer fh.Close()
	w := &wbuf{b: make([]byte, 0, 80<<10), w: fh}
	w.b = append(w.b, indexMagic...)
	w.u(uint64(f.ul.uidValidity))
	w.u(uint64(f.ul.nextUID))
	w.s(f.ul.guid)
	w.u(uint64(len(f.ul.hdrExt)))
	for _, x := range f.ul.hdrExt {
		w.s(x)
	}
	w.st(f.ulSt)
	w.i(f.ulOff)
	w.u(uint64(f.ulLines))
	w.st(f.curSt)
	w.st(f.newSt)
	w.st(f.kwSt)
	w.u(uint64(len(f.kw)))
	for _, k := range f.kw {
		w.s(k)
	}
	var cino uint64
	var csize int64
	if f.cache != nil {
		cino, csize = f.cache.ino, f.cache.size
	}
	w.u(cino)
	w.i(csize)
	var ckeys []string
	var ce []centry
	if f.cache != nil {
		ckeys = f.cache.ents.keys()
	}
	w.u(uint64(len(f.msgs)))
	for _, m := range f.msgs {
		w.u(uint64(m.uid))
		w.s(m.name)
		w.u(uint64(len(m.base())))
		var fl uint64
		if m.inNew {
			fl = 1
		}
		w.u(fl)
		w.i(m.fsize)
		w.i(m.vsize)
		w.i(m.date)
		w.s(m.ext)
		ce = ce[:0]
		if f.cache != nil {
			ce = f.cache.ents.of(m.uid, ckeys, ce)
		}
		w.u(uint64(len(ce)))
		for _, e := range ce {
			w.s(e.key)
			w.i(e.off)
			w.i(e.len)
		}
		w.maybeFlush()
	}
	w.flush()
	w.b = binary.LittleEndian.AppendUint32(w.b, w.crc)
	if _, err := fh.Write(w.b); err != nil || w.err != nil {
		os.Remove(tmp)
		return cmp.Or(w.err, err)
	}
	if f.u.opts.Shared {
		if err := fh.Sync(); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := fh.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return rename(tmp, f.sub(indexName))
}

// loadIndex adopts imapd.index when it matches the files, else keeps its
// sizes and dates as hints for the rescan. On shared storage it is only
// ever hints: the stamps it would be checked against may come from this
// host's attribute cache. Called with f.mu, before the first scan.
func (f *folder) loadIndex() {
	data, err := os.ReadFile(f.sub(indexName))
	if err != nil || len(data) < len(indexMagic)+4 || string(data[:len(indexMagic)]) != indexMagic {
		return
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return
	}
	r := &rbuf{b: body[len(indexMagic):]}
	var ul uidlist
	ul.version, ul.complete = 3, true
	ul.uidValidity = uint32(r.u())
	ul.nextUID = uint32(r.u())
	ul.guid = r.s()
	for n := r.u(); n > 0 && !r.err; n-- {
		ul.hdrExt = append(ul.hdrExt, r.s())
	}
	ulSt, ulOff, ulLines := r.st(), r.i(), int(r.u())
	curSt, newSt, kwSt := r.st(), r.st(), r.st()
	var kw []string
	for n := r.u(); n > 0 && !r.err; n-- {
		kw = append(kw, r.s())
	}
	cino, csize := r.u(), r.i()
	n := r.u()
	if r.err || n > uint64(len(r.b)) {
		return
	}
	msgs := make([]*msg, 0, n)
	block := make([]msg, n) // one allocation for all messages
	cents := centries{}
	for i := 0; uint64(i) < n && !r.err; i++ {
		m := &block[i]
		m.uid = uint32(r.u())
		m.name = r.s()
		bl := int(r.u())
		if bl > len(m.name) || bl > 0xffff {
			r.err = true
			break
		}
		m.blen = uint16(bl)
		m.inNew = r.u()&1 != 0
		m.fsize, m.vsize, m.date = r.i(), r.i(), r.i()
		m.ext = r.s()
		for c := r.u(); c > 0 && !r.err; c-- {
			cents.put(m.uid, centry{key: internKey(r.b0()), off: r.i(), len: r.i()})
		}
		if len(msgs) > 0 && msgs[len(msgs)-1].uid >= m.uid {
			r.err = true
		}
		msgs = append(msgs, m)
	}
	if r.err {
		return
	}
	cur, err1 := statStamp(f.sub("cur"))
	nw, err2 := statStamp(f.sub("new"))
	ulNow, _ := statStamp(f.sub(uidlistName))
	kwNow, _ := statStamp(f.sub(keywordsName))
	if f.u.opts.Shared || err1 != nil || err2 != nil || cur != curSt || nw != newSt || newSt == (stamp{}) || ulNow != ulSt || kwNow != kwSt {
		f.hint = make(map[string]*msg, len(msgs))
		for _, m := range msgs {
			f.hint[m.base()] = m
		}
		return
	}
	f.ul, f.ulSt, f.ulOff, f.ulLines = ul, ulSt, ulOff, ulLines
	f.curSt, f.newSt, f.kwSt, f.kw = curSt, newSt, kwSt, kw
	f.msgs = msgs
	f.byBase = nil
	f.byBase.add(msgs)
	f.openCache(cino, csize, cents)
}

// openCache opens imapd.cache, trusting offsets from the index when the
// file is the one they describe, and scanning the rest.
func (f *folder) openCache(ino uint64, size int64, ents centries) {
	fh, err := openFile(f.sub(cacheName), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return
	}
	c := &cacheFile{fh: fh, ents: ents}
	if st.Size() < 12 || !c.checkHeader(f.ul.uidValidity) {
		// New, foreign or for another UIDVALIDITY: start over.
		if err := fh.Truncate(0); err != nil {
			fh.Close()
			return
		}
		hdr := append([]byte(cacheMagic), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(hdr[8:], f.ul.uidValidity)
		if _, err := fh.Write(hdr); err != nil {
			fh.Close()
			return
		}
		c.ents, size = centries{}, 12
	}
	s, _ := statStamp(f.sub(cacheName))
	c.ino = s.ino
	if ino != c.ino || size < 12 || c.ents == nil {
		c.ents, size = centries{}, 12
	}
	c.size = size
	c.scan()
	f.cache = c
}

func (c *cacheFile) checkHeader(uv uint32) bool {
	var hdr [12]byte
	if _, err := c.fh.ReadAt(hdr[:], 0); err != nil {
		return false
	}
	return string(hdr[:8]) == cacheMagic && binary.LittleEndian.Uint32(hdr[8:]) == uv
}

// scan reads records appended since c.size (by us or another process).
func (c *cacheFile) scan() {
	st, err := c.fh.Stat()
	if err != nil || st.Size() <= c.size {
		return
	}
	data := make([]byte, st.Size()-c.size)
	if _, err := c.fh.ReadAt(data, c.size); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	for len(data) >= 14 {
		uid := binary.LittleEndian.Uint32(data)
		kl := int64(binary.LittleEndian.Uint16(data[4:]))
		vl := int64(binary.LittleEndian.Uint32(data[6:]))
		total := 10 + kl + vl + 4
		if int64(len(data)) < total {
			return // torn tail; a later append lands after it
		}
		rec := data[:total]
		if crc32.Checksum(rec[:total-4], crcTable) != binary.LittleEndian.Uint32(rec[total-4:]) {
			return
		}
		c.put(uid, centry{key: internKey(rec[10 : 10+kl]), off: c.size + 10 + kl, len: vl})
		c.size += total
		data = data[total:]
	}
}

// cacheKeys are the keys the IMAP engine uses: a folder of 100,000
// messages has several records each, which then share one string.
var cacheKeys = []string{"env", "env7", "bs", "bs7", "body", "body7", "sh", "sk"}

func internKey[T string | []byte](b T) string {
	for _, k := range cacheKeys {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

func (c *cacheFile) put(uid uint32, e centry) { c.ents.put(uid, e) }

func (f *folder) ensureCache() bool {
	if f.cache == nil {
		if !f.loaded || f.ul.uidValidity == 0 {
			return false
		}
		f.openCache(0, 0, nil)
	}
	return f.cache != nil
}

// cacheGet returns a cached value. Called with f.mu.
func (f *folder) cacheGet(uid uint32, key string) ([]byte, bool) {
	if f.lookup(uid) == nil || !f.ensureCache() {
		return nil, false
	}
	c := f.cache
	if l, ok := c.pendIdx[pendKey{uid, key}]; ok {
		return bytes.Clone(c.pending[l.at : l.at+l.n]), true
	}
	find := func() (centry, bool) { return c.ents.get(uid, key) }
	e, ok := find()
	if !ok {
		// Maybe another process cached it; looked for once a second, as a
		// first FETCH of a large folder misses on every message.
		if time.Since(c.scanned) < time.Second {
			return nil, false
		}
		c.scanned = time.Now()
		c.scan()
		if e, ok = find(); !ok {
			return nil, false
		}
	}
	// Re-check the record's CRC: the offset may come from an old index,
	// or the window hold a record another process was still writing.
	n := 10 + int64(len(key)) + e.len + 4
	start := e.off - 10 - int64(len(key))
	for try := 0; try < 2; try++ {
		rec, fromWin, err := c.readRec(start, n, try == 0)
		if err != nil {
			return nil, false
		}
		if crc32.Checksum(rec[:len(rec)-4], crcTable) != binary.LittleEndian.Uint32(rec[len(rec)-4:]) ||
			binary.LittleEndian.Uint32(rec) != uid || string(rec[10:10+len(key)]) != key {
			if fromWin {
				continue
			}
			return nil, false
		}
		v := rec[10+len(key) : n-4]
		if fromWin {
			v = bytes.Clone(v)
		}
		return v, true
	}
	return nil, false
}

// cacheWin is the size of the window of imapd.cache that cacheGet reads at
// once: a FETCH or SEARCH of every message reads the records in the order
// they were written, so one pread(2) serves hundreds of them.
const cacheWin = 256 << 10

// readRec returns n bytes of the file at start, through the window when
// useWin and the record is small; fromWin says the bytes are the window's
// (valid until the next call).
func (c *cacheFile) readRec(start, n int64, useWin bool) (rec []byte, fromWin bool, err error) {
	if !useWin || n > cacheWin/4 {
		rec = make([]byte, n)
		if k, err := c.fh.ReadAt(rec, start); int64(k) < n {
			return nil, false, cmp.Or(err, io.ErrUnexpectedEOF)
		}
		return rec, false, nil
	}
	if start < c.winOff || start+n > c.winOff+int64(len(c.win)) {
		if c.win == nil {
			c.win = make([]byte, cacheWin)
		}
		k, err := c.fh.ReadAt(c.win[:cacheWin], start)
		c.win, c.winOff = c.win[:k], start
		if int64(k) < n {
			return nil, false, cmp.Or(err, io.ErrUnexpectedEOF)
		}
	}
	o := start - c.winOff
	return c.win[o : o+n], true, nil
}

// cacheSet adds a value to the pending records, written by flush once
// they reach cacheFlushAt bytes or when the index is (indexDelay).
func (f *folder) cacheSet(uid uint32, key string, value []byte) {
	if f.lookup(uid) == nil || len(key) > 0xffff || len(value) > maxCacheLen || !f.ensureCache() {
		return
	}
	c := f.cache
	if c.size+int64(len(c.pending)+14+len(key)+len(value)) > maxCacheOff {
		return // past what a cloc locates; compaction shrinks it
	}
	at := len(c.pending)
	c.pending = binary.LittleEndian.AppendUint32(c.pending, uid)
	c.pending = binary.LittleEndian.AppendUint16(c.pending, uint16(len(key)))
	c.pending = binary.LittleEndian.AppendUint32(c.pending, uint32(len(value)))
	c.pending = append(c.pending, key...)
	c.pending = append(c.pending, value...)
	c.pending = binary.LittleEndian.AppendUint32(c.pending, crc32.Checksum(c.pending[at:], crcTable))
	if c.pendIdx == nil {
		c.pendIdx = map[pendKey]pendLoc{}
	}
	c.pendIdx[pendKey{uid, internKey(key)}] = pendLoc{at + 10 + len(key), len(value)}
	if len(c.pending) >= cacheFlushAt {
		c.write()
	}
	f.markIndexDirty()
}

// cacheCompactMin is the imapd.cache size below which garbage is left.
var cacheCompactMin int64 = 32 << 10

// compactCache rewrites imapd.cache with the values of messages that still
// exist once they are less than half of it. Another process appending to
// the old file meanwhile loses those values only: it is a cache. Called
// with f.mu.
func (f *folder) compactCache() error {
	c := f.cache
	if c == nil {
		return nil
	}
	c.flush()
	if c.size < cacheCompactMin {
		return nil
	}
	var live int64
	keys := c.ents.keys()
	var uids []uint32
	var es []centry
	for _, uid := range c.ents.uids() {
		if f.lookup(uid) == nil {
			continue
		}
		uids = append(uids, uid)
		for _, e := range c.ents.of(uid, keys, es[:0]) {
			live += 14 + int64(len(e.key)) + e.len
		}
	}
	if live*2 > c.size {
		return nil
	}
	out := make([]byte, 12, 12+live)
	copy(out, cacheMagic)
	binary.LittleEndian.PutUint32(out[8:], f.ul.uidValidity)
	ents := centries{}
	for _, uid := range uids {
		es = c.ents.of(uid, keys, es[:0])
		for _, e := range es {
			v, ok := f.cacheGet(uid, e.key)
			if !ok {
				continue
			}
			start := int64(len(out))
			out = binary.LittleEndian.AppendUint32(out, uid)
			out = binary.LittleEndian.AppendUint16(out, uint16(len(e.key)))
			out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
			out = append(out, e.key...)
			out = append(out, v...)
			out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out[start:], crcTable))
			ents.put(uid, centry{key: e.key, off: start + 10 + int64(len(e.key)), len: int64(len(v))})
		}
	}
	tmp := f.sub(cacheName + ".tmp")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.sub(cacheName)); err != nil {
		os.Remove(tmp)
		return err
	}
	fh, err := openFile(f.sub(cacheName), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		f.cache = nil
		c.fh.Close()
		return err
	}
	st, _ := statStamp(f.sub(cacheName))
	c.fh.Close()
	c.fh, c.ino, c.size, c.ents = fh, st.ino, int64(len(out)), ents
	c.win, c.winOff = nil, 0
	return nil
}
