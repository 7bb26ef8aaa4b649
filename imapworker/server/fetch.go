package server

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"imapd/imapworker/imap"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// fetchPlan is a FETCH command checked once before any message is read.
type fetchPlan struct {
	items   []imap.FetchItem
	content bool   // some item needs the message bytes whatever the cache holds
	seen    bool   // some item sets \Seen (RFC 9051 §6.4.5 BODY[])
	flags   bool   // FLAGS requested
	date    bool   // INTERNALDATE requested
	uid     bool   // UID requested
	buf     msgBuf // holds the message or header read, reused across messages
	// copyBuf holds BODY[] on its way to the client (appendMessage),
	// apart from buf, whose header a later item may still parse.
	copyBuf msgBuf

	// RFC 7162 §3.1.4: MODSEQ requested; or sent with every response
	// (CHANGEDSINCE), or with those that carry FLAGS once CONDSTORE is
	// enabled.
	modseq, autoModSeq, modseqWithFlags bool

	// RFC 8474 EMAILID, RFC 8514 SAVEDATE requested; their values
	// (objectid.go).
	emailID, saveDate bool
	objs              objects
}

func planFetch(items []imap.FetchItem) (*fetchPlan, error) {
	p := &fetchPlan{items: items}
	for _, it := range items {
		switch it.Name {
		case "UID":
			p.uid = true
		case "FLAGS":
			p.flags = true
		case "INTERNALDATE":
			p.date = true
		case "RFC822.SIZE":
		case "MODSEQ":
			p.modseq = true
		case "ENVELOPE", "BODYSTRUCTURE", "PREVIEW":
			// From the cache, else parsed on demand.
		case "EMAILID":
			p.emailID = true
		case "SAVEDATE":
			p.saveDate = true
		case "THREADID":
		case "RFC822.HEADER":
			p.content = true
		case "BODY":
			// The whole message is copied from the store, not parsed.
			p.content = p.content || it.Section != nil && !wholeMessage(it.Section)
			p.seen = p.seen || it.Section != nil
		case "BODY.PEEK":
			p.content = p.content || !wholeMessage(it.Section)
		case "BINARY.PEEK", "BINARY.SIZE":
			p.content = true
		case "BINARY":
			p.content = true
			p.seen = true
		case "RFC822":
			p.seen = true
		case "RFC822.TEXT":
			p.content = true
			p.seen = true
		default:
			return nil, badf("unsupported FETCH item " + it.Name)
		}
		if it.Section != nil && (it.Name == "BINARY" || it.Name == "BINARY.PEEK" || it.Name == "BINARY.SIZE") && it.Section.Specifier != "" {
			return nil, badf("BINARY takes a part number only") // RFC 3516 §4.2
		}
	}
	return p, nil
}

