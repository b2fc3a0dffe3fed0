package topology

import (
	"fmt"
	"strconv"

	"github.com/ibemu/ibemu/emu/wire"
)

// Validate checks that t is a consistent fabric and returns an *ErrorList of
// every problem, or nil: node ids present, unique and at most MaxIDLen
// bytes; descriptions present, at most MaxDescLen bytes, without double
// quotes or control characters; port slices shaped as Node documents; GUIDs
// non-zero and unique (a CA port may reuse its own node GUID); LIDs unicast
// and not shared; LMC at most 7; links symmetric, between distinct ports of
// nodes of t, never on a switch port 0; and for every link a common width and
// speed, with no disagreement between what its two ends state.
//
// Parse runs the same checks, so a parsed topology is always valid; Write
// refuses an invalid one.
func (t *Topology) Validate() error {
	var ps problems
	validate(t, &ps)
	return ps.err()
}

// loc is " (FILE:LINE)" for a cross-reference, or "" when the place has no
// file.
func loc(file string, line int) string {
	switch {
	case file == "":
		return ""
	case line == 0:
		return " (" + file + ")"
	}
	return " (" + file + ":" + strconv.Itoa(line) + ")"
}

// portLine is where to report a port's problems: its own line, else its
// node's header.
func portLine(p *Port) int {
	if p.Line > 0 {
		return p.Line
	}
	return p.Node.Line
}

// descProblem says what is wrong with a node description, or "".
func descProblem(d string) string {
	if d == "" {
		return "empty node description"
	}
	if len(d) > MaxDescLen {
		return fmt.Sprintf("node description is %d bytes, more than %d", len(d), MaxDescLen)
	}
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			return "node description contains a double quote"
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("node description contains control character %#02x", c)
		}
	}
	return ""
}

type guidOwner struct {
	n    *Node
	port int // -1 for the node GUID
}

