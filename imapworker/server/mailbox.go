package server

import (
	"slices"
	"strconv"
	"strings"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// RFC 9051 §6.3.2 SELECT, §6.3.3 EXAMINE.
func (c *conn) cmdSelect(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Select)
	opts, err := c.parseSelectParams(args.Params)
	if err != nil {
		return err
	}
	name := c.mailboxName(args.Mailbox)
	if c.mbox != nil {
		// The previous mailbox is closed whether or not this one opens,
		// without expunging (RFC 9051 §6.3.2). Its store handle closes
		// once the new one is open: selecting the same mailbox again then
		// keeps the store's state of it (no index write, no new watch).
		old := c.mbox.h
		defer old.Close()
		c.mbox = nil
		if c.state == stateSelected {
			c.state = stateAuth
		}
		c.writeString("* OK [CLOSED] Previous mailbox closed\r\n")
	}
	h, err := c.user.Select(name, args.ReadOnly)
	if err != nil {
		return err
	}
	s := &selected{h: h, name: h.Name(), readOnly: h.ReadOnly(), recent: slices.Clone(h.Recent()), ghosts: map[uint32]bool{}}
	s.safeHMS = h.HighestModSeq()
	s.nomodseq = s.safeHMS == 0
	if opts.condstore {
		c.condstore = true // RFC 7162 §3.1.8
	}
	s.msgs, s.shared = h.Messages(), true
	s.keywords = h.Keywords()
	var firstUnseen int
	for i := range s.msgs {
		if firstUnseen == 0 && s.msgs[i].Flags.System&store.FlagSeen == 0 {
			firstUnseen = i + 1
		}
	}
	c.mbox = s
	c.state = stateSelected
	// README order: FLAGS, EXISTS, UIDVALIDITY first.
	c.writeFlagsOnly()
	b := append(c.out[:0], "* "...)
	b = strconv.AppendInt(b, int64(len(s.msgs)), 10)
	b = append(b, " EXISTS\r\n* OK [UIDVALIDITY "...)
	b = strconv.AppendUint(b, uint64(h.UIDValidity()), 10)
	b = append(b, "] UIDs valid\r\n* OK [UIDNEXT "...)
	b = strconv.AppendUint(b, uint64(h.UIDNext()), 10)
	b = append(b, "] Predicted next UID\r\n"...)
	c.write(b)
	c.out = b
	c.writePermanentFlags()
	b = c.out[:0]
	if !c.rev2 {
		b = append(b, "* "...)
		b = strconv.AppendInt(b, int64(len(s.recent)), 10)
		b = append(b, " RECENT\r\n"...)
		if firstUnseen > 0 {
			b = append(b, "* OK [UNSEEN "...)
			b = strconv.AppendInt(b, int64(firstUnseen), 10)
			b = append(b, "] First unseen\r\n"...)
		}
	}
	if c.rev2 {
		// RFC 9051 §6.3.2: a LIST response with the mailbox name.
		b = append(b, `* LIST () "/" `...)
		b = c.appendMailbox(b, s.name)
		b = append(b, "\r\n"...)
	}
	c.write(b)
	c.out = b
	c.selectModSeq()
	if opts.qresync != nil {
		if err := c.qresyncSelect(opts.qresync); err != nil {
			return err
		}
	}
	c.writeMailboxID()
	code := "READ-WRITE"
	if s.readOnly {
		code = "READ-ONLY"
	}
	c.tagged(cmd.Tag, "OK", code, cmd.Name+" completed")
	return nil
}

// RFC 9051 §6.3.4, RFC 6154 §3 (CREATE-SPECIAL-USE).
func (c *conn) cmdCreate(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Create)
	name := strings.TrimSuffix(c.mailboxName(args.Mailbox), "/") // a trailing delimiter only declares intent
	var special store.Attr
	for _, u := range args.SpecialUse {
		a := store.ParseAttr(u)
		if a&store.SpecialUse == 0 {
			return no("USEATTR", "unsupported special-use attribute")
		}
		special |= a
	}
	if store.IsInbox(name) {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	if err := c.user.Create(name, special); err != nil {
		return err
	}
	c.notifyOwn()
	c.ok(cmd, c.createdCode(name), "CREATE completed")
	return nil
}

// RFC 9051 §6.3.5.
func (c *conn) cmdDelete(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Delete)
	name := c.mailboxName(args.Mailbox)
	if c.mbox != nil && c.mbox.name == name {
		return no("INUSE", "mailbox is selected")
	}
	if err := c.user.Delete(name); err != nil {
		return err
	}
	c.notifyOwn()
	c.ok(cmd, "", "DELETE completed")
	return nil
}

