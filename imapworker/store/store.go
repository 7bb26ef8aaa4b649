// Package store is the boundary between the IMAP session engine and mail
// storage (DESIGN §4). It knows mailboxes, messages, flags, UIDs and change
// notifications, never IMAP syntax or sequence numbers: every session maps
// its own sequence numbers to UIDs.
//
// Mailbox names are UTF-8 with '/' as the hierarchy delimiter. "INBOX" is
// matched case-insensitively and always spelled "INBOX" in results.
package store

import (
	"errors"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Delimiter is the hierarchy delimiter of mailbox names.
const Delimiter = '/'

// Errors a store returns (possibly wrapped). The engine maps them to
// RFC 5530 response codes.
var (
	ErrNoSuchMailbox = errors.New("no such mailbox")                 // [NONEXISTENT], or [TRYCREATE] for APPEND/COPY/MOVE
	ErrAlreadyExists = errors.New("mailbox already exists")          // [ALREADYEXISTS]
	ErrInvalidName   = errors.New("invalid mailbox name")            // [CANNOT]
	ErrCannot        = errors.New("operation not possible")          // [CANNOT] (delete INBOX, rename into itself ...)
	ErrHasChildren   = errors.New("mailbox has children")            // [HASCHILDREN]
	ErrNoSelect      = errors.New("mailbox cannot be selected")      // [CANNOT]
	ErrReadOnly      = errors.New("mailbox is read-only")            // [READ-ONLY] refusals
	ErrQuota         = errors.New("quota exceeded")                  // [OVERQUOTA]
	ErrNoSpace       = errors.New("no space left")                   // [LIMIT]
	ErrTooBig        = errors.New("message too big")                 // [TOOBIG]
	ErrTooManyFlags  = errors.New("too many keywords")               // [LIMIT]
	ErrExpunged      = errors.New("message has been expunged")       // [EXPUNGEISSUED]
	ErrUnavailable   = errors.New("storage temporarily unavailable") // [UNAVAILABLE]
	ErrNoSuchUser    = errors.New("no such user")                    // Backend.Open
)

// Attr is a set of mailbox attributes (RFC 9051 §7.3.1, RFC 6154).
type Attr uint32

const (
	AttrNoSelect Attr = 1 << iota
	AttrNoInferiors
	AttrHasChildren
	AttrHasNoChildren
	AttrMarked
	AttrUnmarked
	// Special-use attributes, RFC 6154 §2.
	AttrAll
	AttrArchive
	AttrDrafts
	AttrFlagged
	AttrJunk
	AttrSent
	AttrTrash

	// SpecialUse is the mask of the special-use attributes.
	SpecialUse = AttrAll | AttrArchive | AttrDrafts | AttrFlagged | AttrJunk | AttrSent | AttrTrash
)

var attrNames = []struct {
	a    Attr
	name string
}{
	{AttrNoSelect, `\Noselect`},
	{AttrNoInferiors, `\Noinferiors`},
	{AttrHasChildren, `\HasChildren`},
	{AttrHasNoChildren, `\HasNoChildren`},
	{AttrMarked, `\Marked`},
	{AttrUnmarked, `\Unmarked`},
	{AttrAll, `\All`},
	{AttrArchive, `\Archive`},
	{AttrDrafts, `\Drafts`},
	{AttrFlagged, `\Flagged`},
	{AttrJunk, `\Junk`},
	{AttrSent, `\Sent`},
	{AttrTrash, `\Trash`},
}

// Names returns the IMAP spelling of each attribute in a, in a fixed order.
func (a Attr) Names() []string {
	var out []string
	for _, n := range attrNames {
		if a&n.a != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseAttr returns the attribute named s (case-insensitive), or 0.
func ParseAttr(s string) Attr {
	for _, n := range attrNames {
		if strings.EqualFold(n.name, s) {
			return n.a
		}
	}
	return 0
}

// Flag is a set of IMAP system flags (RFC 9051 §2.3.2). \Recent is not a
// flag here: see MessageInfo.Recent.
type Flag uint8

const (
	FlagSeen Flag = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = [...]string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

// SystemFlagNames lists the system flags in FLAGS-response order.
func SystemFlagNames() []string { return flagNames[:] }

// ParseFlag returns the system flag named s (case-insensitive), or 0.
func ParseFlag(s string) Flag {
	for i, n := range flagNames {
		if strings.EqualFold(n, s) {
			return 1 << i
		}
	}
	return 0
}

// Names returns the IMAP spelling of each flag in f.
func (f Flag) Names() []string {
	var out []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Flags are a message's system flags and keywords. Keywords are atoms
// without a leading backslash, kept sorted and unique (case-insensitively,
// first spelling wins); use Normalize after building one by hand.
type Flags struct {
	System   Flag
	Keywords []string
}

// Normalize sorts and de-duplicates the keywords in place.
func (f *Flags) Normalize() {
	if len(f.Keywords) < 2 {
		return
	}
	sort.SliceStable(f.Keywords, func(i, j int) bool {
		return strings.ToLower(f.Keywords[i]) < strings.ToLower(f.Keywords[j])
	})
	out := f.Keywords[:1]
	for _, k := range f.Keywords[1:] {
		if !strings.EqualFold(k, out[len(out)-1]) {
			out = append(out, k)
		}
	}
	f.Keywords = out
}

// HasKeyword reports whether k (case-insensitive) is set.
func (f Flags) HasKeyword(k string) bool {
	for _, x := range f.Keywords {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

// Clone returns a copy that shares no memory with f.
func (f Flags) Clone() Flags {
	if f.Keywords == nil {
		return f
	}
	return Flags{System: f.System, Keywords: append([]string(nil), f.Keywords...)}
}

// Equal reports whether f and g hold the same flags.
func (f Flags) Equal(g Flags) bool {
	if f.System != g.System || len(f.Keywords) != len(g.Keywords) {
		return false
	}
	for i := range f.Keywords {
		if !strings.EqualFold(f.Keywords[i], g.Keywords[i]) {
			return false
		}
	}
	return true
}

// StoreOp says how Mailbox.Store combines flags (RFC 9051 §6.4.6).
type StoreOp int

const (
	StoreReplace StoreOp = iota // FLAGS
	StoreAdd                    // +FLAGS
	StoreRemove                 // -FLAGS
)

// Apply returns f changed by op with g.
func (f Flags) Apply(op StoreOp, g Flags) Flags {
	switch op {
	case StoreReplace:
		n := g.Clone()
		n.Normalize()
		return n
	case StoreAdd:
		n := Flags{System: f.System | g.System, Keywords: append(append([]string(nil), f.Keywords...), g.Keywords...)}
		n.Normalize()
		return n
	default:
		n := Flags{System: f.System &^ g.System}
		for _, k := range f.Keywords {
			if !g.HasKeyword(k) {
				n.Keywords = append(n.Keywords, k)
			}
		}
		return n
	}
}

// MailboxInfo is one entry of User.List.
type MailboxInfo struct {
	Name  string
	Attrs Attr
}

// Status is the data of a STATUS response (RFC 9051 §6.3.11).
type Status struct {
	Messages    uint32
	Recent      uint32 // messages not yet seen by any session (IMAP4rev1)
	UIDNext     uint32
	UIDValidity uint32
	Unseen      uint32 // messages without \Seen
	Deleted     uint32 // messages with \Deleted
	Size        int64  // sum of RFC822.SIZE
	DeletedSize int64  // sum of RFC822.SIZE of the \Deleted ones (RFC 9208 DELETED-STORAGE)
	// HighestModSeq is the mailbox's highest mod-sequence (RFC 7162
	// §3.1.7), 0 when the store keeps none for it.
	HighestModSeq uint64
}

// MessageInfo is what a session knows about a message without opening it.
// The internal date is not here: a store may learn it lazily (see
// Mailbox.InternalDates). Fields are ordered for packing (56 bytes): a
// session of a 100,000-message folder may hold 100,000 of these.
type MessageInfo struct {
	Flags Flags
	Size  int64
	// ModSeq is the mod-sequence of the message's last change: its
	// arrival or a change of its flags (RFC 7162 §3.1); 0 when the
	// mailbox keeps none (Mailbox.HighestModSeq is 0).
	ModSeq uint64
	UID    uint32
	// Recent is true in exactly one read-write handle: the first one to
	// learn of the message (RFC 3501 \Recent); read-only handles see it
	// while none has claimed it. Only in Changes.New: at Select see
	// Mailbox.Recent.
	Recent bool
}

// FlagUpdate is a message's complete new flags and their mod-sequence.
type FlagUpdate struct {
	UID    uint32
	Flags  Flags
	ModSeq uint64
}

// Changes are what happened in a mailbox since the handle last looked,
// made by other handles, by User.Append, or by this handle's Copy into its
// own mailbox. The engine applies New first, then Flags, then Expunged. A
// message both added and expunged since the last Poll may be left out of
// both. Reporting this handle's own Store/Expunge/Move again is harmless
// (the engine ignores expunges of UIDs it no longer has and new UIDs at or
// below ones it has), but costs the client a redundant FETCH.
type Changes struct {
	New      []MessageInfo // ascending UIDs, all above any UID seen before
	Flags    []FlagUpdate  // latest flags of messages changed by others
	Expunged []uint32      // ascending
	Keywords []string      // non-nil when the set of defined keywords changed: the new set
}

// Empty reports whether c holds nothing.
func (c Changes) Empty() bool {
	return len(c.New) == 0 && len(c.Flags) == 0 && len(c.Expunged) == 0 && c.Keywords == nil
}

// NewMessage is one message of User.AppendMany. A zero Date means now.
type NewMessage struct {
	Flags Flags
	Date  time.Time
	Body  []byte
}

// CopyResult maps copied UIDs to their UIDs in the destination (RFC 4315
// COPYUID). Src[i] became Dst[i]; messages expunged meanwhile are left out.
type CopyResult struct {
	UIDValidity uint32
	Src, Dst    []uint32
}

// Content is a message's bytes, exactly as appended (RFC822.SIZE = Size()).
type Content interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Bytes returns all of c. Contents that hold their bytes in memory may
// implement Bytes() []byte to avoid the copy.
func Bytes(c Content) ([]byte, error) {
	if b, ok := c.(interface{ Bytes() []byte }); ok {
		return b.Bytes(), nil
	}
	buf := make([]byte, c.Size())
	n, err := c.ReadAt(buf, 0)
	if err == io.EOF && int64(n) == c.Size() {
		err = nil
	}
	return buf[:n], err
}

// Backend gives access to users' mail.
type Backend interface {
	// Open returns the user's mail; all sessions of one user in a process
	// should share one User.
	Open(user string) (User, error)
}

// User is one user's mail. It is safe for concurrent use by many sessions.
type User interface {
	// List returns every mailbox, INBOX included, with attributes:
	// \Noselect, \Noinferiors, special-use, and \HasChildren or
	// \HasNoChildren (see SetChildAttrs). A missing superior of a listed
	// name is listed too, \Noselect. Order is unspecified.
	List() ([]MailboxInfo, error)
	// Create makes a mailbox with optional special-use attributes
	// (RFC 6154 §3), creating missing superiors (RFC 9051 §6.3.4).
	Create(name string, special Attr) error
	// Delete removes a mailbox (RFC 9051 §6.3.5): INBOX cannot be deleted
	// (ErrCannot); a mailbox with inferiors loses its messages and becomes
	// \Noselect; a \Noselect mailbox with inferiors is ErrHasChildren.
	Delete(name string) error
	// Rename renames a mailbox and its inferiors (RFC 9051 §6.3.6). Renaming
	// INBOX moves its messages to a new mailbox and leaves INBOX empty.
	Rename(oldName, newName string) error
	Subscribe(name string) error
	Unsubscribe(name string) error
	// Subscriptions returns subscribed names, including ones that no longer
	// exist.
	Subscriptions() ([]string, error)
	Status(name string) (Status, error)
	// Append adds a message (RFC 9051 §6.3.12). A zero date means now.
	Append(name string, flags Flags, date time.Time, body []byte) (uidValidity, uid uint32, err error)
	// AppendMany adds messages to one mailbox, all or none (RFC 3502
	// MULTIAPPEND), with ascending UIDs in msgs' order.
	AppendMany(name string, msgs []NewMessage) (uidValidity uint32, uids []uint32, err error)
	// Select opens a handle on a mailbox for one session.
	Select(name string, readOnly bool) (Mailbox, error)
	ObjectUser   // objectid.go
	MetadataUser // metadata.go
	Close() error
}

// Mailbox is one session's handle on a selected mailbox. A handle is used
// by one goroutine at a time, except Changed, which may be waited on from
// any goroutine.
type Mailbox interface {
	Name() string
	UIDValidity() uint32
	ReadOnly() bool
	// Messages is the snapshot taken at Select, ascending UIDs, Recent
	// unset. It is read only: a store may share it between handles, and
	// the engine copies it before its first change.
	Messages() []MessageInfo
	// Recent lists the UIDs among Messages that are \Recent in this handle
	// (the first to learn of them, RFC 3501), ascending; read only. A
	// read-only handle (EXAMINE) lists those no read-write handle claimed,
	// and leaves them unclaimed. A first
	// SELECT after a delivery may make every message \Recent: 4 bytes
	// each here, not a copy of Messages.
	Recent() []uint32
	// UIDNext is the next UID as of the last Select or Poll.
	UIDNext() uint32
	// Keywords are the keywords defined in the mailbox (for FLAGS).
	Keywords() []string
	// NewKeywords reports whether STORE/APPEND may add keywords not in
	// Keywords (PERMANENTFLAGS \*).
	NewKeywords() bool

	// Changed receives a value when Poll has something new. It is never
	// closed.
	Changed() <-chan struct{}
	// Poll returns what changed since the last Poll (or Select).
	Poll() (Changes, error)

	// Open returns the message's content; ErrExpunged when it is gone.
	Open(uid uint32) (Content, error)
	// InternalDates returns the internal dates (RFC 9051 §2.3.3) of uids,
	// in order, the zero time for one that is gone. A store may learn them
	// lazily (Maildir: one stat per file, then from its index), so a
	// SELECT need not touch every message and callers ask in batches.
	InternalDates(uids []uint32) ([]time.Time, error)
	// Store changes flags of the messages that still exist among uids and
	// returns their new flags in uids' order. A message whose flags change
	// gets a new mod-sequence; one whose flags stay keeps its own.
	Store(uids []uint32, op StoreOp, flags Flags) ([]FlagUpdate, error)
	// StoreUnchangedSince is Store for the messages among uids whose
	// mod-sequence is at most since, tested and changed atomically
	// (RFC 7162 §3.1.3 UNCHANGEDSINCE); the others are left alone and
	// returned in modified, ascending.
	StoreUnchangedSince(uids []uint32, op StoreOp, flags Flags, since uint64) (ups []FlagUpdate, modified []uint32, err error)

	// HighestModSeq is the highest mod-sequence of the mailbox as of the
	// last Select or Poll (RFC 7162 §3.1.2.1): every change up to it has
	// been reported to this handle. 0 means the store keeps no
	// mod-sequences for this mailbox ([NOMODSEQ]).
	HighestModSeq() uint64
	// Vanished returns the UIDs expunged with a mod-sequence above since,
	// ascending (RFC 7162 §3.2.5.1). Stores keep a bounded history:
	// complete is false when some expunges after since may have been
	// forgotten, and the caller must then treat every UID it asked about
	// that no longer exists as expunged (§3.2.6).
	Vanished(since uint64) (uids []uint32, complete bool, err error)
	// Expunge removes messages flagged \Deleted: all of them when uids is
	// nil, else only those among uids. It returns the removed UIDs,
	// ascending.
	Expunge(uids []uint32) ([]uint32, error)
	// Copy copies messages to dest keeping flags and internal date.
	Copy(uids []uint32, dest string) (CopyResult, error)
	// Move moves messages to dest (RFC 6851). The moved UIDs are reported
	// as CopyResult.Src and are expunged from this mailbox as if by Expunge
	// (the caller sends the EXPUNGE responses; Poll does not repeat them).
	Move(uids []uint32, dest string) (CopyResult, error)

	// Cached returns a value stored with SetCached for (uid, key). Stores
	// with an index may persist it; others may drop it at any time.
	Cached(uid uint32, key string) ([]byte, bool)
	SetCached(uid uint32, key string, value []byte)

	ObjectMailbox // objectid.go

	Close() error
}

// TextField names the texts a TextSearcher narrows a search of.
type TextField int

const (
	TextBody    TextField = iota // SEARCH BODY
	TextAll                      // SEARCH TEXT: headers and body
	TextSubject                  // SEARCH SUBJECT
)

// TextSearcher is a Mailbox with a full-text index (docs/design.md#full-text-index).
// TextMatches answers for uids (ascending) whether their field contains
// needle, as SEARCH's matcher would: the UIDs in sure do, those in maybe
// must be verified by the caller, the rest do not; both ascending. ok is
// false when the index cannot tell (a short needle, an error): the
// caller reads every message.
type TextSearcher interface {
	TextMatches(field TextField, needle string, uids []uint32) (sure, maybe []uint32, ok bool)
}

// Watcher is a Mailbox that can give a descriptor which becomes readable
// when the mailbox changes, for a hibernated IDLE session's holder to wait
// on (docs/design.md#idle-workers-and-hibernation). WatchFile makes a new,
// non-blocking descriptor each call; the caller closes it. A change made
// before WatchFile returned, which the descriptor may miss, the handle's
// next Poll reports.
type Watcher interface {
	WatchFile() (*os.File, error)
}

// IsInbox reports whether name is INBOX (case-insensitive).
func IsInbox(name string) bool { return strings.EqualFold(name, "INBOX") }

// CanonicalName folds a leading INBOX component to "INBOX" (RFC 9051 §5.1).
func CanonicalName(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == Delimiter) {
		return "INBOX" + name[5:]
	}
	return name
}

// MaxNameLen bounds a mailbox name in bytes.
const MaxNameLen = 512

// ValidName checks a mailbox name every store accepts: valid UTF-8, no
// control characters or wildcards, no empty, "." or ".." component.
// Stores may refuse more (ErrInvalidName).
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return ErrInvalidName
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '*' || r == '%' || r == '\\' {
			return ErrInvalidName
		}
	}
	for _, c := range strings.Split(name, string(Delimiter)) {
		if c == "" || c == "." || c == ".." {
			return ErrInvalidName
		}
	}
	return nil
}

// SetChildAttrs sets \HasChildren or \HasNoChildren on each entry from the
// names present in list, leaving entries with \Noinferiors alone.
func SetChildAttrs(list []MailboxInfo) {
	parents := make(map[string]bool, len(list))
	for _, m := range list {
		for i := 0; i < len(m.Name); i++ {
			if m.Name[i] == Delimiter {
				parents[m.Name[:i]] = true
			}
		}
	}
	for i := range list {
		list[i].Attrs &^= AttrHasChildren | AttrHasNoChildren
		if list[i].Attrs&AttrNoInferiors != 0 {
			continue
		}
		if parents[list[i].Name] {
			list[i].Attrs |= AttrHasChildren
		} else {
			list[i].Attrs |= AttrHasNoChildren
		}
	}
}
