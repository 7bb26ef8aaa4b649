// Package fts is an index of a folder's message texts that answers most
// text SEARCHes without reading the messages, and narrows the rest
// (docs/design.md#full-text-index).
//
// A text is indexed in its folded form (mime.SearchTexts), twice:
//   - as byte trigrams, for every text: a needle of at least 3 folded
//     bytes can only occur where all its trigrams occur, so the messages
//     holding them are candidates the caller verifies with the matcher;
//   - as tokens, for the texts an ASCII needle reads: the maximal runs of
//     word bytes (ASCII letters and digits, bytes of non-ASCII runes),
//     a run longer than 64 bytes as pieces of 64 every 32. An ASCII needle
//     of word bytes only, up to MaxExact (33) bytes, occurs in a text if
//     and only if it occurs within one of its tokens, so the index is sure
//     of the answer both ways, without the matcher. A message whose folded
//     text may hold an ASCII needle its raw text does not (Doc.Inexact:
//     U+212A and U+017F fold to k and s) is only ever a candidate.
//
// Lookup says which UIDs surely match, which may and which do not; the
// caller reads only the second, so answers are those of a scan.
//
// File format (little endian), one file per folder:
//
//	header   "IMAPDFTS" | u32 version (2) | u32 UIDVALIDITY | u32 CRC-32C of the 16 bytes before
//	segment* "FTSG" | u32 body length | u32 CRC-32C of body | body
//	body     u32 uid* | posting* | (u32 key, u32 end)* | token entries |
//	         (u32 token end, u32 end)* | u32 inexact uid* |
//	         u32 nuids | u32 nkeys | u32 postings length | u32 ntokens | u32 tokens length | u32 ninexact
//
// A segment covers the UIDs it lists: each was indexed whole. A key is
// kind<<24 | three bytes; its posting is the ascending UIDs holding that
// trigram in that kind of text, as uvarint deltas; end is where it ends
// in the postings; keys ascend. A token entry is a kind byte and the
// token; entries ascend strictly, so a kind's entries are contiguous and
// searched as one string (a kind byte is not a word byte: no match spans
// two entries); token postings follow the trigrams'. The inexact UIDs
// ascend. New messages are appended as a segment; segments are merged into one, dropping UIDs no longer in the folder,
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
