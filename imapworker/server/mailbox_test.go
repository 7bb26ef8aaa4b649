package server

import (
	"fmt"
	"strings"
	"testing"
)

func TestListDefaults(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.expectDo(`a1 LIST "" ""`, `* LIST (\Noselect) "/" ""`, "a1 OK LIST completed")
	c.expectDo(`a2 LIST "" "*"`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		"a2 OK LIST completed")
	c.expectDo(`a3 LIST "" "inbox"`, `* LIST (\HasNoChildren) "/" INBOX`, "a3 OK LIST completed")
	c.expectDo(`a4 LIST "" "%r%"`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		"a4 OK LIST completed")
}

func TestCreateDeleteRename(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.transcript(`
		C: a1 CREATE Work/Projects/
		S~ a1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed
		C: a2 CREATE Work
		S: a2 NO [ALREADYEXISTS] mailbox already exists
		C: a3 CREATE inbox
		S: a3 NO [ALREADYEXISTS] INBOX always exists
		C: a4 LIST "" "Work*"
		S: * LIST (\HasChildren) "/" Work
		S: * LIST (\HasNoChildren) "/" Work/Projects
		S: a4 OK LIST completed
		C: a5 LIST "Work/" "%"
		S: * LIST (\HasNoChildren) "/" Work/Projects
		S: a5 OK LIST completed
		C: a6 RENAME Work Play
		S: a6 OK RENAME completed
		C: a7 LIST "" "*o*"
		S: * LIST (\HasNoChildren) "/" Play/Projects
		S: a7 OK LIST completed
		C: a8 DELETE Play
		S: a8 OK DELETE completed
		C: a9 LIST "" "Play*"
		S: * LIST (\Noselect \HasChildren) "/" Play
		S: * LIST (\HasNoChildren) "/" Play/Projects
		S: a9 OK LIST completed
		C: b1 DELETE Play
		S: b1 NO [HASCHILDREN] mailbox has children
		C: b2 DELETE INBOX
		S: b2 NO [CANNOT] operation not possible
		C: b3 DELETE Nonexistent
		S: b3 NO [NONEXISTENT] no such mailbox
		C: b4 RENAME Nonexistent Foo
		S: b4 NO [NONEXISTENT] no such mailbox
		C: b5 RENAME Sent Drafts
		S: b5 NO [ALREADYEXISTS] mailbox already exists
		C: b6 CREATE "a*b"
		S: b6 NO [CANNOT] invalid mailbox name
		C: b7 CREATE Bin (USE (\Trash))
		S~ b7 OK \[MAILBOXID \([\w-]+\)\] CREATE completed
		C: b8 LIST "" Bin
		S: * LIST (\HasNoChildren \Trash) "/" Bin
		S: b8 OK LIST completed
		C: b9 CREATE Bad (USE (\Important))
		S: b9 NO [USEATTR] unsupported special-use attribute
	`)
}

func TestRenameInbox(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.C("a1 APPEND INBOX {9+}")
	c.raw("Subject: \r\n")
	c.S("~a1 OK \\[APPENDUID \\d+ 1\\] APPEND completed")
	c.transcript(`
		C: a2 RENAME INBOX Old
		S: a2 OK RENAME completed
		C: a3 STATUS INBOX (MESSAGES)
		S: * STATUS INBOX (MESSAGES 0)
		S: a3 OK STATUS completed
		C: a4 STATUS Old (MESSAGES)
		S: * STATUS Old (MESSAGES 1)
		S: a4 OK STATUS completed
	`)
}

