package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

type parser struct {
	file string
	cfg  *Config
	lex  *lexer
	errs ErrorList
	seen map[string]int // statements allowed once -> line of the first

	toks []token // the statement being parsed
	i    int
	line int
	bad  bool // an error was reported in this statement
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// fail reports an error at the current token and abandons the statement.
func (p *parser) fail(format string, args ...any) {
	if p.bad {
		return
	}
	p.bad = true
	p.errorf(p.line, format, args...)
}

func (p *parser) peek() (token, bool) {
	if p.bad || p.i >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.i], true
}

// accept consumes the keyword kw if it comes next.
func (p *parser) accept(kw string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && t.s == kw {
		p.i++
		return true
	}
	return false
}

// expect consumes the keywords kws in order.
func (p *parser) expect(kws ...string) bool {
	for _, kw := range kws {
		if !p.accept(kw) {
			p.fail("expected %q%s", kw, p.found())
			return false
		}
	}
	return true
}

// found describes the next token for an error message.
func (p *parser) found() string {
	if p.i >= len(p.toks) {
		return " at end of line"
	}
	return fmt.Sprintf(", found %q", p.toks[p.i].s)
}

// choice consumes one of the keywords in opts.
func (p *parser) choice(what string, opts ...string) (string, bool) {
	for _, o := range opts {
		if p.accept(o) {
			return o, true
		}
	}
	p.fail("expected %s (%s)%s", what, strings.Join(opts, " | "), p.found())
	return "", false
}

// str consumes a string: quoted, or a bare word.
func (p *parser) str(what string) (string, bool) {
	t, ok := p.peek()
	if !ok {
		p.fail("expected %s%s", what, p.found())
		return "", false
	}
	p.i++
	if t.s == "" {
		p.fail("empty %s", what)
		return "", false
	}
	return t.s, true
}

// num consumes an integer in [lo, hi].
func (p *parser) num(what string, lo, hi int64) (int64, bool) {
	s, ok := p.str(what)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.fail("%s: %q is not a number", what, s)
		return 0, false
	}
	return p.inRange(what, n, lo, hi)
}

func (p *parser) inRange(what string, n, lo, hi int64) (int64, bool) {
	if n < lo || n > hi {
		p.fail("%s %d out of range %d-%d", what, n, lo, hi)
		return 0, false
	}
	return n, true
}

