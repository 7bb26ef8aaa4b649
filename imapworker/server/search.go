package server

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// searchMsg is one message under test; its content is read and parsed on
// demand, as little of it as the keys need.
type searchMsg struct {
	c   *conn
	i   int
	m   *store.MessageInfo
	buf *msgBuf // holds the message read, reused across messages
	// dates are the internal dates of all selected messages when the
	// keys compare every message's (see needsDates), else nil.
	dates []time.Time
	root  *mime.Part // whole message
	head  *mime.Part // header block only
	sh    *mime.Part // the cached shFields
	err   error

	done, hdone, shdone bool
}

func (sm *searchMsg) part() *mime.Part {
	if !sm.done {
		sm.done = true
		cnt, err := sm.c.mbox.h.Open(sm.m.UID)
		if err != nil {
			sm.err = err
			return nil
		}
		body, err := sm.buf.readPruned(cnt)
		cnt.Close()
		if err != nil {
			sm.err = err
			return nil
		}
		// The buffer head may point into is reused: forget head.
		sm.root, sm.head = mime.Parse(body), nil
	}
	return sm.root
}

// reset points sm at message i, forgetting what was read of the one
// before, its bytes with it (the last one's go with the caller's
// deferred buf.done); cheap when nothing was read (a flag search of
// 100,000 messages).
func (sm *searchMsg) reset(i int, m *store.MessageInfo) {
	sm.i, sm.m = i, m
	if sm.done || sm.hdone || sm.shdone || sm.err != nil {
		sm.root, sm.head, sm.sh, sm.err = nil, nil, nil, nil
		sm.done, sm.hdone, sm.shdone = false, false, false
		sm.buf.done()
	}
}

// date returns the message's internal date.
func (sm *searchMsg) date() time.Time {
	if sm.dates != nil {
		return sm.dates[sm.i]
	}
	d, err := sm.c.mbox.h.InternalDates([]uint32{sm.m.UID})
	if err != nil {
		sm.err = err
		return time.Time{}
	}
	return d[0]
}

// header returns a part whose header is the message's.
func (sm *searchMsg) header() *mime.Part {
	if sm.root != nil || sm.done {
		return sm.root
	}
	if !sm.hdone {
		sm.hdone = true
		cnt, err := sm.c.mbox.h.Open(sm.m.UID)
		if err != nil {
			sm.err = err
			return nil
		}
		hdr, err := readHeader(cnt, sm.buf)
		cnt.Close()
		if err != nil {
			sm.err = err
			return nil
		}
		sm.head = mime.Parse(hdr)
	}
	return sm.head
}

// shPart returns a part whose header has at least the message's shFields,
// from the store's cache when it has them, caching them when not.
func (sm *searchMsg) shPart() *mime.Part {
	if sm.root != nil {
		return sm.root
	}
	if sm.head != nil {
		return sm.head
	}
	if !sm.shdone {
		sm.shdone = true
		if v, ok := sm.c.mbox.h.Cached(sm.m.UID, shKey); ok {
			sm.sh = mime.Parse(v)
			return sm.sh
		}
		p := sm.header()
		if p != nil {
			sm.c.cacheSearchHeader(sm.m.UID, p)
		}
		return p
	}
	if sm.sh != nil {
		return sm.sh
	}
	return sm.header()
}

type matchFunc func(*searchMsg) bool

