package storetest

import (
	"errors"
	"maps"
	"testing"

	"imapd/imapworker/store"
)

func meta(t *testing.T, u store.User, mailbox string) map[string][]byte {
	t.Helper()
	m, err := u.Metadata(mailbox)
	must(t, err)
	return m
}

func setMeta(t *testing.T, u store.User, mailbox string, kv ...string) {
	t.Helper()
	var ch []store.MetadataEntry
	for i := 0; i < len(kv); i += 2 {
		e := store.MetadataEntry{Name: kv[i]}
		if kv[i+1] != "NIL" {
			e.Value = []byte(kv[i+1])
		}
		ch = append(ch, e)
	}
	must(t, u.SetMetadata(mailbox, ch, func(map[string][]byte) error { return nil }))
}

func wantMeta(t *testing.T, got map[string][]byte, kv ...string) {
	t.Helper()
	want := map[string][]byte{}
	for i := 0; i < len(kv); i += 2 {
		want[kv[i]] = []byte(kv[i+1])
	}
	if !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Fatalf("annotations %q, want %q", got, want)
	}
}

// testMetadata: RFC 5464 annotations of mailboxes and of the account; set
// all or none; they follow RENAME, are copied by a RENAME of INBOX, and go
// with DELETE (§4.1, §4.3).
func testMetadata(t *testing.T, u store.User) {
	wantMeta(t, meta(t, u, ""))
	setMeta(t, u, "", "/private/vendor/x/y", "server value")
	setMeta(t, u, "INBOX", "/private/comment", "My comment", "/shared/comment", "Its sunny outside!")
	wantMeta(t, meta(t, u, ""), "/private/vendor/x/y", "server value")
	wantMeta(t, meta(t, u, "inbox"), "/private/comment", "My comment", "/shared/comment", "Its sunny outside!")
	setMeta(t, u, "INBOX", "/private/comment", "NIL", "/shared/comment", "\x00binary\r\n")
	wantMeta(t, meta(t, u, "INBOX"), "/shared/comment", "\x00binary\r\n")

	refuse := errors.New("refused")
	var seen map[string][]byte
	err := u.SetMetadata("INBOX", []store.MetadataEntry{{Name: "/shared/comment", Value: nil}, {Name: "/private/a", Value: []byte("1")}},
		func(m map[string][]byte) error { seen = m; return refuse })
	wantErr(t, err, refuse)
	wantMeta(t, seen, "/private/a", "1")
	wantMeta(t, meta(t, u, "INBOX"), "/shared/comment", "\x00binary\r\n")

	_, err = u.Metadata("nosuch")
	wantErr(t, err, store.ErrNoSuchMailbox)
	wantErr(t, u.SetMetadata("nosuch", []store.MetadataEntry{{Name: "/shared/comment", Value: []byte("x")}},
		func(map[string][]byte) error { return nil }), store.ErrNoSuchMailbox)

	must(t, u.Create("a", 0))
	setMeta(t, u, "a", "/shared/comment", "follows")
	must(t, u.Rename("a", "b"))
	wantMeta(t, meta(t, u, "b"), "/shared/comment", "follows")
	must(t, u.Delete("b"))
	must(t, u.Create("b", 0))
	wantMeta(t, meta(t, u, "b"))

	must(t, u.Create("p/c", 0))
	setMeta(t, u, "p/c", "/shared/comment", "child")
	must(t, u.Rename("INBOX", "old"))
	wantMeta(t, meta(t, u, "old"), "/shared/comment", "\x00binary\r\n")
	wantMeta(t, meta(t, u, "INBOX"), "/shared/comment", "\x00binary\r\n")
	wantMeta(t, meta(t, u, "p/c"), "/shared/comment", "child")
	setMeta(t, u, "INBOX", "/shared/comment", "NIL")
	wantMeta(t, meta(t, u, "INBOX"))
	wantMeta(t, meta(t, u, ""), "/private/vendor/x/y", "server value")
}