// RFC 9051 §6.4.5 FETCH, §6.4.9 UID FETCH, RFC 3516 BINARY.
func (c *conn) cmdFetch(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Fetch)
	plan, err := planFetch(args.Items)
	if err != nil {
		return err
	}
	if cmd.UID {
		plan.uid = true // RFC 9051 §6.4.9: UID FETCH always returns UID
	}
	plan.copyBuf.heap = getCopyBuf()
	defer func() { putCopyBuf(plan.copyBuf.heap) }()
	if err := c.fetchModifiers(cmd, args, plan); err != nil {
		return err
	}
	idx, err := c.seqIndexes(args.Seq, cmd.UID)
	if err != nil {
		return err
	}
	if idx, err = c.changedSince(cmd, args, idx); err != nil {
		return err
	}
	if args.Partial != nil {
		if !cmd.UID {
			return badf("PARTIAL is a UID FETCH modifier") // RFC 9394 §3.3
		}
		idx = window(idx, args.Partial)
	}
	s := c.mbox
	var seenNow map[uint32]bool
	if plan.seen && !s.readOnly {
		var want []uint32
		for _, i := range idx {
			m := &s.msgs[i]
			if m.Flags.System&store.FlagSeen == 0 && !s.ghosts[m.UID] {
				want = append(want, m.UID)
			}
		}
		if len(want) > 0 {
			ups, err := s.h.Store(want, store.StoreAdd, store.Flags{System: store.FlagSeen})
			if err != nil {
				return err
			}
			seenNow = make(map[uint32]bool, len(ups))
			s.own()
			for _, u := range ups {
				if i := s.index(u.UID); i >= 0 {
					s.msgs[i].Flags, s.msgs[i].ModSeq = u.Flags, u.ModSeq
					seenNow[u.UID] = true
				}
			}
		}
	}
	// Internal dates in one batch: a store may have to stat each file.
	var dates []time.Time
	if plan.date && len(idx) > 0 {
		if dates, err = s.h.InternalDates(c.uidsOf(idx)); err != nil {
			return err
		}
	}
	if err := c.fetchObjects(plan, idx); err != nil {
		return err
	}
	var failed error
	gone := false
	for k, i := range idx {
		var date time.Time
		if dates != nil {
			date = dates[k]
		}
		err := c.fetchOne(i, date, plan, seenNow[s.msgs[i].UID])
		switch {
		case errors.Is(err, errGone):
			gone = true
		case err != nil && failed == nil:
			failed = err
		}
	}
	if failed != nil {
		return failed
	}
	if gone {
		// RFC 2180 §4.1.1, RFC 5530: answered with what is still known.
		c.ok(cmd, "EXPUNGEISSUED", "some messages were expunged")
		return nil
	}
	c.ok(cmd, "", "FETCH completed")
	return nil
}

// errGone: the message was expunged by another session that this one has
// not yet reported; fetchOne answered what it still knew.
var errGone = errors.New("expunged elsewhere")

// learnGone is called when the store no longer has message i although the
// view does: it polls without sending EXPUNGE (RFC 9051 §7.4.1), so that
// the message becomes a ghost with the last flags another session gave it,
// and returns the message's index again (the poll may move the view).
func (c *conn) learnGone(uid uint32) int {
	if !c.mbox.ghosts[uid] {
		c.updates(false)
	}
	return c.mbox.index(uid)
}

// fetchOne answers plan for message i; date is its internal date when
// plan asks for it. A message the store no longer has is answered as
// fetchMsg does with gone, and errGone returned.
func (c *conn) fetchOne(i int, date time.Time, plan *fetchPlan, seenNow bool) error {
	uid := c.mbox.msgs[i].UID
	if !c.mbox.ghosts[uid] && !(plan.date && date.IsZero()) { // zero: gone since the session last looked
		err := c.fetchMsg(i, date, plan, seenNow, false)
		if !errors.Is(err, store.ErrExpunged) {
			return err
		}
	}
	return c.fetchMsg(c.learnGone(uid), date, plan, seenNow, true)
}

