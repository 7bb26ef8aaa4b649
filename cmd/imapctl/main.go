// Command imapctl controls a running imapd through its control socket:
// imapctl [-c FILE] [-s SOCKET] [-json] status | reload | kick USER, flags
// before or after the command.
// See imapctl(8).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/reflect/protoreflect"

	"imapd/cmd/internal/version"
	"imapd/parent/config"
	"imapd/parent/control"
	pb "imapd/proto"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usageLine = "usage: imapctl [-c file] [-s socket] [-json] [-version] status | who | reload | kick user | move user backend | auth test user"

func usage(w io.Writer) { fmt.Fprintln(w, usageLine) }

// commands names each command and how many arguments it takes.
var commands = map[string]int{"status": 0, "who": 0, "reload": 0, "kick": 1, "auth": 2, "move": 2}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imapctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fs.PrintDefaults() }
	cfgFile := fs.String("c", config.DefaultPath, "imapd configuration `file`, to find the control socket")
	sock := fs.String("s", "", "control `socket` (overrides the configuration file)")
	asJSON := fs.Bool("json", false, "print status as JSON")
	showVersion := fs.Bool("version", false, "print the version and exit")
	// Flags may stand before or after the command and its arguments
	// (`imapctl status -json` as well as `imapctl -json status`).
	var cmd []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		cmd, rest = append(cmd, rest[0]), rest[1:]
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("imapctl"))
		return 0
	}
	if len(cmd) == 0 {
		usage(stderr)
		return 2
	}
	nargs, known := commands[cmd[0]]
	switch {
	case !known:
		fmt.Fprintf(stderr, "imapctl: unknown command %q\n", cmd[0])
		usage(stderr)
		return 2
	case cmd[0] == "auth" && (len(cmd) < 2 || cmd[1] != "test"):
		fmt.Fprintf(stderr, "imapctl: unknown command \"auth %s\": auth test user\n", strings.Join(cmd[1:], " "))
		usage(stderr)
		return 2
	case len(cmd)-1 != nargs:
		fmt.Fprintf(stderr, "imapctl: %s takes %d argument(s), not %d\n", cmd[0], nargs, len(cmd)-1)
		usage(stderr)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "imapctl: %v\n", err)
		return 1
	}

	path := *sock
	var cfgErr error
	if path == "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "c" })
		var cfg *config.Config
		var err error
		if explicit {
			cfg, err = config.Load(*cfgFile)
		} else {
			// No file: imapd runs from flags and uses the default socket.
			cfg, err = config.LoadOrDefault(*cfgFile)
		}
		if errors.Is(err, os.ErrPermission) {
			return fail(fmt.Errorf("%w (give the socket with -s)", err))
		}
		var bad config.ErrorList
		if errors.As(err, &bad) && cfg != nil {
			// A file the admin is halfway through editing still names the
			// socket; the running server keeps its configuration and says
			// why on reload.
			cfgErr, err = err, nil
		}
		if err != nil {
			return fail(err)
		}
		path = cfg.ControlSocket
	}
	c, err := control.Dial(path)
	if err != nil {
		if cfgErr != nil {
			return fail(cfgErr) // without a server, the file's errors are the news
		}
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fail(fmt.Errorf("cannot reach imapd: is imapd running? (socket %s)", path))
		}
		return fail(fmt.Errorf("%w (socket %s)", err, path))
	}
	if cfgErr != nil {
		fmt.Fprintf(stderr, "imapctl: warning: %s has errors; the running server keeps its configuration\n", *cfgFile)
	}
	defer c.Close()

	switch cmd[0] {
	case "status":
		st, err := c.Status()
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			b, err := json.MarshalIndent(plainJSON(st.ProtoReflect()), "", "  ")
			if err != nil {
				return fail(err)
			}
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		writeStatus(stdout, st, time.Now())
	case "reload":
		if err := c.Reload(); err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, "reloaded")
	case "kick":
		n, err := c.Kick(cmd[1])
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%d sessions of %s ended\n", n, cmd[1])
	case "move":
		msg, err := c.Move(cmd[1], cmd[2])
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, msg)
	case "who":
		who, err := c.Who()
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			list := make([]any, len(who))
			for i, w := range who {
				list[i] = plainJSON(w.ProtoReflect())
			}
			b, _ := json.MarshalIndent(list, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		writeWho(stdout, who, time.Now())
	case "auth":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return fail(err)
		}
		r, err := c.AuthTest(cmd[2], pw)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			b, _ := json.MarshalIndent(plainJSON(r.ProtoReflect()), "", "  ")
			fmt.Fprintln(stdout, string(b))
		} else {
			writeAuthTest(stdout, cmd[2], r)
		}
		if r.Result != pb.AuthResult_AUTH_OK {
			return 1
		}
	}
	return 0
}

