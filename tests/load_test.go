package tests

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wire is a small IMAP client for load: one command at a time, literals in
// both directions, every tagged answer returned rather than fatal, so that
// many goroutines can count errors instead of stopping the test.
type wire struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
	tagp string
}

// reply is one command's answer: untagged and continuation lines (literal
// data replaced by {n}), the literals in order, and the tagged line.
type reply struct {
	lines  []string
	lits   [][]byte
	tagged string
	status string // OK, NO, BAD, or "" when the tagged line never came
}

func (r *reply) String() string {
	return strings.Join(append(append([]string{}, r.lines...), r.tagged), " | ")
}

// wireDial connects and reads the greeting.
func wireDial(addr, tagp string) (*wire, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	w := &wire{conn: conn, r: bufio.NewReaderSize(conn, 64<<10), tagp: tagp}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	l, _, err := w.line()
	if err != nil || !strings.HasPrefix(l, "* OK") {
		conn.Close()
		return nil, fmt.Errorf("greeting %q: %v", l, err)
	}
	return w, nil
}

// wireLogin dials and logs in; LOGIN must answer OK.
func wireLogin(addr, tagp, user, pw string) (*wire, error) {
	w, err := wireDial(addr, tagp)
	if err != nil {
		return nil, err
	}
	r, err := w.do("LOGIN "+user+" "+pw, nil)
	if err != nil || r.status != "OK" {
		w.conn.Close()
		if err == nil {
			err = fmt.Errorf("LOGIN %s: %s", user, r)
		}
		return nil, err
	}
	return w, nil
}

// line reads one response line with the literals it carries.
func (w *wire) line() (string, [][]byte, error) {
	var sb strings.Builder
	var lits [][]byte
	for {
		l, err := w.r.ReadString('\n')
		if err != nil {
			return sb.String() + l, lits, err
		}
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		sb.WriteString(l)
		n, ok := literalLen(l)
		if !ok {
			return sb.String(), lits, nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(w.r, buf); err != nil {
			return sb.String(), lits, err
		}
		lits = append(lits, buf)
	}
}

// literalLen parses a trailing {n} (or ~{n}) announcing a literal.
func literalLen(l string) (int, bool) {
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(l[i+1:len(l)-1], "+"))
	return n, err == nil && n >= 0
}

// do sends "TAG cmd" (with lit as a synchronizing literal after cmd when
// not nil) and reads to the tagged answer. Timeouts are generous: they
// only turn a hung server into a counted error.
func (w *wire) do(cmd string, lit []byte) (*reply, error) {
	w.n++
	tag := w.tagp + strconv.Itoa(w.n)
	rep := &reply{}
	w.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if lit == nil {
		if _, err := fmt.Fprintf(w.conn, "%s %s\r\n", tag, cmd); err != nil {
			return rep, err
		}
	} else {
		if _, err := fmt.Fprintf(w.conn, "%s %s {%d}\r\n", tag, cmd, len(lit)); err != nil {
			return rep, err
		}
		for {
			l, lits, err := w.line()
			if err != nil {
				return rep, err
			}
			if strings.HasPrefix(l, "+") {
				break
			}
			rep.lines, rep.lits = append(rep.lines, l), append(rep.lits, lits...)
			if strings.HasPrefix(l, tag+" ") {
				rep.tagged, rep.status = l, strings.Fields(l)[1]
				return rep, nil
			}
		}
		if _, err := w.conn.Write(append(append([]byte{}, lit...), "\r\n"...)); err != nil {
			return rep, err
		}
	}
	for {
		l, lits, err := w.line()
		if err != nil {
			return rep, err
		}
		if strings.HasPrefix(l, tag+" ") {
			rep.tagged = l
			if f := strings.Fields(l); len(f) > 1 {
				rep.status = f[1]
			}
			return rep, nil
		}
		rep.lines, rep.lits = append(rep.lines, l), append(rep.lits, lits...)
	}
}