func TestSubscribeLsubListExtended(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.transcript(`
		C: a1 CREATE Lists/go
		S~ a1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed
		C: a2 SUBSCRIBE Lists/go
		S: a2 OK SUBSCRIBE completed
		C: a3 SUBSCRIBE Nope
		S: a3 NO [NONEXISTENT] no such mailbox
		C: a4 LSUB "" "L*"
		S: * LSUB () "/" Lists/go
		S: a4 OK LSUB completed
		C: a5 LIST (SUBSCRIBED) "" "L*"
		S: * LIST (\HasNoChildren \Subscribed) "/" Lists/go
		S: a5 OK LIST completed
		C: a6 LIST (SUBSCRIBED RECURSIVEMATCH) "" "L%"
		S: * LIST (\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))
		S: a6 OK LIST completed
		C: a61 SUBSCRIBE Lists
		S: a61 OK SUBSCRIBE completed
		C: a62 LIST (SUBSCRIBED RECURSIVEMATCH) "" "L%"
		S: * LIST (\HasChildren \Subscribed) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))
		S: a62 OK LIST completed
		C: a63 UNSUBSCRIBE Lists
		S: a63 OK UNSUBSCRIBE completed
		C: a7 LIST "" "L*" RETURN (SUBSCRIBED CHILDREN)
		S: * LIST (\HasChildren) "/" Lists
		S: * LIST (\HasNoChildren \Subscribed) "/" Lists/go
		S: a7 OK LIST completed
		C: a8 DELETE Lists/go
		S: a8 OK DELETE completed
		C: a9 LIST (SUBSCRIBED) "" "L*"
		S: * LIST (\NonExistent \Subscribed) "/" Lists/go
		S: a9 OK LIST completed
		C: b1 UNSUBSCRIBE Lists/go
		S: b1 OK UNSUBSCRIBE completed
		C: b2 LSUB "" "Lists*"
		S: b2 OK LSUB completed
		C: b3 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)
		S: * LIST (\HasNoChildren \Archive) "/" Archive
		S: * LIST (\HasNoChildren \Drafts) "/" Drafts
		S: * LIST (\HasNoChildren \Junk) "/" Junk
		S: * LIST (\HasNoChildren \Sent) "/" Sent
		S: * LIST (\HasNoChildren \Trash) "/" Trash
		S: b3 OK LIST completed
		C: b4 LIST (RECURSIVEMATCH) "" "*"
		S: b4 BAD RECURSIVEMATCH needs another selection option
		C: b5 LIST "" "*" RETURN (FOO)
		S: b5 BAD unknown LIST return option FOO
		C: b6 LIST (FOO) "" "*"
		S: b6 BAD unknown LIST selection option FOO
	`)
}

func TestListStatusAndStatus(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	for i := 0; i < 2; i++ {
		c.C(fmt.Sprintf("a%d APPEND Drafts (\\Seen) {12+}", i))
		c.raw("Subject: x\r\n\r\n")
		c.until(fmt.Sprintf("a%d OK", i))
	}
	c.transcript(`
		C: b1 STATUS Drafts (MESSAGES UNSEEN DELETED SIZE RECENT APPENDLIMIT)
		S: * STATUS Drafts (MESSAGES 2 UNSEEN 0 DELETED 0 SIZE 24 RECENT 2 APPENDLIMIT 1048576)
		S: b1 OK STATUS completed
		C: b2 STATUS Drafts (FOO)
		S: b2 BAD unknown STATUS item FOO
		C: b3 STATUS Nope (MESSAGES)
		S: b3 NO [NONEXISTENT] no such mailbox
		C: b4 LIST "" "D*" RETURN (STATUS (MESSAGES UIDNEXT))
		S: * LIST (\HasNoChildren \Drafts) "/" Drafts
		S: * STATUS Drafts (MESSAGES 2 UIDNEXT 3)
		S: b4 OK LIST completed
		C: b5 NAMESPACE
		S: * NAMESPACE (("" "/")) NIL NIL
		S: b5 OK NAMESPACE completed
	`)
}

