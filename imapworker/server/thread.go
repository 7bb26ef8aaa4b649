package server

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"

	"imapd/imapworker/imap"
)

// A thread tree lives in threadSet.nodes, its links being indexes there:
// 16 bytes a node, no slice of children, and no pointer for the
// collector to trace. nodes[rootNode] is the root whose children are the
// threads.
type tnode struct {
	msg    int32 // position in the threaded messages, -1 for a dummy
	parent int32 // nilNode for none
	child  int32 // the first child; the others follow by next
	next   int32 // the next sibling
}

const (
	nilNode  int32 = -1
	rootNode int32 = 0
)

// threadSet is what both algorithms work on: the searched messages, in
// sequence order, with their base subjects and sent dates, and for
// REFERENCES the nodes step 1 links as the records are read, so that no
// message's references are kept.
type threadSet struct {
	subjects arena // entry k is message k's base subject
	reply    []bool
	dates    []int64 // sent dates (RFC 5256 §2.2)
	nodes    []tnode
	// ids has an entry for each node, at the node's index: its
	// Message-ID, empty (and never found) for the root and for a message
	// whose own node has no ID.
	ids     strTable
	scratch []int32 // siblings being sorted
	tooBig  bool    // an arena would pass its 4 GiB
}

// newNode appends a node without links.
func (ts *threadSet) newNode(msg int32) int32 {
	ts.nodes = append(ts.nodes, tnode{msg: msg, parent: nilNode, child: nilNode, next: nilNode})
	return int32(len(ts.nodes) - 1)
}

// firstMsg is n's message, or for a dummy its first child's; -1 for a
// dummy without children.
func (ts *threadSet) firstMsg(n int32) int32 {
	for n >= 0 && ts.nodes[n].msg < 0 {
		n = ts.nodes[n].child
	}
	if n < 0 {
		return -1
	}
	return ts.nodes[n].msg
}

// before orders nodes a and b by sent date, then sequence number
// (RFC 5256 §2.2); a dummy sorts as its first child. Siblings never tie:
// their first messages differ.
func (ts *threadSet) before(a, b int32) int {
	ma, mb := ts.firstMsg(a), ts.firstMsg(b)
	if ma < 0 || mb < 0 {
		return int(a - b)
	}
	if d := cmp64(ts.dates[ma], ts.dates[mb]); d != 0 {
		return d
	}
	return int(ma - mb)
}

// link makes p the parent of c, which has none. Siblings are sorted
// before they are written (REFERENCES steps 4 and 6), so a child goes
// first, at no cost.
func (ts *threadSet) link(p, c int32) {
	ts.nodes[c].parent = p
	ts.nodes[c].next = ts.nodes[p].child
	ts.nodes[p].child = c
}

// unlink takes c from its parent's children.
func (ts *threadSet) unlink(c int32) {
	nodes := ts.nodes
	at := &nodes[nodes[c].parent].child
	for *at != c {
		at = &nodes[*at].next
	}
	*at = nodes[c].next
	nodes[c].parent, nodes[c].next = nilNode, nilNode
}

// ancestorOrSelf reports whether a is p or one of p's ancestors: making
// p the parent of a would then make a loop. A node without children is
// no one's ancestor, so the usual case (replies arriving after what they
// answer) costs no walk up a long chain.
func (ts *threadSet) ancestorOrSelf(a, p int32) bool {
	if ts.nodes[a].child < 0 {
		return a == p
	}
	for n := p; n >= 0; n = ts.nodes[n].parent {
		if n == a {
			return true
		}
	}
	return false
}

// postOrder calls visit for each node of root's tree after its
// descendants. It walks the links, without recursion (a reply chain may
// be as long as the mailbox) nor a list of the nodes; visit(n) may relink
// n's children, not n.
func (ts *threadSet) postOrder(root int32, visit func(n int32)) {
	n := root
	for {
		for ts.nodes[n].child >= 0 {
			n = ts.nodes[n].child
		}
		for {
			visit(n)
			if n == root {
				return
			}
			if s := ts.nodes[n].next; s >= 0 {
				n = s
				break
			}
			n = ts.nodes[n].parent
		}
	}
}

// sortChildren sorts n's children by date (RFC 5256 §2.2) through the
// reused scratch slice, and relinks them in that order.
func (ts *threadSet) sortChildren(n int32) {
	first := ts.nodes[n].child
	if first < 0 || ts.nodes[first].next < 0 {
		return
	}
	s := ts.children(n)
	slices.SortFunc(s, ts.before)
	ts.relink(n, s)
}

