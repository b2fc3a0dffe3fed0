package topology

import (
	"strconv"
	"sync"

	"github.com/ibemu/ibemu/emu/wire"
)

// Limits of the file format and of the model.
const (
	// MaxPorts is the largest NumPorts of a node: port numbers are 8 bits
	// and 255 is reserved (a switch forwarding table uses it for "drop").
	MaxPorts = 254
	// MaxDescLen is the size of the NodeDescription attribute in bytes
	// (IBTA Vol 1 §14.2.5.2).
	MaxDescLen = 64
	// MaxIDLen is the longest node id, module prefix included, that ibsim
	// keeps (its NODEIDLEN less the terminator).
	MaxIDLen = 64
	// MaxModuleLen is the longest module="name" prefix ibsim keeps.
	MaxModuleLen = 20
	// MaxLineLen is the longest line, in bytes without the line ending,
	// that ibsim reads whole (its line buffer is 256 bytes including the
	// newline and the terminating NUL).
	MaxLineLen = 254
	// MaxIncludeDepth is how many files may be open at once: the top file
	// and up to eight nested includes, as in ibsim.
	MaxIncludeDepth = 9
)

// Default GUID bases, used until a switchguid=, caguid= or rtguid= line
// sets another.
const (
	DefaultCAGUID     wire.GUID = 0x100000
	DefaultSwitchGUID wire.GUID = 0x200000
	// DefaultRouterGUID differs from ibsim, which starts routers at GUID 0.
	DefaultRouterGUID wire.GUID = 0x300000
)

// Default enabled link masks of ports whose file sets none (ibsim's
// defaults): 4x, SDR, no extended speed.
const (
	DefaultWidthEnabled uint8          = uint8(wire.Width4X)
	DefaultSpeedEnabled wire.LinkSpeed = wire.SpeedSDR
)

// Topology is a fabric: its nodes, with the links between their ports, and
// the console commands its file asked to run. Use it by pointer and do not
// copy it (it holds the lookup index's mutex); see the package documentation
// for the concurrency rules.
type Topology struct {
	// Nodes in file order (for generated fabrics: CAs first, then
	// switches from the leaves up).
	Nodes []*Node
	// Commands are the file's "do" lines, in order. ibsim runs them while
	// it parses, before the links are connected; ibemu leaves when to run
	// them to the server.
	Commands []Command
	// Aliases are the file's port aliases ("@[3] "up"" defines "@up", or
	// "m@up" under module="m"), each naming one port, so that console
	// commands can name a port as ibsim's do: Unlink "@up". Nil when the
	// file defines none.
	Aliases map[string]*Port

	mu  sync.Mutex
	idx *index // +checklocks:mu
}

// Command is a console command given in a topology file as "do <command>".
type Command struct {
	// Text is the command after "do", trimmed, for example
	// `Unlink "Switch1"[3]`.
	Text string
	// File and Line locate the "do" line.
	File string
	Line int
}

// Node is one switch, CA or router.
type Node struct {
	// Type is wire.NodeTypeSwitch, wire.NodeTypeCA or wire.NodeTypeRouter.
	Type wire.NodeType
	// ID is the quoted node id of the file ("Switch1", "S-0002c9..."),
	// with its module prefix ("mod#Switch1") when one applied. Port lines
	// and console commands name nodes by it. Unique within a Topology.
	ID string
	// Desc is the NodeDescription (at most MaxDescLen bytes). The file's
	// "# desc" gives it; without one it is the id.
	Desc string
	// NumPorts is the number of physical ports, 1..MaxPorts.
	NumPorts int
	// NodeGUID identifies the node. Unique within a Topology.
	NodeGUID wire.GUID
	// SysImageGUID is NodeInfo.SystemImageGUID: the node GUID unless the
	// file's sysimgguid= gives a shared one.
	SysImageGUID wire.GUID
	// VendorID is NodeInfo.VendorID (24 bits; Mellanox is 0x0002c9).
	VendorID uint32
	// DeviceID is NodeInfo.DeviceID; 0 means the device model's default.
	DeviceID uint16
	// LID and LMC are a switch's: those of its management port 0. They
	// are zero on CAs and routers, whose LIDs are per port (Port.LID).
	// A zero LID is unassigned (the subnet manager assigns one).
	LID wire.LID
	LMC uint8
	// EnhancedPort0 is SwitchInfo.EnhancedPort0 ("enhanced port 0" in the
	// switch header). Switches only.
	EnhancedPort0 bool
	// Ports is indexed by port number and has NumPorts+1 entries. Ports[0]
	// is a switch's management port and is nil on CAs and routers; every
	// other entry is non-nil, connected or not.
	Ports []*Port
	// File and Line locate the node's header line (empty and 0 for
	// generated nodes).
	File string
	Line int
}

