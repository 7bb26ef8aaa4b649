package maildir

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// imapd.modseq holds a folder's RFC 7162 mod-sequences: unlike imapd.index
// it is not a cache, as a mod-sequence once shown to a client must never
// be given again (docs/design.md#mod-sequences). It is a log written only
// under dovecot-uidlist.lock, one write(2) per operation, before the
// operation returns: a 32-byte header
//
//	"IMAPDMS1" uidvalidity u32, highest u64, floor u64, crc32c u32
//
// then records [kind u8][uid u32][modseq u64][n u8][letters][crc32c u32]:
// kind 1 gives a message its mod-sequence with the flag letters its file
// had then, kind 2 records an expunge. Every process holding the lock
// first reads what others appended, so a mod-sequence is never given
// twice, then compares each file's letters with the last ones logged for
// it: a change imapd did not make (Dovecot, an MDA, a rename or an unlink
// by hand) gets a new mod-sequence when it is noticed, and so does a
// change whose record a kill -9 lost. A torn record can only be a killed
// writer's last: the next holder of the lock cuts it off. When the log
// holds many more records than messages it is rewritten (fsynced, then
// renamed), keeping the latest vanishedMax expunges; floor is the highest
// mod-sequence of those dropped, below which Vanished is incomplete.
const (
	modseqName  = "imapd.modseq"
	modseqMagic = "IMAPDMS1"
	msHdrLen    = 32
	recSet      = 1
	recExpunge  = 2
)

// vanishedMax bounds the expunges a folder remembers; msCompactSlack is
// how many records beyond twice the live ones the log may hold before it
// is rewritten.
var (
	vanishedMax    = 100000
	msCompactSlack = 4096
)

type vanEnt struct {
	modseq uint64
	uid    uint32
}

// msState is a folder's mod-sequence state. Guarded by folder.mu; the
// file is written only under the folder's dotlock.
type msState struct {
	ready  bool // the log has been read since the folder was loaded
	broken bool // the log cannot be kept here: NOMODSEQ
	all    bool // every message without a mod-sequence needs one
	fh     *os.File
	ino    uint64
	off    int64 // bytes of the file applied
	uv     uint32
	recs   int // records in the file
	hms    uint64
	floor  uint64
	// vanished are the remembered expunges, ascending mod-sequences.
	vanished []vanEnt
	// dirty are messages whose mod-sequence was cleared by a change;
	// gone the UIDs expunged since the last reconcile.
	dirty []*msg
	gone  []uint32
}

// current reports whether the state needs no locked pass to be usable.
func (s *msState) current() bool { return s.ready || s.broken }

// highest is HIGHESTMODSEQ, 0 when the folder keeps none.
func (s *msState) highest() uint64 {
	if s.broken || !s.ready {
		return 0
	}
	return s.hms
}

// changed marks m as changed: reconcile gives it a new mod-sequence.
func (f *folder) msChanged(m *msg) {
	if m.modseq != 0 {
		m.modseq = 0
		f.ms.dirty = append(f.ms.dirty, m)
	}
}

// msAdded marks new messages for a mod-sequence.
func (f *folder) msAdded(ms []*msg) {
	for _, m := range ms {
		m.modseq = 0
		f.ms.dirty = append(f.ms.dirty, m)
	}
}

// msForget drops the state of a folder deleted or renamed: a reload reads
// its log again. HIGHESTMODSEQ stays as high.
func (f *folder) msForget() {
	if f.ms.fh != nil {
		f.ms.fh.Close()
	}
	f.ms = msState{hms: f.ms.hms}
}

