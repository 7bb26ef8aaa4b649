// Package memstore keeps mail in memory: the development server's storage
// and the reference implementation of the store interfaces. One lock per
// user serialises every operation; handles learn of others' changes through
// per-handle pending queues filled under that lock.
package memstore

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapd/imapworker/store"
)

// Backend holds every user's mail for the life of the process.
type Backend struct {
	mu    sync.Mutex
	users map[string]*User
}

// New returns an empty backend.
func New() *Backend { return &Backend{users: make(map[string]*User)} }

// Open returns the user's mail, creating it on first use.
func (b *Backend) Open(name string) (store.User, error) {
	if name == "" {
		return nil, store.ErrNoSuchUser
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.users[name]
	if u == nil {
		u = NewUser()
		b.users[name] = u
	}
	return u, nil
}

// User is one user's mailboxes. It implements store.User.
type User struct {
	mu      sync.Mutex
	boxes   map[string]*mbox
	subs    map[string]bool
	nextUV  uint32
	maxSize int64
	meta    map[string][]byte // the account's annotations (RFC 5464 server entries)
}

type mbox struct {
	name        string
	attrs       store.Attr // NoSelect and special-use only
	uidValidity uint32
	uidNext     uint32
	id          string            // MAILBOXID (RFC 8474), objectid.go
	meta        map[string][]byte // RFC 5464 annotations, metadata.go
	msgs        []*msg            // ascending UID
	keywords    []string
	handles     map[*handle]struct{}
	// RFC 7162: modseq is the highest mod-sequence given out; vanished
	// the expunged UIDs with theirs, the oldest dropped past vanishedMax,
	// vanFloor the highest mod-sequence dropped so.
	modseq   uint64
	vanished []vanEnt
	vanFloor uint64
}

type vanEnt struct {
	modseq uint64
	uid    uint32
}

// VanishedMax bounds the expunge history of a mailbox (tests lower it).
var VanishedMax = 100000

type msg struct {
	uid    uint32
	flags  store.Flags
	date   time.Time
	body   []byte
	recent bool // claimed by some handle as \Recent
	cache  map[string][]byte
	modseq uint64
	// RFC 8474 EMAILID, kept by COPY and MOVE; RFC 8514 save date, set
	// when the message enters a mailbox (objectid.go).
	emailID string
	saved   time.Time
}

var defaultBoxes = []struct {
	name string
	attr store.Attr
}{
	{"Sent", store.AttrSent},
	{"Drafts", store.AttrDrafts},
	{"Trash", store.AttrTrash},
	{"Junk", store.AttrJunk},
	{"Archive", store.AttrArchive},
}

// NewUser returns a user with INBOX and the special-use mailboxes Sent,
// Drafts, Trash, Junk and Archive.
func NewUser() *User {
	u := &User{
		boxes:  make(map[string]*mbox),
		subs:   make(map[string]bool),
		nextUV: uint32(time.Now().Unix()),
	}
	u.newBox("INBOX", 0)
	u.subs["INBOX"] = true
	for _, d := range defaultBoxes {
		u.newBox(d.name, d.attr)
		u.subs[d.name] = true
	}
	return u
}

// SetMaxMessageSize makes Append refuse larger messages with store.ErrTooBig
// (0: no limit).
func (u *User) SetMaxMessageSize(n int64) {
	u.mu.Lock()
	u.maxSize = n
	u.mu.Unlock()
}

func (u *User) newBox(name string, attr store.Attr) *mbox {
	u.nextUV++
	mb := &mbox{name: name, attrs: attr, uidValidity: u.nextUV, uidNext: 1, handles: make(map[*handle]struct{}), modseq: 1, id: newObjectID('F')}
	u.boxes[name] = mb
	return mb
}

func checkName(name string) (string, error) {
	if err := store.ValidName(name); err != nil {
		return "", err
	}
	return store.CanonicalName(name), nil
}

func (u *User) lookup(name string) (*mbox, error) {
	n, err := checkName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", store.ErrNoSuchMailbox, name)
	}
	mb := u.boxes[n]
	if mb == nil {
		return nil, fmt.Errorf("%w: %q", store.ErrNoSuchMailbox, name)
	}
	return mb, nil
}

