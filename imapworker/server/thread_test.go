package server

import (
	"fmt"
	"testing"
)

// threadMsg is a message of day d with a Message-ID (none if ""), a
// subject and optional further header lines.
func threadMsg(d int, id, subject string, extra ...string) string {
	h := []string{fmt.Sprintf("Date: %02d Mar 2024 10:00:00 +0000", d), "Subject: " + subject}
	if id != "" {
		h = append(h, "Message-ID: "+id)
	}
	return mail(10, append(h, extra...)...)
}

var threadMsgs = []string{
	threadMsg(1, "<a@x>", "topic"),
	threadMsg(2, "<b@x>", "Re: topic", "References: <a@x>"),
	threadMsg(3, `<"c"@x>`, "Re: topic", "References: <a@x>\r\n <b@x>"),
	threadMsg(4, "<d@x>", "Re: topic", "In-Reply-To: <a@x> (Alice's message)"),
	threadMsg(5, "<e@x>", "lost", "References: <missing@x>"),
	threadMsg(6, "<f@x>", "other", "References: <gone@x>"),
	threadMsg(7, "<g@x>", "Re: other", "References: <gone@x>"),
	threadMsg(8, "<a@x>", "dup"),                                           // a duplicate Message-ID: a thread of its own
	threadMsg(9, "", "Re: topic"),                                          // no Message-ID, no references: joined by subject
	threadMsg(10, "<h@x>", "loop", "References: <i@x>"),                    // h and i refer to each other:
	threadMsg(11, "<i@x>", "Re: loop", "References: <h@x>", "X: circular"), // the second link is not made
}

// RFC 5256 §3 THREAD=REFERENCES and THREAD=ORDEREDSUBJECT.
func TestThread(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts, threadMsgs...)
	c := ts.login("alice")
	selectInbox(c)
	for _, tc := range []struct{ q, want string }{
		// 3 is 2's child through References, 4 is 1's through In-Reply-To,
		// 9 1's as a reply with its base subject; 5's missing parent is
		// pruned, 6 and 7 keep their dummy; 11 is 10's parent only.
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3)(4)(9))(5)((6)(7))(8)(11 10)"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(3)(4)(9))(5)(6 7)(8)(10 11)"},
		// Only searched messages are threaded: 1 missing makes a dummy.
		{"THREAD REFERENCES UTF-8 2:4", "* THREAD ((2 3)(4))"},
		{"THREAD REFERENCES UTF-8 3", "* THREAD (3)"},
		{"THREAD ORDEREDSUBJECT US-ASCII SUBJECT topic", "* THREAD (1 (2)(3)(4)(9))"},
		{"THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD"},
		{"UID THREAD REFERENCES UTF-8 UID 6:7", "* THREAD ((6)(7))"},
	} {
		c.expectDo("t "+tc.q, tc.want, "t OK THREAD completed")
	}
	c.expectDo("t THREAD FOO UTF-8 ALL", "t BAD unknown threading algorithm FOO")
	c.expectDo("t THREAD REFERENCES KOI8-R ALL", "t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
	c.expectDo(`t STORE 1:4 +FLAGS.SILENT (\Deleted)`, "t OK STORE completed")
	c.expectDo("t EXPUNGE", "* 4 EXPUNGE", "* 3 EXPUNGE", "* 2 EXPUNGE", "* 1 EXPUNGE", "t OK EXPUNGE completed")
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", "* THREAD (1)((2)(3))(4)(5)(7 6)", "t OK THREAD completed")
	c.expectDo("t UID THREAD REFERENCES UTF-8 ALL", "* THREAD (5)((6)(7))(8)(9)(11 10)", "t OK THREAD completed")
}

// REFERENCES step 5: threads of one base subject merge.
func TestThreadSubjects(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts,
		threadMsg(1, "<1@x>", "Hello"),
		threadMsg(2, "<2@x>", "hello"),     // two non-replies: a new dummy holds both
		threadMsg(3, "<3@x>", "Re: Hello"), // a reply joins that dummy
		threadMsg(4, "<4@x>", ""),          // empty subjects never merge
		threadMsg(5, "<5@x>", "Re:"),
		threadMsg(6, "<6@x>", "[fwd: news]"),
		threadMsg(7, "<7@x>", "news"), // the non-reply holds the subject: 6 becomes its child
		threadMsg(8, "<8@x>", "Re: x", "References: <p1@x>"),
		threadMsg(9, "<9@x>", "x", "References: <p1@x>"),
		threadMsg(10, "<10@x>", "Re: x", "References: <p2@x>"),
		threadMsg(11, "<11@x>", "x", "References: <p2@x>"), // two dummies of one subject: their children join
	)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", "* THREAD ((1)(2)(3))(4)(5)(7 6)((8)(9)(10)(11))", "t OK THREAD completed")
	c.expectDo("t THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(3))(4 5)(6 7)(8 (9)(10)(11))", "t OK THREAD completed")
}

// A long reply chain threads without trouble.
func TestThreadLongChain(t *testing.T) {
	ts := newTestServer(t)
	var msgs []string
	want := "* THREAD ("
	for i := 1; i <= 5000; i++ {
		refs := ""
		if i > 1 {
			refs = fmt.Sprintf("In-Reply-To: <%d@x>", i-1)
		}
		msgs = append(msgs, mail(1, fmt.Sprintf("Message-ID: <%d@x>", i), "Subject: Re: chain", refs))
		if i > 1 {
			want += " "
		}
		want += fmt.Sprint(i)
	}
	seed(t, ts, msgs...)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", want+")", "t OK THREAD completed")
}
