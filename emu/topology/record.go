package topology

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// header parses a node header (after its keyword) and starts the record.
func (p *parser) header(typ wire.NodeType, file string, line int, rest string) (*pnode, bool) {
	bad := func(format string, args ...any) {
		p.ps.add(file, line, nil, fmt.Sprintf(format, args...))
	}
	r := strings.TrimLeft(rest, " \t")
	tok, r := token(r, `"`)
	if tok == "" {
		bad("node header: missing port count")
		return nil, true
	}
	r = strings.TrimLeft(r, " \t")
	id, after, ok, closed := quoted(r)
	switch {
	case !ok:
		bad("node header: the node id must be in double quotes")
		return nil, true
	case !closed:
		bad("node header: missing closing quote after the node id")
		return nil, true
	}
	full := id
	if p.prefix != "" {
		full = p.prefix + "#" + id
	}
	nports, err := parseNum(tok, 16)
	if err != nil {
		bad("%q: %s", full, numProblem("port count", tok, err))
		p.broken[full] = true
		return nil, true
	}
	if nports < 1 || nports > MaxPorts {
		bad("%q: port count %d out of range 1..%d", full, nports, MaxPorts)
		p.broken[full] = true
		return nil, true
	}
	switch {
	case id == "":
		bad("empty node id")
		return nil, true
	case strings.ContainsAny(id, "#@"):
		bad("node id %q: '#' and '@' are reserved", id)
		return nil, true
	case len(full) > MaxIDLen:
		bad("node id %q is %d bytes, more than %d", full, len(full), MaxIDLen)
		p.broken[full] = true
		return nil, true
	}
	if first, ok := p.byID[full]; ok {
		bad("duplicate node id %q%s", full, firstAt(first.n))
		return nil, true
	}

	desc, tail, descOK := nodeDesc(after)
	if !descOK {
		bad("%q: missing closing quote after the node description", full)
	}
	n := &Node{
		Type:     typ,
		ID:       full,
		Desc:     desc,
		NumPorts: int(nports),
		VendorID: p.vendid,
		DeviceID: p.devid,
		File:     file,
		Line:     line,
	}
	if n.Desc == "" {
		n.Desc = full
	}
	p.headerTail(n, tail)

	g := p.guidCur[typ]
	n.NodeGUID = g
	n.SysImageGUID = g
	if p.sysimg != 0 {
		n.SysImageGUID = p.sysimg
	}
	if typ == wire.NodeTypeSwitch {
		p.guidCur[typ]++
	} else {
		p.guidCur[typ] += wire.GUID(nports + 1)
	}
	p.vendid, p.sysimg = 0, 0

	ports := make([]Port, nports+1)
	n.Ports = make([]*Port, nports+1)
	port0 := g
	if typ == wire.NodeTypeSwitch && p.port0 != 0 {
		port0 = p.port0
	}
	for i := range ports {
		if i == 0 && typ != wire.NodeTypeSwitch {
			continue
		}
		pt := &ports[i]
		pt.Node, pt.Num = n, i
		pt.WidthEnabled = p.width
		pt.SpeedEnabled = p.speed
		if typ == wire.NodeTypeSwitch {
			pt.GUID = port0
		} else {
			pt.GUID = g + wire.GUID(i)
		}
		n.Ports[i] = pt
	}
	if typ == wire.NodeTypeSwitch {
		p.port0 = 0
	}

	pn := &pnode{n: n, decls: make([]*decl, nports+1)}
	p.nodes = append(p.nodes, pn)
	p.byID[full] = pn
	return pn, false
}

