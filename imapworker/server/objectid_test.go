package server

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// capture returns the first group of re in line, failing the test when it
// does not match.
func capture(t *testing.T, line, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("%q does not match %s", line, re)
	}
	return m[1]
}

const objID = `([A-Za-z0-9_-]{1,255})`

// The examples of RFC 8474 §4 (MAILBOXID on CREATE, SELECT, STATUS and
// LIST-STATUS, kept by RENAME), §5.3 (EMAILID kept by MOVE, THREADID NIL)
// and §6 (SEARCH EMAILID, THREADID).
func TestObjectID(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	_, tg := c.do("3 create foo")
	foo := capture(t, tg, `^3 OK \[MAILBOXID \(`+objID+`\)\] CREATE completed$`)
	_, tg = c.do("4 create bar")
	bar := capture(t, tg, `^4 OK \[MAILBOXID \(`+objID+`\)\] CREATE completed$`)
	if foo == bar {
		t.Fatalf("foo and bar share MAILBOXID %s", foo)
	}
	c.transcript(`
		C: 5 create foo
		S: 5 NO [ALREADYEXISTS] mailbox already exists
		C: 6 status foo (mailboxid)
		S: * STATUS foo (MAILBOXID (` + foo + `))
		S: 6 OK STATUS completed
		C: 7 status bar (mailboxid)
		S: * STATUS bar (MAILBOXID (` + bar + `))
		S: 7 OK STATUS completed
		C: 8 rename foo renamed
		S: 8 OK RENAME completed
		C: 9 status renamed (mailboxid messages)
		S: * STATUS renamed (MAILBOXID (` + foo + `) MESSAGES 0)
		S: 9 OK STATUS completed
		C: 10 status bar (mailboxid)
		S: * STATUS bar (MAILBOXID (` + bar + `))
		S: 10 OK STATUS completed
		C: 11 list "" "*" return (status (mailboxid))
		S~ .*
	`)
	lines := c.until("11 ")
	if !contains(lines, `* STATUS renamed (MAILBOXID (`+foo+`))`) || !contains(lines, `* STATUS bar (MAILBOXID (`+bar+`))`) {
		t.Fatalf("LIST RETURN (STATUS (MAILBOXID)): %q", lines)
	}
	c.C("27 select renamed")
	lines = c.until("27 ")
	if !contains(lines, "* OK [MAILBOXID ("+foo+")] Ok") || lines[len(lines)-1] != "27 OK [READ-WRITE] SELECT completed" {
		t.Fatalf("SELECT: %q", lines)
	}

	// §5.3: three messages, one moved; EMAILIDs follow the move.
	c.C("2 select inbox")
	c.until("2 OK")
	for i, subj := range []string{"Message A", "Re: Message A", "Message C"} {
		msg := "Subject: " + subj + "\r\nMessage-ID: <fake." + itoa(i) + "@example.com>\r\n\r\nbody\r\n"
		c.C("5 append inbox \"20-Mar-2018 03:07:37 +1100\" {" + itoa(len(msg)) + "+}")
		c.raw(msg + "\r\n")
		c.until("5 OK")
	}
	un, _ := c.do("22 fetch 1:* (emailid threadid)")
	if len(un) != 3+1 && len(un) != 3 {
		t.Fatalf("FETCH: %q", un)
	}
	var ids []string
	for _, l := range un {
		if strings.Contains(l, " FETCH ") {
			ids = append(ids, capture(t, l, `^\* \d FETCH \(EMAILID \(`+objID+`\) THREADID NIL\)$`))
		}
	}
	if len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("EMAILIDs %q", ids)
	}
	c.transcript(`
		C: 27 search emailid ` + ids[0] + `
		S: * SEARCH 1
		S: 27 OK SEARCH completed
		C: 28 search threadid T64b478a75b7ea9
		S: * SEARCH
		S: 28 OK SEARCH completed
		C: 29 search or emailid ` + ids[1] + ` emailid ` + ids[2] + `
		S: * SEARCH 2 3
		S: 29 OK SEARCH completed
		C: 30 search emailid M0
		S: * SEARCH
		S: 30 OK SEARCH completed
		C: 23 move 2 renamed
		S~ \* OK \[COPYUID \d+ 2 1\] .*
		S: * 2 EXPUNGE
		S: 23 OK MOVE completed
		C: 24 fetch 1:* (emailid threadid)
		S: * 1 FETCH (EMAILID (` + ids[0] + `) THREADID NIL)
		S: * 2 FETCH (EMAILID (` + ids[2] + `) THREADID NIL)
		S: 24 OK FETCH completed
		C: 31 copy 1 renamed
		S~ 31 OK \[COPYUID \d+ 1 2\] COPY completed
		C: 25 examine "renamed"
	`)
	c.until("25 OK")
	c.transcript(`
		C: 26 fetch 1:* (emailid threadid)
		S: * 1 FETCH (EMAILID (` + ids[1] + `) THREADID NIL)
		S: * 2 FETCH (EMAILID (` + ids[0] + `) THREADID NIL)
		S: 26 OK FETCH completed
		C: 32 uid fetch 2 (emailid)
		S: * 2 FETCH (UID 2 EMAILID (` + ids[0] + `))
		S: 32 OK FETCH completed
		C: 33 fetch 1 (emailid
		S~ 33 BAD .*
		C: 34 search emailid "quoted"
		S~ 34 BAD .*
		C: 35 status renamed (mailboxid messages)
		S: * STATUS renamed (MAILBOXID (` + foo + `) MESSAGES 2)
		S: 35 OK STATUS completed
	`)
	// A re-created name is a new mailbox with a new MAILBOXID.
	c.C("36 close")
	c.until("36 OK")
	c.expectDo("37 delete bar", "37 OK DELETE completed")
	_, tg = c.do("38 create bar")
	if again := capture(t, tg, `^38 OK \[MAILBOXID \(`+objID+`\)\] CREATE completed$`); again == bar {
		t.Fatal("re-created bar kept its MAILBOXID")
	}
}

