// Package config reads imapd.conf(5): an OpenBSD-style file of one
// statement per line, with # comments, double-quoted strings, macros and
// line continuation. Parse resolves every setting to its default, so the
// rest of imapd reads a complete Config and never a missing value.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// DefaultPath is where imapd and imapctl look for the file.
const DefaultPath = "/etc/imapd.conf"

// Kind is a listener's kind. The values are those of proto ListenerKind, so
// pb.ListenerKind(k) converts.
type Kind int

const (
	Plain    Kind = 1 // cleartext, no STARTTLS offered
	StartTLS Kind = 2 // cleartext until STARTTLS (RFC 9051 §6.2.1)
	TLS      Kind = 3 // implicit TLS (RFC 8314)
)

func (k Kind) String() string {
	switch k {
	case Plain:
		return "plain"
	case StartTLS:
		return "starttls"
	case TLS:
		return "tls"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Listener is one `listen on` statement. Host is an IP address, "localhost"
// or "*" (every address).
type Listener struct {
	Host string
	Port int
	Kind Kind
}

// Addr is the address for net.Listen: "*" becomes all addresses.
func (l Listener) Addr() string {
	host := l.Host
	if host == "*" {
		host = ""
	}
	return joinHostPort(host, l.Port)
}

func (l Listener) String() string { return joinHostPort(l.Host, l.Port) + " " + l.Kind.String() }

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// Cert is one `tls certificate` statement: PEM files, read by the parent.
type Cert struct {
	CertFile string
	KeyFile  string
	// Line is where the statement is, for messages about the files; 0 when
	// --cert and --key gave them.
	Line int
}

// Sandbox is the `sandbox` statement: what a kernel that lacks a sandbox
// feature (Landlock, seccomp, an allowlist for the architecture) gets.
type Sandbox string

const (
	SandboxRequire Sandbox = "require" // refuse to start, naming what is missing
	SandboxPrefer  Sandbox = "prefer"  // run with what there is, say so once
)

// Storage backends and auth backends, as written in the file.
const (
	StorageMaildir = "maildir"
	StorageMemory  = "memory"
	AuthPAM        = "pam"
	AuthPasswdFile = "passwd-file"
)

// PlaintextAuth says where cleartext LOGIN and AUTHENTICATE PLAIN are
// allowed without TLS (RFC 9051 §6.2.3, LOGINDISABLED).
type PlaintextAuth string

const (
	PlaintextAllow    PlaintextAuth = "allow"
	PlaintextLoopback PlaintextAuth = "loopback"
	PlaintextDeny     PlaintextAuth = "deny"
)

// Defaults, documented in imapd.conf(5).
const (
	DefaultPreauthUser     = "_imapd"
	DefaultPreauthChroot   = "/var/empty"
	DefaultFirstValidUID   = 1000
	DefaultConnsPerIP      = 20
	DefaultPreloginTotal   = 4096
	DefaultLoginTimeout    = 60 * time.Second
	DefaultLineLimit       = 65536
	DefaultAppendLimit     = 64 << 20
	DefaultAutologout      = 30 * time.Minute
	DefaultHibernateAfter  = 60 * time.Second
	DefaultControlSocket   = "/run/imapd/control.sock"
	DefaultPAMService      = "imapd"
	DefaultHost            = "127.0.0.1" // the seed's -h default
	MinAutologout          = 30 * time.Minute
	DefaultPlainPort       = 143
	DefaultTLSPort         = 993
	defaultLogTarget       = "stderr"
	maxAppendLimit         = 1 << 40
	maxLineLimit           = 16 << 20
	minLineLimit           = 1024
	maxPreauthWorkers      = 256
	maxAuthCacheSeconds    = 86400
	maxLoginTimeoutSeconds = 3600
	maxAutologoutMinutes   = 7 * 24 * 60
	maxHibernateSeconds    = 86400
)

// Config is the effective configuration: every field holds a value, the
// file's or the default.
type Config struct {
	// File is the name the configuration was read from, for messages.
	File string

	Listeners []Listener
	Certs     []Cert

	Storage     string // StorageMaildir or StorageMemory
	MaildirPath string // maildir base: mail of user U is MaildirPath/U; "" = ~/Maildir
	// MaildirShared: other hosts use the Maildirs too (NFS, CephFS;
	// docs/design.md#shared-storage).
	MaildirShared bool

	Auth       string // AuthPAM or AuthPasswdFile
	PAMService string
	PasswdFile string
	// AuthUser is the account authd runs as (`auth ... user NAME`); ""
	// takes AuthdUser's default.
	AuthUser  string
	AuthCache time.Duration // 0: off

	PreauthWorkers int
	PreauthUser    string
	PreauthChroot  string

	PlaintextAuth PlaintextAuth
	FirstValidUID int

	ConnsPerIP int
	// Connections before login: per address, per IPv6 /64, per IPv4 /24
	// and overall; 0 takes the default derived from ConnsPerIP (see
	// PreloginLimits).
	PreloginPerIP    int
	PreloginPerNet64 int
	PreloginPerNet24 int
	PreloginTotal    int
	LoginTimeout     time.Duration
	LineLimit        int
	AppendLimit      int64
	Autologout       time.Duration
	// HibernateAfter is how long a session idles (IDLE, quiet) before its
	// worker hands it to the parent; 0: never
	// (docs/design.md#idle-workers-and-hibernation).
	HibernateAfter time.Duration

	// RFC 5464 server annotations /shared/admin and /shared/comment; "": none.
	MetadataAdmin, MetadataComment string

	Quota      Quota            // every user's limits (RFC 9208); zero: none
	QuotaUsers map[string]Quota // per-user overrides; see QuotaFor

	ControlSocket string
	ControlGroup  string // "" = root only

	LogTarget string // "stderr" or "syslog"
	LogLevel  slog.Level

	Sandbox Sandbox

	Proxy Proxy // docs/cluster.md
}

// Default returns the configuration of an empty file.
func Default() *Config {
	c := &Config{
		Storage:        StorageMaildir,
		Auth:           AuthPAM,
		PAMService:     DefaultPAMService,
		PreauthWorkers: runtime.NumCPU(),
		PreauthUser:    DefaultPreauthUser,
		PreauthChroot:  DefaultPreauthChroot,
		PlaintextAuth:  PlaintextLoopback,
		FirstValidUID:  DefaultFirstValidUID,
		ConnsPerIP:     DefaultConnsPerIP,
		LoginTimeout:   DefaultLoginTimeout,
		LineLimit:      DefaultLineLimit,
		AppendLimit:    DefaultAppendLimit,
		Autologout:     DefaultAutologout,
		HibernateAfter: DefaultHibernateAfter,
		ControlSocket:  defaultControlSocket(),
		LogTarget:      defaultLogTarget,
		LogLevel:       slog.LevelInfo,
		Sandbox:        SandboxRequire,
	}
	c.defaultListeners()
	return c
}

// PreloginLimits returns the pre-login caps in force: per address (default:
// the per-address connection limit), per IPv6 /64 (default 4 times that),
// per IPv4 /24 (default 16 times: a /24 is many hosts more often than a /64)
// and overall (default 4096), as imapd.conf(5) says.
func (c *Config) PreloginLimits() (perIP, perNet64, perNet24, total int) {
	perIP, perNet64, perNet24, total = c.PreloginPerIP, c.PreloginPerNet64, c.PreloginPerNet24, c.PreloginTotal
	if perIP == 0 {
		perIP = c.ConnsPerIP
	}
	if perNet64 == 0 {
		perNet64 = 4 * perIP
	}
	if perNet24 == 0 {
		perNet24 = 16 * perIP
	}
	if total == 0 {
		total = DefaultPreloginTotal
	}
	return
}

// defaultListeners applies when no `listen` statement is given: the seed's
// default address and port, with STARTTLS when a certificate exists.
func (c *Config) defaultListeners() {
	if len(c.Listeners) > 0 {
		return
	}
	kind := Plain
	if len(c.Certs) > 0 {
		kind = StartTLS
	}
	c.Listeners = []Listener{{Host: DefaultHost, Port: DefaultPlainPort, Kind: kind}}
}

// Error is one problem found in a file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrorList is every problem found by Parse, in file order; it prints one
// per line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find each *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Load reads and parses the file at path. Relative paths in it name files
// beside it, whatever the directory imapd or imapctl is started from.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(path, data)
	if c != nil {
		c.resolveRelative(filepath.Dir(path))
	}
	return c, err
}

// resolveRelative makes the file's relative paths absolute against dir.
func (c *Config) resolveRelative(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.PasswdFile)
	abs(&c.ControlSocket)
	abs(&c.MaildirPath)
	abs(&c.Proxy.SecretFile)
	abs(&c.Proxy.TLSCA)
	for i := range c.Certs {
		abs(&c.Certs[i].CertFile)
		abs(&c.Certs[i].KeyFile)
	}
}

