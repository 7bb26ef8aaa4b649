package server

import (
	"strconv"

	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// newMessage checks one message of APPEND or REPLACE: its flags, its size
// (RFC 7889) and its line ends (an ordinary literal is text with CRLF,
// RFC 9051 §4.3; a literal8 is kept byte for byte, RFC 3516 §4.4).
func (c *conn) newMessage(m imap.AppendMessage) (store.NewMessage, error) {
	flags, err := parseFlags(m.Flags)
	if err != nil {
		return store.NewMessage{}, err
	}
	if err := c.checkUTF8Append(m); err != nil {
		return store.NewMessage{}, err
	}
	if int64(len(m.Literal)) > c.appendMax {
		return store.NewMessage{}, no("TOOBIG", "message exceeds APPENDLIMIT")
	}
	body := m.Literal
	if m.Catenate != nil {
		if body, err = c.catenate(m.Catenate); err != nil { // catenate.go
			return store.NewMessage{}, err
		}
	} else if !m.Binary {
		body = mime.ToCRLF(body)
	}
	return store.NewMessage{Flags: flags, Date: m.Date, Body: body}, nil
}

func appendUID(uv uint32, uids []uint32) string {
	b := []byte("APPENDUID ")
	b = strconv.AppendUint(b, uint64(uv), 10)
	b = append(b, ' ')
	return string(imap.AppendNumSet(b, uids))
}

// RFC 8508: [UID] REPLACE appends the new message, then removes the old
// one from the selected mailbox, as one action for the client: no FETCH
// of the \Deleted it passes through, and no EXPUNGE unless both parts
// succeed.
func (c *conn) cmdReplace(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Replace)
	s := c.mbox
	if s.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	i := -1
	if cmd.UID {
		i = s.index(args.Num)
	} else if args.Num <= uint32(len(s.msgs)) {
		i = int(args.Num) - 1
	} else {
		return badf("invalid message sequence number")
	}
	if i < 0 {
		return no("NONEXISTENT", "no such message")
	}
	old := s.msgs[i]
	if s.ghosts[old.UID] {
		return no("EXPUNGEISSUED", "message has been expunged")
	}
	nm, err := c.newMessage(args.Message)
	if err != nil {
		return err
	}
	dest := c.mailboxName(args.Mailbox)
	var uv, uid uint32
	err = c.withQuota(int64(len(nm.Body)), 1, old.Size, 1, func() (err error) {
		uv, uid, err = c.user.Append(dest, nm.Flags, nm.Date, nm.Body)
		return err
	})
	if err != nil {
		return tryCreate(err)
	}
	c.writeString("* OK [" + appendUID(uv, []uint32{uid}) + "] Replacement Message ready\r\n")
	ups, err := s.h.Store([]uint32{old.UID}, store.StoreAdd, store.Flags{System: store.FlagDeleted})
	if err != nil {
		return err
	}
	if len(ups) == 0 {
		// Expunged meanwhile by another session: replaced all the same.
		c.ok(cmd, "", "REPLACE completed")
		return nil
	}
	gone, err := s.h.Expunge([]uint32{old.UID})
	if err != nil {
		// Leave the old message as it was.
		s.h.Store([]uint32{old.UID}, store.StoreReplace, old.Flags)
		return err
	}
	set := make(map[uint32]bool, len(gone))
	for _, u := range gone {
		set[u] = true
	}
	c.sendExpunges(set)
	c.ok(cmd, "", "REPLACE completed")
	return nil
}
