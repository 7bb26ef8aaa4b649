package ipc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"imapd/ipc/ipctest"
)

// TestSysnumTables checks every number in sysnum against x/sys's tables
// for x86-64 and arm64, read from the module's source, so the arm64 filter
// is checked on any machine that builds imapd.
func TestSysnumTables(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatalf("go list golang.org/x/sys: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	re := regexp.MustCompile(`^\s*SYS_(\w+)\s*=\s*(\d+)`)
	for col, arch := range []string{"amd64", "arm64"} {
		f, err := os.Open(filepath.Join(dir, "unix", "zsysnum_linux_"+arch+".go"))
		if err != nil {
			t.Fatal(err)
		}
		table := map[string]int32{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[2])
				table[strings.ToLower(m[1])] = int32(n)
			}
		}
		f.Close()
		if len(table) < 250 {
			t.Fatalf("%s: only %d system calls read", arch, len(table))
		}
		for name, nrs := range sysnum {
			want, ok := table[name]
			if !ok {
				want = -1
			}
			if nrs[col] != want {
				t.Errorf("%s: %s is %d, x/sys says %d", arch, name, nrs[col], want)
			}
		}
	}
	for _, r := range []Role{RolePreauth, RoleMailbox, RoleKeyd, RoleAuthd} {
		for _, name := range r.calls() {
			if _, ok := sysnum[name]; !ok {
				t.Errorf("%s allows %s, which sysnum lacks", r, name)
			}
		}
	}
}

