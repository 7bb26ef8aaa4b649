package parent

import (
	"fmt"
	"math"
	"testing"
)

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%05d@example.org", i)
	}
	return out
}

// Removing one backend moves only its users, each to some other backend;
// adding one back moves only the users it then owns, and they come from
// the others. A user's backend changes only when the ring does.
func TestRingMovesOnlyOneShare(t *testing.T) {
	all := map[string]int{"b1": 1, "b2": 2, "b3": 1, "b4": 1}
	full := newRing(all)
	for _, gone := range []string{"b1", "b2", "b3", "b4"} {
		less := map[string]int{}
		for k, v := range all {
			if k != gone {
				less[k] = v
			}
		}
		small, rebuilt := newRing(less), newRing(less)
		moved := 0
		for _, u := range users(20000) {
			a, b := full.lookup(u), small.lookup(u)
			switch {
			case a == gone && b == gone:
				t.Fatalf("%s still owns %s", gone, u)
			case a == gone:
				moved++
			case a != b:
				t.Fatalf("removing %s moved %s from %s to %s", gone, u, a, b)
			}
			if again := rebuilt.lookup(u); again != b {
				t.Fatalf("the same ring gave %s then %s", b, again)
			}
		}
		// Its share is about its weight's part of the total (6 units).
		want := 20000 * float64(all[gone]) / 6
		if math.Abs(float64(moved)-want) > 0.4*want {
			t.Errorf("removing %s (weight %d) moved %d users, want about %.0f", gone, all[gone], moved, want)
		}
	}
}

func TestRingBalance(t *testing.T) {
	r := newRing(map[string]int{"a": 1, "b": 1, "c": 1})
	n := map[string]int{}
	for _, u := range users(30000) {
		n[r.lookup(u)]++
	}
	for _, b := range []string{"a", "b", "c"} {
		if math.Abs(float64(n[b])-10000) > 2000 {
			t.Errorf("backend %s has %d of 30000 users: %v", b, n[b], n)
		}
	}
	if (*ring)(nil).lookup("x") != "" || newRing(nil).lookup("x") != "" {
		t.Error("an empty ring chose a backend")
	}
}
