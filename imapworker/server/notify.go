package server

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// RFC 5465 NOTIFY. Changes are found by looking, not told: while NOTIFY
// is set the session checks every notifyInterval (also between commands
// and while idling) the selected mailbox, the STATUS of each watched
// mailbox, the mailbox list and the subscriptions, and reports what
// differs from what it last reported. So changes by other sessions, other
// processes (Dovecot) and an MDA all arrive within notifyInterval. Renames
// by sessions of this process carry OLDNAME (renameLog); a rename the
// session only sees as one name gone and one new is reported as such.

const (
	evNew uint8 = 1 << iota
	evExpunge
	evFlag
	evName
	evSub
)

// notifyInterval is how often a NOTIFY session looks for changes.
var notifyInterval = 500 * time.Millisecond

// notifyMaxLines bounds what one check may send; past it the session
// gets [NOTIFICATIONOVERFLOW] and NOTIFY NONE (RFC 5465 §5.8).
var notifyMaxLines = 5000

var supportedEvents = "(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)"

type notifyGroup struct {
	filter    string
	mailboxes []string // canonical names, for SUBTREE and MAILBOXES
	events    uint8
}

type notifyState struct {
	sel      *notifyGroup // SELECTED or SELECTED-DELAYED; nil: no message events for it
	delayed  bool
	fetch    *fetchPlan // MessageNew's fetch attributes for the selected mailbox
	others   []notifyGroup
	status   map[string]store.Status // last reported, by mailbox
	names    map[string]store.Attr   // last mailbox list
	subs     map[string]bool         // last subscriptions
	renameAt uint64                  // renameLog entries seen
	lines    int                     // responses sent by the running check
	checked  time.Time               // the last check
	// quietFlags: a check without FlagChange for the selected mailbox
	// runs; updates sends no flag FETCH meanwhile.
	quietFlags bool
}

// RFC 5465 §3.1: NOTIFY SET [STATUS] event-groups, NOTIFY NONE.
func (c *conn) cmdNotify(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Notify)
	if args.None {
		c.notify = nil
		c.ok(cmd, "", "NOTIFY completed")
		return nil
	}
	n := &notifyState{}
	for _, g := range args.Groups {
		ng := notifyGroup{filter: g.Filter}
		for _, m := range g.Mailboxes {
			ng.mailboxes = append(ng.mailboxes, c.mailboxName(m))
		}
		var fetch []imap.FetchItem
		for _, ev := range g.Events {
			switch ev.Name {
			case "MESSAGENEW":
				ng.events |= evNew
				fetch = ev.Fetch
			case "MESSAGEEXPUNGE":
				ng.events |= evExpunge
			case "FLAGCHANGE":
				ng.events |= evFlag
			case "MAILBOXNAME":
				ng.events |= evName
			case "SUBSCRIPTIONCHANGE":
				ng.events |= evSub
			default:
				return no("BADEVENT "+supportedEvents, "unsupported NOTIFY event "+ev.Name)
			}
		}
		// RFC 5465 §5: MessageNew and MessageExpunge together;
		// FlagChange only with both.
		msg := ng.events & (evNew | evExpunge | evFlag)
		if msg != 0 && msg&(evNew|evExpunge) != evNew|evExpunge {
			return badf("MessageNew and MessageExpunge go together, and FlagChange needs both")
		}
		switch g.Filter {
		case "SELECTED", "SELECTED-DELAYED":
			if n.sel != nil {
				return badf("only one of SELECTED and SELECTED-DELAYED")
			}
			if ng.events&(evName|evSub) != 0 {
				return badf("SELECTED takes message events only")
			}
			if len(fetch) > 0 {
				plan, err := planFetch(fetch)
				if err != nil {
					return err
				}
				if plan.seen {
					return badf("NOTIFY fetch attributes must not set \\Seen")
				}
				n.fetch = plan
			}
			n.sel, n.delayed = &ng, g.Filter == "SELECTED-DELAYED"
		default:
			if len(fetch) > 0 {
				return badf("fetch attributes are for SELECTED only")
			}
			n.others = append(n.others, ng)
		}
	}
	// The snapshot the session compares against; with STATUS, the
	// watched mailboxes' state is sent now (RFC 5465 §3.1).
	c.notify = n
	n.renameAt = renames.last(c.user)
	n.names, n.subs = c.notifyLists()
	n.status = map[string]store.Status{}
	for _, w := range c.watched(n, n.names, n.subs) {
		name, ev := w.name, w.events
		st, err := c.user.Status(name)
		if err != nil {
			continue
		}
		n.status[name] = st
		if args.Status {
			c.writeNotifyStatus(name, st, ev)
		}
	}
	// A successful NOTIFY SET implies a NOOP.
	c.ok(cmd, "", "NOTIFY completed")
	return nil
}

