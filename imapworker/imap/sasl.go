package imap

import (
	"encoding/base64"
	"errors"
)

// ErrSASLCancelled is returned by DecodeSASLResponse for the "*" with which
// a client cancels AUTHENTICATE (RFC 9051 §6.2.2); the session answers BAD.
var ErrSASLCancelled = errors.New("authentication cancelled")

// DecodeSASLResponse decodes one client response to an AUTHENTICATE
// challenge (a line read with Reader.ReadLine), or an
// Authenticate.InitialResponse: base64, "" for an empty response, "*" to
// cancel.
func DecodeSASLResponse(line []byte) ([]byte, error) {
	if len(line) == 1 && line[0] == '*' {
		return nil, ErrSASLCancelled
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Strict().Decode(out, line)
	if err != nil {
		return nil, errors.New("invalid base64")
	}
	return out[:n], nil
}

// AppendSASLChallenge appends a continuation request carrying a SASL
// challenge: "+ " base64 CRLF ("+ " CRLF when empty).
func AppendSASLChallenge(buf, challenge []byte) []byte {
	buf = append(buf, '+', ' ')
	buf = base64.StdEncoding.AppendEncode(buf, challenge)
	return append(buf, '\r', '\n')
}
