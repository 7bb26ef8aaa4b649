package mime

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"mime/quotedprintable"
	"testing"
)

func TestDecodeHeader(t *testing.T) {
	cases := []struct{ in, want string }{
		// RFC 2047 §8 examples.
		{"=?ISO-8859-1?Q?a?=", "a"},
		{"=?ISO-8859-1?Q?a?= b", "a b"},
		{"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"},
		{"=?ISO-8859-1?Q?a?=  \r\n  =?ISO-8859-1?Q?b?=", "ab"},
		{"=?ISO-8859-1?Q?a_b?=", "a b"},
		{"=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b"},
		{"(=?ISO-8859-1?Q?a?=)", "(a)"},
		{"=?UTF-8?B?w6TDtsO8?=", "äöü"},
		{"=?utf-8?b?w6TDtsO8?=", "äöü"},
		{"=?windows-1252?Q?=80uro?=", "€uro"},
		{"=?utf-8*en?Q?lang?=", "lang"},
		{"=?x-unknown?Q?plain?=", "plain"},
		{"=?x-unknown?Q?=E9t=E9?=", "été"}, // not UTF-8: read as windows-1252
		{"=?utf-8?B?broken base64?=", "=?utf-8?B?broken base64?="},
		{"=?utf-8?X?bad?=", "=?utf-8?X?bad?="},
		{"no words", "no words"},
		{"=?unterminated", "=?unterminated"},
		{"raw \xe9t\xe9", "raw été"},
		{"raw UTF-8 caf\xc3\xa9", "raw UTF-8 café"},
	}
	for _, c := range cases {
		if got := DecodeHeader(c.in); got != c.want {
			t.Errorf("DecodeHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCharsets(t *testing.T) {
	in := []byte("\x80\x93\xe9\xff")
	if got := string(toUTF8("windows-1252", in)); got != "€“éÿ" {
		t.Errorf("windows-1252: %q", got)
	}
	if got := string(toUTF8("ISO-8859-1", in)); got != "\u0080\u0093éÿ" {
		t.Errorf("iso-8859-1: %q", got)
	}
	if got := string(toUTF8("utf-8", []byte("ok ü"))); got != "ok ü" {
		t.Errorf("utf-8: %q", got)
	}
	if !KnownCharset("UTF-8") || !KnownCharset("us-ascii") || KnownCharset("koi8-r") {
		t.Error("KnownCharset")
	}
}

func TestBase64Lenient(t *testing.T) {
	for in, want := range map[string]string{
		"aGVsbG8=":              "hello",
		"aGVs\r\nbG8=\r\n":      "hello",
		"aGVs bG8":              "hello",
		"aGVsbG8=trailing junk": "hello",
		"!!aGVsbG8!!":           "hello",
		"":                      "",
	} {
		if got := string(decodeBase64([]byte(in), nil)); got != want {
			t.Errorf("decodeBase64(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParams(t *testing.T) {
	cases := []struct{ in, want string }{
		{`text/plain; charset="utf-8"; format=flowed`, `("charset" "utf-8" "format" "flowed")`},
		{`text/plain; CHARSET=us-ascii (comment)`, `("charset" "us-ascii")`},
		{`application/x; name*=iso-8859-1'de'M%FCller.txt`, `("name" "Müller.txt")`},
		{`application/x; name*1="b"; name*0="a"`, `("name" "ab")`},
		{`application/x; name="a;b"; x=1`, `("name" "a;b" "x" "1")`},
		{`application/x; name="unterminated`, `("name" "unterminated")`},
		{`application/x; novalue; y=2`, `("y" "2")`},
		{`application/x; name="dup"; name="second"`, `("name" "dup")`},
		{`application/x; name="=?utf-8?B?w6Q=?=.txt"`, `("name" "ä.txt")`},
	}
	for _, c := range cases {
		_, _, ps := parseContentType(c.in)
		if got := params(ps); got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"text", "text/", "/plain", "te xt/plain", ""} {
		if typ, sub, _ := parseContentType(bad); typ != "" || sub != "" {
			t.Errorf("parseContentType(%q) = %s/%s, want invalid", bad, typ, sub)
		}
	}
}

func TestToCRLF(t *testing.T) {
	if got := string(ToCRLF([]byte("a\nb\r\nc\n"))); got != "a\r\nb\r\nc\r\n" {
		t.Errorf("ToCRLF = %q", got)
	}
	in := []byte("a\r\nb\r\n")
	if out := ToCRLF(in); &out[0] != &in[0] {
		t.Error("ToCRLF copied a message that needed no change")
	}
}

// Round trip through the standard library's encoders: whatever they
// produce, our lenient decoders must read back exactly.
func TestDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 500; n++ {
		data := make([]byte, rng.IntN(400))
		for i := range data {
			switch rng.IntN(4) {
			case 0:
				data[i] = byte(rng.IntN(256))
			case 1:
				data[i] = " \t=\r\n"[rng.IntN(5)]
			default:
				data[i] = byte('a' + rng.IntN(26))
			}
		}
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Binary = true
		w.Write(data)
		w.Close()
		if got := decodeQP(qp.Bytes(), nil); !bytes.Equal(got, data) {
			t.Fatalf("QP round trip of %q via %q gave %q", data, qp.Bytes(), got)
		}
		b64 := base64.StdEncoding.EncodeToString(data)
		if got := decodeBase64([]byte(b64), nil); !bytes.Equal(got, data) {
			t.Fatalf("base64 round trip of %q gave %q", data, got)
		}
	}
}
