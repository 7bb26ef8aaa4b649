package maildir

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"imapd/imapworker/store"
)

// mailbox is one session's handle on a folder; it implements store.Mailbox.
type mailbox struct {
	f        *folder
	readOnly bool
	changed  chan struct{}

	// Guarded by f.mu.
	seq      uint64 // folder change counter as of the last Poll
	kwGen    uint64
	maxUID   uint32 // highest UID this handle has reported
	uidNext  uint32
	hms      uint64              // HighestModSeq as of the last Select or Poll
	snapshot []store.MessageInfo // shared with other handles: read only
	recent   []uint32            // UIDs in snapshot this handle claimed \Recent for
	closed   bool
}

var _ store.Mailbox = (*mailbox)(nil)

func (h *mailbox) Name() string             { return h.f.name }
func (h *mailbox) ReadOnly() bool           { return h.readOnly }
func (h *mailbox) NewKeywords() bool        { return !h.readOnly }
func (h *mailbox) Changed() <-chan struct{} { return h.changed }

func (h *mailbox) UIDValidity() uint32 {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.f.ul.uidValidity
}

// Messages implements store.Mailbox: the folder's snapshot, shared by the
// handles that selected it in the same state; callers copy before changing
// it. \Recent is the handle's own list (Recent).
func (h *mailbox) Messages() []store.MessageInfo { return h.snapshot }
func (h *mailbox) Recent() []uint32              { return h.recent }

func (h *mailbox) UIDNext() uint32 {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.uidNext
}

func (h *mailbox) Keywords() []string {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.f.keywords()
}

// info describes m to this handle, claiming \Recent if nobody has.
func (h *mailbox) info(m *msg) store.MessageInfo {
	mi := store.MessageInfo{UID: m.uid, Flags: h.f.flagsOf(m), Size: m.vsize, ModSeq: m.modseq}
	// EXAMINE shows \Recent and leaves it for a read-write session to
	// claim (RFC 3501 §2.3.2).
	mi.Recent = m.recent
	if !h.readOnly {
		m.recent = false
	}
	return mi
}

// Poll implements store.Mailbox.
func (h *mailbox) Poll() (store.Changes, error) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var c store.Changes
	if h.closed {
		return c, store.ErrUnavailable
	}
	if err := f.refresh(); err != nil {
		return c, err
	}
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].uid > h.maxUID })
	for _, m := range f.msgs[i:] {
		c.New = append(c.New, h.info(m))
	}
	seen := map[uint32]bool{}
	var dead map[uint32]*msg // expunged since, for their last flags
	for _, e := range f.flagLog {
		if e.seq <= h.seq || e.origin == h || e.uid > h.maxUID || seen[e.uid] {
			continue
		}
		seen[e.uid] = true
		m := f.lookup(e.uid)
		if m == nil {
			if dead == nil {
				dead = map[uint32]*msg{}
				for _, x := range f.expLog {
					if x.seq > h.seq && x.gone != nil {
						dead[x.uid] = x.gone
					}
				}
			}
			m = dead[e.uid]
		}
		if m != nil {
			c.Flags = append(c.Flags, store.FlagUpdate{UID: m.uid, Flags: f.flagsOf(m), ModSeq: m.modseq})
		}
	}
	sort.Slice(c.Flags, func(i, j int) bool { return c.Flags[i].UID < c.Flags[j].UID })
	clear(seen)
	for _, e := range f.expLog {
		if e.seq <= h.seq || e.origin == h || e.uid > h.maxUID || seen[e.uid] {
			continue
		}
		seen[e.uid] = true
		c.Expunged = append(c.Expunged, e.uid)
	}
	sort.Slice(c.Expunged, func(i, j int) bool { return c.Expunged[i] < c.Expunged[j] })
	if h.kwGen != f.kwGen {
		c.Keywords = append([]string{}, f.keywords()...)
		h.kwGen = f.kwGen
	}
	h.seq = f.seq
	h.uidNext = f.ul.nextUID
	h.hms = f.ms.highest()
	if n := len(f.msgs); n > 0 && f.msgs[n-1].uid > h.maxUID {
		h.maxUID = f.msgs[n-1].uid
	}
	f.trimLogs()
	return c, nil
}

