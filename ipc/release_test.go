package ipc

import (
	"testing"
	"time"
)

// A burst of Soon calls schedules one release; once it has run, the next
// call schedules another.
func TestReleaserOncePerBurst(t *testing.T) {
	var r Releaser
	r.Soon(200 * time.Millisecond)
	first := r.timer
	r.Soon(200 * time.Millisecond)
	if first == nil || r.timer != first {
		t.Fatal("a second Soon during the wait scheduled another release")
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		done := r.timer == nil
		r.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the release did not run")
		}
	}
	r.Soon(time.Hour)
	if r.timer == nil {
		t.Fatal("no release scheduled after the first ran")
	}
	r.timer.Stop()
}
