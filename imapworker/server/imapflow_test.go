package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestImapflow drives the server with Node's imapflow (pinned in
// tests/node; `cd tests/node && npm ci`): it reads QUOTA, appends and
// fetches a message, compressed: imapflow turns COMPRESS=DEFLATE on by
// itself when it is advertised (RFC 4978). Skipped without node or the module, unless CI=true.
func TestImapflow(t *testing.T) {
	modules, _ := filepath.Abs("../../tests/node/node_modules")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(modules, "imapflow"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run this test: %v", err)
		}
		t.Skipf("imapflow not installed: %v", err)
	}
	ts := newTestServer(t)
	ts.setSession(func(c *SessionConfig) { c.Quota = Quota{Storage: 1 << 20, Messages: 10} })
	cmd := exec.Command(node, "testdata/imapflow.js", ts.ln.Addr().String())
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	outb, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("imapflow: %v\n%s", err, msg)
	}
	type res struct {
		Usage, Limit int64
	}
	var out struct {
		Compress   bool
		Quota      struct{ Storage, Message res }
		Append     struct{ UID uint32 }
		SourceOK   bool
		Flags      []string
		QuotaAfter struct{ Storage, Message res }
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	if !out.Compress {
		t.Error("imapflow did not turn COMPRESS=DEFLATE on")
	}
	if out.Quota.Storage.Limit != 1<<20 || out.Quota.Message.Limit != 10 || out.Quota.Message.Usage != 0 {
		t.Errorf("quota before: %+v", out.Quota)
	}
	if out.Append.UID != 1 || !out.SourceOK || len(out.Flags) != 1 || out.Flags[0] != `\Seen` {
		t.Errorf("append/fetch: %s", outb)
	}
	if out.QuotaAfter.Message.Usage != 1 || out.QuotaAfter.Storage.Usage != 32*1024 {
		t.Errorf("quota after: %+v", out.QuotaAfter)
	}
}