func TestAppend(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	msg := "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
	c.C(fmt.Sprintf(`a1 APPEND INBOX (\Flagged $Work) "05-Mar-2024 10:00:00 +0100" {%d}`, len(msg)))
	c.S("+ Ready for literal data")
	c.raw(msg + "\r\n")
	c.S("~a1 OK \\[APPENDUID \\d+ 1\\] APPEND completed")
	// TRYCREATE (RFC 9051 §6.3.12).
	c.C(fmt.Sprintf("a2 APPEND Nope {%d+}", len(msg)))
	c.raw(msg + "\r\n")
	c.S("a2 NO [TRYCREATE] no such mailbox")
	// Too big for APPENDLIMIT: refused before the literal is sent.
	c.C("a3 APPEND INBOX {2000000}")
	c.S("a3 NO [TOOBIG] message exceeds APPENDLIMIT")
	c.C(`a4 APPEND INBOX (\Recent) {1+}`)
	c.raw("x\r\n")
	c.S(`a4 BAD \Recent cannot be set`)
	// literal8 (RFC 3516).
	c.C("a5 APPEND INBOX ~{5+}")
	c.raw("a\x00b\r\n\r\n")
	c.S("~a5 OK \\[APPENDUID \\d+ 2\\] APPEND completed")
	c.transcript(`
		C: a6 SELECT INBOX
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work)
		S: * 2 EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT 3] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Work \*)] Flags permitted
		S: * 2 RECENT
		S: * OK [UNSEEN 1] First unseen
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: a6 OK [READ-WRITE] SELECT completed
		C: a7 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)
		S~ \* 1 FETCH \(FLAGS \(\\Flagged \$Work \\Recent\) INTERNALDATE " 5-Mar-2024 (10:00:00 \+0100|09:00:00 \+0000)" RFC822.SIZE 42\)
		S: a7 OK FETCH completed
	`)
	// APPEND to the selected mailbox announces the new message.
	c.C("a8 APPEND INBOX {1+}")
	c.raw("y\r\n")
	c.S("* 3 EXISTS", "* 3 RECENT", "~a8 OK \\[APPENDUID \\d+ 3\\] APPEND completed")
}

func TestUTF7MailboxNames(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	// IMAP4rev1: modified UTF-7 on the wire (RFC 3501 §5.1.3).
	c.expectDo("a1 CREATE Entw&APw-rfe", `~a1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	c.expectDo(`a2 LIST "" "Entw*"`, `* LIST (\HasNoChildren) "/" Entw&APw-rfe`, "a2 OK LIST completed")
	// IMAP4rev2: UTF-8 (RFC 9051 §5.1).
	c.expectDo("a3 ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "a3 OK ENABLE completed")
	c.expectDo(`a4 LIST "" "Entw*"`, `* LIST (\HasNoChildren) "/" "Entwürfe"`, "a4 OK LIST completed")
	c.expectDo(`a5 ENABLE IMAP4rev2`, "* ENABLED", "a5 OK ENABLE completed")
	if !strings.Contains(postCaps, "IMAP4rev2") {
		t.Fatal("IMAP4rev2 not advertised")
	}
}

// APPENDs pipelined to one mailbox are stored together and answered each
// with its own UID, in order; one that cannot be stored with them, and the
// commands after, are answered as if sent alone.
func TestPipelinedAppends(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	var batch strings.Builder
	for i, line := range []string{"a1 APPEND INBOX", "a2 APPEND INBOX (\\Seen)", "a3 APPEND INBOX", "a4 APPEND INBOX (\\Bogus)", "a5 APPEND INBOX", "a6 APPEND Nope"} {
		msg := fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i+1)
		fmt.Fprintf(&batch, "%s {%d+}\r\n%s\r\n", line, len(msg), msg)
		if i == 4 {
			batch.WriteString("a7 NOOP\r\n")
		}
	}
	c.raw(batch.String())
	c.S(`~a1 OK \[APPENDUID \d+ 1\] APPEND completed`,
		`~a2 OK \[APPENDUID \d+ 2\] APPEND completed`,
		`~a3 OK \[APPENDUID \d+ 3\] APPEND completed`,
		`~a4 BAD .*`,
		`~a5 OK \[APPENDUID \d+ 4\] APPEND completed`,
		`a7 OK NOOP completed`,
		`~a6 NO \[TRYCREATE\] .*`)
	c.transcript(`
		C: b1 STATUS INBOX (MESSAGES)
		S: * STATUS INBOX (MESSAGES 4)
		S: b1 OK STATUS completed
	`)
}
