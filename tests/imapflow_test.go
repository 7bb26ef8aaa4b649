package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// flowResult is what tests/node/qresync.mjs prints.
type flowResult struct {
	Enabled       []string `json:"enabled"`
	QResync       bool     `json:"qresync"`
	UIDValidity   string   `json:"uidValidity"`
	HighestModseq string   `json:"highestModseq"`
	Vanished      []uint32 `json:"vanished"`
	FetchVanished []uint32 `json:"fetchVanished"`
	Flags         map[string]struct {
		Flags  []string `json:"flags"`
		Modseq string   `json:"modseq"`
	} `json:"flags"`
	Changed map[string]struct {
		Flags  []string `json:"flags"`
		Modseq string   `json:"modseq"`
	} `json:"changed"`
}

func runImapflow(t *testing.T, s *server, args ...string) flowResult {
	t.Helper()
	dir := filepath.Join(repoRoot(), "tests", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "imapflow")); err != nil {
		t.Fatal("imapflow not installed: cd tests/node && npm ci (make test-deps does it)")
	}
	cmd := exec.Command("node", append([]string{"qresync.mjs"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("IMAP_PORT=%d", s.port), "IMAP_USER=dcuser", "IMAP_PASS=dcuser-pw")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node qresync.mjs %v: %v\n%s", args, err, out)
	}
	var r flowResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node qresync.mjs %v: %v\n%s", args, err, out)
	}
	return r
}

// Issue 12, what it must show 3: Node's imapflow, with its QRESYNC
// support on, resyncs from a state it saved: its flags and expunge events
// after SELECT (QRESYNC ...) and its changedSince fetch name exactly what
// changed, checked against what the server holds.
func TestImapflowQResync(t *testing.T) {
	requireRoot(t)
	freshDcUser(t)
	s := startServer(t, dcImapdConf)
	c := login(t, s, "dcuser", "dcuser-pw")
	for i := 1; i <= 5; i++ {
		c.appendMsg(fmt.Sprintf("p%d", i), "INBOX", `(\Seen)`, dcMessage(i, ""))
	}
	before := runImapflow(t, s, "state")
	if !slices.Contains(before.Enabled, "QRESYNC") || before.HighestModseq == "" || before.HighestModseq == "0" {
		t.Fatalf("imapflow state %+v", before)
	}

	c.C("c1 SELECT INBOX")
	c.S("c1 OK")
	c.C(`c2 UID STORE 2 +FLAGS.SILENT (\Flagged $Important)`)
	c.S("c2 OK")
	c.C(`c3 UID STORE 4 +FLAGS.SILENT (\Deleted)`)
	c.S("c3 OK")
	c.C("c4 EXPUNGE")
	c.S("c4 OK")
	c.C("c5 UNSELECT")
	c.S("c5 OK")
	c.C("c6 STATUS INBOX (HIGHESTMODSEQ UIDVALIDITY)")
	st := strings.Join(c.S("c6 OK"), "\n")
	m := regexp.MustCompile(`HIGHESTMODSEQ (\d+) UIDVALIDITY (\d+)`).FindStringSubmatch(st)
	if m == nil {
		t.Fatalf("STATUS: %s", st)
	}

	after := runImapflow(t, s, "resync", before.UIDValidity, before.HighestModseq)
	if !after.QResync || after.UIDValidity != m[2] || after.HighestModseq != m[1] {
		t.Errorf("imapflow resync: qresync %v UIDVALIDITY %s HIGHESTMODSEQ %s; server holds %s %s", after.QResync, after.UIDValidity, after.HighestModseq, m[2], m[1])
	}
	if !slices.Equal(after.Vanished, []uint32{4}) {
		t.Errorf("imapflow expunge events at SELECT for UIDs %v, want [4]", after.Vanished)
	}
	// imapflow's fetch with changedSince adds VANISHED (RFC 7162 §3.2.6).
	if len(after.FetchVanished) != 0 && !slices.Equal(after.FetchVanished, []uint32{4}) {
		t.Errorf("imapflow expunge events in its fetch for UIDs %v, want none or [4]", after.FetchVanished)
	}
	want := []string{"$Important", `\Flagged`, `\Seen`}
	if f, ok := after.Flags["2"]; len(after.Flags) != 1 || !ok || !slices.Equal(f.Flags, want) {
		t.Errorf("imapflow flags events %+v, want UID 2 only with %v", after.Flags, want)
	}
	if f, ok := after.Changed["2"]; len(after.Changed) != 1 || !ok || !slices.Equal(f.Flags, want) || f.Modseq == before.HighestModseq {
		t.Errorf("imapflow changedSince fetch %+v, want UID 2 only with %v", after.Changed, want)
	}
	// The server holds that mod-sequence for UID 2.
	c.C("c7 SELECT INBOX (CONDSTORE)")
	c.S("c7 OK")
	c.C("c8 UID FETCH 2 (MODSEQ)")
	if l := strings.Join(c.S("c8 OK"), "\n"); !strings.Contains(l, "MODSEQ ("+after.Changed["2"].Modseq+")") {
		t.Errorf("server: %s; imapflow saw MODSEQ %s", l, after.Changed["2"].Modseq)
	}
}
