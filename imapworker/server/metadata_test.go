package server

import (
	"strings"
	"testing"
)

// The examples of RFC 5464 §4.2-§4.4, and its limits and codes.
func TestMetadata(t *testing.T) {
	ts := newTestServer(t)
	ts.setSession(func(s *SessionConfig) {
		s.Metadata = MetadataConfig{Admin: "mailto:postmaster@example.org", Comment: "Shared comment"}
	})
	c := ts.login("alice")
	long := strings.Repeat("x", 2199)
	c.transcript(`
		C: a GETMETADATA "" /shared/comment
		S: * METADATA "" (/shared/comment "Shared comment")
		S: a OK GETMETADATA completed
		C: a0 GETMETADATA "" (/shared/admin /shared/comment /private/vendor/x/y)
		S: * METADATA "" (/shared/admin "mailto:postmaster@example.org" /shared/comment "Shared comment" /private/vendor/x/y NIL)
		S: a0 OK GETMETADATA completed
		C: a1 SETMETADATA INBOX (/private/comment {33}
		S: + Ready for literal data
		C: My new comment across
		C: two lines.)
		S: a1 OK SETMETADATA completed
	`)
	c.expectDo(`a2 GETMETADATA "INBOX" /private/comment`,
		"* METADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)", "a2 OK GETMETADATA completed")
	c.transcript(`
		C: a3 SETMETADATA INBOX (/private/comment NIL)
		S: a3 OK SETMETADATA completed
		C: a4 SETMETADATA INBOX (/private/comment "My own comment" /shared/comment "This one is for you!")
		S: a4 OK SETMETADATA completed
		C: a5 GETMETADATA "INBOX" (/shared/comment /private/comment)
		S: * METADATA INBOX (/private/comment "My own comment" /shared/comment "This one is for you!")
		S: a5 OK GETMETADATA completed
		C: a6 SETMETADATA INBOX (/shared/comment {2199+}
		C: ` + long + `)
		S: a6 OK SETMETADATA completed
		C: a7 GETMETADATA "INBOX" (MAXSIZE 1024) (/shared/comment /private/comment)
		S: * METADATA INBOX (/private/comment "My own comment")
		S: a7 OK [METADATA LONGENTRIES 2199] GETMETADATA completed
		C: a8 GETMETADATA (MAXSIZE 10) INBOX /shared/comment
		S: a8 OK [METADATA LONGENTRIES 2199] GETMETADATA completed
		C: a9 SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" /private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x")
		S: a9 OK SETMETADATA completed
		C: b1 GETMETADATA "INBOX" (DEPTH 1) (/private/filters/values)
		S: * METADATA INBOX (/private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/small "SMALLER 5000")
		S: b1 OK GETMETADATA completed
		C: b2 GETMETADATA INBOX (DEPTH infinity) /private/filters
		S: * METADATA INBOX (/private/filters/values/boss "FROM \"boss@example.com\"" /private/filters/values/boss/deep "x" /private/filters/values/small "SMALLER 5000")
		S: b2 OK GETMETADATA completed
		C: b3 GETMETADATA INBOX /PRIVATE/Filters/Values/Small
		S: * METADATA INBOX (/private/filters/values/small "SMALLER 5000")
		S: b3 OK GETMETADATA completed
		C: b4 GETMETADATA INBOX /private/comment /shared/nothing
		S: * METADATA INBOX (/private/comment "My own comment" /shared/nothing NIL)
		S: b4 OK GETMETADATA completed
		C: b5 SETMETADATA "" (/shared/comment "mine")
		S: b5 NO [CANNOT] the server's shared annotations are read-only
		C: b6 SETMETADATA "" (/private/vendor/x/y ~{3+}
		C: ` + "a\x00b" + `)
		S: b6 OK SETMETADATA completed
	`)
	c.expectDo(`b7 GETMETADATA "" /private/vendor/x/y`, "* METADATA \"\" (/private/vendor/x/y ~{3}\r\na\x00b)", "b7 OK GETMETADATA completed")
	c.transcript(`
		C: b8 GETMETADATA nosuch /shared/comment
		S: b8 NO [NONEXISTENT] no such mailbox
		C: b9 SETMETADATA nosuch (/shared/comment "x")
		S: b9 NO [NONEXISTENT] no such mailbox
		C: c1 GETMETADATA INBOX /comment
		S~ c1 BAD .*
		C: c2 SETMETADATA INBOX (/shared/a* "x")
		S~ c2 BAD .*
		C: c3 GETMETADATA (DEPTH 2) INBOX /shared/comment
		S~ c3 BAD .*
		C: c4 SETMETADATA INBOX (/shared/big {65537}
		S: c4 NO [METADATA MAXSIZE 65536] annotation value too large
	`)
	// §4.3: too many annotations; none of the command's are set.
	var b strings.Builder
	b.WriteString("c5 SETMETADATA INBOX (")
	for i := range 100 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("/private/n/" + itoa(i) + ` "v"`)
	}
	b.WriteString(")")
	c.expectDo(b.String(), `c5 NO [METADATA TOOMANY] too many annotations`)
	c.expectDo("c6 GETMETADATA INBOX /private/n/1", `* METADATA INBOX (/private/n/1 NIL)`, "c6 OK GETMETADATA completed")
	// Annotations follow RENAME and go with DELETE (§4.1).
	c.transcript(`
		C: d1 CREATE foo
		S~ d1 OK .*
		C: d2 SETMETADATA foo (/shared/comment "follows")
		S: d2 OK SETMETADATA completed
		C: d3 RENAME foo bar
		S: d3 OK RENAME completed
		C: d4 GETMETADATA bar /shared/comment
		S: * METADATA bar (/shared/comment "follows")
		S: d4 OK GETMETADATA completed
		C: d5 DELETE bar
		S: d5 OK DELETE completed
		C: d6 CREATE bar
		S~ d6 OK .*
		C: d7 GETMETADATA bar /shared/comment
		S: * METADATA bar (/shared/comment NIL)
		S: d7 OK GETMETADATA completed
	`)
}