// children is n's children, in ts.scratch.
func (ts *threadSet) children(n int32) []int32 {
	k := 0
	for c := ts.nodes[n].child; c >= 0; c = ts.nodes[c].next {
		k++
	}
	if cap(ts.scratch) < k {
		ts.scratch = make([]int32, 0, k)
	}
	s := ts.scratch[:0]
	for c := ts.nodes[n].child; c >= 0; c = ts.nodes[c].next {
		s = append(s, c)
	}
	return s
}

// relink makes cs, in order, the children of n.
func (ts *threadSet) relink(n int32, cs []int32) {
	next := nilNode
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		ts.nodes[c].parent, ts.nodes[c].next = n, next
		next = c
	}
	ts.nodes[n].child = next
}

// RFC 5256 §3 THREAD=ORDEREDSUBJECT: messages sorted by base subject and
// sent date, one thread per subject, threads by their first message's
// date; the first message is the parent of all the others.
func (ts *threadSet) orderedSubject() {
	n := len(ts.dates)
	order := make([]int32, n)
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if d := bytes.Compare(ts.subjects.str(a), ts.subjects.str(b)); d != 0 {
			return d
		}
		if d := cmp64(ts.dates[a], ts.dates[b]); d != 0 {
			return d
		}
		return int(a - b)
	})
	// Message k is node k+1. The threads' first nodes are gathered at the
	// head of order, behind the messages still to be read.
	ts.nodes = make([]tnode, n+1)
	nodes := ts.nodes
	nodes[rootNode] = tnode{msg: -1, parent: nilNode, child: nilNode, next: nilNode}
	roots := order[:0]
	prev, tail := int32(-1), nilNode // the last message and its node
	for _, k := range order {
		nd := k + 1
		nodes[nd] = tnode{msg: k, parent: nilNode, child: nilNode, next: nilNode}
		if prev < 0 || !bytes.Equal(ts.subjects.str(prev), ts.subjects.str(k)) {
			roots = append(roots, nd)
		} else {
			// Children in order, the first after the thread's top.
			top := roots[len(roots)-1]
			nodes[nd].parent = top
			if tail == top {
				nodes[top].child = nd
			} else {
				nodes[tail].next = nd
			}
		}
		prev, tail = k, nd
	}
	slices.SortFunc(roots, ts.before)
	ts.relink(rootNode, roots)
}

// node is the node of a Message-ID, made on its first mention.
func (ts *threadSet) node(id []byte) int32 {
	e, made := ts.ids.intern(id)
	if made {
		ts.newNode(-1)
	}
	return e
}

// linkMsg is RFC 5256 §3 THREAD=REFERENCES step 1 for message k, whose
// record is v; messages come in sequence order. It reports whether
// step 5 may need k's subject: not when k's parent is a message, since
// step 1 never re-parents a node that has a parent, nor makes a message
// a dummy, and the later steps move only threads, so k is never first of
// a thread.
func (ts *threadSet) linkMsg(k int, v *sortView) bool {
	if !ts.ids.room(len(v.refs) + 2) {
		ts.tooBig = true
		return false
	}
	// (1.A) a message's own node: its Message-ID unless missing or
	// already used by a message before it.
	self := nilNode
	if id := v.strs[fieldMsgID]; len(id) > 0 {
		if self = ts.node(id); ts.nodes[self].msg >= 0 {
			self = nilNode
		}
	}
	if self < 0 {
		ts.ids.add(nil) // an entry for the node, never found
		self = ts.newNode(int32(k))
	} else {
		ts.nodes[self].msg = int32(k)
	}
	// Link the references in order; never re-parent, never loop. p ends
	// as the last reference's node.
	p := nilNode
	for j, ref := range v.refs {
		c := ts.node(ref)
		if j > 0 && ts.nodes[c].parent < 0 && !ts.ancestorOrSelf(c, p) {
			ts.link(p, c)
		}
		p = c
	}
	// (1.B) the last reference is the parent, whatever was before.
	if q := ts.nodes[self].parent; q >= 0 && q != p {
		ts.unlink(self)
	}
	if p >= 0 && ts.nodes[self].parent < 0 && !ts.ancestorOrSelf(self, p) {
		ts.link(p, self)
	}
	q := ts.nodes[self].parent
	return q < 0 || ts.nodes[q].msg < 0
}