// nodeDesc splits what follows a header's id into the description and the
// rest. The description follows the first '#': in double quotes, or bare up
// to " enhanced port ", " base port ", " lid " or " lmc ". Text between the
// id and the '#' joins the rest.
func nodeDesc(after string) (desc, tail string, ok bool) {
	i := strings.IndexByte(after, '#')
	if i < 0 {
		return "", after, true
	}
	pre, s := after[:i], strings.TrimLeft(after[i+1:], " \t")
	if s != "" && s[0] == '"' {
		d, rest, _, closed := quoted(s)
		if !closed {
			return "", pre, false
		}
		return d, pre + " " + rest, true
	}
	end := len(s)
	for _, kw := range []string{" enhanced port ", " base port ", " lid ", " lmc ", "\tlid ", "\tlmc "} {
		if k := strings.Index(s, kw); k >= 0 && k < end {
			end = k
		}
	}
	return strings.TrimRight(s[:end], " \t"), pre + " " + s[end:], true
}

// headerTail applies "enhanced port 0", "base port 0", "lid N" and "lmc N";
// other words are ignored, as ibsim ignores them.
func (p *parser) headerTail(n *Node, tail string) {
	bad := func(format string, args ...any) {
		p.ps.add(n.File, n.Line, nil, n.String()+": "+fmt.Sprintf(format, args...))
	}
	f := strings.Fields(tail)
	sawSwitchOnly := ""
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "enhanced", "base":
			if i+2 < len(f) && f[i+1] == "port" && f[i+2] == "0" {
				n.EnhancedPort0 = f[i] == "enhanced"
				sawSwitchOnly = f[i] + " port 0"
				i += 2
			}
		case "lid", "lmc":
			if i+1 >= len(f) {
				bad("%s without a number", f[i])
				continue
			}
			bits := 16
			if f[i] == "lmc" {
				bits = 8
			}
			v, err := parseNum(f[i+1], bits)
			if err != nil {
				bad("%s", numProblem(f[i], f[i+1], err))
			} else if f[i] == "lid" {
				n.LID = wire.LID(v)
			} else {
				n.LMC = uint8(v)
			}
			sawSwitchOnly = f[i]
			i++
		}
	}
	if sawSwitchOnly != "" && n.Type != wire.NodeTypeSwitch {
		hint := ""
		if sawSwitchOnly == "lid" || sawSwitchOnly == "lmc" {
			hint = " (give a CA's LID and LMC on its port lines)"
		}
		bad("%q applies to switch headers only%s", sawSwitchOnly, hint)
		n.LID, n.LMC, n.EnhancedPort0 = 0, 0, false
	}
}

// bracketNum reads "[N]" at the start of s.
func bracketNum(s string) (tok string, v uint64, rest string, err error) {
	end := strings.IndexByte(s, ']')
	if s == "" || s[0] != '[' || end < 0 {
		return "", 0, s, strconv.ErrSyntax
	}
	tok = strings.TrimSpace(s[1:end])
	v, err = parseNum(tok, 8)
	return tok, v, s[end+1:], err
}

// skipExt skips ibnetdiscover -g's "[ext N]" port annotation.
func skipExt(s string) string {
	if strings.HasPrefix(s, "[ext ") {
		if end := strings.IndexByte(s, ']'); end >= 0 {
			return s[end+1:]
		}
	}
	return s
}

// parenGUID reads "(hex)" at the start of s.
func parenGUID(s string) (g wire.GUID, text, rest string, present bool, err error) {
	if !strings.HasPrefix(s, "(") {
		return 0, "", s, false, nil
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return 0, s[1:], "", true, strconv.ErrSyntax
	}
	text = s[1:end]
	g, err = wire.ParseGUID(text)
	return g, text, s[end+1:], true, err
}