// fetchMsg answers plan for message i. With gone it sends what the session
// still knows, NIL for content, and leaves out ENVELOPE and BODYSTRUCTURE
// unless cached (the grammar has no NIL for them; RFC 2180 §4.1.1). It
// returns store.ErrExpunged before writing anything when it finds the
// message gone.
func (c *conn) fetchMsg(i int, date time.Time, plan *fetchPlan, seenNow, gone bool) error {
	s := c.mbox
	m := &s.msgs[i]
	// root is the message as BODY sends it: a part with NUL in its body
	// base64-encoded (mime.EncodeBinary); bin is the message as stored,
	// for BINARY, parsed only when the two differ.
	var root, head, bin *mime.Part
	var raw []byte
	defer plan.buf.done() // the response is written: root and head are done with
	// whole and header parse the message on demand: a cached ENVELOPE or
	// BODYSTRUCTURE needs neither, an ENVELOPE only the header block.
	whole := func() (*mime.Part, error) {
		if root == nil {
			cnt, err := s.h.Open(m.UID)
			if err != nil {
				return nil, err
			}
			body, err := plan.buf.read(cnt)
			cnt.Close()
			if err != nil {
				return nil, err
			}
			root = mime.Parse(body)
			if mime.HasNUL(body) {
				raw = body
				root = mime.Parse(mime.EncodeBinary(root))
			}
		}
		return root, nil
	}
	binary := func() *mime.Part {
		if raw == nil {
			return root
		}
		if bin == nil {
			bin = mime.Parse(raw)
		}
		return bin
	}
	header := func() (*mime.Part, error) {
		if root != nil {
			return root, nil
		}
		if head == nil {
			cnt, err := s.h.Open(m.UID)
			if err != nil {
				return nil, err
			}
			hdr, err := readHeader(cnt, &plan.buf)
			cnt.Close()
			if err != nil {
				return nil, err
			}
			// buf is reused by the next message: head must not
			// outlive this one (the FETCH response copies what it uses).
			head = mime.Parse(hdr)
		}
		return head, nil
	}
	if plan.content && !gone {
		if _, err := whole(); err != nil {
			return err
		}
	}
	var failed error // a read error after a literal's size was sent
	// streamed: part of the response was written already, so finding the
	// message gone can no longer restart it (see fetchOne).
	streamed := false
	lateErr := func(err error) error {
		if streamed && errors.Is(err, store.ErrExpunged) {
			return errors.New("message expunged while it was being sent")
		}
		return err
	}
	b := append(c.out[:0], "* "...)
	b = strconv.AppendInt(b, int64(i+1), 10)
	b = append(b, " FETCH ("...)
	n := len(b)
	// storeCopy appends the whole message (BODY[], RFC822) as the store
	// has it; errHasNUL means it holds NUL and root, now parsed, has the
	// form to send.
	storeCopy := func(p *imap.Partial) error {
		pre := b
		var err error
		if b, err = c.appendMessage(b, m.UID, p, &plan.copyBuf); err == nil {
			streamed = streamed || len(b) == 0
			return nil
		} else if b != nil {
			streamed, failed = true, err
			return nil
		}
		b = pre
		if !errors.Is(err, errHasNUL) {
			return lateErr(err)
		}
		if _, err := whole(); err != nil {
			return lateErr(err)
		}
		return errHasNUL
	}
	sp := func() {
		if len(b) > n {
			b = append(b, ' ')
		}
	}
	if plan.uid || (seenNow && c.qresync) { // RFC 7162 §3.2.4
		b = append(b, "UID "...)
		b = strconv.AppendUint(b, uint64(m.UID), 10)
	}
	if !plan.modseq && (plan.autoModSeq || (plan.modseqWithFlags && (plan.flags || seenNow))) {
		sp()
		b = appendModSeq(b, m.ModSeq)
	}
	if seenNow && !plan.flags {
		sp()
		b = append(b, "FLAGS "...)
		b = c.appendFlags(b, m)
	}
	for k := range plan.items {
		it := &plan.items[k]
		switch it.Name {
		case "UID":
			continue
		case "MODSEQ":
			sp()
			b = appendModSeq(b, m.ModSeq)
		case "FLAGS":
			sp()
			b = append(b, "FLAGS "...)
			b = c.appendFlags(b, m)
		case "INTERNALDATE":
			if date.IsZero() {
				continue // gone before its date was learned
			}
			sp()
			b = append(b, "INTERNALDATE "...)
			b = imap.AppendDateTime(b, date)
		case "EMAILID", "THREADID", "SAVEDATE":
			pre := len(b)
			sp()
			var ok bool
			if b, ok = plan.appendObjectItem(b, it.Name, m.UID); !ok {
				b = b[:pre]
			}
		case "RFC822.SIZE":
			sp()
			b = append(b, "RFC822.SIZE "...)
			b = strconv.AppendInt(b, m.Size, 10)
		case "ENVELOPE":
			if gone && !c.isCached(m.UID, "env") {
				continue // no NIL in the grammar: left out (RFC 2180 §4.1.1)
			}
			sp()
			b = append(b, "ENVELOPE "...)
			var err error
			b, err = c.cachedAppend(b, m.UID, "env", func(x []byte) ([]byte, error) {
				p, err := header()
				if err != nil {
					return x, err
				}
				// SEARCH on these fields will not need the file either.
				c.cacheSearchHeader(m.UID, p)
				return c.appendEnvelope(x, p.Envelope()), nil
			})
			if err != nil {
				return lateErr(err)
			}
		case "PREVIEW":
			pre := len(b)
			sp()
			b = append(b, "PREVIEW "...)
			if gone && !c.isCached(m.UID, "preview") {
				b = append(b, "NIL"...) // RFC 8970 allows NIL only for LAZY
				if !it.Lazy {
					b = b[:pre]
				}
				continue
			}
			if it.Lazy && m.Size >= lazyPreviewMax && !c.isCached(m.UID, "preview") {
				b = append(b, "NIL"...) // RFC 8970 §4.1: not without delay
				continue
			}
			var err error
			b, err = c.cachedAppend(b, m.UID, "preview", func(x []byte) ([]byte, error) {
				p, err := whole()
				if err != nil {
					return x, err
				}
				return c.appendStr(x, mime.Preview(p)), nil
			})
			if err != nil {
				return lateErr(err)
			}
		case "BODYSTRUCTURE":
			if gone && !c.isCached(m.UID, "bs") {
				continue
			}
			sp()
			b = append(b, "BODYSTRUCTURE "...)
			var err error
			b, err = c.cachedAppend(b, m.UID, "bs", func(x []byte) ([]byte, error) {
				p, err := whole()
				if err != nil {
					return x, err
				}
				return c.appendBodyStructure(x, p, true), nil
			})
			if err != nil {
				return lateErr(err)
			}
		case "BODY", "BODY.PEEK":
			sp()
			if it.Section == nil {
				if gone && !c.isCached(m.UID, "body") {
					continue
				}
				b = append(b, "BODY "...)
				var err error
				b, err = c.cachedAppend(b, m.UID, "body", func(x []byte) ([]byte, error) {
					p, err := whole()
					if err != nil {
						return x, err
					}
					return c.appendBodyStructure(x, p, false), nil
				})
				if err != nil {
					return lateErr(err)
				}
				continue
			}
			b = imap.AppendFetchName(b, *it)
			b = append(b, ' ')
			if !gone && root == nil && wholeMessage(it.Section) {
				if err := storeCopy(it.Partial); err == nil {
					continue
				} else if err != errHasNUL {
					return err
				}
			}
			if gone {
				b = append(b, "NIL"...)
				continue
			}
			data, err := root.Section(mimeSection(it.Section))
			if err != nil {
				b = append(b, "NIL"...)
				continue
			}
			b = c.appendData(b, partial(data, it.Partial), false)
			streamed = streamed || len(b) == 0
		case "BINARY", "BINARY.PEEK":
			var path []int
			if it.Section != nil {
				path = it.Section.Part
			}
			if gone {
				sp()
				b = imap.AppendFetchName(b, *it)
				b = append(b, " NIL"...)
				continue
			}
			data, err := binary().Binary(path)
			if errors.Is(err, mime.ErrUnknownCTE) {
				return no("UNKNOWN-CTE", "unknown content-transfer-encoding")
			}
			sp()
			b = imap.AppendFetchName(b, *it)
			b = append(b, ' ')
			if err != nil {
				b = append(b, "NIL"...)
				continue
			}
			b = c.appendData(b, partial(data, it.Partial), true)
			streamed = streamed || len(b) == 0
		case "BINARY.SIZE":
			var path []int
			if it.Section != nil {
				path = it.Section.Part
			}
			if gone {
				continue // a number, no NIL
			}
			size, err := binary().BinarySize(path)
			if errors.Is(err, mime.ErrUnknownCTE) {
				return no("UNKNOWN-CTE", "unknown content-transfer-encoding")
			}
			sp()
			b = imap.AppendFetchName(b, *it)
			b = append(b, ' ')
			if err != nil {
				b = append(b, "NIL"...)
				continue
			}
			b = strconv.AppendInt(b, int64(size), 10)
		case "RFC822":
			sp()
			b = append(b, "RFC822 "...)
			if gone {
				b = append(b, "NIL"...)
				continue
			}
			if root == nil {
				if err := storeCopy(nil); err == nil {
					continue
				} else if err != errHasNUL {
					return err
				}
			}
			data, _ := root.Section(mime.Section{})
			b = c.appendData(b, data, false)
			streamed = streamed || len(b) == 0
		case "RFC822.HEADER":
			sp()
			b = append(b, "RFC822.HEADER "...)
			if gone {
				b = append(b, "NIL"...)
				continue
			}
			data, _ := root.Section(mime.Section{Specifier: mime.SpecHeader})
			b = c.appendData(b, data, false)
			streamed = streamed || len(b) == 0
		case "RFC822.TEXT":
			sp()
			b = append(b, "RFC822.TEXT "...)
			if gone {
				b = append(b, "NIL"...)
				continue
			}
			data, _ := root.Section(mime.Section{Specifier: mime.SpecText})
			b = c.appendData(b, data, false)
			streamed = streamed || len(b) == 0
		}
	}
	b = append(b, ")\r\n"...)
	c.write(b)
	if cap(b) > 64<<10 {
		b = nil // don't keep a large message's buffer
	}
	c.out = b[:0]
	if failed == nil && gone {
		failed = errGone
	}
	return failed
}

