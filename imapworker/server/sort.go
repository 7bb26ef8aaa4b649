package server

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// sortRec is what SORT and THREAD need of one message, computed once from
// its header and kept in the store's cache under skKey, so that a
// repeated SORT or THREAD reads no message
// (docs/design.md#sorting-threading-and-search-views).
type sortRec struct {
	date    int64 // sent date, Unix seconds, when hasDate (RFC 5256 §2.2)
	hasDate bool
	reply   bool // the subject is a reply or forward (RFC 5256 §3, REFERENCES)
	// Collation keys (mime.Collate): base subject, first addr-mailbox of
	// From, To, Cc, and the DISPLAY values of From and To (RFC 5957).
	subject, from, to, cc, dfrom, dto string
	msgID                             string   // first valid Message-ID, "" if none
	refs                              []string // References, else the first In-Reply-To ID
}

// skKey names the cached sortRec; skVersion starts its encoding, so that
// a change of the rules makes old records misses, not wrong answers.
const (
	skKey     = "sk"
	skVersion = 1
	// maxRefs bounds the references kept of one message: the first and
	// the last ones, which are what threading relies on most.
	maxRefs = 64
)

// newSortRec computes a message's sort and thread keys from its header.
func newSortRec(h *mime.Header) sortRec {
	var r sortRec
	if v, ok := h.Lookup("Date"); ok {
		if t, ok := mime.ParseDate(v); ok {
			r.date, r.hasDate = t.Unix(), true
		}
	}
	base, reply := mime.BaseSubject(h.Get("Subject"))
	r.subject, r.reply = mime.Collate(base), reply
	from, to := h.Get("From"), h.Get("To")
	r.from = mime.Collate(mime.FirstMailbox(from))
	r.to = mime.Collate(mime.FirstMailbox(to))
	r.cc = mime.Collate(mime.FirstMailbox(h.Get("Cc")))
	r.dfrom = mime.Collate(mime.DisplayName(from))
	r.dto = mime.Collate(mime.DisplayName(to))
	if ids := mime.MessageIDs(h.Get("Message-ID")); len(ids) > 0 {
		r.msgID = ids[0]
	}
	// RFC 5256 §3 REFERENCES: the References IDs; without a valid one,
	// the first valid In-Reply-To ID.
	r.refs = mime.MessageIDs(strings.Join(h.Values("References"), " "))
	if len(r.refs) == 0 {
		if ids := mime.MessageIDs(h.Get("In-Reply-To")); len(ids) > 0 {
			r.refs = ids[:1]
		}
	}
	if len(r.refs) > maxRefs {
		r.refs = append(r.refs[:1], r.refs[len(r.refs)-maxRefs+1:]...)
	}
	return r
}

func (r *sortRec) strs() []*string {
	return []*string{&r.subject, &r.from, &r.to, &r.cc, &r.dfrom, &r.dto, &r.msgID}
}

// encode is [version][flags][date varint][7 strings][refs], strings and
// refs length-prefixed with uvarints.
func (r *sortRec) encode() []byte {
	b := []byte{skVersion, 0}
	if r.hasDate {
		b[1] |= 1
	}
	if r.reply {
		b[1] |= 2
	}
	b = binary.AppendVarint(b, r.date)
	for _, s := range r.strs() {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.refs)))
	for _, s := range r.refs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Fields of a sortRec, in the order of strs.
const (
	fieldSubject = iota
	fieldFrom
	fieldTo
	fieldCc
	fieldDisplayFrom
	fieldDisplayTo
	fieldMsgID
	nFields
)

// sortField is the field a string sort key compares, -1 for the others.
func sortField(k imap.SortKey) int {
	switch k {
	case imap.SortSubject:
		return fieldSubject
	case imap.SortFrom:
		return fieldFrom
	case imap.SortTo:
		return fieldTo
	case imap.SortCc:
		return fieldCc
	case imap.SortDisplayFrom:
		return fieldDisplayFrom
	case imap.SortDisplayTo:
		return fieldDisplayTo
	}
	return -1
}

// sortView is a cached sortRec read in place: its strings are views of
// the record's bytes, valid until the next record is read. A command
// copies out only the fields it keeps, so a SORT of 100,000 messages
// holds one column of strings, not every message's record.
type sortView struct {
	date    int64
	hasDate bool
	reply   bool
	strs    [nFields][]byte
	refs    [][]byte
}

// sent is the message's sent date (RFC 5256 §2.2): its Date, else its
// internal date.
func (v *sortView) sent(idate int64) int64 {
	if v.hasDate {
		return v.date
	}
	return idate
}