// notifyLists returns the mailbox list and the subscriptions.
func (c *conn) notifyLists() (map[string]store.Attr, map[string]bool) {
	names := map[string]store.Attr{}
	if l, err := c.user.List(); err == nil {
		for _, m := range l {
			names[m.Name] = m.Attrs
		}
	}
	subs := map[string]bool{}
	if l, err := c.user.Subscriptions(); err == nil {
		for _, s := range l {
			subs[s] = true
		}
	}
	return names, subs
}

// matches reports whether mailbox name falls under g's filter.
func (g *notifyGroup) matches(name string, subs map[string]bool) bool {
	switch g.filter {
	case "PERSONAL", "INBOXES": // every mailbox may receive mail (§6.3)
		return true
	case "SUBSCRIBED":
		return subs[name]
	case "SUBTREE":
		for _, m := range g.mailboxes {
			if name == m || strings.HasPrefix(name, m+"/") {
				return true
			}
		}
	case "MAILBOXES":
		return slices.Contains(g.mailboxes, name)
	}
	return false
}

// watchedBox is a mailbox whose message events are asked for.
type watchedBox struct {
	name   string
	events uint8
}

// watched returns the selectable mailboxes other than the selected one
// (when SELECTED covers it) whose message events are asked for, by name.
func (c *conn) watched(n *notifyState, names map[string]store.Attr, subs map[string]bool) []watchedBox {
	var out []watchedBox
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if names[name]&store.AttrNoSelect != 0 || (c.mbox != nil && n.sel != nil && c.mbox.name == name) {
			continue
		}
		var ev uint8
		for i := range n.others {
			if n.others[i].matches(name, subs) {
				ev |= n.others[i].events & (evNew | evExpunge | evFlag)
			}
		}
		if ev != 0 {
			out = append(out, watchedBox{name, ev})
		}
	}
	return out
}

// writeNotifyStatus sends the STATUS of another mailbox (RFC 5465 §5.2,
// §5.3, §3.1): MESSAGES UIDNEXT UIDVALIDITY, HIGHESTMODSEQ for FlagChange
// or once CONDSTORE is enabled.
func (c *conn) writeNotifyStatus(name string, st store.Status, ev uint8) {
	items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY"}
	if (ev&evFlag != 0 || c.condstore) && st.HighestModSeq != 0 {
		items = append(items, "HIGHESTMODSEQ")
	}
	b := c.appendStatus(c.out[:0], name, st, items)
	c.write(b)
	c.out = b
	c.notify.lines++
}

// notifyWake is what the session waits on besides the client: nil
// without NOTIFY.
func (c *conn) notifyWake() <-chan struct{} {
	if c.notify == nil {
		return nil
	}
	return c.idleWake(nil)
}

