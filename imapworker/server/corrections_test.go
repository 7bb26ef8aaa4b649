package server

import (
	"fmt"
	"strings"
	"testing"
)

// The answers of issue 14 ("answers that differ from the RFCs"), each as
// the transcript a client or test tool sees.

// binaryMsg has a part whose body is the 7 bytes NUL '-' 0xe4 LF CR LF LF.
const binaryPart = "\x00-\xe4\n\r\n\n"

const binaryMsg = "MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=B\r\n" +
	"\r\n" +
	"--B\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	binaryPart + "\r\n" +
	"--B--\r\n"

// RFC 3516 §4.4, §6: a literal8 APPEND keeps every byte; BINARY returns
// them; BODY never carries a NUL in an ordinary literal (RFC 9051 §4.3) but
// the part transfer-encoded, as BODYSTRUCTURE describes it.
func TestAppendBinaryKeepsBytes(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.C(fmt.Sprintf("a1 APPEND INBOX ~{%d}", len(binaryMsg)))
	c.S("+ Ready for literal data")
	c.raw(binaryMsg + "\r\n")
	c.S("~a1 OK \\[APPENDUID \\d+ 1\\] APPEND completed")
	selectInbox(c)
	c.expectDo("a2 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])",
		"* 1 FETCH (BINARY[1] ~{7}\r\n"+binaryPart+" BINARY.SIZE[1] 7)", "a2 OK FETCH completed")
	c.expectDo("a3 FETCH 1 BINARY.PEEK[]",
		fmt.Sprintf("* 1 FETCH (BINARY[] ~{%d}\r\n%s)", len(binaryMsg), binaryMsg), "a3 OK FETCH completed")
	c.expectDo("a4 FETCH 1 BODY.PEEK[1]", "* 1 FETCH (BODY[1] {12}\r\nAC3kCg0KCg==)", "a4 OK FETCH completed")
	c.expectDo("a5 FETCH 1 BODYSTRUCTURE",
		`* 1 FETCH (BODYSTRUCTURE (("application" "octet-stream" NIL NIL NIL "base64" 12 NIL NIL NIL NIL) "mixed" ("boundary" "B") NIL NIL NIL))`,
		"a5 OK FETCH completed")
	c.expectDo("a6 FETCH 1 BODY.PEEK[1.MIME]",
		"* 1 FETCH (BODY[1.MIME] {77}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n)",
		"a6 OK FETCH completed")
	for _, item := range []string{"BODY.PEEK[]", "RFC822", "BODY.PEEK[TEXT]", "RFC822.TEXT"} {
		un, tg := c.do("a7 FETCH 1 " + item)
		all := strings.Join(un, "\n")
		if tg != "a7 OK FETCH completed" || strings.Contains(all, "\x00") || !strings.Contains(all, "AC3kCg0KCg==") {
			t.Fatalf("FETCH %s: NUL sent in a literal or content not encoded: %q %q", item, un, tg)
		}
	}
}

// RFC 2971 §3.3: up to 30 field/value pairs, values up to 1024 octets;
// before login the line is about 32 KB and must be answered.
func TestIDLargestBeforeLogin(t *testing.T) {
	ts := newTestServer(t)
	c := ts.dial()
	c.line()
	var b strings.Builder
	b.WriteString("i1 ID (")
	for i := range 30 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, `"field-%02d-%s" "%s"`, i, strings.Repeat("f", 21), strings.Repeat("v", 1024))
	}
	b.WriteString(")")
	c.expectDo(b.String(), `* ID ("name" "imapd")`, "i1 OK ID completed")
	c.expectDo("l1 LOGIN alice pw", "~l1 OK \\[CAPABILITY .*\\] LOGIN completed")
}

