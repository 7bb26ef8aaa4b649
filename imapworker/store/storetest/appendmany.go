package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// testAppendMany: RFC 3502 MULTIAPPEND, all or none, ascending UIDs.
func testAppendMany(t *testing.T, u store.User) {
	date := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	msgs := []store.NewMessage{
		{Flags: store.Flags{System: store.FlagSeen}, Date: date, Body: []byte(msg1)},
		{Body: []byte(msg2)},
		{Flags: store.Flags{Keywords: []string{"$Multi"}}, Body: []byte(msg1)},
	}
	uv, uids, err := u.AppendMany("INBOX", msgs)
	must(t, err)
	if len(uids) != 3 || uids[1] != uids[0]+1 || uids[2] != uids[1]+1 {
		t.Fatalf("UIDs %v, want three ascending", uids)
	}
	mb, err := u.Select("INBOX", true)
	must(t, err)
	defer mb.Close()
	if mb.UIDValidity() != uv {
		t.Errorf("UIDVALIDITY %d, want %d", mb.UIDValidity(), uv)
	}
	var got []uint32
	for _, m := range mb.Messages() {
		got = append(got, m.UID)
	}
	if !slices.Equal(got, uids) {
		t.Fatalf("messages %v, want %v", got, uids)
	}
	if f := mb.Messages()[2].Flags; !f.HasKeyword("$Multi") {
		t.Errorf("third message flags %v", f)
	}
	d, err := mb.InternalDates(uids[:1])
	must(t, err)
	if !d[0].Equal(date) {
		t.Errorf("internal date %v, want %v", d[0], date)
	}
	_, _, err = u.AppendMany("Nope", msgs)
	wantErr(t, err, store.ErrNoSuchMailbox)

	// A message the store refuses (too many keywords where a store has
	// a limit) stores none of them.
	must(t, u.Create("Many", 0))
	var bad []store.NewMessage
	for i := range 40 {
		bad = append(bad, store.NewMessage{Flags: store.Flags{Keywords: []string{fmt.Sprintf("k%02d", i)}}, Body: []byte(msg2)})
	}
	if _, _, err := u.AppendMany("Many", bad); err != nil {
		if st, _ := u.Status("Many"); st.Messages != 0 {
			t.Errorf("a refused AppendMany stored %d messages", st.Messages)
		}
	}
}
