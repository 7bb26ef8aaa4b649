package server

import (
	"errors"
	"io/fs"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// respError is a protocol error with its answer: NO (or BAD) [code] msg.
type respError struct {
	bad  bool
	code string // RFC 5530 response code, may be ""
	msg  string
}

func (e *respError) Error() string { return e.msg }

func badf(msg string) error     { return &respError{bad: true, msg: msg} }
func no(code, msg string) error { return &respError{code: code, msg: msg} }
func isBad(err error) bool {
	var re *respError
	var se *imap.SyntaxError
	return errors.As(err, &se) || (errors.As(err, &re) && re.bad)
}

// storeCodes maps store errors to RFC 5530 codes.
var storeCodes = []struct {
	err  error
	code string
}{
	{store.ErrNoSuchMailbox, "NONEXISTENT"},
	{store.ErrAlreadyExists, "ALREADYEXISTS"},
	{store.ErrInvalidName, "CANNOT"},
	{store.ErrCannot, "CANNOT"},
	{store.ErrHasChildren, "HASCHILDREN"},
	{store.ErrNoSelect, "CANNOT"},
	{store.ErrReadOnly, "READ-ONLY"},
	{store.ErrQuota, "OVERQUOTA"},
	{store.ErrNoSpace, "LIMIT"},
	{store.ErrTooBig, "TOOBIG"},
	{store.ErrTooManyFlags, "LIMIT"},
	{store.ErrExpunged, "EXPUNGEISSUED"},
	{store.ErrUnavailable, "UNAVAILABLE"},
	// The storage's files refuse us (a symlink out of the user's Maildir
	// that the sandbox blocks, a directory with the wrong owner).
	{fs.ErrPermission, "NOPERM"},
}

// fail answers cmd with err: the one place errors become responses
// (CONVENTIONS 9). Syntax -> BAD; protocol and store errors -> NO [CODE];
// anything else is logged and answered NO [SERVERBUG].
func (c *conn) fail(cmd *imap.Command, err error) {
	var re *respError
	var se *imap.SyntaxError
	status, code, msg := "NO", "", ""
	switch {
	case errors.As(err, &se):
		status, msg = "BAD", se.Msg
	case errors.As(err, &re):
		if re.bad {
			status = "BAD"
		}
		code, msg = re.code, re.msg
	default:
		for _, sc := range storeCodes {
			if errors.Is(err, sc.err) {
				code, msg = sc.code, sc.err.Error()
				break
			}
		}
		if code == "" {
			c.log.Error("command failed", "cmd", cmd.Name, "err", err)
			code, msg = "SERVERBUG", "internal error"
		}
	}
	if c.mbox != nil {
		c.updates(expungeAllowed(cmd))
	}
	c.tagged(cmd.Tag, status, code, msg)
}

// tryCreate turns "no such mailbox" into NO [TRYCREATE] for APPEND, COPY
// and MOVE (RFC 9051 §6.3.12, §6.4.7).
func tryCreate(err error) error {
	if errors.Is(err, store.ErrNoSuchMailbox) {
		return no("TRYCREATE", "no such mailbox")
	}
	return err
}