// RFC 5256 §3 THREAD=REFERENCES, steps 2 to 6 (step 1 is linkMsg's).
func (ts *threadSet) references() {
	// (2) the parentless are the root's children.
	for n := int32(len(ts.nodes)) - 1; n > rootNode; n-- {
		if ts.nodes[n].parent < 0 {
			ts.link(rootNode, n)
		}
	}
	// Step 1's table and its IDs are done with: the collector may take
	// them before the steps below allocate, but for the slots, which
	// step 5 reuses.
	slots := ts.ids.index.slots
	ts.ids = strTable{}
	// (3) prune dummies.
	ts.postOrder(rootNode, ts.prune)
	// (4) sort the top level by date, a dummy by its first child.
	for n := ts.nodes[rootNode].child; n >= 0; n = ts.nodes[n].next {
		if ts.nodes[n].msg < 0 {
			ts.sortChildren(n)
		}
	}
	ts.sortChildren(rootNode)
	// (5) gather threads of the same base subject. top is the top level
	// in order. Threads of one subject are a class, named by the
	// position in top of its first (cls[i], -1 for no subject), found by
	// a table of their subjects made here: step 1 keeps none, since
	// most messages are not first in a thread.
	top := ts.children(rootNode)
	isMsg := func(n int32) bool { return ts.nodes[n].msg >= 0 }
	reply := func(n int32) bool { return isMsg(n) && ts.reply[ts.nodes[n].msg] }
	cls := make([]int32, len(top))
	holder := make([]int32, len(top)) // by class, the position of the thread others join
	clear(slots)
	index := hashIndex{slots: slots}
	if 4*len(top) > 3*len(slots) {
		index = newHashIndex(len(top))
	}
	seed := maphash.MakeSeed()
	for i, n := range top { // (5.B) a dummy, else a non-reply, else the first
		cls[i] = -1
		m := ts.firstMsg(n)
		if m < 0 || ts.subjects.empty(m) {
			continue
		}
		s := ts.subjects.str(m)
		h := maphash.Bytes(seed, s)
		j, slot := index.find(h, func(j int32) bool { return bytes.Equal(ts.subjects.str(ts.firstMsg(top[j])), s) })
		if j < 0 {
			j = int32(i)
			index.set(slot, h, j)
			holder[j] = j
		}
		cls[i] = j
		if old := top[holder[j]]; isMsg(old) && (!isMsg(n) || reply(old) && !reply(n)) {
			holder[j] = int32(i)
		}
	}
	index = hashIndex{}
	// (5.C) Each merged thread leaves top (nilNode). A holder comes
	// before the threads it takes a new dummy for: it is the first
	// non-reply, or the first if all are replies.
	for i, n := range top {
		j := cls[i]
		if j < 0 || holder[j] == int32(i) {
			continue
		}
		h := holder[j]
		old := top[h]
		switch {
		case !isMsg(old) && !isMsg(n):
			for c := ts.nodes[n].child; c >= 0; {
				next := ts.nodes[c].next
				ts.link(old, c)
				c = next
			}
			ts.nodes[n].child = nilNode
		case !isMsg(old) || reply(n) && !reply(old):
			ts.link(old, n)
		default:
			d := ts.newNode(-1)
			ts.link(d, old)
			ts.link(d, n)
			top[h] = d
		}
		top[i] = nilNode
	}
	top = slices.DeleteFunc(top, func(n int32) bool { return n < 0 })
	ts.relink(rootNode, top)
	ts.scratch = top
	// (6) sort every set of siblings by date, the deepest first.
	ts.postOrder(rootNode, ts.sortChildren)
}

// prune is REFERENCES step 3 for n, whose children are pruned: a dummy
// without children goes, and one with children leaves them to n, except
// that at the top a dummy with several children stays.
func (ts *threadSet) prune(n int32) {
	nodes := ts.nodes
	head, tail := nilNode, nilNode
	for c := nodes[n].child; c >= 0; {
		next := nodes[c].next
		first, last := c, c
		switch g := nodes[c].child; {
		case nodes[c].msg >= 0:
		case g < 0:
			c = next
			continue
		case n == rootNode && nodes[g].next >= 0:
		default:
			first = g
			for ; g >= 0; g = nodes[g].next {
				nodes[g].parent, last = n, g
			}
		}
		if tail < 0 {
			head = first
		} else {
			nodes[tail].next = first
		}
		tail, c = last, next
	}
	if tail >= 0 {
		nodes[tail].next = nilNode
	}
	nodes[n].child = head
}

// Tokens of a thread-list (RFC 5256 §4) besides message positions (>= 0).
const (
	tokOpen  int32 = -1 // "("
	tokClose int32 = -2 // ")"
)

