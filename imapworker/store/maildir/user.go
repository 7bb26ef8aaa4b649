package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"imapd/imapworker/mutf7"
	"imapd/imapworker/store"
)

// Options tune a User.
type Options struct {
	// NoSpecialUse skips creating Sent, Drafts, Trash, Junk and Archive
	// at the first open of a Maildir.
	NoSpecialUse bool
	// PollInterval is the stat fallback for file systems without inotify
	// (default 5 s; 2 s with Shared).
	PollInterval time.Duration
	// NoInotify disables inotify (tests of the fallback).
	NoInotify bool
	// Shared is for a Maildir that other hosts use in turn, on a file
	// system whose changes inotify does not report and whose attribute
	// cache may show another host's directory as unchanged (NFS,
	// docs/design.md#shared-storage): selected folders are polled every
	// PollInterval instead of watched, new/ and cur/ are read at every
	// refresh, a SELECT of a folder without handles reads it again, and
	// the uidlist and imapd.index are fsynced.
	Shared bool
}

// User is one user's Maildir. It implements store.User.
type User struct {
	root string
	opts Options

	mu      sync.Mutex
	folders map[string]*folder
	w       *watcher
	closed  bool
}

var _ store.User = (*User)(nil)

const (
	subscriptionsName = "subscriptions"
	specialUseName    = "imapd-special-use"
)

var defaultSpecial = []struct {
	name string
	attr store.Attr
}{
	{"Sent", store.AttrSent},
	{"Drafts", store.AttrDrafts},
	{"Trash", store.AttrTrash},
	{"Junk", store.AttrJunk},
	{"Archive", store.AttrArchive},
}

// Open opens the Maildir at dir, creating it (and, at the first open, the
// special-use folders) if needed.
func Open(dir string, opts Options) (*User, error) {
	if opts.Shared {
		opts.NoInotify = true
		if opts.PollInterval <= 0 {
			opts.PollInterval = 2 * time.Second
		}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	if err := ensureDirs(dir); err != nil {
		return nil, err
	}
	u := &User{root: dir, opts: opts, folders: map[string]*folder{}}
	if !opts.NoSpecialUse {
		if _, err := os.Stat(filepath.Join(dir, specialUseName)); errors.Is(err, fs.ErrNotExist) {
			var b bytes.Buffer
			for _, s := range defaultSpecial {
				if err := u.Create(s.name, 0); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
					return nil, err
				}
				fmt.Fprintf(&b, "%s\t%s\n", s.name, s.attr.Names()[0])
			}
			if err := writeFileAtomic(filepath.Join(dir, specialUseName), b.Bytes()); err != nil {
				return nil, err
			}
		}
	}
	u.w = newWatcher(u)
	return u, nil
}

// Backend opens users' Maildirs; it implements store.Backend.
type Backend struct {
	dir  func(user string) (string, error)
	opts Options

	mu    sync.Mutex
	users map[string]*User
}

// NewBackend returns a Backend finding each user's Maildir with dir.
func NewBackend(dir func(user string) (string, error), opts Options) *Backend {
	return &Backend{dir: dir, opts: opts, users: map[string]*User{}}
}

// Open returns the user's shared User.
func (b *Backend) Open(user string) (store.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u := b.users[user]; u != nil && !u.isClosed() {
		return u, nil
	}
	d, err := b.dir(user)
	if err != nil {
		return nil, err
	}
	u, err := Open(d, b.opts)
	if err != nil {
		return nil, err
	}
	b.users[user] = u
	return u, nil
}

func (u *User) isClosed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

// dirOf returns the directory of a canonical mailbox name.
func (u *User) dirOf(name string) (string, error) {
	if name == "INBOX" {
		return u.root, nil
	}
	d, err := nameToDir(name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(u.root, d)
	if raw := "." + strings.ReplaceAll(name, "/", "."); raw != d {
		// A folder Dovecot stored in raw UTF-8 (its UTF-8 option).
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(u.root, raw)); err == nil {
				return filepath.Join(u.root, raw), nil
			}
		}
	}
	return p, nil
}

