package server

import (
	"slices"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// go-imap v2's client, an independent implementation of CONDSTORE (RFC
// 7162 §3.1), against what the store holds: SELECT (CONDSTORE)'s
// HIGHESTMODSEQ, FETCH MODSEQ, STORE UNCHANGEDSINCE, FETCH CHANGEDSINCE and
// STATUS HIGHESTMODSEQ.
func TestGoIMAPCondStore(t *testing.T) {
	ts := newTestServer(t)
	seedN(t, ts, 3)
	cl, err := imapclient.DialInsecure(ts.ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cl.Login("alice", "pw").Wait())
	if caps := cl.Caps(); !caps.Has(goimap.CapCondStore) || !caps.Has(goimap.CapQResync) {
		t.Fatalf("capabilities %v", caps)
	}
	// The store's own view, to check the client against.
	u, err := ts.backend.Open("alice")
	must(err)
	held := func() (map[goimap.UID]uint64, uint64) {
		t.Helper()
		mb, err := u.Select("INBOX", true)
		must(err)
		defer mb.Close()
		out := map[goimap.UID]uint64{}
		for _, m := range mb.Messages() {
			out[goimap.UID(m.UID)] = m.ModSeq
		}
		return out, mb.HighestModSeq()
	}

	sel, err := cl.Select("INBOX", &goimap.SelectOptions{CondStore: true}).Wait()
	must(err)
	want, hms := held()
	if sel.HighestModSeq != hms || hms == 0 {
		t.Fatalf("SELECT (CONDSTORE): HIGHESTMODSEQ %d, store holds %d", sel.HighestModSeq, hms)
	}
	msgs, err := cl.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, ModSeq: true}).Collect()
	must(err)
	if len(msgs) != 3 {
		t.Fatalf("FETCH MODSEQ: %d messages", len(msgs))
	}
	for _, m := range msgs {
		if m.ModSeq != want[m.UID] {
			t.Errorf("UID %d: MODSEQ %d, store holds %d", m.UID, m.ModSeq, want[m.UID])
		}
	}

	// A conditional STORE that passes, then one that must fail.
	up, err := cl.Store(goimap.UIDSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagFlagged}},
		&goimap.StoreOptions{UnchangedSince: hms}).Collect()
	must(err)
	want, hms2 := held()
	if len(up) != 1 || up[0].ModSeq <= hms || up[0].ModSeq != want[2] || hms2 != want[2] {
		t.Fatalf("STORE (UNCHANGEDSINCE %d): %+v; store holds %d, highest %d", hms, up, want[2], hms2)
	}
	up, err = cl.Store(goimap.UIDSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagAnswered}},
		&goimap.StoreOptions{UnchangedSince: hms}).Collect()
	must(err)
	if after, _ := held(); len(up) != 0 || after[2] != want[2] {
		t.Fatalf("STORE (UNCHANGEDSINCE %d) after a change: %+v, mod-sequence %d -> %d", hms, up, want[2], after[2])
	}

	changed, err := cl.Fetch(goimap.UIDSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, Flags: true, ChangedSince: hms}).Collect()
	must(err)
	if len(changed) != 1 || changed[0].UID != 2 || changed[0].ModSeq != hms2 || !slices.Contains(changed[0].Flags, goimap.FlagFlagged) {
		t.Fatalf("FETCH (CHANGEDSINCE %d): %d messages (%+v); highest %d", hms, len(changed), changed, hms2)
	}
	st, err := cl.Status("Sent", &goimap.StatusOptions{HighestModSeq: true}).Wait()
	must(err)
	sent, err := u.Status("Sent")
	must(err)
	if st.HighestModSeq != sent.HighestModSeq || st.HighestModSeq == 0 {
		t.Fatalf("STATUS HIGHESTMODSEQ %d, store holds %d", st.HighestModSeq, sent.HighestModSeq)
	}
	must(cl.Logout().Wait())
}