// threadTokens flattens the root's trees into the tokens of their
// thread-lists: "(a b (c)(d))" is a parent of b, whose children are c and
// d; a dummy adds no number. At most 4 tokens a message: its number and
// parentheses, and the top-level dummies, which have two children or more.
// A first walk counts them, so that the memo keeps no spare capacity.
func threadTokens(ts *threadSet) []int32 {
	nodes := ts.nodes
	// A node's list is in parentheses unless it is its parent message's
	// only child: the next of a chain.
	paren := func(x int32) bool {
		p := &nodes[nodes[x].parent]
		return p.msg < 0 || p.child != x || nodes[x].next >= 0
	}
	// walk goes through the trees in order, by the links: no recursion
	// for long chains or deep trees.
	walk := func(tok func(int32)) {
		for x := nodes[rootNode].child; x >= 0; {
			if paren(x) {
				tok(tokOpen)
			}
			if m := nodes[x].msg; m >= 0 {
				tok(m)
			}
			if c := nodes[x].child; c >= 0 {
				x = c
				continue
			}
			for { // x and its ancestors without a next sibling end
				if paren(x) {
					tok(tokClose)
				}
				if s := nodes[x].next; s >= 0 {
					x = s
					break
				}
				if x = nodes[x].parent; x == rootNode {
					x = nilNode
					break
				}
			}
		}
	}
	n := 0
	walk(func(int32) { n++ })
	t := make([]int32, 0, n)
	walk(func(tok int32) { t = append(t, tok) })
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

// arena holds byte strings without a string (and its header) each:
// their bytes, length-prefixed, fill chunks that are never copied (the
// arena grows a chunk at a time, from 1 KiB doubling to arenaChunk), and
// at[e] is where entry e starts: chunk at[e]>>arenaBits, at offset
// at[e]&(arenaChunk-1). 4 bytes an entry besides its bytes and their
// length.
type arena struct {
	chunks [][]byte
	at     []uint32
}

// arenaChunk is the largest size of an arena's chunks; an entry larger
// than that has a chunk of its own.
const (
	arenaBits  = 16
	arenaChunk = 1 << arenaBits
)

// room reports whether entries more entries fit: each takes one chunk
// at most, and the chunks and entries are numbered in 16 and 31 bits (an
// arena of up to 4 GiB).
func (a *arena) room(entries int) bool {
	return len(a.chunks)+entries <= 1<<(32-arenaBits) && len(a.at)+entries < 1<<31-1
}

// add appends an entry of b.
func (a *arena) add(b []byte) int32 {
	var p [binary.MaxVarintLen64]byte
	pn := binary.PutUvarint(p[:], uint64(len(b)))
	k := len(a.chunks) - 1
	if k < 0 || cap(a.chunks[k])-len(a.chunks[k]) < pn+len(b) {
		size := 1 << 10
		if k >= 0 {
			size = min(2*cap(a.chunks[k]), arenaChunk)
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(pn+len(b), size)))
		k++
	}
	c := a.chunks[k]
	a.at = append(a.at, uint32(k)<<arenaBits|uint32(len(c)))
	a.chunks[k] = append(append(c, p[:pn]...), b...)
	return int32(len(a.at) - 1)
}

// str is entry e's bytes.
func (a *arena) str(e int32) []byte {
	at := a.at[e]
	c := a.chunks[at>>arenaBits][at&(arenaChunk-1):]
	n, k := binary.Uvarint(c)
	return c[k : k+int(n)]
}

// empty reports whether entry e is "".
func (a *arena) empty(e int32) bool {
	at := a.at[e]
	return a.chunks[at>>arenaBits][at&(arenaChunk-1)] == 0
}

// hashIndex finds entries (of an arena, or any numbering) by a 64-bit
// hash of their key: an open-addressed table whose slots hold the hash's
// upper half, which also picks the first slot probed, and the entry plus
// one (0 is a free slot). The caller compares the keys of every entry of
// a matching hash, so that two keys of one hash are two entries: an
// answer never depends on hashes not colliding. 8 bytes a slot, at most
// 3/4 of them used.
type hashIndex struct {
	slots []uint64
	used  int
}

// newHashIndex makes an index for about hint entries.
func newHashIndex(hint int) hashIndex {
	size := 16
	for size/4*3 < hint {
		size *= 2
	}
	return hashIndex{slots: make([]uint64, size)}
}

