package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `auth ... user NAME` names authd's account; a passwd-file's authd runs
// as the preauth user by default, PAM's as root.
func TestAuthdUser(t *testing.T) {
	for _, c := range []struct{ conf, want string }{
		{`auth pam`, ""},
		{`auth pam service imapd user "_imapdauth"`, "_imapdauth"},
		{`auth pam user auth`, "auth"},
		{`auth passwd-file "/etc/imapd/passwd"`, DefaultPreauthUser},
		{`auth passwd-file "/etc/imapd/passwd" user imapd-auth`, "imapd-auth"},
	} {
		cfg := mustParse(t, c.conf+"\n")
		if got := cfg.AuthdUser(); got != c.want {
			t.Errorf("%s: authd user %q, want %q", c.conf, got, c.want)
		}
		// Format writes what Parse reads back.
		if again := mustParse(t, cfg.String()); again.AuthdUser() != c.want {
			t.Errorf("%s: formatted as %q", c.conf, cfg.String())
		}
	}
	for _, bad := range []string{`auth pam user root`, `auth pam user ""`, `auth passwd-file "/x" user "a/b"`} {
		if _, err := Parse("test.conf", []byte(bad+"\n")); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// A passwd-file that authd's user cannot read stops the server at start,
// in one line that says what to change.
func TestCheckAuthdReadsPasswdFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("as root only: a normal user's authd keeps the user's ids")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	passwd := filepath.Join(dir, "passwd")
	os.WriteFile(passwd, nil, 0o600)
	cfg := mustParse(t, `auth passwd-file "`+passwd+`" user nobody`+"\n")
	errs := cfg.checkAuthdUser()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `authd runs as nobody, who cannot read it (mode 0600, owner 0:0)`) {
		t.Fatalf("unreadable passwd-file: %v", errs)
	}
	os.Chmod(passwd, 0o644)
	if errs := cfg.checkAuthdUser(); len(errs) != 0 {
		t.Errorf("readable passwd-file: %v", errs)
	}
	os.Chmod(dir, 0o700)
	if errs := cfg.checkAuthdUser(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "cannot search its directory "+dir) {
		t.Errorf("unsearchable directory: %v", errs)
	}
}
