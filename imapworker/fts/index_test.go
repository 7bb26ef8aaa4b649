package fts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// corpus is a folder's texts by UID, already folded (lower case ASCII).
type corpus map[uint32]string

func (c corpus) src(calls *[]uint32) Source {
	return func(uid uint32, d *Doc) error {
		if calls != nil {
			*calls = append(*calls, uid)
		}
		t, ok := c[uid]
		if !ok {
			return os.ErrNotExist
		}
		d.Add(0, []byte(t))
		return nil
	}
}

func (c corpus) uids() []uint32 {
	var u []uint32
	for k := range c {
		u = append(u, k)
	}
	slices.Sort(u)
	return u
}

// want returns the UIDs of uids whose text contains needle.
func (c corpus) want(uids []uint32, needle string) []uint32 {
	var out []uint32
	for _, u := range uids {
		if bytes.Contains([]byte(c[u]), []byte(needle)) {
			out = append(out, u)
		}
	}
	return out
}

func testCorpus(n int) corpus {
	c := corpus{}
	words := []string{"alpha", "beta", "gamma", "delta", "quartz", "zebra", "the"}
	for i := 1; i <= n; i++ {
		c[uint32(i)] = fmt.Sprintf("msg %d %s %s %s", i, words[i%7], words[(i/7)%7], words[(i*3)%7])
	}
	return c
}

// check asks for needle and compares with the texts: a three-byte needle
// is answered exactly (all its trigrams is itself), a longer one as a
// superset.
func check(t *testing.T, ix *Index, c corpus, uids []uint32, needle string) {
	t.Helper()
	got, err := ix.Candidates(7, uids, c.src(nil), []uint8{0}, []byte(needle))
	if err != nil {
		t.Fatal(err)
	}
	want := c.want(uids, needle)
	if len(needle) == 3 && !slices.Equal(got, want) {
		t.Fatalf("%q: got %v, want %v", needle, got, want)
	}
	for _, u := range want {
		if _, ok := slices.BinarySearch(got, u); !ok {
			t.Fatalf("%q: %d matches but is no candidate (got %v)", needle, u, got)
		}
	}
}

func TestCandidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(50)
	ix := New(path, Limits{})
	for _, n := range []string{"the", "qua", "quartz", "zebra gamma", "msg 4", "nothing", "a b"} {
		check(t, ix, c, c.uids(), n)
	}
	if st := ix.Stats(); st.Segments != 1 || st.Covered != 50 {
		t.Fatalf("stats %v", st)
	}
	if _, err := ix.Candidates(7, c.uids(), c.src(nil), []uint8{0}, []byte("ab")); err == nil {
		t.Fatal("a two-byte needle was served")
	}
}

// Indexing flushes a segment every FlushPostings postings, and merges
// them when there are more than MaxSegments.
func TestBoundedBuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(200)
	ix := New(path, Limits{FlushPostings: 500, MaxSegments: 100})
	check(t, ix, c, c.uids(), "zebra")
	if st := ix.Stats(); st.Segments < 5 || st.Covered != 200 {
		t.Fatalf("stats %v: want several segments", st)
	}
	ix2 := New(path, Limits{FlushPostings: 500, MaxSegments: 3})
	check(t, ix2, c, c.uids(), "beta")
	if st := ix2.Stats(); st.Segments != 1 || st.Covered != 200 {
		t.Fatalf("after merge: %v", st)
	}
	check(t, ix2, c, c.uids(), "msg 19")
}

// New UIDs are indexed once, as a new segment; UIDs gone are left out
// of the answer and, once they are most, merged away.
func TestIncremental(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(20)
	ix := New(path, Limits{})
	check(t, ix, c, c.uids(), "alp")
	c[21] = "a new quartz arrives"
	var calls []uint32
	if _, err := ix.Candidates(7, c.uids(), c.src(&calls), []uint8{0}, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []uint32{21}) || ix.Stats().Segments != 2 {
		t.Fatalf("indexed %v, %v", calls, ix.Stats())
	}
	check(t, ix, c, c.uids(), "new")
	live := c.uids()[15:]
	check(t, ix, c, live, "qua")
	if st := ix.Stats(); st.Segments != 1 || st.Covered != len(live) {
		t.Fatalf("after expunges: %v", st)
	}
	// A UID the source cannot read stays a candidate.
	if got, _ := ix.Candidates(7, []uint32{16, 99}, c.src(nil), []uint8{0}, []byte("zzz")); !slices.Equal(got, []uint32{99}) {
		t.Fatalf("unreadable UID: got %v", got)
	}
}

