package server

import (
	"sync"
	"time"

	"imapd/imapworker/imap"
)

// RFC 8474 OBJECTID and RFC 8514 SAVEDATE. THREADID is NIL, which §5.2
// allows: a THREADID may never change once reported, and THREAD=REFERENCES
// groups differ as messages arrive and go.

// createdCode is the tagged OK's code after CREATE (RFC 8474 §4.1).
func (c *conn) createdCode(name string) string {
	id, err := c.user.MailboxID(name)
	if err != nil {
		return ""
	}
	return "MAILBOXID (" + id + ")"
}

// writeMailboxID sends SELECT's and EXAMINE's untagged OK [MAILBOXID]
// (RFC 8474 §4.2).
func (c *conn) writeMailboxID() {
	if id := c.mbox.h.MailboxID(); id != "" {
		c.writeString("* OK [MAILBOXID (" + id + ")] Ok\r\n")
	}
}

// appendMailboxIDStatus appends STATUS's MAILBOXID value (RFC 8474 §4.3),
// "" and false when the mailbox has none (gone meanwhile).
func (c *conn) appendMailboxIDStatus(b []byte, name string) ([]byte, bool) {
	id, err := c.user.MailboxID(name)
	if err != nil {
		return b, false
	}
	b = append(b, '(')
	b = append(b, id...)
	return append(b, ')'), true
}

// objects are the EMAILIDs and save dates of one FETCH's messages, asked
// of the store in one batch each.
type objects struct {
	emailID map[uint32]string
	saved   map[uint32]time.Time
}

// fetchObjects asks the store for what plan's items need of idx.
func (c *conn) fetchObjects(plan *fetchPlan, idx []int) error {
	if !plan.emailID && !plan.saveDate || len(idx) == 0 {
		return nil
	}
	uids := c.uidsOf(idx)
	h := c.mbox.h
	if plan.emailID {
		ids, err := h.EmailIDs(uids)
		if err != nil {
			return err
		}
		plan.objs.emailID = make(map[uint32]string, len(uids))
		for i, u := range uids {
			plan.objs.emailID[u] = ids[i]
		}
	}
	if plan.saveDate {
		ds, err := h.SaveDates(uids)
		if err != nil {
			return err
		}
		plan.objs.saved = make(map[uint32]time.Time, len(uids))
		for i, u := range uids {
			plan.objs.saved[u] = ds[i]
		}
	}
	return nil
}

// appendObjectItem appends FETCH's EMAILID, THREADID or SAVEDATE of uid
// (RFC 8474 §5.3, RFC 8514 §4.2); ok is false when the message is gone and
// nothing was known of it (the item is left out, as INTERNALDATE is).
func (p *fetchPlan) appendObjectItem(b []byte, name string, uid uint32) ([]byte, bool) {
	switch name {
	case "EMAILID":
		id := p.objs.emailID[uid]
		if id == "" {
			return b, false
		}
		b = append(b, "EMAILID ("...)
		b = append(b, id...)
		return append(b, ')'), true
	case "THREADID":
		return append(b, "THREADID NIL"...), true
	default:
		d := p.objs.saved[uid]
		if d.IsZero() {
			return b, false
		}
		b = append(b, "SAVEDATE "...)
		return imap.AppendDateTime(b, d), true
	}
}

// compileObjectKey compiles SEARCH EMAILID, THREADID (RFC 8474 §6),
// SAVEDBEFORE, SAVEDON, SAVEDSINCE and SAVEDATESUPPORTED (RFC 8514 §4.3).
// The values are asked of the store for every selected message at the
// first test, then one at a time for messages that arrive later (an
// updating search, RFC 5267, keeps the matcher). Matchers may run on
// several goroutines at once: the lookup is serialised.
func (c *conn) compileObjectKey(k *imap.SearchKey) matchFunc {
	s := c.mbox
	switch k.Op {
	case imap.SearchThreadID:
		return func(*searchMsg) bool { return false } // THREADID is NIL: §5.2
	case imap.SearchSaveDateSupported:
		return func(*searchMsg) bool { return true }
	case imap.SearchEmailID:
		want := k.Value
		get := lazyByUID(s, s.h.EmailIDs)
		return func(m *searchMsg) bool {
			id, err := get(m.m.UID)
			if err != nil {
				m.err = err
			}
			return id != "" && id == want
		}
	}
	d := dayOf(k.Date)
	op := map[imap.SearchOp]imap.SearchOp{imap.SearchSavedBefore: imap.SearchBefore, imap.SearchSavedOn: imap.SearchOn, imap.SearchSavedSince: imap.SearchSince}[k.Op]
	get := lazyByUID(s, s.h.SaveDates)
	return func(m *searchMsg) bool {
		t, err := get(m.m.UID)
		if err != nil {
			m.err = err
			return false
		}
		return !t.IsZero() && cmpDay(dayOf(t), d, op)
	}
}

// lazyByUID returns a lookup of fetch's value for one UID that asks for
// every message of s at its first call.
func lazyByUID[T any](s *selected, fetch func([]uint32) ([]T, error)) func(uint32) (T, error) {
	var mu sync.Mutex
	var known map[uint32]T
	return func(uid uint32) (T, error) {
		mu.Lock()
		defer mu.Unlock()
		if known == nil {
			uids := s.uids()
			vs, err := fetch(uids)
			if err != nil {
				var zero T
				return zero, err
			}
			known = make(map[uint32]T, len(uids))
			for i, u := range uids {
				known[u] = vs[i]
			}
		}
		if v, ok := known[uid]; ok {
			return v, nil
		}
		vs, err := fetch([]uint32{uid})
		if err != nil {
			var zero T
			return zero, err
		}
		known[uid] = vs[0]
		return vs[0], nil
	}
}
