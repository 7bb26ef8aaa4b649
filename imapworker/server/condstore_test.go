package server

import (
	"strings"
	"testing"

	"imapd/imapworker/store"
)

// The mod-sequences below are those both stores give: an empty mailbox
// starts at HIGHESTMODSEQ 1, each arrival and each changed message takes
// the next one, each EXPUNGE one for all it removed.

// seedN appends n plain messages to alice's INBOX (mod-sequences 2..n+1).
func seedN(t *testing.T, ts *testServer, n int) {
	t.Helper()
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = plainMsg
	}
	seed(t, ts, msgs...)
}

// loginRev2 logs in and enables IMAP4rev2 and the given extensions.
func loginRev2(ts *testServer, ext string) *client {
	c := ts.login("alice")
	want := "* ENABLED IMAP4rev2"
	if ext != "" {
		want += " " + ext
	}
	c.expectDo(strings.TrimSpace("e ENABLE IMAP4rev2 "+ext), want, "e OK ENABLE completed")
	return c
}

const selectRev2 = `
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * 5 EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT 6] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Flags permitted
		S: * LIST () "/" INBOX`

// The examples of RFC 7162 §3.1, in order, on one mailbox.
func TestCondStoreExamples(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 5)
	c := loginRev2(ts, "")
	c.transcript(`
		C: A142 SELECT INBOX (CONDSTORE)` + selectRev2 + `
		S: * OK [HIGHESTMODSEQ 6] Highest
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A142 OK [READ-WRITE] SELECT completed

		C: a FETCH 1:3 (MODSEQ)
		S: * 1 FETCH (MODSEQ (2))
		S: * 2 FETCH (MODSEQ (3))
		S: * 3 FETCH (MODSEQ (4))
		S: a OK FETCH completed

		C: a103 UID STORE 4,2,5 (UNCHANGEDSINCE 6) +FLAGS.SILENT (\Deleted)
		S: * 2 FETCH (UID 2 MODSEQ (7))
		S: * 4 FETCH (UID 4 MODSEQ (8))
		S: * 5 FETCH (UID 5 MODSEQ (9))
		S: a103 OK STORE completed

		C: a104 STORE * (UNCHANGEDSINCE 9) +FLAGS.SILENT (\Deleted $Processed)
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Processed)
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Processed \*)] Flags permitted
		S: * 5 FETCH (MODSEQ (10))
		S: a104 OK STORE completed

		C: d105 STORE 4,1,5 (UNCHANGEDSINCE 6) +FLAGS.SILENT (\Seen)
		S: * 1 FETCH (MODSEQ (11))
		S: d105 OK [MODIFIED 4:5] Conditional STORE failed

		C: e105 STORE 3,1:3 (UNCHANGEDSINCE 6) +FLAGS.SILENT (\Flagged)
		S: * 3 FETCH (MODSEQ (12))
		S: e105 OK [MODIFIED 1:2] Conditional STORE failed

		C: a102 STORE 2 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($Processed)
		S: a102 OK [MODIFIED 2] Conditional STORE failed

		C: b108 STORE 2 (UNCHANGEDSINCE 7) +FLAGS ($Processed)
		S: * 2 FETCH (FLAGS (\Deleted $Processed) MODSEQ (13))
		S: b108 OK STORE completed

		C: s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 10)
		S: * 1 FETCH (UID 1 MODSEQ (11) FLAGS (\Seen))
		S: * 2 FETCH (UID 2 MODSEQ (13) FLAGS (\Deleted $Processed))
		S: * 3 FETCH (UID 3 MODSEQ (12) FLAGS (\Flagged))
		S: s100 OK FETCH completed

		C: s101 FETCH 1:5 (UID) (CHANGEDSINCE 12)
		S: * 2 FETCH (UID 2 MODSEQ (13))
		S: s101 OK FETCH completed

		C: A042 STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)
		S: * STATUS INBOX (UIDNEXT 6 MESSAGES 5 HIGHESTMODSEQ 13)
		S: A042 OK STATUS completed

		C: a SEARCH MODSEQ "/flags/\\draft" all 10
		S: * ESEARCH (TAG "a") ALL 1:3,5 MODSEQ 13
		S: a OK SEARCH completed

		C: t SEARCH OR NOT MODSEQ 4 LARGER 50000
		S: * ESEARCH (TAG "t")
		S: t OK SEARCH completed

		C: a SEARCH RETURN (ALL) MODSEQ 12
		S: * ESEARCH (TAG "a") ALL 2:3 MODSEQ 13
		S: a OK SEARCH completed

		C: u UID SEARCH RETURN (COUNT) MODSEQ 13
		S: * ESEARCH (TAG "u") UID COUNT 1 MODSEQ 13
		S: u OK SEARCH completed

		C: f FETCH 4 (FLAGS)
		S: * 4 FETCH (MODSEQ (8) FLAGS (\Deleted))
		S: f OK FETCH completed
	`)
}

