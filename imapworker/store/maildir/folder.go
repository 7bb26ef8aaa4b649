package maildir

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"imapd/imapworker/fts"
	"imapd/imapworker/store"
)

// msg is one message of a folder. Fields are ordered for packing: a
// 100,000-message folder keeps 100,000 of these (72 bytes each).
type msg struct {
	uid    uint32
	inNew  bool   // file is in new/, not cur/
	recent bool   // \Recent not yet claimed by a handle
	blen   uint16 // length of base(), the file name before ':'
	name   string // current file name; renames keep its base
	fsize  int64  // bytes on disk
	vsize  int64  // RFC822.SIZE: size with CRLF line ends
	date   int64  // internal date, Unix nanoseconds (file mtime); 0 until stat-ed
	ext    string // dovecot-uidlist fields before ':'
	modseq uint64 // RFC 7162 mod-sequence; 0 until reconcile gives one (modseq.go)
}

// base is the file name before ':', the message's lasting identity.
func (m *msg) base() string { return m.name[:m.blen] }

// letters are the flag letters of the name's ":2," info, sorted: derived,
// not kept, as every change of flags is a rename (16 bytes a message).
func (m *msg) letters() string {
	if int(m.blen) >= len(m.name) {
		return ""
	}
	return sortLetters(infoFlags(m.name[m.blen+1:]))
}

// stamp identifies a version of a file or directory cheaply.
type stamp struct {
	ino   uint64
	size  int64
	mtime int64
}

func statStamp(path string) (stamp, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return stamp{}, err
	}
	return stamp{ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, nil
}

// openStamp is statStamp through open(2) and fstat(2): on NFS an open
// revalidates the file's attributes with the server (close-to-open
// consistency), where a stat may answer from the attribute cache.
func openStamp(path string) (stamp, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return stamp{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return stamp{}, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	return stamp{ino: st.Ino, size: st.Size, mtime: st.Mtim.Nano()}, nil
}

// fileStamp stamps one of the folder's files (the uidlist, the keywords,
// the mod-sequence log), which change only by growing or by being
// replaced: on shared storage through openStamp.
func (f *folder) fileStamp(path string) (stamp, error) {
	if f.u.opts.Shared {
		return openStamp(path)
	}
	return statStamp(path)
}

type logEnt struct {
	seq    uint64
	uid    uint32
	origin *mailbox
	// gone is the expunged message (expLog only), so that a handle not yet
	// told learns the flags it last had (RFC 2180 §4.1, docs/conformance.md).
	gone *msg
}

// folder is the shared in-process state of one Maildir folder. Every
// handle on the folder in this process uses it; other processes are seen
// through the files.
type folder struct {
	u    *User
	name string
	path string

	mu      sync.Mutex
	loaded  bool
	ul      uidlist           // header fields; recs unused
	ulSt    stamp             // uidlist as last read or written
	ulOff   int64             // bytes of the uidlist parsed
	ulLines int               // records in the file
	pending map[string]uidRec // uidlist records without a file we know
	curSt   stamp             // cur/ as of the last full scan (0: rescan)
	newSt   stamp
	kwSt    stamp
	kw      []string // dovecot-keywords, index = letter - 'a'
	kwGen   uint64

	msgs   []*msg // ascending UIDs
	byBase baseIndex

	// snap is a snapshot without \Recent shared by SELECTs while seq and
	// kwGen are as at snapSeq and snapKw: a warm SELECT copies nothing.
	snap   []store.MessageInfo
	snapAt [2]uint64
	// mayRecent is false when no message is \Recent: a SELECT then need
	// not look at every message.
	mayRecent bool

	// flMemo maps flag letters to their store flags while the keywords
	// are as at flMemoGen-1: a folder has few distinct letter sets, so
	// one memo replaces a converted copy per message.
	flMemo    map[string]store.Flags
	flMemoGen uint64

	seq     uint64 // change counter
	flagLog []logEnt
	expLog  []logEnt
	handles map[*mailbox]struct{}

	locks []*dotlock // held by the running operation (keepLock)

	ms msState // mod-sequences (modseq.go)

	cache      *cacheFile
	indexDirty bool
	indexTimer *time.Timer
	hint       map[string]*msg // from a stale index: sizes and dates

	fts *fts.Index // made on the first text SEARCH (fts.go)

	// carried are the UIDs that were \Recent when unload dropped the
	// state, under UIDVALIDITY carriedUV: \Recent lives in memory only.
	carried   map[uint32]bool
	carriedUV uint32
}

func (f *folder) sub(d string) string { return filepath.Join(f.path, d) }

// exists reports whether the folder directory is a Maildir.
func (f *folder) exists() bool {
	st, err := os.Stat(f.sub("cur"))
	return err == nil && st.IsDir()
}

// find returns the index of uid in f.msgs or -1.
func (f *folder) find(uid uint32) int {
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].uid >= uid })
	if i < len(f.msgs) && f.msgs[i].uid == uid {
		return i
	}
	return -1
}