// find returns the entry of hash h whose key eq accepts, or -1 and the
// free slot for one: set it before the next find.
func (x *hashIndex) find(h uint64, eq func(e int32) bool) (int32, int) {
	if 4*x.used >= 3*len(x.slots) {
		x.grow()
	}
	h >>= 32
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return -1, int(i)
		}
		if s>>32 == h {
			if e := int32(uint32(s)) - 1; eq(e) {
				return e, 0
			}
		}
	}
}

// set puts entry e of hash h in the slot find gave.
func (x *hashIndex) set(slot int, h uint64, e int32) {
	x.slots[slot] = h>>32<<32 | uint64(e+1)
	x.used++
}

// grow doubles the slots: the hash half each keeps is where it goes.
func (x *hashIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := s >> 32 & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// strTable interns byte strings: an arena and an index of its entries
// (hash/maphash, a seed per command).
type strTable struct {
	arena
	seed  maphash.Seed
	index hashIndex
}

// newStrTable makes a table for about hint strings.
func newStrTable(hint int) strTable {
	return strTable{arena{at: make([]uint32, 0, hint)}, maphash.MakeSeed(), newHashIndex(hint)}
}

// intern is b's entry, made if b has none.
func (t *strTable) intern(b []byte) (e int32, made bool) {
	h := maphash.Bytes(t.seed, b)
	e, slot := t.index.find(h, func(e int32) bool { return bytes.Equal(t.str(e), b) })
	if e >= 0 {
		return e, false
	}
	e = t.add(b)
	t.index.set(slot, h, e)
	return e, true
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
		// Sized once: a number has at most the digits of the last.
		last := c.number(cmd, hits[len(hits)-1])
		b = slices.Grow(b, len(toks)+len(hits)*len(strconv.FormatUint(uint64(last), 10))+3)
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
// links as the records are read (threadSet.linkMsg), run does the rest,
// leaving the threads under nodes[rootNode].
type threadAlgorithm struct {
	name  string
	links bool
	run   func(*threadSet)
}

var threadAlgorithms = map[string]threadAlgorithm{
	"ORDEREDSUBJECT": {"ORDEREDSUBJECT", false, (*threadSet).orderedSubject},
	"REFERENCES":     {"REFERENCES", true, (*threadSet).references},
}

// errThreadTooBig is a THREAD whose Message-IDs outgrow strTable (4 GiB).
var errThreadTooBig = no("LIMIT", "too many message IDs to thread")

// threadHits returns the tokens of the threads alg makes of the messages
// at hits (indexes in c.mbox.msgs, ascending), from the memo when it
// threaded the same UIDs.
func (c *conn) threadHits(hits []int, alg threadAlgorithm) ([]int32, error) {
	m := &c.mbox.lastThread
	if m.alg == alg.name && c.memoUsable(hits, m.uids) {
		return m.toks, nil
	}
	n := len(hits)
	ts := &threadSet{subjects: arena{at: make([]uint32, 0, n)}, reply: make([]bool, n), dates: make([]int64, n)}
	if alg.links {
		// Sized for one ID a message.
		ts.ids, ts.nodes = newStrTable(n+1), make([]tnode, 0, n+1)
		ts.ids.add(nil)
		ts.newNode(-1) // the root
	}
	var undated []int32 // positions in hits of messages without a Date
	err := c.eachSortRec(hits, func(k int, v *sortView) {
		if ts.tooBig || !ts.subjects.room(1) {
			ts.tooBig = true
			return
		}
		ts.reply[k] = v.reply
		if v.hasDate {
			ts.dates[k] = v.date
		} else {
			undated = append(undated, int32(k))
		}
		subject := v.strs[fieldSubject]
		if alg.links && !ts.linkMsg(k, v) {
			subject = nil
		}
		ts.subjects.add(subject)
	})
	if err != nil {
		return nil, err
	}
	if ts.tooBig {
		return nil, errThreadTooBig
	}
	// RFC 5256 §2.2: without a Date, the internal date. Asked for those
	// messages only: a first THREAD of a large folder stats no file for
	// dates it does not use.
	if len(undated) > 0 {
		at := make([]int, len(undated))
		for i, k := range undated {
			at[i] = hits[k]
		}
		idates, err := c.internalDates(at)
		if err != nil {
			return nil, err
		}
		for i, k := range undated {
			ts.dates[k] = idates[i]
		}
	}
	alg.run(ts)
	toks := threadTokens(ts)
	*m = threadMemo{alg: alg.name, uids: c.uidsOf(hits), toks: toks}
	return toks, nil
}
