// Package imap is the IMAP wire layer: literal framing, the command parser
// (RFC 9051 §9 plus the RFC 3501 forms IMAP4rev1 clients send) and the
// response encoder. It is pure: bytes in, typed commands out. It imports no
// network, file, storage or IPC package; policy (literal sizes, when to use
// modified UTF-7) comes from the caller.
package imap

import "time"

// Command is one parsed client command.
//
// Args holds one of the pointer types below, chosen by Name (for example
// *Fetch for "FETCH"). Commands without arguments carry their empty struct
// (*Noop, *Capability, ...), so a type switch on Args covers every command.
type Command struct {
	Tag  string
	Name string // upper case, without the UID prefix: "FETCH", "LOGIN", ...
	UID  bool   // "UID FETCH", "UID SEARCH", "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE", "UID SORT", "UID THREAD"
	Args any
}

// Commands without arguments.
type (
	Capability struct{} // RFC 9051 §6.1.1
	Noop       struct{} // RFC 9051 §6.1.2
	Logout     struct{} // RFC 9051 §6.1.3
	StartTLS   struct{} // RFC 9051 §6.2.1
	Namespace  struct{} // RFC 9051 §6.3.10
	Idle       struct{} // RFC 9051 §6.3.13; the session reads DONE with Reader.ReadLine and IsDone
	Check      struct{} // RFC 3501 §6.4.1 (IMAP4rev1 only)
	Close      struct{} // RFC 9051 §6.4.1
	Unselect   struct{} // RFC 9051 §6.4.2
)

// Login is LOGIN userid password (RFC 9051 §6.2.3).
type Login struct {
	User     string
	Password string
}

// Authenticate is AUTHENTICATE mechanism [initial-response] (RFC 9051
// §6.2.2, SASL-IR RFC 4959).
type Authenticate struct {
	Mechanism string // upper case
	// InitialResponse is nil when absent. Otherwise it is the base64 text
	// as sent, except that "=" (an empty response) becomes "".
	InitialResponse *string
}

// Enable is ENABLE capability... (RFC 9051 §6.3.1). Caps are upper case.
type Enable struct {
	Caps []string
}

// Compress is COMPRESS mechanism (RFC 4978), upper-cased.
type Compress struct {
	Mechanism string
}

// ID is ID (RFC 2971). Params alternates field, value; a NIL value is "".
// Params is nil when the client sent "ID NIL".
type ID struct {
	Params []string
}

// Param is one SELECT/EXAMINE parameter (RFC 4466 §2.1): the upper-case
// name and the raw text of its value ("" if none).
type Param struct {
	Name  string
	Value string
}

// Select is SELECT or EXAMINE (RFC 9051 §6.3.2, §6.3.3). Name tells which;
// ReadOnly is true for EXAMINE.
type Select struct {
	Mailbox  string // raw astring; see NormalizeMailbox, mutf7.Decode
	ReadOnly bool
	Params   []Param // QRESYNC's value: see ParseQResync
}

// Create is CREATE mailbox [(USE (\Sent ...))] (RFC 9051 §6.3.4, RFC 6154 §3).
type Create struct {
	Mailbox    string
	SpecialUse []string // as sent, e.g. `\Sent`
}

// Delete is DELETE mailbox (RFC 9051 §6.3.5).
type Delete struct {
	Mailbox string
}

// Rename is RENAME from to (RFC 9051 §6.3.6).
type Rename struct {
	From string
	To   string
}

// Subscribe is SUBSCRIBE mailbox (RFC 9051 §6.3.7).
type Subscribe struct {
	Mailbox string
}

// Unsubscribe is UNSUBSCRIBE mailbox (RFC 9051 §6.3.8).
type Unsubscribe struct {
	Mailbox string
}

// List is LIST, with the LIST-EXTENDED forms (RFC 9051 §6.3.9, RFC 5258).
type List struct {
	Reference string
	Patterns  []string // one, or several for `LIST "" ("a" "b")`
	// SelectOpts are the upper-case selection options: SUBSCRIBED, REMOTE,
	// RECURSIVEMATCH, SPECIAL-USE, or any option-extension.
	SelectOpts []string
	// ReturnOpts are the upper-case return options: SUBSCRIBED, CHILDREN,
	// SPECIAL-USE, STATUS, ... STATUS's items are in StatusItems.
	ReturnOpts  []string
	StatusItems []string // upper case; non-nil when RETURN (STATUS (...)) was given
	// Metadata is RETURN (METADATA (...)) (RFC 9590), nil when absent;
	// its Mailbox is unused.
	Metadata *GetMetadata
	// Extended is true when the command used any LIST-EXTENDED syntax
	// (selection options, a pattern list or RETURN), which changes how
	// some responses are formed (RFC 5258 §3).
	Extended bool
}

