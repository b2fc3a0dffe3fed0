package conformance

import (
	"context"
	"fmt"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Walk finds the nodes the checks run on: it reads the target's own node
// with a directed-route SMP of no hops, then, breadth first, the node at
// the far end of every port of a switch whose link is up (and of the
// target's own port), as a subnet manager's discovery does (IBTA Vol 1
// §14.2.2). A CA or router does not forward directed-route SMPs, so the
// walk goes on only through switches. Nodes are told apart by the
// PortGUID their NodeInfo reports, so a CA reached through each of two
// ports counts twice (its ports are checked each) and a switch once.
// max bounds the number of nodes (0: no bound). Walk fails only when the
// target's own node does not answer; a remote node that does not is left
// out (the checks judge the nodes that answer).
func Walk(ctx context.Context, c *Conn, max int) ([]*Node, error) {
	self := &Node{}
	if err := c.readNode(ctx, self); err != nil {
		return nil, fmt.Errorf("conformance: read the target's own node: %w", err)
	}
	nodes := []*Node{self}
	seen := map[wire.GUID]bool{self.Info.PortGUID: true}
	for i := 0; i < len(nodes) && (max <= 0 || len(nodes) < max); i++ {
		n := nodes[i]
		// A switch's neighbours are behind every port but the one the
		// walk came in by (none, for the target's own switch: port 0); a
		// CA's only behind the target's own port.
		var out []uint8
		switch {
		case n.IsSwitch():
			for p := 1; p <= int(n.Info.NumPorts); p++ {
				if uint8(p) != n.Arrival {
					out = append(out, uint8(p))
				}
			}
		case i == 0:
			out = []uint8{n.Arrival}
		}
		for _, p := range out {
			if len(n.Path) >= wire.SMPMaxHopCount || (max > 0 && len(nodes) >= max) {
				break
			}
			s, err := c.Get(ctx, n, wire.AttrPortInfo, uint32(p))
			if err != nil || s.Status() != wire.MADStatusOK || wire.PortInfo(s.Data()).PortState() < wire.PortStateInit {
				continue
			}
			m := n.child(p)
			if err := c.readNode(ctx, m); err != nil {
				continue
			}
			if seen[m.Info.PortGUID] {
				continue
			}
			seen[m.Info.PortGUID] = true
			nodes = append(nodes, m)
		}
	}
	return nodes, nil
}

// readNode fills n's Info, Description, Arrival, LID and Active from
// NodeInfo, NodeDescription and the PortInfo of its management port.
func (c *Conn) readNode(ctx context.Context, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrNodeInfo, 0)
	if err != nil {
		return err
	}
	n.Info = wire.NodeInfo(b).Fields()
	n.Arrival = n.Info.LocalPortNum
	if d, err := c.GetOK(ctx, n, wire.AttrNodeDescription, 0); err == nil {
		n.Description = strings.TrimRight(string(d[:wire.NodeDescriptionSize]), "\x00")
	}
	port := uint32(n.Arrival)
	if n.IsSwitch() {
		port = 0
	}
	if b, err := c.GetOK(ctx, n, wire.AttrPortInfo, port); err == nil {
		pi := wire.PortInfo(b)
		n.LID, n.Active = pi.LID(), pi.PortState() == wire.PortStateActive
	}
	return nil
}

// child is the node behind port of n: n's route one hop longer.
func (n *Node) child(port uint8) *Node {
	return &Node{Path: append(append([]uint8(nil), n.Path...), port)}
}
