package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/user"
	"strconv"
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