// appendUID reads [APPENDUID validity uid] from a tagged OK (RFC 4315).
func appendUID(tagged string) (uint32, uint32, bool) {
	i := strings.Index(tagged, "[APPENDUID ")
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(tagged[i+len("[APPENDUID "):])
	if len(f) < 2 {
		return 0, 0, false
	}
	v, err1 := strconv.ParseUint(f[0], 10, 32)
	u, err2 := strconv.ParseUint(strings.TrimSuffix(f[1], "]"), 10, 32)
	return uint32(v), uint32(u), err1 == nil && err2 == nil
}

// testMessage is a CRLF message with a unique subject and size bytes of
// body text, so that a partial or mixed-up message cannot match.
func testMessage(id string, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: load@example.org\r\nTo: user@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: Thu, 26 Nov 2026 01:00:00 +0000\r\n\r\n", id, id)
	h := sha256.Sum256([]byte(id))
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%s line %d %x\r\n", id, i, h[i%len(h):])
	}
	return []byte(b.String())
}

// errLog counts and keeps the first errors of many goroutines.
type errLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errLog) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 30 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func (e *errLog) report(t *testing.T, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Errorf("%s: %d errors; first ones:\n  %s", what, e.n, strings.Join(e.first, "\n  "))
	} else {
		t.Logf("%s: 0 errors", what)
	}
}

// steadyStats counts a workload's tagged answers.
type steadyStats struct {
	ok, appends, fetched atomic.Int64
}

// steady runs the workload loop of one client on its own folder until stop
// closes: APPEND, NOOP, FETCH flags and envelopes, FETCH of the body just
// appended (compared byte for byte), STORE, SEARCH, and every few rounds
// EXPUNGE of all but the newest keep messages. Each message acknowledged
// with APPENDUID and still present is in kept (uid -> sha256) on return.
func steady(w *wire, id, folder string, keep int, stop <-chan struct{}, st *steadyStats, errs *errLog, kept map[uint32][32]byte) error {
	cmd := func(c string, lit []byte) (*reply, error) {
		r, err := w.do(c, lit)
		if err != nil {
			return r, fmt.Errorf("%s: %s: %v (after %q)", id, c, err, r.lines)
		}
		if r.status != "OK" {
			errs.add("%s: C: %s S: %s", id, c, r)
			return r, nil
		}
		st.ok.Add(1)
		return r, nil
	}
	var order []uint32
	for u := range kept {
		order = append(order, u)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for round := 0; ; round++ {
		select {
		case <-stop:
			return nil
		default:
		}
		msgID := fmt.Sprintf("%s-r%d-%d", id, round, time.Now().UnixNano())
		msg := testMessage(msgID, 600+round%7*300)
		r, err := cmd("APPEND "+folder+" (\\Flagged)", msg)
		if err != nil {
			return err
		}
		var uid uint32
		if r.status == "OK" {
			var ok bool
			if _, uid, ok = appendUID(r.tagged); !ok {
				errs.add("%s: APPEND OK without APPENDUID: %s", id, r)
			} else {
				st.appends.Add(1)
				kept[uid] = sha256.Sum256(msg)
				order = append(order, uid)
			}
		}
		if _, err := cmd("NOOP", nil); err != nil {
			return err
		}
		if _, err := cmd("FETCH 1:* (FLAGS ENVELOPE)", nil); err != nil {
			return err
		}
		if uid != 0 {
			u := strconv.FormatUint(uint64(uid), 10)
			r, err := cmd("UID FETCH "+u+" (UID RFC822.SIZE BODY.PEEK[])", nil)
			if err != nil {
				return err
			}
			if r.status == "OK" {
				if len(r.lits) != 1 || sha256.Sum256(r.lits[0]) != kept[uid] {
					errs.add("%s: UID FETCH %s BODY[] does not match the appended message: %q", id, u, r.lines)
				} else {
					st.fetched.Add(1)
				}
			}
			if _, err := cmd("UID STORE "+u+" +FLAGS (\\Seen $Load)", nil); err != nil {
				return err
			}
			r, err = cmd("UID SEARCH SUBJECT \""+msgID+"\"", nil)
			if err != nil {
				return err
			}
			if r.status == "OK" && !containsLine(r.lines, "* SEARCH "+u) {
				errs.add("%s: UID SEARCH SUBJECT %s: want * SEARCH %s, got %q", id, msgID, u, r.lines)
			}
		}
		if _, err := cmd("SEARCH UNSEEN", nil); err != nil {
			return err
		}
		if round%5 == 4 && len(order) > keep {
			var del []string
			for _, u := range order[:len(order)-keep] {
				del = append(del, strconv.FormatUint(uint64(u), 10))
				delete(kept, u)
			}
			order = order[len(order)-keep:]
			if _, err := cmd("UID STORE "+strings.Join(del, ",")+" +FLAGS.SILENT (\\Deleted)", nil); err != nil {
				return err
			}
			if _, err := cmd("EXPUNGE", nil); err != nil {
				return err
			}
		}
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// imapdMemory sums Pss and Rss (kB) of the parent and its children, by
// role title, from /proc/PID/smaps_rollup.
func imapdMemory(t *testing.T, parent int) (pss, rss int, byRole map[string]int) {
	t.Helper()
	byRole = map[string]int{}
	pids := []int{parent}
	for _, k := range children(t, parent) {
		pids = append(pids, k.pid)
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		var p, r int
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 && f[0] == "Pss:" {
				p, _ = strconv.Atoi(f[1])
			}
			if len(f) >= 2 && f[0] == "Rss:" {
				r, _ = strconv.Atoi(f[1])
			}
		}
		pss += p
		rss += r
		title := "?"
		if pr, err := readProc(pid); err == nil {
			title = pr.cmdline
			if strings.HasPrefix(title, "imapd: mailbox") {
				title = "imapd: mailbox *"
			}
		}
		byRole[title] += p
	}
	return pss, rss, byRole
}

// raiseNofile lets the test (and the server it starts, which inherits the
// limit) hold n descriptors.
func raiseNofile(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		lim.Max = n
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("RLIMIT_NOFILE %d: %v", n, err)
	}
}

// loadHold is how long the 1,000 connections are held: 20 s in make test
// (inside its 8 minutes), IMAPD_LOAD_HOLD=60s for issue 8's full minute.
// New mail arrives a third and two thirds of the way through.
var loadHold = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("IMAPD_LOAD_HOLD")); err == nil && d > 0 {
		return d
	}
	return 20 * time.Second
}()

