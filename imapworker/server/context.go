package server

import (
	"slices"
	"strconv"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// searchCtx is a SEARCH or SORT with RETURN (UPDATE) (RFC 5267 §4.3): its
// result, kept current as messages arrive, change flags and go, and
// told to the client as ADDTO and REMOVEFROM.
type searchCtx struct {
	tag   string
	uid   bool
	match matchFunc
	crit  []imap.SortCriterion // nil for SEARCH: mailbox order
	list  []uint32             // UIDs in the requested order
}

// maxContexts bounds the updating contexts of a session; more get
// [NOUPDATE] (RFC 5267 §4.3.1).
const maxContexts = 8

// startContext records an updating context for cmd's result hits (in the
// requested order), or says [NOUPDATE] where it cannot keep one: a
// program with message numbers or "$" names messages as they were when
// the command came (RFC 5267 §4.3), which later changes do not move.
func (c *conn) startContext(cmd *imap.Command, key *imap.SearchKey, crit []imap.SortCriterion, hits []int) error {
	s := c.mbox
	if len(s.contexts) >= maxContexts || anyKey(key, imap.SearchSeq) || hasSearchRes(key) {
		b := append(c.out[:0], "* NO [NOUPDATE "...)
		b = imap.AppendQuoted(b, cmd.Tag)
		b = append(b, "] no updates for this search\r\n"...)
		c.write(b)
		c.out = b
		return nil
	}
	match, err := c.compileKey(key, nil)
	if err != nil {
		return err
	}
	ctx := &searchCtx{tag: cmd.Tag, uid: cmd.UID, match: match, crit: crit, list: make([]uint32, len(hits))}
	for k, i := range hits {
		ctx.list[k] = s.msgs[i].UID
	}
	s.contexts = append(s.contexts, ctx)
	return nil
}

// hasSearchRes reports whether k uses "$" (RFC 5182).
func hasSearchRes(k *imap.SearchKey) bool {
	if (k.Op == imap.SearchSeq || k.Op == imap.SearchUID) && k.Seq.SearchRes {
		return true
	}
	for i := range k.Children {
		if hasSearchRes(&k.Children[i]) {
			return true
		}
	}
	return false
}

// contextTaken reports whether tag names an updating context: a new
// searching command with UPDATE may not reuse it (RFC 5267 §4.3).
func (s *selected) contextTaken(tag string) bool {
	return slices.ContainsFunc(s.contexts, func(x *searchCtx) bool { return x.tag == tag })
}

// RFC 5267 §4.3.5 CANCELUPDATE.
func (c *conn) cmdCancelUpdate(cmd *imap.Command) error {
	args := cmd.Args.(*imap.CancelUpdate)
	s := c.mbox
	for _, t := range args.Tags {
		if !s.contextTaken(t) {
			return badf("no updating search has tag " + strconv.Quote(t))
		}
	}
	s.contexts = slices.DeleteFunc(s.contexts, func(x *searchCtx) bool { return slices.Contains(args.Tags, x.tag) })
	c.ok(cmd, "", "no further updates")
	return nil
}

// ctxChanged brings every context up to date with the messages that
// arrived or changed flags in ch, once the EXISTS and FETCH responses
// for them are out (RFC 5267 §4.3.3): each message is matched again,
// alone; a sorted context places it by a binary search over its list.
func (c *conn) ctxChanged(ch store.Changes) {
	s := c.mbox
	if s == nil || len(s.contexts) == 0 || len(ch.New) == 0 && len(ch.Flags) == 0 {
		return
	}
	var idx []int
	for _, m := range ch.New {
		if i := s.index(m.UID); i >= 0 {
			idx = append(idx, i)
		}
	}
	for _, f := range ch.Flags {
		if i := s.index(f.UID); i >= 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	var buf msgBuf
	defer buf.done()
	sm := &searchMsg{c: c, buf: &buf}
	for _, ctx := range s.contexts {
		var add, remove []int
		for _, i := range idx {
			if s.ghosts[s.msgs[i].UID] {
				continue
			}
			sm.reset(i, &s.msgs[i])
			in := slices.Contains(ctx.list, s.msgs[i].UID)
			if now := ctx.match(sm); now != in {
				if now {
					add = append(add, i)
				} else {
					remove = append(remove, i)
				}
			}
		}
		c.ctxReport(ctx, remove, add)
	}
}

// ctxExpunging reports the context members among uids as removed, before
// their EXPUNGE responses, while their numbers are valid (RFC 5267 §4.3.4).
func (c *conn) ctxExpunging(uids map[uint32]bool) {
	s := c.mbox
	for _, ctx := range s.contexts {
		var remove []int
		for _, u := range ctx.list {
			if uids[u] {
				remove = append(remove, s.index(u))
			}
		}
		slices.Sort(remove)
		c.ctxReport(ctx, remove, nil)
	}
}

// ctxReport updates ctx's list and sends one ESEARCH with REMOVEFROM then
// ADDTO (remove and add are indexes, ascending). A SEARCH context gives
// position 0 and sets in mailbox order; a SORT context the position of
// each message in the requested order, as the client applies them in
// turn (RFC 5267 §4.3.2-§4.3.4).
func (c *conn) ctxReport(ctx *searchCtx, remove, add []int) {
	if len(remove) == 0 && len(add) == 0 {
		return
	}
	s := c.mbox
	num := func(i int) uint32 {
		if ctx.uid {
			return s.msgs[i].UID
		}
		return uint32(i + 1)
	}
	b := append(c.out[:0], "* ESEARCH (TAG "...)
	b = imap.AppendQuoted(b, ctx.tag)
	b = append(b, ')')
	if ctx.uid {
		b = append(b, " UID"...)
	}
	pairs := func(b []byte, what string, is []int, pos func(int) int) []byte {
		b = append(b, ' ')
		b = append(b, what...)
		b = append(b, " ("...)
		if ctx.crit == nil {
			nums := make([]uint32, len(is))
			for k, i := range is {
				nums[k] = num(i)
				pos(i)
			}
			b = append(b, "0 "...)
			b = imap.AppendNumSet(b, nums)
		} else {
			for k, i := range is {
				if k > 0 {
					b = append(b, ' ')
				}
				b = strconv.AppendInt(b, int64(pos(i)), 10)
				b = append(b, ' ')
				b = strconv.AppendUint(b, uint64(num(i)), 10)
			}
		}
		return append(b, ')')
	}
	if len(remove) > 0 {
		b = pairs(b, "REMOVEFROM", remove, func(i int) int {
			p := slices.Index(ctx.list, s.msgs[i].UID)
			ctx.list = slices.Delete(ctx.list, p, p+1)
			return p + 1
		})
	}
	if len(add) > 0 {
		b = pairs(b, "ADDTO", add, func(i int) int {
			p := c.ctxPlace(ctx, i)
			ctx.list = slices.Insert(ctx.list, p, s.msgs[i].UID)
			return p + 1
		})
	}
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
}

// ctxPlace is where the message at index i goes in ctx's list: by UID
// for SEARCH, by a binary search with the sort keys for SORT (a key that
// cannot be read sorts the message last).
func (c *conn) ctxPlace(ctx *searchCtx, i int) int {
	s := c.mbox
	uid := s.msgs[i].UID
	if ctx.crit == nil {
		p, _ := slices.BinarySearch(ctx.list, uid)
		return p
	}
	p, _ := slices.BinarySearchFunc(ctx.list, i, func(member uint32, i int) int {
		j := s.index(member)
		if j < 0 {
			return -1
		}
		pair := []int{j, i}
		if j > i {
			pair = []int{i, j}
		}
		k, err := c.keysFor(pair, ctx.crit)
		if err != nil {
			return -1
		}
		if pair[0] == j {
			return k.cmp(ctx.crit, 0, 1)
		}
		return k.cmp(ctx.crit, 1, 0)
	})
	return p
}
