package fts

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
		d.Add(0, []byte(t), true)
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

// cands asks for needle as for a non-ASCII needle: from the trigrams,
// every answer a Maybe.
func cands(ix *Index, uv uint32, uids []uint32, src Source, needle string) ([]uint32, error) {
	a, err := ix.Lookup(uv, uids, src, []uint8{0}, []byte(needle), false)
	if len(a.Sure) > 0 {
		return nil, fmt.Errorf("%q: sure of %v from trigrams", needle, a.Sure)
	}
	return a.Maybe, err
}

// check asks for needle and compares with the texts. From the trigrams,
// a three-byte needle is answered exactly (all its trigrams is itself), a
// longer one as a superset; from the tokens, a needle of word bytes is
// answered exactly, all Sure, another one not at all.
func check(t *testing.T, ix *Index, c corpus, uids []uint32, needle string) {
	t.Helper()
	want := c.want(uids, needle)
	if len(needle) >= MinNeedle {
		got, err := cands(ix, 7, uids, c.src(nil), needle)
		if err != nil {
			t.Fatal(err)
		}
		if len(needle) == 3 && !slices.Equal(got, want) {
			t.Fatalf("%q: got %v, want %v", needle, got, want)
		}
		for _, u := range want {
			if _, ok := slices.BinarySearch(got, u); !ok {
				t.Fatalf("%q: %d matches but is no candidate (got %v)", needle, u, got)
			}
		}
	}
	a, err := ix.Lookup(7, uids, c.src(nil), []uint8{0}, []byte(needle), true)
	if words(needle) {
		if err != nil || !slices.Equal(a.Sure, want) || len(a.Maybe) > 0 {
			t.Fatalf("%q from the tokens: sure %v maybe %v (%v), want %v", needle, a.Sure, a.Maybe, err, want)
		}
	} else if len(a.Sure) > 0 {
		t.Fatalf("%q: sure of %v from the tokens", needle, a.Sure)
	}
}

// words reports whether the tokens answer needle: word bytes only, at
// most MaxExact.
func words(needle string) bool {
	return len(needle) > 0 && len(needle) <= MaxExact && !strings.ContainsFunc(needle, func(r rune) bool { return r < 0x80 && !wordByte[r] })
}

