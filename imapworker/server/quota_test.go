package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"imapd/imapworker/store"
	"imapd/imapworker/store/maildir"
)

// quotaMsg is a message of exactly n octets.
func quotaMsg(n int) string {
	h := "Subject: q\r\n\r\n"
	return h + strings.Repeat("x", n-len(h)-2) + "\r\n"
}

// RFC 9208 §4.1 and §5: GETQUOTAROOT, GETQUOTA, STORAGE in units of 1024
// octets and MESSAGE, both enforced. The account is filled through
// APPEND, COPY and a delivery the session did not make (deliver); at
// every step the usage reported is the sum of the message sizes, and
// what would go over the limit answers NO [OVERQUOTA] and stores nothing.
func testQuota(t *testing.T, deliver func(ts *testServer, msg string)) {
	ts := newTestServer(t)
	ts.setSession(func(c *SessionConfig) { c.Quota = Quota{Storage: 2048, Messages: 5} })
	c := ts.login("alice")
	if un, _ := c.do("a0 CAPABILITY"); !strings.Contains(un[0], " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE") {
		t.Fatalf("QUOTA not advertised: %q", un)
	}
	used, count := 0, 0
	check := func(tag string) {
		t.Helper()
		c.expectDo(tag+" GETQUOTAROOT INBOX", `* QUOTAROOT INBOX ""`,
			fmt.Sprintf(`* QUOTA "" (STORAGE %d 2 MESSAGE %d 5)`, (used+1023)/1024, count), tag+" OK GETQUOTAROOT completed")
		c.expectDo(tag+` GETQUOTA ""`, fmt.Sprintf(`* QUOTA "" (STORAGE %d 2 MESSAGE %d 5)`, (used+1023)/1024, count),
			tag+" OK GETQUOTA completed")
	}
	appendMsg := func(tag string, n int, want ...string) {
		t.Helper()
		c.expectDo(fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s", tag, n, quotaMsg(n)), want...)
	}
	check("q0")
	appendMsg("a1", 600, `~a1 OK \[APPENDUID \d+ 1\] APPEND completed`)
	used, count = used+600, count+1
	check("q1")
	deliver(ts, quotaMsg(500))
	used, count = used+500, count+1
	check("q2")
	selectInbox(c)
	c.expectDo("c1 COPY 1 INBOX", "* 3 EXISTS", `~\* \d+ RECENT`, `~c1 OK \[COPYUID \d+ 1 3\] COPY completed`)
	used, count = used+600, count+1
	check("q3")
	c.expectDo("c2 COPY 1 INBOX", "c2 NO [OVERQUOTA] quota exceeded")
	appendMsg("a2", 400, "a2 NO [OVERQUOTA] quota exceeded")
	check("q4")
	appendMsg("a3", 300, "* 4 EXISTS", `~\* \d+ RECENT`, `~a3 OK \[APPENDUID \d+ 4\] APPEND completed`)
	used, count = used+300, count+1
	// MULTIAPPEND: all or none, by size and by count.
	c.expectDo("a4 APPEND INBOX {20+}\r\n"+quotaMsg(20)+" {20+}\r\n"+quotaMsg(20), "a4 NO [OVERQUOTA] quota exceeded")
	check("q5")
	// MOVE within the root adds nothing; REPLACE counts the net use.
	c.expectDo("m1 MOVE 4 Trash", `~\* OK \[COPYUID \d+ 4 1\] Moved`, "* 4 EXPUNGE", "m1 OK MOVE completed")
	check("q6")
	c.expectDo("r1 REPLACE 1 INBOX {700+}\r\n"+quotaMsg(700), "r1 NO [OVERQUOTA] quota exceeded")
	c.expectDo("r2 REPLACE 1 INBOX {640+}\r\n"+quotaMsg(640), `~\* OK \[APPENDUID \d+ 5\] Replacement Message ready`,
		"* 1 EXPUNGE", "* 3 EXISTS", `~\* \d+ RECENT`, "r2 OK REPLACE completed")
	used += 40
	check("q7")
	// Limits are the administrator's; there is one root.
	c.expectDo(`s1 SETQUOTA "" (STORAGE 10)`, "s1 NO [NOPERM] quota limits are set by the administrator")
	c.expectDo(`s2 GETQUOTA "#user/alice"`, "s2 NO [NONEXISTENT] no such quota root")
	c.expectDo("s3 GETQUOTAROOT NewBox", `* QUOTAROOT NewBox ""`, `~\* QUOTA "" .*`, "s3 OK GETQUOTAROOT completed")
	// RFC 9208 §4.2: DELETED-STORAGE, as the sum of RFC822.SIZE.
	c.expectDo(`d1 STORE 1:2 +FLAGS.SILENT (\Deleted)`, "d1 OK STORE completed")
	c.expectDo("d2 STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)", "* STATUS INBOX (MESSAGES 3 DELETED 2 DELETED-STORAGE 1100)", "d2 OK STATUS completed")
}

func TestQuota(t *testing.T) {
	testQuota(t, func(ts *testServer, msg string) {
		u, _ := ts.backend.Open("alice")
		if _, _, err := u.Append("INBOX", store.Flags{}, time.Time{}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	})
}

// On Maildir, the delivery is a file an MDA drops into new/.
func TestQuotaMaildirDelivery(t *testing.T) {
	old := newBackend
	t.Cleanup(func() { newBackend = old })
	dir := t.TempDir()
	newBackend = func(tb testing.TB) store.Backend {
		return maildir.NewBackend(func(user string) (string, error) {
			return filepath.Join(dir, user, "Maildir"), nil
		}, maildir.Options{})
	}
	testQuota(t, func(ts *testServer, msg string) {
		p := filepath.Join(dir, "alice", "Maildir", "new", fmt.Sprintf("%d.mda.host", time.Now().UnixNano()))
		if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	})
}

// Without limits, GETQUOTAROOT names no root (RFC 9208 §4.1.2).
func TestQuotaNone(t *testing.T) {
	ts := newTestServer(t)
	c := ts.login("alice")
	c.expectDo("g1 GETQUOTAROOT INBOX", "* QUOTAROOT INBOX", "g1 OK GETQUOTAROOT completed")
	c.expectDo(`g2 GETQUOTA ""`, "g2 NO [NONEXISTENT] no such quota root")
}

// go-imap v2's client reads GETQUOTAROOT and GETQUOTA, and sees SETQUOTA
// refused.
func TestQuotaGoIMAP(t *testing.T) {
	ts := newTestServer(t)
	ts.setSession(func(c *SessionConfig) { c.Quota = Quota{Storage: 10 << 10, Messages: 100} })
	seed(t, ts, quotaMsg(1500), quotaMsg(600))
	cl, err := imapclient.DialInsecure(ts.ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Login("alice", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if !cl.Caps().Has(goimap.CapQuota) || !cl.Caps().Has(goimap.Cap("QUOTA=RES-STORAGE")) {
		t.Fatalf("caps %v", cl.Caps())
	}
	roots, err := cl.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0].Root != "" {
		t.Fatalf("roots %+v", roots)
	}
	st, msg := roots[0].Resources[goimap.QuotaResourceStorage], roots[0].Resources[goimap.QuotaResourceMessage]
	if st.Usage != 3 || st.Limit != 10 || msg.Usage != 2 || msg.Limit != 100 {
		t.Errorf("quota %+v", roots[0].Resources)
	}
	q, err := cl.GetQuota("").Wait()
	if err != nil || q.Resources[goimap.QuotaResourceMessage].Usage != 2 {
		t.Errorf("GETQUOTA: %+v %v", q, err)
	}
	if err := cl.SetQuota("", map[goimap.QuotaResourceType]int64{goimap.QuotaResourceStorage: 1}).Wait(); err == nil {
		t.Error("SETQUOTA accepted")
	}
	// APPEND over the limit: refused, OVERQUOTA.
	big := quotaMsg(9 << 10)
	a := cl.Append("INBOX", int64(len(big)), nil)
	a.Write([]byte(big))
	a.Close()
	if _, err := a.Wait(); err == nil || !strings.Contains(err.Error(), "OVERQUOTA") {
		t.Errorf("APPEND over quota: %v", err)
	}
}