// bpfRun interprets a seccomp program over one system call (nr, args) as
// the kernel would, for the instructions buildFilter emits.
func bpfRun(t *testing.T, prog []unix.SockFilter, audit, nr uint32, args [6]uint64) uint32 {
	var data [64]byte
	*(*uint32)(unsafe.Pointer(&data[seccompDataNr])) = nr
	*(*uint32)(unsafe.Pointer(&data[seccompDataArch])) = audit
	for i, a := range args {
		*(*uint64)(unsafe.Pointer(&data[seccompDataArg0+8*i])) = a
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = *(*uint32)(unsafe.Pointer(&data[in.K]))
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var cond bool
			switch in.Code &^ (unix.BPF_JMP | unix.BPF_K) {
			case unix.BPF_JEQ:
				cond = acc == in.K
			case unix.BPF_JGE:
				cond = acc >= in.K
			case unix.BPF_JSET:
				cond = acc&in.K != 0
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("instruction %d: code %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

// TestFilterPrograms assembles every role's allowlist for x86-64 and arm64
// and runs it over that architecture's numbers: what the role lists
// passes, everything else fails with EPERM, the conditions on clone,
// sendto and socketpair hold, and another architecture is killed.
func TestFilterPrograms(t *testing.T) {
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for goarch, a := range seccompArchs {
		for _, r := range []Role{RolePreauth, RoleMailbox, RoleKeyd, RoleAuthd} {
			t.Run(goarch+"/"+r.String(), func(t *testing.T) {
				prog, err := buildFilter(a, r)
				if err != nil {
					t.Fatal(err)
				}
				run := func(name string, args ...uint64) uint32 {
					n := sysnum[name][a.col]
					if n < 0 {
						t.Fatalf("%s has no %s", goarch, name)
					}
					var a6 [6]uint64
					copy(a6[:], args)
					return bpfRun(t, prog, a.audit, uint32(n), a6)
				}
				allowed := map[string]bool{}
				for _, name := range r.calls() {
					allowed[name] = true
				}
				for name, nrs := range sysnum {
					if nrs[a.col] < 0 || name == "clone" || name == "clone3" || name == "sendto" || name == "socketpair" ||
						name == "socket" || name == "prctl" {
						continue
					}
					want := retEPERM
					if allowed[name] {
						want = retAllow
					}
					if got := run(name); got != want {
						t.Errorf("%s: %#x, want %#x", name, got, want)
					}
				}
				for _, name := range []string{"socket", "connect", "bind", "execve", "mount", "fsopen", "fsmount",
					"move_mount", "open_tree", "shmget", "msgget", "semget", "mq_open", "ptrace", "setuid"} {
					if run(name) == retAllow {
						t.Errorf("%s allows %s", r, name)
					}
				}
				// authd's socket(2) fails as without the family, so that
				// PAM's audit carries on; prctl reads the bounding set only.
				wantSocket, wantCapRead := retEPERM, retEPERM
				if r == RoleAuthd {
					wantSocket, wantCapRead = unix.SECCOMP_RET_ERRNO|uint32(unix.EAFNOSUPPORT), retAllow
				}
				if got := run("socket", unix.AF_UNIX, unix.SOCK_DGRAM, 0); got != wantSocket {
					t.Errorf("socket: %#x, want %#x", got, wantSocket)
				}
				if got := run("prctl", unix.PR_CAPBSET_READ, 0); got != wantCapRead {
					t.Errorf("prctl(PR_CAPBSET_READ): %#x, want %#x", got, wantCapRead)
				}
				for _, op := range []uint64{unix.PR_SET_DUMPABLE, unix.PR_SET_SECCOMP, unix.PR_CAPBSET_READ | 1<<32} {
					if got := run("prctl", op, 1); got != retEPERM {
						t.Errorf("prctl(%#x): %#x, want EPERM", op, got)
					}
				}
				// kill: at most the liveness probe, signal 0, and only the
				// mailbox worker (stale Maildir locks).
				wantProbe := retEPERM
				if r == RoleMailbox {
					wantProbe = retAllow
				}
				if got := run("kill", 1234, 0); got != wantProbe {
					t.Errorf("kill(pid, 0): %#x, want %#x", got, wantProbe)
				}
				if got := run("kill", 1234, uint64(unix.SIGKILL)); got != retEPERM {
					t.Errorf("kill(pid, SIGKILL): %#x, want EPERM", got)
				}
				if got := run("clone3"); got != enosys {
					t.Errorf("clone3: %#x, want ENOSYS", got)
				}
				if got := run("clone", unix.CLONE_VM|unix.CLONE_THREAD|unix.CLONE_SIGHAND); got != retAllow {
					t.Errorf("clone of a thread: %#x", got)
				}
				if got := run("clone", uint64(unix.SIGCHLD)); got != retEPERM {
					t.Errorf("clone of a process: %#x", got)
				}
				if got := run("sendto", 3, 0, 10, 0, 0, 0); got != retAllow {
					t.Errorf("sendto without an address: %#x", got)
				}
				for _, addr := range []uint64{0x7ffd1000, 1 << 40} {
					if got := run("sendto", 3, 0, 10, 0, addr, 110); got != retEPERM {
						t.Errorf("sendto an address %#x: %#x", addr, got)
					}
				}
				pair := func(domain, typ uint64) uint32 { return run("socketpair", domain, typ, 0, 0) }
				if r == RolePreauth {
					if pair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC) != retAllow || pair(unix.AF_UNIX, unix.SOCK_SEQPACKET) != retAllow {
						t.Error("the relay's socketpair refused")
					}
				}
				for _, p := range [][2]uint64{{unix.AF_UNIX, unix.SOCK_DGRAM}, {unix.AF_UNIX, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC}, {unix.AF_INET, unix.SOCK_STREAM}} {
					if got := pair(p[0], p[1]); got != retEPERM {
						t.Errorf("socketpair(%d, %#x): %#x", p[0], p[1], got)
					}
				}
				if got := bpfRun(t, prog, unix.AUDIT_ARCH_I386, 1, [6]uint64{}); got != unix.SECCOMP_RET_KILL_PROCESS {
					t.Errorf("another architecture: %#x, want kill", got)
				}
				if a.x32 {
					if got := bpfRun(t, prog, a.audit, 0x40000000, [6]uint64{}); got != retEPERM {
						t.Errorf("an x32 call: %#x", got)
					}
				}
			})
		}
	}
}

// TestPolicyChild is the body of TestPolicy, in a child whose kernel
// seems to lack one feature.
func TestPolicyChild(t *testing.T) {
	feature := os.Getenv("IMAPD_POLICY_HIDE")
	if feature == "" {
		t.Skip("run by TestPolicy")
	}
	if err := NoNewPrivs(); err != nil {
		t.Fatal(err)
	}
	if err := ipctest.Hide(feature); err != nil {
		t.Fatal(err)
	}
	_, err := CheckPolicy(Require)
	if err == nil {
		t.Fatalf("sandbox require started without %s", feature)
	}
	msg := err.Error()
	for _, want := range []string{map[string]string{"landlock": "Landlock", "seccomp": "seccomp"}[feature], "Linux " + KernelRelease(), "`sandbox prefer`"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	fmt.Println("REQUIRE:", msg)
	warn, err := CheckPolicy(Prefer)
	if err != nil || warn == "" {
		t.Fatalf("sandbox prefer: %q, %v", warn, err)
	}
	role := sandboxRoles[os.Getenv("IMAPD_SANDBOX_ROLE")]
	sb, err := Restrict(role, os.Getenv("IMAPD_SANDBOX_CHILD"))
	if err != nil {
		t.Fatalf("prefer: %v", err)
	}
	if len(sb.Missing) != 1 || (feature == "landlock") != (sb.Landlock == 0) || (feature == "seccomp") == sb.Seccomp {
		t.Fatalf("restricted to %s with %s hidden", sb, feature)
	}
	report, err := CheckConfined(sb, []string{"/etc/passwd"})
	if err != nil {
		t.Fatalf("a worker would refuse to serve: %v", err)
	}
	fmt.Printf("PREFER: %s; %s; %s\n", warn, sb, report)
}

// TestPolicy: with Landlock or seccomp made unavailable, `sandbox require`
// gives one message naming the feature, the kernel and the statement, and
// `sandbox prefer` runs every role with what is left, honestly reported,
// its self-check passing (issue 16).
func TestPolicy(t *testing.T) {
	if LandlockABI() == 0 || !SeccompAvailable() {
		t.Skip("no Landlock or seccomp to hide")
	}
	bin := ipctest.StaticTestBinary(t)
	for _, feature := range []string{"landlock", "seccomp"} {
		for name := range sandboxRoles {
			t.Run(feature+"/"+name, func(t *testing.T) {
				cmd := exec.Command(bin, "-test.run=^TestPolicyChild$", "-test.v")
				cmd.Env = append(os.Environ(), "IMAPD_POLICY_HIDE="+feature, "IMAPD_SANDBOX_ROLE="+name, "IMAPD_SANDBOX_CHILD="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "--- PASS: TestPolicyChild") {
					t.Fatalf("child: %v\n%s", err, out)
				}
				for _, l := range strings.Split(string(out), "\n") {
					if strings.HasPrefix(l, "REQUIRE:") || strings.HasPrefix(l, "PREFER:") {
						t.Log(l)
					}
				}
			})
		}
	}
}
