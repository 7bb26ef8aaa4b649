// Package maildir stores mailboxes in a Maildir++ tree that Dovecot can
// share: a host can switch between Dovecot and imapd and clients keep their
// UIDVALIDITY, UIDs, flags and keywords.
//
// Layout of a user's Maildir directory:
//
//	cur/ new/ tmp/            INBOX
//	.Sent/ .a.b/              folders; "." separates levels ("a/b" is .a.b)
//	subscriptions             Dovecot format: "V\t2\n\n" then one name a line
//	imapd-special-use         "<name>\t\\Sent" lines (SPECIAL-USE, RFC 6154)
//
// Each folder directory holds cur/ new/ tmp/, Dovecot's dovecot-uidlist (v3)
// and dovecot-keywords, and imapd's own imapd.index, imapd.cache and
// imapd.fts, which are caches only: they are checked against the
// directories' mtimes and the uidlist (imapd.fts against its CRCs and the
// UIDVALIDITY) and rebuilt when they disagree or are corrupt; and
// imapd.modseq, the RFC 7162 mod-sequences and expunge history, which is
// not a cache (modseq.go, docs/design.md#mod-sequences). dovecot.index*
// files are left alone.
//
// Mailbox names: clients see UTF-8 names with "/" as the delimiter. On disk
// each level is stored in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot does
// without the UTF-8 option, and levels are joined with ".". A name level may
// not contain ".", because Maildir++ would read it as a hierarchy level:
// such names are refused with NO [CANNOT] rather than escaped, so every
// directory maps back to exactly one name. Also refused: empty levels, "."
// and ".." levels, a leading "~", NUL and other control characters.
// Folders that Dovecot stored in raw UTF-8 (its UTF-8 option) are read and
// used under their names too; new folders are always created in mUTF-7.
//
// Locking: dovecot-uidlist.lock is made by link(2) of a finished temp file
// holding "<pid>:<host>", so it never exists empty. A lock whose holder is
// a dead process on this host is taken over at once (a killed session
// blocks nobody); any other lock after 2 minutes, as Dovecot does.
//
// New mail: files in new/ get UIDs in name order (delivery time) and move
// to cur/ with a ":2," suffix at the next sync of any session, and are
// \Recent for the first read-write handle that sees them. Changes by other
// processes are found through inotify on new/ and cur/ of selected folders
// and a periodic stat of the directories and the uidlist. With
// Options.Shared (other hosts use the Maildir in turn, over NFS) there is
// no inotify: new/ and cur/ are read at every refresh and every 2 s
// (docs/design.md#shared-storage).
//
// Flags live in the ":2," suffix of a file name (D Draft, F Flagged,
// R Answered, S Seen, T Deleted) and keywords as the letters a-z, indexing
// dovecot-keywords. $Forwarded is written as a keyword letter, as Dovecot
// writes it (Dovecot 2.3 ignores the P of the Maildir spec); a P written by
// another tool is read as $Forwarded. All changes to a folder's files (new UIDs,
// renames for flags, unlinks, moves out of new/) happen while holding
// dovecot-uidlist.lock, so a directory scan under the lock never misses a
// file and a UID is never given twice.
//
// Sizes come from the S= and W= of a name (stat only when a name lacks
// them) and a file's type from getdents(2): only regular files are
// messages. INTERNALDATE is the file's mtime, stat-ed the first time it is
// asked for and then kept in imapd.index, so a first SELECT stats no file.
//
// Full-text index: imapd.fts holds trigrams of each message's searchable
// texts (package imapworker/fts, docs/design.md#full-text-index). The
// mailbox handle implements store.TextSearcher: before answering, it
// indexes the messages the file lacks (new by any path: APPEND, COPY,
// MOVE, a delivery into new/) through Open, as SEARCH reads them (pruned
// of attachments, parsed by mime). The file is a cache like the others:
// a damaged, missing or foreign (other UIDVALIDITY) one is rebuilt, and
// it is locked with flock(2), not with dovecot-uidlist.lock, so indexing
// never holds up deliveries.
package maildir
