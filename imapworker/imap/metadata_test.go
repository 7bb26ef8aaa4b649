package imap

import (
	"reflect"
	"strings"
	"testing"
)

// The client lines of RFC 5464 §4.2-§4.4, parsed.
func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`a GETMETADATA "" /shared/comment` + "\r\n", &GetMetadata{MaxSize: -1, Entries: []string{"/shared/comment"}}},
		{`a GETMETADATA "INBOX" /private/comment` + "\r\n", &GetMetadata{Mailbox: "INBOX", MaxSize: -1, Entries: []string{"/private/comment"}}},
		{`a GETMETADATA "INBOX" (/shared/comment /private/comment)` + "\r\n",
			&GetMetadata{Mailbox: "INBOX", MaxSize: -1, Entries: []string{"/shared/comment", "/private/comment"}}},
		{`a GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment /private/comment)` + "\r\n",
			&GetMetadata{Mailbox: "INBOX", MaxSize: 1024, Entries: []string{"/shared/comment", "/private/comment"}}},
		{`a GETMETADATA "INBOX" (DEPTH 1) (/private/filters/values)` + "\r\n",
			&GetMetadata{Mailbox: "INBOX", MaxSize: -1, Depth: 1, Entries: []string{"/private/filters/values"}}},
		{`a GETMETADATA (depth infinity maxsize 0) INBOX /Shared/Comment` + "\r\n",
			&GetMetadata{Mailbox: "INBOX", MaxSize: 0, Depth: -1, Entries: []string{"/shared/comment"}}},
		{`a GETMETADATA "INBOX" /private/comment /shared/comment` + "\r\n",
			&GetMetadata{Mailbox: "INBOX", MaxSize: -1, Entries: []string{"/private/comment", "/shared/comment"}}},
		{"a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)\r\n",
			&SetMetadata{Mailbox: "INBOX", Entries: []MetadataEntry{{"/private/comment", []byte("My new comment across\r\ntwo lines.")}}}},
		{"a SETMETADATA INBOX (/private/comment NIL)\r\n", &SetMetadata{Mailbox: "INBOX", Entries: []MetadataEntry{{"/private/comment", nil}}}},
		{`a SETMETADATA INBOX (/private/comment "My new comment" /shared/comment "This one is for you!")` + "\r\n",
			&SetMetadata{Mailbox: "INBOX", Entries: []MetadataEntry{{"/private/comment", []byte("My new comment")}, {"/shared/comment", []byte("This one is for you!")}}}},
		{"a SETMETADATA \"\" (/shared/vendor/x/y ~{3}\r\n\x00\n\x01 /private/e \"\")\r\n",
			&SetMetadata{Entries: []MetadataEntry{{"/shared/vendor/x/y", []byte("\x00\n\x01")}, {"/private/e", []byte{}}}}},
	}
	for _, tc := range tests {
		checkArgs(t, tc.in, tc.want)
	}
	for _, bad := range []string{
		"a GETMETADATA INBOX\r\n",
		"a GETMETADATA INBOX /comment\r\n",    // no scope
		"a GETMETADATA INBOX /private\r\n",    // one component
		"a GETMETADATA INBOX /private/\r\n",   // trailing /
		"a GETMETADATA INBOX /private//x\r\n", // empty component
		"a GETMETADATA INBOX /private/a*\r\n", // wildcard
		"a GETMETADATA INBOX \"/shared/\x01\"\r\n",
		"a GETMETADATA INBOX /shared/vendor/x\r\n", // vendor needs 4 components
		"a GETMETADATA (DEPTH 2) INBOX /shared/comment\r\n",
		"a GETMETADATA (MAXSIZE) INBOX /shared/comment\r\n",
		"a GETMETADATA (FOO 1) INBOX /shared/comment\r\n",
		"a GETMETADATA (DEPTH 1 DEPTH 0) INBOX /shared/comment\r\n",
		"a GETMETADATA INBOX ()\r\n",
		"a SETMETADATA INBOX /shared/comment \"x\"\r\n",
		"a SETMETADATA INBOX (/shared/comment)\r\n",
		"a SETMETADATA INBOX ()\r\n",
		"a SETMETADATA INBOX (/shared/comment \"x\" /private/comment)\r\n",
		"a SETMETADATA INBOX (/shared/comment ~\"x\")\r\n",
		"a GETMETADATA INBOX " + "/shared/" + strings.Repeat("x", 1100) + "\r\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}
}

// LIST RETURN (METADATA (...)) (RFC 9590), in the forms clients send.
func TestParseListMetadata(t *testing.T) {
	two := []string{"/shared/comment", "/private/comment"}
	for in, want := range map[string]*GetMetadata{
		`a LIST "" "%" RETURN (METADATA (/shared/comment /private/comment))`:                           {MaxSize: -1, Entries: two},
		`a LIST "" "%" RETURN (METADATA ("/shared/comment" /private/comment) CHILDREN)`:                {MaxSize: -1, Entries: two},
		`a LIST "" "%" RETURN (METADATA (MAXSIZE 1024 (/shared/comment /private/comment)))`:            {MaxSize: 1024, Entries: two},
		`a LIST "" "%" RETURN (METADATA (/shared/comment /private/comment MAXSIZE 10 DEPTH infinity))`: {MaxSize: 10, Depth: -1, Entries: two},
	} {
		cmd, err := Parse([]byte(in + "\r\n"))
		if err != nil {
			t.Errorf("C: %s: %v", in, err)
			continue
		}
		l := cmd.Args.(*List)
		if !reflect.DeepEqual(l.Metadata, want) || !l.Extended {
			t.Errorf("C: %s\ngot  %+v\nwant %+v", in, l.Metadata, want)
		}
	}
	for _, bad := range []string{
		`a LIST "" "%" RETURN (METADATA)`,
		`a LIST "" "%" RETURN (METADATA ())`,
		`a LIST "" "%" RETURN (METADATA (MAXSIZE 1))`,
		`a LIST "" "%" RETURN (METADATA (/comment))`,
		`a LIST "" "%" RETURN (METADATA (/shared/a DEPTH 3))`,
	} {
		if _, err := Parse([]byte(bad + "\r\n")); err == nil {
			t.Errorf("C: %q parsed", bad)
		}
	}
}