func (f *folder) lookup(uid uint32) *msg {
	if i := f.find(uid); i >= 0 {
		return f.msgs[i]
	}
	return nil
}

// filePath is where m's file is now.
func (f *folder) filePath(m *msg) string {
	if m.inNew {
		return filepath.Join(f.path, "new", m.name)
	}
	return filepath.Join(f.path, "cur", m.name)
}

// ensureDirs creates cur/ new/ tmp/.
func ensureDirs(path string) error {
	for _, d := range []string{"", "cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(path, d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// refresh brings f up to date with the files. Cheap when nothing changed:
// four stat calls and no directory read; on shared storage, where another
// host's change may leave the directories' stamps as they were in this
// host's attribute cache, new/ and cur/ are read every time. Called with
// f.mu held.
func (f *folder) refresh() error {
	if !f.loaded {
		return f.load()
	}
	ulSt := f.ulSt
	if !f.u.opts.Shared {
		ulSt, _ = statStamp(f.sub(uidlistName))
		curSt, err := statStamp(f.sub("cur"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return store.ErrNoSuchMailbox
			}
			return err
		}
		newSt, _ := statStamp(f.sub("new"))
		kwSt, _ := statStamp(f.sub(keywordsName))
		if ulSt == f.ulSt && curSt == f.curSt && newSt == f.newSt && kwSt == f.kwSt {
			if f.ms.current() {
				return nil
			}
			// Loaded from a current index: the mod-sequences are read under
			// the lock, the directories are not.
			l, err := lockDir(f.path)
			if err != nil {
				return err
			}
			defer l.unlock()
			return f.reconcile()
		}
	}
	// Try without the lock first: renames by others that change no flags
	// need no UIDs and no mod-sequences. A first scan without a uidlist
	// will give every file its UID: it takes the lock at once rather than
	// read the directories twice.
	if f.ms.current() && (len(f.msgs) > 0 || ulSt != (stamp{})) {
		if ok, err := f.scan(false); err != nil || ok {
			return err
		}
	}
	l, err := lockDir(f.path)
	if err != nil {
		return err
	}
	defer l.unlock()
	return f.scanLocked()
}

// scanLocked is scan under the lock, then mod-sequences for what changed.
func (f *folder) scanLocked() error {
	if _, err := f.scan(true); err != nil {
		return err
	}
	return f.reconcile()
}

// load reads the folder for the first time in this process, from the
// index when it is current.
func (f *folder) load() error {
	if !f.exists() {
		return store.ErrNoSuchMailbox
	}
	f.byBase = nil
	f.pending = map[string]uidRec{}
	if f.handles == nil {
		f.handles = map[*mailbox]struct{}{}
	}
	f.loadIndex()
	f.loaded = true
	err := f.refresh()
	if f.carried != nil && err == nil && f.ul.uidValidity == f.carriedUV {
		for _, m := range f.msgs {
			if f.carried[m.uid] {
				m.recent, f.mayRecent = true, true
			}
		}
	}
	f.carried = nil
	return err
}

// unload forgets the folder's state (it has no handles), so that the next
// refresh reads the uidlist, imapd.index, the keywords, the mod-sequence
// log and both directories again; only \Recent, which no file records,
// is carried over to the messages that are still there. Called with f.mu
// held.
func (f *folder) unload() {
	_ = f.flushIndex() // a cache: its sizes and dates spare the reload's stat calls
	f.carried, f.carriedUV = nil, f.ul.uidValidity
	for _, m := range f.msgs {
		if m.recent {
			if f.carried == nil {
				f.carried = map[uint32]bool{}
			}
			f.carried[m.uid] = true
		}
	}
	f.loaded = false
	f.msgs, f.byBase, f.pending, f.hint, f.snap = nil, nil, nil, nil, nil
	f.flagLog, f.expLog = nil, nil
	f.ulSt, f.ulOff, f.ulLines = stamp{}, 0, 0
	f.curSt, f.newSt, f.kwSt = stamp{}, stamp{}, stamp{}
	if f.cache != nil {
		f.cache.fh.Close()
		f.cache = nil
	}
	f.closeFTS()
	f.msForget()
}

// readUidlist re-reads the uidlist if it changed: only the appended tail
// when the file is the same inode and grew.
func (f *folder) readUidlist() error {
	path := f.sub(uidlistName)
	st, err := f.fileStamp(path)
	if errors.Is(err, fs.ErrNotExist) {
		if f.ul.uidValidity == 0 {
			f.ul = *newUidlist()
			f.ul.recs = nil
		}
		f.ulSt, f.ulOff, f.ulLines = stamp{}, 0, 0
		return nil
	}
	if err != nil {
		return err
	}
	if st == f.ulSt {
		return nil
	}
	if st.ino == f.ulSt.ino && f.ulOff > 0 && st.size > f.ulOff && f.ul.complete {
		tail, err := readTail(path, f.ulOff)
		if err != nil {
			return err
		}
		tmp := uidlist{version: 3, nextUID: f.ul.nextUID, complete: true}
		n, err := tmp.parseRecs(tail)
		if err == nil && (len(tmp.recs) == 0 || f.maxUIDKnown() < tmp.recs[0].uid) {
			f.ulOff += int64(n)
			f.ulLines += len(tmp.recs)
			f.ul.nextUID = tmp.nextUID
			f.ul.complete = tmp.complete
			for _, r := range tmp.recs {
				f.addPending(r)
			}
			f.ulSt = st
			return nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ul, err := parseUidlist(data)
	if err != nil {
		if f.ul.uidValidity != 0 {
			// Damaged under us: keep what we know; the next write under
			// the lock replaces the file.
			f.ulSt = st
			f.ul.complete = false
			return nil
		}
		ul = salvageUidlist(data)
	}
	if f.ul.uidValidity != 0 && ul.uidValidity != f.ul.uidValidity {
		// Someone reset the folder: every UID we know is void.
		f.resetMessages()
	}
	f.pending = map[string]uidRec{}
	for _, r := range ul.recs {
		f.addPending(r)
	}
	f.ulLines = len(ul.recs)
	f.ulOff = int64(len(data))
	if err != nil {
		f.ulLines = 1 << 30 // salvaged: rewrite, never append
	} else if !ul.complete {
		f.ulOff = int64(bytes.LastIndexByte(data, '\n') + 1)
	}
	ul.recs = nil
	f.ul = *ul
	f.ulSt = st
	return nil
}

func (f *folder) maxUIDKnown() uint32 {
	m := uint32(0)
	if n := len(f.msgs); n > 0 {
		m = f.msgs[n-1].uid
	}
	for _, r := range f.pending {
		if r.uid > m {
			m = r.uid
		}
	}
	return m
}

func (f *folder) addPending(r uidRec) {
	base, _ := splitName(r.name)
	if m := f.byBase.get(base); m != nil && m.uid == r.uid {
		m.ext = r.ext
		return
	}
	f.pending[base] = r
}

func (f *folder) resetMessages() {
	for _, m := range f.msgs {
		f.seq++
		f.expLog = append(f.expLog, logEnt{seq: f.seq, uid: m.uid, gone: m})
	}
	f.msgs = nil
	f.byBase = nil
	f.pending = map[string]uidRec{}
}

func (f *folder) readKeywords() {
	st, err := f.fileStamp(f.sub(keywordsName))
	if err != nil {
		st = stamp{}
	}
	if st == f.kwSt && f.kwSt != (stamp{}) {
		return
	}
	data, _ := os.ReadFile(f.sub(keywordsName))
	kw := parseKeywords(data)
	if !equalStrings(kw, f.kw) {
		f.kw = kw
		f.kwGen++
	}
	f.kwSt = st
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type dirEnt struct {
	name  string
	inNew bool
	blen  int // length of base(), the name before ':'
}

func newDirEnt(name string, inNew bool) dirEnt {
	base, _ := splitName(name)
	return dirEnt{name, inNew, len(base)}
}

func (e dirEnt) base() string { return e.name[:e.blen] }

// sortByBase puts ents in delivery order (Maildir names start with the
// delivery time), a file in cur/ before one of the same base in new/.
func sortByBase(ents []dirEnt) {
	cmpEnt := func(a, b dirEnt) int {
		if c := strings.Compare(a.base(), b.base()); c != 0 {
			return c
		}
		switch {
		case a.inNew == b.inNew:
			return 0
		case b.inNew:
			return -1
		}
		return 1
	}
	// No two entries are equal (one directory cannot list a name twice):
	// an unstable sort is as good, and much faster than a stable one.
	if !slices.IsSortedFunc(ents, cmpEnt) {
		slices.SortFunc(ents, cmpEnt)
	}
}

// readdirs counts directory reads and fileStats message files stat-ed
// (tests check the warm path does neither).
var readdirs, fileStats atomic.Int64

// readNames lists the regular files of dir, leaving out dot files. The
// file type comes with each name from getdents(2) (lstat only where the
// file system does not say), so a first SELECT of a large folder need not
// stat its files: a symlink or anything else that is not a regular file is
// not a message, whatever it points to.
func readNames(dir string) ([]string, error) {
	readdirs.Add(1)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var out []string
	// Small first: the buffer lives on the stack, and at 32 KiB it grew
	// the refreshing goroutine's stack to 64 KiB (8 KiB now), copied and
	// faulted in again on each wake after the collector shrank it. A read
	// that fills it means a large directory.
	buf := make([]byte, 4<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, &fs.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return out, &fs.PathError{Op: "getdents", Path: dir, Err: unix.EIO}
			}
			typ, name := b[18], b[19:reclen]
			b = b[reclen:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if len(name) == 0 || name[0] == '.' {
				continue
			}
			if typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
					continue
				}
				if st.Mode&unix.S_IFMT == unix.S_IFREG {
					typ = unix.DT_REG
				}
			}
			if typ == unix.DT_REG {
				out = append(out, string(name))
			}
		}
		if len(buf) < dirBufMax && n > len(buf)-maxDirent {
			buf = make([]byte, dirBufMax)
		}
	}
}

// dirBufMax is readNames' buffer for a large directory; maxDirent is the
// largest linux_dirent64 record (a 255-byte name, aligned to 8).
const dirBufMax, maxDirent = 32 << 10, 280

// scan reads new/ and cur/ and applies what changed. Without the lock it
// only applies flag changes and returns false when it found new files or
// missing ones (which need UIDs or may be a readdir race with a rename);
// with the lock it assigns UIDs, moves new/ to cur/ and drops missing
// messages. Called with f.mu held.
func (f *folder) scan(locked bool) (bool, error) {
	shared := f.u.opts.Shared
	seq0 := f.seq
	f.readKeywords()
	if err := f.readUidlist(); err != nil {
		return false, err
	}
	// Stat the directories before reading them: a change after the stat
	// makes the next refresh rescan.
	curSt, err := statStamp(f.sub("cur"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, store.ErrNoSuchMailbox
		}
		return false, err
	}
	newSt, _ := statStamp(f.sub("new"))
	newNames, err := readNames(f.sub("new"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	curSame := curSt == f.curSt && f.curSt != (stamp{}) && !shared
	if curSame && len(newNames) == 0 && f.ulSt != (stamp{}) && f.ul.complete && !f.anyInNew() {
		// Nothing moved: the common case of a locked operation in a large
		// folder costs no per-message work.
		f.newSt = trustedNew(newSt)
		return true, nil
	}
	var curNames []string
	// cur/ unchanged since our stamp means unchanged since our last read:
	// every change moves its mtime (stamps are taken before reading), so
	// even a locked scan need not read 100,000 names again.
	if !curSame {
		if curNames, err = readNames(f.sub("cur")); err != nil {
			return false, err
		}
	} else {
		// cur/ unchanged: our view of it stands.
		for _, m := range f.msgs {
			if !m.inNew {
				curNames = append(curNames, m.name)
			}
		}
	}
	var seen map[string]dirEnt // base -> entry, when some messages are known
	var fresh []dirEnt
	dup, missing := false, false
	if len(f.msgs) == 0 {
		// A first scan: every file is fresh, and sorting by base finds
		// a file in two places (cur/ first) without a 100,000-entry map.
		fresh = make([]dirEnt, 0, len(curNames)+len(newNames))
		for _, n := range curNames {
			fresh = append(fresh, newDirEnt(n, false))
		}
		for _, n := range newNames {
			fresh = append(fresh, newDirEnt(n, true))
		}
		sortByBase(fresh)
		fresh = slices.CompactFunc(fresh, func(a, b dirEnt) bool {
			same := a.base() == b.base()
			dup = dup || same
			return same
		})
	} else {
		seen = make(map[string]dirEnt, len(curNames)+len(newNames))
		add := func(n string, inNew bool) {
			e := newDirEnt(n, inNew)
			if _, ok := seen[e.base()]; ok {
				dup = true
				return
			}
			seen[e.base()] = e
			if f.byBase.get(e.base()) == nil {
				fresh = append(fresh, e)
			}
		}
		for _, n := range curNames {
			add(n, false)
		}
		for _, n := range newNames {
			add(n, true)
		}
		missing = len(seen)-len(fresh) != len(f.msgs)
	}
	noUidlist := f.ulSt == (stamp{})
	// Files another process added with their UIDs recorded can be taken
	// without the lock; new UIDs and moves out of new/ need it.
	unknown := false
	for _, e := range fresh {
		base, _ := splitName(e.name)
		if _, ok := f.pending[base]; e.inNew || !ok {
			unknown = true
			break
		}
	}
	if !locked && (dup || missing || unknown || !f.ul.complete || noUidlist || len(fresh) > 0 || f.lettersChanged(seen)) {
		// New files and flag changes need mod-sequences, given under
		// the lock (modseq.go).
		return false, nil
	}
	if noUidlist && len(fresh) == 0 {
		// Record UIDVALIDITY now: clients see it before any message.
		if err := f.writeUidlist(nil); err != nil {
			return false, err
		}
	}
	// Flag changes and renames.
	renamed := false
	for _, m := range f.msgs {
		e, ok := seen[m.base()]
		if !ok || (e.name == m.name && e.inNew == m.inNew) {
			continue
		}
		old := m.letters()
		m.name, m.inNew, renamed = e.name, e.inNew, true
		if m.letters() != old {
			f.logFlag(m.uid, nil)
		}
	}
	if locked {
		if missing {
			keep := f.msgs[:0]
			for _, m := range f.msgs {
				if _, ok := seen[m.base()]; ok {
					keep = append(keep, m)
					continue
				}
				f.logExpunge(m, nil)
			}
			for i := len(keep); i < len(f.msgs); i++ {
				f.msgs[i] = nil
			}
			f.msgs = keep
			f.byBase.keep(func(m *msg) bool { _, ok := seen[m.base()]; return ok })
		}
	}
	if err := f.adopt(fresh); err != nil {
		return false, err
	}
	if locked {
		if err := f.moveNew(); err != nil {
			return false, err
		}
		// We hold the lock and all changes to cur/ are made under it, so
		// its stamp now matches what we hold.
		curSt, _ = statStamp(f.sub("cur"))
		newSt2, _ := statStamp(f.sub("new"))
		if newSt2 != newSt {
			newSt = stamp{} // MDA delivered meanwhile: look again
		}
	}
	f.curSt = curSt
	f.newSt = trustedNew(newSt)
	if locked {
		f.hint = nil // every file has its sizes now
	}
	// On shared storage every refresh scans: the index is rewritten only
	// when the messages changed, not for a scan that found nothing.
	if !shared || renamed || f.seq != seq0 {
		f.markIndexDirty()
	}
	return true, nil
}

// lettersChanged reports whether a file in seen has other flags than the
// message of its base.
func (f *folder) lettersChanged(seen map[string]dirEnt) bool {
	for _, m := range f.msgs {
		if e, ok := seen[m.base()]; ok && e.name != m.name {
			_, info := splitName(e.name)
			if sortLetters(infoFlags(info)) != m.letters() {
				return true
			}
		}
	}
	return false
}

// adopt gives UIDs to files new to this process: the UID the uidlist
// already has for them, else a new one appended to the uidlist. Called
// under the lock.
func (f *folder) adopt(fresh []dirEnt) error {
	if len(fresh) == 0 {
		return nil
	}
	sortByBase(fresh)
	known := make([]*msg, 0, len(fresh))
	added := make([]*msg, 0, len(fresh))
	recs := make([]uidRec, 0, len(fresh))
	ms := make([]*msg, len(fresh))
	block := make([]msg, len(fresh)) // one allocation, not one a file
	var unsized []dirEnt             // files whose names do not give their sizes
	for i, e := range fresh {
		base, _ := splitName(e.name)
		m := &block[i]
		*m = msg{blen: uint16(len(base)), name: e.name, inNew: e.inNew}
		if r, ok := f.pending[base]; ok {
			m.uid, m.ext = r.uid, r.ext
		}
		if !f.sizesKnown(m) {
			unsized = append(unsized, e)
		}
		ms[i] = m
	}
	st := statFiles(f.path, unsized)
	for _, m := range ms {
		if m.uid != 0 {
			delete(f.pending, m.base())
		}
		var err error
		if m.fsize < 0 || m.vsize < 0 {
			err = f.fillSizes(m, st[0])
			st = st[1:]
		}
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue // gone already
			case errors.Is(err, errNotMessage), errors.Is(err, fs.ErrPermission):
				// One entry that cannot be read must not take the folder
				// down: it is left where it is, unlisted.
				continue
			}
			return err
		}
		// A file in new/ has not been seen by any session: \Recent.
		m.recent = m.inNew
		if m.uid != 0 {
			known = append(known, m)
			continue
		}
		m.uid = f.ul.nextUID
		f.ul.nextUID++
		m.recent = true
		added = append(added, m)
		recs = append(recs, uidRec{uid: m.uid, name: m.name})
	}
	// Known ones first: a rewrite of the uidlist writes what f.msgs holds.
	sort.Slice(known, func(i, j int) bool { return known[i].uid < known[j].uid })
	f.insert(known)
	if len(recs) > 0 {
		if err := f.writeUidlist(recs); err != nil {
			return err
		}
	}
	f.insert(added)
	return nil
}

// insert adds messages (ascending UIDs) to f.msgs.
func (f *folder) insert(ms []*msg) {
	if len(ms) == 0 {
		return
	}
	f.byBase.add(ms)
	f.msAdded(ms)
	for _, m := range ms {
		if m.recent {
			f.mayRecent = true
		}
	}
	if n := len(f.msgs); n == 0 || f.msgs[n-1].uid < ms[0].uid {
		f.msgs = append(f.msgs, ms...)
	} else {
		f.msgs = append(f.msgs, ms...)
		sort.Slice(f.msgs, func(i, j int) bool { return f.msgs[i].uid < f.msgs[j].uid })
	}
	f.seq++
	f.notify(nil)
}

// errNotMessage marks a directory entry that is not a regular file.
var errNotMessage = errors.New("maildir: not a regular file")

// sizesKnown sets m's sizes from an old index, its name (S=, W=) or its
// uidlist fields and reports whether it has both: then its file need not
// be stat-ed, and its date is learned when first asked for
// (mailbox.InternalDates).
func (f *folder) sizesKnown(m *msg) bool {
	if h := f.hint[m.base()]; h != nil {
		m.fsize, m.vsize, m.date = h.fsize, h.vsize, h.date
		return true
	}
	m.fsize = baseField(m.base(), 'S')
	m.vsize = baseField(m.base(), 'W')
	for _, x := range strings.Fields(m.ext) {
		if x[0] == 'W' && m.vsize < 0 {
			fmt.Sscanf(x[1:], "%d", &m.vsize)
		}
	}
	return m.fsize >= 0 && m.vsize >= 0
}

// fillSizes sets the sizes and date of m from r, the lstat of its file,
// reading the file when only that gives RFC822.SIZE.
func (f *folder) fillSizes(m *msg, r statRes) error {
	if r.err != nil {
		if errors.Is(r.err, syscall.ENOENT) {
			return fs.ErrNotExist
		}
		return r.err
	}
	if r.mode&syscall.S_IFMT != syscall.S_IFREG {
		return errNotMessage
	}
	m.date = dateOf(r.mtime)
	m.fsize = r.size
	if m.vsize < 0 {
		data, err := os.ReadFile(f.filePath(m))
		if err != nil {
			return err
		}
		m.vsize = int64(len(data)) + int64(bareLFs(data))
	}
	return nil
}

// statRes is what fillSizes needs of an lstat(2).
type statRes struct {
	mode        uint32
	size, mtime int64
	err         error
}

// dateOf is the msg.date of a file modified at mtime: 0 means not known.
func dateOf(mtime int64) int64 { return max(mtime, 1) }

// statParallel is the number of files from which statFiles uses several
// goroutines: stat calls of a large folder then overlap their inode reads
// and use every core.
const (
	statParallel = 512
	statWorkers  = 4
	statChunk    = 128
)

// statFiles lstats files of the folder at path. It reads no folder state,
// so callers need not hold f.mu while it runs.
func statFiles(path string, ents []dirEnt) []statRes {
	if len(ents) == 0 {
		return nil
	}
	fileStats.Add(int64(len(ents)))
	out := make([]statRes, len(ents))
	// fstatat(2) relative to the directory: the kernel looks up one name,
	// not the whole path, per file.
	dirs := [2]int{-1, -1} // cur, new
	var dirErr [2]error
	for i, sub := range []string{"cur", "new"} {
		fd, err := unix.Open(filepath.Join(path, sub), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			dirErr[i] = err
			continue
		}
		dirs[i] = fd
		defer unix.Close(fd)
	}
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(statChunk)) - statChunk
			if lo >= len(ents) {
				return
			}
			for i := lo; i < min(lo+statChunk, len(ents)); i++ {
				d := 0
				if ents[i].inNew {
					d = 1
				}
				if dirs[d] < 0 {
					out[i].err = dirErr[d]
					continue
				}
				var st unix.Stat_t
				if err := unix.Fstatat(dirs[d], ents[i].name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					out[i].err = err
					continue
				}
				out[i] = statRes{mode: st.Mode, size: st.Size, mtime: st.Mtim.Nano()}
			}
		}
	}
	if len(ents) < statParallel {
		work()
		return out
	}
	var wg sync.WaitGroup
	for range statWorkers {
		wg.Go(work)
	}
	wg.Wait()
	return out
}

