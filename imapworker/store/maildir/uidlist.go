package maildir

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

const uidlistName = "dovecot-uidlist"

// uidRec is one dovecot-uidlist line: "<uid> [<key><value> ...] :<filename>".
// ext holds the fields before ':' verbatim (W<vsize>, S<size>, G<guid> ...)
// so a rewrite keeps what Dovecot wrote. name is the last known file name;
// only its base (before ':') identifies the file.
type uidRec struct {
	uid  uint32
	ext  string
	name string
}

// uidlist is a parsed dovecot-uidlist.
type uidlist struct {
	version     int
	uidValidity uint32
	nextUID     uint32
	guid        string
	hdrExt      []string // other header fields, kept on rewrite
	recs        []uidRec // ascending UIDs
	// complete is false when the file ended in a partial line (a writer
	// crashed mid-append): the next writer rewrites it.
	complete bool
}

var errUidlist = errors.New("maildir: corrupt dovecot-uidlist")

// parseUidlist reads versions 1, 2 and 3 of Dovecot's format.
func parseUidlist(data []byte) (*uidlist, error) {
	ul := &uidlist{complete: true}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, errUidlist
	}
	hdr := strings.Fields(string(data[:nl]))
	if len(hdr) == 0 {
		return nil, errUidlist
	}
	v, err := strconv.Atoi(hdr[0])
	if err != nil {
		return nil, errUidlist
	}
	ul.version = v
	switch v {
	case 1, 2:
		if len(hdr) < 3 {
			return nil, errUidlist
		}
		uv, err1 := strconv.ParseUint(hdr[1], 10, 32)
		nu, err2 := strconv.ParseUint(hdr[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, errUidlist
		}
		ul.uidValidity, ul.nextUID = uint32(uv), uint32(nu)
	case 3:
		for _, f := range hdr[1:] {
			switch f[0] {
			case 'V', 'N':
				n, err := strconv.ParseUint(f[1:], 10, 32)
				if err != nil {
					return nil, errUidlist
				}
				if f[0] == 'V' {
					ul.uidValidity = uint32(n)
				} else {
					ul.nextUID = uint32(n)
				}
			case 'G':
				ul.guid = f[1:]
			default:
				ul.hdrExt = append(ul.hdrExt, f)
			}
		}
	default:
		return nil, errUidlist
	}
	if ul.uidValidity == 0 {
		return nil, errUidlist
	}
	if _, err := ul.parseRecs(data[nl+1:]); err != nil {
		return nil, err
	}
	return ul, nil
}

// salvageUidlist reads what it can of a damaged uidlist: the header if it
// parses (so UIDVALIDITY and N stay and no UID below N is given again) and
// every well-formed line in ascending order. Without a header it starts a
// new list: a new UIDVALIDITY tells clients to forget the old UIDs.
func salvageUidlist(data []byte) *uidlist {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return newUidlist()
	}
	ul, err := parseUidlist(data[:nl+1])
	if err != nil {
		return newUidlist()
	}
	for _, line := range bytes.Split(data[nl+1:], []byte("\n")) {
		one := &uidlist{version: ul.version, nextUID: ul.nextUID, complete: true}
		if _, err := one.parseRecs(append(line, '\n')); err != nil || len(one.recs) != 1 {
			continue
		}
		r := one.recs[0]
		if n := len(ul.recs); n > 0 && ul.recs[n-1].uid >= r.uid {
			continue
		}
		ul.recs = append(ul.recs, r)
		if r.uid >= ul.nextUID {
			ul.nextUID = r.uid + 1
		}
	}
	ul.complete = false // rewrite at the next change
	return ul
}

