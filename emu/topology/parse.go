package topology

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Load reads a topology file (ibsim net format or ibnetdiscover output).
// Include lines are resolved relative to the including file. Problems in
// the files come back together as an *ErrorList, and then no topology is
// returned; a file that cannot be opened is a plain error.
func Load(name string) (*Topology, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	return parse(name, f, osFiles{})
}

// LoadFS is Load reading from fsys: name and include lines are slash-
// separated paths in fsys, includes relative to the including file.
func LoadFS(fsys fs.FS, name string) (*Topology, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	defer f.Close()
	return parse(name, f, fsFiles{fsys})
}

// Parse reads a topology from r; name is its file name, used in problem
// locations and to resolve include lines (relative to name's directory, in
// the operating system's file system). It returns the topology, or nil and an
// *ErrorList of every problem found, each located as FILE:LINE. A partial
// topology is never returned.
func Parse(name string, r io.Reader) (*Topology, error) {
	return parse(name, r, osFiles{})
}

// files opens included files.
type files interface {
	open(name string) (io.ReadCloser, error)
	// resolve names an include target relative to the including file.
	resolve(from, name string) string
	// key is the name under which include loops are detected.
	key(name string) string
}

type osFiles struct{}

func (osFiles) open(name string) (io.ReadCloser, error) { return os.Open(name) }

func (osFiles) key(name string) string { return filepath.Clean(name) }

func (osFiles) resolve(from, name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(filepath.Dir(from), name)
}

type fsFiles struct{ fsys fs.FS }

func (f fsFiles) open(name string) (io.ReadCloser, error) { return f.fsys.Open(name) }

func (fsFiles) key(name string) string { return path.Clean(name) }

func (fsFiles) resolve(from, name string) string {
	if strings.HasPrefix(name, "/") {
		return path.Clean(strings.TrimLeft(name, "/"))
	}
	return path.Join(path.Dir(from), name)
}

// parser holds the state of one parse: ibsim's global settings, which carry
// across includes, and what has been declared so far.
type parser struct {
	files files
	ps    problems
	stack []string // files being read, outermost first (cleaned names)

	nodes   []*pnode
	byID    map[string]*pnode
	broken  map[string]bool // ids of records that were rejected
	aliases map[string]*aliasDef
	cmds    []Command

	// Settings for the nodes that follow.
	guidAbs, guidCur [4]wire.GUID // by node type
	port0            wire.GUID    // next switch's port 0 GUID (switchguid=g(p)), 0 for none
	vendid           uint32       // next node only
	devid            uint16       // sticky
	sysimg           wire.GUID    // next node only
	width            uint8
	speed            wire.LinkSpeed // base speeds | extended speeds << 8
	prefix           string         // module prefix
}

// pnode is a node being parsed, with its ports' declarations.
type pnode struct {
	n     *Node
	decls []*decl // by port number; nil where the file does not list the port
}

// decl is one port line.
type decl struct {
	port  *Port
	line  int
	alias string // the alias this line defines ("@[n] ..."), else ""
	ref   string // the alias this port links to ("[n] "@x""), else ""
	// remote and rport name the remote end of an ordinary port line
	// (module prefix applied).
	remote   string
	rport    int
	rguid    wire.GUID // the "(guid)" written after the remote port
	hasRGUID bool
}

// aliasDef is where an alias points.
type aliasDef struct {
	pn   *pnode
	port int
	line int
}

func parse(name string, r io.Reader, fl files) (*Topology, error) {
	p := &parser{
		files:   fl,
		byID:    make(map[string]*pnode),
		broken:  make(map[string]bool),
		aliases: make(map[string]*aliasDef),
		width:   DefaultWidthEnabled,
		speed:   DefaultSpeedEnabled,
	}
	p.guidAbs[wire.NodeTypeCA], p.guidCur[wire.NodeTypeCA] = DefaultCAGUID, DefaultCAGUID
	p.guidAbs[wire.NodeTypeSwitch], p.guidCur[wire.NodeTypeSwitch] = DefaultSwitchGUID, DefaultSwitchGUID
	p.guidAbs[wire.NodeTypeRouter], p.guidCur[wire.NodeTypeRouter] = DefaultRouterGUID, DefaultRouterGUID
	p.ps.fileRank(name)
	p.stack = append(p.stack, fl.key(name))
	p.readFile(name, r)
	p.resolve()

	t := &Topology{Commands: p.cmds}
	for name, a := range p.aliases {
		if t.Aliases == nil {
			t.Aliases = make(map[string]*Port, len(p.aliases))
		}
		t.Aliases[name] = a.pn.n.Ports[a.port]
	}
	t.Nodes = make([]*Node, len(p.nodes))
	for i, pn := range p.nodes {
		t.Nodes[i] = pn.n
	}
	validate(t, &p.ps)
	if err := p.ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// readFile parses one file; problems go to p.ps.
func (p *parser) readFile(file string, r io.Reader) {
	lr := lineReader{br: bufio.NewReaderSize(r, 64<<10)}
	var (
		cur  *pnode // the record whose port lines may follow
		skip bool   // in a rejected record: swallow its port lines
	)
	for lineNo := 1; ; lineNo++ {
		b, err := lr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.ps.add(file, lineNo, err, "read: "+err.Error())
			}
			return
		}
		if len(b) > MaxLineLen {
			p.ps.add(file, lineNo, nil, fmt.Sprintf("line is %d bytes long, more than %d", len(b), MaxLineLen))
		}
		s := string(b)
		if cur != nil || skip {
			if s != "" && s[0] == '#' {
				continue
			}
			if s != "" && (s[0] == '[' || s[0] == '@') {
				if !skip {
					p.portLine(cur, file, lineNo, s)
				}
				continue
			}
			cur, skip = nil, false
		}
		cur, skip = p.topLine(file, lineNo, s)
	}
}