// bareLFs counts LFs not preceded by CR.
func bareLFs(b []byte) int {
	n := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			n++
		}
	}
	return n
}

// moveNew renames new/ files to cur/ with a ":2," info, under the lock.
func (f *folder) moveNew() error {
	moved := false
	for _, m := range f.msgs {
		if !m.inNew {
			continue
		}
		_, info := splitName(m.name)
		name := withFlags(m.base(), info, m.letters())
		if err := os.Rename(f.filePath(m), filepath.Join(f.path, "cur", name)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // the next locked scan sees where it went
			}
			return err
		}
		m.name, m.inNew = name, false
		moved = true
	}
	if moved {
		return syncDir(f.sub("cur"))
	}
	return nil
}

// writeUidlist records new UIDs: appended to the file (durable with the
// caller's fsync of cur/, docs/design.md#what-is-fsynced), or the file
// rewritten (fsynced) when it is missing, old-format, damaged or mostly expunged.
func (f *folder) writeUidlist(recs []uidRec) error {
	path := f.sub(uidlistName)
	live := len(f.msgs) + len(f.pending)
	if f.ulSt != (stamp{}) && f.ul.version == 3 && f.ul.complete && f.ulLines < 2*live+64 {
		if err := appendUidlist(path, recs, f.u.opts.Shared); err != nil {
			return err
		}
		f.ulLines += len(recs)
	} else {
		if err := f.rewriteUidlist(recs); err != nil {
			return err
		}
	}
	st, err := statStamp(path)
	if err != nil {
		return err
	}
	f.ulSt, f.ulOff = st, st.size
	return nil
}