// defaultControlSocket is where imapd listens for imapctl when the file
// does not say: /run/imapd for root; a normal user's server (which cannot
// write /run) uses $XDG_RUNTIME_DIR/imapd, else a directory of its own
// under the temporary directory. imapctl, run by the same user, finds the
// same path.
func defaultControlSocket() string {
	uid := os.Geteuid()
	switch {
	case uid == 0:
		return DefaultControlSocket
	case os.Getenv("XDG_RUNTIME_DIR") != "":
		return filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "imapd", "control.sock")
	default:
		return filepath.Join(os.TempDir(), fmt.Sprintf("imapd-%d", uid), "control.sock")
	}
}

// LoadOrDefault is Load, except that a missing file gives the defaults
// (imapctl on a host that runs imapd from flags alone).
func LoadOrDefault(path string) (*Config, error) {
	c, err := Load(path)
	if errors.Is(err, os.ErrNotExist) {
		c = Default()
		c.File = path
		return c, nil
	}
	return c, err
}

// Parse reads the configuration in data; name is used in messages. Every
// error is collected: the error is an ErrorList of them all, returned with
// what could be read, which is not a configuration to run.
func Parse(name string, data []byte) (*Config, error) {
	p := parse(name, data)
	if len(p.errs) > 0 {
		// The configuration read so far comes back too: imapctl still finds
		// the control socket in a file the admin is halfway through editing.
		return p.cfg, p.errs
	}
	return p.cfg, nil
}