// notifyCheck sends what changed since the last check. idle: no command
// is running, or IDLE is, so expunges may go out unless SELECTED-DELAYED
// asks to keep them.
func (c *conn) notifyCheck(idle bool) {
	n := c.notify
	if n == nil {
		return
	}
	n.lines, n.checked = 0, time.Now()
	if c.mbox != nil && n.sel != nil && n.sel.events != 0 {
		before := c.mbox.maxUID()
		n.quietFlags = n.sel.events&evFlag == 0
		c.updates(idle && !n.delayed)
		n.quietFlags = false
		if n.fetch != nil && n.sel.events&evNew != 0 {
			c.notifyFetchNew(before)
		}
	}
	names, subs := c.notifyLists()
	c.notifyNames(n, names, subs)
	for _, w := range c.watched(n, names, subs) {
		name, ev := w.name, w.events
		st, err := c.user.Status(name)
		if err != nil {
			continue
		}
		old, known := n.status[name]
		n.status[name] = st
		changed := !known || st.Messages != old.Messages || st.UIDNext != old.UIDNext || st.UIDValidity != old.UIDValidity ||
			(ev&evFlag != 0 && st.HighestModSeq != old.HighestModSeq)
		if changed {
			c.writeNotifyStatus(name, st, ev)
		}
	}
	for name := range n.status {
		if _, ok := names[name]; !ok {
			delete(n.status, name)
		}
	}
	if n.lines > notifyMaxLines {
		c.writeString("* OK [NOTIFICATIONOVERFLOW] too many changes: NOTIFY NONE\r\n")
		c.notify = nil
	}
}

// notifyFetchNew sends MessageNew's fetch attributes for the messages
// above UID before (RFC 5465 §5.2), after their EXISTS.
func (c *conn) notifyFetchNew(before uint32) {
	s := c.mbox
	i, _ := slices.BinarySearchFunc(s.msgs, before+1, func(m store.MessageInfo, u uint32) int {
		switch {
		case m.UID < u:
			return -1
		case m.UID > u:
			return 1
		}
		return 0
	})
	for ; i < len(s.msgs); i++ {
		if c.notify.lines++; c.notify.lines > notifyMaxLines {
			return
		}
		var date time.Time
		if c.notify.fetch.date {
			if d, err := s.h.InternalDates([]uint32{s.msgs[i].UID}); err == nil {
				date = d[0]
			}
		}
		if err := c.fetchObjects(c.notify.fetch, []int{i}); err != nil {
			c.log.Debug("NOTIFY fetch failed", "err", err)
		}
		if err := c.fetchOne(i, date, c.notify.fetch, false); err != nil {
			c.log.Debug("NOTIFY fetch failed", "err", err)
		}
	}
}

// notifyNames sends MailboxName and SubscriptionChange events (RFC 5465
// §5.4, §5.5) as LIST responses.
func (c *conn) notifyNames(n *notifyState, names map[string]store.Attr, subs map[string]bool) {
	var nameEv, subEv []*notifyGroup
	for i := range n.others {
		if n.others[i].events&evName != 0 {
			nameEv = append(nameEv, &n.others[i])
		}
		if n.others[i].events&evSub != 0 {
			subEv = append(subEv, &n.others[i])
		}
	}
	wants := func(gs []*notifyGroup, name string) bool {
		for _, g := range gs {
			if g.matches(name, subs) || g.matches(name, n.subs) {
				return true
			}
		}
		return false
	}
	if len(nameEv) > 0 {
		// Renames made in this process: the new name with OLDNAME, the
		// old one and the children not reported otherwise.
		var rs []rename
		rs, n.renameAt = renames.since(c.user, n.renameAt)
		skip := map[string]bool{}
		for _, r := range rs {
			_, gone := n.names[r.from]
			if _, now := names[r.to]; !gone || !now || !wants(nameEv, r.to) {
				continue
			}
			for nm := range n.names {
				if nm == r.from || strings.HasPrefix(nm, r.from+"/") {
					skip[nm] = true
					skip[r.to+nm[len(r.from):]] = true
				}
			}
			b := append(c.out[:0], "* LIST ("...)
			b = append(b, strings.Join(names[r.to].Names(), " ")...)
			b = append(b, `) "/" `...)
			b = c.appendMailbox(b, r.to)
			b = append(b, ` ("OLDNAME" (`...)
			b = c.appendMailbox(b, r.from)
			b = append(b, "))\r\n"...)
			c.write(b)
			c.out = b
			n.lines++
		}
		for _, name := range sortedDiff(names, n.names) {
			if !skip[name] && wants(nameEv, name) {
				c.writeNotifyList(name, names[name], subs[name], false)
			}
		}
		for _, name := range sortedDiff(n.names, names) {
			if !skip[name] && wants(nameEv, name) {
				c.writeNotifyList(name, 0, false, true)
			}
		}
	}
	if len(subEv) > 0 {
		var changed []string
		for s := range subs {
			if !n.subs[s] {
				changed = append(changed, s)
			}
		}
		for s := range n.subs {
			if !subs[s] {
				changed = append(changed, s)
			}
		}
		slices.Sort(changed)
		for _, name := range changed {
			if wants(subEv, name) {
				attr, ok := names[name]
				c.writeNotifyList(name, attr, subs[name], !ok)
			}
		}
	}
	n.names, n.subs = names, subs
}