// decode reads encode's record b into v; false for a record it cannot
// read.
func (v *sortView) decode(b []byte) bool {
	if len(b) < 2 || b[0] != skVersion {
		return false
	}
	v.hasDate, v.reply = b[1]&1 != 0, b[1]&2 != 0
	b = b[2:]
	d, n := binary.Varint(b)
	if n <= 0 {
		return false
	}
	v.date, b = d, b[n:]
	str := func() ([]byte, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, false
		}
		s := b[n : n+int(l)]
		b = b[n+int(l):]
		return s, true
	}
	var ok bool
	for i := range v.strs {
		if v.strs[i], ok = str(); !ok {
			return false
		}
	}
	nr, n := binary.Uvarint(b)
	if n <= 0 || nr > maxRefs {
		return false
	}
	b = b[n:]
	v.refs = v.refs[:0]
	for range nr {
		s, ok := str()
		if !ok {
			return false
		}
		v.refs = append(v.refs, s)
	}
	return len(b) == 0
}

// eachSortRec calls visit with the record of each message at hits
// (indexes in c.mbox.msgs), in order, from the cache; the records it
// lacks it first computes from the messages' headers, in parallel, and
// caches. A message expunged meanwhile is visited with an empty record.
func (c *conn) eachSortRec(hits []int, visit func(k int, v *sortView)) error {
	s := c.mbox
	var v sortView
	var miss []int // positions in hits; those from miss[0] on are visited later
	for k, i := range hits {
		if b, ok := s.h.Cached(s.msgs[i].UID, skKey); ok && v.decode(b) {
			if len(miss) == 0 {
				visit(k, &v)
			}
			continue
		}
		miss = append(miss, k)
	}
	if len(miss) == 0 {
		return nil
	}
	failed := c.cacheSortRecs(hits, miss)
	var buf msgBuf
	defer buf.done()
	for k := miss[0]; k < len(hits); k++ {
		uid := s.msgs[hits[k]].UID
		b, ok := s.h.Cached(uid, skKey)
		if !ok || !v.decode(b) {
			// Not kept by the cache: read again, or an empty record.
			v = sortView{}
			if r, err := c.readSortRec(uid, &buf); err == nil {
				v.decode(r.encode())
			}
		}
		visit(k, &v)
	}
	return failed
}

// cacheSortRecs computes and caches the records of the messages at
// hits[k] for each k of miss.
func (c *conn) cacheSortRecs(hits, miss []int) error {
	s := c.mbox
	workers := 1
	if len(miss) >= 2*searchChunk {
		workers = searchParallelism()
	}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed error
	)
	for range workers {
		wg.Go(func() {
			var buf msgBuf
			defer buf.done()
			for {
				lo := int(next.Add(searchChunk)) - searchChunk
				if lo >= len(miss) {
					return
				}
				for _, k := range miss[lo:min(lo+searchChunk, len(miss))] {
					uid := s.msgs[hits[k]].UID
					r, err := c.readSortRec(uid, &buf)
					if err != nil {
						if !s.ghosts[uid] && err != store.ErrExpunged {
							mu.Lock()
							failed = err
							mu.Unlock()
						}
						continue
					}
					s.h.SetCached(uid, skKey, r.encode())
				}
			}
		})
	}
	wg.Wait()
	return failed
}

// readSortRec reads a message's header and computes its sortRec.
func (c *conn) readSortRec(uid uint32, buf *msgBuf) (sortRec, error) {
	cnt, err := c.mbox.h.Open(uid)
	if err != nil {
		return sortRec{}, err
	}
	defer cnt.Close()
	hdr, err := readHeader(cnt, buf)
	if err != nil {
		return sortRec{}, err
	}
	return newSortRec(&mime.Parse(hdr).Header), nil
}

// internalDates returns the internal dates of the messages at hits, in
// Unix seconds.
func (c *conn) internalDates(hits []int) ([]int64, error) {
	uids := make([]uint32, len(hits))
	for k, i := range hits {
		uids[k] = c.mbox.msgs[i].UID
	}
	ds, err := c.mbox.h.InternalDates(uids)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(ds))
	for k, d := range ds {
		out[k] = unixOrZero(d)
	}
	return out, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// sortKeys are the keys crit compares of the messages at hits: for each
// string field crit names, that column only.
type sortKeys struct {
	hits          []int
	strs          [nFields][]string
	idates, sdate []int64
	msgs          []store.MessageInfo
}

