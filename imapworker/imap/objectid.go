package imap

// searchKeyExt parses the search keys of RFC 8474 §6 (EMAILID, THREADID
// objectid) and RFC 8514 §4.3 (SAVEDBEFORE, SAVEDON, SAVEDSINCE date,
// SAVEDATESUPPORTED) after their name w; false for any other name.
func (p *parser) searchKeyExt(k *SearchKey, w string) bool {
	switch w {
	case "EMAILID", "THREADID":
		k.Op = SearchEmailID
		if w == "THREADID" {
			k.Op = SearchThreadID
		}
		p.sp()
		k.Value = p.objectID()
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		k.Op = map[string]SearchOp{"SAVEDBEFORE": SearchSavedBefore, "SAVEDON": SearchSavedOn, "SAVEDSINCE": SearchSavedSince}[w]
		p.sp()
		k.Date = p.date()
	case "SAVEDATESUPPORTED":
		k.Op = SearchSaveDateSupported
	default:
		return false
	}
	return true
}

// objectID reads objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 §7).
func (p *parser) objectID() string {
	i := p.pos
	for p.pos < len(p.b) && p.pos-i < 256 {
		c := p.b[p.pos]
		if !isAlpha(c) && !isDigit(c) && c != '_' && c != '-' {
			break
		}
		p.pos++
	}
	if p.pos == i || p.pos-i > 255 {
		p.fail("expected objectid")
	}
	return string(p.b[i:p.pos])
}
