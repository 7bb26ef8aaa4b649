package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"imapd/authd/ticket"
	"imapd/parent/control"
)

// The proxy tier end to end (docs/cluster.md): one proxy in the hermetic
// network namespace and three backends, each in a network namespace of its
// own reached over a veth pair (10.99.N.2; on a kernel without veth, on
// loopback addresses 127.0.0.2-4 instead); the backends share one Maildir
// directory (one mount namespace for all, so no bind mount is needed).
// Clients reach the proxy over TLS; the proxy reaches the backends by
// STARTTLS verified against a test CA.

const proxySecret = "0123456789abcdef0123456789abcdef"

// backendCA writes a CA and one certificate for the backends' addresses,
// signed by it; it returns the files.
func backendCA(t *testing.T, dir string, ips ...string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "backend CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "backend"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "backend.crt"), filepath.Join(dir, "backend.key")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return caFile, certFile, keyFile
}

type proxyCluster struct {
	t        *testing.T
	proxy    *server
	backends map[string]*server
	confs    map[string]string // backend -> its configuration, to restart it
	addrs    map[string]string
	tlsAddr  string // the proxy's implicit-TLS listener
	netns    bool   // each backend in a network namespace of its own
}

func waitGreeting(t *testing.T, s *server, addr string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "* OK") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not serve:\n%s", addr, s.log.String())
		}
	}
}

// backendNetns makes network namespace name with a veth pair to ours: our
// side 10.99.N.1 (the proxy's address) and 10.99.N.9 (a stranger's), its
// side 10.99.N.2 (the backend's). False when the kernel or ip(8) cannot.
func backendNetns(t *testing.T, name string, n int) bool {
	t.Helper()
	host, peer := fmt.Sprintf("vpx%d", n), fmt.Sprintf("10.99.%d.", n)
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"addr", "add", peer + "1/24", "dev", host},
		{"addr", "add", peer + "9/24", "dev", host},
		{"link", "set", host, "up"},
		{"-n", name, "addr", "add", peer + "2/24", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Logf("ip %s: %v %s", strings.Join(args, " "), err, out)
			return false
		}
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return true
}

// inNetns runs f on an OS thread that joined network namespace name, so
// that the processes f starts live there; the thread ends with f.
func inNetns(t *testing.T, name string, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		ns, err := os.Open("/run/netns/" + name)
		if err == nil {
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
		}
		if err == nil {
			f()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("network namespace %s: %v", name, err)
	}
}

func (pc *proxyCluster) startBackend(name string) *server {
	t := pc.t
	var s *server
	if pc.netns {
		inNetns(t, "px"+name, func() { s = startServerNoWait(t, pc.confs[name]) })
	} else {
		s = startServerNoWait(t, pc.confs[name])
	}
	waitGreeting(t, s, pc.addrs[name])
	return s
}

