package authd

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	pb "imapd/proto"
)

func TestParsePasswd(t *testing.T) {
	in := strings.Join([]string{
		"# comment",
		"",
		"alice:{PLAIN}pw:5000:5001:Alice A:/home/alice:/bin/sh:userdb_quota_rule=*:storage=1G",
		"bob:{plain}pw2",
		"carol:$6$salt$hash:::::",
		"dave:{MD5}abc",          // unsupported scheme
		"erin:{PLAIN}x:12",       // uid without gid
		"frank:{PLAIN}x:a:b",     // non-numeric
		"justaname",              // no password field
		"alice:{PLAIN}again:1:1", // duplicate
		"gina:{SHA512-CRYPT}$5$wrongprefix",
	}, "\n")
	users, errs := parsePasswd(strings.NewReader(in))
	if len(errs) != 6 {
		t.Errorf("%d errors, want 6: %v", len(errs), errs)
	}
	a := users["alice"]
	if a == nil || a.password != "{PLAIN}pw" || !a.hasIDs || a.uid != 5000 || a.gid != 5001 || a.home != "/home/alice" {
		t.Errorf("alice = %+v", a)
	}
	if b := users["bob"]; b == nil || b.hasIDs || b.home != "" {
		t.Errorf("bob = %+v", b)
	}
	if c := users["carol"]; c == nil || c.hasIDs {
		t.Errorf("carol = %+v", c)
	}
	for _, u := range []string{"dave", "erin", "frank", "justaname", "gina"} {
		if users[u] != nil {
			t.Errorf("%s was accepted", u)
		}
	}
}

func TestVerifyPassword(t *testing.T) {
	bc := bcryptHash(t, "blowfish")
	bc2y := "$2y$" + bc[4:]
	cases := []struct {
		stored, good string
	}{
		{"{PLAIN}plain pw", "plain pw"},
		{"{CLEARTEXT}clear", "clear"},
		{"{BLF-CRYPT}" + bc, "blowfish"},
		{"{BLF-CRYPT}" + bc2y, "blowfish"},
		{"{CRYPT}" + bc2y, "blowfish"},
		{"{SHA512-CRYPT}$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts.", "secret"},
		{"{SHA256-CRYPT}$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA", "secret"},
		{"{CRYPT}$5$rounds=12345$Xy./Zz09$9wASbWe/889Xp.SlQ/k8fd.feef1CqxU11EZhkHu6o1", "rounds"},
		{"$6$saltsaltsalt$PMWE8DTlam1JU37Piyk43bHcMxTJq6sgu5DKB0/tGPjanN35jcY68QkpDfPFUGPWX5uCxIQkSPzMmqEiVNgts.", "secret"},
	}
	for _, c := range cases {
		if !verifyPassword(c.stored, []byte(c.good)) {
			t.Errorf("%.30s: right password refused", c.stored)
		}
		for _, bad := range []string{"", c.good + " ", strings.ToUpper(c.good), c.good[:len(c.good)-1]} {
			if verifyPassword(c.stored, []byte(bad)) {
				t.Errorf("%.30s: wrong password %q accepted", c.stored, bad)
			}
		}
	}
	for _, stored := range []string{"{MD5}x", "{PLAIN", "{SHA256-CRYPT}$6$a$b", "{CRYPT}plaintext"} {
		if verifyPassword(stored, []byte("x")) {
			t.Errorf("%q accepted", stored)
		}
	}
	if !strings.HasPrefix(dummyHash, "{SHA512-CRYPT}$6$") || verifyPassword(dummyHash, []byte("")) {
		t.Error("the dummy hash is not a valid SHA512-CRYPT hash of an unguessable password")
	}
}

// The file is re-read when it changes, and an unreadable file is an outage,
// not a stale success.
func TestPasswdFileReload(t *testing.T) {
	p := writePasswd(t, "alice:{PLAIN}one:5000:5000")
	f, err := newPasswdFile(p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	check := func(user, pw string, want pb.AuthResult) {
		t.Helper()
		_, res, _ := f.check(attempt{user: user, password: pw})
		if res != want {
			t.Errorf("%s/%s: %v, want %v", user, pw, res, want)
		}
	}
	check("alice", "one", pb.AuthResult_AUTH_OK)
	check("alice", "two", pb.AuthResult_AUTH_FAILED)
	check("nobody-here", "one", pb.AuthResult_AUTH_FAILED)

	// Same size, so only the mtime tells the change.
	if err := os.WriteFile(p, []byte("alice:{PLAIN}two:5000:5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	check("alice", "two", pb.AuthResult_AUTH_OK)
	check("alice", "one", pb.AuthResult_AUTH_FAILED)

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	check("alice", "two", pb.AuthResult_AUTH_UNAVAILABLE)
}

func TestPasswdFileAccount(t *testing.T) {
	p := writePasswd(t, "alice:{PLAIN}pw:5000:5001::/srv/mail/alice", "bob:{PLAIN}pw")
	f, err := newPasswdFile(p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, res, real := f.check(attempt{user: "alice", password: "pw"})
	if res != pb.AuthResult_AUTH_OK || !real || a.user != "alice" || !a.hasIDs || a.uid != 5000 || a.gid != 5001 || a.home != "/srv/mail/alice" {
		t.Errorf("alice: %+v %v %v", a, res, real)
	}
	b, res, _ := f.check(attempt{user: "bob", password: "pw"})
	if res != pb.AuthResult_AUTH_OK || b.hasIDs {
		t.Errorf("bob: %+v %v", b, res)
	}
	if _, _, real := f.check(attempt{user: "zed", password: "pw"}); real {
		t.Error("an unknown user's check counted as a real one")
	}
}

// FuzzParsePasswd: any file parses without panicking, and every accepted
// entry has a name and a password of a known scheme.
func FuzzParsePasswd(f *testing.F) {
	f.Add("alice:{PLAIN}pw:5000:5001:Alice:/home/alice:/bin/sh:extra\n# c\nbob:$6$s$h\n")
	f.Add("x:{BLF-CRYPT}$2y$04$abc:1:2\r\n:::\n{}:{}\n")
	f.Fuzz(func(t *testing.T, in string) {
		users, _ := parsePasswd(strings.NewReader(in))
		for name, e := range users {
			if name == "" || e.user != name {
				t.Fatalf("entry %q under %q", e.user, name)
			}
			if _, _, err := splitScheme(e.password); err != nil {
				t.Fatalf("accepted %q: %v", e.password, err)
			}
		}
	})
}
