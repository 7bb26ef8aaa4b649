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

// Fields of a sortRec, in the order of strs, then the references: what a
// command needs of the cached record, so that the rest is not copied.
const (
	needSubject uint8 = 1 << iota
	needFrom
	needTo
	needCc
	needDisplayFrom
	needDisplayTo
	needMsgID
	needRefs
	needAll = 0xff
)

// sortKeyNeeds is the field each string sort key compares.
var sortKeyNeeds = map[imap.SortKey]uint8{imap.SortSubject: needSubject, imap.SortFrom: needFrom, imap.SortTo: needTo,
	imap.SortCc: needCc, imap.SortDisplayFrom: needDisplayFrom, imap.SortDisplayTo: needDisplayTo}

// decodeSortRec reverses encode, copying out only the fields need names;
// false for a record it cannot read.
func decodeSortRec(b []byte, need uint8) (sortRec, bool) {
	var r sortRec
	if len(b) < 2 || b[0] != skVersion {
		return r, false
	}
	r.hasDate, r.reply = b[1]&1 != 0, b[1]&2 != 0
	b = b[2:]
	d, n := binary.Varint(b)
	if n <= 0 {
		return r, false
	}
	r.date, b = d, b[n:]
	str := func(keep bool) (string, bool) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return "", false
		}
		var s string
		if keep {
			s = string(b[n : n+int(l)])
		}
		b = b[n+int(l):]
		return s, true
	}
	for i, p := range r.strs() {
		s, ok := str(need&(1<<i) != 0)
		if !ok {
			return r, false
		}
		*p = s
	}
	nr, n := binary.Uvarint(b)
	if n <= 0 || nr > maxRefs {
		return r, false
	}
	b = b[n:]
	for range nr {
		s, ok := str(need&needRefs != 0)
		if !ok {
			return r, false
		}
		if need&needRefs != 0 {
			r.refs = append(r.refs, s)
		}
	}
	return r, len(b) == 0
}

// sortRecs returns the sortRecs of the messages at hits (indexes in
// c.mbox.msgs), from the cache, reading and caching the headers of those
// it lacks; need says which strings the caller reads. A message expunged
// meanwhile gets an empty record.
func (c *conn) sortRecs(hits []int, need uint8) ([]sortRec, error) {
	s := c.mbox
	recs := make([]sortRec, len(hits))
	var miss []int // positions in hits
	for k, i := range hits {
		if v, ok := s.h.Cached(s.msgs[i].UID, skKey); ok {
			if r, ok := decodeSortRec(v, need); ok {
				recs[k] = r
				continue
			}
		}
		miss = append(miss, k)
	}
	if len(miss) == 0 {
		return recs, nil
	}
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
					recs[k] = r
					s.h.SetCached(uid, skKey, r.encode())
				}
			}
		})
	}
	wg.Wait()
	return recs, failed
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

// sentDates returns each record's sent date (RFC 5256 §2.2), the
// internal date where the message has no usable Date field.
func sentDates(recs []sortRec, idates []int64) []int64 {
	out := make([]int64, len(recs))
	for k := range recs {
		if recs[k].hasDate {
			out[k] = recs[k].date
		} else {
			out[k] = idates[k]
		}
	}
	return out
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

// sortKeys are the keys crit compares of the messages at hits.
type sortKeys struct {
	hits          []int
	recs          []sortRec
	idates, sdate []int64
	msgs          []store.MessageInfo
}

// keysFor reads the keys crit needs of the messages at hits: cached
// records, internal dates, sizes.
func (c *conn) keysFor(hits []int, crit []imap.SortCriterion) (*sortKeys, error) {
	k := &sortKeys{hits: hits, msgs: c.mbox.msgs}
	var needRecs, needIDates bool
	var need uint8
	for _, cr := range crit {
		switch cr.Key {
		case imap.SortArrival:
			needIDates = true
		case imap.SortSize:
		case imap.SortDate:
			needIDates, needRecs = true, true
		default:
			needRecs = true
			need |= sortKeyNeeds[cr.Key]
		}
	}
	var err error
	if needRecs {
		if k.recs, err = c.sortRecs(hits, need); err != nil {
			return nil, err
		}
	}
	if needIDates {
		if k.idates, err = c.internalDates(hits); err != nil {
			return nil, err
		}
	}
	if k.recs != nil && k.idates != nil {
		k.sdate = sentDates(k.recs, k.idates)
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
		case imap.SortSubject:
			d = strings.Compare(k.recs[a].subject, k.recs[b].subject)
		case imap.SortFrom:
			d = strings.Compare(k.recs[a].from, k.recs[b].from)
		case imap.SortTo:
			d = strings.Compare(k.recs[a].to, k.recs[b].to)
		case imap.SortCc:
			d = strings.Compare(k.recs[a].cc, k.recs[b].cc)
		case imap.SortDisplayFrom:
			d = strings.Compare(k.recs[a].dfrom, k.recs[b].dfrom)
		case imap.SortDisplayTo:
			d = strings.Compare(k.recs[a].dto, k.recs[b].dto)
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
