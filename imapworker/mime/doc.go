// Package mime parses Internet messages for the IMAP engine: the MIME tree
// and BODYSTRUCTURE data, ENVELOPE data, BODY[section] and BINARY[section]
// byte ranges, and the text matching behind SEARCH.
//
// It is pure: bytes in, Go data out; no I/O and no IMAP syntax (the engine
// formats responses itself). It never panics on hostile input and bounds
// its work with MaxDepth and MaxParts.
//
// Typical use by the session engine:
//
//	root := mime.Parse(msg)            // msg: the whole message, CRLF lines
//	env := root.Envelope()             // FETCH ENVELOPE
//	// FETCH BODYSTRUCTURE: walk root (Type, Subtype, Params, ID, ...,
//	// Size(), Lines, Children, Message, Message.Envelope()).
//	b, err := root.Section(mime.Section{Path: []int{1, 2}, Specifier: mime.SpecMIME})
//	bin, err := root.Binary([]int{2}) // errors.Is(err, mime.ErrUnknownCTE) -> NO [UNKNOWN-CTE]
//	m := mime.NewMatcher("needle")     // once per SEARCH key
//	hit := m.BodyContains(root)        // SEARCH BODY (also TextContains, HeaderContains)
//	t, ok := mime.ParseDate(root.Header.Get("Date")) // SENTBEFORE/SENTON/SENTSINCE
//
// Parts hold offsets into the message; nothing is copied, so the message
// bytes must not change while a *Part is in use. Sizes are byte counts of
// the stored message: store messages with CRLF line ends (ToCRLF converts)
// so that sizes match what IMAP sends.
package mime
