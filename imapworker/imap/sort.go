package imap

// SortKey is one sort-key (RFC 5256 §3, RFC 5957 §4).
type SortKey uint8

// Sort keys.
const (
	SortArrival     SortKey = iota + 1 // INTERNALDATE
	SortCc                             // addr-mailbox of the first Cc address
	SortDate                           // sent date (RFC 5256 §2.2)
	SortFrom                           // addr-mailbox of the first From address
	SortSize                           // RFC822.SIZE
	SortSubject                        // base subject (RFC 5256 §2.1)
	SortTo                             // addr-mailbox of the first To address
	SortDisplayFrom                    // display name of the first From address (RFC 5957)
	SortDisplayTo                      // display name of the first To address (RFC 5957)
)

// SortCriterion is sort-criterion = ["REVERSE" SP] sort-key.
type SortCriterion struct {
	Key     SortKey
	Reverse bool
}

// Sort is [UID] SORT [RETURN (...)] (criteria) charset search-key...
// (RFC 5256 §3, RFC 5267 §3 for RETURN). Search holds the RETURN options,
// the charset (mandatory here, upper case) and the search program.
type Sort struct {
	Criteria []SortCriterion
	Search   Search
}

// Thread is [UID] THREAD algorithm charset search-key... (RFC 5256 §3).
// Algorithm is upper case: ORDEREDSUBJECT, REFERENCES, or another atom
// the session refuses.
type Thread struct {
	Algorithm string
	Search    Search
}

// PartialRange is the argument of the PARTIAL return option (RFC 9394
// §4): results First to Last, counted from 1; from the end (-1 is the
// last result) when FromEnd. First <= Last.
type PartialRange struct {
	First, Last uint32
	FromEnd     bool
}

// CancelUpdate is CANCELUPDATE tag... (RFC 5267 §4.3): Tags as sent.
type CancelUpdate struct {
	Tags []string
}

// sort = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP
// search-criteria (RFC 5256 §5, RFC 5267 §5)
func (p *parser) sortCmd() *Sort {
	s := &Sort{}
	p.sp()
	if p.peekName() == "RETURN" {
		p.searchReturn(&s.Search)
		p.sp()
	}
	// sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"
	p.expect('(', "expected sort criteria")
	var wb [16]byte
	for {
		var c SortCriterion
		w := p.word(wb[:0])
		if string(w) == "REVERSE" {
			c.Reverse = true
			p.sp()
			w = p.word(wb[:0])
		}
		switch string(w) {
		case "ARRIVAL":
			c.Key = SortArrival
		case "CC":
			c.Key = SortCc
		case "DATE":
			c.Key = SortDate
		case "FROM":
			c.Key = SortFrom
		case "SIZE":
			c.Key = SortSize
		case "SUBJECT":
			c.Key = SortSubject
		case "TO":
			c.Key = SortTo
		case "DISPLAYFROM":
			c.Key = SortDisplayFrom
		case "DISPLAYTO":
			c.Key = SortDisplayTo
		default:
			p.fail("unknown sort key")
		}
		s.Criteria = append(s.Criteria, c)
		if p.take(')') {
			break
		}
		p.sp()
		if len(s.Criteria) > 64 {
			p.fail("too many sort criteria")
		}
	}
	p.sp()
	p.searchCriteria(&s.Search)
	return s
}

// thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
// (RFC 5256 §5)
func (p *parser) threadCmd() *Thread {
	p.sp()
	t := &Thread{Algorithm: p.atomUpper()}
	p.sp()
	p.searchCriteria(&t.Search)
	return t
}

// search-criteria = charset 1*(SP search-key) (RFC 5256 §5)
func (p *parser) searchCriteria(s *Search) {
	s.Charset = p.charset()
	p.sp()
	p.searchKeys(s)
}

// charset = atom / quoted (RFC 9051 §9), upper-cased.
func (p *parser) charset() string {
	if p.peek() == '"' {
		return upper([]byte(p.quoted()))
	}
	return p.atomUpper()
}

// searchKeys reads 1*(SP search-key) after the first SP into s.Key, an
// AND of them all.
func (p *parser) searchKeys(s *Search) {
	s.Key.Op = SearchAnd
	s.Key.Children = make([]SearchKey, 0, 4)
	for {
		s.Key.Children = append(s.Key.Children, p.searchKey())
		if !p.take(' ') {
			return
		}
	}
}

// search-return-opts = SP "RETURN" SP "(" [search-return-opt
// *(SP search-return-opt)] ")" (RFC 9051 §6.4.4), without its leading SP;
// search-return-opt =/ "PARTIAL" SP partial-range (RFC 9394 §4).
func (p *parser) searchReturn(s *Search) {
	p.atomBytes() // RETURN
	s.ReturnGiven = true
	p.sp()
	p.expect('(', "expected (")
	for !p.take(')') {
		if len(s.Return) > 0 || s.Partial != nil {
			p.sp()
		}
		opt := p.atomUpper()
		if opt != "PARTIAL" {
			s.Return = append(s.Return, opt)
			continue
		}
		if s.Partial != nil {
			p.fail("PARTIAL given twice")
		}
		p.sp()
		r := p.partialRange()
		s.Partial = &r
	}
}

// partial-range = partial-range-first / partial-range-last (RFC 9394 §4)
func (p *parser) partialRange() PartialRange {
	var r PartialRange
	r.FromEnd = p.take('-')
	r.First = p.nzNumber()
	p.expect(':', "expected : in partial range")
	if r.FromEnd {
		p.expect('-', "expected - in partial range")
	}
	r.Last = p.nzNumber()
	if r.First > r.Last {
		r.First, r.Last = r.Last, r.First
	}
	return r
}

// cancelUpdate = "CANCELUPDATE" 1*(SP quoted) (RFC 5267 §5)
func (p *parser) cancelUpdate() *CancelUpdate {
	cu := &CancelUpdate{}
	for p.take(' ') {
		cu.Tags = append(cu.Tags, p.quoted())
	}
	if len(cu.Tags) == 0 {
		p.fail("CANCELUPDATE needs a tag")
	}
	return cu
}