func ctl(t *testing.T, s *server) *control.Client {
	t.Helper()
	c, err := control.Dial(filepath.Join(s.dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// where maps each user with a session to the backends serving them, from
// each backend's imapctl who.
func (pc *proxyCluster) where() map[string][]string {
	out := map[string][]string{}
	for name, s := range pc.backends {
		if s == nil {
			continue
		}
		who, err := ctl(pc.t, s).Who()
		if err != nil {
			continue // a killed backend
		}
		seen := map[string]bool{}
		for _, w := range who {
			if w.State == "session" && !seen[w.User] {
				seen[w.User] = true
				out[w.User] = append(out[w.User], name)
			}
		}
	}
	return out
}

// login logs user in through the proxy over TLS.
func (pc *proxyCluster) login(user string) *client {
	c := dialTLS(pc.t, pc.tlsAddr)
	c.C("a1 LOGIN " + user + " pw-" + user)
	if l := c.S("a1 "); !strings.HasPrefix(l[len(l)-1], "a1 OK [CAPABILITY") {
		pc.t.Fatalf("login %s: %q", user, l)
	}
	return c
}

func appendMsg(c *client, tag, user string, n int) string {
	msg := fmt.Sprintf("From: %s@example.org\r\nSubject: note %d\r\n\r\nbody %d\r\n", user, n, n)
	c.C(fmt.Sprintf("%s APPEND INBOX {%d}", tag, len(msg)))
	c.S("+")
	c.raw(msg + "\r\n")
	l := c.S(tag + " ")
	last := l[len(l)-1]
	if !strings.HasPrefix(last, tag+" OK [APPENDUID ") {
		c.t.Fatalf("append: %q", l)
	}
	return strings.Fields(strings.TrimSuffix(strings.Fields(last)[4], "]"))[0]
}

func TestProxyTier(t *testing.T) {
	requireRoot(t)
	ensureSystemSetup(t)
	mu := ensureUser(t, "proxymail", "unused-pw")
	uid, _ := strconv.Atoi(mu.Uid)
	gid, _ := strconv.Atoi(mu.Gid)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755) // the mailbox workers reach the shared Maildir through it
	shared := filepath.Join(dir, "shared")
	os.Mkdir(shared, 0o755)
	os.Chown(shared, uid, gid)
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(proxySecret+"\n"), 0o600)
	var users []string
	var pw strings.Builder
	for i := range 30 {
		u := fmt.Sprintf("u%02d", i)
		users = append(users, u)
		fmt.Fprintf(&pw, "%s:{PLAIN}pw-%s:%s:%s::/nonexistent\n", u, u, mu.Uid, mu.Gid)
	}
	// One more user, whose passwd-file entry names a backend.
	fmt.Fprintf(&pw, "fixed:{PLAIN}pw-fixed:%s:%s::/nonexistent::host=b3\n", mu.Uid, mu.Gid)
	pwFile := filepath.Join(dir, "passwd")
	os.WriteFile(pwFile, []byte(pw.String()), 0o644)
	caFile, bCert, bKey := backendCA(t, dir, "127.0.0.2", "127.0.0.3", "127.0.0.4", "10.99.1.2", "10.99.2.2", "10.99.3.2")
	pCert, pKey, _ := testCert(t, dir, "localhost")

	pc := &proxyCluster{t: t, backends: map[string]*server{}, confs: map[string]string{}, addrs: map[string]string{}}
	// Each backend in its own network namespace, reached over a veth pair;
	// where the kernel cannot, on loopback addresses 127.0.0.2-4 of ours.
	pc.netns = true
	for i, name := range []string{"b1", "b2", "b3"} {
		pc.netns = pc.netns && backendNetns(t, "px"+name, i+1)
	}
	trusted, stranger := "127.0.0.1", "127.0.0.9"
	if pc.netns {
		trusted, stranger = "10.99.1.1 10.99.2.1 10.99.3.1", "10.99.1.9"
	}
	t.Logf("backends in network namespaces of their own: %v", pc.netns)
	var ring strings.Builder
	for i, name := range []string{"b1", "b2", "b3"} {
		addr := fmt.Sprintf("127.0.0.%d:%d", i+2, freePort(t))
		if pc.netns {
			addr = fmt.Sprintf("10.99.%d.2:%d", i+1, freePort(t))
		}
		host, port, _ := net.SplitHostPort(addr)
		pc.addrs[name] = addr
		// Backends: STARTTLS only (no cleartext login even from loopback),
		// default connection limits (the trusted proxy is exempt).
		pc.confs[name] = fmt.Sprintf(`listen on %s port %s starttls
tls certificate %q key %q
storage maildir %q shared
auth passwd-file %q
preauth workers 1
plaintext auth deny
proxy secret %q
proxy trusted %s
control socket "%%DIR%%/control.sock"
`, host, port, bCert, bKey, shared, pwFile, secret, trusted)
		pc.backends[name] = pc.startBackend(name)
		fmt.Fprintf(&ring, "proxy backend %s address %s\n", name, addr)
	}
	tlsPort := freePort(t)
	pc.tlsAddr = fmt.Sprintf("127.0.0.1:%d", tlsPort)
	pc.proxy = startServer(t, fmt.Sprintf(`listen on 127.0.0.1 port %%PORT%% plain
listen on 127.0.0.1 port %d tls
tls certificate %q key %q
auth passwd-file %q
preauth workers 2
limit connections per ip 1000
proxy secret %q
proxy tls ca %q
proxy check interval 1
control socket "%%DIR%%/control.sock"
`, tlsPort, pCert, pKey, pwFile, secret, caFile)+ring.String())

	// 30 users log in through the proxy, ten of them twice: every user's
	// sessions are on exactly one backend.
	sessions := map[string]*client{}
	second := map[string]*client{}
	uids := map[string]string{}
	for i, u := range users {
		c := pc.login(u)
		sessions[u] = c
		uids[u] = appendMsg(c, "a2", u, 1)
		if i < 10 {
			second[u] = pc.login(u)
		}
	}
	where := pc.where()
	perBackend := map[string]int{}
	for _, u := range users {
		if len(where[u]) != 1 {
			t.Fatalf("user %s is served by %v, want exactly one backend", u, where[u])
		}
		perBackend[where[u][0]]++
	}
	t.Logf("users per backend: %v", perBackend)
	pc.login("fixed")
	if w := pc.where()["fixed"]; len(w) != 1 || w[0] != "b3" {
		t.Errorf("user with host=b3 served by %v", w)
	}
	if !pc.proxy.logged("backend_tls=true") || strings.Contains(pc.proxy.log.String(), "backend_tls=false") {
		t.Error("a relay to a backend did not use TLS")
	}
	st, err := ctl(t, pc.proxy).Status()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	perBackend["b3"]++ // fixed
	for _, b := range st.ProxyBackends {
		total += int(b.Users)
		if !b.Healthy || int(b.Users) != perBackend[b.Name] {
			t.Errorf("imapctl status: %s healthy %v users %d, backends' who say %d", b.Name, b.Healthy, b.Users, perBackend[b.Name])
		}
	}
	if total != 31 {
		t.Errorf("imapctl status counts %d users, want 31", total)
	}

	// IDLE through the proxy sees another session's APPEND.
	// C: i1 IDLE / S: + idling / (another session appends) / S: * 2 EXISTS
	u := users[0]
	idler := second[u]
	idler.C("s1 SELECT INBOX")
	idler.S("s1 OK")
	idler.C("i1 IDLE")
	idler.S("+")
	uids[u+"#2"] = appendMsg(sessions[u], "a3", u, 2)
	idler.S("* 2 EXISTS")
	idler.C("DONE")
	idler.S("i1 OK")

	// FETCH through the proxy.
	c := sessions[u]
	c.C("f1 SELECT INBOX")
	c.S("f1 OK")
	c.C("f2 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	if l := strings.Join(c.S("f2 OK"), "\n"); !strings.Contains(l, "note 1") || !strings.Contains(l, "note 2") {
		t.Errorf("fetch through the proxy: %s", l)
	}

	// A forwarded login from an address that is not a trusted proxy:
	// C: a1 ID ("x-originating-ip" "198.51.100.7") / C: a2 AUTHENTICATE PLAIN ...
	// S: a2 NO [AUTHENTICATIONFAILED]
	b1 := pc.backends["b1"]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(stranger)}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", pc.addrs["b1"])
	if err != nil {
		t.Fatal(err)
	}
	fc := &client{t: t, conn: raw, r: bufio.NewReader(raw)}
	fc.S("* OK")
	fc.C("a0 STARTTLS")
	fc.S("a0 OK")
	fc.starttls()
	fc.C(`a1 ID ("x-originating-ip" "198.51.100.7" "x-originating-port" "40001")`)
	fc.S("a1 OK")
	// A valid ticket, even: only the address is wrong.
	tk := ticket.Make([]byte(proxySecret), "u01", "198.51.100.7", time.Now())
	fc.C("a2 AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("u01\x00proxy\x00"+tk)))
	if l := fc.S("a2 "); !strings.HasPrefix(l[len(l)-1], "a2 NO [AUTHENTICATIONFAILED]") {
		t.Errorf("forwarded login from %s: %q", stranger, l)
	}
	raw.Close()
	if !b1.logged("not a trusted proxy") || !b1.logged("client=198.51.100.7:0") {
		t.Errorf("b1 did not log the refused forwarded login with the client's address")
	}
	bst, _ := ctl(t, b1).Status()
	pen := map[string]bool{}
	for _, p := range bst.GetAuth().GetPenalised() {
		pen[p.Addr] = true
	}
	if !pen["198.51.100.7"] || !pen[stranger] {
		t.Errorf("b1 penalised %v, want the forwarded 198.51.100.7 and the connecting %s", bst.GetAuth().GetPenalised(), stranger)
	}

	// Kill the backend of users[0]: its users' next logins land on another
	// backend within 5 s and see their mail with the same UIDs.
	dead := where[u][0]
	var moved []string
	for _, v := range users {
		if where[v][0] == dead {
			moved = append(moved, v)
		}
	}
	pc.backends[dead].cmd.Process.Kill()
	<-pc.backends[dead].exited
	killed := time.Now()
	for {
		c := dialTLS(t, pc.tlsAddr)
		c.C("a1 LOGIN " + u + " pw-" + u)
		l := c.S("a1 ")
		c.conn.Close()
		if strings.HasPrefix(l[len(l)-1], "a1 OK") {
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("no login for %s within 5 s of killing %s: %q", u, dead, l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s's first login after killing %s took %v", u, dead, time.Since(killed).Round(time.Millisecond))
	if time.Since(killed) > 5*time.Second {
		t.Errorf("took longer than 5 s")
	}
	pc.backends[dead] = nil
	interim := map[string]*client{}
	for _, v := range moved {
		c := pc.login(v)
		c.C("s1 SELECT INBOX")
		c.S("s1 OK")
		c.C("s2 UID FETCH 1 (UID)")
		if l := strings.Join(c.S("s2 OK"), "\n"); !strings.Contains(l, "(UID "+uids[v]+")") {
			t.Errorf("%s after the move: %s, want UID %s", v, l, uids[v])
		}
		interim[v] = c
	}
	now := pc.where()
	for _, v := range moved {
		if len(now[v]) != 1 || now[v][0] == dead {
			t.Errorf("%s after %s died: served by %v", v, dead, now[v])
		}
	}

	// The backend returns: the moved users are kicked from the interim
	// backend (their sessions end), then log in on their own backend again.
	pc.backends[dead] = pc.startBackend(dead)
	if !pc.proxy.logged("backend up: back in the ring") {
		t.Fatal("the proxy did not see the backend return")
	}
	for _, v := range moved {
		if _, err := interim[v].readUntil("never", 5*time.Second); err == nil || strings.Contains(err.Error(), "timeout") {
			t.Errorf("%s's session on the interim backend was not ended: %v", v, err)
		}
	}
	for _, v := range moved {
		pc.login(v)
	}
	back := pc.where()
	for _, v := range moved {
		if len(back[v]) != 1 || back[v][0] != dead {
			t.Errorf("%s after %s returned: served by %v, want %s only", v, dead, back[v], dead)
		}
	}

	// imapctl move pins a user elsewhere and kicks their sessions first.
	other := "b1"
	if dead == "b1" {
		other = "b2"
	}
	mc := ctl(t, pc.proxy)
	if msg, err := mc.Move(moved[0], other); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("imapctl move %s %s: %s", moved[0], other, msg)
	}
	pc.login(moved[0])
	if w := pc.where()[moved[0]]; len(w) != 1 || w[0] != other {
		t.Errorf("after imapctl move %s %s: served by %v", moved[0], other, w)
	}
	st, _ = mc.Status()
	for _, b := range st.ProxyBackends {
		if b.Name == other && !strings.Contains(strings.Join(b.Pinned, ","), moved[0]) {
			t.Errorf("status does not show %s pinned to %s: %v", moved[0], other, b.Pinned)
		}
	}
}
