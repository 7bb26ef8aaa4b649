package server

import (
	"bytes"
	"errors"
	"io"

	"imapd/imapworker/store"
)

// errHasNUL: the message holds NUL, so BODY[] cannot be copied from the
// store as it is: it is sent as mime.EncodeBinary makes it (RFC 9051 §4.3,
// RFC 3516 §6).
var errHasNUL = errors.New("message holds NUL")

// contentHasNUL scans a large message for NUL once and remembers the
// answer in the store's cache, so that streaming it stays one pass.
func (c *conn) contentHasNUL(uid uint32, cnt store.Content) (bool, error) {
	if v, ok := c.mbox.h.Cached(uid, "nul"); ok && len(v) == 1 {
		return v[0] == '1', nil
	}
	buf := make([]byte, 64<<10)
	nul := false
	for off, size := int64(0), cnt.Size(); off < size && !nul; {
		k, err := cnt.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		nul = bytes.IndexByte(buf[:k], 0) >= 0
		off += int64(k)
		if err != nil && !(err == io.EOF && off == size) {
			return false, err
		}
	}
	v := []byte{'0'}
	if nul {
		v[0] = '1'
	}
	c.mbox.h.SetCached(uid, "nul", v)
	return nul, nil
}

// isCached reports whether the store's cache holds key for uid, in the
// session's string mode (see cachedAppend).
func (c *conn) isCached(uid uint32, key string) bool {
	if !c.utf8OK() {
		key = key7(key)
	}
	_, ok := c.mbox.h.Cached(uid, key)
	return ok
}