// RFC 9051 §6.3.6.
func (c *conn) cmdRename(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Rename)
	from, to := c.mailboxName(args.From), c.mailboxName(args.To)
	if err := c.user.Rename(from, to); err != nil {
		return err
	}
	renames.add(c.user, from, to)
	c.notifyOwn()
	c.ok(cmd, "", "RENAME completed")
	return nil
}

// RFC 9051 §6.3.7.
func (c *conn) cmdSubscribe(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Subscribe)
	if err := c.user.Subscribe(c.mailboxName(args.Mailbox)); err != nil {
		return err
	}
	c.notifyOwn()
	c.ok(cmd, "", "SUBSCRIBE completed")
	return nil
}

// RFC 9051 §6.3.8.
func (c *conn) cmdUnsubscribe(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Unsubscribe)
	if err := c.user.Unsubscribe(c.mailboxName(args.Mailbox)); err != nil {
		return err
	}
	c.notifyOwn()
	c.ok(cmd, "", "UNSUBSCRIBE completed")
	return nil
}

// statusItems maps STATUS items to their writers (RFC 9051 §6.3.11,
// RFC 8438 SIZE, RFC 7889 APPENDLIMIT, RFC 3501 RECENT).
func (c *conn) appendStatus(b []byte, name string, st store.Status, items []string) []byte {
	b = append(b, "* STATUS "...)
	b = c.appendMailbox(b, name)
	b = append(b, " ("...)
	open := len(b)
	for _, it := range items {
		pre := len(b)
		if len(b) > open {
			b = append(b, ' ')
		}
		b = append(b, it...)
		b = append(b, ' ')
		switch it {
		case "MAILBOXID":
			var ok bool
			if b, ok = c.appendMailboxIDStatus(b, name); !ok {
				b = b[:pre]
			}
		case "MESSAGES":
			b = strconv.AppendUint(b, uint64(st.Messages), 10)
		case "UIDNEXT":
			b = strconv.AppendUint(b, uint64(st.UIDNext), 10)
		case "UIDVALIDITY":
			b = strconv.AppendUint(b, uint64(st.UIDValidity), 10)
		case "UNSEEN":
			b = strconv.AppendUint(b, uint64(st.Unseen), 10)
		case "DELETED":
			b = strconv.AppendUint(b, uint64(st.Deleted), 10)
		case "DELETED-STORAGE":
			// RFC 9208 §4.2: the sum of RFC822.SIZE, which it allows.
			b = strconv.AppendInt(b, st.DeletedSize, 10)
		case "SIZE":
			b = strconv.AppendInt(b, st.Size, 10)
		case "RECENT":
			b = strconv.AppendUint(b, uint64(st.Recent), 10)
		case "APPENDLIMIT":
			b = strconv.AppendInt(b, c.appendMax, 10)
		case "HIGHESTMODSEQ": // RFC 7162 §3.1.7
			b = strconv.AppendUint(b, st.HighestModSeq, 10)
		}
	}
	return append(b, ")\r\n"...)
}

func checkStatusItems(items []string) error {
	for _, it := range items {
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "APPENDLIMIT", "HIGHESTMODSEQ",
			"DELETED-STORAGE", "MAILBOXID":
		default:
			return badf("unknown STATUS item " + it)
		}
	}
	return nil
}

// RFC 9051 §6.3.11.
func (c *conn) cmdStatus(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Status)
	if err := checkStatusItems(args.Items); err != nil {
		return err
	}
	if slices.Contains(args.Items, "HIGHESTMODSEQ") {
		c.enableCondStore() // RFC 7162 §3.1
	}
	name := c.mailboxName(args.Mailbox)
	st, err := c.user.Status(name)
	if err != nil {
		return err
	}
	b := c.appendStatus(c.out[:0], store.CanonicalName(name), st, args.Items)
	c.write(b)
	c.out = b
	c.ok(cmd, "", "STATUS completed")
	return nil
}

