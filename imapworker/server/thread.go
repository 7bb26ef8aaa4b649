package server

import (
	"slices"
	"strconv"
	"strings"

	"imapd/imapworker/imap"
)

// tnode is a message or a dummy (msg < 0) of a thread tree.
type tnode struct {
	msg      int // position in the threaded messages, -1 for a dummy
	parent   *tnode
	children []*tnode
	removed  bool // merged away in REFERENCES step 5.C
}

// threadSet is what both algorithms work on: the searched messages, in
// sequence order, with their base subjects and sent dates, and for
// REFERENCES the nodes step 1 links as the records are read, so that no
// message's references are kept.
type threadSet struct {
	subjects []string
	reply    []bool
	dates    []int64 // sent dates (RFC 5256 §2.2)
	ids      map[string]*tnode
	all      []*tnode // every node in the order made, for step 2
}

// before orders messages a and b by sent date, then sequence number
// (RFC 5256 §2.2); a dummy sorts as its first child.
func (ts *threadSet) before(a, b *tnode) int {
	a, b = firstMsg(a), firstMsg(b)
	if a == nil || b == nil {
		return 0
	}
	if d := cmp64(ts.dates[a.msg], ts.dates[b.msg]); d != 0 {
		return d
	}
	return a.msg - b.msg
}

// firstMsg is n, or for a dummy its first child's message.
func firstMsg(n *tnode) *tnode {
	for n != nil && n.msg < 0 {
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return n
}

// RFC 5256 §3 THREAD=ORDEREDSUBJECT: messages sorted by base subject and
// sent date, one thread per subject, threads by their first message's
// date; the first message is the parent of all the others.
func (ts *threadSet) orderedSubject() []*tnode {
	order := make([]int, len(ts.subjects))
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int {
		if d := strings.Compare(ts.subjects[a], ts.subjects[b]); d != 0 {
			return d
		}
		if d := cmp64(ts.dates[a], ts.dates[b]); d != 0 {
			return d
		}
		return a - b
	})
	var roots []*tnode
	for i, k := range order {
		n := &tnode{msg: k}
		if i > 0 && ts.subjects[order[i-1]] == ts.subjects[k] {
			top := roots[len(roots)-1]
			n.parent = top
			top.children = append(top.children, n)
			continue
		}
		roots = append(roots, n)
	}
	slices.SortStableFunc(roots, ts.before)
	return roots
}

// node is the node of a Message-ID, made on its first mention.
func (ts *threadSet) node(id []byte) *tnode {
	if n := ts.ids[string(id)]; n != nil {
		return n
	}
	n := &tnode{msg: -1}
	ts.ids[string(id)] = n
	ts.all = append(ts.all, n)
	return n
}

// link is RFC 5256 §3 THREAD=REFERENCES step 1 for message k, whose
// record is v; messages come in sequence order.
func (ts *threadSet) link(k int, v *sortView) {
	// (1.A) a message's own node: its Message-ID unless missing or
	// already used by a message before it.
	var self *tnode
	id := v.strs[fieldMsgID]
	if n := ts.ids[string(id)]; len(id) > 0 && (n == nil || n.msg < 0) {
		self = ts.node(id)
		self.msg = k
	} else {
		self = &tnode{msg: k}
		ts.all = append(ts.all, self)
	}
	// Link the references in order; never re-parent, never loop.
	for j := 0; j+1 < len(v.refs); j++ {
		p, c := ts.node(v.refs[j]), ts.node(v.refs[j+1])
		if c.parent == nil && !ancestorOrSelf(c, p) {
			link(p, c)
		}
	}
	// (1.B) the last reference is the parent, whatever was before.
	var p *tnode
	if len(v.refs) > 0 {
		p = ts.node(v.refs[len(v.refs)-1])
	}
	if self.parent != nil && self.parent != p {
		unlink(self)
	}
	if p != nil && self.parent == nil && !ancestorOrSelf(self, p) {
		link(p, self)
	}
}

