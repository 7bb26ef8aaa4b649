package imap

import "time"

// MaxDepth bounds the nesting of parenthesised lists and search keys, so
// that hostile input gets a syntax error rather than a deep stack.
const MaxDepth = 100

// Parse parses one command as framed by Reader.ReadRaw: lines ending in
// CRLF (or LF) with literals inline. Errors are *SyntaxError carrying the
// tag when one was read. Append.Literal aliases raw.
func Parse(raw []byte) (cmd *Command, err error) {
	p := parser{b: raw}
	defer func() {
		if x := recover(); x != nil {
			pe, ok := x.(parseError)
			if !ok {
				panic(x)
			}
			cmd, err = nil, &SyntaxError{Tag: p.tag, Msg: string(pe)}
		}
	}()
	return p.command(), nil
}

// parseError is what parser.fail panics with; Parse turns it into a
// *SyntaxError.
type parseError string

// parser holds the input and position; its methods follow the ABNF names
// of RFC 9051 §9.
type parser struct {
	b     []byte
	pos   int
	tag   string
	depth int
}

func (p *parser) fail(msg string) { panic(parseError(msg)) }

func (p *parser) peek() byte {
	if p.pos < len(p.b) {
		return p.b[p.pos]
	}
	return 0
}

func (p *parser) take(c byte) bool {
	if p.pos < len(p.b) && p.b[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(c byte, msg string) {
	if !p.take(c) {
		p.fail(msg)
	}
}

func (p *parser) sp() { p.expect(' ', "expected space") }

func (p *parser) enter() {
	p.depth++
	if p.depth > MaxDepth {
		p.fail("nesting too deep")
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) crlf() {
	p.take('\r')
	if !p.take('\n') || p.pos != len(p.b) {
		p.fail("unexpected characters at end of command")
	}
}

// tryTag reads the tag and the SP after it.
func (p *parser) tryTag() (string, bool) {
	i := p.pos
	for i < len(p.b) && isTagChar(p.b[i]) {
		i++
	}
	if i == p.pos || i >= len(p.b) || p.b[i] != ' ' {
		return "", false
	}
	t := string(p.b[p.pos:i])
	p.pos = i + 1
	return t, true
}

// peekName returns the upper-cased atom at the position without consuming it.
func (p *parser) peekName() string {
	i := p.pos
	for i < len(p.b) && isAtomChar(p.b[i]) {
		i++
	}
	return upper(p.b[p.pos:i])
}

// atomBytes reads 1*ATOM-CHAR and returns it aliasing the input.
func (p *parser) atomBytes() []byte {
	i := p.pos
	for p.pos < len(p.b) && isAtomChar(p.b[p.pos]) {
		p.pos++
	}
	if i == p.pos {
		p.fail("expected atom")
	}
	return p.b[i:p.pos]
}

// word reads an atom upper-cased into buf (no allocation for short atoms);
// for comparisons in switch statements.
func (p *parser) word(buf []byte) []byte {
	a := p.atomBytes()
	buf = buf[:0]
	for _, c := range a {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// atom returns an upper-cased atom as a string.
func (p *parser) atomUpper() string { return upper(p.atomBytes()) }

// command = tag SP (command-any / command-auth / command-nonauth /
// command-select) CRLF
func (p *parser) command() *Command {
	tag, ok := p.tryTag()
	if !ok {
		p.fail("bad or missing tag")
	}
	p.tag = tag
	cmd := &Command{Tag: tag}
	var wb [16]byte
	name := p.word(wb[:0])
	if string(name) == "UID" {
		cmd.UID = true
		p.sp()
		name = p.word(wb[:0])
		switch string(name) {
		case "COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE", "SORT", "THREAD", "REPLACE":
		default:
			p.fail("unknown UID command")
		}
	}
	switch string(name) {
	case "CAPABILITY":
		cmd.Name, cmd.Args = "CAPABILITY", &Capability{}
	case "NOOP":
		cmd.Name, cmd.Args = "NOOP", &Noop{}
	case "LOGOUT":
		cmd.Name, cmd.Args = "LOGOUT", &Logout{}
	case "STARTTLS":
		cmd.Name, cmd.Args = "STARTTLS", &StartTLS{}
	case "NAMESPACE":
		cmd.Name, cmd.Args = "NAMESPACE", &Namespace{}
	case "IDLE":
		cmd.Name, cmd.Args = "IDLE", &Idle{}
	case "CHECK":
		cmd.Name, cmd.Args = "CHECK", &Check{}
	case "CLOSE":
		cmd.Name, cmd.Args = "CLOSE", &Close{}
	case "UNSELECT":
		cmd.Name, cmd.Args = "UNSELECT", &Unselect{}
	case "EXPUNGE":
		cmd.Name = "EXPUNGE"
		e := &Expunge{}
		if cmd.UID {
			// RFC 9051 §6.4.9
			p.sp()
			s := p.sequenceSet()
			e.Seq = &s
		}
		cmd.Args = e
	case "LOGIN":
		cmd.Name, cmd.Args = "LOGIN", p.login()
	case "AUTHENTICATE":
		cmd.Name, cmd.Args = "AUTHENTICATE", p.authenticate()
	case "ENABLE":
		cmd.Name, cmd.Args = "ENABLE", p.enable()
	case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		cmd.Name, cmd.Args = string(name), p.quota(string(name))
	case "COMPRESS":
		// compress = "COMPRESS" SP algorithm (RFC 4978 §5)
		p.sp()
		cmd.Name, cmd.Args = "COMPRESS", &Compress{Mechanism: p.atomUpper()}
	case "ID":
		cmd.Name, cmd.Args = "ID", p.id()
	case "SELECT":
		cmd.Name, cmd.Args = "SELECT", p.selectCmd(false)
	case "EXAMINE":
		cmd.Name, cmd.Args = "EXAMINE", p.selectCmd(true)
	case "CREATE":
		cmd.Name, cmd.Args = "CREATE", p.create()
	case "DELETE":
		p.sp()
		cmd.Name, cmd.Args = "DELETE", &Delete{Mailbox: p.mailbox()}
	case "RENAME":
		p.sp()
		r := &Rename{From: p.mailbox()}
		p.sp()
		r.To = p.mailbox()
		cmd.Name, cmd.Args = "RENAME", r
	case "SUBSCRIBE":
		p.sp()
		cmd.Name, cmd.Args = "SUBSCRIBE", &Subscribe{Mailbox: p.mailbox()}
	case "UNSUBSCRIBE":
		p.sp()
		cmd.Name, cmd.Args = "UNSUBSCRIBE", &Unsubscribe{Mailbox: p.mailbox()}
	case "LIST":
		cmd.Name, cmd.Args = "LIST", p.list()
	case "LSUB":
		p.sp()
		l := &Lsub{Reference: p.mailbox()}
		p.sp()
		l.Pattern = p.listMailbox()
		cmd.Name, cmd.Args = "LSUB", l
	case "STATUS":
		cmd.Name, cmd.Args = "STATUS", p.status()
	case "APPEND":
		cmd.Name, cmd.Args = "APPEND", p.append()
	case "COPY":
		p.sp()
		c := &Copy{Seq: p.sequenceSet()}
		p.sp()
		c.Mailbox = p.mailbox()
		cmd.Name, cmd.Args = "COPY", c
	case "REPLACE":
		cmd.Name, cmd.Args = "REPLACE", p.replace()
	case "MOVE":
		p.sp()
		m := &Move{Seq: p.sequenceSet()}
		p.sp()
		m.Mailbox = p.mailbox()
		cmd.Name, cmd.Args = "MOVE", m
	case "FETCH":
		cmd.Name, cmd.Args = "FETCH", p.fetch()
	case "STORE":
		cmd.Name, cmd.Args = "STORE", p.store()
	case "SEARCH":
		cmd.Name, cmd.Args = "SEARCH", p.search()
	case "SORT":
		cmd.Name, cmd.Args = "SORT", p.sortCmd()
	case "THREAD":
		cmd.Name, cmd.Args = "THREAD", p.threadCmd()
	case "CANCELUPDATE":
		cmd.Name, cmd.Args = "CANCELUPDATE", p.cancelUpdate()
	case "NOTIFY":
		cmd.Name, cmd.Args = "NOTIFY", p.notify() // RFC 5465
	case "GETMETADATA":
		cmd.Name, cmd.Args = "GETMETADATA", p.getMetadata() // RFC 5464: metadata.go
	case "SETMETADATA":
		cmd.Name, cmd.Args = "SETMETADATA", p.setMetadata()
	default:
		p.fail("unknown command")
	}
	p.crlf()
	return cmd
}

// login = "LOGIN" SP userid SP password
func (p *parser) login() *Login {
	p.sp()
	l := &Login{User: p.astring()}
	p.sp()
	l.Password = p.astring()
	return l
}

// authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]
func (p *parser) authenticate() *Authenticate {
	p.sp()
	a := &Authenticate{Mechanism: p.atomUpper()}
	if p.take(' ') {
		s := p.base64()
		a.InitialResponse = &s
	}
	return a
}

// base64 reads base64 or the "=" meaning an empty response (RFC 4959).
func (p *parser) base64() string {
	i := p.pos
	for p.pos < len(p.b) && isBase64Char(p.b[p.pos]) {
		p.pos++
	}
	if p.pos == i {
		p.fail("expected base64")
	}
	if p.pos-i == 1 && p.b[i] == '=' {
		return ""
	}
	return string(p.b[i:p.pos])
}

// enable = "ENABLE" 1*(SP capability)
func (p *parser) enable() *Enable {
	e := &Enable{}
	for {
		p.sp()
		e.Caps = append(e.Caps, p.atomUpper())
		if p.peek() != ' ' {
			return e
		}
	}
}

// id = "ID" SP id-params-list (RFC 2971 §3)
// id-params-list = "(" *(string SP nstring) ")" / nil
func (p *parser) id() *ID {
	p.sp()
	if !p.take('(') {
		if p.nilAtom() {
			return &ID{}
		}
		p.fail("expected ( or NIL")
	}
	params := []string{}
	for !p.take(')') {
		if len(params) > 0 {
			p.sp()
		}
		k := p.string()
		p.sp()
		v, _ := p.nstring()
		params = append(params, k, v)
		if len(params) > 60 {
			p.fail("too many ID parameters") // RFC 2971 §3.3: at most 30
		}
	}
	return &ID{Params: params}
}

// nilAtom consumes NIL if it is there.
func (p *parser) nilAtom() bool {
	if p.pos+3 <= len(p.b) && (p.b[p.pos]|0x20) == 'n' && (p.b[p.pos+1]|0x20) == 'i' &&
		(p.b[p.pos+2]|0x20) == 'l' && (p.pos+3 == len(p.b) || !isAtomChar(p.b[p.pos+3])) {
		p.pos += 3
		return true
	}
	return false
}

// select = "SELECT" SP mailbox [select-params] (RFC 4466 §2.1)
func (p *parser) selectCmd(readOnly bool) *Select {
	p.sp()
	s := &Select{Mailbox: p.mailbox(), ReadOnly: readOnly}
	if p.take(' ') {
		p.expect('(', "expected (")
		for {
			prm := Param{Name: p.atomUpper()}
			// A value is a tagged-ext-val: a number, a sequence-set or a
			// list; an atom after SP is the next parameter, as in
			// "(CONDSTORE QRESYNC (...))".
			if p.take(' ') {
				if c := p.peek(); c == '(' || isDigit(c) || c == '*' || c == '$' {
					prm.Value = p.taggedExtVal()
				} else {
					s.Params = append(s.Params, prm)
					continue
				}
			}
			s.Params = append(s.Params, prm)
			if p.take(')') {
				break
			}
			p.sp()
		}
	}
	return s
}

// taggedExtVal reads tagged-ext-val (RFC 4466 §2.1) and returns its raw
// text: a sequence-set or number, or a parenthesised list of astrings and
// nested lists.
func (p *parser) taggedExtVal() string {
	start := p.pos
	if p.peek() != '(' {
		p.atomBytes() // tagged-ext-simple is atom-shaped
		return string(p.b[start:p.pos])
	}
	p.taggedExtComp()
	return string(p.b[start:p.pos])
}

func (p *parser) taggedExtComp() {
	p.enter()
	p.expect('(', "expected (")
	first := true
	for !p.take(')') {
		if !first {
			p.sp()
		}
		first = false
		if p.peek() == '(' {
			p.taggedExtComp()
		} else {
			p.astring()
		}
	}
	p.leave()
}

// create = "CREATE" SP mailbox [create-params] (RFC 4466 §2.2)
// create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")" (RFC 6154 §6)
func (p *parser) create() *Create {
	p.sp()
	c := &Create{Mailbox: p.mailbox()}
	if p.take(' ') {
		p.expect('(', "expected (")
		for {
			var wb [16]byte
			if string(p.word(wb[:0])) != "USE" {
				p.fail("unknown CREATE parameter")
			}
			p.sp()
			p.expect('(', "expected (")
			c.SpecialUse = []string{}
			for !p.take(')') {
				if len(c.SpecialUse) > 0 {
					p.sp()
				}
				c.SpecialUse = append(c.SpecialUse, p.flag())
			}
			if p.take(')') {
				break
			}
			p.sp()
		}
	}
	return c
}

// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 9051 §6.3.9, RFC 5258)
func (p *parser) list() *List {
	l := &List{}
	p.sp()
	if p.take('(') {
		l.Extended = true
		l.SelectOpts = []string{}
		for !p.take(')') {
			if len(l.SelectOpts) > 0 {
				p.sp()
			}
			l.SelectOpts = append(l.SelectOpts, p.atomUpper())
		}
		p.sp()
	}
	l.Reference = p.mailbox()
	p.sp()
	if p.take('(') {
		l.Extended = true
		for {
			l.Patterns = append(l.Patterns, p.listMailbox())
			if p.take(')') {
				break
			}
			p.sp()
		}
	} else {
		l.Patterns = []string{p.listMailbox()}
	}
	if p.take(' ') {
		var wb [16]byte
		if string(p.word(wb[:0])) != "RETURN" {
			p.fail("expected RETURN")
		}
		l.Extended = true
		p.sp()
		p.expect('(', "expected (")
		l.ReturnOpts = []string{}
		for !p.take(')') {
			if len(l.ReturnOpts) > 0 {
				p.sp()
			}
			o := p.atomUpper()
			l.ReturnOpts = append(l.ReturnOpts, o)
			if o == "STATUS" {
				p.sp()
				l.StatusItems = p.statusAtts()
			}
			if o == "METADATA" {
				p.sp()
				l.Metadata = p.listMetadata() // metadata.go
			}
		}
	}
	return l
}

// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
func (p *parser) status() *Status {
	p.sp()
	s := &Status{Mailbox: p.mailbox()}
	p.sp()
	s.Items = p.statusAtts()
	return s
}

func (p *parser) statusAtts() []string {
	p.expect('(', "expected (")
	var items []string
	for {
		items = append(items, p.atomUpper())
		if p.take(')') {
			return items
		}
		p.sp()
	}
}

// append = "APPEND" SP mailbox 1*append-message (RFC 3502 MULTIAPPEND)
// append-message = [SP flag-list] [SP date-time] SP literal (RFC 9051
// §6.3.12; literal8 from RFC 3516 §4.4)
func (p *parser) append() *Append {
	p.sp()
	a := &Append{Mailbox: p.mailbox()}
	for first := true; ; first = false {
		p.sp()
		m := p.appendMessage()
		if first {
			a.Flags, a.Date, a.Literal, a.Binary, a.UTF8 = m.Flags, m.Date, m.Literal, m.Binary, m.UTF8
			a.Catenate = m.Catenate
		} else {
			a.More = append(a.More, m)
		}
		if p.peek() != ' ' {
			return a
		}
	}
}

// replace = "REPLACE" SP seq-number SP mailbox append-message (RFC 8508
// §6; a UID after UID)
func (p *parser) replace() *Replace {
	p.sp()
	r := &Replace{Num: p.nzNumber()}
	p.sp()
	r.Mailbox = p.mailbox()
	p.sp()
	r.Message = p.appendMessage()
	return r
}

func (p *parser) appendMessage() AppendMessage {
	var m AppendMessage
	if p.peek() == '(' {
		m.Flags = p.flagList()
		p.sp()
	}
	if p.peek() == '"' {
		m.Date = p.dateTime()
		p.sp()
	}
	if p.peek() == 'C' || p.peek() == 'c' {
		// append-data =/ "CATENATE" SP "(" cat-part ... ")" (RFC 4469 §5)
		if p.atomUpper() != "CATENATE" {
			p.fail("expected literal")
		}
		m.Catenate = p.catenate() // catenate.go
		return m
	}
	if p.peek() == 'U' || p.peek() == 'u' {
		// utf8-literal = "UTF8" SP "(" literal8 ")" (RFC 6855 §4)
		if p.atomUpper() != "UTF8" {
			p.fail("expected literal")
		}
		p.sp()
		p.expect('(', "expected (")
		p.expect('~', "expected literal8")
		m.Binary, m.UTF8 = true, true
		m.Literal = p.literal()
		p.expect(')', "expected )")
		return m
	}
	if p.take('~') {
		m.Binary = true
		if p.peek() != '{' {
			p.fail("expected literal8")
		}
	}
	if p.peek() != '{' {
		p.fail("expected literal")
	}
	m.Literal = p.literal()
	return m
}

// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
// fetch-att / "(" fetch-att *(SP fetch-att) ")")
func (p *parser) fetch() *Fetch {
	p.sp()
	f := &Fetch{Seq: p.sequenceSet()}
	p.sp()
	if p.take('(') {
		f.Items = make([]FetchItem, 0, 8)
		for {
			f.Items = append(f.Items, p.fetchAtt())
			if p.take(')') {
				break
			}
			p.sp()
		}
	} else {
		// RFC 9051 §6.4.5 macros
		var wb [16]byte
		start := p.pos
		var w []byte
		end := p.pos
		for end < len(p.b) && isAtomChar(p.b[end]) {
			end++
		}
		if end-p.pos <= 4 {
			w = p.word(wb[:0])
		}
		switch string(w) {
		case "ALL":
			f.Macro = "ALL"
			f.Items = []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}}
		case "FAST":
			f.Macro = "FAST"
			f.Items = []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}}
		case "FULL":
			f.Macro = "FULL"
			f.Items = []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}, {Name: "ENVELOPE"}, {Name: "BODY"}}
		default:
			p.pos = start
			f.Items = []FetchItem{p.fetchAtt()}
		}
	}
	if p.take(' ') {
		p.fetchModifiers(f)
	}
	return f
}

