// Package fts is a trigram index of a folder's message texts that narrows
// the messages a text SEARCH must read (docs/design.md#full-text-index).
//
// It only narrows: Candidates returns a superset of the messages whose
// text can contain a needle, and the caller verifies every candidate with
// the matcher it would have used without an index, so answers are those
// of a scan by construction. A text is indexed as the byte trigrams of its
// folded form (mime.SearchTexts); a needle of at least 3 folded bytes
// (mime.Matcher.Folded) can only occur where all its trigrams occur.
//
// File format (little endian), one file per folder:
//
//	header   "IMAPDFTS" | u32 version | u32 UIDVALIDITY | u32 CRC-32C of the 16 bytes before
//	segment* "FTSG" | u32 body length | u32 CRC-32C of body | body
//	body     u32 uid* | posting* | (u32 key, u32 end)* | u32 nuids | u32 nkeys | u32 postings length
//
// A segment covers the UIDs it lists: each was indexed whole. A key is
// kind<<24 | three bytes; its posting is the ascending UIDs holding that
// trigram in that kind of text, as uvarint deltas; end is where it ends
// in the postings; keys ascend. New messages are appended as a segment;
// segments are merged into one, dropping UIDs no longer in the folder,
// when there are many, when most UIDs are gone, or after a damaged tail.
// A segment whose length or CRC is wrong ends the valid file: what follows
// is ignored (its UIDs are simply not covered, so they stay candidates)
// and the next update rewrites the file. A bad header or another
// UIDVALIDITY starts the file afresh. The file is replaced by rename,
// never shortened in place, so a process's mapping stays valid.
//
// The file is locked with flock(2) for every use; a process waiting for
// the lock of a file renamed away meanwhile opens the new one.
package fts
