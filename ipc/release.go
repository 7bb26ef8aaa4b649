package ipc

import (
	"runtime/debug"
	"sync"
	"time"
)

// Releaser gives free heap back to the kernel a while after a burst of
// work: a Go process keeps the peak of its heap until it next collects,
// and a long-lived process that has gone quiet (the parent after mailbox
// workers exit, a preauth worker after its logins) may not collect for
// minutes (docs/performance.md#hibernated-sessions-issue-18).
type Releaser struct {
	mu    sync.Mutex
	timer *time.Timer
}

// Soon schedules debug.FreeOSMemory after d, unless one is scheduled
// already: a burst costs one collection, not one per event.
func (r *Releaser) Soon(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		return
	}
	r.timer = time.AfterFunc(d, func() {
		r.mu.Lock()
		r.timer = nil
		r.mu.Unlock()
		debug.FreeOSMemory()
	})
}
