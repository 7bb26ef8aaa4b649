package authd

import (
	"net/netip"
	"strings"

	pb "imapd/proto"
)

// The master login of proxies (docs/cluster.md, "Proxy to backend"): SASL
// PLAIN with authorization identity USER, authentication identity the
// configured master user and as password a one-time ticket made under the
// shared secret for USER and the client's address (authd/ticket). A backend
// accepts it only from a trusted proxy address; the client's real address
// comes from the proxy's ID fields (x-originating-ip) and is the one
// penalised and logged.

// extraField returns key's value among a passwd-file's extra fields
// ("key=value key2=value2").
func extraField(extra, key string) string {
	for _, f := range strings.Fields(extra) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func (e *passwdEntry) account() account {
	return account{user: e.user, uid: e.uid, gid: e.gid, hasIDs: e.hasIDs, home: e.home, host: e.host}
}

// accountOf implements accountLooker: the account of a master-secret login,
// whose password authd never sees.
func (p *passwdFile) accountOf(user string) (account, pb.AuthResult) {
	e, err := p.lookup(user)
	switch {
	case err != nil:
		p.log.Error("passwd-file", "error", err.Error())
		return account{}, pb.AuthResult_AUTH_UNAVAILABLE
	case e == nil:
		return account{}, pb.AuthResult_AUTH_FAILED
	}
	return e.account(), pb.AuthResult_AUTH_OK
}

// accountLooker is a backend that can name an account without its
// password; without it (PAM), the system's account database decides.
type accountLooker interface {
	accountOf(user string) (account, pb.AuthResult)
}

// isMasterLogin: a PLAIN login naming the master user as authentication
// identity, on a server configured with a master secret.
func (s *server) isMasterLogin(req *pb.AuthRequest) bool {
	return len(s.setup.ProxySecret) > 0 && req.Mechanism == "PLAIN" && req.AuthzId != "" &&
		string(req.User) == s.setup.ProxyMasterUser
}

// idField returns key's value among ID (RFC 2971) key, value pairs.
func idField(params []string, key string) string {
	for i := 0; i+1 < len(params); i += 2 {
		if strings.EqualFold(params[i], key) {
			return params[i+1]
		}
	}
	return ""
}

// trusted reports whether remote ("host:port") is a configured proxy.
func (s *server) trusted(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	for _, t := range s.setup.ProxyTrusted {
		if p, err := netip.ParsePrefix(t); err == nil && p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// masterLogin grants a proxy's login for req.AuthzId. The penalty and the
// log name the client's forwarded address; a refused attempt also
// penalises the connecting one.
func (s *server) masterLogin(worker uint32, req *pb.AuthRequest, reason *string) (pb.AuthResult, string, string) {
	user := req.AuthzId
	client := req.RemoteAddr
	ip := idField(req.IdParams, "x-originating-ip")
	if a, err := netip.ParseAddr(ip); err == nil {
		client = netip.AddrPortFrom(a, 0).String()
	}
	s.opt.sleep(s.pen.delay(client, user))
	fail := func(why string) (pb.AuthResult, string, string) {
		*reason = why
		s.pen.fail(client, user)
		if client != req.RemoteAddr {
			s.pen.fail(req.RemoteAddr, user)
		}
		s.log.Warn("proxy login refused", "user", logName(user), "client", client, "proxy", req.RemoteAddr, "reason", why)
		return pb.AuthResult_AUTH_FAILED, "", ""
	}
	if !s.trusted(req.RemoteAddr) {
		return fail("forwarded login from an address that is not a trusted proxy")
	}
	if err := s.tickets.Check(string(req.Password), user, ip, s.opt.now()); err != nil {
		return fail("proxy ticket: " + err.Error())
	}
	if !validUser(user) {
		return fail("invalid user name")
	}
	acct := account{user: user}
	if l, ok := s.backend.(accountLooker); ok {
		var res pb.AuthResult
		if acct, res = l.accountOf(user); res != pb.AuthResult_AUTH_OK {
			if res == pb.AuthResult_AUTH_FAILED {
				return fail("unknown user")
			}
			*reason = "backend error"
			return res, "", ""
		}
	}
	acct, res, why := s.resolve(acct)
	if res != pb.AuthResult_AUTH_OK {
		*reason = why
		return res, "", ""
	}
	s.pen.succeed(client, user)
	s.log.Info("proxy login", "user", user, "client", client, "proxy", req.RemoteAddr)
	token := newToken()
	if !s.grant(&pb.Grant{Token: token, PreauthId: worker, ConnId: req.ConnId, User: acct.user,
		Uid: acct.uid, Gid: acct.gid, Groups: acct.groups, Home: acct.home,
		ExpiryUnixNano: s.opt.now().Add(s.opt.grantTTL).UnixNano()}) {
		return pb.AuthResult_AUTH_UNAVAILABLE, "", ""
	}
	return pb.AuthResult_AUTH_OK, token, acct.user
}
