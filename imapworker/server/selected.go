package server

import (
	"strconv"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// RFC 3501 §6.4.1: CHECK is a NOOP here; the stores write through.
func (c *conn) cmdCheck(cmd *imap.Command) error {
	c.ok(cmd, "", "CHECK completed")
	return nil
}

// RFC 9051 §6.4.1: CLOSE expunges silently unless read-only.
func (c *conn) cmdClose(cmd *imap.Command) error {
	if !c.mbox.readOnly {
		if _, err := c.mbox.h.Expunge(nil); err != nil {
			c.log.Warn("CLOSE: expunge failed", "err", err)
		}
	}
	c.unselect()
	c.tagged(cmd.Tag, "OK", "", "CLOSE completed")
	return nil
}

// RFC 9051 §6.4.2, RFC 3691.
func (c *conn) cmdUnselect(cmd *imap.Command) error {
	c.unselect()
	c.tagged(cmd.Tag, "OK", "", "UNSELECT completed")
	return nil
}

// RFC 9051 §6.4.3 EXPUNGE, §6.4.9 / RFC 4315 §2.1 UID EXPUNGE.
func (c *conn) cmdExpunge(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Expunge)
	if c.mbox.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	var uids []uint32
	if cmd.UID {
		if args.Seq == nil {
			return badf("UID EXPUNGE needs a UID set")
		}
		idx, err := c.seqIndexes(*args.Seq, true)
		if err != nil {
			return err
		}
		uids = c.uidsOf(idx)
		if len(uids) == 0 {
			c.ok(cmd, "", "UID EXPUNGE completed")
			return nil
		}
	}
	gone, err := c.mbox.h.Expunge(uids)
	if err != nil {
		return err
	}
	// Others' expunges first, then ours, all with current numbers.
	c.updates(true)
	set := make(map[uint32]bool, len(gone))
	for _, u := range gone {
		set[u] = true
	}
	c.sendExpunges(set)
	code := ""
	if c.qresync && !c.mbox.nomodseq && len(gone) > 0 {
		// RFC 7162 §3.2.7, §3.2.9
		code = "HIGHESTMODSEQ " + strconv.FormatUint(c.mbox.h.HighestModSeq(), 10)
	}
	c.ok(cmd, code, "EXPUNGE completed")
	return nil
}

// RFC 9051 §6.4.6 STORE, also UID STORE.
func (c *conn) cmdStore(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Store)
	if c.mbox.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	flags, err := parseFlags(args.Flags)
	if err != nil {
		return err
	}
	idx, err := c.seqIndexes(args.Seq, cmd.UID)
	if err != nil {
		return err
	}
	var uids []uint32
	var live []int
	for _, i := range idx {
		if !c.mbox.ghosts[c.mbox.msgs[i].UID] {
			uids = append(uids, c.mbox.msgs[i].UID)
			live = append(live, i)
		}
	}
	op := store.StoreReplace
	switch args.Mode {
	case imap.StoreAdd:
		op = store.StoreAdd
	case imap.StoreRemove:
		op = store.StoreRemove
	}
	if args.UnchangedSince != nil {
		return c.cmdStoreUnchangedSince(cmd, args, uids, live, len(live) < len(idx), op, flags)
	}
	var ups []store.FlagUpdate
	if len(uids) > 0 {
		ups, err = c.mbox.h.Store(uids, op, flags)
		if err != nil {
			return err
		}
	}
	if len(flags.Keywords) > 0 {
		c.addKeywords(flags.Keywords)
	}
	if len(ups) < len(uids) {
		// Some were expunged by another session this one has not heard
		// of: learn it (no EXPUNGE during STORE, RFC 9051 §7.4.1) and
		// report their last flags (RFC 2180 §4.1).
		c.updates(false)
	}
	if len(ups) > 0 {
		c.mbox.own()
	}
	gone := false
	k := 0
	for _, i := range idx {
		m := &c.mbox.msgs[i]
		if k < len(ups) && ups[k].UID == m.UID { // ups is a subsequence of uids
			m.Flags, m.ModSeq = ups[k].Flags, ups[k].ModSeq
			k++
			// RFC 7162 §3.1.3: CONDSTORE-aware clients learn the new
			// MODSEQ even of a .SILENT STORE.
			if !args.Silent || (c.condstore && !c.mbox.nomodseq) {
				c.writeStoreFetch(cmd, i, !args.Silent)
			}
			continue
		}
		gone = true
		if !args.Silent {
			c.writeStoreFetch(cmd, i, true)
		}
	}
	c.ctxChanged(store.Changes{Flags: ups})
	if gone {
		c.ok(cmd, "EXPUNGEISSUED", "some messages were expunged")
		return nil
	}
	c.ok(cmd, "", "STORE completed")
	return nil
}