// rewriteUidlist writes the whole uidlist from the messages we hold plus
// extra, under the lock.
func (f *folder) rewriteUidlist(extra []uidRec) error {
	recs := make([]uidRec, 0, len(f.msgs)+len(f.pending)+len(extra))
	for _, m := range f.msgs {
		recs = append(recs, uidRec{uid: m.uid, ext: m.ext, name: m.name})
	}
	for _, r := range f.pending {
		recs = append(recs, r)
	}
	recs = append(recs, extra...)
	byUID := func(a, b uidRec) int { return cmp.Compare(a.uid, b.uid) }
	if !slices.IsSortedFunc(recs, byUID) { // a first scan's are
		slices.SortFunc(recs, byUID)
	}
	ul := f.ul
	ul.version = 3
	if ul.guid == "" {
		ul.guid = newUidlist().guid
	}
	ul.recs = recs
	if err := writeFileAtomicFunc(f.sub(uidlistName), ul.writeTo); err != nil {
		return err
	}
	f.ul.version, f.ul.guid, f.ul.complete = 3, ul.guid, true
	f.ulLines = len(recs)
	return nil
}

// withLock runs fn with the folder's dotlock held and its state current.
// Called with f.mu held.
func (f *folder) withLock(fn func() error) error {
	if !f.loaded {
		if err := f.load(); err != nil {
			return err
		}
	}
	l, err := lockDir(f.path)
	if err != nil {
		return err
	}
	defer l.unlock()
	f.locks = []*dotlock{l}
	defer func() { f.locks = nil }()
	if err := f.scanLocked(); err != nil {
		return err
	}
	err = errors.Join(fn(), f.reconcile())
	if st, serr := statStamp(f.sub("cur")); serr == nil {
		f.curSt = st
	}
	return err
}

