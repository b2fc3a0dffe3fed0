package sm

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// Subnet is what a heavy sweep found and what the SM made of it: nodes,
// ports, links, LIDs and forwarding tables. A Subnet is immutable once
// published (SM.Subnet); each heavy sweep builds a new one.
type Subnet struct {
	// Nodes in the order the sweep found them; the SM's own node first.
	Nodes []*Node
	// Local is the SM's port.
	Local *Port
	// Switches lists the switch nodes in Nodes order.
	Switches []*Node
	// ByGUID maps NodeGUIDs to nodes; PortByGUID maps the PortGUIDs of
	// end ports (CA ports and switch port 0) to ports.
	ByGUID     map[wire.GUID]*Node
	PortByGUID map[wire.GUID]*Port
	// ByLID maps every unicast LID in use (all 2^LMC of a CA port) to its
	// end port; index 0 is unused.
	ByLID []*Port
	// LMC is the LMC of CA ports.
	LMC uint8
	// Routing is the engine the LFTs were computed with.
	Routing Routing
	// MaxHops is the longest directed route of the sweep.
	MaxHops int
	// Problems lists what could not be read or configured; the sweep
	// carries on past each.
	Problems []error
	// SMPs counts the SMPs the heavy sweep sent.
	SMPs uint64
	// CCMADs counts the congestion control MADs the sweep sent (see
	// Config.CongestionControl), which SMPs does not include.
	CCMADs int
}

// Node is one node of the subnet.
type Node struct {
	Info wire.NodeInfoFields
	Desc string
	// Path is a directed route from the SM's port to the node (for a CA,
	// to the port it was first reached by).
	Path mad.DRPath
	// Ports holds ports 0..NumPorts; Ports[0] is nil on a CA.
	Ports []*Port
	// Switch is SwitchInfo of a switch.
	Switch wire.SwitchInfoFields
	// LFT is the linear forwarding table the SM computed for a switch:
	// LFT[lid] is the output port (0xFF: unreachable).
	LFT []uint8
	// index among the switches (-1 for CAs)
	swIdx int
	// entry is the port the node was first reached by.
	entry uint8
	// lftFailed is set when an LFT block could not be written;
	// lftDoneFn is the completion shared by the node's LFT block Sets.
	lftFailed bool
	lftDoneFn func([]byte, error)
}

// Port is one port of a node.
type Port struct {
	Node *Node
	Num  int
	// GUID is the PortGUID (CA ports; port 0 of a switch).
	GUID wire.GUID
	// Info is PortInfo as last read.
	Info wire.PortInfoFields
	// Read is set when Info holds an answer.
	Read bool
	// Remote is the port at the other end of the link.
	Remote *Port
	// Path is a directed route to the port's node entering by this port
	// (CA ports); for switches the node's path.
	Path mad.DRPath
	// LID and LMC are assigned by the SM (end ports).
	LID wire.LID
	LMC uint8
	// PKeys is the P_Key table the SM programs.
	PKeys []wire.PKey
	// MlnxExt is the Mellanox MlnxExtPortInfo (FDR10) as last read or
	// written, on ports of the devices that have it; MlnxExtRead is set
	// when it holds an answer.
	MlnxExt     wire.MlnxExtPortInfoFields
	MlnxExtRead bool
}

// IsSwitch reports whether n is a switch.
func (n *Node) IsSwitch() bool { return n.Info.NodeType == wire.NodeTypeSwitch }

// GUID is the NodeGUID.
func (n *Node) GUID() wire.GUID { return n.Info.NodeGUID }

// String names the node for log lines: its description and GUID.
func (n *Node) String() string { return fmt.Sprintf("%q (%s)", n.Desc, n.Info.NodeGUID) }

// EndPort reports whether p holds LIDs: a CA port or port 0 of a switch.
func (p *Port) EndPort() bool { return p.Node.IsSwitch() == (p.Num == 0) }

// LinkUp reports whether the port's physical link is up.
func (p *Port) LinkUp() bool { return p.Read && p.Info.PortPhysicalState == wire.PhysStateLinkUp }

// String names the port for log lines.
func (p *Port) String() string { return fmt.Sprintf("%s port %d", p.Node, p.Num) }

// GID is the port's GID with the subnet prefix and its GUID (IBTA Vol 1
// §4.1.1).
func (p *Port) GID(prefix uint64) wire.GID {
	var g wire.GID
	for i := range 8 {
		g[i] = byte(prefix >> (56 - 8*i))
		g[8+i] = byte(uint64(p.GUID) >> (56 - 8*i))
	}
	return g
}

// Route is how the SM reaches the port's node with a directed route.
func (p *Port) Route() mad.DRPath {
	if !p.Node.IsSwitch() && p.Path != nil {
		return p.Path
	}
	return p.Node.Path
}

// EndPortOf returns the end port a LID belongs to, or nil.
func (s *Subnet) EndPortOf(lid wire.LID) *Port {
	if int(lid) >= len(s.ByLID) || lid == 0 {
		return nil
	}
	return s.ByLID[lid]
}

// EndPorts returns every end port with a LID: CA ports with a link and
// switch port 0, in node order.
func (s *Subnet) EndPorts() []*Port {
	var out []*Port
	for _, n := range s.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.EndPort() && p.LID != 0 {
				out = append(out, p)
			}
		}
	}
	return out
}

// switchPort returns the switch port a CA port hangs off (nil if the CA
// port connects straight to another CA or to nothing).
func (p *Port) switchPort() *Port {
	if p.Remote != nil && p.Remote.Node.IsSwitch() {
		return p.Remote
	}
	return nil
}

func guidFromGID(g wire.GID) wire.GUID {
	var v uint64
	for i := range 8 {
		v = v<<8 | uint64(g[8+i])
	}
	return wire.GUID(v)
}

func prefixFromGID(g wire.GID) uint64 {
	var v uint64
	for i := range 8 {
		v = v<<8 | uint64(g[i])
	}
	return v
}