func validate(t *Topology, ps *problems) {
	ids := make(map[string]*Node, len(t.Nodes))
	pos := make(map[*Node]int, len(t.Nodes))
	for i, n := range t.Nodes {
		if _, dup := pos[n]; n != nil && !dup {
			pos[n] = i
		}
	}
	guids := make(map[wire.GUID]guidOwner, 2*len(t.Nodes))
	lids := make(map[wire.LID]*Port, 2*len(t.Nodes))

	claimLIDs := func(p *Port, lid wire.LID, lmc uint8) {
		n := p.Node
		if lid == 0 {
			return
		}
		if lmc > 7 {
			return // reported by the caller
		}
		last := int(lid) + 1<<lmc - 1
		if !lid.IsUnicast() || last > int(wire.LIDUnicastMax) {
			ps.add(n.File, portLine(p), nil, fmt.Sprintf("%s: LID %d with LMC %d is outside the unicast range 1..%d",
				who(p), lid, lmc, wire.LIDUnicastMax))
			return
		}
		for l := int(lid); l <= last; l++ {
			if q, ok := lids[wire.LID(l)]; ok {
				ps.add(n.File, portLine(p), nil, fmt.Sprintf("%s: LID %d already used by %s%s",
					who(p), l, who(q), loc(q.Node.File, portLine(q))))
				return
			}
		}
		for l := int(lid); l <= last; l++ {
			lids[wire.LID(l)] = p
		}
	}

	for i, n := range t.Nodes {
		if n == nil {
			ps.add("", 0, nil, fmt.Sprintf("node %d is nil", i))
			continue
		}
		at := func(format string, args ...any) {
			ps.add(n.File, n.Line, nil, n.String()+": "+fmt.Sprintf(format, args...))
		}
		switch {
		case n.ID == "":
			ps.add(n.File, n.Line, nil, "empty node id")
		case len(n.ID) > MaxIDLen:
			at("node id is %d bytes, more than %d", len(n.ID), MaxIDLen)
		default:
			for j := 0; j < len(n.ID); j++ {
				if c := n.ID[j]; c == '"' || c < 0x20 || c == 0x7f {
					at("node id contains a double quote or control character")
					break
				}
			}
		}
		if first, ok := ids[n.ID]; ok {
			at("duplicate node id%s", firstAt(first))
		} else {
			ids[n.ID] = n
		}
		if msg := descProblem(n.Desc); msg != "" {
			at("%s", msg)
		}
		switch n.Type {
		case wire.NodeTypeCA, wire.NodeTypeSwitch, wire.NodeTypeRouter:
		default:
			at("bad node type %d", n.Type)
		}
		if n.VendorID > 0xffffff {
			at("vendor id %#x is more than 24 bits", n.VendorID)
		}
		if !n.IsSwitch() {
			if n.LID != 0 || n.LMC != 0 {
				at("a %s has no node LID; its LIDs are per port", n.Type)
			}
			if n.EnhancedPort0 {
				at("enhanced port 0 applies to switches only")
			}
		}
		if n.NumPorts < 1 || n.NumPorts > MaxPorts {
			at("%d ports, want 1..%d", n.NumPorts, MaxPorts)
		}
		if len(n.Ports) != n.NumPorts+1 {
			at("has %d port entries for %d ports (want NumPorts+1, with Ports[0] the switch port 0)", len(n.Ports), n.NumPorts)
			continue
		}
		shapeOK := true
		for j, p := range n.Ports {
			switch {
			case j == 0 && !n.IsSwitch() && p != nil:
				at("Ports[0] must be nil on a %s", n.Type)
				shapeOK = false
			case j == 0 && n.IsSwitch() && p == nil:
				at("switch port 0 is missing")
				shapeOK = false
			case j > 0 && p == nil:
				at("port %d is missing", j)
				shapeOK = false
			case p != nil && (p.Num != j || p.Node != n):
				at("Ports[%d] has Num %d and belongs to another node", j, p.Num)
				shapeOK = false
			}
		}
		if !shapeOK {
			continue
		}

		// GUIDs.
		nodeGUIDBad := true // then ports carrying it are not reported again
		if n.NodeGUID == 0 {
			at("node GUID 0 is not valid")
		} else if o, ok := guids[n.NodeGUID]; ok {
			at("node GUID %s already used by %s%s", n.NodeGUID, o.who(), loc(o.n.File, o.line()))
		} else {
			nodeGUIDBad = false
			guids[n.NodeGUID] = guidOwner{n: n, port: -1}
		}
		ownUsed := false
		for j, p := range n.Ports {
			if p == nil || (n.IsSwitch() && j > 0) {
				continue
			}
			if p.GUID == n.NodeGUID && nodeGUIDBad {
				continue
			}
			if p.GUID == 0 {
				ps.add(n.File, portLine(p), nil, who(p)+": port GUID 0 is not valid")
				continue
			}
			o, ok := guids[p.GUID]
			if ok && o.n == n && o.port == -1 && !ownUsed {
				ownUsed = true // a port may carry its node's GUID, once
				continue
			}
			if ok {
				ps.add(n.File, portLine(p), nil, fmt.Sprintf("%s: port GUID %s already used by %s%s",
					who(p), p.GUID, o.who(), loc(o.n.File, o.line())))
				continue
			}
			guids[p.GUID] = guidOwner{n: n, port: j}
		}

		// LIDs.
		if n.IsSwitch() {
			if n.LMC > 7 {
				at("LMC %d is more than 7", n.LMC)
			}
			claimLIDs(n.Ports[0], n.LID, n.LMC)
		}
		for j, p := range n.Ports {
			if j == 0 {
				continue
			}
			if n.IsSwitch() {
				if p.LID != 0 || p.LMC != 0 {
					ps.add(n.File, portLine(p), nil, who(p)+": switch ports have no LID of their own; the switch LID is Node.LID")
				}
				continue
			}
			if p.LMC > 7 {
				ps.add(n.File, portLine(p), nil, fmt.Sprintf("%s: LMC %d is more than 7", who(p), p.LMC))
			}
			claimLIDs(p, p.LID, p.LMC)
		}
	}

	// Links, once every node is known to be well formed.
	for _, n := range t.Nodes {
		if n == nil || len(n.Ports) != n.NumPorts+1 {
			continue
		}
		for j, p := range n.Ports {
			if p == nil || p.Remote == nil || p.Node != n || p.Num != j {
				continue
			}
			q := p.Remote
			line := portLine(p)
			switch {
			case j == 0:
				ps.add(n.File, line, nil, who(p)+": switch port 0 is the management port and cannot be linked")
				continue
			case q == p:
				ps.add(n.File, line, nil, who(p)+": linked to itself")
				continue
			case q.Node == nil || !inTopology(pos, q.Node):
				ps.add(n.File, line, nil, who(p)+": linked to a port of a node that is not in the topology")
				continue
			case q.Remote != p:
				other := "unconnected"
				if q.Remote != nil && q.Remote.Node != nil {
					other = "linked to " + who(q.Remote)
				}
				ps.add(n.File, line, nil, fmt.Sprintf("%s: linked to %s, but %s is %s", who(p), who(q), who(q), other))
				continue
			case q.Num == 0 && q.Node.IsSwitch():
				continue // reported from the other end
			}
			if pi, qi := pos[n], pos[q.Node]; pi > qi || (pi == qi && j > q.Num) {
				continue // each link once, from its first end
			}
			checkRate(p, q, ps)
		}
	}
}