func (u *User) hasChildren(name string) bool {
	p := name + string(store.Delimiter)
	for n := range u.boxes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// List implements store.User.
func (u *User) List() ([]store.MailboxInfo, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]store.MailboxInfo, 0, len(u.boxes))
	for n, mb := range u.boxes {
		out = append(out, store.MailboxInfo{Name: n, Attrs: mb.attrs})
	}
	store.SetChildAttrs(out)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Create implements store.User.
func (u *User) Create(name string, special store.Attr) error {
	n, err := checkName(name)
	if err != nil {
		return err
	}
	if special&^store.SpecialUse != 0 {
		return fmt.Errorf("%w: not a special-use attribute", store.ErrCannot)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if mb := u.boxes[n]; mb != nil {
		if mb.attrs&store.AttrNoSelect == 0 {
			return fmt.Errorf("%w: %q", store.ErrAlreadyExists, n)
		}
		// A placeholder left by DELETE becomes a real mailbox again.
		u.nextUV++
		mb.attrs = special
		mb.uidValidity = u.nextUV
		mb.id = newObjectID('F')
		return nil
	}
	u.createSuperiors(n)
	u.newBox(n, special)
	return nil
}

// createSuperiors makes missing superior names (RFC 9051 §6.3.4).
func (u *User) createSuperiors(n string) {
	for i := 0; i < len(n); i++ {
		if n[i] == store.Delimiter && u.boxes[n[:i]] == nil {
			u.newBox(n[:i], 0)
		}
	}
}

// Delete implements store.User (RFC 9051 §6.3.5).
func (u *User) Delete(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(name)
	if err != nil {
		return err
	}
	if mb.name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", store.ErrCannot)
	}
	if u.hasChildren(mb.name) {
		if mb.attrs&store.AttrNoSelect != 0 {
			return fmt.Errorf("%w: %q", store.ErrHasChildren, mb.name)
		}
		mb.expungeAll(nil)
		mb.attrs = store.AttrNoSelect
		mb.meta = nil // RFC 5464 §4.1: not inherited by a new mailbox of the name
		return nil
	}
	mb.expungeAll(nil)
	delete(u.boxes, mb.name)
	return nil
}

// expungeAll removes every message, telling handles other than except.
func (mb *mbox) expungeAll(except *handle) {
	uids := make([]uint32, len(mb.msgs))
	for i, m := range mb.msgs {
		uids[i] = m.uid
	}
	mb.msgs = nil
	mb.logVanished(uids)
	mb.notifyExpunged(uids, except)
}

// logVanished gives expunged UIDs one new mod-sequence (RFC 7162 §3.2)
// and remembers them for Vanished.
func (mb *mbox) logVanished(uids []uint32) {
	if len(uids) == 0 {
		return
	}
	mb.modseq++
	for _, u := range uids {
		mb.vanished = append(mb.vanished, vanEnt{mb.modseq, u})
	}
	if over := len(mb.vanished) - VanishedMax; over > 0 {
		mb.vanFloor = mb.vanished[over-1].modseq
		mb.vanished = append(mb.vanished[:0], mb.vanished[over:]...)
	}
}

// Rename implements store.User (RFC 9051 §6.3.6).
func (u *User) Rename(oldName, newName string) error {
	nn, err := checkName(newName)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(oldName)
	if err != nil {
		return err
	}
	if u.boxes[nn] != nil {
		return fmt.Errorf("%w: %q", store.ErrAlreadyExists, nn)
	}
	on := mb.name
	if on == "INBOX" {
		// Messages move to a new mailbox; INBOX stays, empty, and its
		// inferiors are not renamed.
		u.createSuperiors(nn)
		nb := u.newBox(nn, 0)
		nb.msgs, mb.msgs = mb.msgs, nil
		nb.uidNext = mb.uidNext
		nb.keywords = append([]string(nil), mb.keywords...)
		nb.meta = store.ApplyMetadata(mb.meta, nil) // RFC 5464 §4.1: copied
		uids := make([]uint32, len(nb.msgs))
		for i, m := range nb.msgs {
			uids[i] = m.uid
			nb.modseq = max(nb.modseq, m.modseq)
		}
		mb.logVanished(uids)
		mb.notifyExpunged(uids, nil)
		return nil
	}
	if strings.HasPrefix(nn, on+string(store.Delimiter)) {
		return fmt.Errorf("%w: cannot rename a mailbox into itself", store.ErrCannot)
	}
	u.createSuperiors(nn)
	prefix := on + string(store.Delimiter)
	var moves []*mbox
	for n, b := range u.boxes {
		if n == on || strings.HasPrefix(n, prefix) {
			moves = append(moves, b)
		}
	}
	for _, b := range moves {
		delete(u.boxes, b.name)
	}
	for _, b := range moves {
		b.name = nn + b.name[len(on):]
		u.boxes[b.name] = b
	}
	return nil
}