// lineReader reads lines of any length, without their line endings.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lr.buf = append(lr.buf, chunk...)
			continue
		}
		if len(lr.buf) > 0 {
			lr.buf = append(lr.buf, chunk...)
			chunk = lr.buf
		}
		if err != nil && (!errors.Is(err, io.EOF) || len(chunk) == 0) {
			return nil, err
		}
		chunk = chunk[:len(chunk)-trailingEOL(chunk)]
		return chunk, nil
	}
}

func trailingEOL(b []byte) int {
	n := 0
	if len(b) > 0 && b[len(b)-1] == '\n' {
		n++
	}
	if len(b) > n && b[len(b)-1-n] == '\r' {
		n++
	}
	return n
}

// topLine handles a line outside a node record. It returns the record a node
// header starts (or skip when the header was rejected).
func (p *parser) topLine(file string, line int, s string) (cur *pnode, skip bool) {
	word := leadingWord(s)
	rest := s[len(word):]
	bad := func(format string, args ...any) {
		p.ps.add(file, line, nil, fmt.Sprintf(format, args...))
	}
	switch word {
	case "Switch":
		if isListLine(rest) {
			return nil, false
		}
		return p.header(wire.NodeTypeSwitch, file, line, rest)
	case "Hca", "Ca":
		if isListLine(rest) {
			return nil, false
		}
		return p.header(wire.NodeTypeCA, file, line, rest)
	case "Rt":
		if isListLine(rest) {
			return nil, false
		}
		return p.header(wire.NodeTypeRouter, file, line, rest)
	case "switchguid":
		p.guidBase(wire.NodeTypeSwitch, file, line, word, rest)
	case "caguid", "hcaguids":
		p.guidBase(wire.NodeTypeCA, file, line, word, rest)
	case "hcaguid":
		// Not a keyword of ibsim's: it skips the line, so the GUIDs would
		// silently differ from what the writer meant.
		bad("%q is not a keyword (ibsim ignores the line): write caguid= or hcaguids=", word)
	case "rtguid":
		p.guidBase(wire.NodeTypeRouter, file, line, word, rest)
	case "vendid":
		if v, ok := p.setting(file, line, word, rest, 24, 0, 0xffffff); ok {
			p.vendid = uint32(v)
		}
	case "devid":
		if v, ok := p.setting(file, line, word, rest, 16, 0, 0xffff); ok {
			p.devid = uint16(v)
		}
	case "sysimgguid":
		if v, ok := p.setting(file, line, word, rest, 64, 0, 1<<64-1); ok {
			p.sysimg = wire.GUID(v)
		}
	case "width":
		if v, ok := p.setting(file, line, word, rest, 8, 1, 31); ok {
			p.width = uint8(v)
		}
	case "speed":
		if v, ok := p.setting(file, line, word, rest, 8, 1, 7); ok {
			p.speed = p.speed&^0xff | wire.LinkSpeed(v)
		}
	case "extspeed":
		if v, ok := p.setting(file, line, word, rest, 8, 0, 15); ok {
			p.speed = p.speed&0xff | wire.LinkSpeed(v)<<8
		}
	case "pdebug":
		p.setting(file, line, word, rest, 32, 0, 1<<32-1)
	case "module":
		p.module(file, line, rest)
	case "include":
		p.include(file, line, rest)
	case "do":
		cmd := strings.TrimSpace(rest)
		if cmd == "" {
			bad("do: missing console command")
			break
		}
		p.cmds = append(p.cmds, Command{Text: cmd, File: file, Line: line})
	default:
		kw := ibsimPrefix(word)
		switch {
		case kw != "":
			bad("%q is not a keyword: ibsim reads a line starting with %q as %s; write %q, or start the line with #", word, kw, kwMeaning(kw), kw)
		case s != "" && (s[0] == '[' || s[0] == '@'):
			bad("port line outside a node record (a blank or other line ended the record)")
		case looksLikeHeader(s, word):
			bad("unknown node type %q (want Switch, Hca, Ca or Rt)", word)
		}
	}
	return nil, false
}

