package authd

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"imapd/ipc"
	pb "imapd/proto"
)

// authd confines itself once it knows its backend, unless it runs as root
// (PAM without `auth pam ... user NAME`: pam_unix and other modules need
// root). docs/security.md, "authd": no-new-privs, Landlock read-only over
// what it reads, the authd seccomp allowlist, not dumpable.
//
// authd links cgo, where one thread's Landlock cannot be spread to the
// others (ipc/sandbox_authd.go): it restricts one thread and execs itself
// from it, passing its setup and channel on in the environment.
const (
	envSetup    = "IMAPD_AUTHD_SETUP"    // base64 of the AuthdSetup, in the re-executed authd
	envChannel  = "IMAPD_AUTHD_CHANNEL"  // its channel's descriptor
	envLandlock = "IMAPD_AUTHD_LANDLOCK" // the Landlock ABI the first image applied
)

// ChannelFD is the descriptor of authd's channel to the parent: 3 as the
// parent starts it, another once authd has re-executed itself.
func ChannelFD() int {
	if n, err := strconv.Atoi(os.Getenv(envChannel)); err == nil && n > 2 {
		return n
	}
	return 3
}

// confinedSetup returns the setup the first image passed on, nil when this
// is the first image.
func confinedSetup() (*pb.AuthdSetup, int, error) {
	v, ok := os.LookupEnv(envSetup)
	if !ok {
		return nil, 0, nil
	}
	abi, _ := strconv.Atoi(os.Getenv(envLandlock))
	for _, k := range []string{envSetup, envChannel, envLandlock} {
		os.Unsetenv(k)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, 0, fmt.Errorf("authd: %s: %w", envSetup, err)
	}
	s := &pb.AuthdSetup{}
	if err := proto.Unmarshal(b, s); err != nil {
		return nil, 0, fmt.Errorf("authd: %s: %w", envSetup, err)
	}
	return s, abi, nil
}

// forbiddenPaths are what the self-check tries to open: outside every
// rule, so Landlock must refuse them.
var forbiddenPaths = []string{"/", "/proc/self/status"}

// confine applies authd's sandbox. In the first image it restricts this
// thread and execs (returning only on error); in the second (abi from
// confinedSetup, -1 for the first) it installs the seccomp allowlist and
// checks that everything holds.
func confine(ch *ipc.AuthdToParent, setup *pb.AuthdSetup, abi int, log *slog.Logger) error {
	if os.Getuid() == 0 {
		log.Warn("authd runs as root, without sandbox: PAM needs it unless `auth pam ... user NAME` names a user (docs/security.md, authd)")
		return nil
	}
	if abi < 0 && ipc.LandlockABI() > 0 {
		return reexec(ch, setup)
	}
	sb := ipc.Sandbox{Role: ipc.RoleAuthd, Landlock: max(abi, 0)}
	if abi <= 0 {
		sb.Missing = append(sb.Missing, "Landlock")
		if err := ipc.NoNewPrivs(); err != nil {
			return fmt.Errorf("authd: %w", err)
		}
	}
	if !ipc.NoNewPrivsSet() {
		return errors.New("authd: no-new-privs is not set after the re-exec")
	}
	// Not dumpable: a process of the same uid (the preauth user's, by
	// default) can neither ptrace authd nor read its memory.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("authd: PR_SET_DUMPABLE: %w", err)
	}
	missing, err := ipc.SeccompRole(ipc.RoleAuthd)
	if err != nil {
		return fmt.Errorf("authd: sandbox: %w", err)
	}
	sb.Seccomp = missing == ""
	if missing != "" {
		sb.Missing = append(sb.Missing, missing)
	}
	report, err := ipc.CheckConfined(sb, forbiddenPaths)
	if err != nil {
		return fmt.Errorf("authd: %w", err)
	}
	log.Info("sandbox in force", "applied", sb.String(), "check", report, "uid", os.Getuid(), "gid", os.Getgid())
	return nil
}

// reexec restricts this thread to what authd reads and execs authd on it.
func reexec(ch *ipc.AuthdToParent, setup *pb.AuthdSetup) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("authd: %w", err)
	}
	dirs, files, err := readPaths(setup, exe)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(setup)
	if err != nil {
		return err
	}
	f, err := ch.File()
	if err != nil {
		return fmt.Errorf("authd: channel: %w", err)
	}
	// Kept across the exec; the dup's close-on-exec is cleared.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("authd: channel: %w", err)
	}
	runtime.LockOSThread() // the exec replaces the process from this thread
	abi, err := ipc.LandlockThreadReadOnly(dirs, files)
	if err != nil {
		return fmt.Errorf("authd: sandbox: %w", err)
	}
	env := append(os.Environ(), envSetup+"="+base64.StdEncoding.EncodeToString(b),
		envChannel+"="+strconv.Itoa(int(f.Fd())), envLandlock+"="+strconv.Itoa(abi))
	err = unix.Exec(exe, os.Args, env)
	return fmt.Errorf("authd: re-exec %s: %w", exe, err)
}

// readPaths are what authd reads: /etc and the time zones (PAM's /etc/pam.d and
// /etc/security, /etc/shadow, which the file permissions still guard, NSS's
// /etc/passwd, /etc/group and /etc/nsswitch.conf, ld.so's cache; whole,
// since these files are replaced by rename and a rule holds an inode), the
// passwd-file's directory (for the same reason), and the directories of
// the libraries mapped now (PAM's modules beneath them); the executable and
// those libraries also for the exec.
func readPaths(setup *pb.AuthdSetup, exe string) (dirs, files []string, err error) {
	dirs = []string{"/etc", "/usr/share/zoneinfo"} // /etc/localtime links there
	if setup.Backend == pb.AuthBackend_AUTH_BACKEND_PASSWD_FILE && setup.PasswdFile != "" {
		abs, err := filepath.Abs(setup.PasswdFile)
		if err != nil {
			return nil, nil, err
		}
		dirs = append(dirs, filepath.Dir(abs))
	}
	files = []string{exe}
	libs, err := mappedFiles()
	if err != nil {
		return nil, nil, err
	}
	for _, l := range libs {
		if l == exe {
			continue
		}
		files = append(files, l)
		dirs = append(dirs, filepath.Dir(l))
	}
	slices.Sort(dirs)
	return slices.Compact(dirs), files, nil
}

// mappedFiles lists the files mapped into the process (the interpreter
// and shared libraries of a cgo binary), from /proc/self/maps.
func mappedFiles() ([]string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("authd: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 6 || !strings.HasPrefix(fields[5], "/") {
			continue // anonymous, [heap], or "(deleted)"
		}
		if fi, err := os.Stat(fields[5]); err == nil && fi.Mode().IsRegular() && !slices.Contains(out, fields[5]) {
			out = append(out, fields[5])
		}
	}
	return out, sc.Err()
}