const (
	loadUsers      = 20
	loadIdlePer    = 10
	loadPrelogin   = 800
	loadSteady     = 50
	loadPssCeiling = 320 << 10 // kB, about twice the 162 MB measured: 1,000 connections in ~25 processes
)

// Issue 8, "what it must show" 2: 1,000 concurrent connections (200 IDLE,
// 800 before login) held for loadHold (IMAPD_LOAD_HOLD=60s: the issue's
// minute) while 50 clients run a steady workload:
// no errors, every IDLE session sees its new mail, memory bounded, nobody
// dropped before the login timeout.
func TestLoad1000Connections(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("load test: 100 s")
	}
	requireRoot(t)
	ensureSystemSetup(t)
	raiseNofile(t, 8192)
	var wg sync.WaitGroup
	for i := 0; i < loadUsers; i++ {
		ensureUser(t, fmt.Sprintf("load%d", i), fmt.Sprintf("load%d-pw", i))
	}
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage memory
auth pam service imapd
auth cache 600
preauth workers 2
limit connections per ip 2000
limit login time 120
control socket "%DIR%/control.sock"
`)
	user := func(i int) (string, string) {
		return fmt.Sprintf("load%d", i%loadUsers), fmt.Sprintf("load%d-pw", i%loadUsers)
	}
	setupErrs := &errLog{}

	// 200 sessions: LOGIN, SELECT INBOX, IDLE.
	type idler struct {
		w      *wire
		user   int
		exists atomic.Int64 // highest * N EXISTS seen
		ended  chan error   // the reader's end: nil after the tagged OK to DONE
	}
	idlers := make([]*idler, loadUsers*loadIdlePer)
	sem := make(chan struct{}, 16)
	for i := range idlers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			u, pw := user(i)
			w, err := wireLogin(s.addr, "i", u, pw)
			if err != nil {
				setupErrs.add("idle %d: %v", i, err)
				return
			}
			r, err := w.do("SELECT INBOX", nil)
			if err != nil || r.status != "OK" || !containsLine(r.lines, "* 0 EXISTS") {
				setupErrs.add("idle %d: SELECT INBOX: %v %s", i, err, r)
				w.conn.Close()
				return
			}
			fmt.Fprintf(w.conn, "i99 IDLE\r\n")
			if l, _, err := w.line(); err != nil || !strings.HasPrefix(l, "+") {
				setupErrs.add("idle %d: IDLE: %q %v", i, l, err)
				w.conn.Close()
				return
			}
			idlers[i] = &idler{w: w, user: i % loadUsers, ended: make(chan error, 1)}
		}(i)
	}
	wg.Wait()
	// One more session per user delivers the new mail.
	deliverers := make([]*wire, loadUsers)
	for i := range deliverers {
		u, pw := user(i)
		w, err := wireLogin(s.addr, "d", u, pw)
		if err != nil {
			setupErrs.add("deliverer %d: %v", i, err)
			continue
		}
		deliverers[i] = w
	}
	// 800 connections that only read the greeting.
	pre := make([]*wire, loadPrelogin)
	for i := range pre {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			w, err := wireDial(s.addr, "p")
			if err != nil {
				setupErrs.add("pre-login %d: %v", i, err)
				return
			}
			pre[i] = w
		}(i)
	}
	wg.Wait()
	setupErrs.report(t, "setup (200 IDLE logins, 20 deliverers, 800 greetings)")
	if setupErrs.n > 0 {
		t.FailNow()
	}
	defer func() {
		for _, w := range pre {
			if w != nil {
				w.conn.Close()
			}
		}
	}()
	t.Logf("1,000 connections open: %d IDLE, %d pre-login, plus %d deliverers", len(idlers), len(pre), len(deliverers))

	holdEnd := time.Now().Add(loadHold)
	for _, id := range idlers {
		go func(id *idler) {
			id.w.conn.SetReadDeadline(holdEnd.Add(30 * time.Second))
			for {
				l, _, err := id.w.line()
				if err != nil {
					id.ended <- err
					return
				}
				f := strings.Fields(l)
				if len(f) == 3 && f[0] == "*" && f[2] == "EXISTS" {
					n, _ := strconv.Atoi(f[1])
					id.exists.Store(int64(n))
				}
				if strings.HasPrefix(l, "i99 ") {
					if f[1] != "OK" {
						id.ended <- fmt.Errorf("DONE answered %q", l)
					} else {
						id.ended <- nil
					}
					return
				}
			}
		}(id)
	}

	// 50 steady clients, each on its own folder.
	stop := make(chan struct{})
	stats := &steadyStats{}
	steadyErrs := &errLog{}
	for i := 0; i < loadSteady; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u, pw := user(i)
			id := fmt.Sprintf("steady%d(%s)", i, u)
			w, err := wireLogin(s.addr, "s", u, pw)
			if err != nil {
				steadyErrs.add("%s: %v", id, err)
				return
			}
			defer w.conn.Close()
			folder := fmt.Sprintf("work%d", i)
			for _, c := range []string{"CREATE " + folder, "SELECT " + folder} {
				if r, err := w.do(c, nil); err != nil || r.status != "OK" {
					steadyErrs.add("%s: %s: %v %s", id, c, err, r)
					return
				}
			}
			if err := steady(w, id, folder, 10, stop, stats, steadyErrs, map[uint32][32]byte{}); err != nil {
				steadyErrs.add("%v", err)
			}
		}(i)
	}

	// New mail, twice during the hold: every IDLE session of that user must
	// see * N EXISTS within 5 s of the APPEND's OK.
	deliverErrs := &errLog{}
	deliver := func(round int) {
		for i, w := range deliverers {
			if w == nil {
				continue
			}
			r, err := w.do("APPEND INBOX", testMessage(fmt.Sprintf("new-mail-%d-%d", i, round), 2000))
			if err != nil || r.status != "OK" {
				deliverErrs.add("deliver %d to load%d: %v %s", round, i, err, r)
			}
		}
		start := time.Now()
		for {
			late := 0
			for _, id := range idlers {
				if id.exists.Load() < int64(round) {
					late++
				}
			}
			if late == 0 {
				t.Logf("delivery %d: all %d IDLE sessions saw * %d EXISTS within %v", round, len(idlers), round, time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > 5*time.Second {
				var who []string
				for i, id := range idlers {
					if id.exists.Load() < int64(round) && len(who) < 10 {
						who = append(who, fmt.Sprintf("idle%d(load%d) at %d", i, id.user, id.exists.Load()))
					}
				}
				deliverErrs.add("delivery %d: %d of %d IDLE sessions saw no * %d EXISTS within 5 s: %v", round, late, len(idlers), round, who)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(time.Until(holdEnd.Add(-loadHold * 2 / 3)))
	deliver(1)
	pss, rss, roles := imapdMemory(t, s.cmd.Process.Pid)
	t.Logf("memory at %v into the hold: PSS %d MB, RSS %d MB; PSS by role (kB): %v", loadHold-time.Until(holdEnd).Round(time.Second), pss>>10, rss>>10, roles)
	time.Sleep(time.Until(holdEnd.Add(-loadHold / 3)))
	deliver(2)
	for i, id := range idlers {
		if n := id.exists.Load(); n > 2 {
			deliverErrs.add("idle%d (load%d): * %d EXISTS, but only 2 messages were delivered to INBOX", i, id.user, n)
		}
	}
	time.Sleep(time.Until(holdEnd))
	pss2, rss2, roles2 := imapdMemory(t, s.cmd.Process.Pid)
	t.Logf("memory at the end of the hold: PSS %d MB, RSS %d MB; PSS by role (kB): %v", pss2>>10, rss2>>10, roles2)
	if max(pss, pss2) > loadPssCeiling {
		t.Errorf("imapd processes use %d MB PSS, above the %d MB ceiling", max(pss, pss2)>>10, loadPssCeiling>>10)
	}
	// Bounded, not just small: the last two thirds of the hold, of APPEND
	// and EXPUNGE, must not make the processes grow by half (a leak of the
	// messages appended and expunged would).
	if pss2 > pss*3/2 {
		t.Errorf("imapd PSS grew from %d MB to %d MB in the last %v of the hold", pss>>10, pss2>>10, loadHold*2/3)
	}
	close(stop)
	wg.Wait()
	t.Logf("steady workload: %d clients, %d tagged OK answers, %d APPENDs acknowledged, %d bodies fetched back intact",
		loadSteady, stats.ok.Load(), stats.appends.Load(), stats.fetched.Load())
	if stats.ok.Load() == 0 {
		t.Errorf("the steady workload got no OK at all")
	}
	steadyErrs.report(t, "steady workload")
	deliverErrs.report(t, "new mail to IDLE sessions")

	// The IDLE sessions end cleanly; the pre-login ones are all still there.
	idleErrs := &errLog{}
	for i, id := range idlers {
		id.w.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(id.w.conn, "DONE\r\n"); err != nil {
			idleErrs.add("idle %d: DONE: %v", i, err)
		}
	}
	for i, id := range idlers {
		if err := <-id.ended; err != nil {
			idleErrs.add("idle %d (load%d): %v", i, id.user, err)
		}
		id.w.conn.Close()
	}
	idleErrs.report(t, "IDLE sessions ending with DONE")
	preErrs := &errLog{}
	for i, w := range pre {
		wg.Add(1)
		go func(i int, w *wire) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := w.do("NOOP", nil)
			if err != nil || r.status != "OK" {
				preErrs.add("pre-login %d: NOOP after %v: %v %s", i, loadHold, err, r)
			}
		}(i, w)
	}
	wg.Wait()
	preErrs.report(t, fmt.Sprintf("pre-login connections alive after %v (login time 120 s)", loadHold))
	for _, w := range deliverers {
		if w != nil {
			w.conn.Close()
		}
	}
}
