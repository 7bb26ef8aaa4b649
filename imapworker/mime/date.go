package mime

import (
	"strings"
	"time"
)

// ParseDate parses a Date header value leniently (RFC 5322 §3.3 with the
// obsolete forms of §4.3 and common broken ones: missing weekday or
// seconds, two-digit years, named or missing zones, comments, ISO-like
// dates, extra words). The zone is kept as written; a missing or unknown
// zone is taken as UTC. ok is false if no day, month and year are found.
func ParseDate(s string) (t time.Time, ok bool) {
	s = stripComments(s)
	var (
		day, month, year = -1, -1, -1
		hh, mm, ss       = 0, 0, 0
		loc              *time.Location
		timeSeen         bool
	)
	for _, tok := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n'
	}) {
		if y, m, d, good := parseISODate(tok); good {
			year, month, day = y, m, d
			if len(tok) > 11 && (tok[10] == 'T' || tok[10] == 't') && !timeSeen {
				if h, mi, sec, zone, good := parseClock(tok[11:]); good {
					hh, mm, ss, timeSeen = h, mi, sec, true
					if zone != "" && loc == nil {
						loc = parseZone(zone)
					}
				}
			}
			continue
		}
		switch {
		case strings.Count(tok, ":") >= 1 && !timeSeen && isDigit(tok[0]):
			h, m, sec, zone, good := parseClock(tok)
			if good {
				hh, mm, ss, timeSeen = h, m, sec, true
				if zone != "" && loc == nil {
					loc = parseZone(zone)
				}
			}
		case (tok[0] == '+' || tok[0] == '-') && len(tok) >= 3 && isDigit(tok[1]):
			if loc == nil {
				loc = parseZone(tok)
			}
		case isDigit(tok[0]):
			n, rest := atoiPrefix(tok)
			if rest != "" && !strings.HasPrefix(rest, "st") && !strings.HasPrefix(rest, "nd") &&
				!strings.HasPrefix(rest, "rd") && !strings.HasPrefix(rest, "th") && rest != "." {
				// e.g. "26-Nov-2026"
				if d, m, y, good := parseDashed(tok); good {
					day, month, year = d, m, y
				}
				continue
			}
			switch {
			case day < 0 && n >= 1 && n <= 31 && len(tok)-len(rest) <= 2:
				day = n
			case year < 0:
				year = n
			case day < 0 && n >= 1 && n <= 31:
				day = n
			}
		default:
			if m := monthIndex(tok); m > 0 && month < 0 {
				month = m
			} else if l := zoneName(tok); l != nil && loc == nil {
				loc = l
			}
		}
	}
	if day < 1 || month < 1 || year < 0 {
		return time.Time{}, false
	}
	// RFC 5322 §4.3: two-digit years are 19xx if >= 50, three-digit +1900.
	switch {
	case year < 50 && year >= 0 && year < 100:
		year += 2000
	case year < 100:
		year += 1900
	case year < 1000:
		year += 1900
	}
	if loc == nil {
		loc = time.UTC
	}
	if hh > 23 || mm > 59 || ss > 60 {
		hh, mm, ss = 0, 0, 0
	}
	if ss == 60 {
		ss = 59
	}
	t = time.Date(year, time.Month(month), day, hh, mm, ss, 0, loc)
	if t.Day() != day { // e.g. 31 Feb: clamp into the month
		t = time.Date(year, time.Month(month)+1, 0, hh, mm, ss, 0, loc)
	}
	return t, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func atoiPrefix(s string) (int, string) {
	n, i := 0, 0
	for i < len(s) && isDigit(s[i]) && i < 9 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, s[i:]
}

// parseClock parses hh:mm[:ss] with an optional glued zone ("10:00:00+0100",
// "10:00Z").
func parseClock(tok string) (h, m, s int, zone string, ok bool) {
	h, rest := atoiPrefix(tok)
	if !strings.HasPrefix(rest, ":") {
		return 0, 0, 0, "", false
	}
	m, rest = atoiPrefix(rest[1:])
	if strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, ".") && len(rest) > 1 && isDigit(rest[1]) {
		s, rest = atoiPrefix(rest[1:])
	}
	if strings.HasPrefix(rest, ".") { // fractional seconds
		_, rest = atoiPrefix(rest[1:])
	}
	return h, m, s, rest, true
}

// parseISODate parses 2026-11-26, optionally followed by "T" and a time.
func parseISODate(tok string) (y, m, d int, ok bool) {
	if len(tok) < 10 || tok[4] != '-' || tok[7] != '-' {
		return 0, 0, 0, false
	}
	y, r := atoiPrefix(tok[:4])
	m, r2 := atoiPrefix(tok[5:7])
	d, r3 := atoiPrefix(tok[8:10])
	if r != "" || r2 != "" || r3 != "" || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseDashed parses 26-Nov-2026 and 26.11.2026 (day first).
func parseDashed(tok string) (d, m, y int, ok bool) {
	sep := "-"
	if strings.Count(tok, ".") == 2 {
		sep = "."
	}
	parts := strings.Split(tok, sep)
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	d, r := atoiPrefix(parts[0])
	m = monthIndex(parts[1])
	if n, rest := atoiPrefix(parts[1]); m == 0 && rest == "" && n >= 1 && n <= 12 {
		m = n
	}
	y, r2 := atoiPrefix(parts[2])
	if r != "" || r2 != "" || m < 1 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return d, m, y, true
}

func monthIndex(tok string) int {
	if len(tok) < 3 {
		return 0
	}
	const months = "janfebmaraprmayjunjulaugsepoctnovdec"
	p := strings.ToLower(tok[:3])
	if i := strings.Index(months, p); i >= 0 && i%3 == 0 {
		return i/3 + 1
	}
	return 0
}

// parseZone parses +hhmm, -hh:mm, +hh and named zones.
func parseZone(z string) *time.Location {
	if z == "" {
		return nil
	}
	if z[0] != '+' && z[0] != '-' {
		return zoneName(z)
	}
	digits := strings.ReplaceAll(z[1:], ":", "")
	n, rest := atoiPrefix(digits)
	if rest != "" && !isAlphaWord(rest) {
		return nil
	}
	nd := len(digits) - len(rest)
	var hours, mins int
	switch nd {
	case 1, 2:
		hours = n
	case 3, 4:
		hours, mins = n/100, n%100
	default:
		return nil
	}
	if hours > 23 || mins > 59 {
		return nil
	}
	off := (hours*60 + mins) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone("", off)
}

func isAlphaWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('a' <= s[i]|0x20 && s[i]|0x20 <= 'z') {
			return false
		}
	}
	return true
}

// zoneName maps RFC 5322 §4.3 obsolete zone names (and Z).
func zoneName(z string) *time.Location {
	if h, ok := zoneOffsets[strings.ToLower(z)]; ok {
		return time.FixedZone("", h*3600)
	}
	return nil
}

var zoneOffsets = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5,
	"mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
	"cet": 1, "cest": 2, "bst": 1,
}