// wholeMessage reports whether s is BODY[] (RFC 9051 §6.4.5: the entire
// message, header and text).
func wholeMessage(s *imap.Section) bool {
	return s != nil && len(s.Part) == 0 && s.Specifier == ""
}

// copyBufs keeps BODY[] buffers (fetchPlan.copyBuf) from one FETCH to the
// next, across the worker's sessions: a buffer as large as the largest
// message fetched, allocated once rather than per FETCH, and not held by
// an idle session. The collector empties the pool when nobody fetches.
var copyBufs sync.Pool

func getCopyBuf() []byte {
	if p, ok := copyBufs.Get().(*[]byte); ok {
		return *p
	}
	return nil
}

func putCopyBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= streamMin {
		copyBufs.Put(&b)
	}
}

// streamMin is the size from which a message is copied to the client in
// chunks rather than read whole into memory.
const streamMin = 256 << 10

// appendMessage appends the message (or part of it) as a literal, copying
// a large one in chunks so that fetching a 20 MB message does not hold 20
// MB. Before the literal's size is sent, an error returns nil; after, the
// literal is padded with spaces to its size (the response stays well
// formed) and the error is returned with b. The bytes pass through mb's
// buffer, reused from message to message of the FETCH: no allocation per
// message (issue 18's mix fetches a third of a mailbox at a time).
func (c *conn) appendMessage(b []byte, uid uint32, p *imap.Partial, mb *msgBuf) ([]byte, error) {
	cnt, err := c.mbox.h.Open(uid)
	if err != nil {
		return nil, err
	}
	defer cnt.Close()
	size := cnt.Size()
	off, n := int64(0), size
	if p != nil {
		off = min(p.Offset, n)
		n = min(n-off, p.Count)
	}
	if bb, ok := cnt.(interface{ Bytes() []byte }); ok || size < streamMin {
		var data []byte
		if ok {
			data = bb.Bytes()
		} else {
			data = copyRoom(mb, int(size))
			if k, err := cnt.ReadAt(data, 0); k < len(data) {
				return nil, cmp.Or(err, io.ErrUnexpectedEOF)
			}
		}
		if mime.HasNUL(data) {
			return nil, errHasNUL
		}
		return c.appendData(b, data[off:off+n], false), nil
	}
	if nul, err := c.contentHasNUL(uid, cnt); err != nil || nul {
		return nil, cmp.Or(err, errHasNUL)
	}
	b = imap.AppendLiteralHeader(b, n, false)
	c.write(b)
	buf := copyRoom(mb, 64<<10)
	var rerr error
	for done := int64(0); done < n; {
		chunk := buf[:min(int64(len(buf)), n-done)]
		k, err := cnt.ReadAt(chunk, off+done)
		if k < len(chunk) {
			if rerr == nil {
				rerr = cmp.Or(err, io.ErrUnexpectedEOF)
			}
			for j := k; j < len(chunk); j++ {
				chunk[j] = ' '
			}
		}
		c.write(chunk)
		done += int64(len(chunk))
	}
	return b[:0], rerr
}

