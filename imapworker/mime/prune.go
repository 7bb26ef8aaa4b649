package mime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// pruneHeaderMax bounds a header Prune holds to decide on its part; past
// it the rest of the message is copied whole.
const pruneHeaderMax = 1 << 20

// Prune copies the message read from r to dst, leaving out the body of
// every part that SEARCH never reads: a leaf that is neither text,
// multipart nor message. Parse of the result gives the tree Parse gives of
// the whole message, those bodies empty, so BODY and TEXT searches of a
// 20 MB message with an attachment hold its text, not the attachment.
// r is read through a small buffer. Where Parse would stop descending
// (MaxDepth, MaxParts) or a header is too long to hold, the rest is copied
// whole.
//
// Parse finds an outer multipart's delimiters before it parses the parts
// between them, so a line that is the delimiter of any enclosing multipart
// ends every part inside it. Prune reads line by line and matches each
// line against the open multiparts, outermost first, to the same effect.
func Prune(r io.Reader, dst []byte) ([]byte, error) {
	var p Pruner
	return p.Prune(r, dst)
}

// Pruner prunes messages one after another with one read buffer: a
// search prunes thousands.
type Pruner struct{ br *bufio.Reader }

// Prune is the package's Prune.
func (p *Pruner) Prune(r io.Reader, dst []byte) ([]byte, error) {
	if p.br == nil {
		p.br = bufio.NewReaderSize(r, 64<<10)
	} else {
		p.br.Reset(r)
	}
	defer p.br.Reset(nil) // do not keep r
	br := p.br
	pr := pruner{out: dst[:0], state: inHeader, parts: 1} // the root is a part
	lineStart := true
	for {
		if pr.state == inSkip && lineStart && pr.skipLines(br) {
			continue
		}
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			pr.line(line, lineStart)
			lineStart = line[len(line)-1] == '\n'
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return pr.out, nil
		default:
			return pr.out, err
		}
	}
}

type pruneState int

const (
	inHeader   pruneState = iota // a part's header, up to its blank line
	inBody                       // text, a preamble or an epilogue: copied
	inSkip                       // a body SEARCH never reads: left out
	inVerbatim                   // everything from here on is copied
)

// pruneFrame is an open multipart.
type pruneFrame struct {
	delim  []byte // "--" boundary
	depth  int    // the multipart's depth
	digest bool
}

type pruner struct {
	out    []byte
	frames []pruneFrame
	state  pruneState
	// The current part: where its header starts in out, its depth, and
	// whether it is a part of a multipart/digest.
	hdrStart int
	depth    int
	digest   bool
	parts    int    // parts begun, as Parse counts them
	skipEOL  []byte // line end of the last line left out
}

func (pr *pruner) line(line []byte, lineStart bool) {
	if pr.state == inVerbatim {
		pr.out = append(pr.out, line...)
		return
	}
	if lineStart {
		if k, closing := pr.delimiter(line); k >= 0 {
			// The line break before a delimiter belongs to it (see
			// eolBefore): keep the one of the last line left out.
			pr.out = append(pr.out, pr.skipEOL...)
			pr.out = append(pr.out, line...)
			pr.skipEOL = nil
			f := pr.frames[k]
			pr.frames = pr.frames[:k+1]
			if closing {
				pr.frames = pr.frames[:k]
				pr.state = inBody // the epilogue
				return
			}
			pr.begin(f.depth+1, f.digest)
			return
		}
	}
	switch pr.state {
	case inSkip:
		if line[len(line)-1] == '\n' {
			pr.skipEOL = eolOf(line)
		}
	case inHeader:
		pr.out = append(pr.out, line...)
		if lineStart && isBlankLine(line) {
			pr.decide()
		} else if len(pr.out)-pr.hdrStart > pruneHeaderMax {
			pr.state = inVerbatim
		}
	default:
		pr.out = append(pr.out, line...)
	}
}

// skipLines discards the whole lines buffered in br up to the next one
// that starts with '-' (a delimiter can only start so) at memchr speed,
// and reports whether it discarded any. br is at a line start.
func (pr *pruner) skipLines(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	if len(buf) == 0 || buf[0] == '-' {
		return false
	}
	n := bytes.Index(buf, []byte("\n-")) + 1
	if n == 0 {
		n = bytes.LastIndexByte(buf, '\n') + 1
	}
	if n == 0 {
		return false
	}
	pr.skipEOL = eolOf(buf[:n])
	br.Discard(n)
	return true
}

// begin starts a part's header.
func (pr *pruner) begin(depth int, digest bool) {
	pr.parts++
	pr.state, pr.hdrStart, pr.depth, pr.digest = inHeader, len(pr.out), depth, digest
}

// decide looks at a header just ended and says what to do with its body,
// as Parse's part does.
func (pr *pruner) decide() {
	h := pr.out[pr.hdrStart:]
	fields, _ := parseHeader(h, 0, len(h), nil)
	p := &Part{msg: h}
	p.Header.fields = fields
	p.setMIMEFields(pr.digest)
	// Near the limits Parse truncates, and a truncated multipart is
	// served as text: copy the rest rather than follow it there.
	if pr.depth+2 >= MaxDepth || pr.parts+2 >= MaxParts {
		pr.state = inVerbatim
		return
	}
	switch {
	case p.Type == "multipart":
		pr.state = inBody // the preamble, or the body of one without a boundary
		if b := p.Param("boundary"); b != "" {
			pr.frames = append(pr.frames, pruneFrame{delim: []byte("--" + b), depth: pr.depth, digest: p.Subtype == "digest"})
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && identityEncoding(p.Encoding):
		pr.begin(pr.depth+1, false)
	case p.Type == "text" || p.Type == "message":
		pr.state = inBody
	default:
		pr.state = inSkip
	}
}

// delimiter returns the index of the outermost open multipart whose
// delimiter line is line (as indexDelimiter matches one), and whether it
// is the close delimiter; -1 if none.
func (pr *pruner) delimiter(line []byte) (int, bool) {
	if len(line) < 2 || line[0] != '-' || line[1] != '-' {
		return -1, false
	}
	for k, f := range pr.frames {
		if !bytes.HasPrefix(line, f.delim) {
			continue
		}
		rest := line[len(f.delim):]
		if len(rest) == 0 || rest[0] == '\r' || rest[0] == '\n' || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '-' {
			return k, bytes.HasPrefix(rest, []byte("--"))
		}
	}
	return -1, false
}

// eolOf returns line's line end, CRLF or LF.
func eolOf(line []byte) []byte {
	if bytes.HasSuffix(line, crlf) {
		return crlf
	}
	return lf
}
