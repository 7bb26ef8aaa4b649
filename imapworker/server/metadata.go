package server

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"

	"imapd/imapworker/imap"
	"imapd/imapworker/store"
)

// RFC 5464 METADATA and METADATA-SERVER. Annotations are kept by the store
// per mailbox and per account (store.MetadataUser). The server's /shared
// entries are the administrator's (MetadataConfig) and read-only: a
// mailbox worker serves one user, and a value shared by all users would
// need a store they share. /private entries of the server are the user's
// own. No unsolicited METADATA responses are sent (§4.1 makes them
// optional), so ENABLE METADATA enables nothing.

// MetadataConfig holds the server entries (RFC 5464 §3.2.1.1) the
// administrator sets; "" leaves one out.
type MetadataConfig struct {
	Admin   string // /shared/admin: a URI (mailto:, tel:) for the administrator
	Comment string // /shared/comment
}

// Limits above the least RFC 5464 §4.1 allows (1024 octets, 10 entries).
const (
	metadataMaxSize    = 64 << 10 // octets of one value: [METADATA MAXSIZE]
	metadataMaxEntries = 100      // annotations per mailbox or server: [METADATA TOOMANY]
	metadataMaxCommand = 1 << 20  // octets of the literals of one SETMETADATA
)

var errTooMany = &respError{code: "METADATA TOOMANY", msg: "too many annotations"}

// metadataLiteral is the literal policy for SETMETADATA: a value larger
// than metadataMaxSize is refused before it is read (§4.3).
func metadataLiteral(size, total int64) error {
	if size > metadataMaxSize {
		return &respError{code: "METADATA MAXSIZE " + strconv.Itoa(metadataMaxSize), msg: "annotation value too large"}
	}
	if total > metadataMaxCommand {
		return &respError{code: "LIMIT", msg: "SETMETADATA too large; set fewer annotations at once"}
	}
	return nil
}

// serverMetadata returns the server entries the user sees: the
// administrator's /shared ones and the user's /private ones.
func (c *conn) serverMetadata() (map[string][]byte, error) {
	m, err := c.user.Metadata("")
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string][]byte{}
	}
	for k := range m {
		if !strings.HasPrefix(k, "/private/") {
			delete(m, k)
		}
	}
	if a := c.scfg.Metadata.Admin; a != "" {
		m["/shared/admin"] = []byte(a)
	}
	if cm := c.scfg.Metadata.Comment; cm != "" {
		m["/shared/comment"] = []byte(cm)
	}
	return m, nil
}

// metadataName maps GETMETADATA's and SETMETADATA's mailbox to the
// store's: "" is the server.
func (c *conn) metadataName(mailbox string) string {
	if mailbox == "" {
		return ""
	}
	return c.mailboxName(mailbox)
}

// RFC 5464 §4.2 GETMETADATA, with MAXSIZE (§4.2.1) and DEPTH (§4.2.2).
func (c *conn) cmdGetMetadata(cmd *imap.Command) error {
	args := cmd.Args.(*imap.GetMetadata)
	name := c.metadataName(args.Mailbox)
	var all map[string][]byte
	var err error
	if name == "" {
		all, err = c.serverMetadata()
	} else {
		all, err = c.user.Metadata(name)
	}
	if err != nil {
		return err
	}
	b := c.appendMetadata(c.out[:0], name, all, args)
	c.write(b)
	c.out = b[:0]
	c.ok(cmd, longEntries(longestOmitted(all, args)), "GETMETADATA completed")
	return nil
}

// longEntries is the [METADATA LONGENTRIES n] code for the largest value
// MAXSIZE left out, "" when none was (§4.2.1).
func longEntries(n int64) string {
	if n == 0 {
		return ""
	}
	return "METADATA LONGENTRIES " + strconv.FormatInt(n, 10)
}

// appendListMetadata appends the METADATA response that follows a LIST
// response for RETURN (METADATA (...)) (RFC 9590), raising *longest to
// the largest value MAXSIZE left out. A mailbox whose annotations cannot
// be read gets none.
func (c *conn) appendListMetadata(b []byte, name string, args *imap.GetMetadata, longest *int64) []byte {
	all, err := c.user.Metadata(name)
	if err != nil {
		return b
	}
	*longest = max(*longest, longestOmitted(all, args))
	return c.appendMetadata(b, name, all, args)
}

// selectMetadata returns the names of all that args asks for, sorted, and
// the requested names of which nothing exists (answered NIL).
func selectMetadata(all map[string][]byte, args *imap.GetMetadata) (names, absent []string) {
	seen := map[string]bool{}
	for _, e := range args.Entries {
		found := false
		for k := range all {
			rest, below := strings.CutPrefix(k, e+"/")
			if k != e && !(below && (args.Depth < 0 || args.Depth == 1 && !strings.Contains(rest, "/"))) {
				continue
			}
			found = true
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
		if !found && !seen[e] {
			seen[e] = true
			absent = append(absent, e)
		}
	}
	slices.Sort(names)
	return names, absent
}

// longestOmitted is the size of the largest value MAXSIZE left out, 0 if
// none was (§4.2.1 LONGENTRIES).
func longestOmitted(all map[string][]byte, args *imap.GetMetadata) int64 {
	if args.MaxSize < 0 {
		return 0
	}
	names, _ := selectMetadata(all, args)
	var long int64
	for _, k := range names {
		if n := int64(len(all[k])); n > args.MaxSize {
			long = max(long, n)
		}
	}
	return long
}

// appendMetadata appends the METADATA response (§4.4.1) for args, or
// nothing when MAXSIZE left every value out.
func (c *conn) appendMetadata(b []byte, name string, all map[string][]byte, args *imap.GetMetadata) []byte {
	names, absent := selectMetadata(all, args)
	start := len(b)
	b = append(b, "* METADATA "...)
	b = c.appendMailbox(b, name)
	b = append(b, " ("...)
	open := len(b)
	for _, k := range names {
		v := all[k]
		if args.MaxSize >= 0 && int64(len(v)) > args.MaxSize {
			continue
		}
		if len(b) > open {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, ' ')
		if bytes.IndexByte(v, 0) >= 0 {
			b = imap.AppendLiteralHeader(b, int64(len(v)), true) // value = nstring / literal8 (§5)
			b = append(b, v...)
		} else {
			b = c.appendStr(b, string(v))
		}
	}
	for _, k := range absent {
		if len(b) > open {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, " NIL"...)
	}
	if len(b) == open {
		return b[:start]
	}
	return append(b, ")\r\n"...)
}

// RFC 5464 §4.3 SETMETADATA: all entries set or none.
func (c *conn) cmdSetMetadata(cmd *imap.Command) error {
	args := cmd.Args.(*imap.SetMetadata)
	name := c.metadataName(args.Mailbox)
	changes := make([]store.MetadataEntry, len(args.Entries))
	for i, e := range args.Entries {
		if name == "" && strings.HasPrefix(e.Name, "/shared/") {
			return no("CANNOT", "the server's shared annotations are read-only") // §3.3
		}
		if len(e.Value) > metadataMaxSize {
			return metadataLiteral(int64(len(e.Value)), 0)
		}
		changes[i] = store.MetadataEntry{Name: e.Name, Value: e.Value}
	}
	err := c.user.SetMetadata(name, changes, func(next map[string][]byte) error {
		if len(next) > metadataMaxEntries {
			return errTooMany
		}
		return nil
	})
	if errors.Is(err, errTooMany) {
		return errTooMany
	}
	if err != nil {
		return err
	}
	c.ok(cmd, "", "SETMETADATA completed")
	return nil
}
