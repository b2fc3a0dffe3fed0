package conformance

import (
	"context"

	"github.com/ibemu/ibemu/emu/wire"
)

// checkLinkEnds reads the PortInfo of both ends of the link the walk
// reached n by (the parent's output port, n's arrival port) and checks
// that they trained alike: a link runs at one width and one speed, which
// both ends support. (It need not be the widest and fastest both enable:
// a changed enable takes effect when the link next trains, and a cable
// may train lower, which diagnostics report as a degraded link.)
func checkLinkEnds(ctx context.Context, c *Conn, n *Node) error {
	last := len(n.Path) - 1
	parent := &Node{Path: n.Path[:last]}
	out := n.Path[last]
	pb, err := c.GetOK(ctx, parent, wire.AttrPortInfo, uint32(out))
	if err != nil {
		return err
	}
	nb, err := c.GetOK(ctx, n, wire.AttrPortInfo, uint32(n.Arrival))
	if err != nil {
		return err
	}
	a, b := wire.PortInfo(pb), wire.PortInfo(nb)
	switch aw, bw, as, bs, ae, be := a.LinkWidthActive(), b.LinkWidthActive(), a.LinkSpeedActive(), b.LinkSpeedActive(),
		a.LinkSpeedExtActive(), b.LinkSpeedExtActive(); {
	case a.PortPhysicalState() != wire.PhysStateLinkUp || b.PortPhysicalState() != wire.PhysStateLinkUp:
		return violation("a link that carries SMPs: port %d of the node before shows physical state %s, port %d here %s",
			out, a.PortPhysicalState(), n.Arrival, b.PortPhysicalState())
	case aw != bw:
		return violation("LinkWidthActive %s at port %d of the node before, %s at port %d here", aw, out, bw, n.Arrival)
	case aw&a.LinkWidthSupported() == 0 || aw&b.LinkWidthSupported() == 0:
		return violation("LinkWidthActive %s, which port %d of the node before (supported %s) or port %d here (supported %s) does not support",
			aw, out, a.LinkWidthSupported(), n.Arrival, b.LinkWidthSupported())
	case ae != be:
		return violation("LinkSpeedExtActive %d at port %d of the node before, %d at port %d here", ae, out, be, n.Arrival)
	case ae != 0 && (ae&a.LinkSpeedExtSupported() == 0 || ae&b.LinkSpeedExtSupported() == 0):
		return violation("LinkSpeedExtActive %d, which port %d of the node before (supported %d) or port %d here (supported %d) does not support",
			ae, out, a.LinkSpeedExtSupported(), n.Arrival, b.LinkSpeedExtSupported())
	case ae != 0:
		// An extended speed runs the link; LinkSpeedActive says no more.
	case as != bs:
		return violation("LinkSpeedActive %s at port %d of the node before, %s at port %d here", as, out, bs, n.Arrival)
	case as&a.LinkSpeedSupported() == 0 || as&b.LinkSpeedSupported() == 0:
		return violation("LinkSpeedActive %s, which port %d of the node before (supported %s) or port %d here (supported %s) does not support",
			as, out, a.LinkSpeedSupported(), n.Arrival, b.LinkSpeedSupported())
	}
	return nil
}