// Lsub is LSUB reference pattern (RFC 3501 §6.3.9, IMAP4rev1 only).
type Lsub struct {
	Reference string
	Pattern   string
}

// Status is STATUS mailbox (items) (RFC 9051 §6.3.11). Items are upper
// case: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE, RECENT,
// HIGHESTMODSEQ, APPENDLIMIT or anything else atom-shaped (the session
// refuses what it does not support).
type Status struct {
	Mailbox string
	Items   []string
}

// Append is APPEND mailbox [flags] [date-time] literal (RFC 9051 §6.3.12,
// BINARY RFC 3516 for ~{n}).
type Append struct {
	Mailbox string
	Flags   []string  // nil when no flag list was sent
	Date    time.Time // zero when absent
	// Literal is the message. From Reader.ReadCommand it is owned by the
	// caller; from Parse it aliases the raw input.
	Literal []byte
	Binary  bool // the message was sent as literal8 (~{n})
	UTF8    bool // ... inside UTF8 ( ) (RFC 6855 §4)
	// Catenate is non-nil when the message is built by CATENATE (RFC
	// 4469); Literal is then nil.
	Catenate []CatPart
	// More are the second and later messages of a MULTIAPPEND (RFC 3502).
	More []AppendMessage
}

// Replace is [UID] REPLACE n mailbox message (RFC 8508).
type Replace struct {
	Num     uint32 // message sequence number, or UID after UID
	Mailbox string
	Message AppendMessage
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Flags   []string
	Date    time.Time
	Literal []byte
	Binary  bool
	UTF8    bool // sent as UTF8 (literal8), RFC 6855 §4
	// Catenate: see Append.Catenate.
	Catenate []CatPart
}

// Messages returns every message of the APPEND, the first one included.
func (a *Append) Messages() []AppendMessage {
	return append([]AppendMessage{{Flags: a.Flags, Date: a.Date, Literal: a.Literal, Binary: a.Binary, UTF8: a.UTF8, Catenate: a.Catenate}}, a.More...)
}

// Expunge is EXPUNGE, or UID EXPUNGE sequence-set (RFC 9051 §6.4.3, §6.4.9).
type Expunge struct {
	Seq *SeqSet // nil for plain EXPUNGE; UID set for UID EXPUNGE
}

// Search is SEARCH (RFC 9051 §6.4.4), also under UID.
type Search struct {
	Charset string // upper case; "" when absent
	// Return holds the upper-case RETURN options (MIN MAX ALL COUNT SAVE
	// ...). ReturnGiven is true when a RETURN clause was present, even an
	// empty one, which means ESEARCH ALL (RFC 9051 §6.4.4).
	Return      []string
	ReturnGiven bool
	Partial     *PartialRange // RETURN (PARTIAL ...) (RFC 9394), not in Return
	Key         SearchKey     // always of Op SearchAnd at the top
}

// Fetch is FETCH sequence-set items (RFC 9051 §6.4.5), also under UID.
type Fetch struct {
	Seq SeqSet
	// Items are the requested data items; a macro is expanded into them.
	Items []FetchItem
	Macro string // "ALL", "FAST" or "FULL" when a macro was used, else ""
	// Modifiers (RFC 7162 §3.1.4.1, §3.2.6): CHANGEDSINCE's value, nil
	// when absent, and VANISHED.
	ChangedSince *uint64
	Vanished     bool
	// Partial is the PARTIAL fetch modifier (RFC 9394 §3.3), or nil.
	Partial *PartialRange
}

// StoreMode is how STORE applies its flags.
type StoreMode uint8

// Store modes (RFC 9051 §6.4.6).
const (
	StoreReplace StoreMode = iota // FLAGS
	StoreAdd                      // +FLAGS
	StoreRemove                   // -FLAGS
)

// Store is STORE sequence-set [+-]FLAGS[.SILENT] flags (RFC 9051 §6.4.6).
type Store struct {
	Seq    SeqSet
	Mode   StoreMode
	Silent bool
	Flags  []string // as sent; system flags keep their backslash
	// UnchangedSince is the UNCHANGEDSINCE modifier (RFC 7162 §3.1.3),
	// nil when absent.
	UnchangedSince *uint64
}

// Copy is COPY sequence-set mailbox (RFC 9051 §6.4.7), also under UID.
type Copy struct {
	Seq     SeqSet
	Mailbox string
}

// Move is MOVE sequence-set mailbox (RFC 9051 §6.4.8), also under UID.
type Move struct {
	Seq     SeqSet
	Mailbox string
}