// reconcile reads what other processes logged, gives every changed
// message and the expunged UIDs new mod-sequences and logs them. Called
// with f.mu and the dotlock held.
func (f *folder) reconcile() error {
	s := &f.ms
	if s.broken {
		s.dirty, s.gone = nil, nil
		return nil
	}
	if err := f.msRead(); err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EISDIR) {
			// A folder where imapd may not keep the log (no write
			// permission, a read-only file system, something else in
			// its place): honestly NOMODSEQ.
			s.broken = true
			s.dirty, s.gone = nil, nil
			return nil
		}
		return err
	}
	var out []byte
	n := 0
	give := func(m *msg) {
		s.hms++
		m.modseq = s.hms
		out = appendMSRec(out, recSet, m.uid, m.modseq, m.letters())
		n++
	}
	if s.all {
		for _, m := range f.msgs {
			if m.modseq == 0 {
				give(m)
			}
		}
		s.all = false
	}
	for _, m := range s.dirty {
		if m.modseq == 0 && f.lookup(m.uid) == m {
			give(m)
		}
	}
	// A first load marks every message: keeping that array would hold
	// 8 bytes a message, and expunged messages, for the folder's life.
	if cap(s.dirty) > 1024 {
		s.dirty = nil
	} else {
		clear(s.dirty)
		s.dirty = s.dirty[:0]
	}
	if len(s.gone) > 0 {
		// RFC 7162 §3.2: one new mod-sequence for the expunges of an
		// operation.
		slices.Sort(s.gone)
		s.gone = slices.Compact(s.gone)
		s.hms++
		for _, uid := range s.gone {
			out = appendMSRec(out, recExpunge, uid, s.hms, "")
			s.vanished = append(s.vanished, vanEnt{s.hms, uid})
			n++
		}
		s.gone = s.gone[:0]
	}
	if len(out) == 0 {
		return nil
	}
	f.snap = nil
	if _, err := s.fh.Write(out); err != nil {
		return err
	}
	crashAt("modseq-logged")
	s.off += int64(len(out))
	s.recs += n
	if s.recs > 2*(len(f.msgs)+len(s.vanished))+msCompactSlack {
		return f.msCompact()
	}
	return nil
}

// msRead applies what the log holds beyond what this process read, all of
// it after a load or when another process rewrote it. Under the dotlock.
func (f *folder) msRead() error {
	s := &f.ms
	path := f.sub(modseqName)
	st, err := f.fileStamp(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f.msFresh()
	}
	if err != nil {
		return err
	}
	if s.fh != nil && st.ino == s.ino && st.size == s.off && s.ready {
		return nil
	}
	full := s.fh == nil || st.ino != s.ino || st.size < s.off || !s.ready
	if full {
		if s.fh != nil {
			s.fh.Close()
			s.fh = nil
		}
		fh, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		s.fh, s.ino, s.off, s.recs = fh, st.ino, 0, 0
	}
	data := make([]byte, st.size-s.off)
	if _, err := s.fh.ReadAt(data, s.off); err != nil {
		return err
	}
	if full {
		if len(data) < msHdrLen || string(data[:8]) != modseqMagic ||
			crc32.Checksum(data[:msHdrLen-4], crcTable) != binary.LittleEndian.Uint32(data[msHdrLen-4:]) {
			return f.msFresh() // torn at creation or foreign: start over above what we know
		}
		uv := binary.LittleEndian.Uint32(data[8:])
		hms := binary.LittleEndian.Uint64(data[12:])
		s.hms = max(s.hms, hms)
		if uv != f.ul.uidValidity {
			return f.msFresh()
		}
		s.uv, s.floor = uv, binary.LittleEndian.Uint64(data[20:])
		s.vanished = s.vanished[:0]
		for _, m := range f.msgs {
			m.modseq = 0
		}
		s.all = true
		s.off = msHdrLen
		data = data[msHdrLen:]
		s.ready = true
	} else if s.uv != f.ul.uidValidity {
		return f.msFresh()
	}
	var ghosts map[uint32]bool // logged as present, gone without a record
	gone := map[uint32]bool{}
	for _, u := range s.gone {
		gone[u] = true
	}
	for len(data) >= 18 {
		k := int(data[13])
		if len(data) < 18+k {
			break
		}
		rec := data[:18+k]
		if crc32.Checksum(rec[:14+k], crcTable) != binary.LittleEndian.Uint32(rec[14+k:]) {
			break
		}
		data = data[18+k:]
		s.off += int64(len(rec))
		s.recs++
		uid := binary.LittleEndian.Uint32(rec[1:])
		ms := binary.LittleEndian.Uint64(rec[5:])
		s.hms = max(s.hms, ms)
		switch rec[0] {
		case recSet:
			m := f.lookup(uid)
			if m == nil {
				if !gone[uid] {
					if ghosts == nil {
						ghosts = map[uint32]bool{}
					}
					ghosts[uid] = true
				}
				continue
			}
			if string(rec[14:14+k]) == m.letters() {
				m.modseq = ms
			} else {
				f.msChanged(m)
			}
		case recExpunge:
			delete(ghosts, uid)
			if gone[uid] {
				delete(gone, uid)
				s.gone = slices.DeleteFunc(s.gone, func(u uint32) bool { return u == uid })
			}
			s.vanished = append(s.vanished, vanEnt{ms, uid})
		}
	}
	if len(data) > 0 {
		// A killed writer's torn record: cut it off, so that what we
		// append is read by the next process.
		if err := s.fh.Truncate(s.off); err != nil {
			return err
		}
	}
	for uid := range ghosts {
		s.gone = append(s.gone, uid)
	}
	f.snap = nil
	return nil
}