// sameDay compares the calendar date of t (in its own zone, RFC 9051
// §6.4.4 "disregarding time and timezone") with d (midnight UTC).
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// compileKey turns a search key into a matcher, compiling text needles
// once; a text key the index answered (plan, may be nil) reads only the
// messages it could not answer.
func (c *conn) compileKey(k *imap.SearchKey, plan textPlan) (matchFunc, error) {
	s := c.mbox
	switch k.Op {
	case imap.SearchAnd:
		var fs []matchFunc
		for i := range k.Children {
			f, err := c.compileKey(&k.Children[i], plan)
			if err != nil {
				return nil, err
			}
			fs = append(fs, f)
		}
		if len(fs) == 1 {
			return fs[0], nil // a command's usual single key
		}
		return func(m *searchMsg) bool {
			for _, f := range fs {
				if !f(m) {
					return false
				}
			}
			return true
		}, nil
	case imap.SearchOr:
		if len(k.Children) != 2 {
			return nil, badf("OR needs two keys")
		}
		a, err := c.compileKey(&k.Children[0], plan)
		if err != nil {
			return nil, err
		}
		b, err := c.compileKey(&k.Children[1], plan)
		if err != nil {
			return nil, err
		}
		return func(m *searchMsg) bool { return a(m) || b(m) }, nil
	case imap.SearchNot:
		if len(k.Children) != 1 {
			return nil, badf("NOT needs a key")
		}
		a, err := c.compileKey(&k.Children[0], plan)
		if err != nil {
			return nil, err
		}
		return func(m *searchMsg) bool { return !a(m) }, nil
	case imap.SearchAll:
		return func(*searchMsg) bool { return true }, nil
	case imap.SearchSeq, imap.SearchUID:
		if k.Seq.SearchRes {
			saved := map[uint32]bool{}
			for _, u := range s.saved {
				saved[u] = true
			}
			return func(m *searchMsg) bool { return saved[m.m.UID] }, nil
		}
		set := k.Seq
		if k.Op == imap.SearchUID {
			max := s.maxUID()
			return func(m *searchMsg) bool { return set.Contains(m.m.UID, max) }, nil
		}
		n := uint32(len(s.msgs))
		return func(m *searchMsg) bool { return set.Contains(uint32(m.i+1), n) }, nil
	case imap.SearchFlag, imap.SearchNoFlag:
		want := k.Op == imap.SearchFlag
		flag := k.Flag
		if strings.EqualFold(flag, `\Recent`) {
			return func(m *searchMsg) bool { return s.recent.has(m.m.UID) == want }, nil
		}
		if sf := store.ParseFlag(flag); sf != 0 {
			return func(m *searchMsg) bool { return (m.m.Flags.System&sf != 0) == want }, nil
		}
		return func(m *searchMsg) bool { return m.m.Flags.HasKeyword(flag) == want }, nil
	case imap.SearchNew:
		return func(m *searchMsg) bool { return s.recent.has(m.m.UID) && m.m.Flags.System&store.FlagSeen == 0 }, nil
	case imap.SearchOld:
		return func(m *searchMsg) bool { return !s.recent.has(m.m.UID) }, nil
	case imap.SearchBefore, imap.SearchOn, imap.SearchSince:
		d, op := dayOf(k.Date), k.Op
		return func(m *searchMsg) bool { return cmpDay(dayOf(m.date()), d, op) }, nil
	case imap.SearchSentBefore, imap.SearchSentOn, imap.SearchSentSince:
		d := dayOf(k.Date)
		op := map[imap.SearchOp]imap.SearchOp{imap.SearchSentBefore: imap.SearchBefore, imap.SearchSentOn: imap.SearchOn, imap.SearchSentSince: imap.SearchSince}[k.Op]
		return func(m *searchMsg) bool {
			p := m.shPart()
			if p == nil {
				return false
			}
			t, ok := mime.ParseDate(p.Header.Get("Date"))
			if !ok {
				// RFC 9051 §6.4.4: no usable Date: use the internal date.
				t = m.date()
			}
			return cmpDay(dayOf(t), d, op)
		}, nil
	case imap.SearchLarger:
		n := k.Size
		return func(m *searchMsg) bool { return m.m.Size > n }, nil
	case imap.SearchSmaller:
		n := k.Size
		return func(m *searchMsg) bool { return m.m.Size < n }, nil
	case imap.SearchOlder, imap.SearchYounger:
		limit := time.Now().Add(-time.Duration(k.Size) * time.Second)
		older := k.Op == imap.SearchOlder
		return func(m *searchMsg) bool { return m.date().Before(limit) == older }, nil
	case imap.SearchHeader:
		mt := mime.NewMatcher(k.Value)
		field := k.Field
		if isAddressField(field) {
			return func(m *searchMsg) bool {
				p := m.shPart()
				return p != nil && mt.AddressContains(p, field)
			}, nil
		}
		if isSHField(field) {
			return plan.answered(k, func(m *searchMsg) bool {
				p := m.shPart()
				return p != nil && mt.HeaderContains(p, field)
			}), nil
		}
		return plan.answered(k, func(m *searchMsg) bool {
			p := m.header()
			return p != nil && mt.HeaderContains(p, field)
		}), nil
	case imap.SearchBody:
		mt := mime.NewMatcher(k.Value)
		return plan.answered(k, func(m *searchMsg) bool {
			p := m.part()
			return p != nil && mt.BodyContains(p)
		}), nil
	case imap.SearchText:
		mt := mime.NewMatcher(k.Value)
		return plan.answered(k, func(m *searchMsg) bool {
			p := m.part()
			return p != nil && mt.TextContains(p)
		}), nil
	case imap.SearchModSeq:
		return c.compileModSeq(k)
	case imap.SearchEmailID, imap.SearchThreadID, imap.SearchSavedBefore, imap.SearchSavedOn, imap.SearchSavedSince,
		imap.SearchSaveDateSupported:
		return c.compileObjectKey(k), nil
	}
	return nil, badf("unsupported search key")
}

