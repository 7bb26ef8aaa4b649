package server

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

func withMaildir(t *testing.T) { withMaildirIn(t, "") }

// withMaildirIn is withMaildir with each user's Maildir at
// root/user/Maildir; root "" means a new directory for each backend.
func withMaildirIn(t testing.TB, root string) {
	old := newBackend
	t.Cleanup(func() { newBackend = old })
	newBackend = func(tb testing.TB) store.Backend {
		dir := root
		if dir == "" {
			dir = tb.TempDir()
		}
		return maildir.NewBackend(func(user string) (string, error) {
			return filepath.Join(dir, user, "Maildir"), nil
		}, maildir.Options{})
	}
}

// Header SEARCH keys match the same messages whether they read the file,
// the header block alone, or the fields FETCH ENVELOPE cached.
func TestSearchHeaderCache(t *testing.T) {
	long := strings.Repeat("Received: from relay.example.net by mx.example.org; Tue, 5 Mar 2024 09:00:00 +0000\r\n", 400)
	msgs := []string{
		"Subject: Invoice 42\r\nFrom: Alice <alice@example.org>\r\nDate: Tue, 5 Mar 2024 09:00:00 +0000\r\n\r\nbody\r\n",
		"Subject: =?UTF-8?Q?Re=3A_invoice_d=C3=BC?=\r\nTo: bob@example.net\r\n\r\ninvoice in the body only\r\n",
		"Subject: a folded\r\n INVOICE subject\r\nX-Tag: zeta\r\n\r\nx\r\n",
		long + "Subject: after a 34 KiB header, invoice\r\nCc: carol@example.com\r\n\r\nx\r\n",
		"Subject: bare LF invoice\nFrom: dave@example.net\n\nbody\n",
		"Subject: no body at all, invoice",
		"Subject: nothing\r\nX-Tag: invoice\r\n\r\nSubject: invoice in the body\r\n",
	}
	for name, setup := range map[string]func(*testing.T){"memstore": func(*testing.T) {}, "maildir": withMaildir} {
		t.Run(name, func(t *testing.T) {
			setup(t)
			ts := newTestServer(t)
			seed(t, ts, msgs...)
			check := func(c *client) {
				c.t.Helper()
				for _, tc := range []struct{ q, want string }{
					{"SEARCH SUBJECT invoice", "* SEARCH 1 2 3 4 5 6"},
					{"SEARCH SUBJECT dü", "* SEARCH 2"},
					{"SEARCH FROM example.net", "* SEARCH 5"},
					{"SEARCH CC carol", "* SEARCH 4"},
					{"SEARCH TO bob", "* SEARCH 2"},
					{`SEARCH HEADER X-Tag ""`, "* SEARCH 3 7"},
					{"SEARCH HEADER X-Tag invoice", "* SEARCH 7"},
					{"SEARCH SENTON 5-Mar-2024", "* SEARCH 1"},
					{"SEARCH OR SUBJECT nothing BODY folded", "* SEARCH 7"},
					{"SEARCH SUBJECT invoice BODY body", "* SEARCH 1 2 5"},
				} {
					c.expectDo("t "+tc.q, tc.want, "t OK SEARCH completed")
				}
			}
			c := ts.login("alice")
			selectInbox(c)
			check(c) // from the files, caching the fields
			check(c) // from the cache
			c.C("f FETCH 1:* ENVELOPE")
			c.until("f OK")
			c2 := ts.login("alice")
			selectInbox(c2)
			check(c2)
		})
	}
}

// A cached ENVELOPE is served without the file; an uncached one from the
// header block, the same as from the whole message.
func TestFetchEnvelopeHeaderOnly(t *testing.T) {
	withMaildir(t)
	ts := newTestServer(t)
	long := strings.Repeat("X-Pad: "+strings.Repeat("p", 70)+"\r\n", 300)
	seed(t, ts, long+"Subject: late\r\nMessage-ID: <m@x>\r\n\r\nbody\r\n", "Subject: short\r\n\r\nbody\r\n")
	c := ts.login("alice")
	selectInbox(c)
	want := []string{
		`* 1 FETCH (ENVELOPE (NIL "late" NIL NIL NIL NIL NIL NIL NIL "<m@x>"))`,
		`* 2 FETCH (ENVELOPE (NIL "short" NIL NIL NIL NIL NIL NIL NIL NIL))`,
		"f OK FETCH completed",
	}
	c.expectDo("f FETCH 1:* ENVELOPE", want...)
	c.expectDo("f FETCH 1:* ENVELOPE", want...)
	c.expectDo("f FETCH 2 (ENVELOPE BODY)",
		`* 2 FETCH (ENVELOPE (NIL "short" NIL NIL NIL NIL NIL NIL NIL NIL) BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1))`,
		"f OK FETCH completed")
}

// SEARCH BODY over enough messages to be spread across workers gives the
// hits in order.
func TestSearchBodyParallel(t *testing.T) {
	ts := newTestServer(t)
	var msgs []string
	var want []string
	for i := 1; i <= 3*searchChunk+5; i++ {
		body := "plain words"
		if i%37 == 0 || i == 1 || i == 3*searchChunk+5 {
			body = "a zymurgical word"
			want = append(want, fmt.Sprint(i))
		}
		msgs = append(msgs, fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, body))
	}
	seed(t, ts, msgs...)
	c := ts.login("alice")
	selectInbox(c)
	c.expectDo("t SEARCH BODY zymurgical", "* SEARCH "+strings.Join(want, " "), "t OK SEARCH completed")
	c.expectDo("t SEARCH NOT TEXT zymurgical SUBJECT m37", "* SEARCH", "t OK SEARCH completed")
}

func TestHeaderLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"A: b\r\n\r\nbody", 8},
		{"A: b\n\nbody", 6},
		{"\r\nbody", 2},
		{"A: b\r\n c\r\n\r\n", 12},
		{"A: b\r\n", -1},
		{"A: b", -1},
	} {
		if got := headerLen([]byte(tc.in)); got != tc.want {
			t.Errorf("headerLen(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// A large message is copied to the client in chunks; what arrives is the
// message, whole or the part asked for.
func TestFetchLargeMessageStreamed(t *testing.T) {
	for name, setup := range map[string]func(*testing.T){"memstore": func(*testing.T) {}, "maildir": withMaildir} {
		t.Run(name, func(t *testing.T) {
			setup(t)
			ts := newTestServer(t)
			var sb strings.Builder
			sb.WriteString("Subject: big\r\n\r\n")
			for i := 0; sb.Len() < 3*streamMin; i++ {
				fmt.Fprintf(&sb, "line %d of the body\r\n", i)
			}
			msg := sb.String()
			seed(t, ts, msg)
			c := ts.login("alice")
			selectInbox(c)
			lit := func(s string) string { return fmt.Sprintf("{%d}\r\n%s", len(s), s) }
			c.expectDo("f FETCH 1 BODY.PEEK[]", "* 1 FETCH (BODY[] "+lit(msg)+")", "f OK FETCH completed")
			c.expectDo("f FETCH 1 BODY.PEEK[]<1000.400000>", "* 1 FETCH (BODY[]<1000> "+lit(msg[1000:401000])+")", "f OK FETCH completed")
			c.expectDo("f FETCH 1 BODY.PEEK[]<900000.10>", "* 1 FETCH (BODY[]<900000> {0}\r\n)", "f OK FETCH completed")
			c.expectDo("f FETCH 1 (FLAGS RFC822)", `* 1 FETCH (FLAGS (\Seen \Recent) RFC822 `+lit(msg)+")", "f OK FETCH completed")
		})
	}
}
