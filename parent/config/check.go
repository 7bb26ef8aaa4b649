package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"time"
)

// Check verifies what Parse cannot see: that the files exist and the
// certificates parse, that the preauth user, chroot and control group exist.
// It is what imapd -n runs, as root, after Parse and ApplyFlags. The parent
// still loads the certificates itself.
func (c *Config) Check() error {
	var errs []error
	for _, t := range c.Certs {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			stmt := "tls certificate %q key %q: %v"
			if t.Line == 0 {
				stmt = "--cert %q --key %q: %v"
			}
			errs = append(errs, &Error{File: c.File, Line: t.Line, Msg: fmt.Sprintf(stmt, t.CertFile, t.KeyFile, err)})
		}
	}
	if c.Auth == AuthPasswdFile {
		if fi, err := os.Stat(c.PasswdFile); err != nil {
			errs = append(errs, fmt.Errorf("auth passwd-file: %w", err))
		} else if !fi.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("auth passwd-file %q: not a regular file", c.PasswdFile))
		}
	}
	if c.Storage == StorageMaildir && c.MaildirPath != "" {
		if fi, err := os.Stat(c.MaildirPath); err != nil {
			errs = append(errs, fmt.Errorf("storage maildir: %w", err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("storage maildir %q: not a directory", c.MaildirPath))
		}
	}
	if os.Geteuid() != 0 {
		// Unprivileged (dev) runs drop no privileges: no user or chroot to check.
		return joinErrs(c.File, errs)
	}
	if fi, err := os.Stat(c.PreauthChroot); err != nil {
		errs = append(errs, fmt.Errorf("preauth chroot: %w", err))
	} else if !fi.IsDir() {
		errs = append(errs, fmt.Errorf("preauth chroot %q: not a directory", c.PreauthChroot))
	}
	if u, err := user.Lookup(c.PreauthUser); err != nil {
		errs = append(errs, fmt.Errorf("preauth user: %w", err))
	} else if u.Uid == "0" {
		errs = append(errs, fmt.Errorf("preauth user %q has uid 0", c.PreauthUser))
	}
	errs = append(errs, c.checkAuthdUser()...)
	if _, err := c.ControlGID(); err != nil {
		errs = append(errs, err)
	}
	return joinErrs(c.File, errs)
}

// joinErrs gives every error its own line, each naming the file and, where
// a statement is at fault, its line.
func joinErrs(file string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	l := make(ErrorList, len(errs))
	for i, err := range errs {
		if e, ok := err.(*Error); ok {
			l[i] = e
		} else {
			l[i] = &Error{File: file, Msg: err.Error()}
		}
	}
	return l
}

// ControlGID resolves `control socket ... group NAME` to a gid, -1 when no
// group is set (the socket is for root only).
func (c *Config) ControlGID() (int, error) {
	if c.ControlGroup == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(c.ControlGroup)
	if err != nil {
		return -1, fmt.Errorf("control socket group: %w", err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("control socket group %q: bad gid %q", c.ControlGroup, g.Gid)
	}
	return gid, nil
}

// certWarnDays is how far ahead CertWarnings looks.
const certWarnDays = 30

// CertWarnings names, as FILE:LINE, each `tls certificate` whose leaf has
// expired or expires within 30 days of now: imapd -n prints them and the
// parent logs them at start, neither refuses (a server with an expired
// certificate still serves STARTTLS-less clients and its admin's fix).
func (c *Config) CertWarnings(now time.Time) []string {
	var out []string
	for _, t := range c.Certs {
		where := fmt.Sprintf("%s:%d", c.File, t.Line)
		if t.Line == 0 {
			where = "--cert"
		}
		data, err := os.ReadFile(t.CertFile)
		if err != nil {
			continue // Check reports it
		}
		var der []byte
		for rest := data; der == nil; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type == "CERTIFICATE" {
				der = b.Bytes
			}
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		date := leaf.NotAfter.UTC().Format("2006-01-02 15:04 MST")
		switch left := leaf.NotAfter.Sub(now); {
		case left <= 0:
			out = append(out, fmt.Sprintf("%s: tls certificate %q expired on %s", where, t.CertFile, date))
		case left < certWarnDays*24*time.Hour:
			out = append(out, fmt.Sprintf("%s: tls certificate %q expires on %s, in %d days", where, t.CertFile, date, int(left.Hours()/24)))
		}
	}
	return out
}
