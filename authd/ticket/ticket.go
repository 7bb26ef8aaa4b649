// Package ticket makes and checks the one-time credentials a proxy's
// logins to its backends carry instead of the master secret
// (docs/cluster.md, "Proxy to backend"): HMAC-SHA256 under the secret over
// the user, the client's address, an expiry and a nonce. The secret never
// crosses the network nor reaches the preauth worker that performs the
// backend login; a ticket read off the wire serves once, for that user and
// that client address, for a minute.
package ticket

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"time"
)

const (
	prefix = "imapd1."
	// Lifetime bounds how long a ticket is good for: the proxy's dial and
	// the worker's STARTTLS and login.
	Lifetime = time.Minute
)

var b64 = base64.RawURLEncoding

func mac(secret []byte, user, client string, payload []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("imapd proxy ticket\x00" + user + "\x00" + client + "\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// Make returns a ticket for user logging in from client (an IP address).
func Make(secret []byte, user, client string, now time.Time) string {
	payload := make([]byte, 8+16)
	binary.BigEndian.PutUint64(payload, uint64(now.Add(Lifetime).Unix()))
	rand.Read(payload[8:]) // crypto/rand.Read never fails (Go >= 1.24)
	return prefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(mac(secret, user, client, payload))
}

// Checker verifies tickets and remembers those used until they expire.
type Checker struct {
	secret []byte
	mu     sync.Mutex
	used   map[string]time.Time
}

func NewChecker(secret []byte) *Checker {
	return &Checker{secret: secret, used: map[string]time.Time{}}
}

var (
	ErrMalformed = errors.New("not a proxy ticket")
	ErrForged    = errors.New("ticket does not match its user, client address or secret")
	ErrExpired   = errors.New("ticket expired")
	ErrReplayed  = errors.New("ticket already used")
)

// Check verifies t for user and client at now, and burns it.
func (c *Checker) Check(t, user, client string, now time.Time) error {
	rest, ok := strings.CutPrefix(t, prefix)
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return ErrMalformed
	}
	payload, err1 := b64.DecodeString(p)
	sum, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil || len(payload) != 24 {
		return ErrMalformed
	}
	if !hmac.Equal(sum, mac(c.secret, user, client, payload)) {
		return ErrForged
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !now.Before(exp) || exp.Sub(now) > Lifetime+time.Second {
		return ErrExpired
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.used {
		if !now.Before(e) {
			delete(c.used, k)
		}
	}
	if _, dup := c.used[p]; dup {
		return ErrReplayed
	}
	c.used[p] = exp
	return nil
}
