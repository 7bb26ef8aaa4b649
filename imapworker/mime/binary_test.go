package mime

import (
	"bytes"
	"testing"
)

func TestEncodeBinary(t *testing.T) {
	part := "\x00-\xe4\n\r\n\n"
	for _, tc := range []struct{ in, want string }{
		{"Subject: plain\r\n\r\nno nul\r\n", "Subject: plain\r\n\r\nno nul\r\n"},
		{"Content-Type: application/x\r\nContent-Transfer-Encoding: binary\r\n\r\n" + part,
			"Content-Type: application/x\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==\r\n"},
		{"Content-Type: application/x\r\n\r\n" + part,
			"Content-Type: application/x\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==\r\n"},
		{"Content-Type: multipart/mixed; boundary=B\r\n\r\npre\x00\r\n--B\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + part + "\r\n--B\r\n\r\ntext\r\n--B--\r\n",
			"Content-Type: multipart/mixed; boundary=B\r\n\r\npre\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==\r\n--B\r\n\r\ntext\r\n--B--\r\n"},
		{"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n" + part,
			"Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Transfer-Encoding: base64\r\n\r\nAC3kCg0KCg==\r\n"},
	} {
		root := Parse([]byte(tc.in))
		got := EncodeBinary(root)
		if string(got) != tc.want {
			t.Errorf("EncodeBinary(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
		if HasNUL(got) {
			t.Errorf("NUL left in %q", got)
		}
		// BINARY of the encoded message gives the original part back.
		if bytes.Contains([]byte(tc.in), []byte(part)) {
			path := []int{1}
			if Parse([]byte(tc.in)).IsMessage() {
				path = []int{1, 1}
			}
			in, _ := Parse([]byte(tc.in)).Binary(path)
			out, err := Parse(got).Binary(path)
			if err != nil || !bytes.Equal(in, out) {
				t.Errorf("BINARY%v: %q, want %q (%v)", path, out, in, err)
			}
		}
	}
}
