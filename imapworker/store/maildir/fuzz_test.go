package maildir

import (
	"testing"
	"unicode/utf8"
)

// A uidlist from disk never panics the parser, and what parses survives a
// rewrite unchanged.
func FuzzParseUidlist(f *testing.F) {
	f.Add([]byte("3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n25006 :a,S=1:2,\n25017 W2481 :b:2,F\n"))
	f.Add([]byte("1 1100000000 5\n1 x:2,S\n4 y\n"))
	f.Add([]byte("2 7 3\n1 S x\n"))
	f.Add([]byte("3 V1 N2\n1 :a\n2 :b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ul, err := parseUidlist(data)
		if err != nil {
			salvageUidlist(data)
			return
		}
		again, err := parseUidlist(ul.marshal())
		if err != nil {
			t.Fatalf("rewrite unreadable: %v\n%q", err, ul.marshal())
		}
		if again.uidValidity != ul.uidValidity || again.nextUID != ul.nextUID || len(again.recs) != len(ul.recs) {
			t.Fatalf("rewrite changed: %+v -> %+v", ul, again)
		}
		for i := range ul.recs {
			if again.recs[i] != ul.recs[i] {
				t.Fatalf("record %d: %+v -> %+v", i, ul.recs[i], again.recs[i])
			}
		}
	})
}

// Folder names map to directories and back one to one.
func FuzzMailboxName(f *testing.F) {
	for _, s := range []string{"Sent", "a/b", "Entwürfe", "日本語/&x", "a.b", "~x", "😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		dir, err := nameToDir(name)
		if err != nil {
			return
		}
		if !utf8.ValidString(name) {
			t.Fatalf("invalid UTF-8 %q accepted", name)
		}
		for i := 0; i < len(dir); i++ {
			if c := dir[i]; c == '/' || c < 0x20 || c > 0x7e {
				t.Fatalf("%q -> directory %q", name, dir)
			}
		}
		back, ok := dirToName(dir)
		if !ok || back != name {
			t.Fatalf("%q -> %q -> %q, %v", name, dir, back, ok)
		}
	})
}

// A dovecot-keywords file from disk never panics the parser, and never
// yields more keyword slots than the 26 letters a file name can carry.
func FuzzParseKeywords(f *testing.F) {
	f.Add([]byte("0 $Forwarded\n1 Work\n2 $Junk\n"))
	f.Add([]byte("3 Later\n0 a\n"))
	f.Add([]byte("26 toomany\n-1 neg\nx y\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kws := parseKeywords(data)
		if len(kws) > 26 {
			t.Fatalf("%d keyword slots from %q", len(kws), data)
		}
	})
}