func (f *folder) logFlag(uid uint32, origin *mailbox) {
	if m := f.lookup(uid); m != nil {
		f.msChanged(m)
	}
	f.seq++
	f.flagLog = append(f.flagLog, logEnt{seq: f.seq, uid: uid, origin: origin})
	f.notify(origin)
}

func (f *folder) logExpunge(m *msg, origin *mailbox) {
	f.ms.gone = append(f.ms.gone, m.uid)
	f.seq++
	f.expLog = append(f.expLog, logEnt{seq: f.seq, uid: m.uid, origin: origin, gone: m})
	f.notify(origin)
}

// notify wakes every handle but origin.
func (f *folder) notify(origin *mailbox) {
	for h := range f.handles {
		if h != origin {
			select {
			case h.changed <- struct{}{}:
			default:
			}
		}
	}
}

// trimLogs drops log entries every handle has seen.
func (f *folder) trimLogs() {
	min := f.seq
	for h := range f.handles {
		if h.seq < min {
			min = h.seq
		}
	}
	trim := func(l []logEnt) []logEnt {
		i := sort.Search(len(l), func(i int) bool { return l[i].seq > min })
		if i == 0 {
			return l
		}
		return append(l[:0], l[i:]...)
	}
	f.flagLog = trim(f.flagLog)
	f.expLog = trim(f.expLog)
}

