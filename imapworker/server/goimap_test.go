package server

import (
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPClient drives the command set with go-imap v2's client, an
// independent implementation of the protocol.
func TestGoIMAPClient(t *testing.T) {
	ts := newTestServer(t)
	updates := make(chan string, 100)
	cl, err := imapclient.DialInsecure(ts.ln.Addr().String(), &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { updates <- "expunge" },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					updates <- "exists"
				}
			},
		},
	})
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
	caps := cl.Caps()
	for _, want := range []goimap.Cap{goimap.CapIMAP4rev2, goimap.CapIdle, goimap.CapMove, goimap.CapUIDPlus, goimap.CapESearch} {
		if !caps.Has(want) {
			t.Errorf("missing capability %s", want)
		}
	}
	if _, err := cl.Enable(goimap.CapIMAP4rev2).Wait(); err != nil {
		t.Fatal(err)
	}
	id, err := cl.ID(&goimap.IDData{Name: "test"}).Wait()
	must(err)
	if id.Name != "imapd" {
		t.Errorf("ID name %q", id.Name)
	}
	ns, err := cl.Namespace().Wait()
	must(err)
	if len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("namespace %+v", ns)
	}

	must(cl.Create("Work/Ünïcode", nil).Wait())
	list, err := cl.List("", "*", &goimap.ListOptions{ReturnStatus: &goimap.StatusOptions{NumMessages: true}}).Collect()
	must(err)
	names := map[string]bool{}
	for _, l := range list {
		names[l.Mailbox] = true
	}
	for _, n := range []string{"INBOX", "Sent", "Work", "Work/Ünïcode"} {
		if !names[n] {
			t.Errorf("LIST lacks %q: %v", n, names)
		}
	}
	must(cl.Rename("Work/Ünïcode", "Work/Other", nil).Wait())
	must(cl.Subscribe("Work/Other").Wait())
	must(cl.Unsubscribe("Work/Other").Wait())
	must(cl.Delete("Work/Other").Wait())

	body := "From: a@example.org\r\nSubject: go-imap\r\n\r\nhello from go-imap\r\n"
	for i := 0; i < 3; i++ {
		ap := cl.Append("INBOX", int64(len(body)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagDraft}})
		ap.Write([]byte(body))
		must(ap.Close())
		ad, err := ap.Wait()
		must(err)
		if ad.UID != goimap.UID(i+1) {
			t.Errorf("APPENDUID uid %d", ad.UID)
		}
	}
	st, err := cl.Status("INBOX", &goimap.StatusOptions{NumMessages: true, UIDNext: true, Size: true, NumDeleted: true}).Wait()
	must(err)
	if *st.NumMessages != 3 || st.UIDNext != 4 || *st.Size != int64(3*len(body)) || *st.NumDeleted != 0 {
		t.Errorf("STATUS %+v", st)
	}

	sel, err := cl.Select("INBOX", nil).Wait()
	must(err)
	if sel.NumMessages != 3 || sel.UIDNext != 4 {
		t.Errorf("SELECT %+v", sel)
	}
	msgs, err := cl.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{
		UID: true, Flags: true, Envelope: true, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
		RFC822Size: true, InternalDate: true,
		BodySection: []*goimap.FetchItemBodySection{{Specifier: goimap.PartSpecifierText}},
	}).Collect()
	must(err)
	if len(msgs) != 3 {
		t.Fatalf("FETCH returned %d messages", len(msgs))
	}
	m := msgs[0]
	if m.Envelope == nil || m.Envelope.Subject != "go-imap" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "example.org" {
		t.Errorf("ENVELOPE %+v", m.Envelope)
	}
	if m.RFC822Size != int64(len(body)) || m.InternalDate.IsZero() {
		t.Errorf("size %d date %v", m.RFC822Size, m.InternalDate)
	}
	for _, b := range m.BodySection {
		if string(b.Bytes) != "hello from go-imap\r\n" {
			t.Errorf("BODY[TEXT] %q", b.Bytes)
		}
	}
	if bs, ok := m.BodyStructure.(*goimap.BodyStructureSinglePart); !ok || bs.Type != "text" {
		t.Errorf("BODYSTRUCTURE %#v", m.BodyStructure)
	}

	// STORE, SEARCH (ESEARCH in rev2), COPY, MOVE, EXPUNGE.
	_, err = cl.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect()
	must(err)
	sr, err := cl.Search(&goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagSeen}}, nil).Wait()
	must(err)
	if len(sr.AllSeqNums()) != 3 {
		t.Errorf("SEARCH SEEN: %v (BODY[TEXT] should have set \\Seen)", sr.AllSeqNums())
	}
	sr, err = cl.UIDSearch(&goimap.SearchCriteria{Body: []string{"go-imap"}, NotFlag: []goimap.Flag{goimap.FlagDeleted}}, &goimap.SearchOptions{ReturnCount: true, ReturnMin: true}).Wait()
	must(err)
	if sr.Count != 2 || sr.Min != 2 {
		t.Errorf("UID SEARCH RETURN (COUNT MIN): %+v", sr)
	}
	cp, err := cl.Copy(goimap.SeqSetNum(2), "Archive").Wait()
	must(err)
	if cp.DestUIDs.String() != "1" {
		t.Errorf("COPYUID %+v", cp)
	}
	mv, err := cl.Move(goimap.SeqSetNum(3), "Trash").Wait()
	must(err)
	if mv.DestUIDs.String() != "1" {
		t.Errorf("MOVE COPYUID %+v", mv)
	}
	ex, err := cl.Expunge().Collect()
	must(err)
	if len(ex) != 1 || ex[0] != 1 {
		t.Errorf("EXPUNGE %v", ex)
	}
	if _, err := cl.Copy(goimap.SeqSetNum(1), "Nope").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v, want TRYCREATE", err)
	}

	// IDLE: another session's APPEND arrives within a second.
	drain(updates)
	idle, err := cl.Idle()
	must(err)
	other := ts.login("alice")
	other.C("o1 APPEND INBOX {9+}")
	other.raw("Subject: \r\n")
	other.until("o1 OK")
	select {
	case u := <-updates:
		if u != "exists" {
			t.Errorf("IDLE update %q", u)
		}
	case <-time.After(5 * time.Second):
		t.Error("no EXISTS during IDLE")
	}
	must(idle.Close())
	must(idle.Wait())
	must(cl.Unselect().Wait())
	must(cl.Logout().Wait())
}

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