// searchWorkers bounds the goroutines a body SEARCH uses; each holds one
// message at a time. searchChunk is how many messages a worker takes at once.
const (
	searchWorkers = 4
	searchChunk   = 64
)

func searchParallelism() int { return min(runtime.GOMAXPROCS(0), searchWorkers) }

// needsBody reports whether k reads message bodies (BODY, TEXT), the keys
// worth spreading over several cores.
func needsBody(k *imap.SearchKey) bool {
	return anyKey(k, imap.SearchBody, imap.SearchText)
}

// needsDates reports whether k compares every message's internal date:
// they are then asked of the store in one batch (the SENT* keys need one
// only for a message without a Date field).
func needsDates(k *imap.SearchKey) bool {
	return anyKey(k, imap.SearchBefore, imap.SearchOn, imap.SearchSince, imap.SearchOlder, imap.SearchYounger)
}

// anyKey reports whether k or a key within it is one of ops.
func anyKey(k *imap.SearchKey, ops ...imap.SearchOp) bool {
	if slices.Contains(ops, k.Op) {
		return true
	}
	for i := range k.Children {
		if anyKey(&k.Children[i], ops...) {
			return true
		}
	}
	return false
}

// searchParallel runs match over the selected messages with workers
// goroutines. match and what it reads (the session's message list, the
// store handle) are only read meanwhile.
// errs maps the messages that could not be read to why: few, so a map
// rather than 16 bytes for each message.
func (c *conn) searchParallel(match matchFunc, dates []time.Time, workers int, only []int, n int) (hit []bool, errs map[int]error) {
	s := c.mbox
	hit = make([]bool, len(s.msgs))
	errs = map[int]error{}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var buf msgBuf
			defer buf.done()
			sm := &searchMsg{c: c, buf: &buf, dates: dates}
			for {
				lo := int(next.Add(searchChunk)) - searchChunk
				if lo >= n {
					return
				}
				for j := lo; j < min(lo+searchChunk, n); j++ {
					i := msgAt(only, j)
					sm.reset(i, &s.msgs[i])
					hit[i] = match(sm)
					if sm.err != nil {
						mu.Lock()
						errs[i] = sm.err
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	return hit, errs
}

func cmpDay(t, d time.Time, op imap.SearchOp) bool {
	switch op {
	case imap.SearchBefore:
		return t.Before(d)
	case imap.SearchOn:
		return t.Equal(d)
	default:
		return !t.Before(d)
	}
}

// RFC 9051 §6.4.4 SEARCH, RFC 4731 ESEARCH, RFC 5182 SEARCHRES, RFC 9394
// PARTIAL.
func (c *conn) cmdSearch(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Search)
	if c.utf8 && args.Charset != "" {
		return badf("no CHARSET after ENABLE UTF8=ACCEPT") // RFC 6855 §3
	}
	if err := checkCharset(args.Charset, true); err != nil {
		return err
	}
	ret, err := parseReturn(args)
	if err != nil {
		return err
	}
	if ret.update && c.mbox.contextTaken(cmd.Tag) {
		return badf("tag already names an updating search") // RFC 5267 §4.3
	}
	hits, err := c.resultHits(&args.Key, ret)
	if err != nil {
		return err
	}
	modseq := c.searchModSeqResult(&args.Key, hits)
	if ret.given || c.rev2 {
		ret.all = ret.all || !ret.given // rev2: SEARCH answers ESEARCH ALL
		c.writeESearch(cmd, ret, hits, modseq)
		if ret.update {
			if err := c.startContext(cmd, &args.Key, nil, hits); err != nil {
				return err
			}
		}
	} else {
		c.mbox.save(ret, hits)
		c.writeNumbers(cmd, "* SEARCH", hits, modseq)
	}
	c.ok(cmd, "", "SEARCH completed")
	return nil
}

// searchHits returns the indexes in c.mbox.msgs of the messages key
// matches, ascending.
func (c *conn) searchHits(key *imap.SearchKey) ([]int, error) {
	plan, only, narrowed := c.planText(key) // search_fts.go
	match, err := c.compileKey(key, plan)
	if err != nil {
		return nil, err
	}
	s := c.mbox
	var hits []int
	var failed error
	var dates []time.Time
	if needsDates(key) && len(s.msgs) > 0 {
		if dates, err = s.h.InternalDates(s.uids()); err != nil {
			return nil, err
		}
	}
	n := len(s.msgs)
	if narrowed {
		n = len(only)
	}
	if workers := searchParallelism(); workers > 1 && n >= 2*searchChunk && needsBody(key) {
		hit, errs := c.searchParallel(match, dates, workers, only, n)
		hits = marked(hit)
		for i := range s.msgs {
			if err := errs[i]; err != nil && failed == nil && !s.ghosts[s.msgs[i].UID] {
				failed = err
			}
		}
	} else {
		var buf msgBuf
		defer buf.done()
		// One searchMsg for all: match is a func value, so each &sm
		// would otherwise be a heap allocation per message.
		sm := &searchMsg{c: c, buf: &buf, dates: dates}
		hit := make([]bool, n) // then listed by marked, sized
		for j := range n {
			i := msgAt(only, j)
			sm.reset(i, &s.msgs[i])
			hit[j] = match(sm)
			if sm.err != nil && failed == nil && !s.ghosts[sm.m.UID] {
				failed = sm.err
			}
		}
		hits = marked(hit)
		if only != nil {
			for k, j := range hits {
				hits[k] = only[j]
			}
		}
	}
	return hits, failed
}

// searchMemo is a selected mailbox's last paged search: its key and its
// result, made when the view's gen was gen. A client paging with RETURN
// (PARTIAL) asks the same key again for the next window (RFC 9394 §3.1);
// while the view has not changed the result is the same, and the next
// page only takes another window of it. It costs 8 bytes a hit.
type searchMemo struct {
	key  *imap.SearchKey
	gen  uint64
	hits []int
}

// resultHits is searchHits for a command with the RETURN options r; for a
// PARTIAL window, from the memo when it is of the same key over the same
// view. Keys that name "$" or count back from now (OLDER, YOUNGER) are
// searched each time.
func (c *conn) resultHits(key *imap.SearchKey, r retOpts) ([]int, error) {
	if r.partial == nil {
		return c.searchHits(key)
	}
	s := c.mbox
	m := &s.lastSearch
	if m.key != nil && m.gen == s.gen && len(s.ghosts) == 0 && sameKey(m.key, key) {
		return m.hits, nil
	}
	hits, err := c.searchHits(key)
	if err != nil || anyKey(key, imap.SearchOlder, imap.SearchYounger) || usesSaved(key) {
		return hits, err
	}
	*m = searchMemo{key: key, gen: s.gen, hits: hits}
	return hits, nil
}

// usesSaved reports whether k or a key within it is "$" (RFC 5182).
func usesSaved(k *imap.SearchKey) bool {
	if k.Seq.SearchRes {
		return true
	}
	return slices.ContainsFunc(k.Children, func(c imap.SearchKey) bool { return usesSaved(&c) })
}

// sameKey reports whether a and b are the same search key.
func sameKey(a, b *imap.SearchKey) bool {
	if a.Op != b.Op || a.Flag != b.Flag || !a.Date.Equal(b.Date) || a.Size != b.Size || a.Field != b.Field ||
		a.Value != b.Value || a.Seq.SearchRes != b.Seq.SearchRes || !slices.Equal(a.Seq.Ranges, b.Seq.Ranges) ||
		len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if !sameKey(&a.Children[i], &b.Children[i]) {
			return false
		}
	}
	return true
}
