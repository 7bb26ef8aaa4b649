package mime

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPreview(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"Subject: x\r\n\r\nHello   Bob,\r\n\r\nsee you.\r\n", "Hello Bob, see you."},
		{"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n", "Grüße"},
		{"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hi &amp; <b>bye</b></p><!-- c --></html>\r\n--b--\r\n", "Hi & bye"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nxx\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nfile\r\n--b--\r\n", ""},
	} {
		if got := Preview(Parse([]byte(tc.msg))); got != tc.want {
			t.Errorf("Preview(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
	long := Preview(Parse([]byte("\r\n" + strings.Repeat("é ", 500))))
	if n := utf8.RuneCountInString(long); n != PreviewLen {
		t.Errorf("long preview has %d characters", n)
	}
}
