package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"imapd/imapworker/store"
)

func writeFile(t *testing.T, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// A Maildir as Dovecot 2.3 leaves it: a v3 uidlist whose last known names
// lag behind flag renames, a W<vsize> field for a name without ,W=,
// keywords, a message delivered to new/ after the last sync, Dovecot's
// index files, and a folder name in modified UTF-7.
const (
	dcMsg1 = "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n"
	dcMsg2 = "From: b@example.org\nSubject: two, LF only\n\nWorld\n"
	dcMsg3 = "From: mda@example.org\nSubject: delivered\n\nnew\n"
)

func dovecotFixture(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "Maildir")
	d1 := time.Date(2010, 6, 14, 15, 14, 47, 0, time.UTC)
	d2 := time.Date(2010, 6, 14, 16, 31, 13, 0, time.UTC)
	n1 := fmt.Sprintf("1276528487.M364837P9451.kurkku,S=%d,W=%d", len(dcMsg1), len(dcMsg1))
	n2 := "1276533073.M242911P3632.kurkku"
	writeFile(t, filepath.Join(root, "cur", n1+":2,Sb"), dcMsg1, d1)
	writeFile(t, filepath.Join(root, "cur", n2+":2,FTa"), dcMsg2, d2)
	writeFile(t, filepath.Join(root, "new", "1276540000.M1P2.kurkku"), dcMsg3, time.Time{})
	os.MkdirAll(filepath.Join(root, "tmp"), 0o700)
	writeFile(t, filepath.Join(root, "dovecot-uidlist"),
		"3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"+
			"25006 :"+n1+":2,\n"+
			"25017 W53 :"+n2+":2,F\n", time.Time{})
	writeFile(t, filepath.Join(root, "dovecot-keywords"), "0 $Junk\n1 $NonJunk\n", time.Time{})
	writeFile(t, filepath.Join(root, "dovecot.index.log"), "opaque", time.Time{})
	writeFile(t, filepath.Join(root, "subscriptions"), "V\t2\n\nEntwürfe\nLists\tgo\n", time.Time{})
	// A folder Dovecot created for "Entwürfe" (mUTF-7 on disk).
	f := filepath.Join(root, ".Entw&APw-rfe")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(f, d), 0o700)
	}
	writeFile(t, filepath.Join(f, "dovecot-uidlist"), "3 V1275660300 N8 G00000000000000000000000000000001\n7 :1276000000.M1P1.kurkku,S=47,W=47:2,S\n", time.Time{})
	writeFile(t, filepath.Join(f, "cur", "1276000000.M1P1.kurkku,S=47,W=47:2,S"), dcMsg1, d1)
	return root
}

