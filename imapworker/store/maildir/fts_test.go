package maildir

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"imapd/imapworker/fts"
	"imapd/imapworker/mime"
	"imapd/imapworker/store"
)

// uidsOf returns the UIDs of a handle's messages as a session keeps
// them: those of Select, then the new ones of each Poll.
func uidsOf(t *testing.T, mb store.Mailbox, known []uint32) []uint32 {
	if known == nil {
		for _, m := range mb.Messages() {
			known = append(known, m.UID)
		}
	}
	c, err := mb.Poll()
	if err != nil {
		t.Error(err)
	}
	for _, m := range c.New {
		known = append(known, m.UID)
	}
	return known
}

// scanBody returns the UIDs of uids whose body contains needle, read as
// SEARCH reads them.
func scanBody(t *testing.T, mb store.Mailbox, uids []uint32, needle string) []uint32 {
	t.Helper()
	m := mime.NewMatcher(needle)
	var out []uint32
	for _, u := range uids {
		cnt, err := mb.Open(u)
		if err != nil {
			continue
		}
		b, err := store.Bytes(cnt)
		cnt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m.BodyContains(mime.Parse(b)) {
			out = append(out, u)
		}
	}
	return out
}

// Sessions of two processes (two Users on one Maildir) search while
// messages arrive, with a build that flushes many small segments: every
// answer is the scan's, sure of every match (the words are ASCII tokens).
func TestTextMatchesConcurrent(t *testing.T) {
	old := ftsLimits
	ftsLimits = fts.Limits{FlushPostings: 300, MaxSegments: 4}
	defer func() { ftsLimits = old }()
	root := newRoot(t)
	u1, mb1 := openInbox(t, root, Options{})
	_, mb2 := openInbox(t, root, Options{})
	words := []string{"zebra", "quartz", "walrus", "mango"}
	add := func(i int) {
		body := fmt.Sprintf("Subject: %d\r\n\r\nline %d %s and %s\r\n", i, i, words[i%4], words[(i/4)%4])
		if _, _, err := u1.Append("INBOX", store.Flags{}, time.Time{}, []byte(body)); err != nil {
			t.Error(err)
		}
	}
	for i := range 60 {
		add(i)
	}
	var wg sync.WaitGroup
	for g, mb := range []store.Mailbox{mb1, mb2} {
		wg.Go(func() {
			var uids []uint32
			for k := range 20 {
				uids = uidsOf(t, mb, uids)
				w := words[(g+k)%4]
				sure, maybe, ok := mb.(store.TextSearcher).TextMatches(store.TextBody, w, uids)
				if !ok {
					t.Errorf("%s: not answered", w)
					return
				}
				if want := scanBody(t, mb, uids, w); !slices.Equal(sure, want) || len(maybe) > 0 {
					t.Errorf("%s: sure %v maybe %v, the scan finds %v", w, sure, maybe, want)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 60; i < 90; i++ {
			add(i)
		}
	})
	wg.Wait()
	if _, _, ok := mb1.(store.TextSearcher).TextMatches(store.TextBody, "-z", []uint32{1, 2}); ok {
		t.Fatal("a two-byte needle with a non-word byte was answered")
	}
}