// RFC 5258 §3.5 and its example 9: with RECURSIVEMATCH, CHILDINFO goes
// only with a mailbox that has a subscribed descendant not itself listed;
// a matching subscribed child is listed as itself.
func TestListRecursiveMatchPatterns(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	for _, n := range []string{"foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2/mamba", "qux2/bar2"} {
		c.expectDo("c1 CREATE "+n, `~c1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	}
	for _, n := range []string{"foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2"} {
		c.expectDo("c2 SUBSCRIBE "+n, "c2 OK SUBSCRIBE completed")
	}
	c.transcript(`
		C: d3 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"
		S: * LIST (\HasNoChildren \Subscribed) "/" baz2/bar2
		S: * LIST (\HasNoChildren \Subscribed) "/" baz2/bar22
		S: * LIST (\HasNoChildren \Subscribed) "/" baz2/bar222
		S: * LIST (\HasChildren \Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))
		S: * LIST (\HasChildren) "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))
		S: * LIST (\HasNoChildren \Subscribed) "/" foo2/bar2
		S: * LIST (\HasNoChildren \Subscribed) "/" qux2/bar2
		S: d3 OK LIST completed
		C: d4 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("foo2" "foo2/*" "eps2")
		S: * LIST (\HasChildren \Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))
		S: * LIST (\HasNoChildren \Subscribed) "/" foo2/bar1
		S: * LIST (\HasNoChildren \Subscribed) "/" foo2/bar2
		S: d4 OK LIST completed
		C: d5 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("%2" "eps2/%")
		S: * LIST (\HasChildren) "/" baz2 ("CHILDINFO" ("SUBSCRIBED"))
		S: * LIST (\HasChildren \Subscribed) "/" eps2
		S: * LIST (\HasNoChildren \Subscribed) "/" eps2/mamba
		S: * LIST (\HasChildren) "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))
		S: * LIST (\HasChildren) "/" qux2 ("CHILDINFO" ("SUBSCRIBED"))
		S: d5 OK LIST completed
	`)
}

// RFC 6851 §4.3: MOVE into the selected mailbox. The source's EXPUNGE
// comes before the copy's EXISTS, so no count includes both; the same
// order for COPY after another session's EXPUNGE.
func TestMoveIntoSelected(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.transcript(`
		C: m1 MOVE 1 INBOX
		S~ \* OK \[COPYUID \d+ 1 3\] Moved
		S: * 1 EXPUNGE
		S: * 2 EXISTS
		S: * 2 RECENT
		S: m1 OK MOVE completed
		C: m2 UID FETCH 1:* UID
		S: * 1 FETCH (UID 2)
		S: * 2 FETCH (UID 3)
		S: m2 OK FETCH completed
	`)
	o := ts.login("alice")
	selectInbox(o)
	o.expectDo(`o1 STORE 1 +FLAGS.SILENT (\Deleted)`, "o1 OK STORE completed")
	o.expectDo("o2 EXPUNGE", "* 1 EXPUNGE", "o2 OK EXPUNGE completed")
	c.transcript(`
		C: m3 COPY 2 INBOX
		S: * 1 EXPUNGE
		S: * 2 EXISTS
		S: * 2 RECENT
		S~ m3 OK \[COPYUID \d+ 3 4\] COPY completed
	`)
}

// RFC 3501 §6.3.2: EXAMINE reports RECENT like SELECT (and leaves \Recent
// for a read-write session to claim).
func TestExamineRecent(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg)
	c := ts.login("alice")
	c.C("e1 EXAMINE INBOX")
	lines := c.until("e1 ")
	if !contains(lines, "* 2 RECENT") || lines[len(lines)-1] != "e1 OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("EXAMINE: %q", lines)
	}
	c.expectDo("e2 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Recent))`, "e2 OK FETCH completed")
	o := ts.login("alice")
	o.C("s1 SELECT INBOX")
	if lines := o.until("s1 "); !contains(lines, "* 2 RECENT") {
		t.Fatalf("SELECT after EXAMINE: %q", lines)
	}
}