// fetchAtt = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" /
// ".SIZE" / ".TEXT"] / "BODY" ["STRUCTURE"] / "UID" / "BODY" section
// [partial] / "BODY.PEEK" section [partial] / "BINARY" [".PEEK"]
// section-binary [partial] / "BINARY.SIZE" section-binary
func (p *parser) fetchAtt() FetchItem {
	var wb [16]byte
	i := p.pos
	for p.pos < len(p.b) && isAtomChar(p.b[p.pos]) && p.b[p.pos] != '[' {
		p.pos++
	}
	if i == p.pos {
		p.fail("expected fetch item")
	}
	w := wb[:0]
	for _, c := range p.b[i:p.pos] {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		w = append(w, c)
	}
	var it FetchItem
	switch string(w) {
	case "ENVELOPE":
		it.Name = "ENVELOPE"
	case "FLAGS":
		it.Name = "FLAGS"
	case "INTERNALDATE":
		it.Name = "INTERNALDATE"
	case "RFC822":
		it.Name = "RFC822"
	case "RFC822.HEADER":
		it.Name = "RFC822.HEADER"
	case "RFC822.SIZE":
		it.Name = "RFC822.SIZE"
	case "RFC822.TEXT":
		it.Name = "RFC822.TEXT"
	case "BODYSTRUCTURE":
		it.Name = "BODYSTRUCTURE"
	case "UID":
		it.Name = "UID"
	case "MODSEQ":
		it.Name = "MODSEQ"
	case "PREVIEW":
		// "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"] (RFC 8970 §6)
		it.Name = "PREVIEW"
		if p.pos+1 < len(p.b) && p.b[p.pos] == ' ' && p.b[p.pos+1] == '(' {
			p.pos += 2
			for {
				if p.atomUpper() != "LAZY" {
					p.fail("unknown PREVIEW modifier")
				}
				it.Lazy = true
				if p.take(')') {
					break
				}
				p.sp()
			}
		}
	case "BODY":
		it.Name = "BODY"
		if p.peek() == '[' {
			it.Section = p.section()
			it.Partial = p.partial()
		}
	case "BODY.PEEK":
		it.Name = "BODY.PEEK"
		it.Section = p.section()
		it.Partial = p.partial()
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		if w[len(w)-1] == 'Y' {
			it.Name = "BINARY"
		} else if w[len(w)-1] == 'K' {
			it.Name = "BINARY.PEEK"
		} else {
			it.Name = "BINARY.SIZE"
		}
		it.Section = p.sectionBinary()
		if it.Name != "BINARY.SIZE" {
			it.Partial = p.partial()
		}
	case "EMAILID", "THREADID", "SAVEDATE": // RFC 8474 §5.3, RFC 8514 §4.2
		it.Name = string(w)
	default:
		p.fail("unknown fetch item")
	}
	return it
}

