package main

// imapbench folder: the large-folder benchmark of issue 4. It builds (once,
// cached) a deterministic Maildir, gives each server a fresh hard-linked
// copy, and measures the same commands on imapd and Dovecot in one run,
// alternating between them so both see the same machine load.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// folderServer is one server under test and its session.
type folderServer struct {
	name    string
	addr    string
	maildir string // the user's Maildir this server serves
	proc    string // substring of the mailbox process's command line
	sess    *benchIMAP
	pid     int // the mailbox process serving sess, 0 if not found
	results map[string]folderCell
}

// folderCell is one measured figure.
type folderCell struct {
	value float64 // seconds, MB/s or MiB
	unit  string
	load  string
	check string // "" when the answer was right, else what was wrong
	note  string
	cpu   float64 // CPU seconds the mailbox process used, per operation; -1 unknown
	reps  int     // operations the CPU time covers (0 means 1)
	noCPU bool    // the operation ran in another process
}

type folderConfig struct {
	messages   int
	seed       uint64
	cache      string
	owner      string
	user, pass string
	drop       bool
	warmReps   int
	profile    string // directory for perf profiles of each warm run, or ""
	servers    []*folderServer
}

func runFolder(args []string) error {
	fs := flag.NewFlagSet("folder", flag.ContinueOnError)
	c := folderConfig{}
	fs.IntVar(&c.messages, "messages", 100000, "messages in the folder")
	seed := fs.Uint64("seed", 1, "generator seed")
	fs.StringVar(&c.cache, "cache", "/var/tmp/imapbench/cache", "directory caching the generated folder")
	fs.StringVar(&c.owner, "owner", "", "system user owning the mail files (the servers' mailbox user)")
	fs.StringVar(&c.user, "user", "ibench", "IMAP login name")
	fs.StringVar(&c.pass, "pass", "ibench", "IMAP password")
	fs.BoolVar(&c.drop, "drop-caches", os.Geteuid() == 0, "drop the page cache before cold runs (root)")
	fs.IntVar(&c.warmReps, "warm-reps", 5, "repetitions of warm SELECT (median reported)")
	fs.DurationVar(&commandTimeout, "timeout", commandTimeout, "longest wait for one command's answer (Dovecot's Xapian indexer needs more than 15m for 100,000 messages)")
	fs.StringVar(&c.profile, "profile", "", "record each warm run of each server's mailbox process with perf(1) into this directory")
	imapdAddr := fs.String("imapd", "127.0.0.1:31143", "imapd address (plain); empty to skip")
	imapdDir := fs.String("imapd-maildir", "/var/tmp/imapbench/imapd-mail/ibench", "the Maildir imapd serves to the user")
	imapdProc := fs.String("imapd-proc", "imapd: mailbox ibench", "command line of imapd's mailbox worker")
	dovecotAddr := fs.String("dovecot", "127.0.0.1:32143", "Dovecot address (plain); empty to skip")
	dovecotDir := fs.String("dovecot-maildir", "/var/tmp/imapbench/dovecot-mail/ibench", "the Maildir Dovecot serves to the user")
	dovecotProc := fs.String("dovecot-proc", "dovecot/imap", "command line of Dovecot's imap process (dovecot-INSTANCE/imap with instance_name)")
	buildOnly := fs.Bool("build-only", false, "build (or check) the cached folder and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.seed = *seed
	if *buildOnly {
		dir, m, err := c.folderMaster()
		if err == nil {
			fmt.Printf("%s: %d messages, %.2f GB\n", dir, m.Messages, float64(m.Bytes)/1e9)
		}
		return err
	}
	if *imapdAddr != "" {
		c.servers = append(c.servers, &folderServer{name: "imapd", addr: *imapdAddr, maildir: *imapdDir, proc: *imapdProc})
	}
	if *dovecotAddr != "" {
		c.servers = append(c.servers, &folderServer{name: "Dovecot", addr: *dovecotAddr, maildir: *dovecotDir, proc: *dovecotProc})
	}
	if len(c.servers) == 0 {
		return errors.New("folder: no server to measure")
	}
	return c.run()
}

func folderLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func folderDropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// folderFiles lists the message files of a Maildir (cur and new).
func folderFiles(dir string) ([]string, error) {
	var out []string
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				out = append(out, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	return out, nil
}

// folderReadAll reads every message file once, in directory order, with
// one thread: the floor a server cannot beat without an index.
func folderReadAll(dir string) (int64, time.Duration, error) {
	start := time.Now()
	files, err := folderFiles(dir)
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, 1<<20)
	var total int64
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return 0, 0, err
		}
		for {
			n, err := f.Read(buf)
			total += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return 0, 0, err
			}
		}
		f.Close()
	}
	return total, time.Since(start), nil
}