// leadingWord is the run of ASCII letters that starts s.
func leadingWord(s string) string {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return s[:i]
}

// ibsimKeywords are the words ibsim's reader (sim_net.c, parse_netconf)
// looks for at the start of a line, in the order it tries them. It compares
// prefixes only, so "Switches" reads as "Switch" and "switchguids=" as
// "switchguid=".
var ibsimKeywords = []string{"Switch", "Hca", "Ca", "Rt", "switchguid", "hcaguids", "caguid", "rtguid",
	"vendid", "devid", "sysimgguid", "width", "speed", "extspeed", "module", "include", "pdebug"}

// ibsimPrefix returns the keyword ibsim would take word for when word is
// longer than that keyword, else "". Words starting with "do" ("done",
// "document") are left alone: ibsim hands the rest to its console, which
// skips an unknown command, the same as a comment.
func ibsimPrefix(word string) string {
	for _, kw := range ibsimKeywords {
		if strings.HasPrefix(word, kw) {
			if len(word) > len(kw) {
				return kw
			}
			return ""
		}
	}
	return ""
}

// kwMeaning names what a keyword starts, for messages.
func kwMeaning(kw string) string {
	switch kw {
	case "Switch", "Hca", "Ca", "Rt":
		return "a node header"
	case "include":
		return "an include line"
	}
	return "the " + kw + "= setting"
}

// isListLine recognises ibnetdiscover -l lines ("Ca	 : 0x... ports 2 ...").
func isListLine(rest string) bool {
	return strings.HasPrefix(strings.TrimLeft(rest, " \t"), ":")
}

// looksLikeHeader recognises "<word> <number> "id"": a node header with a
// keyword this format does not have.
func looksLikeHeader(s, word string) bool {
	if word == "" {
		return false
	}
	r := s[len(word):]
	t := strings.TrimLeft(r, " \t")
	if len(t) == len(r) || t == "" || t[0] < '0' || t[0] > '9' {
		return false
	}
	i := strings.IndexAny(t, " \t\"")
	if i < 0 {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(t[i:], " \t"), `"`)
}

// isSpace is the separator set of the format.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// token splits the first token off s, ending at a space or at any byte of
// stop.
func token(s, stop string) (tok, rest string) {
	i := 0
	for i < len(s) && !isSpace(s[i]) && strings.IndexByte(stop, s[i]) < 0 {
		i++
	}
	return s[:i], s[i:]
}

// quoted reads a double-quoted string at the start of s.
func quoted(s string) (str, rest string, ok bool, closed bool) {
	if s == "" || s[0] != '"' {
		return "", s, false, false
	}
	i := strings.IndexByte(s[1:], '"')
	if i < 0 {
		return s[1:], "", true, false
	}
	return s[1 : 1+i], s[2+i:], true, true
}

// parseNum parses a C-style unsigned number (0x hex, leading 0 octal, else
// decimal) that must fill the whole token.
func parseNum(s string, bits int) (uint64, error) {
	base, t := 10, s
	switch {
	case len(t) > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || strings.ContainsAny(t, "_+-") {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(t, base, bits)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return 0, ne.Err
		}
		return 0, err
	}
	return v, nil
}

// numProblem describes a bad number for a message.
func numProblem(what, tok string, err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Sprintf("%s %q is out of range", what, tok)
	}
	return fmt.Sprintf("bad %s %q", what, tok)
}

// valueTail checks what follows a value: nothing, or a # comment.
func valueTail(rest string) bool {
	r := strings.TrimLeft(rest, " \t")
	return r == "" || r[0] == '#'
}

// setting parses "word=<number>" with the number in lo..hi.
func (p *parser) setting(file string, line int, word, rest string, bits int, lo, hi uint64) (uint64, bool) {
	r := strings.TrimLeft(rest, " \t")
	if r == "" || r[0] != '=' {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: missing '='", word))
		return 0, false
	}
	tok, tail := token(strings.TrimLeft(r[1:], " \t"), "#")
	if tok == "" {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: missing value", word))
		return 0, false
	}
	v, err := parseNum(tok, bits)
	if err != nil {
		p.ps.add(file, line, nil, numProblem(word, tok, err))
		return 0, false
	}
	if v < lo || v > hi {
		p.ps.add(file, line, nil, fmt.Sprintf("%s %d out of range %d..%d", word, v, lo, hi))
		return 0, false
	}
	if !valueTail(tail) {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: unexpected text after the value: %q", word, strings.TrimSpace(tail)))
		return 0, false
	}
	return v, true
}

