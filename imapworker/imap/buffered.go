package imap

import "bytes"

// CommandBuffered reports whether the bytes already read from the
// connection hold a whole command whose literals are all
// non-synchronizing (RFC 7888), so that ReadCommand will return without
// reading from the connection and without asking the literal policy for a
// continuation request. A pipelining client's commands usually are; the
// session then reads them without waiting (docs/design.md#the-event-loop).
func (r *Reader) CommandBuffered() bool {
	b := r.Buffered()
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		line := b[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		b = b[i+1:]
		size, nonSync, _, ok, err := literalHeader(line)
		switch {
		case err != nil || !ok:
			return true // the command ends here (or is refused at once)
		case !nonSync || size > int64(len(b)):
			return false
		}
		b = b[size:]
	}
}
