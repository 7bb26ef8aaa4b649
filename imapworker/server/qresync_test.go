package server

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"imapd/imapworker/store/memstore"
)

// uidValidity asks for a mailbox's UIDVALIDITY with STATUS.
func uidValidity(c *client, box string) uint32 {
	c.t.Helper()
	un, _ := c.do("uv STATUS " + box + " (UIDVALIDITY)")
	m := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(strings.Join(un, " "))
	if m == nil {
		c.t.Fatalf("STATUS: %q", un)
	}
	var uv uint32
	fmt.Sscan(m[1], &uv)
	return uv
}

// selectHead is what SELECT INBOX sends before the QRESYNC part to an
// IMAP4rev2 session.
func selectHead(exists, uidNext int, hms uint64) string {
	return fmt.Sprintf(`
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * %d EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT %d] Predicted next UID
		S~ \* OK \[PERMANENTFLAGS \(.*\)\] Flags permitted
		S: * LIST () "/" INBOX
		S: * OK [HIGHESTMODSEQ %d] Highest`, exists, uidNext, hms)
}

// RFC 7162 §3.2: a client that knew INBOX at HIGHESTMODSEQ 11 resyncs in
// one round trip, then sees VANISHED instead of EXPUNGE.
func TestQResync(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 10) // UIDs 1..10, mod-sequences 2..11
	other := loginRev2(ts, "")
	selectInbox(other)
	other.expectDo(`o1 STORE 3,5 +FLAGS.SILENT (\Seen)`, "o1 OK STORE completed")    // 12, 13
	other.expectDo(`o2 STORE 2,7 +FLAGS.SILENT (\Deleted)`, "o2 OK STORE completed") // 14, 15
	other.expectDo("o3 EXPUNGE", "* 7 EXPUNGE", "* 2 EXPUNGE", "o3 OK EXPUNGE completed")

	c := loginRev2(ts, "QRESYNC")
	uv := uidValidity(c, "INBOX")
	c.transcript(fmt.Sprintf(`
		C: A03 SELECT INBOX (QRESYNC (%[1]d 11))`+selectHead(8, 11, 16)+`
		S: * VANISHED (EARLIER) 2,7
		S: * 2 FETCH (UID 3 FLAGS (\Seen) MODSEQ (12))
		S: * 4 FETCH (UID 5 FLAGS (\Seen) MODSEQ (13))
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A03 OK [READ-WRITE] SELECT completed

		C: A04 EXAMINE INBOX (QRESYNC (%[1]d 11 1:4))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(8, 11, 16)+`
		S: * VANISHED (EARLIER) 2
		S: * 2 FETCH (UID 3 FLAGS (\Seen) MODSEQ (12))
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A04 OK [READ-ONLY] EXAMINE completed

		C: A05 SELECT INBOX (QRESYNC (%[1]d 11 1:10 (1,5 1,6)))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(8, 11, 16)+`
		S: * VANISHED (EARLIER) 7
		S: * 2 FETCH (UID 3 FLAGS (\Seen) MODSEQ (12))
		S: * 4 FETCH (UID 5 FLAGS (\Seen) MODSEQ (13))
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A05 OK [READ-WRITE] SELECT completed

		C: A02 SELECT INBOX (QRESYNC (%[2]d 11 1:10))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(8, 11, 16)+`
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A02 OK [READ-WRITE] SELECT completed

		C: A06 SELECT INBOX (QRESYNC (%[1]d 16))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(8, 11, 16)+`
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: A06 OK [READ-WRITE] SELECT completed

		C: s1 STORE 1 +FLAGS.SILENT (\Deleted)
		S: * 1 FETCH (UID 1 MODSEQ (17))
		S: s1 OK STORE completed
		C: s2 EXPUNGE
		S: * VANISHED 1
		S: s2 OK [HIGHESTMODSEQ 18] EXPUNGE completed
	`, uv, uv+1))

	other.expectDo("o4 NOOP", "* 1 EXPUNGE", "o4 OK NOOP completed")
	other.expectDo(`o5 UID STORE 4 +FLAGS.SILENT (\Deleted)`, "o5 OK STORE completed") // 19
	other.expectDo("o6 UID EXPUNGE 4", "* 2 EXPUNGE", "o6 OK EXPUNGE completed")       // 20

	c.transcript(`
		C: n NOOP
		S: * VANISHED 4
		S: n OK NOOP completed

		C: f1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 11 VANISHED)
		S: * VANISHED (EARLIER) 1:2,4,7
		S: * 1 FETCH (UID 3 MODSEQ (12) FLAGS (\Seen))
		S: * 2 FETCH (UID 5 MODSEQ (13) FLAGS (\Seen))
		S: f1 OK FETCH completed

		C: f2 UID FETCH 1:5 (FLAGS) (CHANGEDSINCE 16 VANISHED)
		S: * VANISHED (EARLIER) 1,4
		S: f2 OK FETCH completed

		C: f3 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)
		S: f3 BAD [CLIENTBUG] VANISHED is for UID FETCH only
		C: f4 UID FETCH 1:* (FLAGS) (VANISHED)
		S: f4 BAD [CLIENTBUG] VANISHED needs CHANGEDSINCE

		C: m MOVE 1 Trash
		S~ \* OK \[COPYUID \d+ 3 1\] Moved
		S: * VANISHED 3
		S: m OK MOVE completed
		C: x CLOSE
		S: x OK CLOSE completed
	`)

	// Without ENABLE QRESYNC both forms are refused (RFC 7162 §3.2.3).
	other.transcript(fmt.Sprintf(`
		C: q1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)
		S: * 1 EXPUNGE
		S: q1 BAD [CLIENTBUG] VANISHED needs ENABLE QRESYNC first
		C: q2 SELECT INBOX (QRESYNC (%d 1))
		S: q2 BAD [CLIENTBUG] QRESYNC needs ENABLE QRESYNC first
		C: q3 NOOP
		S: q3 OK NOOP completed
	`, uv))
}

