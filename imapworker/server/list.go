package server

import (
	"regexp"
	"sort"
	"strings"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// compilePattern turns a LIST pattern into a regexp: "*" matches anything,
// "%" anything but the delimiter (RFC 9051 §6.3.9). Go's regexp is linear,
// so hostile patterns cost nothing.
func compilePattern(ref, pat string) (*regexp.Regexp, error) {
	full := pat
	if ref != "" && !strings.HasPrefix(pat, "/") {
		full = ref + pat
	}
	if len(full) >= 5 && strings.EqualFold(full[:5], "INBOX") {
		full = "INBOX" + full[5:]
	}
	var b strings.Builder
	b.WriteString("^")
	for _, part := range strings.SplitAfter(full, "") {
		switch part {
		case "*":
			b.WriteString(".*")
		case "%":
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

type listEntry struct {
	name      string
	attrs     store.Attr
	subscribe bool
	nonexist  bool
	childSub  bool // RECURSIVEMATCH: a descendant is subscribed (CHILDINFO)
}

// RFC 9051 §6.3.9 LIST, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
// RFC 6154 SPECIAL-USE.
func (c *conn) cmdList(cmd *imap.Command) error {
	args := cmd.Args.(*imap.List)
	selSub := hasOpt(args.SelectOpts, "SUBSCRIBED")
	selSpecial := hasOpt(args.SelectOpts, "SPECIAL-USE")
	recursive := hasOpt(args.SelectOpts, "RECURSIVEMATCH")
	if recursive && !selSub && !selSpecial {
		return badf("RECURSIVEMATCH needs another selection option") // RFC 5258 §3
	}
	for _, o := range args.SelectOpts {
		switch o {
		case "SUBSCRIBED", "SPECIAL-USE", "RECURSIVEMATCH", "REMOTE":
		default:
			return badf("unknown LIST selection option " + o)
		}
	}
	for _, o := range args.ReturnOpts {
		switch o {
		case "SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS", "METADATA":
		default:
			return badf("unknown LIST return option " + o) // RFC 9051 §6.3.9
		}
	}
	retSub := hasOpt(args.ReturnOpts, "SUBSCRIBED")
	if args.StatusItems != nil {
		if err := checkStatusItems(args.StatusItems); err != nil {
			return err
		}
	}
	ref := c.mailboxName(args.Reference)
	if ref == "" && len(args.Patterns) == 1 && args.Patterns[0] == "" && !args.Extended {
		// RFC 9051 §6.3.9: the hierarchy delimiter and root.
		c.writeString("* LIST (\\Noselect) \"/\" \"\"\r\n")
		c.ok(cmd, "", "LIST completed")
		return nil
	}
	var res []*regexp.Regexp
	for _, p := range args.Patterns {
		if p == "" {
			continue
		}
		re, err := compilePattern(ref, c.mailboxName(p))
		if err != nil {
			return badf("bad pattern")
		}
		res = append(res, re)
	}
	match := func(n string) bool {
		for _, re := range res {
			if re.MatchString(n) {
				return true
			}
		}
		return false
	}
	boxes, err := c.user.List()
	if err != nil {
		return err
	}
	byName := make(map[string]store.Attr, len(boxes))
	for _, m := range boxes {
		byName[m.Name] = m.Attrs
	}
	subs := map[string]bool{}
	if selSub || retSub {
		l, err := c.user.Subscriptions()
		if err != nil {
			return err
		}
		for _, n := range l {
			subs[n] = true
		}
	}
	var out []*listEntry
	if selSub {
		for n := range subs {
			if !match(n) {
				continue
			}
			a, ok := byName[n]
			out = append(out, &listEntry{name: n, attrs: a, subscribe: true, nonexist: !ok})
		}
		if recursive {
			// RFC 5258 §3.5: a matching mailbox with a subscribed
			// descendant is listed with CHILDINFO, but only when some such
			// descendant is not listed itself (redundant CHILDINFO is
			// suppressed, as in the section's example 9).
			listed := make(map[string]*listEntry, len(out))
			for _, e := range out {
				listed[e.name] = e
			}
			for _, m := range boxes {
				if !match(m.Name) {
					continue
				}
				for s := range subs {
					if strings.HasPrefix(s, m.Name+"/") && listed[s] == nil {
						if e := listed[m.Name]; e != nil {
							e.childSub = true
						} else {
							out = append(out, &listEntry{name: m.Name, attrs: m.Attrs, childSub: true})
						}
						break
					}
				}
			}
		}
	} else {
		for _, m := range boxes {
			if match(m.Name) {
				out = append(out, &listEntry{name: m.Name, attrs: m.Attrs, subscribe: subs[m.Name]})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name == "INBOX" || out[j].name == "INBOX" {
			return out[i].name == "INBOX" && out[j].name != "INBOX"
		}
		return out[i].name < out[j].name
	})
	var longest int64 // RFC 9590: the largest value MAXSIZE left out
	for _, e := range out {
		if selSpecial && e.attrs&store.SpecialUse == 0 {
			continue
		}
		b := append(c.out[:0], "* LIST ("...)
		var names []string
		if e.nonexist {
			names = append(names, `\NonExistent`)
		} else {
			names = e.attrs.Names()
		}
		if e.subscribe && (retSub || selSub) {
			names = append(names, `\Subscribed`)
		}
		b = append(b, strings.Join(names, " ")...)
		b = append(b, `) "/" `...)
		b = c.appendMailbox(b, e.name)
		if e.childSub {
			b = append(b, ` ("CHILDINFO" ("SUBSCRIBED"))`...)
		}
		b = append(b, "\r\n"...)
		if args.StatusItems != nil && !e.nonexist && e.attrs&store.AttrNoSelect == 0 {
			// RFC 5819: STATUS follows its LIST response.
			if st, err := c.user.Status(e.name); err == nil {
				b = c.appendStatus(b, e.name, st, args.StatusItems)
			}
		}
		if args.Metadata != nil && !e.nonexist {
			b = c.appendListMetadata(b, e.name, args.Metadata, &longest) // metadata.go
		}
		c.write(b)
		c.out = b
	}
	c.ok(cmd, longEntries(longest), "LIST completed")
	return nil
}

// RFC 3501 §6.3.9: LSUB (IMAP4rev1 clients).
func (c *conn) cmdLsub(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Lsub)
	if args.Pattern == "" {
		c.writeString("* LSUB (\\Noselect) \"/\" \"\"\r\n")
		c.ok(cmd, "", "LSUB completed")
		return nil
	}
	re, err := compilePattern(c.mailboxName(args.Reference), c.mailboxName(args.Pattern))
	if err != nil {
		return badf("bad pattern")
	}
	subs, err := c.user.Subscriptions()
	if err != nil {
		return err
	}
	boxes, err := c.user.List()
	if err != nil {
		return err
	}
	exists := make(map[string]store.Attr, len(boxes))
	for _, m := range boxes {
		exists[m.Name] = m.Attrs
	}
	// RFC 3501 §6.3.9: a subscribed name that "%" does not reach shows its
	// superior that it reaches, \Noselect, unless that is subscribed too.
	subscribed := make(map[string]bool, len(subs))
	for _, n := range subs {
		subscribed[n] = true
	}
	listed := map[string]bool{}
	var out []string
	for _, n := range subs {
		if re.MatchString(n) {
			if !listed[n] {
				listed[n] = true
				out = append(out, n)
			}
			continue
		}
		for i := len(n) - 1; i > 0; i-- {
			if n[i] != store.Delimiter {
				continue
			}
			if p := n[:i]; !subscribed[p] && !listed[p] && re.MatchString(p) {
				listed[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	for _, n := range out {
		attrs := ""
		if a, ok := exists[n]; !subscribed[n] || !ok || a&store.AttrNoSelect != 0 {
			attrs = `\Noselect`
		}
		b := append(c.out[:0], "* LSUB ("...)
		b = append(b, attrs...)
		b = append(b, `) "/" `...)
		b = c.appendMailbox(b, n)
		b = append(b, "\r\n"...)
		c.write(b)
		c.out = b
	}
	c.ok(cmd, "", "LSUB completed")
	return nil
}