// Subscribe implements store.User.
func (u *User) Subscribe(name string) error {
	n, err := checkName(name)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.boxes[n] == nil {
		return fmt.Errorf("%w: %q", store.ErrNoSuchMailbox, n)
	}
	u.subs[n] = true
	return nil
}

// Unsubscribe implements store.User.
func (u *User) Unsubscribe(name string) error {
	n, err := checkName(name)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.subs[n] {
		return fmt.Errorf("%w: %q is not subscribed", store.ErrNoSuchMailbox, n)
	}
	delete(u.subs, n)
	return nil
}

// Subscriptions implements store.User.
func (u *User) Subscriptions() ([]string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.subs))
	for n := range u.subs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Status implements store.User.
func (u *User) Status(name string) (store.Status, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(name)
	if err != nil {
		return store.Status{}, err
	}
	if mb.attrs&store.AttrNoSelect != 0 {
		return store.Status{}, fmt.Errorf("%w: %q", store.ErrNoSelect, mb.name)
	}
	s := store.Status{Messages: uint32(len(mb.msgs)), UIDNext: mb.uidNext, UIDValidity: mb.uidValidity, HighestModSeq: mb.modseq}
	for _, m := range mb.msgs {
		if !m.recent {
			s.Recent++
		}
		if m.flags.System&store.FlagSeen == 0 {
			s.Unseen++
		}
		if m.flags.System&store.FlagDeleted != 0 {
			s.Deleted++
			s.DeletedSize += int64(len(m.body))
		}
		s.Size += int64(len(m.body))
	}
	return s, nil
}

// Append implements store.User.
func (u *User) Append(name string, flags store.Flags, date time.Time, body []byte) (uint32, uint32, error) {
	uv, uids, err := u.AppendMany(name, []store.NewMessage{{Flags: flags, Date: date, Body: body}})
	if err != nil {
		return 0, 0, err
	}
	return uv, uids[0], nil
}

// AppendMany implements store.User: all or none, under the user's lock.
func (u *User) AppendMany(name string, msgs []store.NewMessage) (uint32, []uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(name)
	if err != nil {
		return 0, nil, err
	}
	if mb.attrs&store.AttrNoSelect != 0 {
		return 0, nil, fmt.Errorf("%w: %q", store.ErrNoSelect, mb.name)
	}
	now := time.Now()
	ms := make([]*msg, len(msgs))
	for i, nm := range msgs {
		if u.maxSize > 0 && int64(len(nm.Body)) > u.maxSize {
			return 0, nil, store.ErrTooBig
		}
		date := nm.Date
		if date.IsZero() {
			date = now
		}
		ms[i] = &msg{flags: nm.Flags.Clone(), date: date, body: bytes.Clone(nm.Body)}
		ms[i].flags.Normalize()
	}
	mb.add(ms)
	uids := make([]uint32, len(ms))
	for i, m := range ms {
		uids[i] = m.uid
	}
	return mb.uidValidity, uids, nil
}

