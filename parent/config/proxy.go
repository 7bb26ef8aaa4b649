package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Proxy is the multi-host configuration (docs/cluster.md): on a proxy, the
// backends of the ring; on a backend, the proxies it trusts. Both share the
// master user and secret.
type Proxy struct {
	Backends      []Backend
	MasterUser    string         // the authentication identity of the proxy's logins
	SecretFile    string         // the master secret, read by the parent as root
	Trusted       []netip.Prefix // on a backend: the proxies' addresses
	CheckInterval time.Duration  // health probe period
	TLSCA         string         // on a proxy: STARTTLS to the backends, verified against this CA file
}

// Backend is one backend of a proxy's ring.
type Backend struct {
	Name    string
	Address string // host:port
	Weight  int
}

const (
	DefaultProxyMasterUser    = "proxy"
	DefaultProxyCheckInterval = 2 * time.Second
	maxProxyWeight            = 1000
)

// Master is the master user name in force.
func (px Proxy) Master() string {
	if px.MasterUser == "" {
		return DefaultProxyMasterUser
	}
	return px.MasterUser
}

// Interval is the health probe period in force.
func (px Proxy) Interval() time.Duration {
	if px.CheckInterval == 0 {
		return DefaultProxyCheckInterval
	}
	return px.CheckInterval
}

// IsTrusted reports whether a is a configured proxy (proxy trusted).
func (px Proxy) IsTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, t := range px.Trusted {
		if t.Contains(a) {
			return true
		}
	}
	return false
}

// IsProxy reports whether this server relays logins to backends.
func (c *Config) IsProxy() bool { return len(c.Proxy.Backends) > 0 }

// proxy backend NAME address HOST:PORT [weight N] | proxy master user NAME
// | proxy secret FILE | proxy trusted ADDRESS... | proxy check interval
// SECONDS (docs/man/imapd.conf.5, PROXY).
func (p *parser) proxy() {
	what, ok := p.choice("proxy setting", "backend", "master", "secret", "trusted", "check", "tls")
	if !ok {
		return
	}
	px := &p.cfg.Proxy
	switch what {
	case "backend":
		name, ok := p.str("backend name")
		if !ok || !p.expect("address") {
			return
		}
		if !validBackendName(name) {
			p.fail("backend name %q: letters, digits, '.', '-' and '_' only", name)
			return
		}
		if !p.once("proxy backend " + name) {
			return
		}
		addr, ok := p.str("backend address")
		if !ok {
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			p.fail("backend address %q: expected HOST:PORT", addr)
			return
		}
		b := Backend{Name: name, Address: addr, Weight: 1}
		if p.accept("weight") {
			n, ok := p.num("weight", 1, maxProxyWeight)
			if !ok {
				return
			}
			b.Weight = int(n)
		}
		px.Backends = append(px.Backends, b)
	case "master":
		if !p.expect("user") || !p.once("proxy master user") {
			return
		}
		px.MasterUser, _ = p.str("master user name")
	case "secret":
		if !p.once("proxy secret") {
			return
		}
		px.SecretFile, _ = p.str("secret file")
	case "trusted":
		if p.i >= len(p.toks) {
			p.fail("expected an address or network")
		}
		for p.i < len(p.toks) && !p.bad {
			s, _ := p.str("address")
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil {
					p.fail("trusted proxy %q: not an address or network", s)
					return
				}
				pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			px.Trusted = append(px.Trusted, pfx.Masked())
		}
	case "tls":
		if !p.expect("ca") || !p.once("proxy tls ca") {
			return
		}
		px.TLSCA, _ = p.str("CA file")
	case "check":
		if !p.expect("interval") || !p.once("proxy check interval") {
			return
		}
		n, ok := p.num("seconds", 1, 3600)
		if ok {
			px.CheckInterval = time.Duration(n) * time.Second
		}
	}
}

func validBackendName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_", r)) {
			return false
		}
	}
	return s != ""
}

func (c *Config) formatProxy(w func(string, ...any)) {
	px := c.Proxy
	if len(px.Backends) == 0 && len(px.Trusted) == 0 && px.SecretFile == "" {
		return
	}
	for _, b := range px.Backends {
		w("proxy backend %s address %s weight %d", b.Name, quote(b.Address), b.Weight)
	}
	w("proxy master user %s", quote(px.Master()))
	if px.SecretFile != "" {
		w("proxy secret %s", quote(px.SecretFile))
	}
	if px.TLSCA != "" {
		w("proxy tls ca %s", quote(px.TLSCA))
	}
	if len(px.Trusted) > 0 {
		var s []string
		for _, t := range px.Trusted {
			s = append(s, t.String())
		}
		w("proxy trusted %s", strings.Join(s, " "))
	}
	w("proxy check interval %d", px.Interval()/time.Second)
}

func (c *Config) validateProxy() []string {
	var errs []string
	px := c.Proxy
	if (len(px.Backends) > 0 || len(px.Trusted) > 0) && px.SecretFile == "" {
		errs = append(errs, "proxy backend and proxy trusted need a proxy secret")
	}
	if px.TLSCA != "" && len(px.Backends) == 0 {
		errs = append(errs, "proxy tls ca is for a proxy (proxy backend)")
	}
	if len(px.Backends) > 0 && len(px.Trusted) > 0 {
		errs = append(errs, "a proxy (proxy backend) cannot also be a backend (proxy trusted)")
	}
	seen := map[string]bool{}
	for _, b := range px.Backends {
		if seen[b.Address] {
			errs = append(errs, fmt.Sprintf("proxy backend address %s given twice", b.Address))
		}
		seen[b.Address] = true
	}
	return errs
}