func TestCandidates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(50)
	ix := New(path, Limits{})
	for _, n := range []string{"the", "qua", "quartz", "zebra gamma", "msg 4", "nothing", "a b", "e", "ms", "4", "ta"} {
		check(t, ix, c, c.uids(), n)
	}
	if st := ix.Stats(); st.Segments != 1 || st.Covered != 50 {
		t.Fatalf("stats %v", st)
	}
	if _, err := cands(ix, 7, c.uids(), c.src(nil), "ab"); err == nil {
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

// After a large first segment, deliveries of one message each add small
// segments without rewriting the file, until they hold an eighth of the
// first's bytes or there are 8 times MaxSegments of them.
func TestSmallSegmentsWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imapd.fts")
	c := testCorpus(4000)
	ix := New(path, Limits{MaxSegments: 2})
	check(t, ix, c, c.uids(), "zebra")
	if st := ix.Stats(); st.Segments != 1 {
		t.Fatalf("after the build: %v", st)
	}
	for i := 1; i <= 15; i++ {
		c[uint32(4000+i)] = fmt.Sprintf("delivery %d quartz", i)
		check(t, ix, c, c.uids(), "quartz")
		if st := ix.Stats(); st.Segments != 1+i {
			t.Fatalf("after %d deliveries: %v, want %d segments", i, st, 1+i)
		}
	}
	c[4016] = "delivery 16 quartz"
	check(t, ix, c, c.uids(), "quartz")
	if st := ix.Stats(); st.Segments != 1 || st.Covered != 4016 {
		t.Fatalf("past 8 x MaxSegments: %v, want one segment of 4016", st)
	}
	// Large additions merge as soon as there are more than MaxSegments.
	more := testCorpus(5000)
	for i := 4017; i <= 5000; i++ {
		c[uint32(i)] = more[uint32(i)]
	}
	ix2 := New(path, Limits{FlushPostings: 300, MaxSegments: 2})
	check(t, ix2, c, c.uids(), "beta")
	if st := ix2.Stats(); st.Segments != 1 || st.Covered != 5000 {
		t.Fatalf("after large additions: %v", st)
	}
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
	if _, err := cands(ix, 7, c.uids(), c.src(&calls), "new"); err != nil {
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
	if got, _ := cands(ix, 7, []uint32{16, 99}, c.src(nil), "zzz"); !slices.Equal(got, []uint32{99}) {
		t.Fatalf("unreadable UID: got %v", got)
	}
	if a, _ := ix.Lookup(7, []uint32{16, 99}, c.src(nil), []uint8{0}, []byte("zzz"), true); len(a.Sure) > 0 || !slices.Equal(a.Maybe, []uint32{99}) {
		t.Fatalf("unreadable UID from the tokens: %+v", a)
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
			got, err := cands(ix, 7, c.uids(), c.src(&calls), "zebra")
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
			cands(ix3, 7, c.uids(), c.src(&calls), "del")
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
	got, err := cands(New(path, Limits{}), 8, c2.uids(), c2.src(&calls), "alp")
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
	if _, err := cands(b, 7, c.uids()[:30], c.src(&calls), "gam"); err != nil || len(calls) != 0 {
		t.Fatalf("b indexed %v again (%v)", calls, err)
	}
	check(t, b, c, c.uids(), "zeb") // b appends 10
	check(t, a, c, c.uids()[35:], "zeb")
	if a.Stats().Segments != 1 { // a merged away 35 of 40
		t.Fatalf("a: %v", a.Stats())
	}
	calls = nil
	got, _ := cands(b, 7, c.uids()[35:], c.src(&calls), "zeb")
	if len(calls) != 0 || !slices.Equal(got, c.want(c.uids()[35:], "zeb")) {
		t.Fatalf("b after a's merge: got %v, indexed %v", got, calls)
	}
}

// The tokens answer exactly: random texts with runs longer than a token
// (kept as pieces), two kinds, messages marked inexact, indexed as many
// segments while the folder grows and then merged; every needle of word
// bytes, cut from the texts or made up, is answered as the texts say.
func TestTokensExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "1", "\xc3\xa9", " ", "-", ".\r\n"}
	var runs []string // the long runs, for needles as long as MaxExact
	text := func() string {
		var b strings.Builder
		for range 1 + r.IntN(300) {
			if r.IntN(40) == 0 { // a long run of word bytes
				var run strings.Builder
				for range 60 + r.IntN(150) {
					run.WriteString(alphabet[r.IntN(4)])
				}
				runs = append(runs, run.String())
				b.WriteString(run.String())
			}
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	texts := map[uint32][2]string{} // kind 0 and 1
	inexact := map[uint32]bool{}
	src := func(uid uint32, d *Doc) error {
		d.Add(0, []byte(texts[uid][0]), true)
		d.Add(1, []byte(texts[uid][1]), true)
		if inexact[uid] {
			d.Inexact()
		}
		return nil
	}
	needle := func() string {
		if r.IntN(4) == 0 && len(runs) > 0 {
			run := runs[r.IntN(len(runs))]
			n := MaxExact - r.IntN(2)
			i := r.IntN(len(run) - n + 1)
			return run[i : i+n]
		}
		if r.IntN(4) == 0 {
			var b strings.Builder
			for range 1 + r.IntN(5) {
				b.WriteString(alphabet[r.IntN(5)])
			}
			return b.String()
		}
		tx := texts[uint32(1+r.IntN(len(texts)))][r.IntN(2)]
		if tx == "" {
			return "a"
		}
		i := r.IntN(len(tx))
		return tx[i:min(len(tx), i+1+r.IntN(MaxExact+8))]
	}
	ix := New(filepath.Join(t.TempDir(), "imapd.fts"), Limits{FlushPostings: 3000, MaxSegments: 6})
	var uids []uint32
	asked := 0
	for round := range 12 {
		for range 15 {
			u := uint32(len(uids) + 1)
			texts[u] = [2]string{text(), text()}
			inexact[u] = r.IntN(10) == 0
			uids = append(uids, u)
		}
		for range 40 {
			n := needle()
			if !words(n) {
				continue
			}
			asked++
			kinds := [][]uint8{{0}, {1}, {0, 1}}[r.IntN(3)]
			a, err := ix.Lookup(7, uids, src, kinds, []byte(n), true)
			if err != nil {
				t.Fatal(err)
			}
			var sure, maybe []uint32
			for _, u := range uids {
				hit := false
				for _, kd := range kinds {
					hit = hit || strings.Contains(texts[u][kd], n)
				}
				switch {
				case hit && inexact[u]:
					maybe = append(maybe, u)
				case hit:
					sure = append(sure, u)
				}
			}
			if !slices.Equal(a.Sure, sure) || !slices.Equal(a.Maybe, maybe) {
				t.Fatalf("round %d, %q in %v (%v): sure %v maybe %v, want %v %v", round, n, kinds, ix.Stats(), a.Sure, a.Maybe, sure, maybe)
			}
		}
	}
	if asked < 200 {
		t.Fatalf("only %d needles of word bytes", asked)
	}
}

// Every substring of a run of word bytes up to MaxExact bytes lies within
// one of the tokens Doc.Add keeps of it, whatever the run's length.
func TestPiecesCover(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	for n := 1; n <= 4*maxToken; n++ {
		run := make([]byte, n) // random: no substring repeats by chance
		for i := range run {
			run[i] = letters[r.IntN(len(letters))]
		}
		var d Doc
		d.Add(0, append(append([]byte("- "), run...), " -"...), true)
		var toks [][]byte
		start := uint32(0)
		for _, end := range d.ends {
			toks = append(toks, d.toks[start+1:end]) // without the kind byte
			start = end
		}
		for i := 0; i < n; i++ {
			for l := 1; l <= MaxExact && i+l <= n; l++ {
				if !slices.ContainsFunc(toks, func(tk []byte) bool { return bytes.Contains(tk, run[i:i+l]) }) {
					t.Fatalf("run of %d: [%d:%d] is in no token of %q", n, i, i+l, toks)
				}
			}
		}
		if len(toks) == 0 || slices.ContainsFunc(toks, func(tk []byte) bool { return len(tk) > maxToken }) {
			t.Fatalf("run of %d: tokens %q", n, toks)
		}
	}
}

// Intersect sizes its answer before filling it: for a common word it is
// most of a large folder, and growing it by appends allocated it about
// five times over.
func TestIntersectAllocatesOnce(t *testing.T) {
	var a, b []uint32
	for u := uint32(1); u <= 100000; u++ {
		a = append(a, u)
		if u%5 != 0 {
			b = append(b, u)
		}
	}
	var got []uint32
	if n := testing.AllocsPerRun(5, func() { got = Intersect(a, b) }); n != 1 {
		t.Errorf("Intersect of 100,000 and 80,000 UIDs: %v allocations, want 1", n)
	}
	if len(got) != len(b) || cap(got) != len(b) || got[len(got)-1] != 99999 {
		t.Errorf("Intersect: %d UIDs, cap %d, want %d", len(got), cap(got), len(b))
	}
	if got := Intersect(a, []uint32{200000}); got != nil {
		t.Errorf("empty Intersect = %v, want nil", got)
	}
	if n := common(a, b); n != len(b) {
		t.Errorf("common = %d, want %d", n, len(b))
	}
}