// section = "[" [section-spec] "]"
// section-spec = section-msgtext / (section-part ["." section-text])
func (p *parser) section() *Section {
	p.expect('[', "expected [")
	s := &Section{}
	if p.take(']') {
		return s
	}
	if isDigit(p.peek()) {
		s.Part = p.sectionPart()
		if p.take(']') {
			return s
		}
		p.expect('.', "expected . or ]")
	}
	var wb [24]byte
	w := wb[:0]
	for p.pos < len(p.b) && (isAlpha(p.b[p.pos]) || p.b[p.pos] == '.') && len(w) < 20 {
		c := p.b[p.pos]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		w = append(w, c)
		p.pos++
	}
	switch string(w) {
	case "HEADER":
		s.Specifier = "HEADER"
	case "TEXT":
		s.Specifier = "TEXT"
	case "MIME":
		if len(s.Part) == 0 {
			p.fail("MIME needs a part number")
		}
		s.Specifier = "MIME"
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if len(w) == len("HEADER.FIELDS") {
			s.Specifier = "HEADER.FIELDS"
		} else {
			s.Specifier = "HEADER.FIELDS.NOT"
		}
		p.sp()
		s.Fields = p.headerList()
	default:
		p.fail("bad section")
	}
	p.expect(']', "expected ]")
	return s
}