// readPassword reads one line: from a terminal without echo, after a
// prompt; from a pipe as it comes (echo pw | imapctl auth test user).
func readPassword(in io.Reader, prompt io.Writer) ([]byte, error) {
	if f, ok := in.(*os.File); ok {
		if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			fmt.Fprint(prompt, "Password: ")
			quiet := *t
			quiet.Lflag &^= unix.ECHO
			unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &quiet)
			defer func() {
				unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
				fmt.Fprintln(prompt)
			}()
		}
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return nil, fmt.Errorf("no password on standard input: %w", err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// writeAuthTest prints the result as doveadm auth test does: the verdict,
// then what a login would get.
func writeAuthTest(out io.Writer, user string, r *pb.AuthTestResult) {
	if r.Result != pb.AuthResult_AUTH_OK {
		fmt.Fprintf(out, "auth failed for %s: %s (%s)\n", user, r.Reason, plainEnum(r.Result.Descriptor(), r.Result.Number()))
		return
	}
	fmt.Fprintf(out, "auth succeeded for %s\n", user)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "user\t%s\nuid\t%d\ngid\t%d\nhome\t%s\nmail\t%s\n", r.User, r.Uid, r.Gid, orDash(r.Home), r.Mail)
	tw.Flush()
}

// writeWho prints one line per connection.
func writeWho(out io.Writer, who []*pb.SessionInfo, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATE\tPEER\tTLS\tCONNECTED\tCONN")
	for _, w := range who {
		tls := "no"
		if w.Tls {
			tls = "yes"
		}
		since := now.Sub(time.Unix(w.SinceUnix, 0)).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", orDash(w.User), w.State, w.Peer, tls, since, w.ConnId)
	}
	tw.Flush()
	fmt.Fprintf(out, "%d connections\n", len(who))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plainJSON is m as scripts want it: every field present, under its JSON
// name, numbers as numbers (protojson writes 64-bit ones as strings) and
// enums as their plain lower-case names (ROLE_PARENT is "parent").
func plainJSON(m protoreflect.Message) map[string]any {
	out := map[string]any{}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		v := m.Get(fd)
		switch {
		case fd.IsList():
			list := make([]any, 0, v.List().Len())
			for j := 0; j < v.List().Len(); j++ {
				list = append(list, plainValue(fd, v.List().Get(j)))
			}
			out[fd.JSONName()] = list
		case fd.IsMap():
			mp := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				mp[k.String()] = plainValue(fd.MapValue(), mv)
				return true
			})
			out[fd.JSONName()] = mp
		default:
			out[fd.JSONName()] = plainValue(fd, v)
		}
	}
	return out
}

func plainValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return plainJSON(v.Message())
	case protoreflect.EnumKind:
		return plainEnum(fd.Enum(), v.Enum())
	case protoreflect.BytesKind:
		return v.Bytes()
	default:
		return v.Interface()
	}
}

func roleName(r pb.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

func kindName(k pb.ListenerKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "LISTENER_"))
}