// flagsOf converts m's letters to store flags; conversions are memoized
// per distinct letter set, so a SELECT of a large folder copies instead of
// converting.
func (f *folder) flagsOf(m *msg) store.Flags {
	if f.flMemoGen != f.kwGen+1 || len(f.flMemo) >= 1024 {
		f.flMemo, f.flMemoGen = map[string]store.Flags{}, f.kwGen+1
	}
	l := m.letters()
	fl, ok := f.flMemo[l]
	if !ok {
		fl = f.convertFlags(l)
		f.flMemo[l] = fl
	}
	return fl.Clone()
}

func (f *folder) convertFlags(letters string) store.Flags {
	var fl store.Flags
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		switch c {
		case 'D':
			fl.System |= store.FlagDraft
		case 'F':
			fl.System |= store.FlagFlagged
		case 'P':
			fl.Keywords = append(fl.Keywords, "$Forwarded")
		case 'R':
			fl.System |= store.FlagAnswered
		case 'S':
			fl.System |= store.FlagSeen
		case 'T':
			fl.System |= store.FlagDeleted
		default:
			if c >= 'a' && c <= 'z' && int(c-'a') < len(f.kw) && f.kw[c-'a'] != "" {
				fl.Keywords = append(fl.Keywords, f.kw[c-'a'])
			}
		}
	}
	fl.Normalize()
	return fl
}