// section-binary = "[" [section-part] "]"
func (p *parser) sectionBinary() *Section {
	p.expect('[', "expected [")
	s := &Section{}
	if !p.take(']') {
		s.Part = p.sectionPart()
		p.expect(']', "expected ]")
	}
	return s
}

// section-part = nz-number *("." nz-number)
func (p *parser) sectionPart() []int {
	var part []int
	for {
		n := p.nzNumber()
		part = append(part, int(n))
		if len(part) > MaxDepth {
			p.fail("section nested too deep")
		}
		if p.pos+1 < len(p.b) && p.b[p.pos] == '.' && isDigit(p.b[p.pos+1]) {
			p.pos++
			continue
		}
		return part
	}
}

// header-list = "(" header-fld-name *(SP header-fld-name) ")"
func (p *parser) headerList() []string {
	p.expect('(', "expected (")
	f := make([]string, 0, 16)
	for {
		if c := p.peek(); c != '"' && c != '{' {
			i := p.pos
			for p.pos < len(p.b) && isAStringChar(p.b[p.pos]) {
				p.pos++
			}
			if i == p.pos {
				p.fail("expected header field name")
			}
			f = append(f, headerName(p.b[i:p.pos]))
		} else {
			f = append(f, p.astring())
		}
		if p.take(')') {
			return f
		}
		p.sp()
	}
}