// add gives msgs UIDs, stores them and tells every handle.
func (mb *mbox) add(ms []*msg) {
	now := time.Now()
	for _, m := range ms {
		m.saved = now // RFC 8514 §3: a copy gets its own
		if m.emailID == "" {
			m.emailID = newObjectID('M')
		}
		m.uid = mb.uidNext
		mb.uidNext++
		mb.modseq++
		m.modseq = mb.modseq
		mb.msgs = append(mb.msgs, m)
		mb.addKeywords(m.flags.Keywords)
	}
	// RFC 3501 §2.3.2: \Recent for exactly one session; a read-write one.
	var first *handle
	for h := range mb.handles {
		if !h.readOnly && (first == nil || h.id < first.id) {
			first = h
		}
	}
	for h := range mb.handles {
		for _, m := range ms {
			info := m.info()
			if h == first {
				info.Recent = true
				m.recent = true
			} else if first == nil {
				info.Recent = true // EXAMINE only: shown, left unclaimed
			}
			h.pendNew = append(h.pendNew, info)
		}
		h.signal()
	}
}

func (mb *mbox) addKeywords(kws []string) bool {
	changed := false
	for _, k := range kws {
		found := false
		for _, x := range mb.keywords {
			if strings.EqualFold(x, k) {
				found = true
				break
			}
		}
		if !found {
			mb.keywords = append(mb.keywords, k)
			changed = true
		}
	}
	if changed {
		for h := range mb.handles {
			h.pendKw = true
		}
	}
	return changed
}

func (m *msg) info() store.MessageInfo {
	return store.MessageInfo{UID: m.uid, Flags: m.flags.Clone(), Size: int64(len(m.body)), ModSeq: m.modseq}
}

func (mb *mbox) notifyExpunged(uids []uint32, except *handle) {
	if len(uids) == 0 {
		return
	}
	for h := range mb.handles {
		if h == except {
			continue
		}
		gone := make(map[uint32]bool, len(uids))
		for _, uid := range uids {
			gone[uid] = true // pendFlags kept: the last flags of a ghost (RFC 2180 §4.1)
		}
		// A message the handle never heard of simply never existed for it.
		kept := h.pendNew[:0]
		for _, n := range h.pendNew {
			if gone[n.UID] {
				delete(gone, n.UID)
				continue
			}
			kept = append(kept, n)
		}
		h.pendNew = kept
		for _, uid := range uids {
			if gone[uid] {
				h.pendExp = append(h.pendExp, uid)
			}
		}
		h.signal()
	}
}

// Select implements store.User.
func (u *User) Select(name string, readOnly bool) (store.Mailbox, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb, err := u.lookup(name)
	if err != nil {
		return nil, err
	}
	if mb.attrs&store.AttrNoSelect != 0 {
		return nil, fmt.Errorf("%w: %q", store.ErrNoSelect, mb.name)
	}
	h := &handle{u: u, mb: mb, id: handleSeq.Add(1), readOnly: readOnly, ch: make(chan struct{}, 1),
		uidNext: mb.uidNext, pendFlags: make(map[uint32]store.FlagUpdate), hms: mb.modseq}
	h.snapshot = make([]store.MessageInfo, len(mb.msgs))
	for i, m := range mb.msgs {
		h.snapshot[i] = m.info()
		if !m.recent {
			// EXAMINE shows \Recent and leaves it unclaimed (RFC 3501
			// §2.3.2).
			m.recent = !readOnly
			h.recent = append(h.recent, m.uid)
		}
	}
	h.keywords = append([]string(nil), mb.keywords...)
	mb.handles[h] = struct{}{}
	return h, nil
}

// handleSeq orders handles so that \Recent goes to the oldest one.
var handleSeq atomic.Uint64

// Close implements store.User.
func (u *User) Close() error { return nil }

type handle struct {
	u        *User
	mb       *mbox
	id       uint64
	readOnly bool
	ch       chan struct{}
	snapshot []store.MessageInfo
	recent   []uint32 // UIDs of snapshot this handle claimed \Recent for
	keywords []string
	uidNext  uint32
	hms      uint64 // HighestModSeq as of the last Select or Poll

	pendNew   []store.MessageInfo
	pendFlags map[uint32]store.FlagUpdate
	pendExp   []uint32
	pendKw    bool
	closed    bool
}

func (h *handle) signal() {
	select {
	case h.ch <- struct{}{}:
	default:
	}
}

func (h *handle) Name() string {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	return h.mb.name
}

