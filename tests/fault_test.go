package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory every
// user may write to, unmounted when the test ends (after the server, whose
// cleanup was registered later and so runs first).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "imapd-fault-")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=1777", "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// Mailbox workers exit on their parent's death, a moment later.
		var out []byte
		var err error
		for i := 0; i < 50; i++ {
			if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Logf("umount %s: %v %s; detaching it", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
		os.Remove(dir)
	})
	return dir
}

// tmpFiles lists the files in every tmp/ directory under base: a Maildir
// delivery lives in tmp/ only until its rename to new/ or cur/, so one
// left there after a failed APPEND is a partial message.
func tmpFiles(base string) []string {
	var out []string
	filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Base(filepath.Dir(p)) == "tmp" {
			out = append(out, fmt.Sprintf("%s (%d bytes)", strings.TrimPrefix(p, base), fi.Size()))
		}
		return nil
	})
	return out
}

// diskUsage summarises a file system: blocks in use by statfs, and what
// the files under base add up to, by directory (the difference is space
// held by deleted files still open).
func diskUsage(base string) string {
	var st syscall.Statfs_t
	syscall.Statfs(base, &st)
	byDir := map[string]int64{}
	files := map[string]int{}
	var total int64
	var big []string
	filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			d := strings.TrimPrefix(filepath.Dir(p), base)
			blocks := (fi.Size() + 4095) / 4096 * 4
			byDir[d] += blocks
			files[d]++
			total += blocks
			if fi.Size() >= 64<<10 {
				big = append(big, fmt.Sprintf("%s/%s %d kB", d, fi.Name(), fi.Size()>>10))
			}
		}
		return nil
	})
	var dirs []string
	for d, kb := range byDir {
		if kb > 0 {
			dirs = append(dirs, fmt.Sprintf("%s: %d files %d kB", d, files[d], kb))
		}
	}
	sort.Strings(dirs)
	return fmt.Sprintf("statfs: %d of %d kB used; files: %d kB; files of 64 kB or more: %v; by directory: %v", (st.Blocks-st.Bfree)*uint64(st.Bsize)/1024, st.Blocks*uint64(st.Bsize)/1024, total, big, dirs)
}

// ledgerEntry is one APPEND the server acknowledged and that is still
// meant to be there.
type ledgerEntry struct {
	user, folder string
	validity     uint32
	uid          uint32
	sum          [32]byte
}

