package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Issue 8, "what it must show" 5: a failed LOGIN for an existing account
// and for one that does not exist cannot be told apart by the time the
// answer takes (nor by its text).
//
// authd delays an attempt by the penalty of its source address and of its
// user name (authd/penalty.go: 250 ms doubling per failure, reset by a
// success). So that penalties do not confound the comparison, every
// measured attempt starts with both at zero: each comes from an address of
// its own (127.0.0.10 and up), each nonexistent name is used once, and
// alice's user penalty is reset after each failure by a correct login
// (which is not measured). What remains is the check itself plus authd's
// failure floor, the thing under test.
//
// The PAM service used here is pam_unix with nodelay: the stock 2 s delay
// pam_unix adds to every failure would hide the difference by itself (and
// cost 80 s here); the test is about imapd's own failure floor.
func TestFailedLoginTiming(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	ensureUser(t, "alice", "alice-pw")
	pam := "auth required pam_unix.so nodelay\naccount required pam_unix.so\n"
	if err := os.WriteFile("/etc/pam.d/imapd-timing", []byte(pam), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage memory
auth pam service imapd-timing
preauth workers 2
`)
	const n = 20
	var existing, missing []time.Duration
	var answers []string
	next := 10
	addr := func() string {
		a := fmt.Sprintf("127.0.0.%d", next)
		next++
		return a
	}
	for i := 0; i < n; i++ {
		alice := func() {
			from := addr()
			d, answer := timedLogin(t, s.addr, from, "alice", "wrong-pw")
			existing = append(existing, d)
			answers = append(answers, "alice: "+answer)
			// Reset alice's user penalty (and this address's) before the next round.
			if _, answer := timedLogin(t, s.addr, from, "alice", "alice-pw"); !strings.HasPrefix(answer, "t1 OK") {
				t.Fatalf("correct login from %s: %q", from, answer)
			}
		}
		nobody := func() {
			d, answer := timedLogin(t, s.addr, addr(), fmt.Sprintf("nosuchuser%02d", i), "wrong-pw")
			missing = append(missing, d)
			answers = append(answers, "nosuchuser: "+answer)
		}
		// Alternate the order, so that neither kind always follows the
		// correct login's check.
		if i%2 == 0 {
			alice()
			nobody()
		} else {
			nobody()
			alice()
		}
	}
	for _, a := range answers {
		_, text, _ := strings.Cut(a, ": ")
		if !strings.HasPrefix(text, "t1 NO [AUTHENTICATIONFAILED]") || text != strings.SplitN(answers[0], ": ", 2)[1] {
			t.Errorf("failed LOGIN answers differ: %q vs %q", answers[0], a)
		}
	}
	me, mm := median(existing), median(missing)
	t.Logf("median failed LOGIN: existing account %v, nonexistent %v (n=%d each)", me.Round(time.Microsecond), mm.Round(time.Microsecond), n)
	t.Logf("existing: %v", existing)
	t.Logf("nonexistent: %v", missing)
	diff := me - mm
	if diff < 0 {
		diff = -diff
	}
	if float64(diff) > 0.10*float64(max(me, mm)) {
		t.Errorf("medians differ by %v (more than 10%%): existing %v, nonexistent %v: accounts can be enumerated", diff, me, mm)
	}
}

// timedLogin connects from the loopback address from, waits for the
// greeting, and times LOGIN from the moment the line is sent to its tagged
// answer.
func timedLogin(t *testing.T, addr, from, user, pw string) (time.Duration, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting from %s: %q %v", from, l, err)
	}
	line := fmt.Sprintf("t1 LOGIN %s %s\r\n", user, pw)
	start := time.Now()
	if _, err := conn.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("LOGIN %s from %s: %v", user, from, err)
		}
		if strings.HasPrefix(l, "t1 ") {
			return time.Since(start), strings.TrimSpace(l)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