// portLine parses one port line of record pn.
func (p *parser) portLine(pn *pnode, file string, line int, s string) {
	n := pn.n
	bad := func(format string, args ...any) {
		p.ps.add(file, line, nil, fmt.Sprintf(format, args...))
	}
	isAlias := s[0] == '@'
	if isAlias {
		s = s[1:]
	}
	tok, num, s, err := bracketNum(s)
	if err != nil {
		if tok == "" && !strings.HasPrefix(s, "[") {
			bad("%s: bad port line: want [<port>] \"<remote id>\"[<remote port>]", n)
		} else {
			bad("%s: %s", n, numProblem("port number", tok, err))
		}
		return
	}
	if num < 1 || num > uint64(n.NumPorts) {
		extra := ""
		if num == 0 && n.IsSwitch() {
			extra = " (port 0 is the switch management port)"
		}
		bad("%s: port %d out of range 1..%d%s", n, num, n.NumPorts, extra)
		return
	}
	port := n.Ports[num]
	if first := pn.decls[num]; first != nil {
		bad("%s: declared twice (first at line %d)", who(port), first.line)
		return
	}
	at := func(format string, args ...any) {
		p.ps.add(file, line, nil, who(port)+": "+fmt.Sprintf(format, args...))
	}
	s = skipExt(s)
	localGUID, gtext, s, hasLocal, err := parenGUID(s)
	if err != nil {
		at("bad port GUID %q", gtext)
		return
	}
	s = strings.TrimLeft(s, " \t")
	rid, s, ok, closed := quoted(s)
	switch {
	case !ok:
		at("the remote node id must be in double quotes")
		return
	case !closed:
		at("missing closing quote after the remote node id")
		return
	}
	d := &decl{port: port, line: line}
	if isAlias {
		switch {
		case rid == "":
			at("empty alias name")
			return
		case strings.ContainsAny(rid, "#@"):
			at("alias %q: '#' and '@' are reserved", rid)
			return
		}
		key := p.prefix + "@" + rid
		if a, ok := p.aliases[key]; ok {
			at("alias %q already names %s%s", key, who(a.pn.n.Ports[a.port]), loc(a.pn.n.File, a.line))
			return
		}
		p.aliases[key] = &aliasDef{pn: pn, port: int(num), line: line}
		d.alias = key
	} else {
		switch {
		case rid == "":
			at("empty remote node id")
			return
		case strings.Contains(rid, "@"):
			d.ref = rid
			if rid[0] == '@' {
				d.ref = p.prefix + rid
			}
		case p.prefix != "" && !strings.Contains(rid, "#"):
			d.remote = p.prefix + "#" + rid
		default:
			d.remote = rid
		}
		d.rport = 1
		switch {
		case strings.HasPrefix(s, "["):
			var rtok string
			var rp uint64
			rtok, rp, s, err = bracketNum(s)
			if err != nil || rp < 1 || rp > MaxPorts {
				at("bad remote port %q: want 1..%d", rtok, MaxPorts)
				return
			}
			d.rport = int(rp)
		case strings.HasPrefix(strings.TrimLeft(s, " \t"), "[") && !strings.HasPrefix(strings.TrimLeft(s, " \t"), "[ext "):
			at("the remote port must follow the closing quote directly (ibsim reads %q [n] as port 1)", rid)
			return
		}
		s = skipExt(s)
		g, gtext, rest, present, err := parenGUID(strings.TrimLeft(s, " \t"))
		if err != nil {
			at("bad remote port GUID %q", gtext)
			return
		}
		if present {
			d.rguid, d.hasRGUID, s = g, true, rest
		}
	}

	// Options before the comment, then the ibnetdiscover tail after it.
	opts, comment := s, ""
	if i := strings.IndexByte(s, '#'); i >= 0 {
		opts, comment = s[:i], s[i+1:]
	}
	for _, f := range strings.Fields(joinEq(opts)) {
		eq := strings.IndexByte(f, '=')
		if eq < 0 {
			continue // free text, ignored as ibsim ignores it
		}
		p.portOpt(port, f[:eq], f[eq+1:], at)
	}
	p.portTail(port, comment, at)

	if hasLocal && !n.IsSwitch() {
		port.GUID = localGUID // a switch port has no GUID of its own: ignored
	}
	port.Line = line
	pn.decls[num] = d
}

