package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// splitName splits "base:2,FS" into base and info ("2,FS"); info is "" if
// there is no ':'.
func splitName(name string) (base, info string) {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// infoFlags returns the flag letters of an info string "2,<flags>[,rest]".
func infoFlags(info string) string {
	if !strings.HasPrefix(info, "2,") {
		return ""
	}
	f := info[2:]
	if i := strings.IndexByte(f, ','); i >= 0 {
		f = f[:i]
	}
	return f
}

// withFlags returns the file name for base with the given flag letters,
// keeping any non-standard ",fields" after the letters (Dovecot does too).
func withFlags(base, oldInfo, letters string) string {
	rest := ""
	if strings.HasPrefix(oldInfo, "2,") {
		if i := strings.IndexByte(oldInfo[2:], ','); i >= 0 {
			rest = oldInfo[2+i:]
		}
	}
	return base + ":2," + letters + rest
}

// sortLetters returns the letters sorted and deduplicated, as the Maildir
// spec requires (ASCII order: upper-case system flags before keywords).
func sortLetters(s string) string {
	sorted := true
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return s // the common case; no allocation
	}
	b := []byte(s)
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	out := b[:0]
	for i, c := range b {
		if i > 0 && c == b[i-1] {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// baseField returns the value of ",<key>=<n>" in a base name, or -1.
func baseField(base string, key byte) int64 {
	for {
		i := strings.IndexByte(base, ',')
		if i < 0 {
			return -1
		}
		base = base[i+1:]
		if len(base) > 2 && base[0] == key && base[1] == '=' {
			v := base[2:]
			if j := strings.IndexByte(v, ','); j >= 0 {
				v = v[:j]
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return -1
			}
			return n
		}
	}
}

var uniqCounter atomic.Uint64

// newBase makes a unique Maildir base name with ,S= and ,W= fields:
// "<secs>.M<usecs>P<pid>Q<n>R<rand>.<host>,S=<size>,W=<vsize>".
func newBase(now time.Time, size, vsize int64) string {
	host := maildirHost()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%d.M%dP%dQ%dR%s.%s,S=%d,W=%d", now.Unix(), now.Nanosecond()/1000,
		pid, uniqCounter.Add(1), hex.EncodeToString(r[:]), host, size, vsize)
}