func parse(name string, data []byte) *parser {
	p := &parser{file: name, cfg: Default(), seen: map[string]int{}}
	p.cfg.Listeners = nil
	p.lex = &lexer{data: data, line: 1, macros: map[string]string{}, errf: p.errorf}
	for {
		toks := p.lex.next()
		if toks == nil {
			break
		}
		p.statement(toks)
	}
	p.cfg.File = name
	p.cfg.defaultListeners()
	for _, msg := range p.cfg.validate() {
		p.errs = append(p.errs, &Error{File: name, Msg: msg})
	}
	return p
}

// validate checks what no single statement can: a whole-file consistency.
// It is also run after ApplyFlags.
func (c *Config) validate() []string {
	var errs []string
	seen := map[string]bool{}
	for _, l := range c.Listeners {
		if l.Kind != Plain && len(c.Certs) == 0 {
			errs = append(errs, fmt.Sprintf("listener %s needs a tls certificate", l))
		}
		a := joinHostPort(l.Host, l.Port)
		if seen[a] {
			errs = append(errs, fmt.Sprintf("listener %s given twice", a))
		}
		seen[a] = true
	}
	if c.Auth == AuthPasswdFile && c.PasswdFile == "" {
		errs = append(errs, "auth passwd-file needs a file")
	}
	errs = append(errs, c.validateProxy()...)
	return errs
}
