package server

import (
	"strconv"
	"strings"

	"imapd/imapworker/imap"
)

type handler struct {
	states state
	uid    bool // also valid after UID
	fn     func(*conn, *imap.Command) error
}

// commands is the dispatch table: which states allow each command (RFC 9051
// §6, §3). LSUB and CHECK are IMAP4rev1 (RFC 3501).
var commands map[string]handler

func init() {
	commands = map[string]handler{
		"CAPABILITY":   {states: anyState, fn: (*conn).cmdCapability},
		"NOOP":         {states: anyState, fn: (*conn).cmdNoop},
		"LOGOUT":       {states: anyState, fn: (*conn).cmdLogout},
		"ID":           {states: anyState, fn: (*conn).cmdID},
		"STARTTLS":     {states: stateNotAuth, fn: (*conn).cmdStartTLS},
		"LOGIN":        {states: stateNotAuth, fn: (*conn).cmdLogin},
		"AUTHENTICATE": {states: stateNotAuth, fn: (*conn).cmdAuthenticate},
		"ENABLE":       {states: stateAuth, fn: (*conn).cmdEnable},
		"SELECT":       {states: authed, fn: (*conn).cmdSelect},
		"EXAMINE":      {states: authed, fn: (*conn).cmdSelect},
		"CREATE":       {states: authed, fn: (*conn).cmdCreate},
		"DELETE":       {states: authed, fn: (*conn).cmdDelete},
		"RENAME":       {states: authed, fn: (*conn).cmdRename},
		"SUBSCRIBE":    {states: authed, fn: (*conn).cmdSubscribe},
		"UNSUBSCRIBE":  {states: authed, fn: (*conn).cmdUnsubscribe},
		"LIST":         {states: authed, fn: (*conn).cmdList},
		"LSUB":         {states: authed, fn: (*conn).cmdLsub},
		"NAMESPACE":    {states: authed, fn: (*conn).cmdNamespace},
		"STATUS":       {states: authed, fn: (*conn).cmdStatus},
		"APPEND":       {states: authed, fn: (*conn).cmdAppend},
		"IDLE":         {states: authed, fn: (*conn).cmdIdle},
		"CHECK":        {states: stateSelected, fn: (*conn).cmdCheck},
		"CLOSE":        {states: stateSelected, fn: (*conn).cmdClose},
		"UNSELECT":     {states: stateSelected, fn: (*conn).cmdUnselect},
		"EXPUNGE":      {states: stateSelected, uid: true, fn: (*conn).cmdExpunge},
		"SEARCH":       {states: stateSelected, uid: true, fn: (*conn).cmdSearch},
		"FETCH":        {states: stateSelected, uid: true, fn: (*conn).cmdFetch},
		"STORE":        {states: stateSelected, uid: true, fn: (*conn).cmdStore},
		"COPY":         {states: stateSelected, uid: true, fn: (*conn).cmdCopy},
		"MOVE":         {states: stateSelected, uid: true, fn: (*conn).cmdMove},
		"REPLACE":      {states: stateSelected, uid: true, fn: (*conn).cmdReplace},
		"COMPRESS":     {states: authed, fn: (*conn).cmdCompress},
		"GETQUOTA":     {states: authed, fn: (*conn).cmdQuota},
		"GETMETADATA":  {states: authed, fn: (*conn).cmdGetMetadata},
		"SETMETADATA":  {states: authed, fn: (*conn).cmdSetMetadata},
		"GETQUOTAROOT": {states: authed, fn: (*conn).cmdQuota},
		"SETQUOTA":     {states: authed, fn: (*conn).cmdQuota},
		"SORT":         {states: stateSelected, uid: true, fn: (*conn).cmdSort},
		"THREAD":       {states: stateSelected, uid: true, fn: (*conn).cmdThread},
		"CANCELUPDATE": {states: stateSelected, fn: (*conn).cmdCancelUpdate},
		"NOTIFY":       {states: authed, fn: (*conn).cmdNotify},
	}
}

// capImplemented names, for each capability the server may advertise, the
// command or behaviour that implements it; TestCapabilitiesImplemented
// fails when an advertised capability is missing here or its command is
// missing from commands.
var capImplemented = map[string]string{
	"IMAP4rev2":          "ENABLE",
	"IMAP4rev1":          "LSUB",
	"LITERAL+":           "", // imap.Reader accepts {n+}; literal() never sends "+" for them
	"SASL-IR":            "AUTHENTICATE",
	"AUTH=PLAIN":         "AUTHENTICATE",
	"LOGINDISABLED":      "LOGIN",
	"STARTTLS":           "STARTTLS",
	"ID":                 "ID",
	"ENABLE":             "ENABLE",
	"IDLE":               "IDLE",
	"NAMESPACE":          "NAMESPACE",
	"UIDPLUS":            "EXPUNGE",
	"MOVE":               "MOVE",
	"UNSELECT":           "UNSELECT",
	"CHILDREN":           "LIST",
	"LIST-EXTENDED":      "LIST",
	"LIST-STATUS":        "LIST",
	"SPECIAL-USE":        "LIST",
	"CREATE-SPECIAL-USE": "CREATE",
	"ESEARCH":            "SEARCH",
	"SEARCHRES":          "SEARCH",
	"BINARY":             "FETCH",
	"STATUS=SIZE":        "STATUS",
	"APPENDLIMIT":        "APPEND",
	"MULTIAPPEND":        "APPEND",
	"REPLACE":            "REPLACE",
	"COMPRESS":           "COMPRESS",     // =DEFLATE
	"QUOTA":              "GETQUOTAROOT", // and =RES-STORAGE, =RES-MESSAGE
	"UTF8":               "ENABLE",       // =ACCEPT
	"PREVIEW":            "FETCH",
	"CONDSTORE":          "ENABLE", // RFC 7162 §3.1: condstore.go
	"QRESYNC":            "ENABLE", // RFC 7162 §3.2: qresync.go
	"SORT":               "SORT",   // SORT and SORT=DISPLAY
	"ESORT":              "SORT",
	"THREAD":             "THREAD", // THREAD=ORDEREDSUBJECT, THREAD=REFERENCES
	"PARTIAL":            "SEARCH", // and UID FETCH's PARTIAL modifier
	"WITHIN":             "SEARCH",
	"CONTEXT":            "CANCELUPDATE", // CONTEXT=SEARCH, CONTEXT=SORT
	"NOTIFY":             "NOTIFY",       // RFC 5465: notify.go
	"OBJECTID":           "FETCH",        // RFC 8474: objectid.go
	"SAVEDATE":           "FETCH",        // RFC 8514: objectid.go
	"METADATA":           "SETMETADATA",  // RFC 5464: metadata.go
	"METADATA-SERVER":    "GETMETADATA",
	"LIST-METADATA":      "LIST",   // RFC 9590: metadata.go
	"CATENATE":           "APPEND", // RFC 4469: catenate.go
}