// inTopology reports whether n is one of the nodes indexed in pos.
func inTopology(pos map[*Node]int, n *Node) bool {
	_, ok := pos[n]
	return ok
}

// checkRate reports a link whose ends state different rates, or that can
// train to no common width or speed.
func checkRate(p, q *Port, ps *problems) {
	n := p.Node
	line := portLine(p)
	if p.Width != 0 && q.Width != 0 && p.Width != q.Width {
		ps.add(n.File, line, nil, fmt.Sprintf("%s: width %s here but %s at %s%s",
			who(p), widthName(p.Width), widthName(q.Width), who(q), loc(q.Node.File, portLine(q))))
	}
	if p.Speed != 0 && q.Speed != 0 && (p.Speed != q.Speed || p.FDR10 != q.FDR10) {
		ps.add(n.File, line, nil, fmt.Sprintf("%s: speed %s here but %s at %s%s",
			who(p), Rate{Speed: p.Speed, FDR10: p.FDR10}.speedName(), Rate{Speed: q.Speed, FDR10: q.FDR10}.speedName(),
			who(q), loc(q.Node.File, portLine(q))))
	}
	neg := negotiate(p, q)
	if p.Width == 0 && q.Width == 0 && neg.Width == 0 {
		ps.add(n.File, line, nil, fmt.Sprintf("%s: no common link width with %s (enabled %#x and %#x)",
			who(p), who(q), p.WidthEnabled, q.WidthEnabled))
	}
	if p.Speed == 0 && q.Speed == 0 && neg.Speed == 0 {
		ps.add(n.File, line, nil, fmt.Sprintf("%s: no common link speed with %s (enabled %#x and %#x)",
			who(p), who(q), uint16(p.SpeedEnabled), uint16(q.SpeedEnabled)))
	}
}

func widthName(w wire.LinkWidth) string {
	if n := w.Lanes(); n > 0 {
		return strconv.Itoa(n) + "x"
	}
	return fmt.Sprintf("%#x", uint8(w))
}

// who names a port in messages: "id"[n].
func who(p *Port) string {
	if p.Node == nil {
		return "[" + strconv.Itoa(p.Num) + "]"
	}
	return p.String()
}

func (o guidOwner) who() string {
	if o.port < 0 {
		return o.n.String()
	}
	return who(o.n.Ports[o.port])
}

func (o guidOwner) line() int {
	if o.port < 0 {
		return o.n.Line
	}
	return portLine(o.n.Ports[o.port])
}

// firstAt is " (first at FILE:LINE)" for an earlier definition.
func firstAt(n *Node) string {
	if n.File == "" {
		return ""
	}
	return " (first at " + n.File + ":" + strconv.Itoa(n.Line) + ")"
}
