package imap

import (
	"strings"
	"testing"
	"time"
)

// The client lines of RFC 8474 §5.3, §6 and RFC 8514 §4.2, §4.3, parsed.
func TestParseObjectIDSaveDate(t *testing.T) {
	day := time.Date(2014, 12, 28, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want any
	}{
		{"22 fetch 1:* (emailid threadid)\r\n", &Fetch{Seq: seq(SeqRange{1, Star}), Items: []FetchItem{{Name: "EMAILID"}, {Name: "THREADID"}}}},
		{"A101 FETCH 998 (SAVEDATE)\r\n", &Fetch{Seq: seq(one(998)), Items: []FetchItem{{Name: "SAVEDATE"}}}},
		{"a FETCH 1 savedate\r\n", &Fetch{Seq: seq(one(1)), Items: []FetchItem{{Name: "SAVEDATE"}}}},
		{"27 search emailid M6d99ac3275bb4e\r\n", &Search{Key: and(SearchKey{Op: SearchEmailID, Value: "M6d99ac3275bb4e"})}},
		{"28 search threadid T64b478a75b7ea9\r\n", &Search{Key: and(SearchKey{Op: SearchThreadID, Value: "T64b478a75b7ea9"})}},
		{"A102 SEARCH SAVEDON 28-Dec-2014\r\n", &Search{Key: and(SearchKey{Op: SearchSavedOn, Date: day})}},
		{"A103 SEARCH SAVEDSINCE 28-Dec-2014\r\n", &Search{Key: and(SearchKey{Op: SearchSavedSince, Date: day})}},
		{"a SEARCH SAVEDBEFORE \"28-Dec-2014\" SAVEDATESUPPORTED\r\n",
			&Search{Key: and(SearchKey{Op: SearchSavedBefore, Date: day}, SearchKey{Op: SearchSaveDateSupported})}},
		{"a SEARCH NOT EMAILID a_b-9\r\n", &Search{Key: and(SearchKey{Op: SearchNot, Children: []SearchKey{{Op: SearchEmailID, Value: "a_b-9"}}})}},
	}
	for _, tc := range tests {
		checkArgs(t, tc.in, tc.want)
	}
	for _, bad := range []string{
		"a SEARCH EMAILID\r\n",
		"a SEARCH EMAILID \"M1\"\r\n",
		"a SEARCH EMAILID M.1\r\n",
		"a SEARCH THREADID " + strings.Repeat("x", 256) + "\r\n",
		"a SEARCH SAVEDON\r\n",
		"a SEARCH SAVEDON 32-Dec-2014\r\n",
		"a SEARCH SAVEDATESUPPORTEDX\r\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}
	checkArgs(t, "a SEARCH EMAILID "+strings.Repeat("x", 255)+"\r\n", &Search{Key: and(SearchKey{Op: SearchEmailID, Value: strings.Repeat("x", 255)})})
}
