// Command imapd-authd is imapd's authentication role. The parent starts it
// with its channel on fd 3; it is a separate binary so that PAM (cgo, built
// with -tags pam) is linked into no process that parses network input.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"imapd/authd"
	"imapd/cmd/internal/version"
	"imapd/ipc"
	pb "imapd/proto"
)

func main() {
	if version.Asked(os.Args[1:]) {
		fmt.Println(version.String("imapd-authd"))
		return
	}
	ipc.SetTitle("imapd: authd")
	// Like the workers, authd stops when the parent says or goes away, not
	// on a terminal's ^C sent to the whole process group.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// The parent passes the configured level down, as to every child.
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("IMAPD_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("role", "authd"))
	if len(os.Args) > 1 {
		slog.Error("imapd-authd takes no arguments; it is started by imapd")
		os.Exit(2)
	}
	ch, err := ipc.NewConn[*pb.FromAuthd, *pb.ToAuthd](os.NewFile(uintptr(authd.ChannelFD()), "parent"), "parent")
	if err != nil {
		slog.Error("fd 3 is not the parent channel", "error", err.Error())
		os.Exit(2)
	}
	// Main returns on Shutdown (nil) or on EOF of fd 3, the parent's death.
	if err := authd.Main(ch); err != nil {
		slog.Error("exiting", "error", err.Error())
		os.Exit(1)
	}
}