// partial = "<" number64 "." nz-number64 ">"
func (p *parser) partial() *Partial {
	if !p.take('<') {
		return nil
	}
	o := p.number64()
	p.expect('.', "expected .")
	c := p.number64()
	if c == 0 {
		p.fail("partial count must not be zero")
	}
	p.expect('>', "expected >")
	return &Partial{Offset: o, Count: c}
}

// store = "STORE" SP sequence-set SP store-att-flags
// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list /
// (flag *(SP flag)))
func (p *parser) store() *Store {
	p.sp()
	s := &Store{Seq: p.sequenceSet()}
	p.sp()
	if p.peek() == '(' {
		p.storeModifiers(s)
	}
	if p.take('+') {
		s.Mode = StoreAdd
	} else if p.take('-') {
		s.Mode = StoreRemove
	}
	var wb [16]byte
	switch string(p.word(wb[:0])) {
	case "FLAGS":
	case "FLAGS.SILENT":
		s.Silent = true
	default:
		p.fail("expected FLAGS")
	}
	p.sp()
	if p.peek() == '(' {
		s.Flags = p.flagList()
		return s
	}
	s.Flags = []string{p.flag()}
	for p.take(' ') {
		s.Flags = append(s.Flags, p.flag())
	}
	return s
}

// flag-list = "(" [flag *(SP flag)] ")"
func (p *parser) flagList() []string {
	p.expect('(', "expected (")
	flags := []string{}
	for !p.take(')') {
		if len(flags) > 0 {
			p.sp()
		}
		flags = append(flags, p.flag())
	}
	return flags
}

// flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" /
// flag-keyword / flag-extension
func (p *parser) flag() string {
	start := p.pos
	if p.take('\\') {
		p.atomBytes()
		return systemFlag(p.b[start:p.pos])
	}
	return string(p.atomBytes())
}