// copyRoom returns n bytes of mb's buffer (n <= streamMin), grown to
// streamMin at once: one size for every buffer copyBufs keeps.
func copyRoom(mb *msgBuf, n int) []byte {
	if cap(mb.heap) < n {
		mb.heap = make([]byte, streamMin)
	}
	return mb.heap[:n]
}

// appendData appends a literal; BINARY data with NUL goes as literal8
// (RFC 3516 §4.2). Large data is written straight through, not copied.
func (c *conn) appendData(b, data []byte, binary bool) []byte {
	b = imap.AppendLiteralHeader(b, int64(len(data)), binary && bytes.IndexByte(data, 0) >= 0)
	if len(data) > 16<<10 {
		c.write(b)
		c.write(data)
		return b[:0]
	}
	return append(b, data...)
}

func partial(data []byte, p *imap.Partial) []byte {
	if p == nil {
		return data
	}
	if p.Offset >= int64(len(data)) {
		return nil
	}
	data = data[p.Offset:]
	if p.Count < int64(len(data)) {
		data = data[:p.Count]
	}
	return data
}

func mimeSection(s *imap.Section) mime.Section {
	ms := mime.Section{Path: s.Part, Fields: s.Fields}
	switch s.Specifier {
	case "HEADER":
		ms.Specifier = mime.SpecHeader
	case "HEADER.FIELDS":
		ms.Specifier = mime.SpecHeaderFields
	case "HEADER.FIELDS.NOT":
		ms.Specifier = mime.SpecHeaderFieldsNot
	case "TEXT":
		ms.Specifier = mime.SpecText
	case "MIME":
		ms.Specifier = mime.SpecMIME
	}
	return ms
}

