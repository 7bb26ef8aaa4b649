package authd

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	pb "imapd/proto"
)

// passwdEntry is one line of a Dovecot passwd-file:
// user:{SCHEME}hash:uid:gid:gecos:home:shell:extra, fields after the password
// optional (https://doc.dovecot.org/configuration_manual/authentication/passwd_file/).
type passwdEntry struct {
	user     string
	password string // with its {SCHEME} prefix, if any
	uid, gid uint32
	hasIDs   bool // both uid and gid were given
	home     string
	host     string // the host= extra field: the user's backend on a proxy (docs/cluster.md)
}

// parsePasswd reads a passwd-file. Bad lines are reported and skipped, so one
// typo does not lock every user out; the first of duplicate users wins.
func parsePasswd(r io.Reader) (map[string]*passwdEntry, []error) {
	users := map[string]*passwdEntry{}
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 2 || f[0] == "" {
			errs = append(errs, fmt.Errorf("line %d: want user:password[:uid:gid:gecos:home:...]", n))
			continue
		}
		e := &passwdEntry{user: f[0], password: f[1]}
		var uid, gid string
		if len(f) > 2 {
			uid = f[2]
		}
		if len(f) > 3 {
			gid = f[3]
		}
		if len(f) > 5 {
			e.home = f[5]
		}
		if len(f) > 7 {
			e.host = extraField(strings.Join(f[7:], ":"), "host")
		}
		if (uid == "") != (gid == "") {
			errs = append(errs, fmt.Errorf("line %d: user %q: give both uid and gid or neither", n, e.user))
			continue
		}
		if uid != "" {
			u, err1 := strconv.ParseUint(uid, 10, 32)
			g, err2 := strconv.ParseUint(gid, 10, 32)
			if err1 != nil || err2 != nil {
				errs = append(errs, fmt.Errorf("line %d: user %q: non-numeric uid or gid", n, e.user))
				continue
			}
			e.uid, e.gid, e.hasIDs = uint32(u), uint32(g), true
		}
		if _, _, err := splitScheme(e.password); err != nil {
			errs = append(errs, fmt.Errorf("line %d: user %q: %v", n, e.user, err))
			continue
		}
		if _, dup := users[e.user]; dup {
			errs = append(errs, fmt.Errorf("line %d: user %q listed again, ignored", n, e.user))
			continue
		}
		users[e.user] = e
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return users, errs
}

// splitScheme splits "{SCHEME}hash"; without braces the scheme is CRYPT, as
// in Dovecot.
func splitScheme(stored string) (scheme, hash string, err error) {
	scheme, hash = "CRYPT", stored
	if rest, ok := strings.CutPrefix(stored, "{"); ok {
		s, h, found := strings.Cut(rest, "}")
		if !found {
			return "", "", fmt.Errorf("unterminated {SCHEME}")
		}
		scheme, hash = strings.ToUpper(s), h
	}
	switch scheme {
	case "PLAIN", "CLEARTEXT":
		return "PLAIN", hash, nil
	case "CRYPT":
		if !strings.HasPrefix(hash, "$5$") && !strings.HasPrefix(hash, "$6$") && !isBcrypt(hash) {
			return "", "", fmt.Errorf("CRYPT hash is not $5$, $6$ or $2y$/$2b$")
		}
	case "SHA256-CRYPT":
		if !strings.HasPrefix(hash, "$5$") {
			return "", "", fmt.Errorf("SHA256-CRYPT hash does not start with $5$")
		}
	case "SHA512-CRYPT":
		if !strings.HasPrefix(hash, "$6$") {
			return "", "", fmt.Errorf("SHA512-CRYPT hash does not start with $6$")
		}
	case "BLF-CRYPT":
		if !isBcrypt(hash) {
			return "", "", fmt.Errorf("BLF-CRYPT hash does not start with $2y$, $2b$ or $2a$")
		}
	default:
		return "", "", fmt.Errorf("unsupported scheme {%s}", scheme)
	}
	return scheme, hash, nil
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2y$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2a$")
}

// verifyPassword checks password against a stored "{SCHEME}hash" in constant
// time for the given hash.
func verifyPassword(stored string, password []byte) bool {
	scheme, hash, err := splitScheme(stored)
	if err != nil {
		return false
	}
	switch {
	case scheme == "PLAIN":
		return subtle.ConstantTimeCompare([]byte(hash), password) == 1
	case isBcrypt(hash):
		return bcrypt.CompareHashAndPassword([]byte(hash), password) == nil
	default:
		return shaCryptVerify(password, hash)
	}
}

// dummyHash is checked for unknown users, so that they cost what a real
// user's check costs (DESIGN.md §7): the same work as mkpasswd's default.
const dummyHash = "{SHA512-CRYPT}$6$imapddummysalt0$Rvkcx2Uwr7yAU.8X2xcykFPx3BWjQ64VgWnPpjxcn.fRW6RsD.mpS5WreL5KBnde8XpWTHgxhlV24mt8VilKz0"

// passwdFile serves a passwd-file, re-reading it when it changes.
type passwdFile struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	stamp fileStamp
	users map[string]*passwdEntry
}

type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func newPasswdFile(path string, log *slog.Logger) (*passwdFile, error) {
	p := &passwdFile{path: path, log: log}
	if _, err := p.lookup(""); err != nil {
		return nil, err
	}
	return p, nil
}

// lookup returns name's entry (nil when unknown), reloading the file first if
// its inode, size or mtime changed. A file that has become unreadable is an
// error: better UNAVAILABLE than logins against a stale copy.
func (p *passwdFile) lookup(name string) (*passwdEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fi, err := os.Stat(p.path)
	if err != nil {
		return nil, fmt.Errorf("authd: passwd-file: %w", err)
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	if p.users == nil || st != p.stamp {
		f, err := os.Open(p.path)
		if err != nil {
			return nil, fmt.Errorf("authd: passwd-file: %w", err)
		}
		users, errs := parsePasswd(f)
		f.Close()
		for _, e := range errs {
			p.log.Warn("passwd-file", "file", p.path, "error", e.Error())
		}
		p.users, p.stamp = users, st
		p.log.Info("passwd-file loaded", "file", p.path, "users", len(users))
	}
	return p.users[name], nil
}

// check implements backend.
func (p *passwdFile) check(req attempt) (account, pb.AuthResult, bool) {
	e, err := p.lookup(req.user)
	if err != nil {
		p.log.Error("passwd-file", "error", err.Error())
		return account{}, pb.AuthResult_AUTH_UNAVAILABLE, false
	}
	if e == nil {
		verifyPassword(dummyHash, []byte(req.password))
		return account{}, pb.AuthResult_AUTH_FAILED, false
	}
	if !verifyPassword(e.password, []byte(req.password)) {
		return account{}, pb.AuthResult_AUTH_FAILED, true
	}
	return e.account(), pb.AuthResult_AUTH_OK, true
}