// systemFlag returns the canonical spelling of a system flag, so that the
// session can compare with ==. Unknown flag-extensions are kept as sent.
func systemFlag(b []byte) string {
	var wb [16]byte
	if len(b) > len(wb) {
		return string(b)
	}
	w := wb[:0]
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		w = append(w, c)
	}
	switch string(w) {
	case `\seen`:
		return `\Seen`
	case `\answered`:
		return `\Answered`
	case `\flagged`:
		return `\Flagged`
	case `\deleted`:
		return `\Deleted`
	case `\draft`:
		return `\Draft`
	case `\recent`:
		return `\Recent`
	case `\sent`:
		return `\Sent`
	case `\trash`:
		return `\Trash`
	case `\drafts`:
		return `\Drafts`
	case `\junk`:
		return `\Junk`
	case `\archive`:
		return `\Archive`
	case `\all`:
		return `\All`
	case `\important`:
		return `\Important`
	}
	return string(b)
}

// search = "SEARCH" [search-return-opts] SP search-program
func (p *parser) search() *Search {
	s := &Search{}
	p.sp()
	if p.peekName() == "RETURN" {
		p.searchReturn(s)
		p.sp()
	}
	start := p.pos
	var wb [16]byte
	if isAlpha(p.peek()) && string(p.word(wb[:0])) == "CHARSET" {
		p.sp()
		s.Charset = p.charset()
		p.sp()
	} else {
		p.pos = start
	}
	p.searchKeys(s)
	return s
}

// searchKey parses one search-key (RFC 9051 §9, RFC 3501 §9 for NEW,
// OLD, RECENT, UNRECENT; RFC 5032 for OLDER, YOUNGER).
func (p *parser) searchKey() SearchKey {
	c := p.peek()
	if c == '(' {
		p.enter()
		p.pos++
		k := SearchKey{Op: SearchAnd}
		for {
			k.Children = append(k.Children, p.searchKey())
			if p.take(')') {
				break
			}
			p.sp()
		}
		p.leave()
		if len(k.Children) == 1 {
			return k.Children[0]
		}
		return k
	}
	if isDigit(c) || c == '*' || c == '$' {
		return SearchKey{Op: SearchSeq, Seq: p.sequenceSet()}
	}
	var wb [16]byte
	w := p.word(wb[:0])
	var k SearchKey
	switch string(w) {
	case "ALL":
		k.Op = SearchAll
	case "ANSWERED":
		k.Op, k.Flag = SearchFlag, `\Answered`
	case "DELETED":
		k.Op, k.Flag = SearchFlag, `\Deleted`
	case "DRAFT":
		k.Op, k.Flag = SearchFlag, `\Draft`
	case "FLAGGED":
		k.Op, k.Flag = SearchFlag, `\Flagged`
	case "SEEN":
		k.Op, k.Flag = SearchFlag, `\Seen`
	case "RECENT":
		k.Op, k.Flag = SearchFlag, `\Recent`
	case "UNANSWERED":
		k.Op, k.Flag = SearchNoFlag, `\Answered`
	case "UNDELETED":
		k.Op, k.Flag = SearchNoFlag, `\Deleted`
	case "UNDRAFT":
		k.Op, k.Flag = SearchNoFlag, `\Draft`
	case "UNFLAGGED":
		k.Op, k.Flag = SearchNoFlag, `\Flagged`
	case "UNSEEN":
		k.Op, k.Flag = SearchNoFlag, `\Seen`
	case "NEW":
		k.Op = SearchNew
	case "OLD":
		k.Op = SearchOld
	case "KEYWORD", "UNKEYWORD":
		k.Op = SearchFlag
		if w[0] == 'U' {
			k.Op = SearchNoFlag
		}
		p.sp()
		k.Flag = p.flag()
	case "BCC", "CC", "FROM", "SUBJECT", "TO":
		k.Op = SearchHeader
		switch w[0] {
		case 'B':
			k.Field = "BCC"
		case 'C':
			k.Field = "CC"
		case 'F':
			k.Field = "FROM"
		case 'S':
			k.Field = "SUBJECT"
		default:
			k.Field = "TO"
		}
		p.sp()
		k.Value = p.astring()
	case "HEADER":
		k.Op = SearchHeader
		p.sp()
		k.Field = p.astring()
		p.sp()
		k.Value = p.astring()
	case "BODY":
		k.Op = SearchBody
		p.sp()
		k.Value = p.astring()
	case "TEXT":
		k.Op = SearchText
		p.sp()
		k.Value = p.astring()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		switch string(w) {
		case "BEFORE":
			k.Op = SearchBefore
		case "ON":
			k.Op = SearchOn
		case "SINCE":
			k.Op = SearchSince
		case "SENTBEFORE":
			k.Op = SearchSentBefore
		case "SENTON":
			k.Op = SearchSentOn
		default:
			k.Op = SearchSentSince
		}
		p.sp()
		k.Date = p.date()
	case "LARGER", "SMALLER":
		k.Op = SearchLarger
		if w[0] == 'S' {
			k.Op = SearchSmaller
		}
		p.sp()
		k.Size = p.number64()
	case "OLDER", "YOUNGER":
		k.Op = SearchOlder
		if w[0] == 'Y' {
			k.Op = SearchYounger
		}
		p.sp()
		k.Size = int64(p.nzNumber())
	case "UID":
		k.Op = SearchUID
		p.sp()
		k.Seq = p.sequenceSet()
	case "MODSEQ":
		p.searchModSeq(&k)
	case "NOT":
		k.Op = SearchNot
		p.sp()
		p.enter()
		k.Children = []SearchKey{p.searchKey()}
		p.leave()
	case "OR":
		k.Op = SearchOr
		p.sp()
		p.enter()
		a := p.searchKey()
		p.sp()
		b := p.searchKey()
		p.leave()
		k.Children = []SearchKey{a, b}
	default:
		if !p.searchKeyExt(&k, string(w)) { // objectid.go
			p.fail("unknown search key")
		}
	}
	return k
}

