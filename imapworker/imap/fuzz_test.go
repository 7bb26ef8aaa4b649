package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// benchMix is a realistic mix of what mail clients send in a session.
var benchMix = []string{
	"a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
	"a2 UID FETCH 4127 (UID RFC822.SIZE BODY.PEEK[])\r\n",
	"a3 UID SEARCH RETURN (ALL) UNDELETED SINCE 1-Nov-2026 NOT FROM \"newsletter@example.com\"\r\n",
	"a4 UID STORE 4120:4127,4130 +FLAGS.SILENT (\\Seen $Forwarded)\r\n",
	"a5 APPEND Sent (\\Seen) \"26-Nov-2026 01:02:03 +0000\" {310+}\r\n" + string(bytes.Repeat([]byte("x"), 310)) + "\r\n",
	"a6 FETCH 1:50 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)\r\n",
	"a7 SELECT INBOX\r\n",
	"a8 NOOP\r\n",
}

func BenchmarkParseMix(b *testing.B) {
	raws := make([][]byte, len(benchMix))
	n := 0
	for i, s := range benchMix {
		raws[i] = []byte(s)
		n += len(s)
	}
	b.SetBytes(int64(n / len(raws)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Parse(raws[i%len(raws)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFetchHeaderFields(b *testing.B) {
	raw := []byte(benchMix[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderMix frames and parses the mix through a Reader.
func BenchmarkReaderMix(b *testing.B) {
	var all []byte
	for _, s := range benchMix {
		all = append(all, s...)
	}
	src := bytes.NewReader(all)
	br := bufio.NewReader(src)
	r := NewReader(br, func(int64, bool, bool) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		_, err := r.ReadCommand()
		if err == io.EOF {
			src.Reset(all)
			br.Reset(src)
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func fuzzSeeds() []string {
	seeds := append([]string(nil), benchMix...)
	for _, tc := range parseTests {
		seeds = append(seeds, tc.in)
	}
	return append(seeds,
		"a SEARCH ((((((ALL))))))\r\n",
		"a LOGIN {4294967296}\r\nx\r\n",
		"a APPEND x ~{3+}\r\n\x00\x00\x00\r\n",
		"a FETCH 1 BODY[1.2.3.HEADER.FIELDS.NOT (a)]<1.2>\r\n",
		"a UID SORT RETURN (MIN PARTIAL -1:-50) (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
		"a UID THREAD REFERENCES \"UTF-8\" OR FROM x TO y\r\n",
		"a UID FETCH 1:* FLAGS (PARTIAL 1:5)\r\n",
	)
}

// FuzzParse: no input makes the parser panic, and errors are always
// *SyntaxError.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cmd, err := Parse(raw)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if cmd.Tag == "" || cmd.Name == "" || cmd.Args == nil {
			t.Fatalf("incomplete command %+v", cmd)
		}
	})
}

// FuzzReader: framing plus parsing of arbitrary bytes, with every literal
// accepted, never panics and allocates in proportion to the input, not to
// announced literal sizes.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte("a APPEND x {99999999999}\r\nabc"))
	f.Add([]byte("a LOGIN {3+}\r\nabc {9999999999+}\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReaderSize(bytes.NewReader(in), 64), func(size int64, nonSync, binary bool) error {
			if size > 1<<20 && nonSync {
				return errors.New("too big") // exercise discarding
			}
			return nil
		})
		r.SetMaxLine(1024)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < 1000; i++ {
			_, err := r.ReadCommand()
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			var se *SyntaxError
			var le *LiteralError
			if err != nil && !errors.As(err, &se) && !errors.As(err, &le) {
				t.Fatalf("error %T %v", err, err)
			}
			if le != nil && le.Desync {
				break
			}
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20+200*uint64(len(in)) {
			t.Fatalf("allocated %d bytes for %d bytes of input", d, len(in))
		}
	})
}
