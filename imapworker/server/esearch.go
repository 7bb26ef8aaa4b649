package server

import (
	"strconv"

	"imapd/imapworker/imap"
)

// retOpts are the RETURN options of SEARCH or SORT (RFC 4731 §3.1,
// RFC 5267 §3.1, RFC 9394 §3.1).
type retOpts struct {
	given                      bool // a RETURN clause, even empty: ESEARCH
	min, max, count, all, save bool
	update                     bool // RFC 5267 §4.3; CONTEXT (§4.2), a hint, is accepted and ignored
	partial                    *imap.PartialRange
}

// parseReturn checks the RETURN options; RETURN () means ALL (RFC 9051
// §6.4.4, RFC 5267 §3.3).
func parseReturn(args *imap.Search) (retOpts, error) {
	r := retOpts{given: args.ReturnGiven, partial: args.Partial}
	for _, o := range args.Return {
		switch o {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "COUNT":
			r.count = true
		case "ALL":
			r.all = true
		case "SAVE":
			r.save = true
		case "UPDATE":
			r.update = true
		case "CONTEXT":
		default:
			return r, badf("unknown RETURN option " + o)
		}
	}
	// RFC 9394 §3.1: PARTIAL and ALL exclude each other.
	if r.all && r.partial != nil {
		return r, badf("RETURN with both ALL and PARTIAL")
	}
	if len(args.Return) == 0 && r.partial == nil && r.given {
		r.all = true
	}
	return r, nil
}

// checkCharset accepts the charsets every server must (RFC 9051 §6.4.4,
// RFC 5256 §3); "" only where the charset is optional (SEARCH).
func checkCharset(cs string, optional bool) error {
	switch cs {
	case "UTF-8", "US-ASCII":
		return nil
	case "":
		if optional {
			return nil
		}
	}
	return no("BADCHARSET (UTF-8 US-ASCII)", "unsupported charset")
}

// number is the message number or, for a UID command, the UID of the
// message at index i.
func (c *conn) number(cmd *imap.Command, i int) uint32 {
	if cmd.UID {
		return c.mbox.msgs[i].UID
	}
	return uint32(i + 1)
}

// writeNumbers writes a "* SEARCH" or "* SORT" response: the numbers of
// the messages at hits, in order.
func (c *conn) writeNumbers(cmd *imap.Command, head string, hits []int, modseq uint64) {
	b := append(c.out[:0], head...)
	for _, i := range hits {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(c.number(cmd, i)), 10)
	}
	if modseq > 0 { // RFC 7162 §3.1.6: SEARCH and SORT with a MODSEQ key
		b = append(b, " (MODSEQ "...)
		b = strconv.AppendUint(b, modseq, 10)
		b = append(b, ')')
	}
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
}

// window returns the part of hits a PARTIAL range names (RFC 9394 §3.1):
// counted from 1 at the start, or from -1 at the end.
func window(hits []int, r *imap.PartialRange) []int {
	n := len(hits)
	lo, hi := int(r.First)-1, int(r.Last) // [lo, hi) from the start
	if r.FromEnd {
		lo, hi = n-int(r.Last), n-int(r.First)+1
	}
	lo, hi = max(lo, 0), min(hi, n)
	if lo >= hi {
		return nil
	}
	return hits[lo:hi]
}

// save keeps the result for "$" (RFC 5182 §2.1, RFC 9394 §3.2): with
// MIN or MAX only those, with PARTIAL (and no COUNT) the window and them.
func (s *selected) save(r retOpts, hits []int) {
	if !r.save {
		return
	}
	var keep []int
	switch {
	case len(hits) == 0 || r.count || (!r.min && !r.max && r.partial == nil):
		keep = hits
	default:
		if r.partial != nil {
			keep = append(keep, window(hits, r.partial)...)
		}
		if r.min {
			keep = append(keep, hits[0])
		}
		if r.max && (!r.min || len(hits) > 1) {
			keep = append(keep, hits[len(hits)-1])
		}
	}
	saved := make([]uint32, len(keep))
	for k, i := range keep {
		saved[k] = s.msgs[i].UID
	}
	s.saved = saved
	s.hasSaved = true
}

// writeESearch answers with an ESEARCH response (RFC 4731 §3.1). hits are
// indexes in c.mbox.msgs in result order: ascending for SEARCH, sorted
// for SORT, where MIN and MAX are the first and last of that order and
// ALL is a sequence-set in it (RFC 5267 §3.1, §3.2).
func (c *conn) writeESearch(cmd *imap.Command, r retOpts, hits []int, modseq uint64) {
	c.mbox.save(r, hits)
	if r.save && !r.min && !r.max && !r.count && !r.all && r.partial == nil {
		return // RFC 5182 §2.1: SAVE alone gives no ESEARCH
	}
	b := append(c.out[:0], `* ESEARCH (TAG `...)
	b = imap.AppendQuoted(b, cmd.Tag)
	b = append(b, ')')
	if cmd.UID {
		b = append(b, " UID"...)
	}
	if r.min && len(hits) > 0 {
		b = append(b, " MIN "...)
		b = strconv.AppendUint(b, uint64(c.number(cmd, hits[0])), 10)
	}
	if r.max && len(hits) > 0 {
		b = append(b, " MAX "...)
		b = strconv.AppendUint(b, uint64(c.number(cmd, hits[len(hits)-1])), 10)
	}
	if r.count {
		b = append(b, " COUNT "...)
		b = strconv.AppendInt(b, int64(len(hits)), 10)
	}
	appendSet := func(b []byte, hits []int) []byte {
		nums := make([]uint32, len(hits))
		for k, i := range hits {
			nums[k] = c.number(cmd, i)
		}
		return imap.AppendNumSet(b, nums)
	}
	if r.all && len(hits) > 0 {
		b = append(b, " ALL "...)
		b = appendSet(b, hits)
	}
	if p := r.partial; p != nil {
		b = append(b, " PARTIAL ("...)
		if p.FromEnd {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(p.First), 10)
		b = append(b, ':')
		if p.FromEnd {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(p.Last), 10)
		if w := window(hits, p); len(w) > 0 {
			b = append(b, ' ')
			b = appendSet(b, w)
		} else {
			b = append(b, " NIL"...)
		}
		b = append(b, ')')
	}
	if modseq > 0 { // RFC 7162 §3.1.10, RFC 4731 §3.2
		b = append(b, " MODSEQ "...)
		b = strconv.AppendUint(b, modseq, 10)
	}
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
}
