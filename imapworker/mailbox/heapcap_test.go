package mailbox

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// After each collection the cap follows the live heap: kept while it is
// small, lifted once the live heap passes capLift, kept again after.
func TestHeapCapFollowsLiveHeap(t *testing.T) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		t.Skip("GOMEMLIMIT set: governHeap leaves the limit alone")
	}
	// The finalizers go on for the rest of this test binary, keeping the
	// same cap as a worker would.
	governHeap()
	wait := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			runtime.GC()
			if debug.SetMemoryLimit(-1) == want {
				return
			}
		}
		t.Fatalf("memory limit %d, want %d", debug.SetMemoryLimit(-1), want)
	}
	wait(heapCap)
	big := make([]byte, capLift+8<<20)
	for i := range big {
		big[i] = 1
	}
	wait(math.MaxInt64)
	runtime.KeepAlive(big)
	big = nil
	wait(heapCap)
}