// Open implements store.Mailbox. Files with bare LF line ends are served
// with CRLF, so the bytes match RFC822.SIZE.
func (h *mailbox) Open(uid uint32) (store.Content, error) {
	f := h.f
	for try := 0; ; try++ {
		f.mu.Lock()
		if try > 0 {
			if err := f.refresh(); err != nil {
				f.mu.Unlock()
				return nil, err
			}
		}
		m := f.lookup(uid)
		if m == nil {
			f.mu.Unlock()
			return nil, store.ErrExpunged
		}
		path, fsize, vsize := f.filePath(m), m.fsize, m.vsize
		f.mu.Unlock()
		// O_NOFOLLOW: the scan listed a regular file; whatever replaced it
		// since is not followed.
		fh, err := openFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, fs.ErrNotExist) && try == 0 {
			continue // renamed by a flag change elsewhere
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, store.ErrExpunged
			}
			return nil, err
		}
		// The sizes came from the file name: serve the bytes the file has
		// if another program wrote a wrong S=.
		if st, err := fh.Stat(); err == nil && st.Size() != fsize {
			fsize, vsize = st.Size(), -1
		}
		if fsize == vsize {
			return &fileContent{fh, fsize}, nil
		}
		data, err := io.ReadAll(fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		return bytesContent(toCRLF(data)), nil
	}
}

// InternalDates implements store.Mailbox: a file's mtime, stat-ed the
// first time it is asked for and then kept in the index, so a first SELECT
// of a large folder stats no file. The stats run without f.mu.
func (h *mailbox) InternalDates(uids []uint32) ([]time.Time, error) {
	f := h.f
	out := make([]time.Time, len(uids))
	// Pass 0 stats what is not known; a file gone meanwhile (renamed by a
	// flag change elsewhere) is looked for again after a refresh in pass
	// 1; pass 2 only reads what was learned.
	missed := false
	for pass := 0; ; pass++ {
		f.mu.Lock()
		if missed {
			missed = false
			if err := f.refresh(); err != nil {
				f.mu.Unlock()
				return nil, err
			}
		}
		unknown := 0
		for i, uid := range uids {
			if m := f.lookup(uid); m != nil && m.date != 0 {
				out[i] = time.Unix(0, m.date)
			} else if m != nil {
				unknown++
			}
		}
		// Sized: a first FETCH INTERNALDATE of 100,000 messages grew these
		// to 21 MB of garbage.
		need, needUID := make([]dirEnt, 0, unknown), make([]uint32, 0, unknown)
		for k := 0; k < len(uids) && len(need) < unknown; k++ {
			if m := f.lookup(uids[k]); m != nil && m.date == 0 {
				need = append(need, dirEnt{m.name, m.inNew, int(m.blen)})
				needUID = append(needUID, uids[k])
			}
		}
		f.mu.Unlock()
		if len(need) == 0 || pass == 2 {
			return out, nil
		}
		st := statFiles(f.path, need)
		f.mu.Lock()
		for k, r := range st {
			if r.err != nil {
				missed = true
			} else if m := f.lookup(needUID[k]); m != nil && m.date == 0 {
				m.date = dateOf(r.mtime)
				f.markIndexDirty()
			}
		}
		f.mu.Unlock()
	}
}

func toCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+bareLFs(b))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

type fileContent struct {
	*os.File
	size int64
}

func (c *fileContent) Size() int64 { return c.size }

type bytesContent []byte

func (b bytesContent) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (b bytesContent) Size() int64   { return int64(len(b)) }
func (b bytesContent) Close() error  { return nil }
func (b bytesContent) Bytes() []byte { return b }

// HighestModSeq implements store.Mailbox.
func (h *mailbox) HighestModSeq() uint64 {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.hms
}

// Vanished implements store.Mailbox from imapd.modseq's expunge history.
func (h *mailbox) Vanished(since uint64) ([]uint32, bool, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	uids, complete := h.f.vanishedSince(since)
	return uids, complete, nil
}

// Store implements store.Mailbox: a flag change is a rename of the file
// under the lock (Maildir's ":2," info).
func (h *mailbox) Store(uids []uint32, op store.StoreOp, flags store.Flags) ([]store.FlagUpdate, error) {
	ups, _, err := h.store(uids, op, flags, nil)
	return ups, err
}

