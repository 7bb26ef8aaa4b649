package server

import (
	"bytes"
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

// REFERENCES step 1's edges: IDs referenced before their message comes
// (its node then has children), a reference that would re-parent, IDs
// alike but for their domain, a message referring to itself, a loop of
// three, and a subject shared by a top-level thread and a reply deeper
// down, which step 5 leaves alone.
func TestThreadReferencesEdges(t *testing.T) {
	ts := newTestServer(t)
	seed(t, ts,
		threadMsg(1, "<r1@x>", "start", "References: <late@x>"),
		threadMsg(2, "<r2@x>", "Re: start", "References: <late@x>"),
		threadMsg(3, "<late@x>", "late"),                                 // the parent of 1 and 2
		threadMsg(4, "<r4@x>", "Re: start", "References: <r2@x> <r1@x>"), // 1 keeps its parent
		threadMsg(5, "<1@a>", "alpha"),
		threadMsg(6, "<1@b>", "beta", "References: <1@a>"), // not 5's own ID
		threadMsg(7, "<s@x>", "self", "References: <s@x>"),
		threadMsg(8, "<q@x>", "beta"), // 6 is no thread: no merge
		threadMsg(9, "", "Re: beta"),  // joins 8 by subject
		threadMsg(10, "<l1@x>", "ring", "References: <l3@x>"),
		threadMsg(11, "<l2@x>", "ring 2", "References: <l1@x>"),
		threadMsg(12, "<l3@x>", "ring 3", "References: <l2@x>"), // would close the ring
		threadMsg(13, "<1@a.b>", "gamma", "References: <1@a> <1@b>"),
	)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", "* THREAD (3 (1 4)(2))(5 6 13)(7)(8 9)(12 10 11)", "t OK THREAD completed")
	c.expectDo("t THREAD REFERENCES UTF-8 NOT 3", "* THREAD ((1 4)(2))(5 6 13)(7)(8 9)(12 10 11)", "t OK THREAD completed")
}

// Deep trees that are not chains: each message of a spine has a leaf
// reply and the next of the spine, so the thread is as deep as half the
// mailbox; without a Date, messages sort by internal date.
func TestThreadDeepTree(t *testing.T) {
	ts := newTestServer(t)
	const spine = 1500
	var msgs []string
	for j := 1; j <= spine; j++ {
		s, l := 2*j-1, 2*j
		h := []string{fmt.Sprintf("Message-ID: <%d@x>", s), "Subject: Re: comb"}
		if j > 1 {
			h = append(h, fmt.Sprintf("In-Reply-To: <%d@x>", s-2))
		}
		msgs = append(msgs, mail(1, h...), mail(1, fmt.Sprintf("Message-ID: <%d@x>", l), "Subject: Re: comb", fmt.Sprintf("References: <%d@x>", s)))
	}
	seed(t, ts, msgs...)
	want := fmt.Sprintf("%d %d", 2*spine-1, 2*spine)
	for j := spine - 1; j >= 1; j-- {
		want = fmt.Sprintf("%d (%d)(%s)", 2*j-1, 2*j, want)
	}
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t THREAD REFERENCES UTF-8 ALL", "* THREAD ("+want+")", "t OK THREAD completed")
}

// Two keys of one hash are two entries; the arena keeps entries of any
// size, the empty one too.
func TestThreadStrTable(t *testing.T) {
	var x hashIndex = newHashIndex(0)
	keys := []string{"a", "b", "c", "d"}
	for round := range 2 {
		for e, k := range keys {
			got, slot := x.find(42, func(e int32) bool { return keys[e] == k })
			if round == 0 {
				if got >= 0 {
					t.Fatalf("%q found as %d before it was set", k, got)
				}
				x.set(slot, 42, int32(e))
			} else if got != int32(e) {
				t.Fatalf("%q found as %d, want %d", k, got, e)
			}
		}
	}
	for i := range 5000 { // grows, keeping the colliding entries
		_, slot := x.find(uint64(i)<<32, func(int32) bool { return false })
		x.set(slot, uint64(i)<<32, int32(len(keys)+i))
	}
	if got, _ := x.find(42, func(e int32) bool { return e == 3 }); got != 3 {
		t.Fatalf("after growing: %d, want 3", got)
	}
	st := newStrTable(0)
	big := make([]byte, 3*arenaChunk)
	for i := range big {
		big[i] = byte(i % 251)
	}
	in := [][]byte{nil, []byte("x"), big, []byte("y"), big[:arenaChunk-1], []byte("x"), big[1:]}
	for i, b := range in {
		e, made := st.intern(b)
		if want := i != 5; made != want || st.empty(e) != (len(b) == 0) || !bytes.Equal(st.str(e), b) {
			t.Fatalf("entry %d of %d bytes: made %v, empty %v, %d bytes back", i, len(b), made, st.empty(e), len(st.str(e)))
		}
	}
}