// parseFlags turns flag atoms into store flags; \Recent and unknown system
// flags are refused (RFC 9051 §2.3.2).
func parseFlags(list []string) (store.Flags, error) {
	var f store.Flags
	for _, s := range list {
		if strings.HasPrefix(s, `\`) {
			fl := store.ParseFlag(s)
			if fl == 0 {
				if strings.EqualFold(s, `\Recent`) {
					return f, badf(`\Recent cannot be set`)
				}
				return f, badf("unknown system flag " + s)
			}
			f.System |= fl
			continue
		}
		f.Keywords = append(f.Keywords, s)
	}
	f.Normalize()
	return f, nil
}

// RFC 9051 §6.3.12, RFC 4315 APPENDUID, RFC 3516 literal8, RFC 7889,
// RFC 3502 MULTIAPPEND (all or none, one APPENDUID with the UID set).
func (c *conn) cmdAppend(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Append)
	msgs := args.Messages()
	nms := make([]store.NewMessage, len(msgs))
	for i, m := range msgs {
		var err error
		if nms[i], err = c.newMessage(m); err != nil {
			return err
		}
	}
	name := c.mailboxName(args.Mailbox)
	if more, moreNms := c.pipelinedAppends(args.Mailbox, nms); len(more) > 0 {
		if c.appendBatch(name, append([]*imap.Command{cmd}, more...), append([][]store.NewMessage{nms}, moreNms...)) {
			return nil
		}
		// Answered one by one, so that each gets its own error.
		q := make([]readResult, 0, len(more)+len(c.queue))
		for _, m := range more {
			q = append(q, readResult{cmd: m})
		}
		c.queue = append(q, c.queue...)
	}
	var size int64
	for _, m := range nms {
		size += int64(len(m.Body))
	}
	var uv uint32
	var uids []uint32
	err := c.withQuota(size, int64(len(nms)), 0, 0, func() (err error) {
		if len(nms) == 1 {
			var uid uint32
			uv, uid, err = c.user.Append(name, nms[0].Flags, nms[0].Date, nms[0].Body)
			uids = []uint32{uid}
		} else {
			uv, uids, err = c.user.AppendMany(name, nms)
		}
		return err
	})
	if err != nil {
		return tryCreate(err)
	}
	c.notifyOwnStatus(name)
	c.ok(cmd, appendUID(uv, uids), "APPEND completed")
	return nil
}

// Limits of an APPEND batch (appendBatch): what is held in memory at once.
const (
	appendBatchCmds  = 32
	appendBatchBytes = 8 << 20
)

// pipelinedAppends reads the APPENDs of one plain message each to the
// same mailbox that the client pipelined behind the current one and that
// are already buffered whole; the first other command read is queued.
func (c *conn) pipelinedAppends(mailbox string, nms []store.NewMessage) (more []*imap.Command, moreNms [][]store.NewMessage) {
	var size int64
	for _, m := range nms {
		size += int64(len(m.Body))
	}
	for len(c.queue) == 0 && len(more) < appendBatchCmds && size < appendBatchBytes && c.pipelined() {
		c.litTotal = 0
		var res readResult
		res.cmd, res.err = c.r.ReadCommand()
		a, ok := (*imap.Append)(nil), false
		if res.err == nil && res.cmd.Name == "APPEND" && !res.cmd.UID {
			a, ok = res.cmd.Args.(*imap.Append)
		}
		var nm store.NewMessage
		if ok && a.Mailbox == mailbox && a.Catenate == nil && len(a.More) == 0 {
			var err error
			nm, err = c.newMessage(a.Messages()[0])
			ok = err == nil // answered when run alone
		} else {
			ok = false
		}
		if !ok {
			c.queue = append(c.queue, res)
			break
		}
		more = append(more, res.cmd)
		moreNms = append(moreNms, []store.NewMessage{nm})
		size += int64(len(nm.Body))
	}
	return more, moreNms
}

// appendBatch stores the messages of pipelined APPENDs to one mailbox
// with one AppendMany: one lock, one uidlist write and one fsync of cur/
// for all (docs/design.md#what-is-fsynced), every message on disk before
// the first tagged OK. False, with nothing stored or answered, if the
// batch failed: its commands are then run one by one.
func (c *conn) appendBatch(name string, cmds []*imap.Command, groups [][]store.NewMessage) bool {
	var all []store.NewMessage
	var size int64
	for _, g := range groups {
		for _, m := range g {
			all = append(all, m)
			size += int64(len(m.Body))
		}
	}
	var uv uint32
	var uids []uint32
	err := c.withQuota(size, int64(len(all)), 0, 0, func() (err error) {
		uv, uids, err = c.user.AppendMany(name, all)
		return err
	})
	if err != nil {
		return false
	}
	c.notifyOwnStatus(name)
	for i, cmd := range cmds {
		n := len(groups[i])
		c.ok(cmd, appendUID(uv, uids[:n]), "APPEND completed")
		uids = uids[n:]
		c.validSeen, c.bad = true, 0 // as exec does for each command
	}
	return true
}
