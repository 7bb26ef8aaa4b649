package server

import (
	"errors"
	"strconv"
	"sync"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// Quota is a user's limits (RFC 9208 §5): Storage in octets (reported in
// units of 1024), Messages a count; zero is no limit. The user's whole
// account is one quota root, "".
type Quota struct {
	Storage  int64
	Messages int64
}

func (q Quota) any() bool { return q.Storage > 0 || q.Messages > 0 }

// usage is what the account holds: the sum of RFC822.SIZE and the number
// of messages over every mailbox, asked of the store each time, so that
// what an MDA delivered or another program removed is counted at once
// (docs/conformance.md, QUOTA).
func (c *conn) usage() (size, msgs int64, err error) {
	boxes, err := c.user.List()
	if err != nil {
		return 0, 0, err
	}
	for _, m := range boxes {
		if m.Attrs&store.AttrNoSelect != 0 {
			continue
		}
		st, err := c.user.Status(m.Name)
		if errors.Is(err, store.ErrNoSuchMailbox) {
			continue // deleted meanwhile
		}
		if err != nil {
			return 0, 0, err
		}
		size += st.Size
		msgs += int64(st.Messages)
	}
	return size, msgs, nil
}

// quotaLocks serialises, per user, the check and the write of what adds
// to the account, so that two sessions cannot both pass the check with
// room for one.
var quotaLocks sync.Map // store.User -> *sync.Mutex

// withQuota runs add (APPEND, COPY, REPLACE) if the account has room for
// size more octets and n more messages, else answers NO [OVERQUOTA] and
// stores nothing (RFC 9208 §4.3). freed is what the command removes as it
// adds (RFC 8508 §3.4: REPLACE counts only the net use).
func (c *conn) withQuota(size, n, freedSize, freedN int64, add func() error) error {
	q := c.scfg.Quota
	if !q.any() {
		return add()
	}
	mu, _ := quotaLocks.LoadOrStore(c.user, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	used, count, err := c.usage()
	if err != nil {
		return err
	}
	if q.Storage > 0 && size > freedSize && used+size-freedSize > q.Storage ||
		q.Messages > 0 && n > freedN && count+n-freedN > q.Messages {
		return no("OVERQUOTA", "quota exceeded")
	}
	return add()
}

// appendQuota writes the QUOTA response of the root "" (RFC 9208 §4.1.1):
// the resources that have a limit.
func (c *conn) appendQuota(b []byte) ([]byte, error) {
	q := c.scfg.Quota
	used, count, err := c.usage()
	if err != nil {
		return b, err
	}
	b = append(b, `* QUOTA "" (`...)
	if q.Storage > 0 {
		b = append(b, "STORAGE "...)
		b = strconv.AppendInt(b, (used+1023)/1024, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, q.Storage/1024, 10)
	}
	if q.Messages > 0 {
		if q.Storage > 0 {
			b = append(b, ' ')
		}
		b = append(b, "MESSAGE "...)
		b = strconv.AppendInt(b, count, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, q.Messages, 10)
	}
	return append(b, ")\r\n"...), nil
}

// RFC 9208 §4.1.1 GETQUOTA, §4.1.2 GETQUOTAROOT, §4.1.3 SETQUOTA (limits
// are the administrator's: QUOTASET is not advertised and SETQUOTA is
// refused).
func (c *conn) cmdQuota(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Quota)
	q := c.scfg.Quota
	switch cmd.Name {
	case "SETQUOTA":
		return no("NOPERM", "quota limits are set by the administrator")
	case "GETQUOTA":
		if args.Root != "" || !q.any() {
			return no("NONEXISTENT", "no such quota root")
		}
		b, err := c.appendQuota(c.out[:0])
		if err != nil {
			return err
		}
		c.write(b)
		c.out = b
		c.ok(cmd, "", "GETQUOTA completed")
		return nil
	}
	// The mailbox need not exist (RFC 9208 §4.1.2): every name is under
	// the one root.
	b := append(c.out[:0], "* QUOTAROOT "...)
	b = c.appendMailbox(b, c.mailboxName(args.Root))
	if q.any() {
		b = append(b, ` ""`...)
	}
	b = append(b, "\r\n"...)
	if q.any() {
		var err error
		if b, err = c.appendQuota(b); err != nil {
			return err
		}
	}
	c.write(b)
	c.out = b
	c.ok(cmd, "", "GETQUOTAROOT completed")
	return nil
}
