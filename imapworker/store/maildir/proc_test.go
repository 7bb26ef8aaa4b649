package maildir

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imapd/imapworker/store"
)

// The multi-process tests re-execute the test binary as a child running
// a workload (childMain); the child reports on stdout, one write(2) a line:
// "B <op> <id>" before an operation and "<op> <id> <uid>" once it returned.

const (
	childEnv = "MAILDIR_TEST_CHILD"
	crashEnv = "MAILDIR_TEST_CRASH_AT" // "<point>@<n>"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}

// childMain runs "root|prefix|seed|ops" (ops 0: until killed).
func childMain(spec string) int {
	p := strings.Split(spec, "|")
	seed, _ := strconv.ParseInt(p[2], 10, 64)
	ops, _ := strconv.Atoi(p[3])
	if at := os.Getenv(crashEnv); at != "" {
		// Die at the n-th pass through the named point.
		point, nth, _ := strings.Cut(at, "@")
		left, _ := strconv.Atoi(nth)
		crashPoint = func(p string) {
			if p == point {
				if left--; left <= 0 {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				}
			}
		}
	}
	u, err := Open(p[0], Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	say := func(format string, a ...any) { os.Stdout.WriteString(fmt.Sprintf(format, a...) + "\n") }
	if err := workload(u, p[1], seed, ops, say); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := u.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func body(id string) []byte {
	return []byte("Message-Id: <" + id + ">\r\nSubject: test\r\n\r\nbody of " + id + "\r\n")
}

// workload appends, copies, moves, expunges and flags its own messages in
// INBOX, reporting each step through say.
func workload(u *User, prefix string, seed int64, ops int, say func(string, ...any)) error {
	rng := rand.New(rand.NewSource(seed))
	mb, err := u.Select("INBOX", false)
	if err != nil {
		return err
	}
	defer mb.Close()
	type mine struct {
		id  string
		uid uint32
	}
	var own []mine
	n := 0
	for i := 0; ops == 0 || i < ops; i++ {
		r := rng.Intn(10)
		if len(own) == 0 {
			r = 0
		}
		k := 0
		if len(own) > 0 {
			k = rng.Intn(len(own))
		}
		switch {
		case r < 4:
			n++
			id := fmt.Sprintf("%s-%d", prefix, n)
			say("B A %s", id)
			_, uid, err := u.Append("INBOX", store.Flags{}, time.Time{}, body(id))
			if err != nil {
				return err
			}
			say("A %s %d", id, uid)
			own = append(own, mine{id, uid})
		case r < 5:
			say("B C %s", own[k].id)
			res, err := mb.Copy([]uint32{own[k].uid}, "Archive")
			if err != nil || len(res.Dst) != 1 {
				return fmt.Errorf("copy %v: %+v %v", own[k], res, err)
			}
			say("C %s %d", own[k].id, res.Dst[0])
		case r < 6:
			say("B M %s", own[k].id)
			res, err := mb.Move([]uint32{own[k].uid}, "Trash")
			if err != nil || len(res.Dst) != 1 {
				return fmt.Errorf("move %v: %+v %v", own[k], res, err)
			}
			say("M %s %d", own[k].id, res.Dst[0])
			own = append(own[:k], own[k+1:]...)
		case r < 8:
			say("B E %s", own[k].id)
			if _, err := mb.Store([]uint32{own[k].uid}, store.StoreAdd, store.Flags{System: store.FlagDeleted}); err != nil {
				return err
			}
			gone, err := mb.Expunge([]uint32{own[k].uid})
			if err != nil || len(gone) != 1 {
				return fmt.Errorf("expunge %v: %v %v", own[k], gone, err)
			}
			say("E %s %d", own[k].id, own[k].uid)
			own = append(own[:k], own[k+1:]...)
		default:
			say("B S %s", own[k].id)
			ups, err := mb.Store([]uint32{own[k].uid}, store.StoreAdd, store.Flags{System: store.FlagSeen, Keywords: []string{"kw" + strconv.Itoa(rng.Intn(3))}})
			if err != nil {
				return err
			}
			say("S %s %d", own[k].id, own[k].uid)
			for _, up := range ups { // for TestModSeqCrash
				say("MS %d %d %s", up.UID, up.ModSeq, flagToken(up.Flags))
			}
		}
		if rng.Intn(4) == 0 {
			if _, err := mb.Poll(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ledger is what the children and the MDA acknowledged.
type ledger struct {
	st map[string]*idState
	// uids maps folder and UID to the message ever given it: a UID
	// is never given to a second message.
	uids map[string]map[uint32]string
}

type idState struct {
	appended, moved, expunged, mda bool
	uid, trashUID                  uint32
	copies                         []uint32
	pending                        string
}

func newLedger() *ledger {
	return &ledger{st: map[string]*idState{}, uids: map[string]map[uint32]string{}}
}

func (l *ledger) get(id string) *idState {
	s := l.st[id]
	if s == nil {
		s = &idState{}
		l.st[id] = s
	}
	return s
}

func (l *ledger) claim(t *testing.T, folder string, uid uint32, id string) {
	t.Helper()
	m := l.uids[folder]
	if m == nil {
		m = map[uint32]string{}
		l.uids[folder] = m
	}
	if old, ok := m[uid]; ok && old != id {
		t.Errorf("%s UID %d given to %s and to %s", folder, uid, old, id)
	}
	m[uid] = id
}

// read takes a child's output; a last "B" line without its answer is the
// operation the kill interrupted.
func (l *ledger) read(t *testing.T, out []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue // a torn last line
		}
		if f[0] == "B" {
			l.get(f[2]).pending = f[1]
			continue
		}
		id := f[1]
		s := l.get(id)
		s.pending = ""
		uid, _ := strconv.ParseUint(f[2], 10, 32)
		switch f[0] {
		case "A":
			s.appended, s.uid = true, uint32(uid)
			l.claim(t, "INBOX", s.uid, id)
		case "C":
			s.copies = append(s.copies, uint32(uid))
			l.claim(t, "Archive", uint32(uid), id)
		case "M":
			s.moved, s.trashUID = true, uint32(uid)
			l.claim(t, "Trash", uint32(uid), id)
		case "E":
			s.expunged = true
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// contents maps each message id in a folder to its UIDs.
func contents(t *testing.T, u *User, folder string) map[string][]uint32 {
	t.Helper()
	mb, err := u.Select(folder, true)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	out := map[string][]uint32{}
	for _, m := range mb.Messages() {
		c, err := mb.Open(m.UID)
		if err != nil {
			t.Fatalf("%s UID %d: %v", folder, m.UID, err)
		}
		b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		c.Close()
		line, _, _ := bytes.Cut(b, []byte("\r\n"))
		id := strings.TrimSuffix(strings.TrimPrefix(string(line), "Message-Id: <"), ">")
		out[id] = append(out[id], m.UID)
	}
	return out
}

// audit checks the Maildir against the ledger: no acknowledged message
// lost, none twice, acknowledged UIDs kept, no UID given twice.
func (l *ledger) audit(t *testing.T, root string) {
	t.Helper()
	u, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	got := map[string]map[string][]uint32{}
	for _, f := range []string{"INBOX", "Archive", "Trash"} {
		got[f] = contents(t, u, f)
		for id, uids := range got[f] {
			if l.st[id] == nil {
				t.Errorf("%s: message %q nobody wrote", f, id)
			}
			for _, uid := range uids {
				l.claim(t, f, uid, id)
			}
		}
	}
	for id, s := range l.st {
		in, tr, ar := got["INBOX"][id], got["Trash"][id], got["Archive"][id]
		switch {
		case s.mda:
			if len(in) != 1 {
				t.Errorf("delivered %s: %d times in INBOX", id, len(in))
			}
			continue
		case s.pending == "A" || s.pending == "E":
			if len(in) > 1 {
				t.Errorf("%s (interrupted %s): %d times in INBOX", id, s.pending, len(in))
			}
		case s.pending == "M":
			if len(in)+len(tr) != 1 {
				t.Errorf("%s (interrupted MOVE): INBOX %v Trash %v", id, in, tr)
			}
		case s.appended && !s.moved && !s.expunged:
			if len(in) != 1 || in[0] != s.uid {
				t.Errorf("%s: INBOX UIDs %v, acknowledged %d", id, in, s.uid)
			}
		default:
			if len(in) != 0 {
				t.Errorf("%s (moved %v expunged %v): still in INBOX %v", id, s.moved, s.expunged, in)
			}
		}
		if s.moved && (len(tr) != 1 || tr[0] != s.trashUID) {
			t.Errorf("%s: Trash UIDs %v, acknowledged %d", id, tr, s.trashUID)
		}
		if !s.moved && s.pending != "M" && len(tr) != 0 {
			t.Errorf("%s: in Trash %v unmoved", id, tr)
		}
		extra := len(ar) - len(s.copies)
		if extra < 0 || extra > boolInt(s.pending == "C") {
			t.Errorf("%s: Archive UIDs %v, acknowledged copies %v", id, ar, s.copies)
		}
		for _, c := range s.copies {
			if !containsUID(ar, c) {
				t.Errorf("%s: acknowledged copy UID %d missing from %v", id, c, ar)
			}
		}
	}
	checkUidlists(t, root)
	t.Logf("audited %d messages: INBOX %d, Archive %d, Trash %d present",
		len(l.st), len(got["INBOX"]), len(got["Archive"]), len(got["Trash"]))
}

func containsUID(l []uint32, u uint32) bool {
	for _, x := range l {
		if x == u {
			return true
		}
	}
	return false
}

// checkUidlists: every uidlist parses, names each file once, and its next
// UID is above every UID in it.
func checkUidlists(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{root, filepath.Join(root, ".Archive"), filepath.Join(root, ".Trash")} {
		data, err := os.ReadFile(filepath.Join(d, uidlistName))
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		ul, err := parseUidlist(data)
		if err != nil {
			t.Errorf("%s: %v\n%s", d, err, data)
			continue
		}
		bases := map[string]uint32{}
		for _, r := range ul.recs {
			b, _ := splitName(r.name)
			if u, ok := bases[b]; ok {
				t.Errorf("%s: %s has UIDs %d and %d", d, b, u, r.uid)
			}
			bases[b] = r.uid
			if r.uid >= ul.nextUID {
				t.Errorf("%s: UID %d not below next %d", d, r.uid, ul.nextUID)
			}
		}
		// A killed holder's lock may remain, but must not block anyone.
		old := lockTimeout
		lockTimeout = 5 * time.Second
		l, err := lockDir(d)
		lockTimeout = old
		if err != nil {
			t.Errorf("%s: %v", d, err)
		} else {
			l.unlock()
		}
	}
}

// mda delivers n messages to INBOX/new as an MDA does (tmp/, rename to
// new/, no lock), then reports their ids.
func mda(root, prefix string, n int, done chan<- []string) {
	var ids []string
	defer func() { done <- ids }()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		name := fmt.Sprintf("%d.M%dP%dQ%d.mda", time.Now().Unix(), time.Now().Nanosecond()/1000, os.Getpid(), i)
		tmp := filepath.Join(root, "tmp", name)
		if os.WriteFile(tmp, body(id), 0o600) != nil || os.Rename(tmp, filepath.Join(root, "new", name)) != nil {
			return
		}
		ids = append(ids, id)
		if i%8 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func (l *ledger) delivered(ids []string) {
	for _, id := range ids {
		l.get(id).mda = true
	}
}