// writeStatus prints st as tables for a human.
func writeStatus(out io.Writer, st *pb.StatusReport, now time.Time) {
	started := time.Unix(st.StartedUnix, 0).UTC()
	up := now.Sub(started).Round(time.Second)
	fmt.Fprintf(out, "up %s since %s, configuration generation %d\n", up, started.Format("2006-01-02 15:04:05 MST"), st.Generation)

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nLISTENER\tKIND")
	for _, l := range st.Listeners {
		fmt.Fprintf(tw, "%s\t%s\n", l.Address, kindName(l.Kind))
	}
	tw.Flush()

	fmt.Fprintln(tw, "\nROLE\tPID\tGEN\tUSER\tUID\tSESSIONS")
	for _, p := range st.Processes {
		user := p.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\n", roleName(p.Role), p.Pid, p.Generation, user, p.Uid, p.Sessions)
	}
	tw.Flush()

	sessions := append([]*pb.UserSessions(nil), st.Sessions...)
	sort.Slice(sessions, func(i, j int) bool { return sessions[i].User < sessions[j].User })
	total, hibernated := uint32(0), uint32(0)
	for _, s := range sessions {
		total += s.Sessions + s.Hibernated
		hibernated += s.Hibernated
	}
	of := ""
	if hibernated > 0 {
		of = fmt.Sprintf(" (%d hibernated)", hibernated)
	}
	fmt.Fprintf(out, "\n%d sessions%s of %d users, %d connections before login\n", total, of, len(sessions), st.PreauthConnections)
	if l := st.PreauthLimits; l != nil {
		fmt.Fprintf(out, "limits before login: %d per address, %d per IPv6 /64, %d per IPv4 /24, %d in all; %d networks at their limit\n",
			l.PerAddress, l.PerNet64, l.PerNet24, l.Total, l.PrefixesAtLimit)
	}
	if len(sessions) > 0 {
		if hibernated == 0 {
			fmt.Fprintln(tw, "USER\tSESSIONS")
			for _, s := range sessions {
				fmt.Fprintf(tw, "%s\t%d\n", s.User, s.Sessions)
			}
		} else {
			// Hibernated sessions are the parent's (docs/design.md#idle-workers-and-hibernation).
			fmt.Fprintln(tw, "USER\tSESSIONS\tHIBERNATED")
			for _, s := range sessions {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", s.User, s.Sessions+s.Hibernated, s.Hibernated)
			}
		}
		tw.Flush()
	}

	a := st.Auth
	if a == nil {
		a = &pb.AuthStats{}
	}
	fmt.Fprintf(out, "\nauthentication: %d succeeded, %d failed, %d addresses penalised\n", a.Successes, a.Failures, len(a.Penalised))
	if len(a.Penalised) > 0 {
		fmt.Fprintln(tw, "ADDRESS\tFAILURES\tDELAY")
		for _, p := range a.Penalised {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Addr, p.Failures, time.Duration(p.DelayMs)*time.Millisecond)
		}
		tw.Flush()
	}

	if len(st.ProxyBackends) > 0 {
		fmt.Fprintln(out, "\nproxy backends:")
		fmt.Fprintln(tw, "BACKEND\tADDRESS\tWEIGHT\tHEALTH\tUSERS\tSESSIONS\tPINNED")
		for _, b := range st.ProxyBackends {
			health := "up"
			if !b.Healthy {
				health = "down: " + b.LastError
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%s\n", b.Name, b.Address, b.Weight, health, b.Users, b.Sessions, orDash(strings.Join(b.Pinned, ",")))
		}
		tw.Flush()
	}

	sandbox := "none reported"
	if len(st.Sandbox) > 0 {
		sandbox = strings.Join(st.Sandbox, ", ")
	}
	fmt.Fprintf(out, "\nsandbox: %s\n", sandbox)
}

// plainEnum is an enum value's plain name: ROLE_PARENT is "parent".
func plainEnum(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) any {
	ev := ed.Values().ByNumber(n)
	if ev == nil {
		return int(n)
	}
	name := string(ev.Name())
	if i := strings.Index(name, "_"); i >= 0 {
		name = name[i+1:] // the enum's prefix
	}
	return strings.ToLower(name)
}