// IMAP4rev1 sessions: SEARCH gives "(MODSEQ n)" (RFC 7162 §3.1.6); the
// first CONDSTORE enabling command with a mailbox selected sends
// HIGHESTMODSEQ (§3.1, Example 5); a STORE that changes nothing keeps the
// mod-sequence (§3.1.11).
func TestCondStoreRev1(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 5)
	c := ts.login("alice")
	c.C("s1 EXAMINE INBOX")
	un := c.until("s1 OK")
	for _, l := range un {
		if strings.Contains(l, "MODSEQ") {
			t.Fatalf("EXAMINE without CONDSTORE sent %q", l)
		}
	}
	c.transcript(`
		C: c101 STORE 5 (UNCHANGEDSINCE 6) -FLAGS.SILENT (\Deleted)
		S: c101 NO [READ-ONLY] mailbox is read-only
		C: s2 SELECT INBOX
		S: * OK [CLOSED] Previous mailbox closed
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * 5 EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT 6] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Flags permitted
		S: * 5 RECENT
		S: * OK [UNSEEN 1] First unseen
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: s2 OK [READ-WRITE] SELECT completed
		C: c102 STORE 5 (UNCHANGEDSINCE 6) -FLAGS.SILENT (\Deleted)
		S: * OK [HIGHESTMODSEQ 6] Highest
		S: * 5 FETCH (MODSEQ (6))
		S: c102 OK STORE completed
		C: c103 STORE 2 +FLAGS (\Draft)
		S: * 2 FETCH (FLAGS (\Draft \Recent) MODSEQ (7))
		S: c103 OK STORE completed
		C: a SEARCH MODSEQ "/flags/\\draft" all 7
		S: * SEARCH 2 (MODSEQ 7)
		S: a OK SEARCH completed
		C: b SEARCH MODSEQ 8
		S: * SEARCH
		S: b OK SEARCH completed
		C: s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6)
		S: * 2 FETCH (UID 2 MODSEQ (7) FLAGS (\Draft \Recent))
		S: s100 OK FETCH completed
		C: f1 FETCH 3 (BODY[HEADER.FIELDS (SUBJECT)])
		S~ \* 3 FETCH \(MODSEQ \(8\) FLAGS \(\\Seen \\Recent\) BODY\[HEADER\.FIELDS \(SUBJECT\)\] \{24\}\r\nSubject: Hello there\r\n\r\n\)
		S: f1 OK FETCH completed
	`)
}

// Example 14 of RFC 7162: a change in one session reaches the others with
// its MODSEQ, and a session that enabled nothing sees what it always saw.
func TestCondStoreOtherSessions(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 7)
	a := loginRev2(ts, "CONDSTORE")
	b := loginRev2(ts, "CONDSTORE")
	plain := loginRev2(ts, "")
	for _, c := range []*client{a, b, plain} {
		selectInbox(c)
	}
	a.expectDo(`A160 STORE 7 +FLAGS.SILENT (\Deleted)`, "* 7 FETCH (MODSEQ (9))", "A160 OK STORE completed")
	b.expectDo("C180 NOOP", `* 7 FETCH (UID 7 FLAGS (\Deleted) MODSEQ (9))`, "C180 OK NOOP completed")
	plain.expectDo("D210 NOOP", `* 7 FETCH (UID 7 FLAGS (\Deleted))`, "D210 OK NOOP completed")
	a.expectDo(`A240 STORE 7 +FLAGS (\Seen)`, `* 7 FETCH (FLAGS (\Seen \Deleted) MODSEQ (10))`, "A240 OK STORE completed")
	b.expectDo("C270 NOOP", `* 7 FETCH (UID 7 FLAGS (\Seen \Deleted) MODSEQ (10))`, "C270 OK NOOP completed")

	// Example 11: a conditional STORE on a mixture of expunged and
	// present messages. The expunged ones' last flags come too (RFC 2180
	// §4.1, docs/conformance.md: EXPUNGEISSUED).
	a.expectDo(`a1 STORE 4:6 +FLAGS.SILENT (\Deleted)`, "* 4 FETCH (MODSEQ (11))", "* 5 FETCH (MODSEQ (12))", "* 6 FETCH (MODSEQ (13))", "a1 OK STORE completed")
	a.expectDo("a2 EXPUNGE", "* 7 EXPUNGE", "* 6 EXPUNGE", "* 5 EXPUNGE", "* 4 EXPUNGE", "a2 OK EXPUNGE completed")
	a.expectDo(`a3 STORE 2 +FLAGS.SILENT (\Answered)`, "* 2 FETCH (MODSEQ (15))", "a3 OK STORE completed")
	b.transcript(`
		C: B001 STORE 1:7 (UNCHANGEDSINCE 13) +FLAGS (\Seen)
		S: * 1 FETCH (FLAGS (\Seen) MODSEQ (16))
		S: * 3 FETCH (FLAGS (\Seen) MODSEQ (17))
		S: * 2 FETCH (UID 2 FLAGS (\Answered) MODSEQ (15))
		S: * 4 FETCH (UID 4 FLAGS (\Deleted) MODSEQ (11))
		S: * 5 FETCH (UID 5 FLAGS (\Deleted) MODSEQ (12))
		S: * 6 FETCH (UID 6 FLAGS (\Deleted) MODSEQ (13))
		S: B001 NO [MODIFIED 2] some messages were expunged
		C: B002 NOOP
		S: * 7 EXPUNGE
		S: * 6 EXPUNGE
		S: * 5 EXPUNGE
		S: * 4 EXPUNGE
		S: B002 OK NOOP completed
		C: b003 STORE 2 (UNCHANGEDSINCE 15) +FLAGS (\Seen)
		S: * 2 FETCH (FLAGS (\Seen \Answered) MODSEQ (18))
		S: b003 OK STORE completed
	`)
}