// joinEq drops the blanks around each '=' ("w = 3" becomes "w=3"), as
// ibsim reads an option's name back from the '=' and its value forward.
func joinEq(s string) string {
	if !strings.Contains(s, "=") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isSpace(c) {
			j := i
			for j < len(s) && isSpace(s[j]) {
				j++
			}
			if j < len(s) && s[j] == '=' {
				i = j - 1
				continue
			}
		}
		b.WriteByte(c)
		if c == '=' {
			for i+1 < len(s) && isSpace(s[i+1]) {
				i++
			}
		}
	}
	return b.String()
}

// portOpt applies one port option: w= LinkWidthEnabled, s= LinkSpeedEnabled
// (0 means QDR, as in ibsim 0.12), e= LinkSpeedExtEnabled (IBTA Vol 1
// §14.2.5.6, PortInfo).
func (p *parser) portOpt(port *Port, key, val string, at func(string, ...any)) {
	var lo, hi uint64
	switch key {
	case "w":
		lo, hi = 1, 31
	case "s":
		lo, hi = 0, 7
	case "e":
		lo, hi = 0, 15
	default:
		at("unknown port option %q (want w=, s= or e=)", key+"=")
		return
	}
	v, err := parseNum(val, 8)
	if err != nil {
		at("%s", numProblem("port option "+key+"=", val, err))
		return
	}
	if v < lo || v > hi {
		at("port option %s=%d out of range %d..%d", key, v, lo, hi)
		return
	}
	switch key {
	case "w":
		port.WidthEnabled = uint8(v)
	case "s":
		if v == 0 {
			v = uint64(wire.SpeedQDR) // ibsim 0.12: s=0 means QDR
		}
		port.SpeedEnabled = port.SpeedEnabled&^0xff | wire.LinkSpeed(v)
	case "e":
		port.SpeedEnabled = port.SpeedEnabled&0xff | wire.LinkSpeed(v)<<8
	}
}

// portTail reads ibnetdiscover's comment tail: "lid N lmc M" at its start
// (a CA or router port's own LID), and "lid N <width>x<speed>" after the
// last quote (the remote LID, ignored, and the active rate).
func (p *parser) portTail(port *Port, c string, at func(string, ...any)) {
	c = strings.TrimSpace(c)
	if c == "" {
		return
	}
	f := strings.Fields(c)
	if !port.Node.IsSwitch() && len(f) >= 2 && f[0] == "lid" {
		// The port's own LID ("lid 4 lmc 0 ..." in ibnetdiscover's CA
		// lines; ibsim also takes a bare "lid 4").
		lid, err := parseNum(f[1], 16)
		switch {
		case err != nil && len(f) >= 4 && f[2] == "lmc":
			at("%s", numProblem("lid", f[1], err))
		case err != nil:
			// free text
		case len(f) >= 4 && f[2] == "lmc":
			lmc, err := parseNum(f[3], 8)
			if err != nil {
				at("%s", numProblem("lmc", f[3], err))
				break
			}
			port.LID, port.LMC = wire.LID(lid), uint8(lmc)
		default:
			port.LID = wire.LID(lid)
		}
	}
	// ibnetdiscover -f adds the active values as " s=N w=N v=N [e=N]";
	// ibsim applies s=, w= and e= as port options before the stated rate,
	// which then overrides them.
	for _, w := range f {
		if len(w) > 2 && w[1] == '=' && strings.IndexByte("swe", w[0]) >= 0 {
			p.portOpt(port, w[:1], w[2:], at)
		}
	}
	seg := c
	if i := strings.LastIndexByte(c, '"'); i >= 0 {
		seg = c[i+1:]
	}
	f = strings.Fields(seg)
	if len(f) < 3 || f[0] != "lid" || !looksLikeRate(f[2]) {
		return
	}
	if _, err := parseNum(f[1], 16); err != nil {
		return // not ibnetdiscover's tail: a free comment
	}
	x := strings.IndexAny(f[2], "xX")
	if strings.Trim(f[2][x+1:], "?") == "" {
		// ibnetdiscover prints ??? for a speed it does not know.
		if w, err := ParseRate(f[2][:x+1] + "SDR"); err == nil {
			p.setRate(port, Rate{Width: w.Width})
		} else {
			at("%v", trimPrefix(err))
		}
		return
	}
	r, err := ParseRate(f[2])
	if err != nil {
		at("%v", trimPrefix(err))
		return
	}
	p.setRate(port, r)
}