// sequenceSet = (seq-number / seq-range) ["," sequence-set] / "$"
func (p *parser) sequenceSet() SeqSet {
	if p.take('$') {
		return SeqSet{SearchRes: true}
	}
	var s SeqSet
	for {
		r := SeqRange{Start: p.seqNumber()}
		r.Stop = r.Start
		if p.take(':') {
			r.Stop = p.seqNumber()
		}
		s.Ranges = append(s.Ranges, r)
		if !p.take(',') {
			return s
		}
	}
}

// seq-number = nz-number / "*"
func (p *parser) seqNumber() uint32 {
	if p.take('*') {
		return Star
	}
	return p.nzNumber()
}

// nz-number = digit-nz *DIGIT ; unsigned 32-bit
func (p *parser) nzNumber() uint32 {
	n := p.number()
	if n == 0 {
		p.fail("expected nonzero number")
	}
	return n
}

// number = 1*DIGIT ; unsigned 32-bit
func (p *parser) number() uint32 {
	i := p.pos
	var n uint64
	for p.pos < len(p.b) && isDigit(p.b[p.pos]) {
		n = n*10 + uint64(p.b[p.pos]-'0')
		if n > 1<<32-1 {
			p.fail("number out of range")
		}
		p.pos++
	}
	if i == p.pos {
		p.fail("expected number")
	}
	return uint32(n)
}

// number64 = 1*DIGIT ; unsigned 63-bit
func (p *parser) number64() int64 {
	i := p.pos
	var n int64
	for p.pos < len(p.b) && isDigit(p.b[p.pos]) {
		d := int64(p.b[p.pos] - '0')
		if n > (1<<63-1-d)/10 {
			p.fail("number out of range")
		}
		n = n*10 + d
		p.pos++
	}
	if i == p.pos {
		p.fail("expected number")
	}
	return n
}

// mailbox = "INBOX" / astring. The raw astring is returned; the session
// applies NormalizeMailbox and, for IMAP4rev1, mutf7.Decode.
func (p *parser) mailbox() string { return p.astring() }

// astring = 1*ASTRING-CHAR / string
func (p *parser) astring() string {
	switch p.peek() {
	case '"', '{':
		return p.string()
	}
	i := p.pos
	for p.pos < len(p.b) && (isAStringChar(p.b[p.pos]) || p.b[p.pos] >= 0x80) {
		p.pos++
	}
	if i == p.pos {
		p.fail("expected string")
	}
	return string(p.b[i:p.pos])
}

// list-mailbox = 1*list-char / string
// list-char = ATOM-CHAR / list-wildcards / resp-specials
func (p *parser) listMailbox() string {
	switch p.peek() {
	case '"', '{':
		return p.string()
	}
	i := p.pos
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if !isAStringChar(c) && c != '%' && c != '*' && c < 0x80 {
			break
		}
		p.pos++
	}
	if i == p.pos {
		p.fail("expected mailbox pattern")
	}
	return string(p.b[i:p.pos])
}

// nstring = string / nil; ok is false for NIL.
func (p *parser) nstring() (string, bool) {
	if p.nilAtom() {
		return "", false
	}
	return p.string(), true
}

// string = quoted / literal
func (p *parser) string() string {
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{':
		return string(p.literal())
	}
	p.fail("expected string")
	return ""
}

// quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR includes UTF-8 in
// IMAP4rev2 (RFC 9051 §9), so 8-bit bytes are accepted.
func (p *parser) quoted() string {
	p.expect('"', "expected quoted string")
	i := p.pos
	esc := false
	for {
		if p.pos >= len(p.b) {
			p.fail("unterminated quoted string")
		}
		c := p.b[p.pos]
		switch c {
		case '"':
			s := p.b[i:p.pos]
			p.pos++
			if !esc {
				return string(s)
			}
			out := make([]byte, 0, len(s))
			for j := 0; j < len(s); j++ {
				if s[j] == '\\' {
					j++
				}
				out = append(out, s[j])
			}
			return string(out)
		case '\\':
			esc = true
			p.pos++
			if p.pos >= len(p.b) || (p.b[p.pos] != '"' && p.b[p.pos] != '\\') {
				p.fail("bad escape in quoted string")
			}
		case '\r', '\n', 0:
			p.fail("bad character in quoted string")
		}
		p.pos++
	}
}