// folderMaster returns the cached folder, building it first if needed.
func (c *folderConfig) folderMaster() (string, *folderManifest, error) {
	dir := filepath.Join(c.cache, fmt.Sprintf("folder-v%d-n%d-s%d", folderGenVersion, c.messages, c.seed))
	if m, err := loadFolderManifest(dir); err == nil && m.Version == folderGenVersion && m.Messages == c.messages {
		return dir, m, nil
	}
	tmp := dir + ".building"
	if err := os.RemoveAll(tmp); err != nil {
		return "", nil, err
	}
	fmt.Fprintf(os.Stderr, "imapbench: building %d messages in %s ...\n", c.messages, dir)
	start := time.Now()
	m, err := buildFolder(tmp, c.messages, c.seed)
	if err != nil {
		return "", nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", nil, err
	}
	if err := os.Rename(tmp+".json", dir+".json"); err != nil {
		return "", nil, err
	}
	fmt.Fprintf(os.Stderr, "imapbench: built %.1f MB in %v\n", float64(m.Bytes)/1e6, time.Since(start).Round(time.Second))
	return dir, m, nil
}

// folderCopy gives a server a fresh Maildir: hard links to the master's
// files (Maildir files are never rewritten, only renamed, so servers
// cannot disturb one another), directories owned by uid/gid.
func folderCopy(master, dst string, uid, gid int) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		d := filepath.Join(dst, sub)
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Chown(d, uid, gid); err != nil {
				return err
			}
		}
	}
	files, err := folderFiles(master)
	if err != nil {
		return err
	}
	for _, p := range files {
		rel, _ := filepath.Rel(master, p)
		if err := os.Link(p, filepath.Join(dst, rel)); err != nil {
			return err
		}
	}
	return nil
}

