//go:build pam

package authd

import (
	"errors"
	"log/slog"
	"net"
	"runtime"

	"github.com/msteinert/pam/v2"

	pb "imapd/proto"
)

// pamBackend authenticates through PAM service (authenticate + acct_mgmt).
type pamBackend struct {
	service string
	log     *slog.Logger
}

func newPAM(service string, log *slog.Logger) (backend, error) {
	return &pamBackend{service: service, log: log}, nil
}

func (p *pamBackend) check(req attempt) (account, pb.AuthResult, bool) {
	type result struct {
		acct account
		res  pb.AuthResult
		real bool
	}
	done := make(chan result, 1)
	go func() {
		// PAM modules may keep per-thread state (and pam_unix may change
		// thread credentials): keep the whole transaction on one thread
		// and let that thread die with the goroutine (no Unlock).
		runtime.LockOSThread()
		a, r, real := p.transaction(req)
		done <- result{a, r, real}
	}()
	r := <-done
	return r.acct, r.res, r.real
}

func (p *pamBackend) transaction(req attempt) (account, pb.AuthResult, bool) {
	password := req.password
	conv := func(s pam.Style, msg string) (string, error) {
		switch s {
		case pam.PromptEchoOff:
			return password, nil
		case pam.PromptEchoOn:
			return req.user, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		default:
			return "", errors.New("unsupported PAM conversation")
		}
	}
	t, err := pam.StartFunc(p.service, req.user, conv)
	if err != nil {
		p.log.Error("pam start", "service", p.service, "error", err.Error())
		return account{}, pb.AuthResult_AUTH_UNAVAILABLE, false
	}
	defer func() {
		if err := t.End(); err != nil {
			p.log.Warn("pam end", "error", err.Error())
		}
	}()
	if req.remote != "" {
		if err := t.SetItem(pam.Rhost, hostOf(req.remote)); err != nil {
			p.log.Warn("pam rhost", "error", err.Error())
		}
	}
	if err := t.SetItem(pam.Tty, "imap"); err != nil {
		p.log.Warn("pam tty", "error", err.Error())
	}
	if err := t.Authenticate(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		switch {
		case errors.Is(err, pam.ErrAuth):
			return account{}, pb.AuthResult_AUTH_FAILED, true
		case errors.Is(err, pam.ErrUserUnknown), errors.Is(err, pam.ErrMaxtries),
			errors.Is(err, pam.ErrCredInsufficient), errors.Is(err, pam.ErrAuthinfoUnavail),
			errors.Is(err, pam.ErrPermDenied):
			return account{}, pb.AuthResult_AUTH_FAILED, false
		default:
			p.log.Error("pam authenticate", "service", p.service, "error", err.Error())
			return account{}, pb.AuthResult_AUTH_UNAVAILABLE, false
		}
	}
	// Only now, with the password verified, may the answer say more than
	// "failed".
	if err := t.AcctMgmt(pam.Silent | pam.DisallowNullAuthtok); err != nil {
		switch {
		case errors.Is(err, pam.ErrAcctExpired), errors.Is(err, pam.ErrNewAuthtokReqd),
			errors.Is(err, pam.ErrAuthtokExpired):
			return account{}, pb.AuthResult_AUTH_EXPIRED, true
		default:
			p.log.Warn("pam acct_mgmt", "user", req.user, "error", err.Error())
			return account{}, pb.AuthResult_AUTH_REFUSED, true
		}
	}
	user, err := t.GetItem(pam.User)
	if err != nil || user == "" {
		user = req.user
	}
	return account{user: user}, pb.AuthResult_AUTH_OK, true
}

// hostOf strips the port from "host:port": PAM_RHOST names a host.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
