package server

import (
	"slices"
	"strconv"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// RFC 7162 §3.1 CONDSTORE: the session side. The store gives every
// message a mod-sequence (store.MessageInfo.ModSeq) and each handle its
// HIGHESTMODSEQ; a session that has not issued a CONDSTORE enabling
// command sees exactly what it saw before the extension.

// enableCondStore records a CONDSTORE enabling command (RFC 7162 §3.1):
// the first one with a mailbox selected sends its HIGHESTMODSEQ.
func (c *conn) enableCondStore() {
	if c.condstore {
		return
	}
	c.condstore = true
	if s := c.mbox; s != nil && !s.nomodseq {
		c.writeHighestModSeq(s.safeHMS)
	}
}

func (c *conn) writeHighestModSeq(n uint64) {
	b := append(c.out[:0], "* OK [HIGHESTMODSEQ "...)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, "] Highest\r\n"...)
	c.write(b)
	c.out = b
}

// needModSeq refuses MODSEQ, CHANGEDSINCE and UNCHANGEDSINCE on a mailbox
// selected with NOMODSEQ (RFC 7162 §3.1.2.2: tagged BAD).
func (c *conn) needModSeq() error {
	if c.mbox.nomodseq {
		return &respError{bad: true, code: "CLIENTBUG", msg: "this mailbox keeps no mod-sequences (NOMODSEQ)"}
	}
	return nil
}

// selectModSeq sends [HIGHESTMODSEQ] or [NOMODSEQ] at SELECT/EXAMINE once
// CONDSTORE is enabled (RFC 7162 §3.1.2).
func (c *conn) selectModSeq() {
	s := c.mbox
	if !c.condstore {
		return
	}
	if s.nomodseq {
		c.writeString("* OK [NOMODSEQ] No mod-sequences in this mailbox\r\n")
		return
	}
	c.writeHighestModSeq(s.safeHMS)
}

// appendModSeq appends " MODSEQ (n)" to a FETCH response (RFC 7162
// §3.1.4.2).
func appendModSeq(b []byte, n uint64) []byte {
	b = append(b, "MODSEQ ("...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, ')')
}

// cmdStoreUnchangedSince is STORE with UNCHANGEDSINCE (RFC 7162 §3.1.3):
// the messages changed since are left alone and named in [MODIFIED];
// the others get an untagged FETCH with their MODSEQ even with .SILENT.
func (c *conn) cmdStoreUnchangedSince(cmd *imap.Command, args *imap.Store, uids []uint32, live []int, expunged bool, op store.StoreOp, flags store.Flags) error {
	if err := c.needModSeq(); err != nil {
		return err
	}
	c.enableCondStore()
	// RFC 7162 §3.1.3: a message named twice must not fail the second
	// time because the first changed it.
	order := slices.Clone(uids)
	slices.Sort(order)
	order = slices.Compact(order)
	var ups []store.FlagUpdate
	var modified []uint32
	if len(order) > 0 {
		var err error
		ups, modified, err = c.mbox.h.StoreUnchangedSince(order, op, flags, *args.UnchangedSince)
		if err != nil {
			return err
		}
	}
	if len(flags.Keywords) > 0 {
		c.addKeywords(flags.Keywords)
	}
	s := c.mbox
	if len(ups) > 0 {
		s.own()
	}
	for _, u := range ups {
		i := s.index(u.UID)
		if i < 0 {
			continue
		}
		s.msgs[i].Flags, s.msgs[i].ModSeq = u.Flags, u.ModSeq
		c.writeStoreFetch(cmd, i, !args.Silent)
	}
	code := ""
	if len(modified) > 0 {
		var nums []uint32
		for _, u := range modified {
			if cmd.UID {
				nums = append(nums, u)
			} else if i := s.index(u); i >= 0 {
				nums = append(nums, uint32(i+1))
			}
		}
		slices.Sort(nums)
		code = string(imap.AppendNumSet([]byte("MODIFIED "), nums))
	}
	// Messages gone from the store that the session has not heard of yet
	// are expunged too (RFC 7162 §3.1.3, Example 11).
	if expunged || len(ups)+len(modified) < len(order) {
		if code == "" {
			code = "EXPUNGEISSUED"
		}
		return no(code, "some messages were expunged")
	}
	if code != "" {
		c.ok(cmd, code, "Conditional STORE failed")
		return nil
	}
	c.ok(cmd, "", "STORE completed")
	return nil
}