func folderChownAll(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// folderProcUID, when not -1, is the uid the mailbox processes run as:
// other engineers' servers on the machine may have processes of the same
// name.
var folderProcUID = -1

// folderFindPid returns the newest process whose command line is
// pattern, or pattern and arguments (and whose uid is folderProcUID).
func folderFindPid(pattern string) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	bestPid, bestStart := 0, uint64(0)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		if cmd != pattern && !strings.HasPrefix(cmd, pattern+" ") {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/proc", e.Name())); folderProcUID >= 0 &&
			(err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != folderProcUID) {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Field 22 (starttime) counts from after the ")" of comm.
		s := string(st)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 20 {
			continue
		}
		start, _ := strconv.ParseUint(f[19], 10, 64)
		if start >= bestStart {
			bestPid, bestStart = pid, start
		}
	}
	if bestPid == 0 {
		return 0, fmt.Errorf("no process matching %q", pattern)
	}
	return bestPid, nil
}

// folderPeakRSS returns VmHWM in MiB of pid, the process that served the
// benchmark's session, or of the one folderFindPid finds.
func folderPeakRSS(pid int, pattern string) (float64, int, error) {
	bestPid := pid
	if bestPid == 0 {
		var err error
		if bestPid, err = folderFindPid(pattern); err != nil {
			return 0, 0, err
		}
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", bestPid))
	if err != nil {
		return 0, bestPid, err
	}
	for l := range strings.SplitSeq(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, bestPid, nil
		}
	}
	return 0, bestPid, errors.New("no VmHWM")
}

// Rows of the table, in order.
var folderRows = []struct{ key, label string }{
	{"login", "LOGIN (first, spawns the worker)"},
	{"cold", "SELECT INBOX, cold"},
	{"warm", "SELECT INBOX, warm, same session (median)"},
	{"warmnew", "SELECT INBOX, warm, new session (median)"},
	{"flags", "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)"},
	{"env1", "UID FETCH 1:* (ENVELOPE), first"},
	{"env2", "UID FETCH 1:* (ENVELOPE), second"},
	{"unseen", "UID SEARCH UNSEEN"},
	{"subject", "UID SEARCH SUBJECT " + folderSubjectWord},
	{"body", "UID SEARCH BODY " + folderRareWord},
	{"sortdate1", "UID SORT (DATE) UTF-8 ALL, first"},
	{"sortdate2", "UID SORT (DATE) UTF-8 ALL, repeated"},
	{"sortsubj1", "UID SORT (SUBJECT) UTF-8 ALL, first"},
	{"sortsubj2", "UID SORT (SUBJECT) UTF-8 ALL, repeated"},
	{"sortfrom1", "UID SORT (FROM) UTF-8 ALL, first"},
	{"sortfrom2", "UID SORT (FROM) UTF-8 ALL, repeated"},
	{"sortpart1", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL, first"},
	{"sortpart2", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL, repeated"},
	{"thread1", "UID THREAD REFERENCES UTF-8 ALL, first"},
	{"thread2", "UID THREAD REFERENCES UTF-8 ALL, repeated"},
	{"page1", "UID SEARCH RETURN (PARTIAL 1:50) UNDELETED, first"},
	{"page2", "UID SEARCH RETURN (PARTIAL 51:100) UNDELETED, the next page"},
	{"viewrss", "mailbox process peak RSS after the sorted, threaded and paged views, before the full-text index (VmHWM)"},
	{"big", "UID FETCH BODY.PEEK[] of the 20 MB message"},
	{"ftsbuild", "full-text index built by the first UID SEARCH BODY " + folderRareWord},
	{"ftsrss", "mailbox process peak RSS after the index build (VmHWM)"},
	{"ftssize", "full-text index on disk"},
	{"ftsrare", "UID SEARCH BODY " + folderRareWord + ", indexed"},
	{"ftscommon", "UID SEARCH BODY " + folderCommonWord},
	{"fts3", "UID SEARCH BODY " + folderTriGram},
	{"ftstext", "UID SEARCH TEXT " + folderTextWord},
	{"ftsinc", "UID SEARCH BODY after APPEND of one 10 KB message"},
	{"ftsincwarm", "the same SEARCH again"},
	{"rss", "mailbox process peak RSS (VmHWM)"},
}

func (c *folderConfig) run() error {
	owner := -1
	ogid := -1
	if c.owner != "" {
		u, err := user.Lookup(c.owner)
		if err != nil {
			return err
		}
		owner, _ = strconv.Atoi(u.Uid)
		ogid, _ = strconv.Atoi(u.Gid)
		folderProcUID = owner
	}
	master, man, err := c.folderMaster()
	if err != nil {
		return err
	}
	if owner >= 0 {
		if err := folderChownAll(master, owner, ogid); err != nil {
			return err
		}
	}
	for _, s := range c.servers {
		s.results = map[string]folderCell{}
		if err := folderCopy(master, s.maildir, owner, ogid); err != nil {
			return fmt.Errorf("copy for %s: %w", s.name, err)
		}
	}
	defer func() {
		for _, s := range c.servers {
			if s.sess != nil {
				s.sess.Close()
			}
		}
	}()

	// Floor: every file read once, cold (if the cache can be dropped) and
	// from the page cache.
	var floorCold, floorWarm time.Duration
	var floorBytes int64
	if c.drop {
		if err := folderDropCaches(); err != nil {
			return fmt.Errorf("drop caches: %w", err)
		}
		if _, floorCold, err = folderReadAll(master); err != nil {
			return err
		}
	}
	if _, _, err = folderReadAll(master); err != nil {
		return err
	}
	floorLoad := folderLoad()
	ru0 := folderSelfCPU()
	if floorBytes, floorWarm, err = folderReadAll(master); err != nil {
		return err
	}
	floorCPU := folderSelfCPU() - ru0

	// Cold: log in and SELECT a folder the server has never indexed.
	for _, s := range c.servers {
		if c.drop {
			if err := folderDropCaches(); err != nil {
				return err
			}
		}
		load := folderLoad()
		t0 := time.Now()
		sess, err := benchLogin(s.addr, nil, c.user, c.pass)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.results["login"] = folderCell{value: time.Since(t0).Seconds(), unit: "s", load: load, cpu: -1}
		s.sess = sess
		if s.pid, err = folderFindPid(s.proc); err != nil {
			fmt.Fprintf(os.Stderr, "imapbench: %s: %v: no CPU times\n", s.name, err)
		}
		stop := c.startProfile(s, "cold")
		cpu0 := folderCPU(s.pid)
		res, err := sess.MustOK("SELECT INBOX")
		cpu := folderCPU(s.pid) - cpu0
		stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if s.pid == 0 {
			cpu = -1
		}
		s.results["cold"] = folderCell{value: res.Elapsed.Seconds(), unit: "s", load: load, cpu: cpu,
			check: folderCheck("EXISTS", res.Exists, man.Messages)}
	}

	// Warm runs: each after the server's copy was read back into the cache.
	warm := func(key string, fn func(s *folderServer) (folderCell, error)) error {
		for _, s := range c.servers {
			if _, _, err := folderReadAll(s.maildir); err != nil {
				return err
			}
			folderReadIndexes(s.maildir)
			load := folderLoad()
			stop := c.startProfile(s, key)
			cpu0 := folderCPU(s.pid)
			cell, err := fn(s)
			cpu := folderCPU(s.pid) - cpu0
			stop()
			if err != nil {
				return fmt.Errorf("%s: %s: %w", s.name, key, err)
			}
			cell.load = load
			cell.cpu = -1
			if !cell.noCPU && s.pid > 0 && cpu >= 0 {
				cell.cpu = cpu / float64(max(cell.reps, 1))
			}
			s.results[key] = cell
		}
		return nil
	}
	// medianSelect runs once warmReps times: the median time, EXISTS checked.
	medianSelect := func(once func() (*benchResult, error)) (folderCell, error) {
		var ts []float64
		check := ""
		for range max(c.warmReps, 1) {
			res, err := once()
			if err != nil {
				return folderCell{}, err
			}
			ts = append(ts, res.Elapsed.Seconds())
			if ch := folderCheck("EXISTS", res.Exists, man.Messages); ch != "" {
				check = ch
			}
		}
		slices.Sort(ts)
		return folderCell{value: ts[len(ts)/2], unit: "s", check: check, reps: len(ts)}, nil
	}
	if err := warm("warm", func(s *folderServer) (folderCell, error) {
		return medianSelect(func() (*benchResult, error) { return s.sess.MustOK("SELECT INBOX") })
	}); err != nil {
		return err
	}
	// A client reconnecting: a second session SELECTs the folder the first
	// one has open (imapd: the same mailbox worker; Dovecot: a new process
	// reading its index).
	if err := warm("warmnew", func(s *folderServer) (folderCell, error) {
		cell, err := medianSelect(func() (*benchResult, error) {
			sess, err := benchLogin(s.addr, nil, c.user, c.pass)
			if err != nil {
				return nil, err
			}
			defer sess.Close()
			defer sess.Cmd("LOGOUT")
			return sess.MustOK("SELECT INBOX")
		})
		cell.noCPU = true // Dovecot serves the new session in another process
		return cell, err
	}); err != nil {
		return err
	}
	timed := func(key, cmd string, check func(*benchResult) string) error {
		return warm(key, func(s *folderServer) (folderCell, error) {
			res, err := s.sess.MustOK(cmd)
			if err != nil {
				return folderCell{}, err
			}
			return folderCell{value: res.Elapsed.Seconds(), unit: "s", check: check(res)}, nil
		})
	}
	fetched := func(r *benchResult) string { return folderCheck("FETCH responses", r.Untagged, man.Messages) }
	esearched := func(r *benchResult) string { return folderCheck("ESEARCH responses", r.Untagged, 1) }
	threaded := func(r *benchResult) string { return folderCheck("THREAD responses", r.Untagged, 1) }
	found := func(want int) func(*benchResult) string {
		return func(r *benchResult) string { return folderCheck("matches", len(r.SearchUIDs), want) }
	}
	type step struct {
		key, cmd string
		check    func(*benchResult) string
	}
	runSteps := func(steps []step) error {
		for _, st := range steps {
			fmt.Fprintf(os.Stderr, "imapbench: %s\n", st.cmd)
			if err := timed(st.key, st.cmd, st.check); err != nil {
				return err
			}
		}
		return nil
	}
	// Listings, sorts, threads and pages first, then the worker's peak RSS
	// (issue 13's bound), then the full-text index build (folder_fts.go)
	// and the searches the index serves (SUBJECT too).
	if err := runSteps([]step{
		{"flags", "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)", fetched},
		{"env1", "UID FETCH 1:* (ENVELOPE)", fetched},
		{"env2", "UID FETCH 1:* (ENVELOPE)", fetched},
		// Issue 13: sorted, threaded and paged views. "first" is the first
		// time the command runs; "repeated" the same command again.
		{"sortdate1", "UID SORT (DATE) UTF-8 ALL", found(man.Messages)},
		{"sortdate2", "UID SORT (DATE) UTF-8 ALL", found(man.Messages)},
		{"sortsubj1", "UID SORT (SUBJECT) UTF-8 ALL", found(man.Messages)},
		{"sortsubj2", "UID SORT (SUBJECT) UTF-8 ALL", found(man.Messages)},
		{"sortfrom1", "UID SORT (FROM) UTF-8 ALL", found(man.Messages)},
		{"sortfrom2", "UID SORT (FROM) UTF-8 ALL", found(man.Messages)},
		{"sortpart1", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL", esearched},
		{"sortpart2", "UID SORT RETURN (PARTIAL 1:50) (REVERSE ARRIVAL) UTF-8 ALL", esearched},
		{"thread1", "UID THREAD REFERENCES UTF-8 ALL", threaded},
		{"thread2", "UID THREAD REFERENCES UTF-8 ALL", threaded},
		{"page1", "UID SEARCH RETURN (PARTIAL 1:50) UNDELETED", esearched},
		{"page2", "UID SEARCH RETURN (PARTIAL 51:100) UNDELETED", esearched},
	}); err != nil {
		return err
	}
	for _, s := range c.servers {
		s.results["viewrss"] = folderRSSCell(s)
	}
	if err := c.runFTS(master, timed, found); err != nil {
		return err
	}
	if err := runSteps([]step{
		{"unseen", "UID SEARCH UNSEEN", found(man.Unseen)},
		{"subject", "UID SEARCH SUBJECT " + folderSubjectWord, found(man.SubjectHits)},
		{"body", "UID SEARCH BODY " + folderRareWord, found(man.BodyHits)},
	}); err != nil {
		return err
	}

	// The 20 MB message: found by size, fetched three times, median.
	bigUID := map[*folderServer]uint32{}
	for _, s := range c.servers {
		res, err := s.sess.MustOK(fmt.Sprintf("UID SEARCH LARGER %d", man.LargeSize-1))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if len(res.SearchUIDs) != 1 {
			return fmt.Errorf("%s: LARGER found %d messages, want 1", s.name, len(res.SearchUIDs))
		}
		bigUID[s] = res.SearchUIDs[0]
	}
	if err := warm("big", func(s *folderServer) (folderCell, error) {
		var rates []float64
		check := ""
		for range 3 {
			r, err := s.sess.MustOK(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", bigUID[s]))
			if err != nil {
				return folderCell{}, err
			}
			if ch := folderCheck("bytes", int(r.LiteralSize), int(man.LargeSize)); ch != "" {
				check = ch
			}
			rates = append(rates, float64(r.LiteralSize)/1e6/r.Elapsed.Seconds())
		}
		slices.Sort(rates)
		return folderCell{value: rates[1], unit: "MB/s", check: check, reps: 3}, nil
	}); err != nil {
		return err
	}
	if err := c.runFTSInc(timed, found); err != nil {
		return err
	}
	for _, s := range c.servers {
		s.results["rss"] = folderRSSCell(s)
	}
	for _, s := range c.servers {
		s.sess.Cmd("LOGOUT")
	}

	c.print(man, floorBytes, floorCold, floorWarm, floorCPU, floorLoad)
	return nil
}

// folderRSSCell is the peak RSS of s's mailbox process, now.
func folderRSSCell(s *folderServer) folderCell {
	mib, pid, err := folderPeakRSS(s.pid, s.proc)
	cell := folderCell{value: mib, unit: "MiB", load: folderLoad(), cpu: -1}
	if err != nil {
		cell.check = err.Error()
	} else {
		cell.note = fmt.Sprintf("pid %d", pid) + folderRSSParts(pid)
	}
	return cell
}

func folderCheck(what string, got, want int) string {
	if got == want {
		return ""
	}
	return fmt.Sprintf("%s %d, want %d", what, got, want)
}

func (cell folderCell) String() string {
	switch cell.unit {
	case "s":
		switch {
		case cell.value < 0.01:
			return fmt.Sprintf("%.2f ms", cell.value*1e3)
		case cell.value < 1:
			return fmt.Sprintf("%.0f ms", cell.value*1e3)
		default:
			return fmt.Sprintf("%.2f s", cell.value)
		}
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", cell.value)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", cell.value)
	}
	return fmt.Sprint(cell.value)
}

// print writes the Markdown table: one column per server, the load
// average beside each figure, and imapd's figure over Dovecot's (for
// throughput, Dovecot's over imapd's, so below 1 is always better).
func (c *folderConfig) print(man *folderManifest, floorBytes int64, floorCold, floorWarm time.Duration, floorCPU float64, floorLoad string) {
	host, _ := os.Hostname()
	fmt.Printf("Folder: %d messages, %.2f GB, seed %d (%d unseen, %d flagged, %q in %d subjects, %q in %d bodies, one of %.1f MB)\n",
		man.Messages, float64(man.Bytes)/1e9, man.Seed, man.Unseen, man.Flagged, man.SubjectWord, man.SubjectHits, man.RareWord, man.BodyHits, float64(man.LargeSize)/1e6)
	fmt.Printf("Host %s, %s, measured %s\n\n", host, folderCPUInfo(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	hdr := "| operation |"
	sep := "|---|"
	for _, s := range c.servers {
		hdr += fmt.Sprintf(" %s | CPU | load |", s.name)
		sep += "--:|--:|--:|"
	}
	if len(c.servers) == 2 {
		hdr += " ratio |"
		sep += "--:|"
	}
	fmt.Println(hdr)
	fmt.Println(sep)
	var problems []string
	for _, row := range folderRows {
		line := "| " + row.label + " |"
		for _, s := range c.servers {
			cell, ok := s.results[row.key]
			if !ok {
				line += " - | | |"
				continue
			}
			mark := ""
			if cell.check != "" {
				mark = " (!)"
				problems = append(problems, fmt.Sprintf("%s, %s: %s", s.name, row.label, cell.check))
			}
			cpu := ""
			if cell.cpu >= 0 {
				cpu = fmt.Sprintf("%.2f s", cell.cpu)
			}
			line += fmt.Sprintf(" %s%s | %s | %s |", cell, mark, cpu, cell.load)
		}
		if len(c.servers) == 2 {
			a, aok := c.servers[0].results[row.key]
			b, bok := c.servers[1].results[row.key]
			switch {
			case !aok || !bok || a.value == 0 || b.value == 0:
				line += " |"
			case a.unit == "MB/s":
				line += fmt.Sprintf(" %.2f |", b.value/a.value)
			default:
				line += fmt.Sprintf(" %.2f |", a.value/b.value)
			}
		}
		fmt.Println(line)
	}
	fmt.Println()
	if floorCold > 0 {
		fmt.Printf("Floor, every file read once by one thread: %.2f s from disk (cache dropped), %.2f s from the page cache (CPU %.2f s, load %s), %.2f GB.\n",
			floorCold.Seconds(), floorWarm.Seconds(), floorCPU, floorLoad, float64(floorBytes)/1e9)
	} else {
		fmt.Printf("Floor, every file read once by one thread: %.2f s from the page cache (CPU %.2f s, load %s), %.2f GB; page cache not dropped.\n",
			floorWarm.Seconds(), floorCPU, floorLoad, float64(floorBytes)/1e9)
	}
	fmt.Println("CPU: user+system time of the mailbox process (all its threads) per operation, from /proc/PID/stat (10 ms ticks); it is far less disturbed by the machine's load than the wall time.")
	if len(c.servers) == 2 {
		fmt.Printf("Ratio: %s time / %s time (for throughput and RSS likewise: below 1 means %s does better).\n",
			c.servers[0].name, c.servers[1].name, c.servers[0].name)
	}
	for _, s := range c.servers {
		if cell, ok := s.results["body"]; ok && floorWarm > 0 {
			fmt.Printf("%s SEARCH BODY / floor: %.1fx wall", s.name, cell.value/floorWarm.Seconds())
			if cell.cpu > 0 && floorCPU > 0 {
				fmt.Printf(", %.1fx CPU", cell.cpu/floorCPU)
			}
			fmt.Println()
		}
	}
	for _, s := range c.servers {
		if cell, ok := s.results["rss"]; ok && cell.note != "" {
			fmt.Printf("%s mailbox process: %s (%q)\n", s.name, cell.note, s.proc)
		}
	}
	for _, p := range problems {
		fmt.Println("WRONG ANSWER:", p)
	}
}

func folderCPUInfo() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	model := "?"
	if err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)", runtime.NumCPU(), model)
}

// startProfile runs perf record on the server's mailbox process until the
// returned function is called, then writes a flat and a cumulative report
// beside the data. Profiles perturb the timings: use a separate run.
func (c *folderConfig) startProfile(s *folderServer, key string) func() {
	if c.profile == "" {
		return func() {}
	}
	pid, err := folderFindPid(s.proc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "imapbench: profile %s %s: %v\n", s.name, key, err)
		return func() {}
	}
	if err := os.MkdirAll(c.profile, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "imapbench: profile: %v\n", err)
		return func() {}
	}
	data := filepath.Join(c.profile, fmt.Sprintf("%s-%s.perf", strings.ToLower(s.name), key))
	cmd := exec.Command("perf", "record", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", data)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "imapbench: perf: %v\n", err)
		return func() {}
	}
	time.Sleep(500 * time.Millisecond) // let perf attach to every thread
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		for _, v := range []struct{ suffix, args string }{
			{".self.txt", "--no-children -g none --percent-limit 1"},
			{".children.txt", "--children -g none --percent-limit 3"},
		} {
			args := append([]string{"report", "-i", data, "--stdio", "--sort", "symbol"}, strings.Fields(v.args)...)
			out, err := exec.Command("perf", args...).Output()
			if err != nil {
				fmt.Fprintf(os.Stderr, "imapbench: perf report: %v\n", err)
				continue
			}
			_ = os.WriteFile(strings.TrimSuffix(data, ".perf")+v.suffix, out, 0o644)
		}
	}
}

// folderCPU returns the user+system CPU seconds of pid, or -1.
func folderCPU(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	// utime and stime are fields 14 and 15, in clock ticks (USER_HZ 100).
	ut, _ := strconv.ParseFloat(f[11], 64)
	st2, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st2) / 100
}

// folderSelfCPU returns this process's user+system CPU seconds.
func folderSelfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// folderRSSParts tells anonymous memory from mapped files in the current
// RSS (VmHWM does not split them): Dovecot maps its index files.
func folderRSSParts(pid int) string {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	out := ""
	for l := range strings.SplitSeq(string(st), "\n") {
		for _, k := range []string{"VmRSS", "RssAnon", "RssFile"} {
			if v, ok := strings.CutPrefix(l, k+":"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				out += fmt.Sprintf(", %s %.1f MiB", k, kb/1024)
			}
		}
	}
	return out + " now"
}

// folderReadIndexes reads the files at the top of a Maildir (the servers'
// indexes, uidlists), so they too are in the page cache for a warm run.
func folderReadIndexes(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			_, _ = os.ReadFile(filepath.Join(dir, e.Name()))
		}
	}
}