// setRate records a stated rate and the enabled masks ibsim derives from it.
func (p *parser) setRate(port *Port, r Rate) {
	w, s, fdr10 := enabledFor(r)
	if r.Width != 0 {
		port.Width, port.WidthEnabled = r.Width, w
	}
	if r.Speed != 0 {
		port.Speed, port.FDR10 = r.Speed, r.FDR10
		port.SpeedEnabled, port.FDR10Enabled = s, fdr10
	}
}

// looksLikeRate recognises "<digits>x..." (4xQDR, 12x???).
func looksLikeRate(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && (s[i] == 'x' || s[i] == 'X')
}

// trimPrefix drops the package prefix from an error for use in a Problem.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "topology: ")
}

// resolve links the declared ports, checking that both ends agree.
func (p *parser) resolve() {
	for _, pn := range p.nodes {
		n := pn.n
		for num, d := range pn.decls {
			if d == nil || d.alias != "" || d.port.Remote != nil {
				continue
			}
			at := func(format string, args ...any) {
				p.ps.add(n.File, d.line, nil, who(d.port)+": "+fmt.Sprintf(format, args...))
			}
			if d.ref != "" {
				a := p.aliases[d.ref]
				if a == nil {
					at("unknown alias %q", d.ref)
					continue
				}
				tp := a.pn.n.Ports[a.port]
				switch {
				case tp == d.port:
					at("linked to itself")
				case tp.Remote != nil:
					at("alias %q names %s, which is already linked to %s", d.ref, who(tp), who(tp.Remote))
				default:
					d.port.Remote, tp.Remote = tp, d.port
				}
				continue
			}
			rn := p.byID[d.remote]
			if rn == nil {
				if !p.broken[d.remote] {
					at("unknown node %q", d.remote)
				}
				continue
			}
			if d.rport > rn.n.NumPorts {
				at("links to %q[%d], but %s has ports 1..%d", d.remote, d.rport, rn.n, rn.n.NumPorts)
				continue
			}
			rp := rn.n.Ports[d.rport]
			rd := rn.decls[d.rport]
			switch {
			case rp == d.port:
				at("linked to itself")
			case rd == nil:
				at("links to %s, but %s does not list port %d", who(rp), rn.n, d.rport)
			case rd.alias != "":
				at("links to %s, but that port is alias %q%s; link to the alias instead", who(rp), rd.alias, loc(rn.n.File, rd.line))
			case rd.ref != "":
				at("links to %s, but %s links to alias %q%s", who(rp), who(rp), rd.ref, loc(rn.n.File, rd.line))
			case rd.remote != n.ID || rd.rport != num:
				at("links to %s, but %s links to %q[%d]%s", who(rp), who(rp), rd.remote, rd.rport, loc(rn.n.File, rd.line))
			default:
				d.port.Remote, rp.Remote = rp, d.port
			}
		}
	}
	// The "(guid)" written after a remote port must be that port's GUID.
	for _, pn := range p.nodes {
		for _, d := range pn.decls {
			if d == nil || !d.hasRGUID || d.port.Remote == nil {
				continue
			}
			if q := d.port.Remote; q.GUID != d.rguid {
				p.ps.add(pn.n.File, d.line, nil, fmt.Sprintf("%s: remote port GUID %s does not match %s, whose GUID is %s",
					who(d.port), d.rguid, who(q), q.GUID))
			}
		}
	}
}
