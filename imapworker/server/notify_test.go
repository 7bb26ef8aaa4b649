package server

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func fastNotify(t *testing.T) {
	old := notifyInterval
	notifyInterval = 20 * time.Millisecond
	t.Cleanup(func() { notifyInterval = old })
}

// RFC 5465 §3.1's example, adapted: STATUS for the watched mailboxes
// at NOTIFY SET, then, with no command running, a STATUS when another
// session delivers to one, EXISTS and the asked-for FETCH for a new
// message in the selected mailbox, EXPUNGE at once for SELECTED.
func TestNotifyMessages(t *testing.T) {
	fastNotify(t)
	ts := newTestServer(t)
	seedN(t, ts, 2)
	other := loginRev2(ts, "")
	other.expectDo("o1 CREATE Lists/Lemonade", `~o1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	other.expectDo("o2 CREATE misc", `~o2 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	selectInbox(other)
	other.expectDo(`o6 STORE 1 +FLAGS.SILENT (\Deleted)`, "o6 OK STORE completed")
	n := loginRev2(ts, "")
	n.transcript(`
		C: b NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))
		S~ \* STATUS Lists \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
		S~ \* STATUS Lists/Lemonade \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
		S: b OK NOTIFY completed
		C: c SELECT INBOX` + selectHeadNoMS(2, 3) + `
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: c OK [READ-WRITE] SELECT completed
	`)
	other.C("o3 APPEND Lists/Lemonade {9+}")
	other.raw("Subject: \r\n")
	other.until("o3 OK")
	n.S(`~\* STATUS Lists/Lemonade \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)`)
	other.C("o4 APPEND misc {9+}") // not watched
	other.raw("Subject: \r\n")
	other.until("o4 OK")
	other.C("o5 APPEND INBOX {22+}")
	other.raw("Subject: good morning\r\n")
	other.until("o5 OK")
	n.S("* 3 EXISTS", `~\* 3 FETCH \(UID 3 BODY\[HEADER\.FIELDS \(subject\)\] \{\d+\}\r\nSubject: good morning\r.*\)`)
	other.expectDo("o7 EXPUNGE", "* 1 EXPUNGE", "o7 OK EXPUNGE completed")
	n.S("* 1 EXPUNGE")
	// The session's own APPEND to a watched mailbox, or CREATE of one, is
	// not reported back.
	n.C("a1 APPEND Lists/Lemonade {9+}")
	n.raw("Subject: \r\n")
	n.S(`~a1 OK \[APPENDUID \d+ 2\] APPEND completed`)
	n.expectDo("a2 CREATE Lists/Own", `~a2 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	time.Sleep(5 * notifyInterval)
	n.expectDo("a3 NOOP", "a3 OK NOOP completed")
	n.expectDo("z NOTIFY NONE", "z OK NOTIFY completed")
	other.C("o8 APPEND Lists/Lemonade {9+}")
	other.raw("Subject: \r\n")
	other.until("o8 OK")
	time.Sleep(5 * notifyInterval)
	n.expectDo("y NOOP", "y OK NOOP completed")
}

func selectHeadNoMS(exists, uidNext int) string {
	return `
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * ` + itoa(exists) + ` EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT ` + itoa(uidNext) + `] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Flags permitted
		S: * LIST () "/" INBOX`
}

func itoa(n int) string { return strconv.Itoa(n) }

// MailboxName and SubscriptionChange (RFC 5465 §5.4, §5.5), in IDLE
// (§4); SELECTED-DELAYED keeps expunges for a command (§6.1.2); the
// session's own changes are not reported.
func TestNotifyNamesIdleDelayed(t *testing.T) {
	fastNotify(t)
	ts := newTestServer(t)
	seedN(t, ts, 2)
	other := loginRev2(ts, "")
	selectInbox(other)
	other.expectDo(`o0 STORE 2 +FLAGS.SILENT (\Deleted)`, "o0 OK STORE completed")
	n := loginRev2(ts, "")
	selectInbox(n)
	n.expectDo("a NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (personal (MailboxName SubscriptionChange))", "a OK NOTIFY completed")
	n.C("i IDLE")
	n.S("+ idling")
	other.expectDo("o1 CREATE Work", `~o1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	n.S(`* LIST (\HasNoChildren) "/" Work`)
	other.expectDo("o2 RENAME Work Play", "o2 OK RENAME completed")
	n.S(`* LIST (\HasNoChildren) "/" Play ("OLDNAME" (Work))`)
	other.expectDo("o3 SUBSCRIBE Play", "o3 OK SUBSCRIBE completed")
	n.S(`* LIST (\HasNoChildren \Subscribed) "/" Play`)
	other.expectDo("o4 UNSUBSCRIBE Play", "o4 OK UNSUBSCRIBE completed")
	n.S(`* LIST (\HasNoChildren) "/" Play`)
	other.expectDo("o5 DELETE Play", "o5 OK DELETE completed")
	n.S(`* LIST (\NonExistent) "/" Play`)
	n.C("DONE")
	n.S("i OK IDLE terminated")
	// Own changes: nothing comes back.
	n.expectDo("b CREATE Mine", `~b OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	other.expectDo("o7 EXPUNGE", "* 2 EXPUNGE", "o7 OK EXPUNGE completed")
	time.Sleep(5 * notifyInterval)
	// SELECTED-DELAYED: the expunge waits for a command that allows it.
	n.expectDo("c FETCH 2 (UID)", "* 2 FETCH (UID 2)", "c OK [EXPUNGEISSUED] some messages were expunged") // issue 14, correction 7
	n.expectDo("d NOOP", "* 2 EXPUNGE", "d OK NOOP completed")
}

// Errors of RFC 5465 §3.1 and §5, and [NOTIFICATIONOVERFLOW] (§5.8).
func TestNotifyErrorsOverflow(t *testing.T) {
	fastNotify(t)
	ts := newTestServer(t)
	n := loginRev2(ts, "")
	n.transcript(`
		C: a NOTIFY SET (personal (MailboxMetadataChange))
		S: a NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)] unsupported NOTIFY event MAILBOXMETADATACHANGE
		C: b NOTIFY SET (personal (MessageNew))
		S: b BAD MessageNew and MessageExpunge go together, and FlagChange needs both
		C: c NOTIFY SET (personal (FlagChange))
		S: c BAD MessageNew and MessageExpunge go together, and FlagChange needs both
		C: d NOTIFY SET (selected (MailboxName))
		S: d BAD SELECTED takes message events only
		C: e NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))
		S: e BAD only one of SELECTED and SELECTED-DELAYED
		C: f NOTIFY SET (personal (MessageNew (uid) MessageExpunge))
		S: f BAD fetch attributes are for SELECTED only
		C: g NOTIFY SET (selected (MessageNew (body[]) MessageExpunge))
		S: g BAD NOTIFY fetch attributes must not set \Seen
		C: h NOTIFY SET (bogus (MessageNew))
		S: h BAD unknown NOTIFY mailbox filter
		C: i NOTIFY SET (mailboxes Nope (MessageNew MessageExpunge FlagChange))
		S: i OK NOTIFY completed
	`)
	old := notifyMaxLines
	notifyMaxLines = 0
	defer func() { notifyMaxLines = old }()
	n.expectDo("j NOTIFY SET (mailboxes Sent (MessageNew MessageExpunge FlagChange))", "j OK NOTIFY completed")
	other := loginRev2(ts, "")
	other.C("o1 APPEND Sent {9+}")
	other.raw("Subject: \r\n")
	other.until("o1 OK")
	n.S(`~\* STATUS Sent \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ HIGHESTMODSEQ 2\)`, "* OK [NOTIFICATIONOVERFLOW] too many changes: NOTIFY NONE")
	other.C("o2 APPEND Sent {9+}")
	other.raw("Subject: \r\n")
	other.until("o2 OK")
	time.Sleep(5 * notifyInterval)
	n.expectDo("k NOOP", "k OK NOOP completed")
}

// An MDA's delivery into a watched Maildir folder reaches a NOTIFY
// session within a second, at the default interval.
func TestNotifyMaildirDelivery(t *testing.T) {
	dir := t.TempDir()
	makeMaildir(t, filepath.Join(dir, "alice", "Maildir"), 3)
	ts := maildirServer(t, dir)
	n := loginRev2(ts, "")
	n.expectDo("a CREATE Lists", `~a OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	n.transcript(`
		C: b NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))
		S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1600000000)
		S~ \* STATUS Lists \(MESSAGES 0 UIDNEXT 1 UIDVALIDITY \d+\)
		S: b OK NOTIFY completed
	`)
	start := time.Now()
	md := filepath.Join(dir, "alice", "Maildir", ".Lists")
	if err := os.WriteFile(filepath.Join(md, "tmp", "1700000000.M1.mda"), []byte("Subject: x\r\n\r\nx\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(md, "tmp", "1700000000.M1.mda"), filepath.Join(md, "new", "1700000000.M1.mda")); err != nil {
		t.Fatal(err)
	}
	n.S(`~\* STATUS Lists \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+\)`)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("delivery reported after %v", d)
	}
}