// StoreUnchangedSince implements store.Mailbox: the mod-sequences are
// compared under the lock, after reading what other processes logged.
func (h *mailbox) StoreUnchangedSince(uids []uint32, op store.StoreOp, flags store.Flags, since uint64) ([]store.FlagUpdate, []uint32, error) {
	return h.store(uids, op, flags, &since)
}

func (h *mailbox) store(uids []uint32, op store.StoreOp, flags store.Flags, since *uint64) ([]store.FlagUpdate, []uint32, error) {
	if h.readOnly {
		return nil, nil, store.ErrReadOnly
	}
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.FlagUpdate
	var modified []uint32
	err := f.withLock(func() error {
		for i, uid := range uids {
			f.keepLock(i)
			m := f.lookup(uid)
			if m == nil {
				continue
			}
			if since != nil && m.modseq > *since {
				modified = append(modified, uid)
				continue
			}
			nf := f.flagsOf(m).Apply(op, flags)
			letters, kwChanged, err := f.lettersOf(nf, true)
			if err != nil {
				return err
			}
			if kwChanged {
				// The letter must be defined before a file uses it.
				if err := f.saveKeywords(); err != nil {
					return err
				}
			}
			if letters != m.letters() {
				_, info := splitName(m.name)
				name := withFlags(m.base(), info, letters)
				if err := rename(f.filePath(m), filepath.Join(f.path, "cur", name)); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue
					}
					return err
				}
				crashAt("store-renamed")
				m.name, m.inNew = name, false
				f.logFlag(uid, h)
			}
			out = append(out, store.FlagUpdate{UID: uid, Flags: f.flagsOf(m)})
		}
		return nil
	})
	// withLock gave the changed messages their mod-sequences.
	for i := range out {
		if m := f.lookup(out[i].UID); m != nil {
			out[i].ModSeq = m.modseq
		}
	}
	slices.Sort(modified)
	f.markIndexDirty()
	return out, modified, err
}

// Expunge implements store.Mailbox.
func (h *mailbox) Expunge(uids []uint32) ([]uint32, error) {
	if h.readOnly {
		return nil, store.ErrReadOnly
	}
	var want map[uint32]bool
	if uids != nil {
		want = make(map[uint32]bool, len(uids))
		for _, u := range uids {
			want[u] = true
		}
	}
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var gone []uint32
	err := f.withLock(func() error {
		var del []*msg
		for _, m := range f.msgs {
			if strings.IndexByte(m.letters(), 'T') >= 0 && (want == nil || want[m.uid]) {
				del = append(del, m)
			}
		}
		var err error
		gone, err = f.remove(del, h)
		return err
	})
	// Expunged messages' cached values are garbage now: compact at once
	// rather than at the next index write, so churn cannot fill a disk.
	_ = f.compactCache()
	f.markIndexDirty()
	return gone, err
}

// remove unlinks messages (under the lock) and drops them from the state.
func (f *folder) remove(del []*msg, origin *mailbox) ([]uint32, error) {
	if len(del) == 0 {
		return nil, nil
	}
	var gone []uint32
	var firstErr error
	dead := map[*msg]bool{}
	for i, m := range del {
		f.keepLock(i)
		if err := remove(f.filePath(m)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		dead[m] = true
		gone = append(gone, m.uid)
		crashAt("expunge-unlinked")
	}
	// An expunge is not fsynced: a power loss may bring a message back,
	// never lose one (docs/design.md#what-is-fsynced).
	f.drop(dead, origin)
	return gone, errors.Join(firstErr, f.compactUidlist())
}

// drop removes messages from the state and logs their expunge.
func (f *folder) drop(dead map[*msg]bool, origin *mailbox) {
	keep := f.msgs[:0]
	for _, m := range f.msgs {
		if dead[m] {
			f.logExpunge(m, origin)
			continue
		}
		keep = append(keep, m)
	}
	for i := len(keep); i < len(f.msgs); i++ {
		f.msgs[i] = nil
	}
	f.msgs = keep
	f.byBase.keep(func(m *msg) bool { return !dead[m] })
}

// compactUidlist rewrites the uidlist when most of its lines are for
// expunged messages (Dovecot also drops them lazily). Under the lock.
func (f *folder) compactUidlist() error {
	if f.ulLines < 2*(len(f.msgs)+len(f.pending))+64 {
		return nil
	}
	if err := f.rewriteUidlist(nil); err != nil {
		return err
	}
	st, err := statStamp(f.sub(uidlistName))
	if err != nil {
		return err
	}
	f.ulSt, f.ulOff = st, st.size
	return nil
}

// srcMsg is what Copy needs of a source message.
type srcMsg struct {
	uid          uint32
	path         string
	flags        store.Flags
	date         int64
	fsize, vsize int64
	guid         string // kept by the copy (objectid.go)
}

func (h *mailbox) collect(uids []uint32) ([]srcMsg, error) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return nil, err
	}
	var out []srcMsg
	for _, uid := range uids {
		if m := f.lookup(uid); m != nil {
			out = append(out, srcMsg{uid, f.filePath(m), f.flagsOf(m), m.date, m.fsize, m.vsize, guidOf(m)})
		}
	}
	return out, nil
}