// Port is one port of a node.
type Port struct {
	// Node owns the port.
	Node *Node
	// Num is the port number, the port's index in Node.Ports.
	Num int
	// GUID is the port GUID. CA and router ports have their own (the
	// default is node GUID + Num); every switch port reports the switch's
	// port 0 GUID, which is normally the node GUID.
	GUID wire.GUID
	// LID and LMC are a CA or router port's own; zero on switch ports (a
	// switch has one LID, Node.LID; see BaseLID).
	LID wire.LID
	LMC uint8
	// Remote is the port at the other end of the link, nil when the port
	// is unconnected. Links are symmetric: p.Remote.Remote == p.
	Remote *Port
	// WidthEnabled is PortInfo.LinkWidthEnabled, a mask of wire.LinkWidth
	// bits.
	WidthEnabled uint8
	// SpeedEnabled is PortInfo.LinkSpeedEnabled in the low byte and
	// LinkSpeedExtEnabled in the high byte, a mask of wire.LinkSpeed bits.
	SpeedEnabled wire.LinkSpeed
	// FDR10Enabled is the Mellanox extended-port-info FDR10 enable bit.
	FDR10Enabled bool
	// Width and Speed are the link's active width and speed when the file
	// states them (ibnetdiscover's "4xQDR"), else 0; FDR10 is set with
	// Speed = QDR when the file says "FDR10". ActiveRate resolves unstated
	// values.
	Width wire.LinkWidth
	Speed wire.LinkSpeed
	FDR10 bool
	// Line is the line of the port's declaration in the node's file
	// (0 when the file does not list the port).
	Line int
}

// Link is one link, as Links names it.
type Link struct {
	// A is the end that comes first in node and port order, B the other.
	A, B *Port
}

// String is the node's id in double quotes, as port lines and console
// commands write it.
func (n *Node) String() string { return strconv.Quote(n.ID) }

// IsSwitch reports whether n is a switch.
func (n *Node) IsSwitch() bool { return n.Type == wire.NodeTypeSwitch }

// Port is port num of n, or nil when n has no such port.
func (n *Node) Port(num int) *Port {
	if num < 0 || num >= len(n.Ports) {
		return nil
	}
	return n.Ports[num]
}

// String is the port as the file writes it: "id"[num].
func (p *Port) String() string {
	return strconv.Quote(p.Node.ID) + "[" + strconv.Itoa(p.Num) + "]"
}

// Connected reports whether the port has a link.
func (p *Port) Connected() bool { return p.Remote != nil }

// BaseLID is the LID that addresses the port: the switch's LID for a switch
// port, the port's own LID otherwise.
func (p *Port) BaseLID() wire.LID {
	if p.Node != nil && p.Node.IsSwitch() {
		return p.Node.LID
	}
	return p.LID
}

// ActiveRate is the width and speed the port's link runs at: what either
// end states, else what the two ends negotiate from their enabled masks (the
// widest common width; the fastest common extended speed, else FDR10 when
// both enable it, else the fastest common speed). It is the zero Rate for an
// unconnected port, and has a zero field when the masks share no value.
func (p *Port) ActiveRate() Rate {
	q := p.Remote
	if q == nil {
		return Rate{}
	}
	neg := negotiate(p, q)
	var r Rate
	switch {
	case p.Width != 0:
		r.Width = p.Width
	case q.Width != 0:
		r.Width = q.Width
	default:
		r.Width = neg.Width
	}
	switch {
	case p.Speed != 0:
		r.Speed, r.FDR10 = p.Speed, p.FDR10
	case q.Speed != 0:
		r.Speed, r.FDR10 = q.Speed, q.FDR10
	default:
		r.Speed, r.FDR10 = neg.Speed, neg.FDR10
	}
	return r
}

