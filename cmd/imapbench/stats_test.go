package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got := pct(ds, 50); got != 50*time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
	if got := pct(ds, 99); got != 99*time.Millisecond {
		t.Errorf("p99 = %v", got)
	}
	if got := pct(ds[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
	if got := pct(nil, 50); got != 0 {
		t.Errorf("p50 of none = %v", got)
	}
}

func TestStatsPrintsEveryError(t *testing.T) {
	st := NewStats()
	st.Record("FETCH", 2*time.Millisecond, nil)
	st.Record("FETCH", 4*time.Millisecond, &StatusError{Cmd: "FETCH", Status: "NO", Text: "gone"})
	st.Record("FETCH", 4*time.Millisecond, &StatusError{Cmd: "FETCH", Status: "NO", Text: "gone"})
	st.Error("connect", errors.New("connection refused"))
	var b bytes.Buffer
	st.Print(&b, time.Second)
	out := b.String()
	for _, want := range []string{"FETCH                 3       3.0", "errors: 3", "2  FETCH: NO gone", "1  connect: connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
