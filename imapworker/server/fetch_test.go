package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
)

const plainMsg = "Date: Tue, 05 Mar 2024 10:00:00 +0100\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.org, Team: carol@example.org;\r\n" +
	"Subject: Hello there\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hi Bob,\r\nsee you.\r\n"

const mimeMsg = "From: carol@example.org\r\n" +
	"Subject: report\r\n" +
	"Date: Wed, 06 Mar 2024 12:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"quarterly numbers\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=a.bin\r\n" +
	"\r\n" +
	"AAECAw==\r\n" +
	"--XX--\r\n"

// seed appends messages to alice's INBOX directly through the store.
func seed(t *testing.T, ts *testServer, msgs ...string) {
	t.Helper()
	u, _ := ts.backend.Open("alice")
	for i, m := range msgs {
		date := time.Date(2024, 3, 5+i, 9, 0, 0, 0, time.UTC)
		if _, _, err := u.Append("INBOX", store.Flags{}, date, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func selectInbox(c *client) {
	c.t.Helper()
	c.C("s1 SELECT INBOX")
	c.until("s1 OK")
}

func TestFetchItems(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg, mimeMsg)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("a1 FETCH 1:* (UID FLAGS)",
		`* 1 FETCH (UID 1 FLAGS (\Recent))`, `* 2 FETCH (UID 2 FLAGS (\Recent))`, "a1 OK FETCH completed")
	c.expectDo("a2 FETCH 1 ENVELOPE",
		`* 1 FETCH (ENVELOPE ("Tue, 05 Mar 2024 10:00:00 +0100" "Hello there" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) ((NIL NIL "bob" "example.org")(NIL NIL "Team" NIL)(NIL NIL "carol" "example.org")(NIL NIL NIL NIL)) NIL NIL NIL "<1@example.org>"))`,
		"a2 OK FETCH completed")
	c.expectDo("a3 FETCH 1 BODYSTRUCTURE",
		`* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 19 2 NIL NIL NIL NIL))`,
		"a3 OK FETCH completed")
	c.expectDo("a4 FETCH 2 BODYSTRUCTURE",
		`* 2 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 17 0 NIL NIL NIL NIL)("application" "octet-stream" NIL NIL NIL "base64" 8 NIL ("attachment" ("filename" "a.bin")) NIL NIL) "mixed" ("boundary" "XX") NIL NIL NIL))`,
		"a4 OK FETCH completed")
	c.expectDo("a5 FETCH 2 BODY",
		`* 2 FETCH (BODY (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 17 0)("application" "octet-stream" NIL NIL NIL "base64" 8) "mixed"))`,
		"a5 OK FETCH completed")
	// BODY.PEEK does not set \Seen.
	c.expectDo("a6 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])",
		"* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {24}\r\nSubject: Hello there\r\n\r\n)", "a6 OK FETCH completed")
	c.expectDo("a7 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Recent))`, "a7 OK FETCH completed")
	// BODY[TEXT] sets \Seen and reports the new FLAGS (RFC 9051 §6.4.5).
	c.expectDo("a8 FETCH 1 BODY[TEXT]",
		"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {19}\r\nHi Bob,\r\nsee you.\r\n)", "a8 OK FETCH completed")
	c.expectDo("a9 FETCH 1 BODY.PEEK[TEXT]<3.4>", "* 1 FETCH (BODY[TEXT]<3> {4}\r\nBob,)", "a9 OK FETCH completed")
	c.expectDo("b1 FETCH 1 BODY.PEEK[TEXT]<100.4>", "* 1 FETCH (BODY[TEXT]<100> {0}\r\n)", "b1 OK FETCH completed")
	c.expectDo("b2 FETCH 2 (BODY.PEEK[1] BODY.PEEK[2.MIME])",
		"* 2 FETCH (BODY[1] {17}\r\nquarterly numbers BODY[2.MIME] {126}\r\n"+
			"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"+
			"Content-Disposition: attachment; filename=a.bin\r\n\r\n)", "b2 OK FETCH completed")
	c.expectDo("b3 FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2])",
		"* 2 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\x03 BINARY.SIZE[2] 4)", "b3 OK FETCH completed")
	c.expectDo("b4 FETCH 2 BODY.PEEK[7]", "* 2 FETCH (BODY[7] NIL)", "b4 OK FETCH completed")
	c.expectDo("b5 UID FETCH 2 RFC822.SIZE", fmt.Sprintf("* 2 FETCH (UID 2 RFC822.SIZE %d)", len(mimeMsg)), "b5 OK FETCH completed")
	c.expectDo("b6 FETCH 1 (RFC822.HEADER)", "~\\* 1 FETCH \\(RFC822.HEADER \\{172\\}\r\nDate: .*\r\n\r\n\\)", "b6 OK FETCH completed")
	c.expectDo("b7 FETCH 2 RFC822",
		fmt.Sprintf("* 2 FETCH (FLAGS (\\Seen \\Recent) RFC822 {%d}\r\n%s)", len(mimeMsg), mimeMsg), "b7 OK FETCH completed")
	c.expectDo("b8 FETCH 3 FLAGS", "b8 BAD invalid message sequence number")
	c.expectDo("b9 UID FETCH 3:5 FLAGS", "b9 OK FETCH completed")
	c.expectDo("c1 UID FETCH 5:* FLAGS", `* 2 FETCH (UID 2 FLAGS (\Seen \Recent))`, "c1 OK FETCH completed")
	c.expectDo("c3 FETCH 1 FAST", `~\* 1 FETCH \(FLAGS \(\\Seen \\Recent\) INTERNALDATE " 5-Mar-2024 09:00:00 \+0000" RFC822.SIZE 191\)`, "c3 OK FETCH completed")
	// EXAMINE: read-only, BODY[] does not set \Seen.
	c.C("c4 EXAMINE INBOX")
	lines := c.until("c4 ")
	if lines[0] != "* OK [CLOSED] Previous mailbox closed" || lines[len(lines)-1] != "c4 OK [READ-ONLY] EXAMINE completed" {
		t.Fatalf("EXAMINE: %q", lines)
	}
	c.expectDo("c5 STORE 1 -FLAGS (\\Seen)", "c5 NO [READ-ONLY] mailbox is read-only")
}

func TestFetchRev2(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, plainMsg)
	c := ts.login("alice")
	c.expectDo("e ENABLE IMAP4rev2", "* ENABLED IMAP4rev2", "e OK ENABLE completed")
	c.transcript(`
		C: a1 SELECT INBOX
		S: * FLAGS (\Seen \Answered \Flagged \Deleted \Draft)
		S: * 1 EXISTS
		S~ \* OK \[UIDVALIDITY \d+\] UIDs valid
		S: * OK [UIDNEXT 2] Predicted next UID
		S: * OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Flags permitted
		S: * LIST () "/" INBOX
		S~ \* OK \[MAILBOXID \([\w-]+\)\] Ok
		S: a1 OK [READ-WRITE] SELECT completed
		C: a2 FETCH 1 FLAGS
		S: * 1 FETCH (FLAGS ())
		S: a2 OK FETCH completed
		C: a3 SEARCH ALL
		S: * ESEARCH (TAG "a3") ALL 1
		S: a3 OK SEARCH completed
	`)
}

func TestFetchManyFlags(t *testing.T) {
	ts := newTestServer(t)
	u, _ := ts.backend.Open("alice")
	const n = 5000
	for i := 0; i < n; i++ {
		u.Append("INBOX", store.Flags{System: store.FlagSeen}, time.Time{}, []byte("Subject: x\r\n\r\n"))
	}
	c := ts.login("alice")
	selectInbox(c)
	un, tg := c.do("a1 FETCH 1:* (UID FLAGS)")
	if len(un) != n || tg != "a1 OK FETCH completed" || un[n-1] != fmt.Sprintf(`* %d FETCH (UID %d FLAGS (\Seen \Recent))`, n, n) {
		t.Fatalf("got %d lines, last %q, tagged %q", len(un), un[len(un)-1], tg)
	}
	if !strings.HasPrefix(un[0], "* 1 FETCH") {
		t.Fatal(un[0])
	}
}

// RFC 3516 §4.2: BINARY of a part with an unknown transfer encoding.
func TestFetchBinaryUnknownCTE(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, "Content-Type: text/plain\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n")
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("a1 FETCH 1 BINARY.PEEK[1]", "a1 NO [UNKNOWN-CTE] unknown content-transfer-encoding")
	c.expectDo("a2 FETCH 1 BODY.PEEK[1]", "* 1 FETCH (BODY[1] {7}\r\nuryyb\r\n)", "a2 OK FETCH completed")
}