// When the store has forgotten expunges after the client's mod-sequence,
// VANISHED (EARLIER) names every UID of the client's set that is gone,
// narrowed by the sequence match data (RFC 7162 §3.2.5.2, §3.2.6).
func TestQResyncForgottenHistory(t *testing.T) {
	old := memstore.VanishedMax
	memstore.VanishedMax = 1
	defer func() { memstore.VanishedMax = old }()
	ts := newTestServer(t)
	seedN(t, ts, 10) // UIDs 1..10, mod-sequences 2..11
	other := loginRev2(ts, "")
	selectInbox(other)
	for _, uid := range []string{"1", "2", "7"} {
		other.expectDo(`d UID STORE `+uid+` +FLAGS.SILENT (\Deleted)`, "d OK STORE completed")
		other.do("x UID EXPUNGE " + uid)
	}
	// UID 1 went at 13, 2 at 15, 7 at 17: only 7 is remembered, and
	// nothing before 15.
	c := loginRev2(ts, "QRESYNC")
	uv := uidValidity(c, "INBOX")
	c.transcript(fmt.Sprintf(`
		C: a SELECT INBOX (QRESYNC (%[1]d 13))`+selectHead(7, 11, 17)+`
		S: * VANISHED (EARLIER) 1:2,7
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: a OK [READ-WRITE] SELECT completed
		C: b SELECT INBOX (QRESYNC (%[1]d 14 1:10 (2,4 4,6)))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(7, 11, 17)+`
		S: * VANISHED (EARLIER) 7
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: b OK [READ-WRITE] SELECT completed
		C: c SELECT INBOX (QRESYNC (%[1]d 16))
		S: * OK [CLOSED] Previous mailbox closed`+selectHead(7, 11, 17)+`
		S: * VANISHED (EARLIER) 7
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: c OK [READ-WRITE] SELECT completed
		C: d UID FETCH 1:5 (FLAGS) (CHANGEDSINCE 12 VANISHED)
		S: * VANISHED (EARLIER) 1:2
		S: d OK FETCH completed
	`, uv))
}

// The QRESYNC transcripts on Maildir.
func TestQResyncMaildir(t *testing.T) {
	withMaildir(t)
	t.Run("QResync", TestQResync)
	t.Run("Idle", TestQResyncIdle)
}

// While idling, a QRESYNC session hears of others' changes with UID and
// MODSEQ, and of expunges as VANISHED (RFC 7162 §3.2.4, §3.2.10.2).
func TestQResyncIdle(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 3) // mod-sequences 2..4
	other := loginRev2(ts, "")
	selectInbox(other)
	c := loginRev2(ts, "QRESYNC")
	selectInbox(c)
	c.C("i IDLE")
	c.S("+ idling")
	other.expectDo(`o1 STORE 2 +FLAGS.SILENT (\Deleted)`, "o1 OK STORE completed")
	c.S(`* 2 FETCH (UID 2 FLAGS (\Deleted) MODSEQ (5))`)
	other.expectDo("o2 EXPUNGE", "* 2 EXPUNGE", "o2 OK EXPUNGE completed")
	c.S("* VANISHED 2")
	c.C("DONE")
	c.S("i OK IDLE terminated")
	c.expectDo("s STATUS INBOX (HIGHESTMODSEQ MESSAGES)", "* STATUS INBOX (HIGHESTMODSEQ 6 MESSAGES 2)", "s OK STATUS completed")
}