// keysFor reads the keys crit needs of the messages at hits: cached
// records, internal dates, sizes.
func (c *conn) keysFor(hits []int, crit []imap.SortCriterion) (*sortKeys, error) {
	k := &sortKeys{hits: hits, msgs: c.mbox.msgs}
	var needRecs, needIDates, needSent bool
	for _, cr := range crit {
		switch cr.Key {
		case imap.SortArrival:
			needIDates = true
		case imap.SortSize:
		case imap.SortDate:
			needIDates, needRecs, needSent = true, true, true
		default:
			needRecs = true
			if f := sortField(cr.Key); k.strs[f] == nil {
				k.strs[f] = make([]string, len(hits))
			}
		}
	}
	var err error
	if needIDates {
		if k.idates, err = c.internalDates(hits); err != nil {
			return nil, err
		}
	}
	if needSent {
		k.sdate = make([]int64, len(hits))
	}
	if needRecs {
		err = c.eachSortRec(hits, func(i int, v *sortView) {
			for f, col := range k.strs {
				if col != nil {
					col[i] = string(v.strs[f])
				}
			}
			if needSent {
				k.sdate[i] = v.sent(k.idates[i])
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

// cmp orders the messages at positions a and b of k.hits by crit (RFC
// 5256 §3): each criterion in turn, REVERSE reversing only its own, and
// the sequence number last.
func (k *sortKeys) cmp(crit []imap.SortCriterion, a, b int) int {
	for _, cr := range crit {
		var d int
		switch cr.Key {
		case imap.SortArrival:
			d = cmp64(k.idates[a], k.idates[b])
		case imap.SortDate:
			d = cmp64(k.sdate[a], k.sdate[b])
		case imap.SortSize:
			d = cmp64(k.msgs[k.hits[a]].Size, k.msgs[k.hits[b]].Size)
		default:
			col := k.strs[sortField(cr.Key)]
			d = strings.Compare(col[a], col[b])
		}
		if cr.Reverse {
			d = -d
		}
		if d != 0 {
			return d
		}
	}
	return k.hits[a] - k.hits[b] // the sequence number
}

// sortMemo is a selected mailbox's last SORT: the criteria, the UIDs it
// sorted (in sequence order) and their order as positions among them. The
// keys of a UID never change (header, internal date and size are fixed
// for the life of a UID) and ties go by sequence number, which follows
// UID order: the same criteria over the same UIDs give the same order, so
// a client sorting an unchanged folder again (paging, refreshing) gets it
// without a re-sort.
type sortMemo struct {
	crit  string
	uids  []uint32
	order []int32
}

func critKey(crit []imap.SortCriterion) string {
	var b strings.Builder
	for _, cr := range crit {
		fmt.Fprintf(&b, "%d:%t,", cr.Key, cr.Reverse)
	}
	return b.String()
}

// sortHits orders hits (ascending indexes) by crit.
func (c *conn) sortHits(hits []int, crit []imap.SortCriterion) ([]int, error) {
	if len(hits) < 2 {
		return hits, nil
	}
	m, key := &c.mbox.lastSort, critKey(crit)
	out := make([]int, len(hits))
	if m.crit == key && c.memoUsable(hits, m.uids) {
		for i, o := range m.order {
			out[i] = hits[o]
		}
		return out, nil
	}
	k, err := c.keysFor(hits, crit)
	if err != nil {
		return nil, err
	}
	order := make([]int32, len(hits))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return k.cmp(crit, int(a), int(b)) })
	for i, o := range order {
		out[i] = hits[o]
	}
	*m = sortMemo{crit: key, uids: c.uidsOf(hits), order: order}
	return out, nil
}

// memoUsable reports whether a memo made of the messages uids serves the
// messages at hits: they are the same UIDs, and none is expunged
// elsewhere (a ghost's header may no longer be readable).
func (c *conn) memoUsable(hits []int, uids []uint32) bool {
	if len(hits) != len(uids) || len(c.mbox.ghosts) > 0 {
		return false
	}
	for i, h := range hits {
		if c.mbox.msgs[h].UID != uids[i] {
			return false
		}
	}
	return true
}

// isAddressField reports whether SEARCH matches the field's addresses
// (FROM, TO, CC, BCC, RFC 9051 §6.4.4), not only its text.
func isAddressField(name string) bool {
	switch strings.ToUpper(name) {
	case "FROM", "TO", "CC", "BCC":
		return true
	}
	return false
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// RFC 5256 §3 SORT and UID SORT, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267
// §3 ESORT, RFC 9394 PARTIAL.
func (c *conn) cmdSort(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Sort)
	if err := checkCharset(args.Search.Charset, false); err != nil {
		return err
	}
	ret, err := parseReturn(&args.Search)
	if err != nil {
		return err
	}
	if ret.update && c.mbox.contextTaken(cmd.Tag) {
		return badf("tag already names an updating search") // RFC 5267 §4.3
	}
	hits, err := c.resultHits(&args.Search.Key, ret)
	if err != nil {
		return err
	}
	if hits, err = c.sortHits(hits, args.Criteria); err != nil {
		return err
	}
	modseq := c.searchModSeqResult(&args.Search.Key, hits) // RFC 7162 §3.1.6
	if ret.given {
		c.writeESearch(cmd, ret, hits, modseq)
		if ret.update {
			if err := c.startContext(cmd, &args.Search.Key, args.Criteria, hits); err != nil {
				return err
			}
		}
	} else {
		c.writeNumbers(cmd, "* SORT", hits, modseq)
	}
	c.ok(cmd, "", "SORT completed")
	return nil
}