// noModSeqBackend is a store that keeps no mod-sequences (RFC 7162
// §3.1.2.2), as Maildir is where imapd.modseq cannot be written.
type noModSeqBackend struct{ store.Backend }
type noModSeqUser struct{ store.User }
type noModSeqBox struct{ store.Mailbox }

func (b noModSeqBackend) Open(n string) (store.User, error) {
	u, err := b.Backend.Open(n)
	return noModSeqUser{u}, err
}
func (u noModSeqUser) Select(n string, ro bool) (store.Mailbox, error) {
	mb, err := u.User.Select(n, ro)
	if err != nil {
		return nil, err
	}
	return noModSeqBox{mb}, nil
}
func (u noModSeqUser) Status(n string) (store.Status, error) {
	st, err := u.User.Status(n)
	st.HighestModSeq = 0
	return st, err
}
func (noModSeqBox) HighestModSeq() uint64 { return 0 }

// Example 2 and the refusals of RFC 7162 §3.1.2.2; QRESYNC is ignored.
func TestNoModSeq(t *testing.T) {
	ts := newTestServer(t)
	ts.backend = noModSeqBackend{ts.backend}
	seedN(t, ts, 5)
	c := loginRev2(ts, "QRESYNC")
	c.transcript(`
		C: A142 SELECT INBOX (CONDSTORE QRESYNC (1 1))` + selectRev2 + `
		S: * OK [NOMODSEQ] No mod-sequences in this mailbox
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A142 OK [READ-WRITE] SELECT completed
		C: a FETCH 1 (MODSEQ)
		S: a BAD [CLIENTBUG] this mailbox keeps no mod-sequences (NOMODSEQ)
		C: b UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)
		S: b BAD [CLIENTBUG] this mailbox keeps no mod-sequences (NOMODSEQ)
		C: c STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\Seen)
		S: c BAD [CLIENTBUG] this mailbox keeps no mod-sequences (NOMODSEQ)
		C: d SEARCH MODSEQ 1
		S: d BAD [CLIENTBUG] this mailbox keeps no mod-sequences (NOMODSEQ)
		C: e STORE 1 +FLAGS (\Seen)
		S: * 1 FETCH (UID 1 FLAGS (\Seen))
		S: e OK STORE completed
		C: f STORE 1 +FLAGS (\Deleted)
		S: * 1 FETCH (UID 1 FLAGS (\Seen \Deleted))
		S: f OK STORE completed
		C: g EXPUNGE
		S: * 1 EXPUNGE
		S: g OK EXPUNGE completed
		C: h STATUS INBOX (HIGHESTMODSEQ)
		S: * STATUS INBOX (HIGHESTMODSEQ 0)
		S: h OK STATUS completed
	`)
}

// Bad CONDSTORE syntax is BAD and leaves the session as it was.
func TestCondStoreErrors(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 2)
	c := loginRev2(ts, "")
	c.transcript(`
		C: a SELECT INBOX (CONDSTORE FOO)
		S: a BAD unknown SELECT parameter FOO
		C: b SELECT INBOX (CONDSTORE 1)
		S: b BAD CONDSTORE takes no value
		C: c STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\Seen)
		S: c BAD command not allowed in this state
		C: d SELECT INBOX
		S~ .*FLAGS.*
		S: * 2 EXISTS
		S~ .*UIDVALIDITY.*
		S~ .*UIDNEXT.*
		S~ .*PERMANENTFLAGS.*
		S~ .*LIST.*
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: d OK [READ-WRITE] SELECT completed
		C: e STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\Seen)
		S: e BAD UNCHANGEDSINCE given twice
		C: f FETCH 1 (FLAGS) (CHANGEDSINCE 1 FOO)
		S: f BAD unknown FETCH modifier
		C: g SEARCH MODSEQ "/flags/\\seen" nope 1
		S: g BAD expected priv, shared or all
		C: h FETCH 1 (FLAGS)
		S: * 1 FETCH (FLAGS ())
		S: h OK FETCH completed
	`)
}

// The CONDSTORE and QRESYNC transcripts hold on Maildir too, with the
// same mod-sequences.
func TestCondStoreMaildir(t *testing.T) {
	withMaildir(t)
	for name, fn := range map[string]func(*testing.T){
		"Examples":      TestCondStoreExamples,
		"Rev1":          TestCondStoreRev1,
		"OtherSessions": TestCondStoreOtherSessions,
		"NoModSeq":      TestNoModSeq,
		"Errors":        TestCondStoreErrors,
		"GoIMAP":        TestGoIMAPCondStore,
	} {
		t.Run(name, fn)
	}
}
