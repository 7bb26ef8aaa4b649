package config

import (
	"strings"
	"testing"
)

// limit prelogin per ip|net64|net24 N and limit prelogin total N; unset
// ones derive from limit connections per ip.
func TestPreloginLimits(t *testing.T) {
	c := mustParse(t, "limit connections per ip 10\nlimit prelogin per net64 30\nlimit prelogin total 500\n")
	ip, n64, n24, total := c.PreloginLimits()
	if ip != 10 || n64 != 30 || n24 != 160 || total != 500 {
		t.Errorf("limits %d %d %d %d, want 10 30 160 500", ip, n64, n24, total)
	}
	c = mustParse(t, "limit prelogin per ip 3\nlimit prelogin per net24 99\n")
	if ip, n64, n24, total = c.PreloginLimits(); ip != 3 || n64 != 12 || n24 != 99 || total != DefaultPreloginTotal {
		t.Errorf("limits %d %d %d %d, want 3 12 99 %d", ip, n64, n24, total, DefaultPreloginTotal)
	}
	for _, bad := range []string{
		"limit prelogin per ip 0\n",
		"limit prelogin per host 3\n",
		"limit prelogin total 5\nlimit prelogin total 6\n",
		"limit prelogin 5\n",
	} {
		if _, err := Parse("imapd.conf", []byte(bad)); err == nil {
			t.Errorf("%q accepted", strings.TrimSpace(bad))
		}
	}
}