// size consumes a byte count with an optional K, M or G suffix (powers of
// 1024), in [lo, hi].
func (p *parser) size(what string, lo, hi int64) (int64, bool) {
	s, ok := p.str(what)
	if !ok {
		return 0, false
	}
	n, err := parseSize(s)
	if err != nil {
		p.fail("%s: %v", what, err)
		return 0, false
	}
	return p.inRange(what, n, lo, hi)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	digits := s
	if mult > 1 {
		digits = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (N, NK, NM or NG)", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// once reports a second occurrence of a statement that may appear once.
func (p *parser) once(key string) bool {
	if first, dup := p.seen[key]; dup {
		p.fail("%s given twice (first on line %d)", key, first)
		return false
	}
	p.seen[key] = p.line
	return true
}

// end checks that the statement has no words left.
func (p *parser) end() {
	if !p.bad && p.i < len(p.toks) {
		p.fail("unexpected %q at end of statement", p.toks[p.i].s)
	}
}

func (p *parser) statement(toks []token) {
	p.toks, p.i, p.line, p.bad = toks, 0, toks[0].line, false
	first := toks[0]
	if len(toks) >= 2 && toks[1].s == "=" && !toks[1].quoted && !first.quoted {
		p.macro()
		return
	}
	if first.quoted {
		p.fail("unknown statement %q", first.s)
		return
	}
	p.i = 1
	switch first.s {
	case "listen":
		p.listen()
	case "tls":
		p.tls()
	case "storage":
		p.storage()
	case "auth":
		p.auth()
	case "preauth":
		p.preauth()
	case "plaintext":
		p.plaintext()
	case "first":
		p.firstValidUID()
	case "limit":
		p.limit()
	case "append":
		p.appendLimit()
	case "quota":
		p.quota()
	case "metadata":
		p.metadata()
	case "autologout":
		p.autologout()
	case "hibernate":
		p.hibernate()
	case "control":
		p.control()
	case "log":
		p.log()
	case "sandbox":
		p.sandbox()
	case "proxy":
		p.proxy()
	default:
		p.fail("unknown statement %q", first.s)
		return
	}
	p.end()
}

// macro: name = "value". OpenBSD's parse.y rules: the name is a bare word
// of letters, digits and underscores; it is used as $name from the next line.
func (p *parser) macro() {
	name := p.toks[0].s
	if !validMacroName(name) {
		p.fail("invalid macro name %q", name)
		return
	}
	if len(p.toks) != 3 {
		p.fail("macro %s: expected one value after =", name)
		return
	}
	p.lex.macros[name] = p.toks[2].s
}

// listen on ADDRESS [port N] (tls | starttls | plain)
func (p *parser) listen() {
	if !p.expect("on") {
		return
	}
	host, ok := p.str("address")
	if !ok {
		return
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host != "*" && host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil {
			p.fail("listen: %q is not an IP address, localhost or *", host)
			return
		}
		host = ip.String()
	}
	port := int64(0)
	if p.accept("port") {
		if port, ok = p.num("port", 1, 65535); !ok {
			return
		}
	}
	k, ok := p.choice("listener kind", "tls", "starttls", "plain")
	if !ok {
		return
	}
	l := Listener{Host: host, Port: int(port)}
	switch k {
	case "tls":
		l.Kind = TLS
	case "starttls":
		l.Kind = StartTLS
	default:
		l.Kind = Plain
	}
	if l.Port == 0 {
		l.Port = DefaultPlainPort
		if l.Kind == TLS {
			l.Port = DefaultTLSPort
		}
	}
	p.cfg.Listeners = append(p.cfg.Listeners, l)
}

// tls certificate "FILE" key "FILE"
func (p *parser) tls() {
	if !p.expect("certificate") {
		return
	}
	cert, ok := p.str("certificate file")
	if !ok || !p.expect("key") {
		return
	}
	key, ok := p.str("key file")
	if !ok {
		return
	}
	p.cfg.Certs = append(p.cfg.Certs, Cert{CertFile: cert, KeyFile: key, Line: p.line})
}

// sandbox (require | prefer)
func (p *parser) sandbox() {
	if !p.once("sandbox") {
		return
	}
	if v, ok := p.choice("sandbox policy", "require", "prefer"); ok {
		p.cfg.Sandbox = Sandbox(v)
	}
}

// storage maildir ["PATH"] [shared] | storage memory
func (p *parser) storage() {
	if !p.once("storage") {
		return
	}
	kind, ok := p.choice("storage", StorageMaildir, StorageMemory)
	if !ok {
		return
	}
	p.cfg.Storage = kind
	if kind == StorageMaildir {
		// A bare shared is the keyword; a path named so must be quoted
		// (and absolute anyway).
		if t, more := p.peek(); more && (t.quoted || t.s != "shared") {
			path, _ := p.str("maildir path")
			if path != "" && !strings.HasPrefix(path, "/") {
				p.fail("storage maildir: %q is not an absolute path", path)
				return
			}
			p.cfg.MaildirPath = path
		}
		p.cfg.MaildirShared = p.accept("shared")
	}
}

// auth pam [service NAME] [user NAME] | auth passwd-file "FILE" [user NAME] | auth cache N
func (p *parser) auth() {
	if p.accept("cache") {
		if !p.once("auth cache") {
			return
		}
		if n, ok := p.num("auth cache seconds", 0, maxAuthCacheSeconds); ok {
			p.cfg.AuthCache = time.Duration(n) * time.Second
		}
		return
	}
	kind, ok := p.choice("auth backend", AuthPAM, AuthPasswdFile, "cache")
	if !ok || !p.once("auth") {
		return
	}
	p.cfg.Auth = kind
	switch kind {
	case AuthPAM:
		if p.accept("service") {
			if s, ok := p.str("PAM service"); ok {
				if strings.ContainsAny(s, "/ \t") {
					p.fail("auth pam: invalid service name %q", s)
					return
				}
				p.cfg.PAMService = s
			}
		}
	case AuthPasswdFile:
		p.cfg.PasswdFile, _ = p.str("passwd-file path")
	}
	if p.accept("user") {
		if s, ok := p.str("authd user name"); ok {
			if s == "" || s == "root" || strings.ContainsAny(s, "/: \t") {
				p.fail("auth %s user: %q is not allowed (authd drops root to it)", kind, s)
				return
			}
			p.cfg.AuthUser = s
		}
	}
}

// preauth workers N | preauth user NAME | preauth chroot "DIR"
func (p *parser) preauth() {
	what, ok := p.choice("preauth setting", "workers", "user", "chroot")
	if !ok || !p.once("preauth "+what) {
		return
	}
	switch what {
	case "workers":
		if n, ok := p.num("preauth workers", 1, maxPreauthWorkers); ok {
			p.cfg.PreauthWorkers = int(n)
		}
	case "user":
		if s, ok := p.str("user name"); ok {
			if s == "root" || strings.ContainsAny(s, ": \t/") {
				p.fail("preauth user: %q is not allowed", s)
				return
			}
			p.cfg.PreauthUser = s
		}
	case "chroot":
		if s, ok := p.str("chroot directory"); ok {
			if !strings.HasPrefix(s, "/") {
				p.fail("preauth chroot: %q is not an absolute path", s)
				return
			}
			p.cfg.PreauthChroot = s
		}
	}
}

// plaintext auth (allow | loopback | deny)
func (p *parser) plaintext() {
	if !p.expect("auth") || !p.once("plaintext auth") {
		return
	}
	if v, ok := p.choice("plaintext auth policy", "allow", "loopback", "deny"); ok {
		p.cfg.PlaintextAuth = PlaintextAuth(v)
	}
}

// first valid uid N
func (p *parser) firstValidUID() {
	if !p.expect("valid", "uid") || !p.once("first valid uid") {
		return
	}
	if n, ok := p.num("uid", 1, math.MaxUint32-1); ok {
		p.cfg.FirstValidUID = int(n)
	}
}

// limit connections per ip N | limit login time N | limit line N |
// limit prelogin per ip N | per net64 N | per net24 N | total N
func (p *parser) limit() {
	what, ok := p.choice("limit", "connections", "login", "line", "prelogin")
	if !ok {
		return
	}
	switch what {
	case "connections":
		if !p.expect("per", "ip") || !p.once("limit connections per ip") {
			return
		}
		if n, ok := p.num("connections", 1, 65535); ok {
			p.cfg.ConnsPerIP = int(n)
		}
	case "prelogin":
		p.preloginLimit()
	case "login":
		if !p.expect("time") || !p.once("limit login time") {
			return
		}
		if n, ok := p.num("login time seconds", 1, maxLoginTimeoutSeconds); ok {
			p.cfg.LoginTimeout = time.Duration(n) * time.Second
		}
	case "line":
		if !p.once("limit line") {
			return
		}
		if n, ok := p.size("line limit", minLineLimit, maxLineLimit); ok {
			p.cfg.LineLimit = int(n)
		}
	}
}

// preloginLimit reads the caps on connections that have not logged in yet
// (docs/security.md#connection-limits).
func (p *parser) preloginLimit() {
	var dst *int
	what := "total"
	if p.accept("total") {
		dst = &p.cfg.PreloginTotal
	} else {
		if !p.expect("per") {
			return
		}
		w, ok := p.choice("limit prelogin per", "ip", "net64", "net24")
		if !ok {
			return
		}
		what = "per " + w
		dst = map[string]*int{"ip": &p.cfg.PreloginPerIP, "net64": &p.cfg.PreloginPerNet64, "net24": &p.cfg.PreloginPerNet24}[w]
	}
	if !p.once("limit prelogin " + what) {
		return
	}
	if n, ok := p.num("connections", 1, 1<<20); ok {
		*dst = int(n)
	}
}

// append limit N[K|M|G]
func (p *parser) appendLimit() {
	if !p.expect("limit") || !p.once("append limit") {
		return
	}
	if n, ok := p.size("append limit", 1, maxAppendLimit); ok {
		p.cfg.AppendLimit = n
	}
}

// metadata admin "URI" | metadata comment "TEXT": the server annotations
// every user reads (RFC 5464 §3.2.1.1; docs/man/imapd.conf.5, LIMITS).
func (p *parser) metadata() {
	var dst *string
	what := ""
	switch {
	case p.accept("admin"):
		dst, what = &p.cfg.MetadataAdmin, "metadata admin"
	case p.accept("comment"):
		dst, what = &p.cfg.MetadataComment, "metadata comment"
	default:
		p.fail("metadata: expected admin or comment")
		return
	}
	if !p.once(what) {
		return
	}
	if v, ok := p.str(what); ok {
		*dst = v
	}
}

// autologout N (minutes). RFC 9051 §5.4: at least 30 minutes.
func (p *parser) autologout() {
	if !p.once("autologout") {
		return
	}
	if n, ok := p.num("autologout minutes", int64(MinAutologout/time.Minute), maxAutologoutMinutes); ok {
		p.cfg.Autologout = time.Duration(n) * time.Minute
	}
}

// hibernate after N (seconds; 0: never).
func (p *parser) hibernate() {
	if !p.expect("after") || !p.once("hibernate after") {
		return
	}
	if n, ok := p.num("hibernate after seconds", 0, maxHibernateSeconds); ok {
		p.cfg.HibernateAfter = time.Duration(n) * time.Second
	}
}

// control socket "PATH" [group NAME]
func (p *parser) control() {
	if !p.expect("socket") || !p.once("control socket") {
		return
	}
	path, ok := p.str("socket path")
	if !ok {
		return
	}
	// sun_path holds 108 bytes with the terminating NUL.
	if len(path) > 107 || strings.ContainsRune(path, 0) {
		p.fail("control socket: invalid path %q (at most 107 bytes)", path)
		return
	}
	p.cfg.ControlSocket = path
	if p.accept("group") {
		if g, ok := p.str("group name"); ok {
			if g == "" || strings.ContainsAny(g, ": \t") {
				p.fail("control socket: invalid group %q", g)
				return
			}
			p.cfg.ControlGroup = g
		}
	}
}

// log (stderr | syslog) [level (debug | info | warn | error)]
func (p *parser) log() {
	if !p.once("log") {
		return
	}
	target, ok := p.choice("log target", "stderr", "syslog")
	if !ok {
		return
	}
	p.cfg.LogTarget = target
	if p.accept("level") {
		lv, ok := p.choice("log level", "debug", "info", "warn", "error")
		if !ok {
			return
		}
		p.cfg.LogLevel = levels[lv]
	}
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func levelName(l slog.Level) string {
	for k, v := range levels {
		if v == l {
			return k
		}
	}
	return "info"
}