// cachedAppend appends the value for key from the store's cache, computing
// and caching it when absent. The key names the session's string mode, as
// IMAP4rev1 sessions get 8-bit text as literals.
func (c *conn) cachedAppend(b []byte, uid uint32, key string, gen func([]byte) ([]byte, error)) ([]byte, error) {
	if !c.utf8OK() {
		key = key7(key)
	}
	if v, ok := c.mbox.h.Cached(uid, key); ok {
		return append(b, v...), nil
	}
	n := len(b)
	b, err := gen(b)
	if err != nil {
		return b, err
	}
	c.mbox.h.SetCached(uid, key, bytes.Clone(b[n:]))
	return b, nil
}

// key7 is key+"7" without an allocation per message.
func key7(key string) string {
	switch key {
	case "env":
		return "env7"
	case "bs":
		return "bs7"
	case "body":
		return "body7"
	case "preview":
		return "preview7"
	}
	return key + "7"
}

func (c *conn) appendStr(b []byte, s string) []byte {
	if c.utf8OK() {
		return imap.AppendString(b, s)
	}
	return imap.AppendString7(b, s)
}

func (c *conn) appendNStr(b []byte, s string) []byte {
	if s == "" {
		return append(b, "NIL"...)
	}
	return c.appendStr(b, s)
}

