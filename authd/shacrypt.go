package authd

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"hash"
	"strconv"
	"strings"
)

// SHA-crypt ($5$ and $6$) as specified by Ulrich Drepper, "Unix crypt using
// SHA-256 and SHA-512" (2008), the scheme of glibc crypt(3), mkpasswd and
// Dovecot's SHA256-CRYPT / SHA512-CRYPT.

const (
	shaCryptRoundsDefault = 5000
	shaCryptRoundsMin     = 1000
	shaCryptRoundsMax     = 999999999
	shaCryptSaltMax       = 16
)

var errBadHash = errors.New("authd: malformed crypt hash")

const cryptB64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Byte orders of the final encoding (spec steps 22e and 22f): each triple is
// encoded as 4 characters, the last short group as 2 or 3.
var (
	sha256Order = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512Order = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
		{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
		{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

// shaCrypt computes the crypt string for password under setting, which is
// "$5$salt", "$6$rounds=N$salt" or a whole hash (anything after the salt is
// ignored).
func shaCrypt(password []byte, setting string) (string, error) {
	var newHash func() hash.Hash
	var prefix string
	switch {
	case strings.HasPrefix(setting, "$5$"):
		newHash, prefix = sha256.New, "$5$"
	case strings.HasPrefix(setting, "$6$"):
		newHash, prefix = sha512.New, "$6$"
	default:
		return "", errBadHash
	}
	rest := setting[3:]
	rounds, custom := shaCryptRoundsDefault, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		if !found {
			return "", errBadHash
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return "", errBadHash
		}
		// The spec clamps out-of-range counts rather than refusing them.
		rounds = int(min(max(n, shaCryptRoundsMin), shaCryptRoundsMax))
		custom, rest = true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > shaCryptSaltMax {
		salt = salt[:shaCryptSaltMax]
	}
	sum := shaCryptSum(newHash, password, []byte(salt), rounds)

	var b strings.Builder
	b.WriteString(prefix)
	if custom {
		b.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	b.WriteString(salt)
	b.WriteByte('$')
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			b.WriteByte(cryptB64[w&0x3f])
			w >>= 6
		}
	}
	if len(sum) == 32 {
		for _, o := range sha256Order {
			enc(sum[o[0]], sum[o[1]], sum[o[2]], 4)
		}
		enc(0, sum[31], sum[30], 3)
	} else {
		for _, o := range sha512Order {
			enc(sum[o[0]], sum[o[1]], sum[o[2]], 4)
		}
		enc(0, 0, sum[63], 2)
	}
	return b.String(), nil
}

// shaCryptSum is steps 1-21 of the spec.
func shaCryptSum(newHash func() hash.Hash, pw, salt []byte, rounds int) []byte {
	// Digest B: password, salt, password.
	hb := newHash()
	hb.Write(pw)
	hb.Write(salt)
	hb.Write(pw)
	b := hb.Sum(nil)
	size := len(b)

	// Digest A.
	ha := newHash()
	ha.Write(pw)
	ha.Write(salt)
	n := len(pw)
	for ; n > size; n -= size {
		ha.Write(b)
	}
	ha.Write(b[:n])
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(pw)
		}
	}
	a := ha.Sum(nil)

	// Byte sequence P: digest DP (the password once per password byte),
	// stretched to the password's length.
	hdp := newHash()
	for range len(pw) {
		hdp.Write(pw)
	}
	p := stretch(hdp.Sum(nil), len(pw))

	// Byte sequence S: digest DS (the salt 16+A[0] times), stretched to
	// the salt's length.
	hds := newHash()
	for range 16 + int(a[0]) {
		hds.Write(salt)
	}
	s := stretch(hds.Sum(nil), len(salt))

	c := a
	for i := range rounds {
		h := newHash()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

func stretch(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

// shaCryptVerify reports whether password matches hash, comparing in
// constant time.
func shaCryptVerify(password []byte, hash string) bool {
	got, err := shaCrypt(password, hash)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