// parseRecs appends the records in data (whole lines) and returns how many
// bytes it consumed; a trailing partial line is left unconsumed.
func (ul *uidlist) parseRecs(data []byte) (int, error) {
	used := 0
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			ul.complete = false
			break
		}
		line := string(data[:nl])
		data = data[nl+1:]
		used += nl + 1
		if line == "" {
			continue
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return used, errUidlist
		}
		u, err := strconv.ParseUint(line[:sp], 10, 32)
		if err != nil || u == 0 {
			return used, errUidlist
		}
		rest := line[sp+1:]
		var rec uidRec
		rec.uid = uint32(u)
		switch ul.version {
		case 3:
			c := strings.Index(rest, ":")
			if c < 0 {
				return used, errUidlist
			}
			rec.ext = strings.TrimSpace(rest[:c])
			rec.name = rest[c+1:]
		case 2:
			// "<uid> <flags> <filename>"
			_, name, ok := strings.Cut(rest, " ")
			if !ok {
				return used, errUidlist
			}
			rec.name = name
		default:
			rec.name = rest
		}
		if rec.name == "" || strings.ContainsAny(rec.name, "/\x00") {
			return used, errUidlist
		}
		if n := len(ul.recs); n > 0 && ul.recs[n-1].uid >= rec.uid {
			return used, errUidlist
		}
		ul.recs = append(ul.recs, rec)
		if rec.uid >= ul.nextUID {
			// Appended lines do not update the header (Dovecot's rule).
			ul.nextUID = rec.uid + 1
		}
	}
	return used, nil
}

// header returns the version 3 header line.
func (ul *uidlist) header() string {
	var b strings.Builder
	fmt.Fprintf(&b, "3 V%d N%d G%s", ul.uidValidity, ul.nextUID, ul.guid)
	for _, f := range ul.hdrExt {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	b.WriteByte('\n')
	return b.String()
}

func appendRec(b []byte, r uidRec) []byte {
	b = strconv.AppendUint(b, uint64(r.uid), 10)
	b = append(b, ' ')
	if r.ext != "" {
		b = append(b, r.ext...)
		b = append(b, ' ')
	}
	b = append(b, ':')
	b = append(b, r.name...)
	return append(b, '\n')
}

// marshal renders the whole file in version 3.
func (ul *uidlist) marshal() []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	ul.writeTo(w)
	w.Flush()
	return b.Bytes()
}

// writeTo writes the whole file in version 3, a record at a time.
func (ul *uidlist) writeTo(w *bufio.Writer) error {
	w.WriteString(ul.header())
	var line []byte
	for _, r := range ul.recs {
		line = appendRec(line[:0], r)
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// newUidlist starts a uidlist for a new folder. UIDVALIDITY is the current
// time, as Dovecot picks it, made unique per process and increasing.
func newUidlist() *uidlist {
	var g [16]byte
	_, _ = rand.Read(g[:])
	return &uidlist{version: 3, uidValidity: newUIDValidity(), nextUID: 1, guid: hex.EncodeToString(g[:]), complete: true}
}

var lastUIDValidity uint32

func newUIDValidity() uint32 {
	uidvMu.Lock()
	defer uidvMu.Unlock()
	v := uint32(time.Now().Unix())
	if v <= lastUIDValidity {
		v = lastUIDValidity + 1
	}
	lastUIDValidity = v
	return v
}

// appendUidlist appends records to the file at path (held under the lock).
// Appending needs no rewrite of 100k lines per new message. sync fsyncs
// the file (shared storage, where the fsync of cur/ does not carry it).
func appendUidlist(path string, recs []uidRec, sync bool) error {
	f, err := openFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	var b []byte
	for _, r := range recs {
		b = appendRec(b, r)
	}
	if crashPoint != nil && len(b) > 1 {
		// Crash tests: a torn append the next reader must cope with.
		if _, err := f.Write(b[:len(b)/2]); err != nil {
			f.Close()
			return err
		}
		crashAt("uidlist-torn")
		b = b[len(b)/2:]
	}
	// Not fsynced here on a local file system: the caller's fsync of cur/
	// makes it durable with the new files it names
	// (docs/design.md#what-is-fsynced).
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readTail reads path from offset off to the end.
func readTail(path string, off int64) ([]byte, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
