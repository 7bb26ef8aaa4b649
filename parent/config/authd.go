package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// AuthdUser is the account authd runs as when the server runs as root, ""
// for root itself. A passwd-file needs no privilege: authd runs as `auth
// passwd-file FILE user NAME` or, by default, the preauth user. PAM keeps
// root unless `auth pam ... user NAME` names one (pam_unix reads
// /etc/shadow: a user in group shadow). docs/security.md, "authd".
func (c *Config) AuthdUser() string {
	if c.AuthUser != "" {
		return c.AuthUser
	}
	if c.Auth == AuthPasswdFile {
		return c.PreauthUser
	}
	return ""
}

// checkAuthdUser checks, for a server started by root, that authd's user
// exists, is not root, and can read the passwd-file: an existing setup
// whose file only root reads stops at start with one line saying what to
// change, never a restarting authd.
func (c *Config) checkAuthdUser() []error {
	name := c.AuthdUser()
	if name == "" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return []error{fmt.Errorf("auth user: %w", err)}
	}
	if u.Uid == "0" {
		return []error{fmt.Errorf("auth user %q has uid 0", name)}
	}
	if c.Auth != AuthPasswdFile {
		return nil
	}
	group := u.Gid
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		group = g.Name
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	var gids []uint32
	ids, _ := u.GroupIds()
	for _, s := range append(ids, u.Gid) {
		if g, err := strconv.ParseUint(s, 10, 32); err == nil {
			gids = append(gids, uint32(g))
		}
	}
	path, err := filepath.Abs(c.PasswdFile)
	if err != nil {
		return []error{err}
	}
	// Every directory above must be searchable, the file readable.
	for p, bits := path, uint32(4); ; p, bits = filepath.Dir(p), 1 {
		fi, err := os.Stat(p)
		if err != nil {
			return nil // reported by Check
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && !permits(st, uint32(uid), gids, bits) {
			what, chmod := "read it", "g+r"
			if bits == 1 {
				what, chmod = "search its directory "+p, "g+x"
			}
			return []error{fmt.Errorf("auth passwd-file %q: authd runs as %s, who cannot %s (mode %04o, owner %d:%d); "+
				"let %s in (e.g. chgrp %s %s && chmod %s %s) or name another user: auth passwd-file FILE user NAME",
				c.PasswdFile, name, what, st.Mode&0o7777, st.Uid, st.Gid, name, group, p, chmod, p)}
		}
		if p == "/" {
			return nil
		}
	}
}

// permits says whether uid with groups gids has the permission bits (4
// read, 1 search) on st, as the kernel checks them without ACLs.
func permits(st *syscall.Stat_t, uid uint32, gids []uint32, bits uint32) bool {
	m := st.Mode
	switch {
	case st.Uid == uid:
		return m>>6&bits == bits
	case slices.Contains(gids, st.Gid):
		return m>>3&bits == bits
	}
	return m&bits == bits
}
