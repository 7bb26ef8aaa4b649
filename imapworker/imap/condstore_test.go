package imap

import (
	"errors"
	"reflect"
	"testing"
)

// The client lines of RFC 7162's examples, parsed.
func TestParseCondStore(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		// Example 3, 6, 7 (§3.1.3)
		{"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)\r\n",
			&Store{Seq: seq(one(6), one(4), one(8)), Mode: StoreAdd, Silent: true, Flags: []string{`\Deleted`}, UnchangedSince: ptr(uint64(12121230045))}},
		{"a102 STORE 12 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)\r\n",
			&Store{Seq: seq(one(12)), Mode: StoreAdd, Silent: true, Flags: []string{"$MDNSent"}, UnchangedSince: ptr(uint64(0))}},
		{"c101 STORE 50 (UNCHANGEDSINCE 12121230045) -FLAGS.SILENT (\\Deleted)\r\n",
			&Store{Seq: seq(one(50)), Mode: StoreRemove, Silent: true, Flags: []string{`\Deleted`}, UnchangedSince: ptr(uint64(12121230045))}},
		// Example 12 (§3.1.4.1), §3.2.6
		{"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
			&Fetch{Seq: seq(SeqRange{1, Star}), Items: []FetchItem{{Name: "FLAGS"}}, ChangedSince: ptr(uint64(12345))}},
		{"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
			&Fetch{Seq: seq(SeqRange{300, 500}), Items: []FetchItem{{Name: "FLAGS"}}, ChangedSince: ptr(uint64(12345)), Vanished: true}},
		// Example 13
		{"a FETCH 1:3 (MODSEQ)\r\n", &Fetch{Seq: seq(SeqRange{1, 3}), Items: []FetchItem{{Name: "MODSEQ"}}}},
		// Examples 15, 16, 19 (§3.1.5, §3.1.10)
		{`a SEARCH MODSEQ "/flags/\\draft" all 620162338` + "\r\n",
			&Search{Key: and(SearchKey{Op: SearchModSeq, Field: `/flags/\draft`, Value: "ALL", Size: 620162338})}},
		{"t SEARCH OR NOT MODSEQ 720162338 LARGER 50000\r\n",
			&Search{Key: and(SearchKey{Op: SearchOr, Children: []SearchKey{
				{Op: SearchNot, Children: []SearchKey{{Op: SearchModSeq, Size: 720162338}}},
				{Op: SearchLarger, Size: 50000}}})}},
		{"a SEARCH RETURN (ALL) MODSEQ 1234\r\n",
			&Search{Return: []string{"ALL"}, ReturnGiven: true, Key: and(SearchKey{Op: SearchModSeq, Size: 1234})}},
		// Example 18 (§3.1.8)
		{"A142 SELECT INBOX (CONDSTORE)\r\n", &Select{Mailbox: "INBOX", Params: []Param{{Name: "CONDSTORE"}}}},
		{"A142 EXAMINE INBOX (CONDSTORE QRESYNC (1 2) X 3)\r\n", &Select{Mailbox: "INBOX", ReadOnly: true,
			Params: []Param{{Name: "CONDSTORE"}, {Name: "QRESYNC", Value: "(1 2)"}, {Name: "X", Value: "3"}}}},
	}
	for _, tc := range tests {
		checkArgs(t, tc.in, tc.want)
	}
	for _, bad := range []string{
		"a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)\r\n",
		"a STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)\r\n",
		"a STORE 1 (FOO 1) +FLAGS (\\Seen)\r\n",
		"a STORE 1 (UNCHANGEDSINCE 1)+FLAGS (\\Seen)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
		"a FETCH 1 FLAGS (CHANGEDSINCE 99999999999999999999)\r\n",
		"a SEARCH MODSEQ \"/flags/\\\\seen\" bogus 1\r\n",
		"a SEARCH MODSEQ\r\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}
}

// checkArgs parses in and compares its arguments with want.
func checkArgs(t *testing.T, in string, want any) {
	t.Helper()
	cmd, err := Parse([]byte(in))
	if err != nil {
		t.Errorf("C: %q: %v", in, err)
		return
	}
	if !reflect.DeepEqual(cmd.Args, want) {
		t.Errorf("C: %q\ngot  %#v\nwant %#v", in, cmd.Args, want)
	}
}

// The QRESYNC parameters of RFC 7162 §3.2.5 and §6.
func TestParseQResync(t *testing.T) {
	cmd, err := Parse([]byte("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	sel := cmd.Args.(*Select)
	if len(sel.Params) != 1 || sel.Params[0].Name != "QRESYNC" {
		t.Fatalf("params %+v", sel.Params)
	}
	q, err := ParseQResync(sel.Params[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	wantSeq := []uint32{5000, 7500, 9000, 9990, 9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999}
	if q.UIDValidity != 67890007 || q.ModSeq != 90060115194045000 || !reflect.DeepEqual(*q.KnownUIDs, seq(SeqRange{1, 29997})) ||
		!reflect.DeepEqual(q.SeqMatch, wantSeq) || len(q.UIDMatch) != 13 || q.UIDMatch[12] != 29997 {
		t.Fatalf("QRESYNC %+v", q)
	}
	for in, want := range map[string]QResync{
		"(3857529045 20010715194032001 1:198)": {UIDValidity: 3857529045, ModSeq: 20010715194032001, KnownUIDs: ptr(seq(SeqRange{1, 198}))},
		"(67890007 20050715194045000)":         {UIDValidity: 67890007, ModSeq: 20050715194045000},
		"(1 2 (1,3 4,9))":                      {UIDValidity: 1, ModSeq: 2, SeqMatch: []uint32{1, 3}, UIDMatch: []uint32{4, 9}},
	} {
		q, err := ParseQResync(in)
		if err != nil || !reflect.DeepEqual(*q, want) {
			t.Errorf("%s: %+v %v", in, q, err)
		}
	}
	for _, bad := range []string{
		"()", "(0 1)", "(1 0)", "(1)", "(1 2 1:*)", "(1 2 $)", "(1 2 3 (1,2 3))", "(1 2 3 (2,1 3,4))",
		"(1 2 3 (1:200000 1:200000))", "(1 2) x", "1 2",
	} {
		var se *SyntaxError
		if _, err := ParseQResync(bad); !errors.As(err, &se) {
			t.Errorf("%q: %v, want *SyntaxError", bad, err)
		}
	}
}

// FuzzParseQResync: any QRESYNC value parses or is a *SyntaxError, and the
// match data it returns is ascending and paired.
func FuzzParseQResync(f *testing.F) {
	for _, s := range []string{
		"(67890007 90060115194045000 41:211,214:541)",
		"(67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997))",
		"(3857529045 20010715194032001 1:198)", "(1 2)", "(1 2 (1 3))", "(1 2 3:1 (2:1 4:5))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQResync(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if q.UIDValidity == 0 || q.ModSeq == 0 || len(q.SeqMatch) != len(q.UIDMatch) || len(q.SeqMatch) > maxSeqMatch {
			t.Fatalf("%q: %+v", s, q)
		}
		for i := 1; i < len(q.SeqMatch); i++ {
			if q.SeqMatch[i] <= q.SeqMatch[i-1] || q.UIDMatch[i] <= q.UIDMatch[i-1] {
				t.Fatalf("%q: not ascending %+v", s, q)
			}
		}
	})
}
