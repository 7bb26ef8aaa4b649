package mailbox

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The worker's soft memory limit (Go's heap, stacks and runtime
// metadata), kept while the live heap is well under it. At GOGC=50 the
// heap may grow to 1.5x what the last collection found live, and a burst
// that builds much while the folder's own state is large (THREAD of a
// 100,000-message folder: 27 MiB live before, 40 after) took the worker
// to 67 MiB of RSS, garbage included; near the cap the collector runs
// sooner instead. Once a collection finds more than capLift live, the cap
// is lifted and GOGC alone paces the heap: a folder whose own state fills
// the cap would otherwise be collected without pause
// (docs/performance.md, "Sorted, threaded and paged views").
const (
	heapCap = 48 << 20
	capLift = heapCap * 5 / 6
)

// governHeap keeps the cap or lifts it after every collection, from a
// finalizer that each collection runs and that arms the next; GOMEMLIMIT
// in imapd's environment overrides.
func governHeap() {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
			metrics.Read(live)
			debug.SetMemoryLimit(capFor(live[0].Value.Uint64()))
			arm()
		})
	}
	debug.SetMemoryLimit(heapCap)
	arm()
}

// capFor is the soft limit for a live heap of live bytes.
func capFor(live uint64) int64 {
	if live > capLift {
		return math.MaxInt64
	}
	return heapCap
}