// guidBase handles switchguid=, caguid=, hcaguids= and rtguid=: "=g" sets
// the base and the next GUID, "+d" the next GUID relative to the base.
// ibnetdiscover's "switchguid=0x...(portguid)" also names the switch's port
// 0 GUID.
func (p *parser) guidBase(typ wire.NodeType, file string, line int, word, rest string) {
	r := strings.TrimLeft(rest, " \t")
	if r == "" || (r[0] != '=' && r[0] != '+') {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: missing '=' or '+'", word))
		return
	}
	relative := r[0] == '+'
	tok, tail := token(strings.TrimLeft(r[1:], " \t"), "#(")
	if tok == "" {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: missing value", word))
		return
	}
	v, err := parseNum(tok, 64)
	if err != nil {
		p.ps.add(file, line, nil, numProblem(word, tok, err))
		return
	}
	var port0 wire.GUID
	if strings.HasPrefix(tail, "(") {
		end := strings.IndexByte(tail, ')')
		if end < 0 {
			p.ps.add(file, line, nil, fmt.Sprintf("%s: missing ')' after the port GUID", word))
			return
		}
		g, err := wire.ParseGUID(tail[1:end])
		if err != nil || typ != wire.NodeTypeSwitch {
			p.ps.add(file, line, nil, fmt.Sprintf("%s: bad port GUID %q", word, tail[1:end]))
			return
		}
		port0, tail = g, tail[end+1:]
	}
	if !valueTail(tail) {
		p.ps.add(file, line, nil, fmt.Sprintf("%s: unexpected text after the value: %q", word, strings.TrimSpace(tail)))
		return
	}
	if relative {
		p.guidCur[typ] = p.guidAbs[typ] + wire.GUID(v)
	} else {
		p.guidAbs[typ], p.guidCur[typ] = wire.GUID(v), wire.GUID(v)
	}
	if typ == wire.NodeTypeSwitch {
		p.port0 = port0
	}
}

// module handles module="name".
func (p *parser) module(file string, line int, rest string) {
	r := strings.TrimLeft(rest, " \t")
	if r == "" || r[0] != '=' {
		p.ps.add(file, line, nil, "module: missing '='")
		return
	}
	name, _, ok, closed := quoted(strings.TrimLeft(r[1:], " \t"))
	switch {
	case !ok:
		p.ps.add(file, line, nil, "module: the name must be in double quotes")
	case !closed:
		p.ps.add(file, line, nil, "module: missing closing quote")
	case len(name) > MaxModuleLen:
		p.ps.add(file, line, nil, fmt.Sprintf("module name %q is longer than %d bytes", name, MaxModuleLen))
	case strings.ContainsAny(name, "#@"):
		p.ps.add(file, line, nil, fmt.Sprintf("module name %q: '#' and '@' are reserved", name))
	default:
		p.prefix = name
	}
}

// include handles include "file".
func (p *parser) include(file string, line int, rest string) {
	name, _, ok, closed := quoted(strings.TrimLeft(rest, " \t"))
	switch {
	case !ok:
		p.ps.add(file, line, nil, "include: the file name must be in double quotes")
		return
	case !closed:
		p.ps.add(file, line, nil, "include: missing closing quote")
		return
	case name == "":
		p.ps.add(file, line, nil, "include: empty file name")
		return
	}
	target := p.files.resolve(file, name)
	key := p.files.key(target)
	for i, f := range p.stack {
		if f == key {
			chain := append(append([]string(nil), p.stack[i:]...), key)
			p.ps.add(file, line, nil, fmt.Sprintf("include %q: include loop: %s", name, strings.Join(chain, " -> ")))
			return
		}
	}
	if len(p.stack) >= MaxIncludeDepth {
		p.ps.add(file, line, nil, fmt.Sprintf("include %q: more than %d files deep", name, MaxIncludeDepth))
		return
	}
	f, err := p.files.open(target)
	if err != nil {
		p.ps.add(file, line, err, fmt.Sprintf("include %q: %v", name, err))
		return
	}
	defer f.Close()
	p.ps.fileRank(target)
	p.stack = append(p.stack, key)
	p.readFile(target, f)
	p.stack = p.stack[:len(p.stack)-1]
}
