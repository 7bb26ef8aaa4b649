package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func seq(rs ...SeqRange) SeqSet { return SeqSet{Ranges: rs} }

func one(n uint32) SeqRange { return SeqRange{n, n} }

func and(ks ...SearchKey) SearchKey { return SearchKey{Op: SearchAnd, Children: ks} }

// parseTests are client lines (C:) with the command they must give. Most
// come from the examples of RFC 9051 §6 and RFC 3501 §6.
var parseTests = []struct {
	in   string
	want Command
}{
	// RFC 9051 §6.1
	{"abcd CAPABILITY\r\n", Command{"abcd", "CAPABILITY", false, &Capability{}}},
	{"a002 NOOP\r\n", Command{"a002", "NOOP", false, &Noop{}}},
	{"A023 LOGOUT\r\n", Command{"A023", "LOGOUT", false, &Logout{}}},
	{"a002 noop\n", Command{"a002", "NOOP", false, &Noop{}}},
	{"a1 starttls\r\n", Command{"a1", "STARTTLS", false, &StartTLS{}}},
	// RFC 9051 §6.2
	{"a001 LOGIN SMITH SESAME\r\n", Command{"a001", "LOGIN", false, &Login{"SMITH", "SESAME"}}},
	{`a001 LOGIN "fred" "foo \"bar\" \\baz"` + "\r\n", Command{"a001", "LOGIN", false, &Login{"fred", `foo "bar" \baz`}}},
	{"a001 LOGIN {5}\r\nalice {6+}\r\nse\r\ncr\r\n", Command{"a001", "LOGIN", false, &Login{"alice", "se\r\ncr"}}},
	{"A001 AUTHENTICATE GSSAPI\r\n", Command{"A001", "AUTHENTICATE", false, &Authenticate{Mechanism: "GSSAPI"}}},
	{"a01 authenticate plain AGFsaWNlAHNlY3JldA==\r\n", Command{"a01", "AUTHENTICATE", false, &Authenticate{"PLAIN", ptr("AGFsaWNlAHNlY3JldA==")}}},
	{"a01 AUTHENTICATE PLAIN =\r\n", Command{"a01", "AUTHENTICATE", false, &Authenticate{"PLAIN", ptr("")}}},
	// RFC 9051 §6.3
	{"t2 ENABLE IMAP4rev2 CONDSTORE\r\n", Command{"t2", "ENABLE", false, &Enable{[]string{"IMAP4REV2", "CONDSTORE"}}}},
	{"A666 SELECT INBOX\r\n", Command{"A666", "SELECT", false, &Select{Mailbox: "INBOX"}}},
	{"A932 EXAMINE blurdybloop\r\n", Command{"A932", "EXAMINE", false, &Select{Mailbox: "blurdybloop", ReadOnly: true}}},
	{"a SELECT \"Sent Items\" (CONDSTORE)\r\n", Command{"a", "SELECT", false, &Select{Mailbox: "Sent Items", Params: []Param{{Name: "CONDSTORE"}}}}},
	{"a SELECT x (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n", Command{"a", "SELECT", false,
		&Select{Mailbox: "x", Params: []Param{{"QRESYNC", "(67890007 20050715194045000 41,43:211,214:541)"}}}}},
	{"A003 CREATE owatagusiam/\r\n", Command{"A003", "CREATE", false, &Create{Mailbox: "owatagusiam/"}}},
	{"t1 CREATE \"Important Messages\" (USE (\\Important))\r\n", Command{"t1", "CREATE", false, &Create{"Important Messages", []string{`\Important`}}}},
	{"t1 CREATE MySent (use (\\sent \\Drafts))\r\n", Command{"t1", "CREATE", false, &Create{"MySent", []string{`\Sent`, `\Drafts`}}}},
	{"A683 DELETE blurdybloop\r\n", Command{"A683", "DELETE", false, &Delete{"blurdybloop"}}},
	{"A683 RENAME blurdybloop sarasoop\r\n", Command{"A683", "RENAME", false, &Rename{"blurdybloop", "sarasoop"}}},
	{"A002 SUBSCRIBE #news.comp.mail.mime\r\n", Command{"A002", "SUBSCRIBE", false, &Subscribe{"#news.comp.mail.mime"}}},
	{"A002 UNSUBSCRIBE #news.comp.mail.mime\r\n", Command{"A002", "UNSUBSCRIBE", false, &Unsubscribe{"#news.comp.mail.mime"}}},
	{"A101 LIST \"\" \"\"\r\n", Command{"A101", "LIST", false, &List{Reference: "", Patterns: []string{""}}}},
	{"A102 LIST #news.comp.mail.misc \"\"\r\n", Command{"A102", "LIST", false, &List{Reference: "#news.comp.mail.misc", Patterns: []string{""}}}},
	{"A202 LIST ~/Mail/ %\r\n", Command{"A202", "LIST", false, &List{Reference: "~/Mail/", Patterns: []string{"%"}}}},
	{"a LIST \"\" foo/*]\r\n", Command{"a", "LIST", false, &List{Patterns: []string{"foo/*]"}}}},
	{"A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n", Command{"A02", "LIST", false, &List{SelectOpts: []string{"SUBSCRIBED"}, Patterns: []string{"*"}, Extended: true}}},
	{"A03 LIST () \"\" \"%\" RETURN (CHILDREN)\r\n", Command{"A03", "LIST", false, &List{SelectOpts: []string{}, Patterns: []string{"%"}, ReturnOpts: []string{"CHILDREN"}, Extended: true}}},
	{"A04 LIST (REMOTE subscribed RecursiveMatch) \"\" (\"a\" b%) RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN size))\r\n",
		Command{"A04", "LIST", false, &List{SelectOpts: []string{"REMOTE", "SUBSCRIBED", "RECURSIVEMATCH"}, Patterns: []string{"a", "b%"},
			ReturnOpts: []string{"SPECIAL-USE", "STATUS"}, StatusItems: []string{"MESSAGES", "UNSEEN", "SIZE"}, Extended: true}}},
	{"A002 LSUB \"#news.\" \"comp.mail.*\"\r\n", Command{"A002", "LSUB", false, &Lsub{"#news.", "comp.mail.*"}}},
	{"A002 NAMESPACE\r\n", Command{"A002", "NAMESPACE", false, &Namespace{}}},
	{"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n", Command{"A042", "STATUS", false, &Status{"blurdybloop", []string{"UIDNEXT", "MESSAGES"}}}},
	{"A042 STATUS x (size deleted HIGHESTMODSEQ)\r\n", Command{"A042", "STATUS", false, &Status{"x", []string{"SIZE", "DELETED", "HIGHESTMODSEQ"}}}},
	{"A003 APPEND saved-messages (\\Seen) {6}\r\nhello!\r\n", Command{"A003", "APPEND", false,
		&Append{Mailbox: "saved-messages", Flags: []string{`\Seen`}, Literal: []byte("hello!")}}},
	{"A003 APPEND x () \" 7-Feb-1994 21:52:25 -0800\" {3+}\r\nabc\r\n", Command{"A003", "APPEND", false,
		&Append{Mailbox: "x", Flags: []string{}, Date: time.Date(1994, 2, 7, 21, 52, 25, 0, time.FixedZone("", -8*3600)), Literal: []byte("abc")}}},
	{"A003 APPEND x \"17-Jul-1996 02:44:25 +0000\" ~{2}\r\n\x00\x01\r\n", Command{"A003", "APPEND", false,
		&Append{Mailbox: "x", Date: time.Date(1996, 7, 17, 2, 44, 25, 0, time.UTC), Literal: []byte{0, 1}, Binary: true}}},
	{"a047 IDLE\r\n", Command{"a047", "IDLE", false, &Idle{}}},
	{"a ID (\"name\" \"sodr\" \"version\" NIL)\r\n", Command{"a", "ID", false, &ID{[]string{"name", "sodr", "version", ""}}}},
	{"a ID NIL\r\n", Command{"a", "ID", false, &ID{}}},
	// RFC 9051 §6.4
	{"FXXZ CHECK\r\n", Command{"FXXZ", "CHECK", false, &Check{}}},
	{"A341 CLOSE\r\n", Command{"A341", "CLOSE", false, &Close{}}},
	{"A342 UNSELECT\r\n", Command{"A342", "UNSELECT", false, &Unselect{}}},
	{"A202 EXPUNGE\r\n", Command{"A202", "EXPUNGE", false, &Expunge{}}},
	{"A003 UID EXPUNGE 3000:3002\r\n", Command{"A003", "EXPUNGE", true, &Expunge{Seq: ptr(seq(SeqRange{3000, 3002}))}}},
	{"A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n", Command{"A282", "SEARCH", false, &Search{
		Return: []string{"MIN", "COUNT"}, ReturnGiven: true,
		Key: and(SearchKey{Op: SearchFlag, Flag: `\Flagged`}, SearchKey{Op: SearchSince, Date: time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchNot, Children: []SearchKey{{Op: SearchHeader, Field: "FROM", Value: "Smith"}}})}}},
	{"A283 SEARCH RETURN () TEXT \"string not in mailbox\"\r\n", Command{"A283", "SEARCH", false, &Search{ReturnGiven: true,
		Key: and(SearchKey{Op: SearchText, Value: "string not in mailbox"})}}},
	{"A284 SEARCH CHARSET UTF-8 TEXT {18}\r\nмаркетинг\r\n", Command{"A284", "SEARCH", false, &Search{Charset: "UTF-8",
		Key: and(SearchKey{Op: SearchText, Value: "маркетинг"})}}},
	{"a UID SEARCH OR (SEEN unseen) (Larger 10 smaller 20) UID 1:* 2,*:4 $ HEADER X-Foo \"\" keyword $Junk old new recent\r\n",
		Command{"a", "SEARCH", true, &Search{Key: and(
			SearchKey{Op: SearchOr, Children: []SearchKey{
				and(SearchKey{Op: SearchFlag, Flag: `\Seen`}, SearchKey{Op: SearchNoFlag, Flag: `\Seen`}),
				and(SearchKey{Op: SearchLarger, Size: 10}, SearchKey{Op: SearchSmaller, Size: 20})}},
			SearchKey{Op: SearchUID, Seq: seq(SeqRange{1, Star})},
			SearchKey{Op: SearchSeq, Seq: seq(one(2), SeqRange{Star, 4})},
			SearchKey{Op: SearchSeq, Seq: SeqSet{SearchRes: true}},
			SearchKey{Op: SearchHeader, Field: "X-Foo", Value: ""},
			SearchKey{Op: SearchFlag, Flag: "$Junk"},
			SearchKey{Op: SearchOld}, SearchKey{Op: SearchNew}, SearchKey{Op: SearchFlag, Flag: `\Recent`})}}},
	{"a SEARCH (deleted) ON \"3-Mar-2025\" SENTBEFORE 31-Dec-1999 SENTON 1-Jan-2000 SENTSINCE 2-Jan-2000 BEFORE 1-jan-2001 YOUNGER 60 OLDER 5 all\r\n",
		Command{"a", "SEARCH", false, &Search{Key: and(
			SearchKey{Op: SearchFlag, Flag: `\Deleted`},
			SearchKey{Op: SearchOn, Date: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchSentBefore, Date: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchSentOn, Date: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchSentSince, Date: time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchBefore, Date: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)},
			SearchKey{Op: SearchYounger, Size: 60}, SearchKey{Op: SearchOlder, Size: 5}, SearchKey{Op: SearchAll})}}},
	{"a SEARCH RETURN (SAVE) BCC a CC b TO c SUBJECT d BODY e UNKEYWORD f UNANSWERED UNDELETED UNDRAFT UNFLAGGED DRAFT ANSWERED\r\n",
		Command{"a", "SEARCH", false, &Search{Return: []string{"SAVE"}, ReturnGiven: true, Key: and(
			SearchKey{Op: SearchHeader, Field: "BCC", Value: "a"}, SearchKey{Op: SearchHeader, Field: "CC", Value: "b"},
			SearchKey{Op: SearchHeader, Field: "TO", Value: "c"}, SearchKey{Op: SearchHeader, Field: "SUBJECT", Value: "d"},
			SearchKey{Op: SearchBody, Value: "e"}, SearchKey{Op: SearchNoFlag, Flag: "f"},
			SearchKey{Op: SearchNoFlag, Flag: `\Answered`}, SearchKey{Op: SearchNoFlag, Flag: `\Deleted`},
			SearchKey{Op: SearchNoFlag, Flag: `\Draft`}, SearchKey{Op: SearchNoFlag, Flag: `\Flagged`},
			SearchKey{Op: SearchFlag, Flag: `\Draft`}, SearchKey{Op: SearchFlag, Flag: `\Answered`})}}},
	{"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n", Command{"A654", "FETCH", false, &Fetch{Seq: seq(SeqRange{2, 4}), Items: []FetchItem{
		{Name: "FLAGS"}, {Name: "BODY", Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"DATE", "FROM"}}}}}}},
	{"a FETCH 1 all\r\n", Command{"a", "FETCH", false, &Fetch{Seq: seq(one(1)), Macro: "ALL",
		Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}}}}},
	{"a FETCH 1 FAST\r\n", Command{"a", "FETCH", false, &Fetch{Seq: seq(one(1)), Macro: "FAST",
		Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}}}}},
	{"a FETCH * FULL\r\n", Command{"a", "FETCH", false, &Fetch{Seq: seq(one(Star)), Macro: "FULL",
		Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}, {Name: "BODY"}}}}},
	{"a FETCH 1 body.peek[]\r\n", Command{"a", "FETCH", false, &Fetch{Seq: seq(one(1)), Items: []FetchItem{{Name: "BODY.PEEK", Section: &Section{}}}}}},
	{"a UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS.NOT (X-A \"X B\")]<0.2048> BODY[1.2.MIME] BODY[3.TEXT]<5.10> BODY[4] BODY[4.HEADER] BODY[TEXT] BINARY[1] BINARY.PEEK[]<0.1> BINARY.SIZE[2.1] RFC822 RFC822.HEADER RFC822.TEXT BODYSTRUCTURE BODY ENVELOPE INTERNALDATE)\r\n",
		Command{"a", "FETCH", true, &Fetch{Seq: seq(SeqRange{1, Star}), Items: []FetchItem{
			{Name: "UID"}, {Name: "RFC822.SIZE"}, {Name: "FLAGS"},
			{Name: "BODY.PEEK", Section: &Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"X-A", "X B"}}, Partial: &Partial{0, 2048}},
			{Name: "BODY", Section: &Section{Part: []int{1, 2}, Specifier: "MIME"}},
			{Name: "BODY", Section: &Section{Part: []int{3}, Specifier: "TEXT"}, Partial: &Partial{5, 10}},
			{Name: "BODY", Section: &Section{Part: []int{4}}},
			{Name: "BODY", Section: &Section{Part: []int{4}, Specifier: "HEADER"}},
			{Name: "BODY", Section: &Section{Specifier: "TEXT"}},
			{Name: "BINARY", Section: &Section{Part: []int{1}}},
			{Name: "BINARY.PEEK", Section: &Section{}, Partial: &Partial{0, 1}},
			{Name: "BINARY.SIZE", Section: &Section{Part: []int{2, 1}}},
			{Name: "RFC822"}, {Name: "RFC822.HEADER"}, {Name: "RFC822.TEXT"}, {Name: "BODYSTRUCTURE"}, {Name: "BODY"},
			{Name: "ENVELOPE"}, {Name: "INTERNALDATE"}}}}},
	{"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n", Command{"A003", "STORE", false, &Store{Seq: seq(SeqRange{2, 4}), Mode: StoreAdd, Flags: []string{`\Deleted`}}}},
	{"A003 UID STORE 1,3:5 -flags.silent \\seen $Forwarded\r\n", Command{"A003", "STORE", true,
		&Store{Seq: seq(one(1), SeqRange{3, 5}), Mode: StoreRemove, Silent: true, Flags: []string{`\Seen`, "$Forwarded"}}}},
	{"A003 STORE $ FLAGS ()\r\n", Command{"A003", "STORE", false, &Store{Seq: SeqSet{SearchRes: true}, Flags: []string{}}}},
	{"A003 COPY 2:4 MEETING\r\n", Command{"A003", "COPY", false, &Copy{seq(SeqRange{2, 4}), "MEETING"}}},
	{"A003 UID MOVE 42 &AMk-t&AOk-\r\n", Command{"A003", "MOVE", true, &Move{seq(one(42)), "&AMk-t&AOk-"}}},
	{"a MOVE 1 \"Éte\"\r\n", Command{"a", "MOVE", false, &Move{seq(one(1)), "Éte"}}},
	{"a] NOOP\r\n", Command{"a]", "NOOP", false, &Noop{}}},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		got, err := Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("C: %q\nerror: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("C: %q\n got %#v\nwant %#v", tc.in, got.Args, tc.want.Args)
		}
	}
}