// RFC 5256 §3 THREAD=REFERENCES, steps 2 to 6 (step 1 is link's).
func (ts *threadSet) references() []*tnode {
	// (2) the parentless are the roots' children.
	roots := 0
	for _, n := range ts.all {
		if n.parent == nil {
			roots++
		}
	}
	root := &tnode{msg: -1, children: make([]*tnode, 0, roots)}
	for _, n := range ts.all {
		if n.parent == nil {
			root.children = append(root.children, n)
		}
	}
	// Step 1's map and its IDs are done with: the collector may take them
	// before the steps below allocate.
	ts.ids, ts.all = nil, nil
	// (3) prune dummies.
	prune(root)
	// (4) sort the top level by date, a dummy by its first child.
	for _, n := range root.children {
		if n.msg < 0 {
			slices.SortStableFunc(n.children, ts.before)
		}
	}
	slices.SortStableFunc(root.children, ts.before)
	// (5) gather threads of the same base subject.
	subject := func(n *tnode) string {
		if m := firstMsg(n); m != nil {
			return ts.subjects[m.msg]
		}
		return ""
	}
	reply := func(n *tnode) bool { return n.msg >= 0 && ts.reply[n.msg] }
	table := make(map[string]*tnode, len(root.children))
	for _, n := range root.children { // (5.B)
		s := subject(n)
		if s == "" {
			continue
		}
		old, ok := table[s]
		if !ok || old.msg >= 0 && (n.msg < 0 || reply(old) && !reply(n)) {
			table[s] = n
		}
	}
	top := slices.Clone(root.children)
	for _, n := range top { // (5.C)
		s := subject(n)
		if s == "" || n.removed {
			continue
		}
		old := table[s]
		if old == n {
			continue
		}
		switch {
		case old.msg < 0 && n.msg < 0:
			for _, c := range n.children {
				c.parent = old
			}
			old.children = append(old.children, n.children...)
			n.children = nil
			n.removed = true
		case old.msg < 0 || reply(n) && !reply(old):
			n.removed = true
			n.parent = old
			old.children = append(old.children, n)
		default:
			d := &tnode{msg: -1, children: []*tnode{old, n}}
			old.parent, n.parent = d, d
			n.removed = true
			i := slices.Index(root.children, old)
			root.children[i] = d
			table[s] = d
		}
	}
	root.children = slices.DeleteFunc(root.children, func(n *tnode) bool { return n.removed })
	// (6) sort every set of siblings by date, the deepest first.
	ts.sortTree(root)
	return root.children
}

// ancestorOrSelf reports whether a is p or one of p's ancestors: making
// p the parent of a would then make a loop. A node without children is
// no one's ancestor, so the usual case (replies arriving after what they
// answer) costs no walk up a long chain.
func ancestorOrSelf(a, p *tnode) bool {
	if len(a.children) == 0 {
		return a == p
	}
	for n := p; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

func link(p, c *tnode) {
	c.parent = p
	p.children = append(p.children, c)
}

func unlink(c *tnode) {
	p := c.parent
	p.children = slices.DeleteFunc(p.children, func(n *tnode) bool { return n == c })
	c.parent = nil
}

// bottomUp returns root's tree with every node after its descendants,
// without recursion: a reply chain may be as long as the mailbox.
func bottomUp(root *tnode) []*tnode {
	var order []*tnode
	stack := []*tnode{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, n)
		stack = append(stack, n.children...)
	}
	slices.Reverse(order)
	return order
}

// prune removes dummies without children and splices the children of
// the others in their place, except that at the top a dummy with several
// children stays (RFC 5256 §3, REFERENCES step 3).
func prune(root *tnode) {
	for _, n := range bottomUp(root) {
		pruneChildren(n, n == root)
	}
}

// pruneChildren is prune's step for n, whose children are pruned.
func pruneChildren(n *tnode, isRoot bool) {
	var out []*tnode
	for _, c := range n.children {
		switch {
		case c.msg >= 0:
			out = append(out, c)
		case len(c.children) == 0:
		case isRoot && len(c.children) > 1:
			out = append(out, c)
		default:
			for _, g := range c.children {
				g.parent = n
			}
			out = append(out, c.children...)
		}
	}
	n.children = out
}

func (ts *threadSet) sortTree(root *tnode) {
	for _, n := range bottomUp(root) {
		slices.SortStableFunc(n.children, ts.before)
	}
}

// Tokens of a thread-list (RFC 5256 §4) besides message positions (>= 0).
const (
	tokOpen  int32 = -1 // "("
	tokClose int32 = -2 // ")"
)