// lettersOf converts flags to letters, defining keywords as needed (the
// caller holds the lock and writes dovecot-keywords when kwChanged).
func (f *folder) lettersOf(fl store.Flags, define bool) (letters string, kwChanged bool, err error) {
	var b []byte
	for _, p := range []struct {
		f store.Flag
		c byte
	}{{store.FlagDraft, 'D'}, {store.FlagFlagged, 'F'}, {store.FlagAnswered, 'R'}, {store.FlagSeen, 'S'}, {store.FlagDeleted, 'T'}} {
		if fl.System&p.f != 0 {
			b = append(b, p.c)
		}
	}
	for _, k := range fl.Keywords {
		idx := -1
		for i, x := range f.kw {
			if x != "" && strings.EqualFold(x, k) {
				idx = i
				break
			}
		}
		if idx < 0 {
			if !define {
				continue
			}
			for i, x := range f.kw {
				if x == "" {
					idx = i
					break
				}
			}
			if idx < 0 {
				if len(f.kw) >= maxKeywords {
					return "", kwChanged, store.ErrTooManyFlags
				}
				f.kw = append(f.kw, "")
				idx = len(f.kw) - 1
			}
			f.kw[idx] = k
			kwChanged = true
		}
		b = append(b, byte('a'+idx))
	}
	return sortLetters(string(b)), kwChanged, nil
}