// SeqRange is a range of message numbers or UIDs. Star (0) stands for "*",
// the largest number in use; Start may be greater than Stop (RFC 9051 §9:
// "2:4" and "4:2" are the same set). A single number has Start == Stop.
type SeqRange struct {
	Start, Stop uint32
}

// Star is the value of SeqRange.Start or Stop for "*".
const Star uint32 = 0

// SeqSet is a sequence-set (RFC 9051 §9). When SearchRes is true it is "$",
// the result saved by SEARCH RETURN (SAVE) (RFC 9051 §6.4.4.1, RFC 5182),
// and Ranges is empty: the session substitutes the saved set.
type SeqSet struct {
	Ranges    []SeqRange
	SearchRes bool
}

// FetchItem is one fetch-att (RFC 9051 §6.4.5).
//
// Name is upper case: ENVELOPE, FLAGS, INTERNALDATE, RFC822.SIZE, UID,
// BODYSTRUCTURE, BODY (without a section: the non-extensible structure),
// BODY and BODY.PEEK (with a Section), BINARY, BINARY.PEEK, BINARY.SIZE,
// RFC822, RFC822.HEADER, RFC822.TEXT, MODSEQ, or another atom the session
// may refuse.
type FetchItem struct {
	Name    string
	Section *Section // non-nil for BODY[...], BODY.PEEK[...], BINARY*[...]
	Partial *Partial // non-nil for <offset.count>
	Lazy    bool     // PREVIEW (LAZY), RFC 8970 §4.1
}

// Section is the part of a message a FETCH names (RFC 9051 §6.4.5).
type Section struct {
	Part []int // MIME part numbers; empty for the whole message
	// Specifier is "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT",
	// "TEXT" or "MIME".
	Specifier string
	Fields    []string // header field names for HEADER.FIELDS[.NOT], as sent
}

// Partial is <offset.count> of a FETCH body item.
type Partial struct {
	Offset int64
	Count  int64
}

// SearchOp is the kind of a SearchKey.
type SearchOp uint8

// Search key kinds (RFC 9051 §6.4.4, RFC 3501 §6.4.4 for the rev1 ones).
const (
	SearchAnd               SearchOp = iota // Children all match; empty matches all
	SearchOr                                // Children[0] or Children[1]
	SearchNot                               // not Children[0]
	SearchAll                               // ALL
	SearchSeq                               // Seq (message numbers, or "$")
	SearchUID                               // UID Seq
	SearchFlag                              // Flag is set (ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, KEYWORD, RECENT)
	SearchNoFlag                            // Flag is not set (UNANSWERED, ..., UNKEYWORD)
	SearchNew                               // NEW: \Recent and not \Seen (rev1)
	SearchOld                               // OLD: not \Recent (rev1)
	SearchBefore                            // internal date < Date
	SearchOn                                // internal date on Date
	SearchSince                             // internal date >= Date
	SearchSentBefore                        // Date: header < Date
	SearchSentOn                            // Date: header on Date
	SearchSentSince                         // Date: header >= Date
	SearchLarger                            // size > Size
	SearchSmaller                           // size < Size
	SearchHeader                            // header Field contains Value
	SearchBody                              // body contains Value
	SearchText                              // header or body contains Value
	SearchOlder                             // internal date older than Size seconds (RFC 5032)
	SearchYounger                           // internal date younger than Size seconds (RFC 5032)
	SearchModSeq                            // mod-sequence >= Size; Field/Value the entry name and type, if given (RFC 7162 §3.1.5)
	SearchEmailID                           // EMAILID is Value (RFC 8474 §6)
	SearchThreadID                          // THREADID is Value (RFC 8474 §6)
	SearchSavedBefore                       // save date < Date (RFC 8514 §4.3)
	SearchSavedOn                           // save date on Date
	SearchSavedSince                        // save date >= Date
	SearchSaveDateSupported                 // SAVEDATESUPPORTED
)

// SearchKey is a node of a search program.
type SearchKey struct {
	Op       SearchOp
	Children []SearchKey // SearchAnd, SearchOr (2), SearchNot (1)
	Seq      SeqSet      // SearchSeq, SearchUID
	Flag     string      // SearchFlag/SearchNoFlag: `\Seen`, `\Recent`, or a keyword
	Date     time.Time   // date keys: midnight UTC of the date given
	Size     int64       // SearchLarger, SearchSmaller, SearchOlder, SearchYounger
	// Field is the header name for SearchHeader; BCC, CC, FROM, SUBJECT and
	// TO are SearchHeader with that upper-case Field.
	Field string
	Value string // the string to look for
}