// TestParseErrors checks that bad input gives a *SyntaxError with the tag
// when there is one: "S: tag BAD ..." or "S: * BAD ...".
func TestParseErrors(t *testing.T) {
	deep := "a SEARCH " + strings.Repeat("(", 200) + "ALL" + strings.Repeat(")", 200) + "\r\n"
	deepNot := "a SEARCH " + strings.Repeat("NOT ", 200) + "ALL\r\n"
	deepSel := "a SELECT x (P " + strings.Repeat("(", 200) + strings.Repeat(")", 200) + ")\r\n"
	tests := []struct{ in, tag string }{
		{"\r\n", ""},
		{"+ NOOP\r\n", ""},
		{"a\r\n", ""},
		{"a{ NOOP\r\n", ""},
		{"a FOO\r\n", "a"},
		{"a NOOP extra\r\n", "a"},
		{"a NOOP", "a"},
		{"a LOGIN alice\r\n", "a"},
		{"a LOGIN alice \"unterminated\r\n", "a"},
		{"a LOGIN alice \"bad\\escape\"\r\n", "a"},
		{"a LOGIN {10}\r\nabc\r\n", "a"},
		{"a LOGIN  alice bob\r\n", "a"},
		{"a SELECT\r\n", "a"},
		{"a UID NOOP\r\n", "a"},
		{"a FETCH 0 FLAGS\r\n", "a"},
		{"a FETCH 1:4294967296 FLAGS\r\n", "a"},
		{"a FETCH 1, FLAGS\r\n", "a"},
		{"a FETCH 1 (FLAGS\r\n", "a"},
		{"a FETCH 1 ()\r\n", "a"},
		{"a FETCH 1 BODY[MIME]\r\n", "a"},
		{"a FETCH 1 BODY[1.FOO]\r\n", "a"},
		{"a FETCH 1 BODY.PEEK\r\n", "a"},
		{"a FETCH 1 BODY[]<0.0>\r\n", "a"},
		{"a FETCH 1 BODY[HEADER.FIELDS]\r\n", "a"},
		{"a FETCH 1 FLAGS (BOGUS 1)\r\n", "a"},
		{"a FETCH 1 BINARY[TEXT]\r\n", "a"},
		{"a STORE 1 FLAGS\r\n", "a"},
		{"a STORE 1 XFLAGS (\\Seen)\r\n", "a"},
		{"a SEARCH\r\n", "a"},
		{"a SEARCH FOO\r\n", "a"},
		{"a SEARCH OR ALL\r\n", "a"},
		{"a SEARCH SINCE 30-Feb-2020\r\n", "a"},
		{"a SEARCH SINCE 1-Foo-2020\r\n", "a"},
		{"a SEARCH LARGER 99999999999999999999\r\n", "a"},
		{deep, "a"},
		{deepNot, "a"},
		{deepSel, "a"},
		{"a APPEND x\r\n", "a"},
		{"a APPEND x (\\Seen) \"bad date\" {1}\r\nx\r\n", "a"},
		{"a APPEND x {1}\r\nx {1}\r\ny\r\n", "a"},
		{"a STATUS x ()\r\n", "a"},
		{"a CREATE x (FOO (bar))\r\n", "a"},
		{"a LIST \"\" x FOO (bar)\r\n", "a"},
		{"a ID (\"k\")\r\n", "a"},
		{"a UID EXPUNGE\r\n", "a"},
		{"a AUTHENTICATE PLAIN !!\r\n", "a"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("C: %q: got %v, want *SyntaxError", tc.in, err)
			continue
		}
		if se.Tag != tc.tag {
			t.Errorf("C: %q: tag %q, want %q (%v)", tc.in, se.Tag, tc.tag, se)
		}
	}
}

func TestParseNoAliasOfStrings(t *testing.T) {
	raw := []byte("a LOGIN alice secret\r\n")
	cmd, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	copy(raw, "xxxxxxxxxxxxxxxxxxxx")
	if l := cmd.Args.(*Login); l.User != "alice" || l.Password != "secret" || cmd.Tag != "a" {
		t.Fatalf("strings alias the input: %+v", l)
	}
}
