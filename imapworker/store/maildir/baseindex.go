package maildir

import (
	"slices"
	"strings"
)

// baseIndex finds messages by base name: a slice sorted by base, 8 bytes
// a message where a map took about 32.
type baseIndex []*msg

func cmpBase(a *msg, b string) int { return strings.Compare(a.base(), b) }

func (x baseIndex) get(base string) *msg {
	if i, ok := slices.BinarySearchFunc(x, base, cmpBase); ok {
		return x[i]
	}
	return nil
}

// add merges ms (any order) into the index.
func (x *baseIndex) add(ms []*msg) {
	if len(ms) == 0 {
		return
	}
	byBase := func(a, b *msg) int { return strings.Compare(a.base(), b.base()) }
	if len(ms) == 1 {
		i, _ := slices.BinarySearchFunc(*x, ms[0].base(), cmpBase)
		*x = slices.Insert(*x, i, ms[0])
		return
	}
	add := baseIndex(slices.Clone(ms))
	if !slices.IsSortedFunc(add, byBase) { // a first scan's usually are
		slices.SortStableFunc(add, byBase)
	}
	old := *x
	if len(old) == 0 {
		*x = add
		return
	}
	out := make(baseIndex, 0, len(old)+len(add))
	i, j := 0, 0
	for i < len(old) && j < len(add) {
		if byBase(add[j], old[i]) < 0 {
			out = append(out, add[j])
			j++
		} else {
			out = append(out, old[i])
			i++
		}
	}
	out = append(append(out, old[i:]...), add[j:]...)
	*x = out
}

// keep drops the messages for which fn is false.
func (x *baseIndex) keep(fn func(*msg) bool) {
	old := *x
	out := old[:0]
	for _, m := range old {
		if fn(m) {
			out = append(out, m)
		}
	}
	clear(old[len(out):])
	*x = out
}