// threadTokens flattens thread trees into the tokens of their
// thread-lists: "(a b (c)(d))" is a parent of b, whose children are c and
// d; a dummy adds no number. At most 4 tokens a message: its number and
// parentheses, and the top-level dummies, which have two children or more.
func threadTokens(roots []*tnode) []int32 {
	var t []int32
	var members func(n *tnode)
	members = func(n *tnode) {
		for {
			if n.msg >= 0 {
				t = append(t, int32(n.msg))
				if len(n.children) == 0 {
					return
				}
			}
			if len(n.children) == 1 && n.msg >= 0 {
				n = n.children[0] // a chain: no recursion for long ones
				continue
			}
			for _, c := range n.children {
				t = append(t, tokOpen)
				members(c)
				t = append(t, tokClose)
			}
			return
		}
	}
	for _, r := range roots {
		t = append(t, tokOpen)
		members(r)
		t = append(t, tokClose)
	}
	return t
}

// appendThreads writes the thread-lists of tokens, num giving the number
// of a message position. A number is followed by a space unless it ends
// its list: then come its children, a number or a "(".
func appendThreads(b []byte, toks []int32, num func(int) uint32) []byte {
	for i, t := range toks {
		switch t {
		case tokOpen:
			b = append(b, '(')
		case tokClose:
			b = append(b, ')')
		default:
			b = strconv.AppendUint(b, uint64(num(int(t))), 10)
			if toks[i+1] != tokClose {
				b = append(b, ' ')
			}
		}
	}
	return b
}

// threadMemo is a selected mailbox's last THREAD: the algorithm, the UIDs
// it threaded (in sequence order) and the tokens of its answer. Thread
// keys and sent dates are fixed for the life of a UID and sibling ties go
// by sequence number, which follows UID order: the same algorithm over
// the same UIDs gives the same threads, so a repeated THREAD of an
// unchanged folder reads and links nothing. It costs 4 bytes a UID and at
// most 16 a message for the tokens (2 MB for 100,000 messages).
type threadMemo struct {
	alg  string
	uids []uint32
	toks []int32
}

// RFC 5256 §3 THREAD and UID THREAD.
func (c *conn) cmdThread(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Thread)
	alg, ok := threadAlgorithms[args.Algorithm]
	if !ok {
		return badf("unknown threading algorithm " + args.Algorithm)
	}
	if err := checkCharset(args.Search.Charset, false); err != nil {
		return err
	}
	if args.Search.ReturnGiven {
		return badf("THREAD takes no RETURN options")
	}
	hits, err := c.searchHits(&args.Search.Key)
	if err != nil {
		return err
	}
	b := append(c.out[:0], "* THREAD"...)
	if len(hits) > 0 {
		toks, err := c.threadHits(hits, alg)
		if err != nil {
			return err
		}
		b = append(b, ' ')
		b = appendThreads(b, toks, func(k int) uint32 { return c.number(cmd, hits[k]) })
	}
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
	c.ok(cmd, "", "THREAD completed")
	return nil
}

// threadAlgorithm is one of RFC 5256 §3's: links says it makes step 1's
// links as the records are read (threadSet.link), run does the rest.
type threadAlgorithm struct {
	name  string
	links bool
	run   func(*threadSet) []*tnode
}

var threadAlgorithms = map[string]threadAlgorithm{
	"ORDEREDSUBJECT": {"ORDEREDSUBJECT", false, (*threadSet).orderedSubject},
	"REFERENCES":     {"REFERENCES", true, (*threadSet).references},
}

// threadHits returns the tokens of the threads alg makes of the messages
// at hits (indexes in c.mbox.msgs, ascending), from the memo when it
// threaded the same UIDs.
func (c *conn) threadHits(hits []int, alg threadAlgorithm) ([]int32, error) {
	m := &c.mbox.lastThread
	if m.alg == alg.name && c.memoUsable(hits, m.uids) {
		return m.toks, nil
	}
	idates, err := c.internalDates(hits)
	if err != nil {
		return nil, err
	}
	n := len(hits)
	ts := &threadSet{subjects: make([]string, n), reply: make([]bool, n), dates: make([]int64, n)}
	if alg.links {
		// Sized for one ID a message: grown by doubling, the map of
		// 100,000 IDs left twice its size as garbage.
		ts.ids, ts.all = make(map[string]*tnode, n), make([]*tnode, 0, n)
	}
	err = c.eachSortRec(hits, func(k int, v *sortView) {
		ts.subjects[k], ts.reply[k], ts.dates[k] = string(v.strs[fieldSubject]), v.reply, v.sent(idates[k])
		if ts.ids != nil {
			ts.link(k, v)
		}
	})
	if err != nil {
		return nil, err
	}
	toks := threadTokens(alg.run(ts))
	*m = threadMemo{alg: alg.name, uids: c.uidsOf(hits), toks: toks}
	return toks, nil
}