func sortedDiff(a, b map[string]store.Attr) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (c *conn) writeNotifyList(name string, attr store.Attr, subscribed, gone bool) {
	var fl []string
	if gone {
		fl = []string{`\NonExistent`}
	} else {
		fl = attr.Names()
	}
	if subscribed {
		fl = append(fl, `\Subscribed`)
	}
	b := append(c.out[:0], "* LIST ("...)
	b = append(b, strings.Join(fl, " ")...)
	b = append(b, `) "/" `...)
	b = c.appendMailbox(b, name)
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
	c.notify.lines++
}

// notifyOwn takes the session's own mailbox changes into its snapshot,
// so that they are not reported back to it (RFC 5465 §5).
func (c *conn) notifyOwn() {
	if n := c.notify; n != nil {
		n.names, n.subs = c.notifyLists()
		n.renameAt = renames.last(c.user)
		// A mailbox it created (or subscribed to) joins the watched set
		// without a STATUS.
		for _, w := range c.watched(n, n.names, n.subs) {
			if _, ok := n.status[w.name]; !ok {
				if st, err := c.user.Status(w.name); err == nil {
					n.status[w.name] = st
				}
			}
		}
	}
}

// notifyOwnStatus takes the session's own APPEND, COPY or MOVE into
// another mailbox into its snapshot.
func (c *conn) notifyOwnStatus(name string) {
	if n := c.notify; n != nil {
		if st, err := c.user.Status(name); err == nil {
			if _, ok := n.status[store.CanonicalName(name)]; ok {
				n.status[store.CanonicalName(name)] = st
			}
		}
	}
}

// notifyDue runs a check before the next command when the last one is
// older than notifyInterval: a client that never pauses still hears of
// other mailboxes.
func (c *conn) notifyDue() {
	if n := c.notify; n != nil && time.Since(n.checked) >= notifyInterval {
		c.notifyCheck(false)
	}
}

// idleWake is what IDLE waits on: the selected mailbox's changes, or
// NOTIFY's interval.
func (c *conn) idleWake(changed <-chan struct{}) <-chan struct{} {
	if c.notify == nil {
		return changed
	}
	ch := make(chan struct{}, 1)
	time.AfterFunc(notifyInterval, func() { ch <- struct{}{} })
	return ch
}

// renameLog remembers recent renames per user, so that other sessions of
// the process can report OLDNAME (RFC 5465 §5.4).
type renameLog struct {
	mu  sync.Mutex
	seq uint64
	log map[store.User][]rename
}

type rename struct {
	seq      uint64
	from, to string
}

var renames = &renameLog{log: map[store.User][]rename{}}

func (l *renameLog) add(u store.User, from, to string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	rs := append(l.log[u], rename{l.seq, from, to})
	if len(rs) > 64 {
		rs = rs[len(rs)-64:]
	}
	l.log[u] = rs
}

func (l *renameLog) last(u store.User) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rs := l.log[u]; len(rs) > 0 {
		return rs[len(rs)-1].seq
	}
	return 0
}

func (l *renameLog) since(u store.User, at uint64) ([]rename, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rename
	for _, r := range l.log[u] {
		if r.seq > at {
			out = append(out, r)
			at = r.seq
		}
	}
	return out, at
}
