package imap

// Notify is NOTIFY SET [STATUS] event-groups, or NOTIFY NONE (RFC 5465
// §3.1, §8).
type Notify struct {
	None   bool
	Status bool
	Groups []NotifyGroup
}

// NotifyGroup is one event-group: a mailbox filter and its events.
type NotifyGroup struct {
	// Filter is upper case: SELECTED, SELECTED-DELAYED, INBOXES,
	// PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES.
	Filter    string
	Mailboxes []string // raw astrings, for SUBTREE and MAILBOXES
	Events    []NotifyEvent
	// Events is empty for "NONE".
}

// NotifyEvent is one event name (as sent, compared case-insensitively by
// the session) with MessageNew's fetch attributes.
type NotifyEvent struct {
	Name  string // upper case
	Fetch []FetchItem
}

// notify = "NOTIFY" SP (notify-set / notify-none)
func (p *parser) notify() *Notify {
	p.sp()
	n := &Notify{}
	switch p.atomUpper() {
	case "NONE":
		n.None = true
		return n
	case "SET":
	default:
		p.fail("expected SET or NONE")
	}
	p.sp()
	if p.peek() != '(' {
		if p.atomUpper() != "STATUS" {
			p.fail("expected STATUS or (")
		}
		n.Status = true
		p.sp()
	}
	for {
		n.Groups = append(n.Groups, p.notifyGroup())
		if !p.take(' ') {
			return n
		}
	}
}

// event-group = "(" filter-mailboxes SP events ")"
func (p *parser) notifyGroup() NotifyGroup {
	p.enter()
	defer p.leave()
	p.expect('(', "expected (")
	g := NotifyGroup{Filter: p.atomUpper()}
	switch g.Filter {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		p.sp()
		if p.take('(') {
			for {
				g.Mailboxes = append(g.Mailboxes, p.mailbox())
				if p.take(')') {
					break
				}
				p.sp()
			}
		} else {
			g.Mailboxes = []string{p.mailbox()}
		}
	default:
		p.fail("unknown NOTIFY mailbox filter")
	}
	p.sp()
	// events = "(" event *(SP event) ")" / "NONE"; the RFC's own examples
	// leave the parentheses out, so a bare list up to the group's ")"
	// is taken too.
	paren := p.take('(')
	if !paren && p.peekName() == "NONE" {
		p.atomUpper()
	} else {
		for {
			g.Events = append(g.Events, p.notifyEvent())
			if paren && p.take(')') {
				break
			}
			if !paren && p.peek() == ')' {
				break
			}
			p.sp()
		}
	}
	p.expect(')', "expected )")
	return g
}

// event, with MessageNew's optional "(" fetch-att *(SP fetch-att) ")".
func (p *parser) notifyEvent() NotifyEvent {
	ev := NotifyEvent{Name: p.atomUpper()}
	if ev.Name == "MESSAGENEW" && p.peek() == ' ' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '(' {
		p.sp()
		p.expect('(', "expected (")
		for {
			ev.Fetch = append(ev.Fetch, p.fetchAtt())
			if p.take(')') {
				break
			}
			p.sp()
		}
	}
	return ev
}
