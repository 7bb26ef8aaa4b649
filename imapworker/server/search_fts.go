package server

import (
	"strings"
	"sync/atomic"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// useTextIndex is cleared by tests to compare the index with the scan.
var useTextIndex atomic.Bool

func init() { useTextIndex.Store(true) }

// textState is what the full-text index says of one message for one text
// key (store.TextSearcher).
type textState uint8

const (
	textNo    textState = iota // it does not match
	textMaybe                  // the matcher must tell
	textSure                   // it matches
)

// textPlan holds, for each text key the index answered, the state of
// every message of the view by index in s.msgs.
type textPlan map[*imap.SearchKey][]textState

// planText asks the store's full-text index (docs/design.md#full-text-index)
// about every text key of k, and returns the answers and the indexes in
// s.msgs of the only messages that can satisfy k, or ok false when every
// message must be tested. Those messages are tested with k, a text key
// answered sure or no without reading them: the answer is the scan's.
func (c *conn) planText(k *imap.SearchKey) (plan textPlan, only []int, ok bool) {
	ts, isTS := c.mbox.h.(store.TextSearcher)
	if !isTS || !useTextIndex.Load() || len(c.mbox.msgs) == 0 || !needsBody(k) && !anyKey(k, imap.SearchHeader) {
		return nil, nil, false
	}
	plan = textPlan{}
	var uids []uint32 // asked of the store once
	var ask func(k *imap.SearchKey)
	ask = func(k *imap.SearchKey) {
		for i := range k.Children {
			ask(&k.Children[i])
		}
		f, isText := textField(k)
		if !isText {
			return
		}
		if uids == nil {
			uids = c.mbox.uids()
		}
		sure, maybe, ok := ts.TextMatches(f, k.Value, uids)
		if !ok {
			return
		}
		st := make([]textState, len(uids))
		mark(st, uids, maybe, textMaybe)
		mark(st, uids, sure, textSure)
		plan[k] = st
	}
	ask(k)
	if len(plan) == 0 {
		return nil, nil, false
	}
	bound, ok := plan.bound(k)
	if !ok {
		return plan, nil, false
	}
	return plan, marked(bound), true
}

// mark sets st[i] to v for each UID of set (ascending) at uids[i].
func mark(st []textState, uids, set []uint32, v textState) {
	j := 0
	for i, u := range uids {
		for j < len(set) && set[j] < u {
			j++
		}
		if j < len(set) && set[j] == u {
			st[i] = v
		}
	}
}

// textField returns the text a key searches, if the index keeps it.
func textField(k *imap.SearchKey) (store.TextField, bool) {
	switch k.Op {
	case imap.SearchBody:
		return store.TextBody, true
	case imap.SearchText:
		return store.TextAll, true
	case imap.SearchHeader:
		return store.TextSubject, strings.EqualFold(k.Field, "Subject")
	}
	return 0, false
}

// bound returns, by message index, a superset of the messages satisfying
// k when the answers bound it: an answered text key, an AND with one such
// child, an OR of two. NOT and the other keys cannot be bounded.
func (p textPlan) bound(k *imap.SearchKey) ([]bool, bool) {
	switch k.Op {
	case imap.SearchBody, imap.SearchText, imap.SearchHeader:
		st, ok := p[k]
		if !ok {
			return nil, false
		}
		out := make([]bool, len(st))
		for i, s := range st {
			out[i] = s != textNo
		}
		return out, true
	case imap.SearchAnd:
		// Each bounded child bounds the AND: the smallest is kept.
		var out []bool
		n := -1
		for i := range k.Children {
			if c, ok := p.bound(&k.Children[i]); ok {
				if m := count(c); n < 0 || m < n {
					out, n = c, m
				}
			}
		}
		return out, n >= 0
	case imap.SearchOr:
		if len(k.Children) != 2 {
			return nil, false
		}
		a, ok := p.bound(&k.Children[0])
		if !ok {
			return nil, false
		}
		b, ok := p.bound(&k.Children[1])
		if !ok {
			return nil, false
		}
		for i := range a {
			a[i] = a[i] || b[i]
		}
		return a, true
	}
	return nil, false
}

// marked returns the positions of in that are true, in a list sized by
// count first: for a common word or UNDELETED that is most of the folder,
// and appends would allocate it about five times over.
func marked(in []bool) []int {
	n := count(in)
	if n == 0 {
		return nil
	}
	out := make([]int, 0, n)
	for i, b := range in {
		if b {
			out = append(out, i)
		}
	}
	return out
}

func count(in []bool) int {
	n := 0
	for _, b := range in {
		if b {
			n++
		}
	}
	return n
}

// answered wraps the matcher of text key k with the index's answer: a
// message the index is sure of, either way, is not read.
func (p textPlan) answered(k *imap.SearchKey, match matchFunc) matchFunc {
	st, ok := p[k]
	if !ok {
		return match
	}
	return func(m *searchMsg) bool {
		switch st[m.i] {
		case textSure:
			return true
		case textNo:
			return false
		}
		return match(m)
	}
}

// msgAt returns the index of the j-th message to test: only[j], or j
// when every message is tested (only nil).
func msgAt(only []int, j int) int {
	if only == nil {
		return j
	}
	return only[j]
}