// Copy implements store.Mailbox: a hard link into the destination's cur/
// when possible, else a copy through tmp/, then new UIDs under the
// destination's lock.
func (h *mailbox) Copy(uids []uint32, dest string) (store.CopyResult, error) {
	df, err := h.f.u.folder(dest)
	if err != nil {
		return store.CopyResult{}, err
	}
	if !df.exists() {
		return store.CopyResult{}, store.ErrNoSuchMailbox
	}
	src, err := h.collect(uids)
	if err != nil {
		return store.CopyResult{}, err
	}
	res := store.CopyResult{}
	for try := 0; try < 2 && len(src) > 0; try++ {
		var lost []uint32
		df.mu.Lock()
		err = df.withLock(func() error {
			var added []*msg
			var recs []uidRec
			for i, s := range src {
				df.keepLock(i)
				letters, kwChanged, err := df.lettersOf(s.flags, true)
				if err != nil {
					return err
				}
				if kwChanged {
					if err := df.saveKeywords(); err != nil {
						return err
					}
				}
				base := newBase(time.Now(), s.fsize, s.vsize)
				name := base + ":2," + letters
				target := filepath.Join(df.path, "cur", name)
				if err := os.Link(s.path, target); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						lost = append(lost, s.uid)
						continue
					}
					if err := copyFile(s.path, filepath.Join(df.path, "tmp", base), target, s.date); err != nil {
						if errors.Is(err, fs.ErrNotExist) {
							lost = append(lost, s.uid)
							continue
						}
						return err
					}
				}
				m := &msg{uid: df.ul.nextUID, blen: uint16(len(base)), name: name, fsize: s.fsize, vsize: s.vsize, date: s.date,
					ext: guidExt(s.guid, base)}
				df.ul.nextUID++
				added = append(added, m)
				recs = append(recs, uidRec{uid: m.uid, ext: m.ext, name: name})
				res.Src = append(res.Src, s.uid)
				res.Dst = append(res.Dst, m.uid)
			}
			if len(added) == 0 {
				return nil
			}
			crashAt("copy-linked")
			if err := df.writeUidlist(recs); err != nil {
				return err
			}
			if err := syncDir(df.sub("cur")); err != nil {
				return err
			}
			for _, m := range added {
				m.recent = true
			}
			df.insert(added)
			return nil
		})
		res.UIDValidity = df.ul.uidValidity
		df.markIndexDirty()
		df.mu.Unlock()
		if err != nil || len(lost) == 0 {
			break
		}
		// Renamed by a flag change in another process: look again.
		if src, err = h.collect(lost); err != nil {
			break
		}
	}
	sortResult(&res)
	return res, storeErr(err)
}

func sortResult(r *store.CopyResult) {
	idx := make([]int, len(r.Src))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return r.Src[idx[a]] < r.Src[idx[b]] })
	s, d := make([]uint32, len(idx)), make([]uint32, len(idx))
	for i, j := range idx {
		s[i], d[i] = r.Src[j], r.Dst[j]
	}
	r.Src, r.Dst = s, d
}