// literal = "{" number64 ["+"] "}" CRLF *CHAR8, as framed by Reader. The
// result aliases the input.
func (p *parser) literal() []byte {
	p.expect('{', "expected literal")
	n := p.number64()
	p.take('+')
	p.expect('}', "expected }")
	p.take('\r')
	p.expect('\n', "expected CRLF after literal size")
	if int64(len(p.b)-p.pos) < n {
		p.fail("literal truncated")
	}
	b := p.b[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return b
}

// date = date-text / DQUOTE date-text DQUOTE
// date-text = date-day "-" date-month "-" date-year
func (p *parser) date() time.Time {
	q := p.take('"')
	i := p.pos
	for p.pos < len(p.b) && (isDigit(p.b[p.pos]) || isAlpha(p.b[p.pos]) || p.b[p.pos] == '-') {
		p.pos++
	}
	t, ok := parseDate(p.b[i:p.pos])
	if !ok {
		p.fail("bad date")
	}
	if q {
		p.expect('"', "expected \" after date")
	}
	return t
}

// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
// SP zone DQUOTE
func (p *parser) dateTime() time.Time {
	p.expect('"', "expected date-time")
	i := p.pos
	for p.pos < len(p.b) && p.b[p.pos] != '"' && p.pos-i < 40 {
		p.pos++
	}
	t, ok := parseDateTime(p.b[i:p.pos])
	if !ok {
		p.fail("bad date-time")
	}
	p.expect('"', "expected \" after date-time")
	return t
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// isAtomChar: ATOM-CHAR = <any CHAR except atom-specials>;
// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
// quoted-specials / resp-specials
func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' &&
		c != '*' && c != '"' && c != '\\' && c != ']'
}

// ASTRING-CHAR = ATOM-CHAR / resp-specials
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }

// tag = 1*<any ASTRING-CHAR except "+">
func isTagChar(c byte) bool { return isAStringChar(c) && c != '+' }

// IsTag reports whether s is a tag (RFC 9051 §9), as a command's tag read
// back from outside the process must be.
func IsTag(s string) bool { return s != "" && allBytes(s, isTagChar) }

// IsAtom reports whether s is an atom (RFC 9051 §9), as a flag-keyword is.
func IsAtom(s string) bool { return s != "" && allBytes(s, isAtomChar) }

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase64Char(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '='
}

// upper returns b upper-cased as a string, without allocating for common
// names.
func upper(b []byte) string {
	var buf [32]byte
	if len(b) > len(buf) {
		u := []byte(string(b))
		for i, c := range u {
			if c >= 'a' && c <= 'z' {
				u[i] = c - ('a' - 'A')
			}
		}
		return string(u)
	}
	u := buf[:len(b)]
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[i] = c
	}
	return intern(u)
}

// intern returns a constant for upper-case words that commands repeat
// (status items, options, capabilities, mechanisms, charsets), and a new
// string otherwise.
func intern(u []byte) string {
	switch string(u) {
	case "MESSAGES":
		return "MESSAGES"
	case "UIDNEXT":
		return "UIDNEXT"
	case "UIDVALIDITY":
		return "UIDVALIDITY"
	case "UNSEEN":
		return "UNSEEN"
	case "DELETED":
		return "DELETED"
	case "SIZE":
		return "SIZE"
	case "RECENT":
		return "RECENT"
	case "HIGHESTMODSEQ":
		return "HIGHESTMODSEQ"
	case "SUBSCRIBED":
		return "SUBSCRIBED"
	case "CHILDREN":
		return "CHILDREN"
	case "SPECIAL-USE":
		return "SPECIAL-USE"
	case "STATUS":
		return "STATUS"
	case "REMOTE":
		return "REMOTE"
	case "RECURSIVEMATCH":
		return "RECURSIVEMATCH"
	case "MIN":
		return "MIN"
	case "MAX":
		return "MAX"
	case "ALL":
		return "ALL"
	case "COUNT":
		return "COUNT"
	case "SAVE":
		return "SAVE"
	case "IMAP4REV2":
		return "IMAP4REV2"
	case "CONDSTORE":
		return "CONDSTORE"
	case "UTF8=ACCEPT":
		return "UTF8=ACCEPT"
	case "PLAIN":
		return "PLAIN"
	case "LOGIN":
		return "LOGIN"
	case "UTF-8":
		return "UTF-8"
	case "US-ASCII":
		return "US-ASCII"
	}
	return string(u)
}

// headerName returns a header field name as sent, without allocating for
// the names mail clients ask for in every FETCH.
func headerName(b []byte) string {
	switch string(b) {
	case "From":
		return "From"
	case "To":
		return "To"
	case "Cc":
		return "Cc"
	case "Bcc":
		return "Bcc"
	case "Subject":
		return "Subject"
	case "Date":
		return "Date"
	case "Message-ID":
		return "Message-ID"
	case "Message-Id":
		return "Message-Id"
	case "Priority":
		return "Priority"
	case "X-Priority":
		return "X-Priority"
	case "References":
		return "References"
	case "Newsgroups":
		return "Newsgroups"
	case "In-Reply-To":
		return "In-Reply-To"
	case "Content-Type":
		return "Content-Type"
	case "Reply-To":
		return "Reply-To"
	case "Sender":
		return "Sender"
	case "List-Post":
		return "List-Post"
	case "FROM":
		return "FROM"
	case "TO":
		return "TO"
	case "CC":
		return "CC"
	case "BCC":
		return "BCC"
	case "SUBJECT":
		return "SUBJECT"
	case "DATE":
		return "DATE"
	case "MESSAGE-ID":
		return "MESSAGE-ID"
	case "PRIORITY":
		return "PRIORITY"
	case "X-PRIORITY":
		return "X-PRIORITY"
	case "REFERENCES":
		return "REFERENCES"
	case "NEWSGROUPS":
		return "NEWSGROUPS"
	case "IN-REPLY-TO":
		return "IN-REPLY-TO"
	case "CONTENT-TYPE":
		return "CONTENT-TYPE"
	case "REPLY-TO":
		return "REPLY-TO"
	case "SENDER":
		return "SENDER"
	}
	return string(b)
}
