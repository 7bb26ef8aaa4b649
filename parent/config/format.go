package config

import (
	"fmt"
	"strings"
	"time"
)

// String prints the effective configuration in the grammar of the file,
// every setting included (imapd -n); Parse reads it back to an equal Config.
func (c *Config) String() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if c.File != "" {
		w("# effective configuration of %s", strings.ReplaceAll(c.File, "\n", " "))
	}
	for _, l := range c.Listeners {
		host := l.Host
		w("listen on %s port %d %s", host, l.Port, l.Kind)
	}
	for _, t := range c.Certs {
		w("tls certificate %s key %s", quote(t.CertFile), quote(t.KeyFile))
	}
	shared := ""
	if c.Storage == StorageMaildir && c.MaildirShared {
		shared = " shared"
	}
	switch {
	case c.Storage == StorageMaildir && c.MaildirPath != "":
		w("storage maildir %s%s", quote(c.MaildirPath), shared)
	default:
		w("storage %s%s", c.Storage, shared)
	}
	as := ""
	if c.AuthUser != "" {
		as = " user " + quote(c.AuthUser)
	}
	switch c.Auth {
	case AuthPasswdFile:
		w("auth passwd-file %s%s", quote(c.PasswdFile), as)
	default:
		w("auth pam service %s%s", quote(c.PAMService), as)
	}
	w("auth cache %d", c.AuthCache/time.Second)
	w("preauth workers %d", c.PreauthWorkers)
	w("preauth user %s", quote(c.PreauthUser))
	w("preauth chroot %s", quote(c.PreauthChroot))
	w("plaintext auth %s", c.PlaintextAuth)
	w("first valid uid %d", c.FirstValidUID)
	w("limit connections per ip %d", c.ConnsPerIP)
	w("limit login time %d", c.LoginTimeout/time.Second)
	w("limit line %s", formatSize(int64(c.LineLimit)))
	w("append limit %s", formatSize(c.AppendLimit))
	c.formatQuota(w)
	if c.MetadataAdmin != "" {
		w("metadata admin %s", quote(c.MetadataAdmin))
	}
	if c.MetadataComment != "" {
		w("metadata comment %s", quote(c.MetadataComment))
	}
	w("autologout %d", c.Autologout/time.Minute)
	w("hibernate after %d", c.HibernateAfter/time.Second)
	if c.ControlGroup != "" {
		w("control socket %s group %s", quote(c.ControlSocket), quote(c.ControlGroup))
	} else {
		w("control socket %s", quote(c.ControlSocket))
	}
	w("log %s level %s", c.LogTarget, levelName(c.LogLevel))
	w("sandbox %s", c.Sandbox)
	c.formatProxy(w)
	return b.String()
}

func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
		}
	}
	return fmt.Sprint(n)
}
