package server

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"

	"imapd/imapworker/imap"
	"imapd/imapworker/inflate"
)

// RFC 4978: COMPRESS DEFLATE. Everything after the tagged OK is raw
// DEFLATE both ways. What the client sends is read by imapworker/inflate,
// which returns a block's bytes when the block ends: a client's
// Z_PARTIAL_FLUSH (isync) is enough, where compress/flate's reader would
// wait for more. The compressor costs about 1 MB per session that turns it
// on (compress/flate's tables, whatever the level), the decompressor its
// 32 KiB window: bounded, and only for such sessions.
func (c *conn) cmdCompress(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Compress)
	if args.Mechanism != "DEFLATE" {
		return badf("unknown compression mechanism")
	}
	if c.zw != nil {
		return badf("COMPRESS already active") // RFC 4978 §3
	}
	c.ok(cmd, "", "DEFLATE active")
	c.flush()
	// What the client sent after the command is compressed already.
	pending := bytes.Clone(c.r.Buffered())
	c.src = io.MultiReader(bytes.NewReader(pending), c.src)
	c.r = imap.NewReader(bufio.NewReaderSize(inflate.NewReader(c.src), 32<<10), c.literal)
	if c.scfg.MaxLine > 0 {
		c.r.SetMaxLine(c.scfg.MaxLine)
	}
	// Compressed output goes out with the same write deadlines
	// (docs/security.md#deadlines).
	zw, err := flate.NewWriter(deadlineWriter{c}, flate.BestSpeed)
	if err != nil {
		return err
	}
	c.zw = &zWriter{Writer: zw}
	c.bw.Reset(c.zw)
	return nil
}

// zWriter is the compressor, knowing whether it holds data not yet
// flushed: flushing an idle one would send an empty block each time.
type zWriter struct {
	*flate.Writer
	dirty bool
}

func (z *zWriter) Write(b []byte) (int, error) {
	z.dirty = true
	return z.Writer.Write(b)
}