// A torn or corrupted file never gives a wrong answer: the damaged
// segment and what follows it are indexed again, the file rewritten.
func TestDamage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func([]byte) []byte
		reindex int // UIDs indexed again
	}{
		{"torn last segment", func(b []byte) []byte { return b[:len(b)-7] }, 10},
		{"flipped byte in first segment", func(b []byte) []byte { b[headerLen+segHdrLen+30] ^= 1; return b }, 30},
		{"bad header", func(b []byte) []byte { b[3] = 'X'; return b }, 30},
		{"zeroed tail", func(b []byte) []byte { clear(b[len(b)-100:]); return b }, 10},
		{"empty file", func([]byte) []byte { return nil }, 30},
		{"garbage appended", func(b []byte) []byte { return append(b, "FTSG\xff\xff\xff\x00garbage"...) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "imapd.fts")
			c := testCorpus(30)
			ix := New(path, Limits{})
			check(t, ix, c, c.uids()[:20], "the") // one segment of 20
			check(t, ix, c, c.uids(), "the")      // and one of 10
			ix.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			var calls []uint32
			ix = New(path, Limits{})
			got, err := ix.Candidates(7, c.uids(), c.src(&calls), []uint8{0}, []byte("zebra"))
			if err != nil {
				t.Fatal(err)
			}
			if want := c.want(c.uids(), "zebra"); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if len(calls) != tc.reindex {
				t.Fatalf("indexed again %d UIDs, want %d", len(calls), tc.reindex)
			}
			// Rewritten: a fresh reader finds it whole.
			calls = nil
			check(t, New(path, Limits{}), c, c.uids(), "del")
			ix3 := New(path, Limits{})
			ix3.Candidates(7, c.uids(), c.src(&calls), []uint8{0}, []byte("del"))
			if len(calls) != 0 || ix3.bad {
				t.Fatalf("after repair: indexed %v, bad %v", calls, ix3.bad)
			}
		})
	}
}

// Another UIDVALIDITY means other messages: the index starts afresh.
func TestUIDValidityChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(10)
	check(t, New(path, Limits{}), c, c.uids(), "alp")
	c2 := corpus{1: "entirely different", 2: "alpha again"}
	var calls []uint32
	got, err := New(path, Limits{}).Candidates(8, c2.uids(), c2.src(&calls), []uint8{0}, []byte("alp"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint32{2}) || len(calls) != 2 {
		t.Fatalf("got %v, indexed %v", got, calls)
	}
}

// Two processes' views of one file: what one appends the other reads,
// and a merge by one (a rename) is followed by the other.
func TestTwoViews(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(40)
	a, b := New(path, Limits{}), New(path, Limits{})
	check(t, a, c, c.uids()[:30], "gam")
	var calls []uint32
	if _, err := b.Candidates(7, c.uids()[:30], c.src(&calls), []uint8{0}, []byte("gam")); err != nil || len(calls) != 0 {
		t.Fatalf("b indexed %v again (%v)", calls, err)
	}
	check(t, b, c, c.uids(), "zeb") // b appends 10
	check(t, a, c, c.uids()[35:], "zeb")
	if a.Stats().Segments != 1 { // a merged away 35 of 40
		t.Fatalf("a: %v", a.Stats())
	}
	calls = nil
	got, _ := b.Candidates(7, c.uids()[35:], c.src(&calls), []uint8{0}, []byte("zeb"))
	if len(calls) != 0 || !slices.Equal(got, c.want(c.uids()[35:], "zeb")) {
		t.Fatalf("b after a's merge: got %v, indexed %v", got, calls)
	}
}
