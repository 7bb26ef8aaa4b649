// Command imapctl controls a running imapd through its control socket:
// imapctl [-c FILE] [-s SOCKET] [-json] status | reload | kick USER.
// See imapctl(8).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"imapd/parent/config"
	"imapd/parent/control"
	pb "imapd/proto"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: imapctl [-c file] [-s socket] [-json] status | reload | kick user")
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imapctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr); fs.PrintDefaults() }
	cfgFile := fs.String("c", config.DefaultPath, "imapd configuration `file`, to find the control socket")
	sock := fs.String("s", "", "control `socket` (overrides the configuration file)")
	asJSON := fs.Bool("json", false, "print status as JSON")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		usage(stderr)
		return 1
	}
	switch {
	case cmd[0] == "status" && len(cmd) == 1, cmd[0] == "reload" && len(cmd) == 1, cmd[0] == "kick" && len(cmd) == 2:
	default:
		usage(stderr)
		return 1
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
		return fail(err)
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
			b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(st)
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
	default:
		return fail(errors.New("unknown command"))
	}
	return 0
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
	total := uint32(0)
	for _, s := range sessions {
		total += s.Sessions
	}
	fmt.Fprintf(out, "\n%d sessions of %d users, %d connections before login\n", total, len(sessions), st.PreauthConnections)
	if len(sessions) > 0 {
		fmt.Fprintln(tw, "USER\tSESSIONS")
		for _, s := range sessions {
			fmt.Fprintf(tw, "%s\t%d\n", s.User, s.Sessions)
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

	sandbox := "none reported"
	if len(st.Sandbox) > 0 {
		sandbox = strings.Join(st.Sandbox, ", ")
	}
	fmt.Fprintf(out, "\nsandbox: %s\n", sandbox)
}
