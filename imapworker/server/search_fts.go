package server

import (
	"slices"
	"strings"
	"sync/atomic"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// useTextIndex is cleared by tests to compare the index with the scan.
var useTextIndex atomic.Bool

func init() { useTextIndex.Store(true) }

// searchOnly returns the indexes in s.msgs of the only messages that can
// satisfy k, from the store's full-text index (docs/design.md#full-text-index),
// or ok false when every message must be tested. The messages returned
// are still tested with k, so the answer is the scan's.
func (c *conn) searchOnly(k *imap.SearchKey) (idx []int, ok bool) {
	ts, isTS := c.mbox.h.(store.TextSearcher)
	if !isTS || !useTextIndex.Load() || len(c.mbox.msgs) == 0 || !needsBody(k) && !anyKey(k, imap.SearchHeader) {
		return nil, false
	}
	var uids []uint32 // asked of the store once
	cand, ok := textCandidates(k, func(f store.TextField, needle string) ([]uint32, bool) {
		if uids == nil {
			uids = c.mbox.uids()
		}
		return ts.TextCandidates(f, needle, uids)
	})
	if !ok {
		return nil, false
	}
	idx = make([]int, 0, len(cand))
	j := 0
	for i := range c.mbox.msgs {
		u := c.mbox.msgs[i].UID
		for j < len(cand) && cand[j] < u {
			j++
		}
		if j < len(cand) && cand[j] == u {
			idx = append(idx, i)
		}
	}
	return idx, true
}

// textCandidates returns an ascending superset of the UIDs satisfying k
// when the index can bound it: a BODY, TEXT or SUBJECT key, an AND with
// one such child, an OR of two. NOT and the other keys cannot be bounded.
func textCandidates(k *imap.SearchKey, ask func(store.TextField, string) ([]uint32, bool)) ([]uint32, bool) {
	switch k.Op {
	case imap.SearchBody:
		return ask(store.TextBody, k.Value)
	case imap.SearchText:
		return ask(store.TextAll, k.Value)
	case imap.SearchHeader:
		if strings.EqualFold(k.Field, "Subject") {
			return ask(store.TextSubject, k.Value)
		}
	case imap.SearchAnd:
		// Each bounded child bounds the AND: the smallest is kept.
		var out []uint32
		any := false
		for i := range k.Children {
			if c, ok := textCandidates(&k.Children[i], ask); ok && (!any || len(c) < len(out)) {
				out, any = c, true
			}
		}
		return out, any
	case imap.SearchOr:
		if len(k.Children) != 2 {
			return nil, false
		}
		a, ok := textCandidates(&k.Children[0], ask)
		if !ok {
			return nil, false
		}
		b, ok := textCandidates(&k.Children[1], ask)
		if !ok {
			return nil, false
		}
		out := append(slices.Clone(a), b...)
		slices.Sort(out)
		return slices.Compact(out), true
	}
	return nil, false
}

// msgAt returns the index of the j-th message to test: only[j], or j
// when every message is tested (only nil).
func msgAt(only []int, j int) int {
	if only == nil {
		return j
	}
	return only[j]
}