// copyFile copies src through tmp into target when a hard link is not
// possible (another file system, or links refused).
func copyFile(src, tmp, target string, date int64) error {
	fh, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer fh.Close()
	if date == 0 { // not learned yet: the source's mtime
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		date = st.ModTime().UnixNano()
	}
	data, err := io.ReadAll(fh)
	if err != nil {
		return err
	}
	if err := writeTmp(tmp, data, time.Unix(0, date)); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Move implements store.Mailbox (RFC 6851): rename() into the
// destination's cur/ holding both folders' locks (taken in path order),
// destination UIDs recorded and fsynced, then the source forgets them.
func (h *mailbox) Move(uids []uint32, dest string) (store.CopyResult, error) {
	if h.readOnly {
		return store.CopyResult{}, store.ErrReadOnly
	}
	f := h.f
	df, err := f.u.folder(dest)
	if err != nil {
		return store.CopyResult{}, err
	}
	if !df.exists() {
		return store.CopyResult{}, store.ErrNoSuchMailbox
	}
	first, second := f, df
	if second.path < first.path {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if second != first {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	for _, x := range []*folder{first, second} {
		if !x.loaded {
			if err := x.load(); err != nil {
				return store.CopyResult{}, err
			}
		}
	}
	l1, err := lockDir(first.path)
	if err != nil {
		return store.CopyResult{}, err
	}
	defer l1.unlock()
	f.locks = []*dotlock{l1}
	defer func() { first.locks, second.locks = nil, nil }()
	if second != first {
		l2, err := lockDir(second.path)
		if err != nil {
			return store.CopyResult{}, err
		}
		defer l2.unlock()
		f.locks = append(f.locks, l2)
	}
	for _, x := range []*folder{first, second} {
		if err := x.scanLocked(); err != nil {
			return store.CopyResult{}, err
		}
	}
	res := store.CopyResult{UIDValidity: df.ul.uidValidity}
	var added []*msg
	var recs []uidRec
	dead := map[*msg]bool{}
	var moveErr error
	for i, uid := range uids {
		f.keepLock(i)
		m := f.lookup(uid)
		if m == nil || dead[m] {
			continue
		}
		letters, kwChanged, err := df.lettersOf(f.flagsOf(m), true)
		if err == nil && kwChanged {
			err = df.saveKeywords()
		}
		if err != nil {
			moveErr = err
			break
		}
		// A new base: a stale uidlist line for the old one must never
		// give the message back an old UID.
		base := newBase(time.Now(), m.fsize, m.vsize)
		name := base + ":2," + letters
		if err := os.Rename(f.filePath(m), filepath.Join(df.path, "cur", name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			moveErr = err
			break
		}
		n := &msg{uid: df.ul.nextUID, blen: uint16(len(base)), name: name, fsize: m.fsize, vsize: m.vsize, date: m.date, recent: true,
			ext: guidExt(guidOf(m), base)}
		df.ul.nextUID++
		added = append(added, n)
		recs = append(recs, uidRec{uid: n.uid, ext: n.ext, name: name})
		dead[m] = true
		res.Src = append(res.Src, uid)
		res.Dst = append(res.Dst, n.uid)
	}
	if len(added) > 0 {
		crashAt("move-renamed")
		err := df.writeUidlist(recs)
		if err == nil {
			err = syncDir(df.sub("cur"))
		}
		if err != nil {
			return store.CopyResult{}, errors.Join(moveErr, err)
		}
		crashAt("move-recorded")
		if df != f {
			if err := syncDir(f.sub("cur")); err != nil {
				moveErr = errors.Join(moveErr, err)
			}
		}
		f.drop(dead, h)
		df.insert(added)
		moveErr = errors.Join(moveErr, f.compactUidlist())
	}
	moveErr = errors.Join(moveErr, first.reconcile())
	if second != first {
		moveErr = errors.Join(moveErr, second.reconcile())
	}
	for _, x := range []*folder{first, second} {
		if st, err := statStamp(x.sub("cur")); err == nil {
			x.curSt = st
		}
		x.markIndexDirty()
	}
	sortResult(&res)
	return res, storeErr(moveErr)
}

// Cached implements store.Mailbox from the folder's imapd.cache.
func (h *mailbox) Cached(uid uint32, key string) ([]byte, bool) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cacheGet(uid, key)
}

// SetCached implements store.Mailbox.
func (h *mailbox) SetCached(uid uint32, key string, value []byte) {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cacheSet(uid, key, value)
}

// Close implements store.Mailbox.
func (h *mailbox) Close() error {
	f := h.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	delete(f.handles, h)
	if len(f.handles) == 0 {
		f.u.w.unwatch(f)
		return f.flushIndex()
	}
	f.trimLogs()
	return nil
}