func (h *handle) UIDValidity() uint32                          { return h.mb.uidValidity }
func (h *handle) ReadOnly() bool                               { return h.readOnly }
func (h *handle) Messages() []store.MessageInfo                { return h.snapshot }
func (h *handle) Recent() []uint32                             { return h.recent }
func (h *handle) UIDNext() uint32                              { return h.uidNext }
func (h *handle) Keywords() []string                           { return h.keywords }
func (h *handle) HighestModSeq() uint64                        { return h.hms }
func (h *handle) NewKeywords() bool                            { return true }
func (h *handle) Changed() <-chan struct{}                     { return h.ch }
func (h *handle) Cached(uid uint32, key string) ([]byte, bool) { return h.cached(uid, key) }

func (h *handle) cached(uid uint32, key string) ([]byte, bool) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	m := h.mb.find(uid)
	if m == nil || m.cache == nil {
		return nil, false
	}
	v, ok := m.cache[key]
	return v, ok
}

func (h *handle) SetCached(uid uint32, key string, value []byte) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if m := h.mb.find(uid); m != nil {
		if m.cache == nil {
			m.cache = make(map[string][]byte)
		}
		m.cache[key] = value
	}
}

func (mb *mbox) find(uid uint32) *msg {
	i := mb.index(uid)
	if i < 0 {
		return nil
	}
	return mb.msgs[i]
}

func (mb *mbox) index(uid uint32) int {
	i := sort.Search(len(mb.msgs), func(i int) bool { return mb.msgs[i].uid >= uid })
	if i < len(mb.msgs) && mb.msgs[i].uid == uid {
		return i
	}
	return -1
}

func (h *handle) Poll() (store.Changes, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	var c store.Changes
	c.New, h.pendNew = h.pendNew, nil
	c.Expunged, h.pendExp = h.pendExp, nil
	if len(h.pendFlags) > 0 {
		c.Flags = make([]store.FlagUpdate, 0, len(h.pendFlags))
		for _, f := range h.pendFlags {
			c.Flags = append(c.Flags, f)
		}
		sort.Slice(c.Flags, func(i, j int) bool { return c.Flags[i].UID < c.Flags[j].UID })
		clear(h.pendFlags)
	}
	sort.Slice(c.Expunged, func(i, j int) bool { return c.Expunged[i] < c.Expunged[j] })
	if h.pendKw {
		h.pendKw = false
		h.keywords = append([]string{}, h.mb.keywords...)
		c.Keywords = h.keywords
	}
	h.uidNext = h.mb.uidNext
	h.hms = h.mb.modseq
	return c, nil
}

// Vanished implements store.Mailbox.
func (h *handle) Vanished(since uint64) ([]uint32, bool, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	var out []uint32
	for _, v := range h.mb.vanished {
		if v.modseq > since {
			out = append(out, v.uid)
		}
	}
	slices.Sort(out)
	return out, since >= h.mb.vanFloor, nil
}

type content struct {
	*bytes.Reader
	b []byte
}

func (c content) Bytes() []byte { return c.b }
func (c content) Close() error  { return nil }

func (h *handle) Open(uid uint32) (store.Content, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	m := h.mb.find(uid)
	if m == nil {
		return nil, store.ErrExpunged
	}
	return content{bytes.NewReader(m.body), m.body}, nil
}

func (h *handle) InternalDates(uids []uint32) ([]time.Time, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	out := make([]time.Time, len(uids))
	for i, uid := range uids {
		if m := h.mb.find(uid); m != nil {
			out[i] = m.date
		}
	}
	return out, nil
}

func (h *handle) Store(uids []uint32, op store.StoreOp, flags store.Flags) ([]store.FlagUpdate, error) {
	ups, _, err := h.store(uids, op, flags, nil)
	return ups, err
}

// StoreUnchangedSince implements store.Mailbox (RFC 7162 §3.1.3).
func (h *handle) StoreUnchangedSince(uids []uint32, op store.StoreOp, flags store.Flags, since uint64) ([]store.FlagUpdate, []uint32, error) {
	return h.store(uids, op, flags, &since)
}