// SUBSCRIBED follows the subscriptions (RFC 5465 §6.4), and a SELECTED
// group with NONE keeps the selected mailbox quiet between commands.
func TestNotifySubscribed(t *testing.T) {
	fastNotify(t)
	ts := newTestServer(t)
	other := loginRev2(ts, "")
	other.expectDo("o1 CREATE misc", `~o1 OK \[MAILBOXID \([\w-]+\)\] CREATE completed`)
	n := loginRev2(ts, "")
	selectInbox(n)
	n.expectDo("a NOTIFY SET (selected NONE) (subscribed (MessageNew MessageExpunge))", "a OK NOTIFY completed")
	other.C("o2 APPEND misc {9+}")
	other.raw("Subject: \r\n")
	other.until("o2 OK")
	other.C("o3 APPEND INBOX {9+}") // selected: NONE
	other.raw("Subject: \r\n")
	other.until("o3 OK")
	other.expectDo("o4 SUBSCRIBE misc", "o4 OK SUBSCRIBE completed")
	other.C("o5 APPEND misc {9+}")
	other.raw("Subject: \r\n")
	other.until("o5 OK")
	// misc joins the watched set at SUBSCRIBE: a STATUS then (MESSAGES 1
	// or already 2), and one for the APPEND after it.
	for {
		l := n.line()
		if !lineMatch(l, `~\* STATUS misc \(MESSAGES [12] UIDNEXT [23] UIDVALIDITY \d+\)`) {
			t.Fatalf("got %q", l)
		}
		if strings.Contains(l, "MESSAGES 2") {
			break
		}
	}
	n.expectDo("b NOOP", "* 1 EXISTS", "b OK NOOP completed")
}

// Without FlagChange for SELECTED, flag changes wait for a command
// (RFC 5465 §5.1); with it they come at once.
func TestNotifyFlagChange(t *testing.T) {
	fastNotify(t)
	ts := newTestServer(t)
	seedN(t, ts, 2)
	other := loginRev2(ts, "")
	selectInbox(other)
	n := loginRev2(ts, "")
	selectInbox(n)
	n.expectDo("a NOTIFY SET (selected (MessageNew MessageExpunge))", "a OK NOTIFY completed")
	other.expectDo(`o1 STORE 1 +FLAGS.SILENT (\Flagged)`, "o1 OK STORE completed")
	time.Sleep(5 * notifyInterval)
	n.expectDo("b NOOP", "b OK NOOP completed") // the check took it in quietly
	n.expectDo("c FETCH 1 (FLAGS)", `* 1 FETCH (FLAGS (\Flagged))`, "c OK FETCH completed")
	n.expectDo("d NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))", "d OK NOTIFY completed")
	other.expectDo(`o2 STORE 2 +FLAGS.SILENT (\Seen)`, "o2 OK STORE completed")
	n.S(`* 2 FETCH (UID 2 FLAGS (\Seen))`)
}
