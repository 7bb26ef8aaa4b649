package authd

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credCache remembers verified credentials for ttl, so that a client opening
// many connections does not pay a PAM round per connection. Keys are an HMAC
// of user and password under a per-process random key, held in memory only:
// the cache never holds a password or an offline-checkable hash of one.
type credCache struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time
	key        [32]byte

	mu sync.Mutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	acct    account
	expires time.Time
}

func newCredCache(ttl time.Duration, now func() time.Time) *credCache {
	c := &credCache{ttl: ttl, maxEntries: 10000, now: now, m: map[[32]byte]cacheEntry{}}
	rand.Read(c.key[:]) // crypto/rand.Read never fails (Go >= 1.24)
	return c
}

func (c *credCache) keyOf(user, password string) [32]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *credCache) get(user, password string) (account, bool) {
	if c == nil {
		return account{}, false
	}
	k := c.keyOf(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return account{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, k)
		return account{}, false
	}
	return e.acct, true
}

func (c *credCache) put(user, password string, a account) {
	if c == nil {
		return
	}
	k := c.keyOf(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.maxEntries {
		for k, e := range c.m {
			if !now.Before(e.expires) || len(c.m) >= c.maxEntries {
				delete(c.m, k)
			}
		}
	}
	c.m[k] = cacheEntry{acct: a, expires: now.Add(c.ttl)}
}
