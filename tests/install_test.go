package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// requireTools skips a test whose tools are missing, except under CI, which
// installs them (make test-deps) and must not skip what they check.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed, and CI=true: this test must not be skipped", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// treeSums lists every path under root with its type, mode and, for a
// file, its checksum: two trees with the same list are the same tree.
func treeSums(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += " " + hex.EncodeToString(s[:])
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffLists(a, b []string) string {
	in := map[string]int{}
	for _, s := range a {
		in[s]++
	}
	for _, s := range b {
		in[s]--
	}
	var d []string
	for s, n := range in {
		if n > 0 {
			d = append(d, "- "+s)
		} else if n < 0 {
			d = append(d, "+ "+s)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

var (
	debOnce sync.Once
	debPath string
	debErr  error
)

// madeDeb is the package `make deb` builds, as README.md says to run it
// (lintian included), in a fresh clone: built once per test run, for
// TestDebPackage and TestReadmeCommands, since it takes a minute or more.
func madeDeb(t *testing.T) string {
	t.Helper()
	requireTools(t, "make", "dpkg-buildpackage", "dh", "lintian")
	debOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imapd-deb-")
		if err != nil {
			debErr = err
			return
		}
		clone := filepath.Join(dir, "imapd")
		if out, err := exec.Command("git", "clone", "-q", repoRoot(), clone).CombinedOutput(); err != nil {
			debErr = fmt.Errorf("git clone: %v\n%s", err, out)
			return
		}
		start := time.Now()
		cmd := exec.Command("make", "deb")
		cmd.Dir = clone
		out, err := cmd.CombinedOutput()
		if err != nil {
			debErr = fmt.Errorf("make deb: %v\n%s", err, out)
			return
		}
		debs, _ := filepath.Glob(filepath.Join(clone, "bin", "deb", "imapd_*.deb"))
		if len(debs) != 1 {
			debErr = fmt.Errorf("make deb built %v\n%s", debs, out)
			return
		}
		debPath = debs[0]
		t.Logf("make deb (in a fresh clone, lintian included): %v\n%s", time.Since(start).Round(time.Second), firstLines(lastLines(string(out), 8), 8))
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return debPath
}

// lastLines is the end of s, n lines of it.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func runMake(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", repoRoot()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInstallStaged: `make install DESTDIR=` into a staging root that holds
// a snakeoil certificate as Debian's ssl-cert makes it; the staged server
// accepts its staged configuration; `make uninstall` leaves the root as it
// was, except for what an administrator changed.
func TestInstallStaged(t *testing.T) {
	requireTools(t, "make", "sha256sum")
	bin := binaries(t)
	stage := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"etc/ssl/certs", "etc/ssl/private"} {
		os.MkdirAll(filepath.Join(stage, d), 0o755)
	}
	crt, key, _ := testCert(t, filepath.Join(stage, "etc/ssl"), "snakeoil")
	os.Rename(crt, filepath.Join(stage, "etc/ssl/certs/ssl-cert-snakeoil.pem"))
	os.Rename(key, filepath.Join(stage, "etc/ssl/private/ssl-cert-snakeoil.key"))
	before := treeSums(t, stage)

	// -o build: the binaries are the ones the other tests run.
	out := runMake(t, "-o", "build", "install", "DESTDIR="+stage, "BIN="+bin)
	if !strings.Contains(out, "imapd installed into "+stage) {
		t.Errorf("make install says:\n%s", out)
	}

	// The shipped configuration, pointed into the staging root. As root,
	// imapd -n checks the preauth user too: this host need not have
	// _imapd, and the test must not add it.
	conf, err := os.ReadFile(filepath.Join(stage, "etc/imapd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	staged := string(conf)
	for _, r := range [][2]string{
		{`certdir = "/etc/ssl"`, `certdir = "` + stage + `/etc/ssl"`},
		{`preauth chroot "/var/empty"`, `preauth chroot "` + stage + `/var/empty"`},
		{`preauth user "_imapd"`, `preauth user "nobody"`},
		{`control socket "/run/imapd/control.sock"`, `control socket "` + t.TempDir() + `/control.sock"`},
	} {
		if !strings.Contains(staged, r[0]) {
			t.Fatalf("installed imapd.conf lacks %q", r[0])
		}
		staged = strings.Replace(staged, r[0], r[1], 1)
	}
	if !strings.Contains(staged, "tls certificate $certdir/certs/ssl-cert-snakeoil.pem key $certdir/private/ssl-cert-snakeoil.key\n") {
		t.Errorf("installed imapd.conf does not use the snakeoil certificate:\n%s", conf)
	}
	stagedConf := filepath.Join(t.TempDir(), "imapd.conf")
	os.WriteFile(stagedConf, []byte(staged), 0o644)
	imapd := filepath.Join(stage, "usr/local/sbin/imapd")
	out2, err := exec.Command(imapd, "-n", "-c", stagedConf).CombinedOutput()
	if err != nil {
		t.Fatalf("C: imapd -n -c %s\nS: %v\n%s", stagedConf, err, out2)
	}
	if want := `tls certificate "` + stage + `/etc/ssl/certs/ssl-cert-snakeoil.pem"`; !strings.Contains(string(out2), want) {
		t.Errorf("imapd -n prints no %s:\n%s", want, out2)
	}
	// A certificate that is not there is named with the line of its statement.
	os.WriteFile(stagedConf, []byte(strings.Replace(staged, "ssl-cert-snakeoil.pem", "none.pem", 1)), 0o644)
	out2, err = exec.Command(imapd, "-n", "-c", stagedConf).CombinedOutput()
	line := 1 + strings.Count(staged[:strings.Index(staged, "\ntls certificate ")+1], "\n")
	if want := fmt.Sprintf("%s:%d: tls certificate ", stagedConf, line); err == nil || !strings.HasPrefix(string(out2), want) {
		t.Errorf("imapd -n with a missing certificate: %v, want %q first:\n%s", err, want, out2)
	}
	if _, err := os.Stat(filepath.Join(stage, "etc/systemd/system/imapd.service")); err != nil {
		t.Errorf("unit of a /usr/local install: %v", err)
	}

	runMake(t, "uninstall", "DESTDIR="+stage)
	if d := diffLists(before, treeSums(t, stage)); d != "" {
		t.Errorf("make uninstall did not restore the staging root:\n%s", d)
	}

	// What the administrator changed stays; the rest goes.
	runMake(t, "-o", "build", "install", "DESTDIR="+stage, "BIN="+bin)
	confPath := filepath.Join(stage, "etc/imapd.conf")
	os.WriteFile(confPath, append(conf, "# changed by the admin\n"...), 0o644)
	out = runMake(t, "uninstall", "DESTDIR="+stage)
	if !strings.Contains(out, "kept "+confPath+" (changed since make install)") {
		t.Errorf("make uninstall says:\n%s", out)
	}
	want := append(append([]string{}, before...), "etc/imapd.conf -rw-r--r-- "+sha(append(conf, "# changed by the admin\n"...)))
	if d := diffLists(want, treeSums(t, stage)); d != "" {
		t.Errorf("after a changed imapd.conf, make uninstall left:\n%s", d)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hostState is what the package test must leave as it found it: the
// accounts and the dpkg database of the host.
func hostState(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
		"/var/lib/dpkg/status", "/etc/imapd.conf", "/etc/pam.d/imapd", "/lib/systemd/system/imapd.service",
		"/etc/systemd/system/imapd.service", "/usr/local/sbin/imapd", "/usr/local/share/imapd/installed"} {
		b, err := os.ReadFile(f)
		out = append(out, fmt.Sprintf("%s %v %s", f, err != nil, sha(b)))
	}
	return out
}

// throwawayRoot is the start of every script run by inThrowawayRoot: $M
// becomes an overlay over the host's root whose writes go to $U, so the
// host's files, accounts and dpkg database stay as they are; chroot "$M"
// and dpkg --root="$M" (which runs maintainer scripts chrooted there) act
// on it alone. The private network namespace gives a server a loopback of
// its own. $B keeps the accounts as the throwaway root starts with them.
const throwawayRoot = `set -eu
mount -t overlay overlay -o "lowerdir=/,upperdir=$U,workdir=$W" "$M"
mountpoint -q "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
for f in passwd group shadow gshadow; do cp "$M/etc/$f" "$B/" 2>/dev/null || true; done
ip link set lo up
# man-db's trigger would rebuild the whole index, twice: not what is tested.
rm -f "$M/var/lib/man-db/auto-update"
`

// inThrowawayRoot runs script (sh) after throwawayRoot in new mount and
// network namespaces, with env, and checks that the host did not change.
// It returns the script's output and its directory: upper/ holds what the
// script wrote, before/ the accounts the throwaway root started with.
func inThrowawayRoot(t *testing.T, script string, env ...string) (string, string) {
	t.Helper()
	requireRoot(t)
	requireTools(t, "unshare", "ip", "bash", "mountpoint")
	host := hostState(t)
	tmp := t.TempDir()
	u, w, m, b := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "root"), filepath.Join(tmp, "before")
	for _, d := range []string{u, w, m, b} {
		os.Mkdir(d, 0o755)
	}
	cmd := exec.Command("unshare", "--mount", "--net", "sh", "-c", throwawayRoot+script)
	cmd.Env = append(append(os.Environ(), "U="+u, "W="+w, "M="+m, "B="+b, "LOG="+filepath.Join(tmp, "imapd.log")), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s(%v)", out, time.Since(start).Round(time.Second))
	if err != nil {
		t.Errorf("in a throwaway root: %v", err)
	}
	if d := diffLists(host, hostState(t)); d != "" {
		t.Fatalf("the test changed the host:\n%s", d)
	}
	return string(out), tmp
}

// noTrace checks that what a script in dir wrote holds nothing of imapd,
// and that the accounts are as the throwaway root started with them.
func noTrace(t *testing.T, dir, after string) {
	t.Helper()
	upper := filepath.Join(dir, "upper")
	filepath.WalkDir(upper, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join(upper, "var/cache/man") {
			return filepath.SkipDir // man's cache of pages systemd-analyze read
		}
		if err == nil && strings.Contains(d.Name(), "imapd") {
			t.Errorf("%s left %s", after, strings.TrimPrefix(path, upper))
		}
		return nil
	})
	for _, f := range []string{"passwd", "group", "shadow", "gshadow"} {
		got, err := os.ReadFile(filepath.Join(upper, "etc", f))
		if err != nil {
			continue // never written
		}
		if want, _ := os.ReadFile(filepath.Join(dir, "before", f)); string(got) != string(want) {
			t.Errorf("after %s, /etc/%s differs from what it was:\n%s", after, f,
				diffLists(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
		}
	}
}

// startAndGreet starts the installed server $IMAPD as its unit would and
// reads its greeting on port 143 (through the chroot's bash).
const startAndGreet = `echo "C: imapd -c /etc/imapd.conf"
chroot "$M" "$IMAPD" -c /etc/imapd.conf 2>"$LOG" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
i=0
until chroot "$M" bash -c 'exec 3<>/dev/tcp/127.0.0.1/143 && head -c 4 <&3' 2>/dev/null | grep -q '^\* OK'; do
	i=$((i + 1))
	if [ $i -ge 50 ]; then
		echo "no greeting on port 143 in 10 s"
		cat "$LOG"
		exit 1
	fi
	sleep 0.2
done
echo "S: * OK on port 143"
eval "${WHILE_RUNNING:-}"
kill -TERM $pid
wait $pid || true
# systemd removes the unit's RuntimeDirectory when it stops.
rm -rf "$M/run/imapd"
`

// TestInstallReal: `make install` and `make uninstall` as root without
// DESTDIR, in a throwaway root: the _imapd user is created and removed,
// the installed server starts, uninstall refuses while it runs, and once it
// has stopped nothing of it remains.
func TestInstallReal(t *testing.T) {
	requireTools(t, "make", "sha256sum", "systemd-analyze")
	bin := binaries(t)
	out, dir := inThrowawayRoot(t, `echo "C: make install"
chroot "$M" make -C "$REPO" -o build install BIN="$BIN"
echo "C: getent passwd _imapd"
chroot "$M" getent passwd _imapd
echo "C: imapd -n"
chroot "$M" /usr/local/sbin/imapd -n >/dev/null
echo "C: systemd-analyze verify imapd.service"
chroot "$M" systemd-analyze verify /etc/systemd/system/imapd.service
`+startAndGreet+`echo "C: make uninstall"
chroot "$M" make -C "$REPO" uninstall
`, "REPO="+repoRoot(), "BIN="+bin, "IMAPD=/usr/local/sbin/imapd",
		`WHILE_RUNNING=echo "C: make uninstall (imapd running)"
if chroot "$M" make -C "$REPO" uninstall; then echo "make uninstall did not refuse"; exit 1; fi`)
	for _, want := range []string{"systemctl daemon-reload && systemctl enable --now imapd",
		"uninstall: imapd is running (processes of _imapd): stop it first", "imapd uninstalled from /usr/local"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	noTrace(t, dir, "make uninstall")
}

// pkgScript installs, checks, starts and purges the package $DEB.
const pkgScript = `echo "C: dpkg --root=M -i imapd.deb"
dpkg --root="$M" -i "$DEB"
echo "C: getent passwd _imapd"
chroot "$M" getent passwd _imapd
echo "C: imapd -n"
chroot "$M" /usr/sbin/imapd -n >/dev/null
echo "C: systemd-analyze verify imapd.service"
chroot "$M" systemd-analyze verify /lib/systemd/system/imapd.service
` + startAndGreet + `echo "C: dpkg --root=M --purge imapd"
dpkg --root="$M" --purge imapd
case $(dpkg-query --root="$M" -W -f='${db:Status-Abbrev}' imapd 2>/dev/null || true) in
"" | un*) ;;
*) echo "dpkg still lists imapd"; exit 1 ;;
esac
echo "S: purged"
`

// TestDebPackage: `make deb` builds the package; installed with dpkg into a
// throwaway root, its maintainer scripts create _imapd, the installed server
// passes imapd -n and greets on port 143, and dpkg --purge leaves nothing
// behind: no file of it and the accounts as they were.
func TestDebPackage(t *testing.T) {
	requireRoot(t)
	requireTools(t, "make", "dpkg-buildpackage", "dh", "systemd-analyze")
	debs := []string{madeDeb(t)}
	list, err := exec.Command("dpkg-deb", "--contents", debs[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, list)
	}
	for _, f := range []string{"./usr/sbin/imapd", "./usr/sbin/imapd-authd", "./usr/bin/imapctl",
		"./usr/share/man/man8/imapd.8.gz", "./usr/share/man/man8/imapctl.8.gz", "./usr/share/man/man5/imapd.conf.5.gz",
		"./etc/imapd.conf", "./etc/pam.d/imapd", "./lib/systemd/system/imapd.service", "./var/lib/imapd/empty/"} {
		if !strings.Contains(string(list), " "+f+"\n") {
			t.Errorf("package lacks %s:\n%s", f, list)
		}
	}
	conffiles, _ := exec.Command("dpkg-deb", "--info", debs[0], "conffiles").Output()
	if string(conffiles) != "/etc/imapd.conf\n/etc/pam.d/imapd\n" {
		t.Errorf("conffiles: %q", conffiles)
	}

	_, dir := inThrowawayRoot(t, pkgScript, "DEB="+debs[0], "IMAPD=/usr/sbin/imapd")
	noTrace(t, dir, "dpkg --purge")
}