// negotiate picks the active width and speed from two ports' enabled masks,
// as a link would train (ibsim's rule, with 2x between 4x and 1x).
func negotiate(a, b *Port) Rate {
	var r Rate
	w := a.WidthEnabled & b.WidthEnabled
	for _, c := range []wire.LinkWidth{wire.Width12X, wire.Width8X, wire.Width4X, wire.Width2X, wire.Width1X} {
		if w&uint8(c) != 0 {
			r.Width = c
			break
		}
	}
	s := a.SpeedEnabled & b.SpeedEnabled
	for _, c := range []wire.LinkSpeed{wire.SpeedNDR, wire.SpeedHDR, wire.SpeedEDR, wire.SpeedFDR} {
		if s&c != 0 {
			r.Speed = c
			return r
		}
	}
	if a.FDR10Enabled && b.FDR10Enabled {
		r.Speed, r.FDR10 = wire.SpeedQDR, true
		return r
	}
	for _, c := range []wire.LinkSpeed{wire.SpeedQDR, wire.SpeedDDR, wire.SpeedSDR} {
		if s&c != 0 {
			r.Speed = c
			return r
		}
	}
	return r
}

// Links lists every link once, from the end that comes first in node and
// port order.
func (t *Topology) Links() []Link {
	var links []Link
	pos := make(map[*Node]int, len(t.Nodes))
	for i, n := range t.Nodes {
		pos[n] = i
	}
	for i, n := range t.Nodes {
		for _, p := range n.Ports {
			if p == nil || p.Remote == nil {
				continue
			}
			q := p.Remote
			j, ok := pos[q.Node]
			if !ok || j > i || (j == i && q.Num > p.Num) {
				links = append(links, Link{A: p, B: q})
			}
		}
	}
	return links
}

// index holds the lookup maps of a Topology.
type index struct {
	n      int
	byID   map[string]*Node
	byGUID map[wire.GUID]*Node
	byDesc map[string]*Node
	ports  map[wire.GUID]*Port
}

// lookup runs f on the current index, rebuilding it when the node count
// changed or f reports a stale hit.
func (t *Topology) lookup(f func(*index) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idx != nil && t.idx.n == len(t.Nodes) && f(t.idx) {
		return
	}
	t.idx = buildIndex(t.Nodes)
	f(t.idx)
}

func buildIndex(nodes []*Node) *index {
	x := &index{
		n:      len(nodes),
		byID:   make(map[string]*Node, len(nodes)),
		byGUID: make(map[wire.GUID]*Node, len(nodes)),
		byDesc: make(map[string]*Node, len(nodes)),
		ports:  make(map[wire.GUID]*Port, len(nodes)),
	}
	for _, n := range nodes {
		if _, ok := x.byID[n.ID]; !ok {
			x.byID[n.ID] = n
		}
		if _, ok := x.byGUID[n.NodeGUID]; !ok {
			x.byGUID[n.NodeGUID] = n
		}
		if _, ok := x.byDesc[n.Desc]; !ok {
			x.byDesc[n.Desc] = n
		}
		for i, p := range n.Ports {
			if p == nil || (n.IsSwitch() && i > 0) {
				continue
			}
			if _, ok := x.ports[p.GUID]; !ok {
				x.ports[p.GUID] = p
			}
		}
	}
	return x
}

// Reindex rebuilds the lookup index. Call it after adding, removing or
// renaming nodes or changing their GUIDs or descriptions.
func (t *Topology) Reindex() {
	t.mu.Lock()
	t.idx = buildIndex(t.Nodes)
	t.mu.Unlock()
}

// NodeByID is the node with the given id (module prefix included), or nil.
func (t *Topology) NodeByID(id string) *Node {
	var n *Node
	t.lookup(func(x *index) bool {
		n = x.byID[id]
		return n == nil || n.ID == id
	})
	return n
}

// NodeByGUID is the node with the given node GUID, or nil.
func (t *Topology) NodeByGUID(g wire.GUID) *Node {
	var n *Node
	t.lookup(func(x *index) bool {
		n = x.byGUID[g]
		return n == nil || n.NodeGUID == g
	})
	return n
}

// NodeByDesc is the first node, in Nodes order, with the given
// NodeDescription, or nil. Descriptions need not be unique.
func (t *Topology) NodeByDesc(desc string) *Node {
	var n *Node
	t.lookup(func(x *index) bool {
		n = x.byDesc[desc]
		return n == nil || n.Desc == desc
	})
	return n
}

// PortByGUID is the CA or router port, or the switch management port 0,
// with the given port GUID, or nil. A CA port whose GUID equals its node GUID
// (as on ConnectX-4 and later) is found too.
func (t *Topology) PortByGUID(g wire.GUID) *Port {
	var p *Port
	t.lookup(func(x *index) bool {
		p = x.ports[g]
		return p == nil || p.GUID == g
	})
	return p
}

// Count is the number of nodes of type typ.
func (t *Topology) Count(typ wire.NodeType) int {
	c := 0
	for _, n := range t.Nodes {
		if n.Type == typ {
			c++
		}
	}
	return c
}
