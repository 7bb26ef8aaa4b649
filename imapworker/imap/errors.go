package imap

import "errors"

// ErrLineTooLong is wrapped by the *SyntaxError the Reader returns when a
// line exceeds its limit. The rest of that line has been discarded.
var ErrLineTooLong = errors.New("line too long")

// ErrLineGoesOn is wrapped by the *SyntaxError the Reader returns when a
// line exceeds its limit and then the discard budget without ending: the
// session cannot find the next command and must say BYE and close. It
// wraps ErrLineTooLong.
var ErrLineGoesOn error = &wrapped{"line too long and goes on", ErrLineTooLong}

// wrapped is fmt.Errorf's %w without fmt, which would bring in os.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// SyntaxError is a command the server could not parse: the session answers
// "Tag BAD Msg", or "* BAD Msg" when Tag is empty.
type SyntaxError struct {
	Tag string // "" when no valid tag was read
	Msg string
	Err error // ErrLineTooLong, ErrLineGoesOn or nil
}

func (e *SyntaxError) Error() string { return e.Msg }

// Unwrap lets errors.Is(err, ErrLineTooLong) work.
func (e *SyntaxError) Unwrap() error { return e.Err }

// LiteralError reports that the literal callback refused a literal. The
// session answers "Tag NO ..." or "Tag BAD ..." from Err.
type LiteralError struct {
	Tag  string
	Name string // upper-case command name, "" if not known
	Err  error  // what the callback returned
	// Desync is true when a refused non-synchronizing literal was too big to
	// discard: the client's next bytes are literal data, so the session must
	// send BYE and close (RFC 7888 §4).
	Desync bool
}

func (e *LiteralError) Error() string { return "literal refused: " + e.Err.Error() }

func (e *LiteralError) Unwrap() error { return e.Err }