// folder returns the shared folder state for name (which may not exist).
func (u *User) folder(name string) (*folder, error) {
	name = store.CanonicalName(name)
	if name != "INBOX" {
		if err := validName(name); err != nil {
			return nil, err
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, store.ErrUnavailable
	}
	if f := u.folders[name]; f != nil {
		return f, nil
	}
	p, err := u.dirOf(name)
	if err != nil {
		return nil, err
	}
	f := &folder{u: u, name: name, path: p, handles: map[*mailbox]struct{}{}}
	u.folders[name] = f
	return f, nil
}

// forget drops cached state of folders at or under name (after Delete or
// Rename), so later use reads the disk again.
func (u *User) forget(name string) {
	u.mu.Lock()
	var fs []*folder
	for n, f := range u.folders {
		if n == name || strings.HasPrefix(n, name+"/") {
			delete(u.folders, n)
			fs = append(fs, f)
		}
	}
	u.mu.Unlock()
	for _, f := range fs {
		f.mu.Lock()
		f.loaded = false
		f.msgs = nil
		f.byBase = nil
		f.closeFTS()
		f.msForget()
		f.u.w.unwatch(f)
		f.notify(nil)
		f.mu.Unlock()
	}
}

// folderDirs lists the Maildir++ folder directories by client name;
// selectable tells whether each has cur/.
func (u *User) folderDirs() (map[string]bool, error) {
	ents, err := os.ReadDir(u.root)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		name, ok := dirToName(e.Name())
		if !ok || name == "INBOX" || strings.EqualFold(name, "INBOX") {
			continue
		}
		name = store.CanonicalName(name)
		st, err := os.Stat(filepath.Join(u.root, e.Name(), "cur"))
		out[name] = err == nil && st.IsDir()
	}
	return out, nil
}

// List implements store.User.
func (u *User) List() ([]store.MailboxInfo, error) {
	dirs, err := u.folderDirs()
	if err != nil {
		return nil, err
	}
	special := u.specialUse()
	all := map[string]store.Attr{"INBOX": 0}
	for n, sel := range dirs {
		if !sel {
			all[n] |= store.AttrNoSelect
		} else {
			all[n] |= 0
		}
		// Maildir++ needs no parent directory: show missing ones \Noselect.
		for i := 0; i < len(n); i++ {
			if n[i] == '/' {
				if _, ok := all[n[:i]]; !ok {
					if _, ok := dirs[n[:i]]; !ok {
						all[n[:i]] = store.AttrNoSelect
					}
				}
			}
		}
	}
	var out []store.MailboxInfo
	for n, a := range all {
		out = append(out, store.MailboxInfo{Name: n, Attrs: a | special[n]})
	}
	store.SetChildAttrs(out)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// specialUse reads imapd-special-use ("<name>\t<attr>" lines).
func (u *User) specialUse() map[string]store.Attr {
	m := map[string]store.Attr{}
	data, err := os.ReadFile(filepath.Join(u.root, specialUseName))
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, attrs, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		for _, a := range strings.Fields(attrs) {
			m[name] |= store.ParseAttr(a) & store.SpecialUse
		}
	}
	return m
}

func (u *User) saveSpecialUse(m map[string]store.Attr) error {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		if m[n] != 0 {
			fmt.Fprintf(&b, "%s\t%s\n", n, strings.Join(m[n].Names(), " "))
		}
	}
	return writeFileAtomic(filepath.Join(u.root, specialUseName), b.Bytes())
}

// Create implements store.User (RFC 9051 §6.3.4).
func (u *User) Create(name string, special store.Attr) error {
	name = store.CanonicalName(name)
	if name == "INBOX" {
		return store.ErrAlreadyExists
	}
	if err := validName(name); err != nil {
		return err
	}
	if special&^store.SpecialUse != 0 {
		return store.ErrCannot
	}
	segs := strings.Split(name, "/")
	for i := range segs {
		n := strings.Join(segs[:i+1], "/")
		if n == "INBOX" {
			continue
		}
		p, err := u.dirOf(n)
		if err != nil {
			return err
		}
		_, err = os.Stat(filepath.Join(p, "cur"))
		if err == nil {
			if i == len(segs)-1 {
				return store.ErrAlreadyExists
			}
			continue
		}
		if err := ensureDirs(p); err != nil {
			return err
		}
		// Dovecot and maildrop mark Maildir++ folders with this file.
		if err := os.WriteFile(filepath.Join(p, "maildirfolder"), nil, 0o600); err != nil {
			return err
		}
	}
	if special != 0 {
		m := u.specialUse()
		m[name] = special
		return u.saveSpecialUse(m)
	}
	return nil
}

// hasChildren reports whether name has inferiors on disk.
func (u *User) hasChildren(name string, dirs map[string]bool) bool {
	for n := range dirs {
		if strings.HasPrefix(n, name+"/") {
			return true
		}
	}
	return false
}

