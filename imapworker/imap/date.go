package imap

import (
	"errors"
	"time"
)

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

var errBadDate = errors.New("bad date")

// ParseDate parses a SEARCH date (RFC 9051 §9 date-text, "1-Feb-1994"),
// without quotes, as midnight UTC of that day.
func ParseDate(s string) (time.Time, error) {
	t, ok := parseDate([]byte(s))
	if !ok {
		return time.Time{}, errBadDate
	}
	return t, nil
}

// ParseDateTime parses an APPEND date-time (RFC 9051 §9,
// "17-Jul-1996 02:44:25 -0700"), without its quotes.
func ParseDateTime(s string) (time.Time, error) {
	t, ok := parseDateTime([]byte(s))
	if !ok {
		return time.Time{}, errBadDate
	}
	return t, nil
}

// date-text = date-day "-" date-month "-" date-year
func parseDate(b []byte) (time.Time, bool) {
	d, m, y, rest, ok := dayMonthYear(b, false)
	if !ok || len(rest) != 0 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// date-time = date-day-fixed "-" date-month "-" date-year SP time SP zone
func parseDateTime(b []byte) (time.Time, bool) {
	d, m, y, rest, ok := dayMonthYear(b, true)
	// rest = SP HH:MM:SS SP +HHMM
	if !ok || len(rest) != 15 || rest[0] != ' ' || rest[3] != ':' || rest[6] != ':' || rest[9] != ' ' {
		return time.Time{}, false
	}
	hh, ok1 := two(rest[1:3])
	mm, ok2 := two(rest[4:6])
	ss, ok3 := two(rest[7:9])
	zh, ok4 := two(rest[11:13])
	zm, ok5 := two(rest[13:15])
	sign := rest[10]
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || (sign != '+' && sign != '-') ||
		hh > 23 || mm > 59 || ss > 60 || zm > 59 {
		return time.Time{}, false
	}
	off := zh*3600 + zm*60
	if sign == '-' {
		off = -off
	}
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	if ss == 60 {
		ss = 59 // a leap second: close enough
	}
	return time.Date(y, time.Month(m), d, hh, mm, ss, 0, loc), true
}

// dayMonthYear parses "D-Mon-YYYY" (fixed allows " D" too) and returns the
// rest of the input. The day is checked against the month.
func dayMonthYear(b []byte, fixed bool) (d, m, y int, rest []byte, ok bool) {
	i := 0
	if fixed && len(b) > 0 && b[0] == ' ' {
		i = 1
	}
	j := i
	for j < len(b) && j-i < 2 && isDigit(b[j]) {
		d = d*10 + int(b[j]-'0')
		j++
	}
	if j == i || j+9 > len(b) || b[j] != '-' || b[j+4] != '-' {
		return 0, 0, 0, nil, false
	}
	mon := b[j+1 : j+4]
	for k, name := range months {
		if (mon[0]|0x20) == (name[0]|0x20) && (mon[1]|0x20) == name[1] && (mon[2]|0x20) == name[2] {
			m = k + 1
			break
		}
	}
	for _, c := range b[j+5 : j+9] {
		if !isDigit(c) {
			return 0, 0, 0, nil, false
		}
		y = y*10 + int(c-'0')
	}
	if m == 0 || d < 1 || d > daysIn(m, y) {
		return 0, 0, 0, nil, false
	}
	return d, m, y, b[j+9:], true
}

func daysIn(m, y int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func two(b []byte) (int, bool) {
	if !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// AppendDateTime appends t as a quoted date-time, the form of INTERNALDATE
// (RFC 9051 §9): "26-Nov-2026 01:02:03 +0000", day padded with a space.
func AppendDateTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = appendDateTimeText(buf, t)
	return append(buf, '"')
}

// FormatDateTime returns t as date-time text without quotes.
func FormatDateTime(t time.Time) string {
	return string(appendDateTimeText(make([]byte, 0, 26), t))
}

func appendDateTimeText(buf []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	hh, mm, ss := t.Clock()
	_, off := t.Zone()
	if d < 10 {
		buf = append(buf, ' ', byte('0'+d))
	} else {
		buf = append2(buf, d)
	}
	buf = append(buf, '-')
	buf = append(buf, months[mo-1]...)
	buf = append(buf, '-')
	if y < 0 || y > 9999 {
		y = 0
	}
	buf = append2(buf, y/100)
	buf = append2(buf, y%100)
	buf = append(buf, ' ')
	buf = append2(buf, hh)
	buf = append(buf, ':')
	buf = append2(buf, mm)
	buf = append(buf, ':')
	buf = append2(buf, ss)
	buf = append(buf, ' ')
	if off < 0 {
		buf = append(buf, '-')
		off = -off
	} else {
		buf = append(buf, '+')
	}
	off /= 60
	buf = append2(buf, off/60%100)
	return append2(buf, off%60)
}

func append2(buf []byte, n int) []byte {
	return append(buf, byte('0'+n/10), byte('0'+n%10))
}
