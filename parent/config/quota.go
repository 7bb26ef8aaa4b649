package config

import (
	"fmt"
	"sort"
	"strings"
)

// Quota is one account's limits (RFC 9208 STORAGE in octets, MESSAGE as a
// count); 0 is no limit. In an override, -1 takes the default's value.
type Quota struct {
	Storage  int64
	Messages int64
}

const maxQuotaMessages = 1 << 40

// QuotaFor returns the limits of user: the per-user override's, over the
// default's.
func (c *Config) QuotaFor(user string) Quota {
	q := c.Quota
	if o, ok := c.QuotaUsers[user]; ok {
		if o.Storage >= 0 {
			q.Storage = o.Storage
		}
		if o.Messages >= 0 {
			q.Messages = o.Messages
		}
	}
	return q
}

// quota [user NAME] [storage SIZE] [messages N]: the default limits, or
// one user's (docs/man/imapd.conf.5, QUOTA).
func (p *parser) quota() {
	q, key := Quota{Storage: -1, Messages: -1}, "quota"
	var user string
	if p.accept("user") {
		var ok bool
		if user, ok = p.str("user name"); !ok {
			return
		}
		key = "quota user " + user
	}
	if !p.once(key) {
		return
	}
	for p.i < len(p.toks) && !p.bad {
		what, ok := p.choice("quota resource", "storage", "messages")
		if !ok {
			return
		}
		switch {
		case what == "storage" && q.Storage < 0:
			q.Storage, ok = p.size("quota storage", 0, maxAppendLimit)
		case what == "messages" && q.Messages < 0:
			q.Messages, ok = p.num("quota messages", 0, maxQuotaMessages)
		default:
			p.fail("quota %s given twice", what)
			return
		}
		if !ok {
			return
		}
	}
	if q.Storage < 0 && q.Messages < 0 {
		p.fail("quota: expected storage SIZE or messages N")
		return
	}
	if user == "" {
		p.cfg.Quota = Quota{Storage: max(q.Storage, 0), Messages: max(q.Messages, 0)}
		return
	}
	if p.cfg.QuotaUsers == nil {
		p.cfg.QuotaUsers = map[string]Quota{}
	}
	p.cfg.QuotaUsers[user] = q
}

// formatQuota writes the quota statements, the default first.
func (c *Config) formatQuota(w func(string, ...any)) {
	line := func(prefix string, q Quota) {
		var parts []string
		if q.Storage >= 0 {
			parts = append(parts, "storage "+formatSize(q.Storage))
		}
		if q.Messages >= 0 {
			parts = append(parts, fmt.Sprintf("messages %d", q.Messages))
		}
		w("%s%s", prefix, strings.Join(parts, " "))
	}
	if c.Quota != (Quota{}) {
		line("quota ", c.Quota)
	}
	users := make([]string, 0, len(c.QuotaUsers))
	for u := range c.QuotaUsers {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		line("quota user "+quote(u)+" ", c.QuotaUsers[u])
	}
}
