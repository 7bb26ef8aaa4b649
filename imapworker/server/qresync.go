package server

import (
	"slices"
	"strconv"

	"imapd/imapworker/imap"
)

// RFC 7162 §3.2 QRESYNC: the session side.

// selectOpts are the SELECT/EXAMINE parameters (RFC 4466 §2.1).
type selectOpts struct {
	condstore bool
	qresync   *imap.QResync
}

// parseSelectParams checks SELECT/EXAMINE parameters before the mailbox
// is opened (RFC 7162 §3.2.5: a bad one leaves the mailbox unselected).
func (c *conn) parseSelectParams(params []imap.Param) (selectOpts, error) {
	var o selectOpts
	for _, p := range params {
		switch p.Name {
		case "CONDSTORE": // RFC 7162 §3.1.8
			if p.Value != "" || o.condstore {
				return o, badf("CONDSTORE takes no value")
			}
			o.condstore = true
		case "QRESYNC": // RFC 7162 §3.2.5
			if !c.qresync {
				return o, &respError{bad: true, code: "CLIENTBUG", msg: "QRESYNC needs ENABLE QRESYNC first"}
			}
			if o.qresync != nil {
				return o, badf("QRESYNC given twice")
			}
			q, err := imap.ParseQResync(p.Value)
			if err != nil {
				return o, err
			}
			o.qresync = q
		default:
			return o, badf("unknown SELECT parameter " + p.Name)
		}
	}
	return o, nil
}

// qresyncSelect sends what changed since the client's state (RFC 7162
// §3.2.5.1): VANISHED (EARLIER) for what is gone, then a FETCH for each
// message changed since, as UID FETCH known-uids (FLAGS) (CHANGEDSINCE m
// VANISHED) would; nothing when UIDVALIDITY differs or the mailbox keeps
// no mod-sequences.
func (c *conn) qresyncSelect(q *imap.QResync) error {
	s := c.mbox
	if s.nomodseq || q.UIDValidity != s.h.UIDValidity() {
		return nil
	}
	known := imap.SeqSet{Ranges: []imap.SeqRange{{Start: 1, Stop: max(s.h.UIDNext(), 2) - 1}}}
	if q.KnownUIDs != nil {
		known = *q.KnownUIDs
	}
	if err := c.writeVanishedEarlier(known, q.ModSeq, q.SeqMatch, q.UIDMatch); err != nil {
		return err
	}
	c.writeChangedSince(known, q.ModSeq)
	return nil
}

// writeVanishedEarlier sends VANISHED (EARLIER) for the UIDs of known
// expunged with a mod-sequence above since (RFC 7162 §3.2.6). When the
// store's history does not reach back that far, every UID of known that
// does not exist is sent, less those below the last message-number/UID
// pair of seq-match-data that still holds (§3.2.5.2).
func (c *conn) writeVanishedEarlier(known imap.SeqSet, since uint64, seqMatch, uidMatch []uint32) error {
	s := c.mbox
	gone, complete, err := s.h.Vanished(since)
	if err != nil {
		return err
	}
	top := max(s.h.UIDNext(), 1) - 1
	ranges := known.Resolve(top)
	var floor uint32 // UIDs at or below it are known to the client
	for k := range seqMatch {
		n, u := seqMatch[k], uidMatch[k]
		if n == 0 || int(n) > len(s.msgs) || s.msgs[n-1].UID != u {
			break
		}
		floor = u
	}
	var out []imap.SeqRange
	add := func(u uint32) {
		if n := len(out); n > 0 && out[n-1].Stop+1 == u {
			out[n-1].Stop = u
			return
		}
		out = append(out, imap.SeqRange{Start: u, Stop: u})
	}
	if complete {
		for _, u := range gone {
			if u > floor && u <= top && inRanges(ranges, u) && s.index(u) < 0 && !s.ghosts[u] {
				add(u)
			}
		}
	} else {
		// Every UID of known that is not here: the complement of the
		// messages within each range, as ranges.
		j := 0
		for _, r := range ranges {
			lo, hi := max(r.Start, floor+1), min(r.Stop, top)
			if lo > hi {
				continue
			}
			for j < len(s.msgs) && s.msgs[j].UID < lo {
				j++
			}
			next := lo
			for ; j < len(s.msgs) && s.msgs[j].UID <= hi; j++ {
				if u := s.msgs[j].UID; u > next {
					out = append(out, imap.SeqRange{Start: next, Stop: u - 1})
				}
				next = s.msgs[j].UID + 1
			}
			if next <= hi {
				out = append(out, imap.SeqRange{Start: next, Stop: hi})
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	b := append(c.out[:0], "* VANISHED (EARLIER) "...)
	b = imap.AppendRanges(b, out)
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b[:0]
	return nil
}

// writeChangedSince sends "* n FETCH (UID u FLAGS (...) MODSEQ (m))" for
// each message of known changed since (RFC 7162 §3.2.5.1).
func (c *conn) writeChangedSince(known imap.SeqSet, since uint64) {
	s := c.mbox
	ranges := known.Resolve(s.maxUID())
	b := c.out[:0]
	for i := range s.msgs {
		m := &s.msgs[i]
		if m.ModSeq <= since || s.ghosts[m.UID] || !inRanges(ranges, m.UID) {
			continue
		}
		b = append(b, "* "...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, " FETCH (UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
		b = append(b, " FLAGS "...)
		b = c.appendFlags(b, m)
		b = append(b, ' ')
		b = appendModSeq(b, m.ModSeq)
		b = append(b, ")\r\n"...)
		if len(b) > 32<<10 {
			c.write(b)
			b = b[:0]
		}
	}
	c.write(b)
	c.out = b[:0]
}

// writeVanished reports expunges as VANISHED once QRESYNC is enabled
// (RFC 7162 §3.2.10.2), the UIDs ascending.
func (c *conn) writeVanished(uids map[uint32]bool) {
	s := c.mbox
	var list []uint32
	for i := range s.msgs {
		if uids[s.msgs[i].UID] {
			list = append(list, s.msgs[i].UID)
		}
	}
	if len(list) == 0 {
		return
	}
	b := append(c.out[:0], "* VANISHED "...)
	b = imap.AppendNumSet(b, list)
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b[:0]
}

// inRanges reports whether u is in rs, resolved ranges (imap.SeqSet.Resolve).
func inRanges(rs []imap.SeqRange, u uint32) bool {
	_, ok := slices.BinarySearchFunc(rs, u, func(r imap.SeqRange, u uint32) int {
		switch {
		case r.Stop < u:
			return -1
		case r.Start > u:
			return 1
		}
		return 0
	})
	return ok
}