func contains(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

// RFC 3501 §6.3.9: LSUB "%" lists a parent whose children are subscribed
// as \Noselect.
func TestLsubPercentParent(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.transcript(`
		C: l1 CREATE news/comp/mail
		S~ l1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed
		C: l2 SUBSCRIBE news/comp/mail
		S: l2 OK SUBSCRIBE completed
		C: l3 LSUB "" "news/%"
		S: * LSUB (\Noselect) "/" news/comp
		S: l3 OK LSUB completed
		C: l4 LSUB "" "n%"
		S: * LSUB (\Noselect) "/" news
		S: l4 OK LSUB completed
		C: l5 SUBSCRIBE news
		S: l5 OK SUBSCRIBE completed
		C: l6 LSUB "" "n%"
		S: * LSUB () "/" news
		S: l6 OK LSUB completed
		C: l7 LSUB "" "n*"
		S: * LSUB () "/" news
		S: * LSUB () "/" news/comp/mail
		S: l7 OK LSUB completed
	`)
}

// RFC 2180 §4.1, RFC 5530 EXPUNGEISSUED: FETCH and STORE of a message
// another session expunged, before this one is told, answer OK with what
// is still known: the last flags, NIL for the content.
func TestFetchStoreExpungedElsewhere(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, plainMsg)
	a := ts.login("alice")
	b := ts.login("alice")
	selectInbox(a)
	selectInbox(b)
	a.expectDo(`a1 STORE 1 +FLAGS (\Deleted \Seen)`, `* 1 FETCH (FLAGS (\Seen \Deleted \Recent))`, "a1 OK STORE completed")
	a.expectDo("a2 EXPUNGE", "* 1 EXPUNGE", "a2 OK EXPUNGE completed")
	b.transcript(`
		C: b1 FETCH 1 (FLAGS BODY.PEEK[] RFC822.SIZE)
		S: * 1 FETCH (UID 1 FLAGS (\Seen \Deleted))
		S~ \* 1 FETCH \(FLAGS \(\\Seen \\Deleted\) BODY\[\] NIL RFC822.SIZE \d+\)
		S: b1 OK [EXPUNGEISSUED] some messages were expunged
	`)
	b.expectDo("b2 FETCH 1:2 (UID BODY.PEEK[HEADER.FIELDS (Subject)])",
		"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (Subject)] NIL)",
		"* 2 FETCH (UID 2 BODY[HEADER.FIELDS (Subject)] {24}\r\nSubject: Hello there\r\n\r\n)",
		"b2 OK [EXPUNGEISSUED] some messages were expunged")
	b.transcript(`
		C: b3 STORE 1:2 +FLAGS (\Flagged)
		S: * 1 FETCH (FLAGS (\Seen \Deleted))
		S: * 2 FETCH (FLAGS (\Flagged))
		S: b3 OK [EXPUNGEISSUED] some messages were expunged
		C: b4 NOOP
		S: * 1 EXPUNGE
		S: b4 OK NOOP completed
	`)
}

// TestMaildirCorrections runs the tests above on the Maildir store.
func TestMaildirCorrections(t *testing.T) {
	withMaildir(t)
	for name, fn := range map[string]func(*testing.T){
		"AppendBinaryKeepsBytes":   TestAppendBinaryKeepsBytes,
		"ListRecursiveMatch":       TestListRecursiveMatchPatterns,
		"MoveIntoSelected":         TestMoveIntoSelected,
		"ExamineRecent":            TestExamineRecent,
		"LsubPercentParent":        TestLsubPercentParent,
		"FetchStoreExpungedElsewh": TestFetchStoreExpungedElsewhere,
		"MultiAppend":              TestMultiAppend,
		"Replace":                  TestReplace,
		"UTF8Accept":               TestUTF8Accept,
		"Quota":                    TestQuota,
		"Preview":                  TestPreview,
	} {
		t.Run(name, fn)
	}
}
