package maildir

import (
	"io"

	"imapd/imapworker/fts"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// ftsName is the folder's full-text index (docs/design.md#full-text-index).
const ftsName = "imapd.fts"

// ftsLimits bound the index's memory while it builds; tests lower them.
var ftsLimits fts.Limits

var _ store.TextSearcher = (*mailbox)(nil)

// ftsIndex returns the folder's index, made on first use.
func (f *folder) ftsIndex() *fts.Index {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fts == nil {
		f.fts = fts.New(f.sub(ftsName), ftsLimits)
	}
	return f.fts
}

// closeFTS drops the index's mapping. Called with f.mu held, which a
// running search may wait for while it holds the index: the mapping is
// dropped once that search is done.
func (f *folder) closeFTS() {
	if ix := f.fts; ix != nil {
		f.fts = nil
		go ix.Close()
	}
}

var ftsKinds = map[store.TextField][]uint8{
	store.TextBody:    {uint8(mime.TextBody)},
	store.TextAll:     {uint8(mime.TextBody), uint8(mime.TextHeader)},
	store.TextSubject: {uint8(mime.TextSubject)},
}

// TextMatches implements store.TextSearcher. The index is brought up to
// date first: messages delivered by any means since (APPEND, COPY, MOVE,
// a file dropped into new/) are indexed now, once; UIDs no longer listed
// only cost space until the next merge.
func (h *mailbox) TextMatches(field store.TextField, needle string, uids []uint32) (sure, maybe []uint32, ok bool) {
	kinds := ftsKinds[field]
	m := mime.NewMatcher(needle)
	if kinds == nil || len(m.Folded()) == 0 || len(uids) == 0 {
		return nil, nil, false
	}
	// The index keeps what any handle of the folder may ask for: this
	// handle's UIDs and the folder's now, so that handles with older
	// views do not merge away one another's messages.
	all := h.f.liveUIDs(uids)
	a, err := h.f.ftsIndex().Lookup(h.UIDValidity(), all, h.ftsSource(), kinds, m.Folded(), m.ASCII())
	if err != nil {
		return nil, nil, false
	}
	if len(all) != len(uids) {
		a.Sure, a.Maybe = fts.Intersect(a.Sure, uids), fts.Intersect(a.Maybe, uids)
	}
	return a.Sure, a.Maybe, true
}

// liveUIDs returns the ascending union of uids (ascending) and the
// folder's UIDs.
func (f *folder) liveUIDs(uids []uint32) []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint32, 0, max(len(uids), len(f.msgs)))
	i := 0
	for _, m := range f.msgs {
		for i < len(uids) && uids[i] < m.uid {
			out = append(out, uids[i])
			i++
		}
		if i < len(uids) && uids[i] == m.uid {
			i++
		}
		out = append(out, m.uid)
	}
	return append(out, uids[i:]...)
}

// ftsSource reads a message for the index as SEARCH reads it: the
// content Open serves, pruned of what SEARCH never reads, parsed by mime,
// its texts folded by mime.SearchTexts.
func (h *mailbox) ftsSource() fts.Source {
	var pr mime.Pruner
	var buf []byte
	return func(uid uint32, d *fts.Doc) error {
		cnt, err := h.Open(uid)
		if err != nil {
			return err
		}
		buf, err = pr.Prune(io.NewSectionReader(cnt, 0, cnt.Size()), buf[:0])
		cnt.Close()
		if err != nil {
			return err
		}
		mime.SearchTexts(mime.Parse(buf), func(k mime.TextKind, t []byte, v mime.TextView) {
			d.Add(uint8(k), t, v != mime.ViewOther)
			if v == mime.ViewASCIIWide {
				d.Inexact()
			}
		})
		if cap(buf) > 4<<20 {
			buf = nil
		}
		return nil
	}
}
