package imap

// RFC 7162 CONDSTORE and QRESYNC syntax: FETCH and STORE modifiers
// (RFC 4466 §2.4, §2.5), the MODSEQ search key and the QRESYNC select
// parameter.

// QResync is the value of SELECT/EXAMINE (QRESYNC (...)) (RFC 7162
// §3.2.5): the client's UIDVALIDITY and mod-sequence, the UIDs it knows
// (nil when absent) and, optionally, message numbers with their UIDs.
type QResync struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   *SeqSet
	SeqMatch    []uint32 // known-sequence-set expanded, ascending
	UIDMatch    []uint32 // known-uid-set expanded, one per SeqMatch
}

// maxSeqMatch bounds the expanded seq-match-data: it is a small sample
// (RFC 7162 §3.2.5.2), not a second copy of the mailbox.
const maxSeqMatch = 100000

// ParseQResync parses the raw value of a QRESYNC select parameter (as in
// Param.Value):
//
//	"(" uidvalidity SP mod-sequence-value [SP known-uids]
//	[SP seq-match-data] ")"
//	seq-match-data = "(" known-sequence-set SP known-uid-set ")"
func ParseQResync(value string) (q *QResync, err error) {
	p := parser{b: []byte(value)}
	defer func() {
		if x := recover(); x != nil {
			pe, ok := x.(parseError)
			if !ok {
				panic(x)
			}
			q, err = nil, &SyntaxError{Msg: "QRESYNC: " + string(pe)}
		}
	}()
	q = &QResync{}
	p.expect('(', "expected (")
	q.UIDValidity = p.nzNumber()
	p.sp()
	q.ModSeq = p.modSequenceValue()
	if p.take(' ') && p.peek() != '(' {
		s := p.knownSet()
		q.KnownUIDs = &s
		p.take(' ')
	}
	if p.take('(') {
		seqs := p.knownSet()
		p.sp()
		uids := p.knownSet()
		p.expect(')', "expected )")
		q.SeqMatch = expandAscending(&p, seqs)
		q.UIDMatch = expandAscending(&p, uids)
		if len(q.SeqMatch) != len(q.UIDMatch) {
			p.fail("sequence and UID sets differ in length")
		}
	}
	p.expect(')', "expected )")
	if p.pos != len(p.b) {
		p.fail("junk after QRESYNC parameter")
	}
	return q, nil
}

// knownSet is a sequence-set without "*" or "$" (RFC 7162 §7 known-uids).
func (p *parser) knownSet() SeqSet {
	if p.peek() == '$' {
		p.fail("$ not allowed here")
	}
	s := p.sequenceSet()
	for _, r := range s.Ranges {
		if r.Start == Star || r.Stop == Star {
			p.fail("* not allowed here")
		}
	}
	return s
}

func expandAscending(p *parser, s SeqSet) []uint32 {
	var out []uint32
	for _, r := range s.Ranges {
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if uint64(len(out))+uint64(hi-lo)+1 > maxSeqMatch {
			p.fail("seq-match-data too long")
		}
		for n := lo; ; n++ {
			if len(out) > 0 && n <= out[len(out)-1] {
				p.fail("seq-match-data not ascending")
			}
			out = append(out, n)
			if n == hi {
				break
			}
		}
	}
	return out
}

// mod-sequence-value = 1*DIGIT ; positive unsigned 63-bit
func (p *parser) modSequenceValue() uint64 {
	n := p.number64()
	if n == 0 {
		p.fail("expected nonzero mod-sequence")
	}
	return uint64(n)
}

// fetchModifiers reads, after the SP,
//
//	fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
//	chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
//	rexpunges-fetch-mod = "VANISHED"
//	fetch-modifier =/ modifier-partial
//
// (RFC 4466 §2.4, RFC 7162 §3.1.4.1, §3.2.6, RFC 9394 §4).
func (p *parser) fetchModifiers(f *Fetch) {
	p.expect('(', "expected FETCH modifiers")
	for {
		switch p.atomUpper() {
		case "CHANGEDSINCE":
			if f.ChangedSince != nil {
				p.fail("CHANGEDSINCE given twice")
			}
			p.sp()
			// mod-sequence-value is positive, but some clients send 0
			// for "everything": taken as such.
			v := uint64(p.number64())
			f.ChangedSince = &v
		case "VANISHED":
			f.Vanished = true
		case "PARTIAL":
			if f.Partial != nil {
				p.fail("PARTIAL given twice")
			}
			p.sp()
			r := p.partialRange()
			f.Partial = &r
		default:
			p.fail("unknown FETCH modifier")
		}
		if p.take(')') {
			return
		}
		p.sp()
	}
}

// storeModifiers reads store-modifiers = SP "(" store-modifier *(SP
// store-modifier) ")" with "UNCHANGEDSINCE" SP mod-sequence-valzer
// (RFC 4466 §2.5, RFC 7162 §3.1.3), and the SP after it.
func (p *parser) storeModifiers(s *Store) {
	p.expect('(', "expected (")
	for {
		switch p.atomUpper() {
		case "UNCHANGEDSINCE":
			if s.UnchangedSince != nil {
				p.fail("UNCHANGEDSINCE given twice") // RFC 7162 §7
			}
			p.sp()
			v := uint64(p.number64())
			s.UnchangedSince = &v
		default:
			p.fail("unknown STORE modifier")
		}
		if p.take(')') {
			break
		}
		p.sp()
	}
	p.sp()
}

// searchModSeq reads the rest of search-modsequence = "MODSEQ"
// [search-modseq-ext] SP mod-sequence-valzer, search-modseq-ext = SP
// entry-name SP entry-type-req (RFC 7162 §3.1.5).
func (p *parser) searchModSeq(k *SearchKey) {
	k.Op = SearchModSeq
	p.sp()
	if p.peek() == '"' {
		k.Field = p.quoted()
		p.sp()
		switch t := p.atomUpper(); t {
		case "PRIV", "SHARED", "ALL":
			k.Value = t
		default:
			p.fail("expected priv, shared or all")
		}
		p.sp()
	}
	k.Size = p.number64()
}