// writeStoreFetch sends the untagged FETCH for message i after a STORE:
// UID for UID STORE and once QRESYNC is enabled (RFC 7162 §3.2.4),
// FLAGS unless withFlags is false (.SILENT), MODSEQ once CONDSTORE is.
func (c *conn) writeStoreFetch(cmd *imap.Command, i int, withFlags bool) {
	m := &c.mbox.msgs[i]
	b := append(c.out[:0], "* "...)
	b = strconv.AppendInt(b, int64(i+1), 10)
	b = append(b, " FETCH ("...)
	n := len(b)
	if cmd.UID || c.qresync {
		b = append(b, "UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	if withFlags {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, "FLAGS "...)
		b = c.appendFlags(b, m)
	}
	if c.condstore && !c.mbox.nomodseq {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = appendModSeq(b, m.ModSeq)
	}
	b = append(b, ")\r\n"...)
	c.write(b)
	c.out = b
}

// searchModSeqResult is the highest mod-sequence of the messages found
// by a SEARCH with a MODSEQ key (RFC 7162 §3.1.5, §3.1.6), 0 otherwise.
func (c *conn) searchModSeqResult(key *imap.SearchKey, hits []int) uint64 {
	if !anyKey(key, imap.SearchModSeq) {
		return 0
	}
	var hi uint64
	for _, i := range hits {
		hi = max(hi, c.mbox.msgs[i].ModSeq)
	}
	return hi
}

// fetchModifiers checks FETCH's MODSEQ item and its CHANGEDSINCE and
// VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6) before any message is read.
func (c *conn) fetchModifiers(cmd *imap.Command, args *imap.Fetch, plan *fetchPlan) error {
	if args.Vanished {
		switch {
		case !cmd.UID:
			return &respError{bad: true, code: "CLIENTBUG", msg: "VANISHED is for UID FETCH only"}
		case !c.qresync:
			return &respError{bad: true, code: "CLIENTBUG", msg: "VANISHED needs ENABLE QRESYNC first"}
		case args.ChangedSince == nil:
			return &respError{bad: true, code: "CLIENTBUG", msg: "VANISHED needs CHANGEDSINCE"}
		}
	}
	if plan.modseq || args.ChangedSince != nil {
		if err := c.needModSeq(); err != nil {
			return err
		}
		c.enableCondStore()
	}
	plan.autoModSeq = args.ChangedSince != nil
	plan.modseqWithFlags = c.condstore && !c.mbox.nomodseq
	return nil
}

// changedSince narrows a FETCH to the messages changed since CHANGEDSINCE
// (RFC 7162 §3.1.4.1), after VANISHED (EARLIER) for those of the UID set
// gone since (§3.2.6: before any FETCH response).
func (c *conn) changedSince(cmd *imap.Command, args *imap.Fetch, idx []int) ([]int, error) {
	if args.ChangedSince == nil {
		return idx, nil
	}
	since := *args.ChangedSince
	if args.Vanished {
		if err := c.writeVanishedEarlier(args.Seq, since, nil, nil); err != nil {
			return nil, err
		}
	}
	out := idx[:0]
	for _, i := range idx {
		if c.mbox.msgs[i].ModSeq > since {
			out = append(out, i)
		}
	}
	return out, nil
}

// compileModSeq is the MODSEQ search key (RFC 7162 §3.1.5): one
// mod-sequence per message, so the entry name and type are ignored.
func (c *conn) compileModSeq(k *imap.SearchKey) (matchFunc, error) {
	if err := c.needModSeq(); err != nil {
		return nil, err
	}
	c.enableCondStore()
	v := uint64(k.Size)
	return func(m *searchMsg) bool { return m.m.ModSeq >= v }, nil
}