// msFresh starts a new log above every mod-sequence known: for a folder
// without one, a new UIDVALIDITY, or an unreadable file. Every message
// gets a new mod-sequence; expunge history starts empty.
func (f *folder) msFresh() error {
	s := &f.ms
	s.hms = max(s.hms, 1)
	s.floor = s.hms
	s.vanished = nil
	s.gone = nil
	for _, m := range f.msgs {
		m.modseq = 0
	}
	s.all = true
	s.ready = true
	return f.msWrite(nil)
}

// msCompact rewrites the log with one record per message and the latest
// vanishedMax expunges. Under the dotlock.
func (f *folder) msCompact() error {
	s := &f.ms
	if over := len(s.vanished) - vanishedMax; over > 0 {
		s.floor = max(s.floor, s.vanished[over-1].modseq)
		s.vanished = append(s.vanished[:0], s.vanished[over:]...)
	}
	var body []byte
	for _, m := range f.msgs {
		body = appendMSRec(body, recSet, m.uid, m.modseq, m.letters())
	}
	for _, v := range s.vanished {
		body = appendMSRec(body, recExpunge, v.uid, v.modseq, "")
	}
	return f.msWrite(body)
}

// msWrite replaces the log with a header and body, durably.
func (f *folder) msWrite(body []byte) error {
	s := &f.ms
	hdr := make([]byte, msHdrLen, msHdrLen+len(body))
	copy(hdr, modseqMagic)
	binary.LittleEndian.PutUint32(hdr[8:], f.ul.uidValidity)
	binary.LittleEndian.PutUint64(hdr[12:], s.hms)
	binary.LittleEndian.PutUint64(hdr[20:], s.floor)
	binary.LittleEndian.PutUint32(hdr[28:], crc32.Checksum(hdr[:28], crcTable))
	data := append(hdr, body...)
	path := f.sub(modseqName)
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	st, err := statStamp(path)
	if err != nil {
		fh.Close()
		return err
	}
	if s.fh != nil {
		s.fh.Close()
	}
	s.fh, s.ino, s.off, s.uv = fh, st.ino, int64(len(data)), f.ul.uidValidity
	s.recs = (len(f.msgs) + len(s.vanished))
	if body == nil {
		s.recs = 0
	}
	return nil
}

func appendMSRec(b []byte, kind byte, uid uint32, ms uint64, letters string) []byte {
	start := len(b)
	b = append(b, kind)
	b = binary.LittleEndian.AppendUint32(b, uid)
	b = binary.LittleEndian.AppendUint64(b, ms)
	b = append(b, byte(len(letters)))
	b = append(b, letters...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// vanishedSince implements Mailbox.Vanished. Called with f.mu.
func (f *folder) vanishedSince(since uint64) ([]uint32, bool) {
	s := &f.ms
	var out []uint32
	i, _ := slices.BinarySearchFunc(s.vanished, since+1, func(v vanEnt, t uint64) int {
		if v.modseq < t {
			return -1
		}
		if v.modseq > t {
			return 1
		}
		return 0
	})
	for _, v := range s.vanished[i:] {
		out = append(out, v.uid)
	}
	slices.Sort(out)
	return out, since >= s.floor
}
