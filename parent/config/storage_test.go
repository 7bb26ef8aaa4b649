package config

import (
	"strings"
	"testing"
)

// storage maildir [PATH] shared: the keyword after the path or alone; a
// quoted "shared" is a path (and not an absolute one).
func TestStorageMaildirShared(t *testing.T) {
	for _, tc := range []struct {
		src    string
		path   string
		shared bool
	}{
		{"storage maildir", "", false},
		{"storage maildir shared", "", true},
		{`storage maildir "/srv/mail"`, "/srv/mail", false},
		{`storage maildir "/srv/mail" shared`, "/srv/mail", true},
		{"storage maildir /srv/mail shared", "/srv/mail", true},
	} {
		c := mustParse(t, tc.src+"\n")
		if c.Storage != StorageMaildir || c.MaildirPath != tc.path || c.MaildirShared != tc.shared {
			t.Errorf("%s: storage %s path %q shared %v", tc.src, c.Storage, c.MaildirPath, c.MaildirShared)
		}
		// The effective configuration says it again, and reads back the same.
		text := c.String()
		if want := tc.shared; strings.Contains(text, " shared\n") != want {
			t.Errorf("%s: effective configuration\n%s", tc.src, text)
		}
		if c2, err := Parse("round", []byte(text)); err != nil || c2.MaildirShared != tc.shared || c2.MaildirPath != tc.path {
			t.Errorf("%s: reparse: %v", tc.src, err)
		}
	}
	for src, want := range map[string]string{
		`storage maildir "shared"`:         `storage maildir: "shared" is not an absolute path`,
		"storage maildir shared shared":    `unexpected "shared" at end of statement`,
		`storage maildir "/a" shared "/b"`: `unexpected "/b" at end of statement`,
		"storage memory shared":            `unexpected "shared" at end of statement`,
	} {
		if _, err := Parse("x", []byte(src+"\n")); err == nil || !strings.Contains(err.Error(), "x:1: "+want) {
			t.Errorf("%s: err = %v, want %s", src, err, want)
		}
	}
}