func TestDovecotMaildir(t *testing.T) {
	root := dovecotFixture(t)
	u, mb := openInbox(t, root, Options{NoSpecialUse: true})
	if mb.UIDValidity() != 1275660208 {
		t.Fatalf("UIDVALIDITY %d, want Dovecot's 1275660208", mb.UIDValidity())
	}
	ms := mb.Messages()
	if len(ms) != 3 {
		t.Fatalf("%d messages: %+v", len(ms), ms)
	}
	// S: 25006 has \Seen and $NonJunk (letter b), as the file name says now.
	if ms[0].UID != 25006 || ms[0].Flags.System != store.FlagSeen || !slices.Equal(ms[0].Flags.Keywords, []string{"$NonJunk"}) {
		t.Errorf("25006: %+v", ms[0])
	}
	dates, err := mb.InternalDates([]uint32{25006})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Size != int64(len(dcMsg1)) || !dates[0].Equal(time.Date(2010, 6, 14, 15, 14, 47, 0, time.UTC)) {
		t.Errorf("25006 size %d date %v", ms[0].Size, dates[0])
	}
	// 25017: LF-only file: RFC822.SIZE counts CRLF (W53), content served with CRLF.
	if ms[1].UID != 25017 || ms[1].Flags.System != store.FlagFlagged|store.FlagDeleted || !slices.Equal(ms[1].Flags.Keywords, []string{"$Junk"}) || ms[1].Size != 53 {
		t.Errorf("25017: %+v", ms[1])
	}
	c, err := mb.Open(25017)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := store.Bytes(c)
	c.Close()
	if string(b) != strings.ReplaceAll(dcMsg2, "\n", "\r\n") || c.Size() != 53 {
		t.Errorf("25017 content %q size %d", b, c.Size())
	}
	// The delivered message takes Dovecot's next UID and is \Recent.
	if ms[2].UID != 25022 || !slices.Equal(mb.Recent(), []uint32{25022}) || mb.UIDNext() != 25023 {
		t.Errorf("new message: %+v, \\Recent %v, UIDNEXT %d", ms[2], mb.Recent(), mb.UIDNext())
	}
	if kw := mb.Keywords(); !slices.Equal(kw, []string{"$Junk", "$NonJunk"}) {
		t.Errorf("keywords %v", kw)
	}
	// It moved to cur/ and the uidlist gained one line, Dovecot's lines kept.
	if ents, _ := os.ReadDir(filepath.Join(root, "new")); len(ents) != 0 {
		t.Errorf("new/ not emptied: %v", ents)
	}
	ul, _ := os.ReadFile(filepath.Join(root, "dovecot-uidlist"))
	lines := strings.Split(strings.TrimSuffix(string(ul), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1" ||
		lines[2] != "25017 W53 :1276533073.M242911P3632.kurkku:2,F" || lines[3] != "25022 :1276540000.M1P2.kurkku" {
		t.Errorf("uidlist now:\n%s", ul)
	}
	if _, err := os.Stat(filepath.Join(root, "dovecot.index.log")); err != nil {
		t.Error("dovecot.index.log touched")
	}

	// STORE: a new keyword takes the next free letter in dovecot-keywords.
	if _, err := mb.Store([]uint32{25006}, store.StoreAdd, store.Flags{Keywords: []string{"Work"}, System: store.FlagAnswered}); err != nil {
		t.Fatal(err)
	}
	kwf, _ := os.ReadFile(filepath.Join(root, "dovecot-keywords"))
	if string(kwf) != "0 $Junk\n1 $NonJunk\n2 Work\n" {
		t.Errorf("dovecot-keywords:\n%s", kwf)
	}
	if _, err := os.Stat(filepath.Join(root, "cur", "1276528487.M364837P9451.kurkku,S=44,W=44:2,RSbc")); err != nil {
		t.Errorf("file not renamed with flags RSbc: %v", err)
	}

	// Folders and subscriptions as Dovecot stored them.
	l, _ := u.List()
	names := []string{}
	for _, e := range l {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"Entwürfe", "INBOX"}) {
		t.Errorf("List = %v", names)
	}
	subs, _ := u.Subscriptions()
	if !slices.Equal(subs, []string{"Entwürfe", "Lists/go"}) {
		t.Errorf("subscriptions %v", subs)
	}
	st, err := u.Status("Entwürfe")
	if err != nil || st.UIDValidity != 1275660300 || st.UIDNext != 8 || st.Messages != 1 || st.Unseen != 0 {
		t.Errorf("Entwürfe status %+v %v", st, err)
	}
}

func TestUidlistFormats(t *testing.T) {
	// Version 1 (Courier-compatible) and 3 with extra header fields.
	ul, err := parseUidlist([]byte("1 1100000000 5\n1 1100000001.P1.h:2,S\n4 1100000002.P1.h\n"))
	if err != nil || ul.uidValidity != 1100000000 || ul.nextUID != 5 || len(ul.recs) != 2 || ul.recs[1].name != "1100000002.P1.h" {
		t.Fatalf("v1: %+v %v", ul, err)
	}
	ul, err = parseUidlist([]byte("3 V7 N3 Gabc X9\n1 G12 W5 :a:2,\n9 :b\n"))
	if err != nil || ul.uidValidity != 7 || ul.nextUID != 10 || ul.recs[0].ext != "G12 W5" || !slices.Equal(ul.hdrExt, []string{"X9"}) {
		t.Fatalf("v3: %+v %v", ul, err)
	}
	if got := string(ul.marshal()); got != "3 V7 N10 Gabc X9\n1 G12 W5 :a:2,\n9 :b\n" {
		t.Errorf("marshal = %q", got)
	}
	// A torn last line (crash mid-append) is left out, not misread.
	ul, err = parseUidlist([]byte("3 V7 N3 Gabc\n1 :a\n2 :b:2,"))
	if err != nil || len(ul.recs) != 1 || ul.complete {
		t.Errorf("torn: %+v %v", ul, err)
	}
	for _, bad := range []string{"", "3 N5\n", "9 V1\n", "3 V1 N2\n2 :a\n1 :b\n", "3 V1\nx :a\n", "3 V1\n1 :a/../b\n"} {
		if _, err := parseUidlist([]byte(bad)); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
	kw := parseKeywords([]byte("0 $Junk\n3 Later\nbad line\n99 x\n"))
	if !slices.Equal(kw, []string{"$Junk", "", "", "Later"}) || string(marshalKeywords(kw)) != "0 $Junk\n3 Later\n" {
		t.Errorf("keywords %q", kw)
	}
}

func TestDamagedUidlist(t *testing.T) {
	root := dovecotFixture(t)
	// Garbage in the middle: the header and the good lines are kept.
	path := filepath.Join(root, "dovecot-uidlist")
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(path, []byte(lines[0]+"garbage line\n"+lines[1]+"7 :x\n"+lines[2]), 0o600)
	_, mb := openInbox(t, root, Options{NoSpecialUse: true})
	var uids []uint32
	for _, m := range mb.Messages() {
		uids = append(uids, m.UID)
	}
	if mb.UIDValidity() != 1275660208 || !slices.Equal(uids, []uint32{25006, 25017, 25022}) {
		t.Fatalf("salvaged: uidvalidity %d uids %v", mb.UIDValidity(), uids)
	}
	if _, err := parseUidlist(mustRead(t, path)); err != nil {
		t.Errorf("uidlist not rewritten clean: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Folders of a Dovecot that ran with the UTF-8 option: raw UTF-8 names.
func TestDovecotUTF8Folders(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp", ".Entwürfe/cur", ".Entwürfe/new", ".Entwürfe/tmp", ".Entwürfe.2024/cur"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	u, err := Open(root, Options{NoSpecialUse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	l, _ := u.List()
	var names []string
	for _, e := range l {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"Entwürfe", "Entwürfe/2024", "INBOX"}) {
		t.Fatalf("List = %v", names)
	}
	if _, _, err := u.Append("Entwürfe", store.Flags{}, time.Time{}, []byte(dcMsg1)); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, ".Entwürfe", "cur")); len(ents) != 1 {
		t.Fatalf("APPEND did not land in the raw UTF-8 folder: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(root, ".Entw&APw-rfe")); err == nil {
		t.Fatal("a second, mUTF-7 folder was made")
	}
}
