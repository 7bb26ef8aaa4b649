package imap

import (
	"slices"
	"strconv"
)

// Dynamic reports whether s mentions "*", whose value depends on the
// mailbox.
func (s SeqSet) Dynamic() bool {
	for _, r := range s.Ranges {
		if r.Start == Star || r.Stop == Star {
			return true
		}
	}
	return false
}

// Resolve returns the ranges of s with "*" replaced by max, each with
// Start <= Stop, sorted and with overlapping or adjacent ranges merged.
// For message numbers pass the message count; for UIDs the largest UID in
// use, or UIDNEXT when the mailbox is empty (RFC 9051 §9 seq-number). A "$"
// set must be replaced by the saved result first; it resolves to nothing.
func (s SeqSet) Resolve(max uint32) []SeqRange {
	out := make([]SeqRange, 0, len(s.Ranges))
	sorted := true
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == Star {
			a = max
		}
		if b == Star {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if a == 0 { // "*" in an empty mailbox
			if b == 0 {
				continue
			}
			a = 1
		}
		if n := len(out); n > 0 && a < out[n-1].Start {
			sorted = false
		}
		out = append(out, SeqRange{a, b})
	}
	if !sorted {
		slices.SortFunc(out, func(x, y SeqRange) int {
			if x.Start < y.Start {
				return -1
			}
			if x.Start > y.Start {
				return 1
			}
			return 0
		})
	}
	// Merge.
	j := 0
	for i := 1; i < len(out); i++ {
		if uint64(out[i].Start) <= uint64(out[j].Stop)+1 {
			if out[i].Stop > out[j].Stop {
				out[j].Stop = out[i].Stop
			}
			continue
		}
		j++
		out[j] = out[i]
	}
	if len(out) > 0 {
		out = out[:j+1]
	}
	return out
}

// Contains reports whether n is in s, with "*" standing for max.
func (s SeqSet) Contains(n, max uint32) bool {
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == Star {
			a = max
		}
		if b == Star {
			b = max
		}
		if a > b {
			a, b = b, a
		}
		if n >= a && n <= b && n != 0 {
			return true
		}
	}
	return false
}

// String returns s in IMAP syntax.
func (s SeqSet) String() string { return string(AppendSeqSet(nil, s)) }

// AppendSeqSet appends s in IMAP syntax ("1:3,5,7:*" or "$").
func AppendSeqSet(buf []byte, s SeqSet) []byte {
	if s.SearchRes {
		return append(buf, '$')
	}
	for i, r := range s.Ranges {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendSeqNum(buf, r.Start)
		if r.Stop != r.Start {
			buf = append(buf, ':')
			buf = appendSeqNum(buf, r.Stop)
		}
	}
	return buf
}

func appendSeqNum(buf []byte, n uint32) []byte {
	if n == Star {
		return append(buf, '*')
	}
	return strconv.AppendUint(buf, uint64(n), 10)
}

// AppendNumSet appends nums as a compact sequence-set, joining runs of
// consecutive ascending numbers ("1:3,5"). Order is kept, as COPYUID needs
// (RFC 4315 §3). Nothing is appended for an empty slice.
func AppendNumSet(buf []byte, nums []uint32) []byte {
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 && nums[j] != 1<<32-1 {
			j++
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendUint(buf, uint64(nums[i]), 10)
		if j > i {
			buf = append(buf, ':')
			buf = strconv.AppendUint(buf, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return buf
}

// AppendRanges appends resolved ranges (as from Resolve) as a sequence-set.
func AppendRanges(buf []byte, rs []SeqRange) []byte {
	return AppendSeqSet(buf, SeqSet{Ranges: rs})
}
