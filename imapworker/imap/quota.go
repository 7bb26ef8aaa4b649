package imap

// Quota is GETQUOTA quota-root-name, GETQUOTAROOT mailbox, or SETQUOTA
// quota-root-name setquota-list (RFC 9208 §4.1, §9).
type Quota struct {
	Root    string // quota root, or the mailbox of GETQUOTAROOT
	Limits  []QuotaLimit
	Mailbox bool // Root is a mailbox name (GETQUOTAROOT)
}

// QuotaLimit is one setquota-resource.
type QuotaLimit struct {
	Resource string // upper-case
	Limit    int64
}

func (p *parser) quota(name string) *Quota {
	p.sp()
	q := &Quota{Root: p.astring(), Mailbox: name == "GETQUOTAROOT"}
	if name != "SETQUOTA" {
		return q
	}
	// setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
	p.sp()
	p.expect('(', "expected (")
	for !p.take(')') {
		if len(q.Limits) > 0 {
			p.sp()
		}
		r := QuotaLimit{Resource: p.atomUpper()}
		p.sp()
		r.Limit = p.number64()
		q.Limits = append(q.Limits, r)
	}
	return q
}
