package parent

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
)

// vnodesPerWeight is how many points one unit of weight puts on the ring:
// enough that three backends of equal weight get shares within a fifth of
// a third each (TestRingBalance).
const vnodesPerWeight = 256

// ring is a consistent-hash ring over backend names (docs/cluster.md,
// "Choosing a backend"): each backend owns weight*vnodesPerWeight points;
// a user belongs to the first point at or after the hash of their name.
// The points of a backend depend on its name alone, so adding or removing
// one backend moves only the users whose point it takes or gives up.
type ring struct {
	points []uint64
	owner  []string // owner[i] owns points[i]
}

func hash64(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return binary.BigEndian.Uint64(h[:8])
}

// newRing builds the ring of weights (backend name -> weight >= 1).
func newRing(weights map[string]int) *ring {
	type pt struct {
		h    uint64
		name string
	}
	var pts []pt
	for name, w := range weights {
		for i := range w * vnodesPerWeight {
			pts = append(pts, pt{hash64(name + "#" + strconv.Itoa(i)), name})
		}
	}
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].h != pts[j].h {
			return pts[i].h < pts[j].h
		}
		return pts[i].name < pts[j].name
	})
	r := &ring{points: make([]uint64, len(pts)), owner: make([]string, len(pts))}
	for i, p := range pts {
		r.points[i], r.owner[i] = p.h, p.name
	}
	return r
}

// lookup returns user's backend ("" on an empty ring).
func (r *ring) lookup(user string) string {
	if r == nil || len(r.points) == 0 {
		return ""
	}
	h := hash64("user:" + user)
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.owner[i]
}