// saveKeywords writes dovecot-keywords under the lock.
func (f *folder) saveKeywords() error {
	if err := writeFileAtomic(f.sub(keywordsName), marshalKeywords(f.kw)); err != nil {
		return err
	}
	f.kwGen++
	f.kwSt, _ = statStamp(f.sub(keywordsName))
	return nil
}

func (f *folder) keywords() []string {
	var out []string
	for _, k := range f.kw {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// sharedSnapshot returns the messages without \Recent, built once per
// state. Callers must not modify it.
func (f *folder) sharedSnapshot() []store.MessageInfo {
	if f.snap != nil && f.snapAt == [2]uint64{f.seq, f.kwGen} {
		return f.snap
	}
	snap := make([]store.MessageInfo, len(f.msgs))
	for i, m := range f.msgs {
		snap[i] = store.MessageInfo{UID: m.uid, Flags: f.flagsOf(m), Size: m.vsize, ModSeq: m.modseq}
	}
	f.snap, f.snapAt = snap, [2]uint64{f.seq, f.kwGen}
	return snap
}

// keepLock renews the held locks every 256 steps of a long operation.
func (f *folder) keepLock(step int) {
	if step > 0 && step%256 == 0 {
		for _, l := range f.locks {
			l.touch()
		}
	}
}

// trustedNew returns the stamp of new/ to remember. new/ changes without
// the lock (an MDA): its mtime is trusted only when older than the
// timestamp granularity could hide.
func trustedNew(st stamp) stamp {
	if time.Now().UnixNano()-st.mtime < int64(time.Second) {
		return stamp{}
	}
	return st
}

func (f *folder) anyInNew() bool {
	for _, m := range f.msgs {
		if m.inNew {
			return true
		}
	}
	return false
}