// Delete implements store.User (RFC 9051 §6.3.5).
func (u *User) Delete(name string) error {
	name = store.CanonicalName(name)
	if name == "INBOX" {
		return store.ErrCannot
	}
	if err := validName(name); err != nil {
		return err
	}
	dirs, err := u.folderDirs()
	if err != nil {
		return err
	}
	sel, ok := dirs[name]
	children := u.hasChildren(name, dirs)
	if !ok {
		if children {
			return store.ErrHasChildren // a \Noselect parent
		}
		return store.ErrNoSuchMailbox
	}
	if !sel && children {
		return store.ErrHasChildren
	}
	p, err := u.dirOf(name)
	if err != nil {
		return err
	}
	releaseLockSource(p)
	// Rename away first so no session sees a half-deleted folder.
	trash, err := os.MkdirTemp(filepath.Join(u.root, "tmp"), "imapd-deleted-")
	if err != nil {
		return err
	}
	if err := os.Rename(p, filepath.Join(trash, "f")); err != nil {
		os.Remove(trash)
		return err
	}
	if children {
		// The name stays as \Noselect: a folder directory without cur/.
		if err := os.Mkdir(p, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	u.forget(name)
	if m := u.specialUse(); m[name] != 0 {
		delete(m, name)
		_ = u.saveSpecialUse(m)
	}
	return os.RemoveAll(trash)
}

// Rename implements store.User (RFC 9051 §6.3.6).
func (u *User) Rename(oldName, newName string) error {
	oldName, newName = store.CanonicalName(oldName), store.CanonicalName(newName)
	if err := validName(newName); err != nil || newName == "INBOX" {
		if err == nil {
			err = store.ErrAlreadyExists
		}
		return err
	}
	if oldName != "INBOX" {
		if err := validName(oldName); err != nil {
			return err
		}
	}
	if newName == oldName || strings.HasPrefix(newName, oldName+"/") {
		return store.ErrCannot
	}
	dirs, err := u.folderDirs()
	if err != nil {
		return err
	}
	if _, ok := dirs[newName]; ok {
		return store.ErrAlreadyExists
	}
	if oldName == "INBOX" {
		return u.renameInbox(newName)
	}
	_, ok := dirs[oldName]
	if !ok && !u.hasChildren(oldName, dirs) {
		return store.ErrNoSuchMailbox
	}
	// Superiors of the new name (RFC 9051 §6.3.6: created if needed).
	if i := strings.LastIndexByte(newName, '/'); i > 0 {
		if err := u.Create(newName[:i], 0); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return err
		}
	}
	var names []string
	for n := range dirs {
		if n == oldName || strings.HasPrefix(n, oldName+"/") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	special := u.specialUse()
	changedSpecial := false
	for _, n := range names {
		to := newName + n[len(oldName):]
		src, err1 := u.dirOf(n)
		dst, err2 := u.dirOf(to)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if _, err := os.Stat(dst); err == nil {
			return store.ErrAlreadyExists
		}
		releaseLockSource(src)
		if err := os.Rename(src, dst); err != nil {
			return err
		}
		if a := special[n]; a != 0 {
			delete(special, n)
			special[to] = a
			changedSpecial = true
		}
	}
	u.forget(oldName)
	u.forget(newName)
	if changedSpecial {
		return u.saveSpecialUse(special)
	}
	return nil
}

// renameInbox moves INBOX's messages into a new mailbox (RFC 9051 §6.3.6).
func (u *User) renameInbox(newName string) error {
	if err := u.Create(newName, 0); err != nil {
		return err
	}
	if err := u.copyMetadata(newName); err != nil {
		return err
	}
	mb, err := u.Select("INBOX", false)
	if err != nil {
		return err
	}
	defer mb.Close()
	var uids []uint32
	for _, m := range mb.Messages() {
		uids = append(uids, m.UID)
	}
	if len(uids) == 0 {
		return nil
	}
	_, err = mb.Move(uids, newName)
	return err
}

// missing tells why name cannot be selected: a \Noselect name (a folder
// directory without cur/, or a Maildir++ parent that has no directory) or
// no such mailbox.
func (u *User) missing(name string) error {
	dirs, err := u.folderDirs()
	if err != nil {
		return err
	}
	if _, ok := dirs[name]; ok || u.hasChildren(name, dirs) {
		return store.ErrNoSelect
	}
	return store.ErrNoSuchMailbox
}

// Subscribe implements store.User.
func (u *User) Subscribe(name string) error {
	name = store.CanonicalName(name)
	if err := store.ValidName(name); err != nil {
		return err
	}
	if name != "INBOX" {
		if err := validName(name); err != nil {
			return err
		}
		p, err := u.dirOf(name)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			if err := u.missing(name); !errors.Is(err, store.ErrNoSelect) {
				return err
			}
		}
	}
	return u.editSubscriptions(func(s []string) []string {
		for _, x := range s {
			if x == name {
				return s
			}
		}
		return append(s, name)
	})
}

// Unsubscribe implements store.User.
func (u *User) Unsubscribe(name string) error {
	name = store.CanonicalName(name)
	found := false
	err := u.editSubscriptions(func(s []string) []string {
		out := s[:0]
		for _, x := range s {
			if x == name {
				found = true
				continue
			}
			out = append(out, x)
		}
		return out
	})
	if err == nil && !found {
		return store.ErrNoSuchMailbox
	}
	return err
}

// Subscriptions implements store.User. The file is Dovecot's: an optional
// "V\t2\n\n" header, then one name a line (version 2 separates levels with
// a tab; older files use the namespace separator, '.' on Maildir++).
func (u *User) Subscriptions() ([]string, error) {
	data, err := os.ReadFile(filepath.Join(u.root, subscriptionsName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSubscriptions(data), nil
}

func parseSubscriptions(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	v2 := false
	if len(lines) > 0 && strings.HasPrefix(lines[0], "V\t") {
		v2 = true
		lines = lines[1:]
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range lines {
		if l == "" {
			continue
		}
		if v2 {
			l = strings.ReplaceAll(l, "\t", "/")
		}
		if d, err := mutf7.Decode(l); err == nil {
			l = d
		}
		l = store.CanonicalName(l)
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

func (u *User) editSubscriptions(fn func([]string) []string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	path := filepath.Join(u.root, subscriptionsName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s := fn(parseSubscriptions(data))
	var b bytes.Buffer
	b.WriteString("V\t2\n\n")
	for _, n := range s {
		// Version 2 stores names in UTF-8 with levels separated by tabs.
		b.WriteString(strings.ReplaceAll(n, "/", "\t"))
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, b.Bytes())
}

// Status implements store.User (RFC 9051 §6.3.11).
func (u *User) Status(name string) (store.Status, error) {
	f, err := u.folder(name)
	if err != nil {
		return store.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refresh(); err != nil {
		return store.Status{}, err
	}
	s := store.Status{Messages: uint32(len(f.msgs)), UIDNext: f.ul.nextUID, UIDValidity: f.ul.uidValidity, HighestModSeq: f.ms.highest()}
	for _, m := range f.msgs {
		if m.recent {
			s.Recent++
		}
		if !strings.ContainsRune(m.letters(), 'S') {
			s.Unseen++
		}
		if strings.ContainsRune(m.letters(), 'T') {
			s.Deleted++
			s.DeletedSize += m.vsize
		}
		s.Size += m.vsize
	}
	return s, nil
}

// Append implements store.User (RFC 9051 §6.3.12).
func (u *User) Append(name string, flags store.Flags, date time.Time, body []byte) (uint32, uint32, error) {
	uv, uids, err := u.AppendMany(name, []store.NewMessage{{Flags: flags, Date: date, Body: body}})
	if err != nil {
		return 0, 0, err
	}
	return uv, uids[0], nil
}

// AppendMany implements store.User (RFC 3502): every file is written to
// tmp/ and fsynced, then under the folder's lock all are renamed into cur/
// and recorded in one uidlist write, so a UID is never shown for a message
// that is not durable. An error undoes the renames: none is stored. (A
// crash between the renames and the uidlist leaves them as new mail, as
// for one APPEND.)
func (u *User) AppendMany(name string, msgs []store.NewMessage) (uint32, []uint32, error) {
	f, err := u.folder(name)
	if err != nil {
		return 0, nil, err
	}
	if !f.exists() {
		return 0, nil, store.ErrNoSuchMailbox
	}
	now := time.Now()
	bases := make([]string, len(msgs))
	tmps := make([]string, len(msgs))
	defer func() {
		for _, t := range tmps {
			if t != "" {
				os.Remove(t) // no-op after the rename
			}
		}
	}()
	for i, nm := range msgs {
		date := nm.Date
		if date.IsZero() {
			date = now
		}
		// The bytes are kept as given (a literal8 APPEND may hold bare LF
		// in a binary part, RFC 3516 §4.4): W= equal to S= makes Open
		// serve them unchanged. Text from an ordinary literal arrives
		// with CRLF already.
		bases[i] = newBase(now, int64(len(nm.Body)), int64(len(nm.Body)))
		tmp := filepath.Join(f.path, "tmp", bases[i])
		if err := writeTmp(tmp, nm.Body, date); err != nil {
			return 0, nil, storeErr(err)
		}
		tmps[i] = tmp
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var uids []uint32
	err = f.withLock(func() error {
		letters := make([]string, len(msgs))
		anyKw := false
		for i, nm := range msgs {
			l, kwChanged, err := f.lettersOf(nm.Flags, true)
			if err != nil {
				return err
			}
			letters[i], anyKw = l, anyKw || kwChanged
		}
		if anyKw {
			if err := f.saveKeywords(); err != nil {
				return err
			}
		}
		var renamed []string
		undo := func(err error) error {
			for _, p := range renamed {
				os.Remove(p)
			}
			return err
		}
		for i := range msgs {
			dst := filepath.Join(f.path, "cur", bases[i]+":2,"+letters[i])
			if err := rename(tmps[i], dst); err != nil {
				return undo(err)
			}
			renamed = append(renamed, dst)
			tmps[i] = "" // renamed: nothing left in tmp/ to remove
		}
		crashAt("append-renamed")
		ms := make([]*msg, len(msgs))
		recs := make([]uidRec, len(msgs))
		for i, nm := range msgs {
			date := nm.Date
			if date.IsZero() {
				date = now
			}
			fname := bases[i] + ":2," + letters[i]
			ms[i] = &msg{uid: f.ul.nextUID, blen: uint16(len(bases[i])), name: fname, fsize: int64(len(nm.Body)),
				vsize: int64(len(nm.Body)), date: date.UnixNano(), recent: true}
			recs[i] = uidRec{uid: ms[i].uid, name: fname}
			f.ul.nextUID++ // before writing: the header's N stays above every UID
		}
		if err := f.writeUidlist(recs); err != nil {
			return undo(err)
		}
		// The new directory entries, and on a journalled file system the
		// uidlist's append with them, are durable before the OK
		// (docs/design.md#what-is-fsynced).
		if err := syncDir(f.sub("cur")); err != nil {
			return undo(err)
		}
		crashAt("append-recorded")
		for _, m := range ms {
			uids = append(uids, m.uid)
		}
		f.insert(ms)
		if anyKw {
			f.seq++
			f.notify(nil)
		}
		return nil
	})
	if err != nil {
		return 0, nil, storeErr(err)
	}
	f.markIndexDirty()
	return f.ul.uidValidity, uids, nil
}

// storeErr maps file-system errors to the store's, so that clients get
// [OVERQUOTA] or [LIMIT] rather than [SERVERBUG].
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %v", store.ErrQuota, err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %v", store.ErrNoSpace, err)
	}
	return err
}

// writeTmp writes a message file durably with its internal date as mtime:
// open, write, futimens, fsync, close.
func writeTmp(path string, body []byte, date time.Time) error {
	fh, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fh.Write(body)
	if err == nil {
		err = futimens(fh, date)
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove(path)
	}
	return err
}

// Select implements store.User.
func (u *User) Select(name string, readOnly bool) (store.Mailbox, error) {
	f, err := u.folder(name)
	if err != nil {
		return nil, err
	}
	if !f.exists() {
		return nil, u.missing(f.name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.opts.Shared && len(f.handles) == 0 && f.loaded {
		// Another host may have served the folder since this process
		// last had it open: nothing kept from then is trusted.
		f.unload()
	}
	if err := f.refresh(); err != nil {
		return nil, err
	}
	h := &mailbox{f: f, readOnly: readOnly, changed: make(chan struct{}, 1)}
	h.seq = f.seq
	h.kwGen = f.kwGen
	h.uidNext = f.ul.nextUID
	h.hms = f.ms.highest()
	// Every handle of an unchanged folder shares one snapshot; the
	// \Recent messages this handle claims are kept apart (RFC 3501
	// §2.3.2: EXAMINE leaves them for a read-write session).
	h.snapshot = f.sharedSnapshot()
	if f.mayRecent {
		for _, m := range f.msgs {
			if m.recent {
				m.recent = readOnly // EXAMINE shows them \Recent, unclaimed
				h.recent = append(h.recent, m.uid)
			}
		}
		f.mayRecent = readOnly
	}
	if n := len(f.msgs); n > 0 {
		h.maxUID = f.msgs[n-1].uid
	}
	if len(f.handles) == 0 {
		u.w.watch(f)
	}
	f.handles[h] = struct{}{}
	return h, nil
}

// Close implements store.User: it writes dirty indexes and stops watching.
func (u *User) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	fs := make([]*folder, 0, len(u.folders))
	for _, f := range u.folders {
		fs = append(fs, f)
	}
	u.mu.Unlock()
	u.w.close()
	var errs []error
	for _, f := range fs {
		f.mu.Lock()
		errs = append(errs, f.flushIndex())
		f.closeFTS()
		f.mu.Unlock()
		releaseLockSource(f.path)
	}
	return errors.Join(errs...)
}
