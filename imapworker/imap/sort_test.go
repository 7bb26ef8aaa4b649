package imap

import (
	"errors"
	"testing"
	"time"
)

func all1() SearchKey { return and(SearchKey{Op: SearchAll}) }

// sortParseTests join parseTests (so TestParse and the fuzz seeds have
// them): RFC 5256 §3, RFC 5267 §3.3, RFC 9394 §3.1 examples and edge forms.
var sortParseTests = []struct {
	in   string
	want Command
}{
	{"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n", Command{"A282", "SORT", false,
		&Sort{Criteria: []SortCriterion{{SortSubject, false}}, Search: Search{Charset: "UTF-8", Key: and(sinceFeb94)}}}},
	{"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n", Command{"A283", "SORT", false,
		&Sort{Criteria: []SortCriterion{{SortSubject, false}, {SortDate, true}}, Search: Search{Charset: "UTF-8", Key: all1()}}}},
	{"A284 SORT (SUBJECT) \"us-ascii\" TEXT \"not in mailbox\"\r\n", Command{"A284", "SORT", false,
		&Sort{Criteria: []SortCriterion{{SortSubject, false}}, Search: Search{Charset: "US-ASCII",
			Key: and(SearchKey{Op: SearchText, Value: "not in mailbox"})}}}},
	{"s uid sort (arrival cc date from size subject to displayfrom displayto reverse size) utf-8 all\r\n", Command{"s", "SORT", true,
		&Sort{Criteria: []SortCriterion{{SortArrival, false}, {SortCc, false}, {SortDate, false}, {SortFrom, false}, {SortSize, false},
			{SortSubject, false}, {SortTo, false}, {SortDisplayFrom, false}, {SortDisplayTo, false}, {SortSize, true}},
			Search: Search{Charset: "UTF-8", Key: all1()}}}},
	{"E01 UID SORT RETURN () (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk\r\n", Command{"E01", "SORT", true,
		&Sort{Criteria: []SortCriterion{{SortDate, true}}, Search: Search{Charset: "UTF-8", ReturnGiven: true,
			Key: and(SearchKey{Op: SearchNoFlag, Flag: `\Deleted`}, SearchKey{Op: SearchNoFlag, Flag: "$Junk"})}}}},
	{"E02 SORT RETURN (MIN COUNT PARTIAL -1:-50) (DATE) UTF-8 ALL\r\n", Command{"E02", "SORT", false,
		&Sort{Criteria: []SortCriterion{{SortDate, false}}, Search: Search{Charset: "UTF-8", ReturnGiven: true,
			Return: []string{"MIN", "COUNT"}, Partial: &PartialRange{1, 50, true}, Key: all1()}}}},
	{"A01 UID SEARCH RETURN (PARTIAL 500:1) UNDELETED\r\n", Command{"A01", "SEARCH", true,
		&Search{ReturnGiven: true, Partial: &PartialRange{1, 500, false}, Key: and(SearchKey{Op: SearchNoFlag, Flag: `\Deleted`})}}},
	{"A02 SEARCH RETURN (PARTIAL -100:-1 COUNT) ALL\r\n", Command{"A02", "SEARCH", false,
		&Search{ReturnGiven: true, Return: []string{"COUNT"}, Partial: &PartialRange{1, 100, true}, Key: all1()}}},
	{"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n", Command{"A283", "THREAD", false,
		&Thread{Algorithm: "ORDEREDSUBJECT", Search: Search{Charset: "UTF-8",
			Key: and(SearchKey{Op: SearchSince, Date: time.Date(2000, 3, 5, 0, 0, 0, 0, time.UTC)})}}}},
	{"A284 UID THREAD references US-ASCII TEXT \"gewp\"\r\n", Command{"A284", "THREAD", true,
		&Thread{Algorithm: "REFERENCES", Search: Search{Charset: "US-ASCII", Key: and(SearchKey{Op: SearchText, Value: "gewp"})}}}},
	{"10 UID FETCH 25900:26600 (UID FLAGS) (PARTIAL -1:-3)\r\n", Command{"10", "FETCH", true,
		&Fetch{Seq: seq(SeqRange{25900, 26600}), Items: []FetchItem{{Name: "UID"}, {Name: "FLAGS"}}, Partial: &PartialRange{1, 3, true}}}},
	{"11 UID FETCH 1:* FLAGS (partial 5:1)\r\n", Command{"11", "FETCH", true,
		&Fetch{Seq: seq(SeqRange{1, Star}), Items: []FetchItem{{Name: "FLAGS"}}, Partial: &PartialRange{1, 5, false}}}},
	{"a CANCELUPDATE \"B01\" \"B02\"\r\n", Command{"a", "CANCELUPDATE", false, &CancelUpdate{[]string{"B01", "B02"}}}},
}

func init() { parseTests = append(parseTests, sortParseTests...) }

var sinceFeb94 = SearchKey{Op: SearchSince, Date: time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)}

// Bad forms of SORT, THREAD, PARTIAL and CANCELUPDATE give BAD with the tag.
func TestParseSortThreadErrors(t *testing.T) {
	for _, in := range []string{
		"a SORT SUBJECT UTF-8 ALL\r\n",
		"a SORT () UTF-8 ALL\r\n",
		"a SORT (REVERSE) UTF-8 ALL\r\n",
		"a SORT (SUBJECT) ALL\r\n", // charset is mandatory: ALL is read as one and nothing follows
		"a SORT (SUBJECT) UTF-8\r\n",
		"a SORT (FOO) UTF-8 ALL\r\n",
		"a SORT (SUBJECT)UTF-8 ALL\r\n",
		"a THREAD REFERENCES\r\n",
		"a THREAD REFERENCES UTF-8\r\n",
		"a SEARCH RETURN (PARTIAL) ALL\r\n",
		"a SEARCH RETURN (PARTIAL 0:5) ALL\r\n",
		"a SEARCH RETURN (PARTIAL -1:5) ALL\r\n",
		"a SEARCH RETURN (PARTIAL 1:*) ALL\r\n",
		"a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL\r\n",
		"a CANCELUPDATE\r\n",
		"a UID FETCH 1:* FLAGS (PARTIAL 1:2 PARTIAL 3:4)\r\n",
		"a UID FETCH 1:* FLAGS (PARTIAL)\r\n",
		"a UID FETCH 1:* FLAGS ()\r\n",
		"a UID FETCH 1:* FLAGS (FOO)\r\n",
		"a CANCELUPDATE B01\r\n",
	} {
		_, err := Parse([]byte(in))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Tag != "a" {
			t.Errorf("C: %q: got %v, want a *SyntaxError with tag a", in, err)
		}
	}
}