func (h *handle) store(uids []uint32, op store.StoreOp, flags store.Flags, since *uint64) ([]store.FlagUpdate, []uint32, error) {
	if h.readOnly {
		return nil, nil, store.ErrReadOnly
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	h.mb.addKeywords(flags.Keywords)
	out := make([]store.FlagUpdate, 0, len(uids))
	var modified []uint32
	for _, uid := range uids {
		m := h.mb.find(uid)
		if m == nil {
			continue
		}
		if since != nil && m.modseq > *since {
			modified = append(modified, uid)
			continue
		}
		// What others changed before is superseded by the flags returned
		// here: reported later, it would undo them in the session.
		delete(h.pendFlags, uid)
		nf := m.flags.Apply(op, flags)
		if !nf.Equal(m.flags) {
			m.flags = nf
			h.mb.modseq++
			m.modseq = h.mb.modseq
			for o := range h.mb.handles {
				if o != h {
					o.pendFlags[uid] = store.FlagUpdate{UID: uid, Flags: nf.Clone(), ModSeq: m.modseq}
					o.signal()
				}
			}
		}
		out = append(out, store.FlagUpdate{UID: uid, Flags: m.flags.Clone(), ModSeq: m.modseq})
	}
	slices.Sort(modified)
	return out, modified, nil
}

func (h *handle) Expunge(uids []uint32) ([]uint32, error) {
	if h.readOnly {
		return nil, store.ErrReadOnly
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	var want map[uint32]bool
	if uids != nil {
		want = make(map[uint32]bool, len(uids))
		for _, u := range uids {
			want[u] = true
		}
	}
	return h.removeLocked(func(m *msg) bool {
		return m.flags.System&store.FlagDeleted != 0 && (want == nil || want[m.uid])
	}), nil
}

// removeLocked drops the messages del selects and tells the other handles.
func (h *handle) removeLocked(del func(*msg) bool) []uint32 {
	var gone []uint32
	kept := h.mb.msgs[:0]
	for _, m := range h.mb.msgs {
		if del(m) {
			gone = append(gone, m.uid)
			continue
		}
		kept = append(kept, m)
	}
	clear(h.mb.msgs[len(kept):])
	h.mb.msgs = kept
	h.mb.logVanished(gone)
	h.mb.notifyExpunged(gone, h)
	return gone
}

func (h *handle) Copy(uids []uint32, dest string) (store.CopyResult, error) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	return h.copyLocked(uids, dest)
}

func (h *handle) copyLocked(uids []uint32, dest string) (store.CopyResult, error) {
	db, err := h.u.lookup(dest)
	if err != nil {
		return store.CopyResult{}, err
	}
	if db.attrs&store.AttrNoSelect != 0 {
		return store.CopyResult{}, fmt.Errorf("%w: %q", store.ErrNoSelect, db.name)
	}
	var res store.CopyResult
	var ms []*msg
	for _, uid := range uids {
		m := h.mb.find(uid)
		if m == nil {
			continue
		}
		if h.u.maxSize > 0 && int64(len(m.body)) > h.u.maxSize {
			return store.CopyResult{}, store.ErrTooBig
		}
		res.Src = append(res.Src, uid)
		ms = append(ms, &msg{flags: m.flags.Clone(), date: m.date, body: m.body, emailID: m.emailID})
	}
	db.add(ms)
	res.UIDValidity = db.uidValidity
	for _, m := range ms {
		res.Dst = append(res.Dst, m.uid)
	}
	return res, nil
}

func (h *handle) Move(uids []uint32, dest string) (store.CopyResult, error) {
	if h.readOnly {
		return store.CopyResult{}, store.ErrReadOnly
	}
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	res, err := h.copyLocked(uids, dest)
	if err != nil {
		return res, err
	}
	moved := make(map[uint32]bool, len(res.Src))
	for _, u := range res.Src {
		moved[u] = true
	}
	// Moving into the selected mailbox itself: the copies stay.
	h.removeLocked(func(m *msg) bool {
		return moved[m.uid]
	})
	// The copies in the same mailbox were queued for this handle: keep
	// them; the originals are reported by the caller.
	return res, nil
}

func (h *handle) Close() error {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if !h.closed {
		h.closed = true
		delete(h.mb.handles, h)
	}
	return nil
}