// RFC 8514 §4.2, §4.3: FETCH SAVEDATE is when the message entered the
// mailbox, not APPEND's internal date; SAVED* compare it by day;
// SAVEDATESUPPORTED matches all. A copy gets its own save date.
func TestSaveDate(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	today := time.Now()
	msg := "Subject: old\r\n\r\nbody\r\n"
	c.C(`a1 APPEND INBOX "01-Jan-2015 18:50:53 +0100" {` + itoa(len(msg)) + "+}")
	c.raw(msg + "\r\n")
	c.until("a1 OK")
	selectInbox(c)
	un, _ := c.do("A101 FETCH 1 (SAVEDATE INTERNALDATE)")
	saved := capture(t, un[0], `^\* 1 FETCH \(SAVEDATE "([^"]+)" INTERNALDATE " 1-Jan-2015 (?:18:50:53 \+0100|17:50:53 \+0000)"\)$`)
	st, err := time.Parse("_2-Jan-2006 15:04:05 -0700", saved)
	if err != nil || st.Sub(today).Abs() > time.Minute {
		t.Fatalf("SAVEDATE %q (%v), want about %v", saved, err, today)
	}
	day := today.Format("2-Jan-2006")
	tomorrow := today.AddDate(0, 0, 1).Format("2-Jan-2006")
	c.transcript(`
		C: A102 SEARCH SAVEDON ` + day + `
		S: * SEARCH 1
		S: A102 OK SEARCH completed
		C: A103 SEARCH SAVEDSINCE 28-Dec-2014
		S: * SEARCH 1
		S: A103 OK SEARCH completed
		C: A104 SEARCH SAVEDON 01-Jan-2015
		S: * SEARCH
		S: A104 OK SEARCH completed
		C: A105 SEARCH ON 01-Jan-2015
		S: * SEARCH 1
		S: A105 OK SEARCH completed
		C: A106 SEARCH SAVEDBEFORE ` + tomorrow + ` SAVEDATESUPPORTED
		S: * SEARCH 1
		S: A106 OK SEARCH completed
		C: A107 SEARCH SAVEDBEFORE ` + day + `
		S: * SEARCH
		S: A107 OK SEARCH completed
		C: A108 STORE 1 +FLAGS (\Flagged)
		S: * 1 FETCH (FLAGS (\Flagged \Recent))
		S: A108 OK STORE completed
		C: A109 FETCH 1 SAVEDATE
		S: * 1 FETCH (SAVEDATE "` + saved + `")
		S: A109 OK FETCH completed
		C: A110 SEARCH SAVEDON
		S~ A110 BAD .*
	`)
	time.Sleep(1100 * time.Millisecond) // a copy's save date is a later second
	c.C("A111 COPY 1 Trash")
	c.until("A111 OK")
	c.C("A112 EXAMINE Trash")
	c.until("A112 OK")
	un, _ = c.do("A113 FETCH 1 SAVEDATE")
	if got := capture(t, un[0], `^\* 1 FETCH \(SAVEDATE "([^"]+)"\)$`); got == saved {
		t.Fatalf("the copy kept the original's save date %s", got)
	}
}

func TestMaildirObjectID(t *testing.T) {
	withMaildir(t)
	t.Run("ObjectID", TestObjectID)
	t.Run("SaveDate", TestSaveDate)
}