func TestMaildirMetadata(t *testing.T) {
	withMaildir(t)
	TestMetadata(t)
}

// RFC 9590: LIST RETURN (METADATA (...)) follows each LIST response with
// the mailbox's requested annotations, NIL for those it lacks; MAXSIZE
// leaves long ones out and names the largest in [METADATA LONGENTRIES].
func TestListMetadata(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.transcript(`
		C: a1 SETMETADATA INBOX (/shared/comment "Shared comment")
		S: a1 OK SETMETADATA completed
		C: a2 SETMETADATA Sent (/private/comment "My own comment" /shared/comment "` + strings.Repeat("y", 40) + `")
		S: a2 OK SETMETADATA completed
		C: a3 LIST "" "INBOX" RETURN (METADATA (/shared/comment /private/comment))
		S: * LIST (\HasNoChildren) "/" INBOX
		S: * METADATA INBOX (/shared/comment "Shared comment" /private/comment NIL)
		S: a3 OK LIST completed
		C: a4 LIST "" (INBOX Sent) RETURN (STATUS (MESSAGES) METADATA (MAXSIZE 20 (/shared/comment /private/comment)))
		S: * LIST (\HasNoChildren) "/" INBOX
		S: * STATUS INBOX (MESSAGES 0)
		S: * METADATA INBOX (/shared/comment "Shared comment" /private/comment NIL)
		S: * LIST (\HasNoChildren \Sent) "/" Sent
		S: * STATUS Sent (MESSAGES 0)
		S: * METADATA Sent (/private/comment "My own comment")
		S: a4 OK [METADATA LONGENTRIES 40] LIST completed
		C: a5 LIST "" "Drafts" RETURN (METADATA (/shared/comment))
		S: * LIST (\HasNoChildren \Drafts) "/" Drafts
		S: * METADATA Drafts (/shared/comment NIL)
		S: a5 OK LIST completed
		C: a6 LIST "" "%" RETURN (METADATA (/bad))
		S~ a6 BAD .*
	`)
}

func TestMaildirListMetadata(t *testing.T) {
	withMaildir(t)
	TestListMetadata(t)
}