// sessionCaps are advertised after login (plus APPENDLIMIT=n).
var sessionCaps = []string{
	"IMAP4rev2", "IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE",
	"UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
	"CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "BINARY", "STATUS=SIZE",
	"CONDSTORE", "QRESYNC", "NOTIFY",
	"SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
	"PARTIAL", "WITHIN", "CONTEXT=SEARCH", "CONTEXT=SORT",
	"COMPRESS=DEFLATE", "MULTIAPPEND", "REPLACE", "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE",
	"UTF8=ACCEPT", "PREVIEW",
	"OBJECTID", "SAVEDATE", "METADATA", "METADATA-SERVER", "LIST-METADATA",
	"CATENATE",
}

// capabilities returns the capability list for the connection's state.
func (c *conn) capabilities() string {
	var b strings.Builder
	b.WriteString("IMAP4rev2 IMAP4rev1")
	if c.state == stateNotAuth {
		b.WriteString(" LITERAL+ SASL-IR ID ENABLE IDLE")
		if c.pcfg.StartTLS != nil && !c.tls {
			b.WriteString(" STARTTLS")
		}
		if c.authAllowed() {
			b.WriteString(" AUTH=PLAIN")
		} else {
			b.WriteString(" LOGINDISABLED")
		}
		return b.String()
	}
	for _, s := range sessionCaps[2:] {
		b.WriteByte(' ')
		b.WriteString(s)
	}
	b.WriteString(" APPENDLIMIT=")
	b.WriteString(strconv.FormatInt(c.appendMax, 10))
	return b.String()
}

// RFC 9051 §6.1.1
func (c *conn) cmdCapability(cmd *imap.Command) error {
	c.writeString("* CAPABILITY " + c.capabilities() + "\r\n")
	c.ok(cmd, "", "CAPABILITY completed")
	return nil
}

// RFC 9051 §6.1.2: NOOP is the polite way to ask for updates.
func (c *conn) cmdNoop(cmd *imap.Command) error {
	c.ok(cmd, "", "NOOP completed")
	return nil
}

// RFC 9051 §6.1.3
func (c *conn) cmdLogout(cmd *imap.Command) error {
	c.writeString("* BYE IMAP4rev2 Server logging out\r\n")
	c.tagged(cmd.Tag, "OK", "", "LOGOUT completed")
	return errLogout
}

// RFC 2971: ID. The server names itself and remembers what the client said.
func (c *conn) cmdID(cmd *imap.Command) error {
	args := cmd.Args.(*imap.ID)
	if len(args.Params) > 60 {
		return badf("too many ID parameters")
	}
	c.idArg = make([]string, len(args.Params))
	for i, p := range args.Params {
		if len(p) > idValueKept {
			p = strings.ToValidUTF8(p[:idValueKept], "")
		}
		c.idArg[i] = p
	}
	c.writeString("* ID (\"name\" \"imapd\")\r\n")
	c.ok(cmd, "", "ID completed")
	return nil
}

// RFC 9051 §6.3.1, RFC 5161: ENABLE.
func (c *conn) cmdEnable(cmd *imap.Command) error {
	args := cmd.Args.(*imap.Enable)
	var enabled []string
	for _, cp := range args.Caps {
		switch strings.ToUpper(cp) {
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2 = true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE": // RFC 7162 §3.1
			if !c.condstore {
				c.condstore = true
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC": // RFC 7162 §3.2.3: implies CONDSTORE
			if !c.qresync {
				c.qresync, c.condstore = true, true
				enabled = append(enabled, "QRESYNC")
			}
		}
	}
	b := append(c.out[:0], "* ENABLED"...)
	for _, e := range enabled {
		b = append(b, ' ')
		b = append(b, e...)
	}
	b = append(b, "\r\n"...)
	c.write(b)
	c.out = b
	c.ok(cmd, "", "ENABLE completed")
	return nil
}

// RFC 9051 §6.3.10, RFC 2342: one personal namespace, no others.
func (c *conn) cmdNamespace(cmd *imap.Command) error {
	c.writeString("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n")
	c.ok(cmd, "", "NAMESPACE completed")
	return nil
}
