package ipc

import (
	"os"
	"strings"
)

// commLen is the kernel's TASK_COMM_LEN less the terminating NUL.
const commLen = 15

// SetTitle names the process for ps -o comm, top and pgrep, e.g.
// "imapd: preauth". A child re-executed from /proc/self/exe is otherwise
// called "exe" (DESIGN.md §7). The kernel keeps 15 bytes; every thread is
// renamed so that per-thread views agree. It needs /proc, so it must run
// before any chroot; failures are ignored since a title is cosmetic.
func SetTitle(role string) {
	name := commName(role)
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		_ = os.WriteFile("/proc/self/comm", []byte(name), 0)
		return
	}
	for _, t := range tids {
		_ = os.WriteFile("/proc/self/task/"+t.Name()+"/comm", []byte(name), 0)
	}
}

// commName truncates role to what the kernel keeps, without a dangling space
// ("imapd: mailbox alice" -> "imapd: mailbox").
func commName(role string) string {
	if len(role) > commLen {
		role = role[:commLen]
	}
	return strings.TrimRight(role, " ")
}
