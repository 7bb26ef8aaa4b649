// Command imapd is the IMAP server. It only parses flags and dispatches:
// started by an admin it becomes the parent; re-executed by the parent with
// IMAPD_ROLE set and its channel on fd 3, it becomes a preauth or mailbox
// worker or keyd (docs/design.md).
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"imapd/authd/keyd"
	"imapd/cmd/internal/version"
	"imapd/imapworker/mailbox"
	"imapd/imapworker/preauth"
	"imapd/ipc"

	"google.golang.org/protobuf/proto"
	"imapd/parent"
	"imapd/parent/config"
)

const parentTitle = "imapd: parent"

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.String("imapd"))
		return
	}
	if builtWithCgo {
		// AllThreadsSyscall, which sets no-new-privs and Landlock on every
		// thread, is refused in a cgo binary (docs/design.md, "Pitfalls").
		fmt.Fprintln(os.Stderr, "imapd: this binary was built with cgo and its workers cannot sandbox every thread: build it with CGO_ENABLED=0 (make build does)")
		os.Exit(1)
	}
	switch role := os.Getenv("IMAPD_ROLE"); role {
	case "preauth":
		child("preauth", preauth.Main)
	case "mailbox":
		child("mailbox", mailbox.Main)
	case "keyd":
		child("keyd", keyd.Main)
	case "", "parent":
		os.Exit(runParent())
	default:
		fmt.Fprintf(os.Stderr, "imapd: unknown role %q\n", role)
		os.Exit(2)
	}
}

// child runs a worker role on its parent channel, fd 3, and exits non-zero
// if the role ever returns with an error. The channel's type says what the
// role may send and receive.
func child[Out, In proto.Message](role string, main func(*ipc.Conn[Out, In]) error) {
	ipc.SetTitle("imapd: " + role)
	// A terminal's ^C or a group-wide signal must not end sessions behind
	// the parent's back: children stop when the parent says or goes away.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	conn, err := ipc.NewConn[Out, In](os.NewFile(3, "parent"), "parent")
	if err != nil {
		fmt.Fprintf(os.Stderr, "imapd %s: %v\n", role, err)
		os.Exit(1)
	}
	if err := main(conn); err != nil {
		slog.Error("exiting", "role", role, "err", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("IMAPD_LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func runParent() int {
	// Re-execute once so that ps and /proc/PID/cmdline name the role.
	if os.Args[0] != parentTitle {
		if exe, err := os.Executable(); err == nil {
			env := append(os.Environ(), "IMAPD_ROLE=parent")
			err = syscall.Exec(exe, append([]string{parentTitle}, os.Args[1:]...), env)
			fmt.Fprintf(os.Stderr, "imapd: re-exec: %v\n", err)
		}
	}
	ipc.SetTitle(parentTitle)
	fs := flag.NewFlagSet("imapd", flag.ContinueOnError)
	flags := config.RegisterFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "imapd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "c" || f.Name == "config" })
	load := func() (*config.Config, error) {
		var cfg *config.Config
		var err error
		if explicit {
			cfg, err = config.Load(flags.ConfigFile)
		} else {
			cfg, err = config.LoadOrDefault(flags.ConfigFile)
		}
		if err != nil {
			return nil, err
		}
		if err := cfg.ApplyFlags(*flags); err != nil {
			return nil, err
		}
		return cfg, cfg.Check()
	}
	cfg, err := load()
	if flags.CheckOnly {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, w := range cfg.CertWarnings(time.Now()) {
			fmt.Fprintln(os.Stderr, "imapd: warning:", w)
		}
		// A configuration checked on another machine may run on a kernel
		// that has what this one lacks: a warning here, a refusal at start.
		if warn, err := ipc.CheckPolicy(ipc.Policy(cfg.Sandbox)); err != nil || warn != "" {
			fmt.Fprintln(os.Stderr, "imapd: warning:", cmp.Or(warn, fmt.Sprint(err)))
		}
		fmt.Print(cfg.String())
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapd:", err)
		return 1
	}
	// sandbox require: one message and no start on a kernel that lacks a
	// feature, rather than workers that fail at their sandbox in a loop.
	sandboxWarning, err := ipc.CheckPolicy(ipc.Policy(cfg.Sandbox))
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapd:", err)
		return 1
	}
	if flags.Fork {
		fmt.Fprintln(os.Stderr, "imapd: --fork is accepted for compatibility; privilege separation is always on")
	}
	out := io.Writer(os.Stderr)
	if cfg.LogTarget == "syslog" {
		w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "imapd")
		if err != nil {
			fmt.Fprintln(os.Stderr, "imapd: syslog:", err)
			return 1
		}
		out = w
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: cfg.LogLevel})))
	os.Setenv("IMAPD_LOG_LEVEL", cfg.LogLevel.String())
	if sandboxWarning != "" {
		slog.Warn(sandboxWarning, "role", "parent")
	}
	for _, w := range cfg.CertWarnings(time.Now()) {
		slog.Warn(w, "role", "parent")
	}
	if err := parent.Main(cfg, parent.Options{Reload: load, Log: out}); err != nil {
		slog.Error("exiting", "role", "parent", "err", err)
		return 1
	}
	return 0
}