// Issue 8, "what it must show" 3: under a steady workload, kill -9 authd,
// a preauth worker and a mailbox worker in turn, logins work again within
// 2 s each time; a folder's metadata stays bounded under churn; then a
// full disk makes APPEND answer NO with a response code and leaves no
// partial message; every acknowledged APPEND is intact.
func TestFaultsUnderLoad(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	for i := 0; i < 4; i++ {
		ensureUser(t, fmt.Sprintf("fault%d", i), fmt.Sprintf("fault%d-pw", i))
	}
	// Room for the workload first, so that only the fill below fills it:
	// the tmpfs is shrunk to a little above what is used before that.
	base := mountTmpfs(t, "64m")
	s := startServer(t, `
listen on 127.0.0.1 port %PORT% plain
storage maildir "`+base+`"
auth pam service imapd
preauth workers 2
limit connections per ip 100
control socket "%DIR%/control.sock"
`)
	parent := s.cmd.Process.Pid
	pw := func(u string) string { return u + "-pw" }

	var (
		ledgerMu sync.Mutex
		ledger   []ledgerEntry
	)
	// Steady workload: fault1..fault3, one client each on folder "work".
	stop := make(chan struct{})
	stats := &steadyStats{}
	errs := &errLog{}
	var mayDrop [4]atomic.Bool // set just before that user's mailbox worker is killed
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := fmt.Sprintf("fault%d", i)
			kept := map[uint32][32]byte{}
			var validity uint32
			defer func() {
				ledgerMu.Lock()
				for uid, sum := range kept {
					ledger = append(ledger, ledgerEntry{u, "work", validity, uid, sum})
				}
				ledgerMu.Unlock()
			}()
			for session := 0; ; session++ {
				id := fmt.Sprintf("%s#%d", u, session)
				var w *wire
				var err error
				for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(100 * time.Millisecond) {
					if w, err = wireLogin(s.addr, "s", u, pw(u)); err == nil {
						break
					}
				}
				if err != nil {
					errs.add("%s: no login within 5 s: %v", id, err)
					return
				}
				if session == 0 {
					if r, err := w.do("CREATE work", nil); err != nil || r.status != "OK" {
						errs.add("%s: CREATE work: %v %s", id, err, r)
					}
				}
				r, err := w.do("SELECT work", nil)
				if err != nil || r.status != "OK" {
					errs.add("%s: SELECT work: %v %s", id, err, r)
					w.conn.Close()
					return
				}
				v := uidValidity(r.lines)
				if validity == 0 {
					validity = v
				} else if v != validity {
					errs.add("%s: UIDVALIDITY changed from %d to %d after reconnecting", id, validity, v)
				}
				err = steady(w, id, "work", 5, stop, stats, errs, kept)
				w.conn.Close()
				if err == nil {
					return
				}
				if mayDrop[i].CompareAndSwap(true, false) {
					t.Logf("%s: session ended with its mailbox worker, as it must: %v", id, err)
				} else {
					errs.add("%s: session dropped: %v", id, err)
				}
			}
		}(i)
	}
	// progress waits until the workload has answered n more commands OK.
	progress := func(what string, n int64) {
		t.Helper()
		from := stats.ok.Load()
		for start := time.Now(); stats.ok.Load() < from+n; time.Sleep(20 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Errorf("%s: the workload answered only %d commands OK in 10 s", what, stats.ok.Load()-from)
				return
			}
		}
	}
	progress("before the faults", 300)

	for _, f := range []struct{ title, probe string }{
		{"imapd: authd", "fault0"},
		{"imapd: preauth", "fault0"},
		{"imapd: mailbox fault3", "fault3"},
	} {
		time.Sleep(time.Second) // the workload runs on between faults
		before := byTitle(children(t, parent), f.title)
		if len(before) == 0 {
			t.Errorf("no %q process to kill", f.title)
			continue
		}
		if f.title == "imapd: mailbox fault3" {
			mayDrop[3].Store(true)
		}
		victim := before[0].pid
		syscall.Kill(victim, syscall.SIGKILL)
		start := time.Now()
		var failed []string // what clients saw meanwhile
		for {
			c, err := tryLogin(s.addr, f.probe, pw(f.probe))
			if err == nil {
				c.Close()
				t.Logf("kill -9 %s (pid %d): %s logged in after %v; %d failed tries before: %v", f.title, victim, f.probe, time.Since(start).Round(time.Millisecond), len(failed), failed)
				break
			}
			if len(failed) < 5 {
				failed = append(failed, err.Error())
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("no successful login within 2 s of kill -9 %s: %v", f.title, err)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		progress("after kill -9 "+f.title, 300)
		// The parent replaces what it supervises: as many as before, none the victim.
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			now := byTitle(children(t, parent), f.title)
			alive := false
			for _, p := range now {
				alive = alive || p.pid == victim
			}
			if !alive && (len(now) == len(before) || strings.HasPrefix(f.title, "imapd: mailbox")) {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("after kill -9 %s (pid %d): %d such processes (%d before), victim still there: %v", f.title, victim, len(now), len(before), alive)
				break
			}
		}
	}
	close(stop)
	wg.Wait()
	if mayDrop[3].Load() {
		errs.add("fault3's session survived the death of its mailbox worker")
	}
	t.Logf("steady workload through the faults: %d tagged OK answers, %d APPENDs acknowledged, %d fetched back intact at once",
		stats.ok.Load(), stats.appends.Load(), stats.fetched.Load())
	errs.report(t, "steady workload through the faults")

	t.Logf("after the faults: %s", diskUsage(base))

	// Churn: 400 times APPEND, FETCH, EXPUNGE, one message at a time. What
	// a folder keeps besides its messages must stay bounded: a server that
	// only appends to its caches fills the disk of a busy mailbox.
	churnErrs := &errLog{}
	if w, err := wireLogin(s.addr, "c", "fault0", pw("fault0")); err != nil {
		churnErrs.add("login: %v", err)
	} else {
		for _, c := range []string{"CREATE churn", "SELECT churn"} {
			if r, err := w.do(c, nil); err != nil || r.status != "OK" {
				churnErrs.add("C: %s S: %v %s", c, err, r)
			}
		}
		for i := 0; i < 400 && churnErrs.n == 0; i++ {
			r, err := w.do("APPEND churn", testMessage(fmt.Sprintf("churn-%d", i), 2000))
			if err != nil || r.status != "OK" {
				churnErrs.add("C: APPEND churn (%d) S: %v %s", i, err, r)
				break
			}
			_, uid, _ := appendUID(r.tagged)
			u := strconv.FormatUint(uint64(uid), 10)
			for _, c := range []string{"UID FETCH " + u + " (ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER])", "UID STORE " + u + " +FLAGS.SILENT (\\Deleted)", "EXPUNGE"} {
				if r, err := w.do(c, nil); err != nil || r.status != "OK" {
					churnErrs.add("C: %s S: %v %s", c, err, r)
				}
			}
		}
		w.conn.Close()
		dir := filepath.Join(base, "fault0", ".churn")
		ents, _ := os.ReadDir(dir)
		var meta int64
		var sizes []string
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && !e.IsDir() {
				meta += fi.Size()
				sizes = append(sizes, fmt.Sprintf("%s %d bytes", e.Name(), fi.Size()))
			}
		}
		t.Logf("after 400 APPEND+EXPUNGE cycles, an empty folder keeps %d bytes of metadata: %v", meta, sizes)
		if meta > 64<<10 {
			churnErrs.add("an empty folder keeps %d bytes of metadata after 400 APPEND+EXPUNGE cycles, more than 64 KB: %v", meta, sizes)
		}
	}
	churnErrs.report(t, "metadata after churn")

	// Shrink the file system to 1 MB above what is in use.
	var sfs syscall.Statfs_t
	syscall.Statfs(base, &sfs)
	usedKB := (sfs.Blocks - sfs.Bfree) * uint64(sfs.Bsize) / 1024
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%dk", usedKB+1024), base).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v\n%s", err, out)
	}
	t.Logf("tmpfs shrunk to %d kB (%d kB in use)", usedKB+1024, usedKB)

	// Fill the disk: APPEND 48 KB messages to fault0's "fill" until NO.
	fillErrs := &errLog{}
	w, err := wireLogin(s.addr, "f", "fault0", pw("fault0"))
	if err != nil {
		t.Fatalf("fill: %v", err)
	}
	defer w.conn.Close()
	for _, c := range []string{"CREATE fill", "SELECT fill"} {
		if r, err := w.do(c, nil); err != nil || r.status != "OK" {
			t.Fatalf("fill: %s: %v %s", c, err, r)
		}
	}
	fillValidity := uint32(0)
	acked := map[uint32][32]byte{}
	var last *reply
	appendFill := func(i int) (*reply, error) {
		msg := testMessage(fmt.Sprintf("fill-%d", i), 48<<10)
		r, err := w.do("APPEND fill", msg)
		if err != nil {
			return r, err
		}
		if r.status == "OK" {
			v, uid, ok := appendUID(r.tagged)
			if !ok {
				fillErrs.add("C: APPEND fill (message %d) S: %s: OK without APPENDUID", i, r)
			} else {
				fillValidity = v
				acked[uid] = sha256.Sum256(msg)
			}
		}
		return r, nil
	}
	n := 0
	for ; n < 200; n++ {
		r, err := appendFill(n)
		if err != nil {
			t.Fatalf("fill: APPEND %d: %v (after %q)", n, err, r.lines)
		}
		if r.status != "OK" {
			last = r
			break
		}
	}
	var st syscall.Statfs_t
	syscall.Statfs(base, &st)
	if last == nil {
		t.Fatalf("200 APPENDs of 48 KB into a 2 MB tmpfs all answered OK")
	}
	t.Logf("disk full after %d APPENDs OK: C: APPEND fill {%d} S: %s (tmpfs: %d of %d blocks free)", len(acked), len(testMessage("fill-0", 48<<10)), last.tagged, st.Bfree, st.Blocks)
	if !strings.HasPrefix(last.tagged, "f") || last.status != "NO" ||
		!(strings.Contains(last.tagged, "NO [OVERQUOTA]") || strings.Contains(last.tagged, "NO [LIMIT]")) {
		fillErrs.add("full disk: APPEND answered %q, want NO [OVERQUOTA] or NO [LIMIT] (RFC 5530 §3)", last.tagged)
	}
	// No partial message: what the server lists is exactly what it acknowledged.
	checkFill := func(when string) {
		r, err := w.do("UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])", nil)
		if err != nil || r.status != "OK" {
			fillErrs.add("%s: UID FETCH 1:*: %v %s", when, err, r)
			return
		}
		listed := map[uint32]bool{}
		li := 0
		for _, l := range r.lines {
			if !strings.Contains(l, " FETCH (") {
				continue
			}
			uid := fetchUID(l)
			listed[uid] = true
			var body []byte
			if strings.Contains(l, "BODY[]") && li < len(r.lits) {
				body = r.lits[li]
				li++
			}
			want, ok := acked[uid]
			switch {
			case !ok:
				fillErrs.add("%s: UID %d is listed (%d bytes) but its APPEND was never acknowledged: %.120q", when, uid, len(body), l)
			case sha256.Sum256(body) != want:
				fillErrs.add("%s: UID %d: BODY[] (%d bytes) is not the acknowledged message", when, uid, len(body))
			}
		}
		for uid := range acked {
			if !listed[uid] {
				fillErrs.add("%s: acknowledged UID %d is missing", when, uid)
			}
		}
		t.Logf("%s: the server lists %d messages, %d acknowledged", when, len(listed), len(acked))
	}
	checkFill("after the NO")
	if left := tmpFiles(base); len(left) > 0 {
		fillErrs.add("after the NO, files left in tmp/: %v", left)
	}
	// Room again after an EXPUNGE: APPEND works.
	var uids []string
	for uid := range acked {
		uids = append(uids, strconv.FormatUint(uint64(uid), 10))
	}
	sort.Strings(uids)
	if len(uids) >= 4 {
		del := uids[:len(uids)/2]
		for _, c := range []string{"UID STORE " + strings.Join(del, ",") + " +FLAGS.SILENT (\\Deleted)", "EXPUNGE"} {
			if r, err := w.do(c, nil); err != nil || r.status != "OK" {
				fillErrs.add("on a full disk: C: %s S: %v %s", c, err, r)
			}
		}
		for _, u := range del {
			v, _ := strconv.ParseUint(u, 10, 32)
			delete(acked, uint32(v))
		}
		if r, err := appendFill(n + 1); err != nil || r.status != "OK" {
			fillErrs.add("after EXPUNGE freed %d messages: C: APPEND fill S: %v %s", len(del), err, r)
		}
		checkFill("after EXPUNGE and one more APPEND")
	}
	fillErrs.report(t, "full disk")
	for uid, sum := range acked {
		ledger = append(ledger, ledgerEntry{"fault0", "fill", fillValidity, uid, sum})
	}

	// Final audit, from new sessions: every acknowledged APPEND still there
	// is intact.
	auditErrs := &errLog{}
	byBox := map[string][]ledgerEntry{}
	for _, e := range ledger {
		byBox[e.user+"/"+e.folder] = append(byBox[e.user+"/"+e.folder], e)
	}
	intact := 0
	for box, es := range byBox {
		u, folder, _ := strings.Cut(box, "/")
		aw, err := wireLogin(s.addr, "z", u, pw(u))
		if err != nil {
			auditErrs.add("%s: %v", box, err)
			continue
		}
		r, err := aw.do("EXAMINE "+folder, nil)
		if err != nil || r.status != "OK" {
			auditErrs.add("%s: EXAMINE: %v %s", box, err, r)
			aw.conn.Close()
			continue
		}
		if v := uidValidity(r.lines); v != es[0].validity {
			auditErrs.add("%s: UIDVALIDITY %d, the APPENDs were acknowledged under %d", box, v, es[0].validity)
		}
		if box == "fault0/fill" {
			// A fresh session rescans the Maildir: still nothing unacknowledged.
			want := map[string]bool{}
			for _, e := range es {
				want[strconv.FormatUint(uint64(e.uid), 10)] = true
			}
			r, err := aw.do("UID SEARCH ALL", nil)
			var got []string
			for _, l := range r.lines {
				if strings.HasPrefix(l, "* SEARCH") {
					got = append(got, strings.Fields(l)[2:]...)
				}
			}
			extra := 0
			for _, u := range got {
				if !want[u] {
					extra++
				}
			}
			if err != nil || r.status != "OK" || extra > 0 || len(got) != len(want) {
				auditErrs.add("%s: new session: UID SEARCH ALL lists %v, want exactly the %d acknowledged (%v %s)", box, got, len(want), err, r.tagged)
			}
			var files []string
			for _, sub := range []string{"new", "cur"} {
				ents, _ := os.ReadDir(filepath.Join(base, "fault0", ".fill", sub))
				for _, e := range ents {
					files = append(files, sub+"/"+e.Name())
				}
			}
			if len(files) != len(want) {
				auditErrs.add("%s: %d files in new/ and cur/, want the %d acknowledged: %v", box, len(files), len(want), files)
			}
		}
		for _, e := range es {
			r, err := aw.do(fmt.Sprintf("UID FETCH %d (BODY.PEEK[])", e.uid), nil)
			switch {
			case err != nil || r.status != "OK":
				auditErrs.add("%s: UID FETCH %d: %v %s", box, e.uid, err, r)
			case len(r.lits) != 1:
				auditErrs.add("%s: acknowledged UID %d is gone: %q", box, e.uid, r.lines)
			case sha256.Sum256(r.lits[0]) != e.sum:
				auditErrs.add("%s: acknowledged UID %d: BODY[] (%d bytes) differs from what was appended", box, e.uid, len(r.lits[0]))
			default:
				intact++
			}
		}
		aw.conn.Close()
	}
	t.Logf("final audit: %d of %d acknowledged messages still meant to exist are intact", intact, len(ledger))
	auditErrs.report(t, "final audit")
}

// uidValidity reads [UIDVALIDITY n] from SELECT's or EXAMINE's lines.
func uidValidity(lines []string) uint32 {
	for _, l := range lines {
		if i := strings.Index(l, "[UIDVALIDITY "); i >= 0 {
			f := strings.Fields(l[i+len("[UIDVALIDITY "):])
			if len(f) > 0 {
				v, _ := strconv.ParseUint(strings.TrimSuffix(f[0], "]"), 10, 32)
				return uint32(v)
			}
		}
	}
	return 0
}

// fetchUID reads the UID item of a FETCH response line.
func fetchUID(l string) uint32 {
	i := strings.Index(l, "UID ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(l[i+4:])
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimRight(f[0], ")"), 10, 32)
	return uint32(v)
}