// appendEnvelope: RFC 9051 §7.5.2 ENVELOPE.
func (c *conn) appendEnvelope(b []byte, e *mime.Envelope) []byte {
	b = append(b, '(')
	b = c.appendNStr(b, e.Date)
	b = append(b, ' ')
	b = c.appendNStr(b, e.Subject)
	for _, l := range [][]mime.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		b = append(b, ' ')
		b = c.appendAddrs(b, l)
	}
	b = append(b, ' ')
	b = c.appendNStr(b, e.InReplyTo)
	b = append(b, ' ')
	b = c.appendNStr(b, e.MessageID)
	return append(b, ')')
}

func (c *conn) appendAddrs(b []byte, l []mime.Address) []byte {
	if len(l) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for _, a := range l {
		b = append(b, '(')
		b = c.appendNStr(b, a.Name)
		b = append(b, ' ')
		b = c.appendNStr(b, a.ADL)
		b = append(b, ' ')
		b = c.appendNStr(b, a.Mailbox)
		b = append(b, ' ')
		b = c.appendNStr(b, a.Host)
		b = append(b, ')')
	}
	return append(b, ')')
}

func (c *conn) appendParams(b []byte, ps []mime.Param) []byte {
	if len(ps) == 0 {
		return append(b, "NIL"...)
	}
	b = append(b, '(')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ' ')
		}
		b = c.appendStr(b, p.Name)
		b = append(b, ' ')
		b = c.appendStr(b, p.Value)
	}
	return append(b, ')')
}

// appendBodyStructure: RFC 9051 §7.5.2 BODYSTRUCTURE (ext true) and BODY.
func (c *conn) appendBodyStructure(b []byte, p *mime.Part, ext bool) []byte {
	b = append(b, '(')
	if p.IsMultipart() {
		for _, ch := range p.Children {
			b = c.appendBodyStructure(b, ch, ext)
		}
		b = append(b, ' ')
		b = c.appendStr(b, p.Subtype)
		if ext {
			b = append(b, ' ')
			b = c.appendParams(b, p.Params)
			b = c.appendExtTail(b, p)
		}
		return append(b, ')')
	}
	b = c.appendStr(b, p.Type)
	b = append(b, ' ')
	b = c.appendStr(b, p.Subtype)
	b = append(b, ' ')
	b = c.appendParams(b, p.Params)
	b = append(b, ' ')
	b = c.appendNStr(b, p.ID)
	b = append(b, ' ')
	b = c.appendNStr(b, p.Description)
	b = append(b, ' ')
	b = c.appendStr(b, p.Encoding)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(p.Size()), 10)
	switch {
	case p.IsMessage():
		b = append(b, ' ')
		b = c.appendEnvelope(b, p.Message.Envelope())
		b = append(b, ' ')
		b = c.appendBodyStructure(b, p.Message, ext)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(p.Lines), 10)
	case p.IsText():
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(p.Lines), 10)
	}
	if ext {
		b = append(b, ' ')
		b = c.appendNStr(b, p.MD5)
		b = c.appendExtTail(b, p)
	}
	return append(b, ')')
}

// appendExtTail appends body-fld-dsp, body-fld-lang and body-fld-loc.
func (c *conn) appendExtTail(b []byte, p *mime.Part) []byte {
	b = append(b, ' ')
	if p.Disposition == "" {
		b = append(b, "NIL"...)
	} else {
		b = append(b, '(')
		b = c.appendStr(b, p.Disposition)
		b = append(b, ' ')
		b = c.appendParams(b, p.DispositionParams)
		b = append(b, ')')
	}
	b = append(b, ' ')
	switch len(p.Language) {
	case 0:
		b = append(b, "NIL"...)
	case 1:
		b = c.appendStr(b, p.Language[0])
	default:
		b = append(b, '(')
		for i, l := range p.Language {
			if i > 0 {
				b = append(b, ' ')
			}
			b = c.appendStr(b, l)
		}
		b = append(b, ')')
	}
	b = append(b, ' ')
	return c.appendNStr(b, p.Location)
}

// lazyPreviewMax: PREVIEW (LAZY) of a message this large that has no
// cached preview answers NIL rather than read it (RFC 8970 §4.1).
const lazyPreviewMax = 1 << 20