// addKeywords announces new keywords in FLAGS/PERMANENTFLAGS.
func (c *conn) addKeywords(kws []string) {
	s := c.mbox
	added := false
	for _, k := range kws {
		f := store.Flags{Keywords: s.keywords}
		if !f.HasKeyword(k) {
			s.keywords = append(append([]string(nil), s.keywords...), k)
			added = true
		}
	}
	if added {
		c.writeFlags()
	}
}

func appendCopyUID(res store.CopyResult) string {
	b := []byte("COPYUID ")
	b = strconv.AppendUint(b, uint64(res.UIDValidity), 10)
	b = append(b, ' ')
	b = imap.AppendNumSet(b, res.Src)
	b = append(b, ' ')
	b = imap.AppendNumSet(b, res.Dst)
	return string(b)
}

// copyTargets resolves what COPY or MOVE work on. With nothing to copy it
// answers the command itself, once the destination is known to exist (so
// TRYCREATE still comes back), and returns no UIDs.
func (c *conn) copyTargets(cmd *imap.Command, seq imap.SeqSet, mailbox string) ([]uint32, string, error) {
	idx, err := c.seqIndexes(seq, cmd.UID)
	if err != nil {
		return nil, "", err
	}
	uids := c.uidsOf(idx)
	dest := c.mailboxName(mailbox)
	if len(uids) == 0 {
		if _, err := c.user.Status(dest); err != nil {
			return nil, "", tryCreate(err)
		}
		c.ok(cmd, "", cmd.Name+" completed (nothing to do)")
	}
	return uids, dest, nil
}

// RFC 9051 §6.4.7 COPY, RFC 4315 COPYUID.
func (c *conn) cmdCopy(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Copy)
	uids, dest, err := c.copyTargets(cmd, args.Seq, args.Mailbox)
	if err != nil || len(uids) == 0 {
		return err
	}
	var size int64
	for _, u := range uids {
		if i := c.mbox.index(u); i >= 0 {
			size += c.mbox.msgs[i].Size
		}
	}
	var res store.CopyResult
	err = c.withQuota(size, int64(len(uids)), 0, 0, func() (err error) {
		res, err = c.mbox.h.Copy(uids, dest)
		return err
	})
	if err != nil {
		return tryCreate(err)
	}
	c.notifyOwnStatus(dest)
	if len(res.Src) < len(uids) {
		return no("EXPUNGEISSUED", "some messages were expunged")
	}
	c.ok(cmd, appendCopyUID(res), "COPY completed")
	return nil
}

// RFC 9051 §6.4.8, RFC 6851: COPYUID goes in an untagged OK before the
// EXPUNGEs. MOVE within the account's one quota root adds nothing, so it
// is never refused for quota (RFC 9208).
func (c *conn) cmdMove(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Move)
	if c.mbox.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	uids, dest, err := c.copyTargets(cmd, args.Seq, args.Mailbox)
	if err != nil || len(uids) == 0 {
		return err
	}
	res, err := c.mbox.h.Move(uids, dest)
	if err != nil {
		return tryCreate(err)
	}
	c.notifyOwnStatus(dest)
	c.writeString("* OK [" + appendCopyUID(res) + "] Moved\r\n")
	// The moved messages' EXPUNGEs first: moved into this mailbox, their
	// copies' EXISTS comes after (RFC 6851 §4.3).
	set := make(map[uint32]bool, len(res.Src))
	for _, u := range res.Src {
		set[u] = true
	}
	c.sendExpunges(set)
	c.ok(cmd, "", "MOVE completed")
	return nil
}

// RFC 9051 §6.3.13, RFC 2177: IDLE. Updates are sent as they happen until
// DONE.
func (c *conn) cmdIdle(cmd *imap.Command) error {
	c.writeString("+ idling\r\n")
	if c.mbox != nil {
		c.updates(true)
	}
	c.flush()
	return c.idle(cmd, time.Now())
}

// idle is IDLE after its continuation, until DONE; since is when its
// autologout timer started. While the session may hibernate it waits in
// idleQuiet, reading nothing; once the client speaks (or it may not), it
// reads the DONE line.
func (c *conn) idle(cmd *imap.Command, since time.Time) error {
	var changed <-chan struct{}
	if c.mbox != nil {
		changed = c.mbox.h.Changed()
	}
	since, err := c.idleQuiet(cmd.Tag, changed, since)
	if err != nil {
		return err
	}
	c.logoutAt = since.Add(c.timeout)
	res, ch, err := c.read(readLine, c.idleWake(changed))
	for {
		if err != nil {
			return err
		}
		if !ch {
			break
		}
		if c.notify != nil {
			c.notifyCheck(true) // RFC 5465 §4: the same events as NOTIFY asked for
		} else {
			c.updates(true)
		}
		c.flush()
		res, ch, err = c.await(c.idleWake(changed))
	}
	if res.err != nil {
		return errLogout
	}
	if !imap.IsDone(res.line) {
		return badf("expected DONE")
	}
	c.ok(cmd, "", "IDLE terminated")
	return nil
}
