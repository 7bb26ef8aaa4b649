package config

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// prints to text that parses back to the same Config.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"listen on * tls\ntls certificate \"/c\" key \"/k\"\n",
		"a = \"::1\"\nlisten on $a port 10143 plain\n",
		"storage maildir \"/var/mail\"\nauth pam service imap\nauth cache 5\n",
		"preauth workers 2\npreauth user \"_x\"\npreauth chroot \"/e\"\n",
		"limit line 8K\nappend limit 1G\nlimit login time 30\nlimit connections per ip 3\n",
		"control socket \"/c.sock\" group wheel\nlog syslog level debug\n",
		"plaintext auth deny \\\n # c\nfirst valid uid 10\nautologout 31\n",
		"auth passwd-file \"a\\\"b\"\n",
		"sandbox prefer\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		text := c.String()
		c2, err := Parse("fuzz", []byte(text))
		if err != nil {
			t.Fatalf("reparse of\n%s\nfailed: %v", text, err)
		}
		if !reflect.DeepEqual(forgetLines(c), forgetLines(c2)) {
			t.Fatalf("round trip differs:\n%s\n%+v\n%+v", text, c, c2)
		}
	})
}
