package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("test.conf", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%s\nerror:\n%v", src, err)
	}
	return c
}

// forgetLines clears where statements were, which a round trip through
// String does not keep.
func forgetLines(c *Config) *Config {
	for i := range c.Certs {
		c.Certs[i].Line = 0
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "# nothing but a comment\n\n")
	want := &Config{
		File:           "test.conf",
		Listeners:      []Listener{{Host: "127.0.0.1", Port: 143, Kind: Plain}},
		Storage:        "maildir",
		Auth:           "pam",
		PAMService:     "imapd",
		PreauthWorkers: runtime.NumCPU(),
		PreauthUser:    "_imapd",
		PreauthChroot:  "/var/empty",
		PlaintextAuth:  PlaintextLoopback,
		FirstValidUID:  1000,
		ConnsPerIP:     20,
		LoginTimeout:   60 * time.Second,
		LineLimit:      65536,
		AppendLimit:    64 << 20,
		Autologout:     30 * time.Minute,
		HibernateAfter: 60 * time.Second,
		ControlSocket:  defaultControlSocket(),
		LogTarget:      "stderr",
		LogLevel:       slog.LevelInfo,
		Sandbox:        SandboxRequire,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

// A normal user's server cannot write /run: its control socket goes to
// $XDG_RUNTIME_DIR, else a directory of its own; root's stays in /run.
func TestDefaultControlSocket(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	want := "/run/user/1000/imapd/control.sock"
	if os.Geteuid() == 0 {
		want = "/run/imapd/control.sock"
	}
	if got := defaultControlSocket(); got != want {
		t.Errorf("with XDG_RUNTIME_DIR: %q, want %q", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want = filepath.Join(os.TempDir(), fmt.Sprintf("imapd-%d", os.Geteuid()), "control.sock")
	if os.Geteuid() == 0 {
		want = "/run/imapd/control.sock"
	}
	if got := defaultControlSocket(); got != want {
		t.Errorf("without XDG_RUNTIME_DIR: %q, want %q", got, want)
	}
}

// Relative paths in a file name files beside it, not in the directory
// the command happens to run from.
func TestRelativePathsBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "imapd.conf")
	os.WriteFile(conf, []byte("auth passwd-file \"pw\"\ncontrol socket \"../run/ctl.sock\"\ntls certificate \"/abs/c.pem\" key \"k.pem\"\n"), 0o644)
	c, err := Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if c.PasswdFile != filepath.Join(dir, "pw") || c.ControlSocket != filepath.Join(filepath.Dir(dir), "run", "ctl.sock") ||
		c.Certs[0] != (Cert{"/abs/c.pem", filepath.Join(dir, "k.pem"), 3}) {
		t.Errorf("paths: passwd-file %q, control socket %q, certs %+v", c.PasswdFile, c.ControlSocket, c.Certs)
	}
}

// TestEveryStatement parses a file using every statement once (and the
// repeatable ones twice) and checks each resolved field.
func TestEveryStatement(t *testing.T) {
	c := mustParse(t, `
listen on * tls
listen on ::1 port 10143 starttls
listen on [fe80::1] port 144 plain
listen on localhost plain
listen on 192.0.2.1 starttls
tls certificate "/etc/ssl/a.crt" key "/etc/ssl/private/a.key"
tls certificate /etc/ssl/b.crt key "/etc/ssl/private/b key"
storage maildir "/var/mail"
auth pam service "imap"
auth cache 300
preauth workers 3
preauth user "_imaplogin"
preauth chroot "/var/lib/imapd/empty"
plaintext auth deny
first valid uid 500
limit connections per ip 7
limit login time 45
limit line 8K
append limit 1G
autologout 45
hibernate after 0
control socket "/run/x/ctl.sock" group "imapadm"
log syslog level debug
sandbox prefer
`)
	wantL := []Listener{
		{"*", 993, TLS}, {"::1", 10143, StartTLS}, {"fe80::1", 144, Plain},
		{"localhost", 143, Plain}, {"192.0.2.1", 143, StartTLS},
	}
	if !reflect.DeepEqual(c.Listeners, wantL) {
		t.Errorf("listeners %v, want %v", c.Listeners, wantL)
	}
	wantC := []Cert{{"/etc/ssl/a.crt", "/etc/ssl/private/a.key", 7}, {"/etc/ssl/b.crt", "/etc/ssl/private/b key", 8}}
	if !reflect.DeepEqual(c.Certs, wantC) {
		t.Errorf("certs %v, want %v", c.Certs, wantC)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"storage", c.Storage, "maildir"},
		{"maildir path", c.MaildirPath, "/var/mail"},
		{"auth", c.Auth, "pam"},
		{"pam service", c.PAMService, "imap"},
		{"auth cache", c.AuthCache, 300 * time.Second},
		{"preauth workers", c.PreauthWorkers, 3},
		{"preauth user", c.PreauthUser, "_imaplogin"},
		{"preauth chroot", c.PreauthChroot, "/var/lib/imapd/empty"},
		{"plaintext auth", c.PlaintextAuth, PlaintextDeny},
		{"first valid uid", c.FirstValidUID, 500},
		{"conns per ip", c.ConnsPerIP, 7},
		{"login time", c.LoginTimeout, 45 * time.Second},
		{"line", c.LineLimit, 8192},
		{"append limit", c.AppendLimit, int64(1 << 30)},
		{"autologout", c.Autologout, 45 * time.Minute},
		{"hibernate after", c.HibernateAfter, time.Duration(0)},
		{"control socket", c.ControlSocket, "/run/x/ctl.sock"},
		{"control group", c.ControlGroup, "imapadm"},
		{"log target", c.LogTarget, "syslog"},
		{"log level", c.LogLevel, slog.LevelDebug},
		{"sandbox", c.Sandbox, SandboxPrefer},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if got := c.Listeners[0].Addr(); got != ":993" {
		t.Errorf("Addr of * = %q", got)
	}
	if got := c.Listeners[1].Addr(); got != "[::1]:10143" {
		t.Errorf("Addr of ::1 = %q", got)
	}
}

func TestStatementVariants(t *testing.T) {
	for _, tc := range []struct {
		src   string
		check func(c *Config) bool
	}{
		{"storage memory", func(c *Config) bool { return c.Storage == "memory" }},
		{"storage maildir", func(c *Config) bool { return c.Storage == "maildir" && c.MaildirPath == "" }},
		{"auth pam", func(c *Config) bool { return c.Auth == "pam" && c.PAMService == "imapd" }},
		{`auth passwd-file "etc/passwd"`, func(c *Config) bool { return c.Auth == "passwd-file" && c.PasswdFile == "etc/passwd" }},
		{"plaintext auth allow", func(c *Config) bool { return c.PlaintextAuth == PlaintextAllow }},
		{"plaintext auth loopback", func(c *Config) bool { return c.PlaintextAuth == PlaintextLoopback }},
		{"append limit 100", func(c *Config) bool { return c.AppendLimit == 100 }},
		{"append limit 10m", func(c *Config) bool { return c.AppendLimit == 10<<20 }},
		{"limit line 2048", func(c *Config) bool { return c.LineLimit == 2048 }},
		{"auth cache 0", func(c *Config) bool { return c.AuthCache == 0 }},
		{"log stderr", func(c *Config) bool { return c.LogTarget == "stderr" && c.LogLevel == slog.LevelInfo }},
		{"log stderr level warn", func(c *Config) bool { return c.LogLevel == slog.LevelWarn }},
		{"log stderr level error", func(c *Config) bool { return c.LogLevel == slog.LevelError }},
		{"sandbox require", func(c *Config) bool { return c.Sandbox == SandboxRequire }},
		{"control socket \"ctl.sock\"", func(c *Config) bool { return c.ControlSocket == "ctl.sock" && c.ControlGroup == "" }},
		{"tls certificate c key k", func(c *Config) bool {
			// A certificate and no listen statement: the default listener offers STARTTLS.
			return len(c.Listeners) == 1 && c.Listeners[0] == Listener{"127.0.0.1", 143, StartTLS}
		}},
	} {
		c := mustParse(t, tc.src)
		if !tc.check(c) {
			t.Errorf("%q gave %+v", tc.src, c)
		}
	}
}

func TestMacrosAndContinuation(t *testing.T) {
	c := mustParse(t, `
addr = "::1"
imapport="10143"
kind = "port 10993 tls"   # a macro may hold several words
dir = "/srv/mail"
listen on $addr port $imapport plain
listen on $addr $kind
tls certificate "/c" \
    key "/k"
storage maildir $dir
preauth \
  workers \
  2
`)
	want := []Listener{{"::1", 10143, Plain}, {"::1", 10993, TLS}}
	if !reflect.DeepEqual(c.Listeners, want) {
		t.Errorf("listeners %v, want %v", c.Listeners, want)
	}
	if c.MaildirPath != "/srv/mail" || c.PreauthWorkers != 2 || len(c.Certs) != 1 || c.Certs[0].KeyFile != "/k" {
		t.Errorf("got %+v", c)
	}
	// The rest of a word after the macro's name sticks to its value.
	c = mustParse(t, "d = \"/etc/ssl\"\ntls certificate $d/a.pem key $d/private/a.key\n")
	if c.Certs[0] != (Cert{"/etc/ssl/a.pem", "/etc/ssl/private/a.key", 2}) {
		t.Errorf("macro with suffix: %+v", c.Certs)
	}
	// A quoted "$x" is a string, not a macro.
	c = mustParse(t, "x = \"/a\"\nauth passwd-file \"$x\"\n")
	if c.PasswdFile != "$x" {
		t.Errorf("quoted macro expanded: %q", c.PasswdFile)
	}
	// Escapes inside quotes.
	c = mustParse(t, `auth passwd-file "a\"b\\c"`)
	if c.PasswdFile != `a"b\c` {
		t.Errorf("escapes: %q", c.PasswdFile)
	}
}

// TestErrors checks that every error carries file:line and that all of them
// are reported, not just the first.
func TestErrors(t *testing.T) {
	src := `listen on 127.0.0.1 port 143 plain
listen on nowhere plain
listen on 127.0.0.1 port 70000 plain
bogus statement
storage memory
storage maildir
autologout 10
plaintext auth maybe
append limit 12X
auth passwd-file "/p" extra
listen on $undefined plain
preauth workers 0
first valid uid 0
storage2 = x y
log syslog level loud
auth passwd-file "unterminated
limit line 100
preauth chroot "relative"
storage maildir "relative"
preauth user root
"listen" on * plain
listen on * port 1 tls
listen on 127.0.0.1 port 143 plain
sandbox maybe
hibernate after 90000
hibernate 5
`
	_, err := Parse("bad.conf", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v (%T) is not an ErrorList", err, err)
	}
	want := []string{
		`bad.conf:2: listen: "nowhere" is not an IP address, localhost or *`,
		`bad.conf:3: port 70000 out of range 1-65535`,
		`bad.conf:4: unknown statement "bogus"`,
		`bad.conf:6: storage given twice (first on line 5)`,
		`bad.conf:7: autologout minutes 10 out of range 30-10080`,
		`bad.conf:8: expected plaintext auth policy (allow | loopback | deny), found "maybe"`,
		`bad.conf:9: append limit: "12X" is not a size (N, NK, NM or NG)`,
		`bad.conf:10: unexpected "extra" at end of statement`,
		`bad.conf:11: macro "undefined" not defined`,
		`bad.conf:11: listen: "$undefined" is not an IP address, localhost or *`,
		`bad.conf:12: preauth workers 0 out of range 1-256`,
		`bad.conf:13: uid 0 out of range 1-4294967294`,
		`bad.conf:14: macro storage2: expected one value after =`,
		`bad.conf:15: expected log level (debug | info | warn | error), found "loud"`,
		`bad.conf:16: unterminated quoted string`,
		`bad.conf:16: auth given twice (first on line 10)`,
		`bad.conf:17: line limit 100 out of range 1024-16777216`,
		`bad.conf:18: preauth chroot: "relative" is not an absolute path`,
		`bad.conf:19: storage given twice (first on line 5)`,
		`bad.conf:20: preauth user: "root" is not allowed`,
		`bad.conf:21: unknown statement "listen"`,
		`bad.conf:24: expected sandbox policy (require | prefer), found "maybe"`,
		`bad.conf:25: hibernate after seconds 90000 out of range 0-86400`,
		`bad.conf:26: expected "after", found "5"`,
		`bad.conf: listener *:1 tls needs a tls certificate`,
		`bad.conf: listener 127.0.0.1:143 given twice`,
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "bad.conf:2: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestPasswdFileNeedsName(t *testing.T) {
	_, err := Parse("x", []byte("auth passwd-file\n"))
	if err == nil || !strings.Contains(err.Error(), "x:1: expected passwd-file path at end of line") {
		t.Errorf("err = %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, src := range []string{
		"",
		"storage memory\nauth passwd-file \"examples/dev passwd\"\nlisten on ::1 port 10143 plain\n",
		`listen on * tls
listen on * port 143 starttls
tls certificate "/a \"quoted\".crt" key "/a.key"
storage maildir "/var/mail"
auth cache 30
append limit 1000
limit line 2K
control socket "/tmp/c.sock" group "wheel"
log syslog level error
`,
	} {
		c1 := mustParse(t, src)
		text := c1.String()
		c2, err := Parse("round", []byte(text))
		if err != nil {
			t.Fatalf("reparse of\n%s\nfailed: %v", text, err)
		}
		c2.File = c1.File
		if !reflect.DeepEqual(forgetLines(c1), forgetLines(c2)) {
			t.Errorf("round trip of %q:\n%s\n got %+v\nwant %+v", src, text, c2, c1)
		}
		if c2.String() != text {
			t.Errorf("String not stable:\n%s\nvs\n%s", c2.String(), text)
		}
	}
}

func TestFlags(t *testing.T) {
	parse := func(args ...string) *Flags {
		t.Helper()
		fs := flag.NewFlagSet("imapd", flag.ContinueOnError)
		f := RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("flags %v: %v", args, err)
		}
		return f
	}
	base := `listen on * port 993 tls
listen on * port 143 starttls
tls certificate "/etc/a.crt" key "/etc/a.key"
storage maildir
`
	for _, tc := range []struct {
		args      []string
		listeners []Listener
		certs     []Cert
		storage   string
		path      string
	}{
		{nil, []Listener{{"*", 993, TLS}, {"*", 143, StartTLS}}, []Cert{{"/etc/a.crt", "/etc/a.key", 3}}, "maildir", ""},
		// The seed's dev server: imapd -s memory -p 10143. Its one plain
		// listener needs no certificate: the file's are not read.
		{[]string{"-s", "memory", "-p", "10143"}, []Listener{{"127.0.0.1", 10143, Plain}}, nil, "memory", ""},
		{[]string{"--storage=memory", "--port", "10143", "--host", "::1"}, []Listener{{"::1", 10143, Plain}}, nil, "memory", ""},
		// The seed's production line.
		{[]string{"--fork", "-s", "maildir", "--tls", "--cert", "/m.crt", "--key", "/m.key", "-p", "993"},
			[]Listener{{"127.0.0.1", 993, TLS}}, []Cert{{"/m.crt", "/m.key", 0}}, "maildir", ""},
		{[]string{"--tls", "-h", "*"}, []Listener{{"*", 993, TLS}}, []Cert{{"/etc/a.crt", "/etc/a.key", 3}}, "maildir", ""},
		// STARTTLS when a certificate is given without --tls.
		{[]string{"-s", "maildir", "--maildir-path", "/var/mail", "--cert", "s.crt", "--key", "s.key", "-p", "143"},
			[]Listener{{"127.0.0.1", 143, StartTLS}}, []Cert{{"s.crt", "s.key", 0}}, "maildir", "/var/mail"},
		// Certificates alone keep the file's listeners.
		{[]string{"--cert", "n.crt", "--key", "n.key"}, []Listener{{"*", 993, TLS}, {"*", 143, StartTLS}}, []Cert{{"n.crt", "n.key", 0}}, "maildir", ""},
		{[]string{"--maildir-path", "/srv"}, []Listener{{"*", 993, TLS}, {"*", 143, StartTLS}}, []Cert{{"/etc/a.crt", "/etc/a.key", 3}}, "maildir", "/srv"},
	} {
		c := mustParse(t, base)
		f := parse(tc.args...)
		if err := c.ApplyFlags(*f); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(c.Listeners, tc.listeners) || !reflect.DeepEqual(c.Certs, tc.certs) ||
			c.Storage != tc.storage || c.MaildirPath != tc.path {
			t.Errorf("%v: listeners %v certs %v storage %s %q", tc.args, c.Listeners, c.Certs, c.Storage, c.MaildirPath)
		}
	}

	f := parse("-c", "/x.conf", "-n", "--fork")
	if f.ConfigFile != "/x.conf" || !f.CheckOnly || !f.Fork {
		t.Errorf("flags %+v", f)
	}
	if f := parse(); f.ConfigFile != DefaultPath {
		t.Errorf("default config file %q", f.ConfigFile)
	}
	for _, args := range [][]string{
		{"-s", "mbox"},
		{"--cert", "a.crt"},
		{"--tls", "-p", "993"}, // on a file without certificates
		{"--maildir-path", "rel"},
		{"-h", "example.org"},
	} {
		c := mustParse(t, "")
		if err := c.ApplyFlags(*parse(args...)); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	fs := flag.NewFlagSet("imapd", flag.ContinueOnError)
	fs.SetOutput(&strings.Builder{})
	RegisterFlags(fs)
	if err := fs.Parse([]string{"-p", "x"}); err == nil {
		t.Error("-p x accepted")
	}
}
