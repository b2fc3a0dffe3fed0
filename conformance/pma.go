package conformance

import (
	"context"

	"github.com/ibemu/ibemu/emu/wire"
)

// perfGet sends a PerfMgt Get of attr (PortCounters data pc when set) to
// n's LID on QP1 and returns the response after checking its status.
func perfGet(ctx context.Context, c *Conn, n *Node, attr wire.AttrID, pc *wire.PortCountersFields) (wire.PerfMAD, error) {
	m, err := perfGetAny(ctx, c, n, attr, pc)
	if err != nil {
		return nil, err
	}
	if st := wire.MAD(m).Status(); st != wire.MADStatusOK {
		return nil, violation("PerfMgt Get(%s) to LID %d: status %s", attr, n.LID, st)
	}
	return m, nil
}

// perfGetAny is perfGet without the status check.
func perfGetAny(ctx context.Context, c *Conn, n *Node, attr wire.AttrID, pc *wire.PortCountersFields) (wire.PerfMAD, error) {
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassPerf,
		ClassVersion: wire.PMAClassVersion, Method: wire.MethodGet, AttrID: attr})
	if pc != nil {
		wire.PortCounters(wire.PerfMAD(req).Data()).Encode(pc)
	}
	m, err := c.LIDRouted(ctx, Address{LID: n.LID, QPN: 1}, req)
	if err != nil {
		return nil, err
	}
	return wire.PerfMAD(m), nil
}

func checkPMAClassPortInfo(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	m, err := perfGet(ctx, c, n, wire.AttrClassPortInfo, nil)
	if err != nil {
		return err
	}
	cpi := wire.ClassPortInfo(m.Data())
	if cpi.BaseVersion() != wire.MADBaseVersion || cpi.ClassVersion() != wire.PMAClassVersion {
		return violation("ClassPortInfo base version %d, class version %d; want 1 and 1", cpi.BaseVersion(), cpi.ClassVersion())
	}
	return nil
}

func checkPortCounters(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	return portSelectEchoed(ctx, c, n, wire.AttrPortCounters)
}

func checkPortCountersExtended(ctx context.Context, c *Conn, n *Node) error {
	if err := pmaAdvertises(ctx, c, n, wire.PerfCapExtendedWidth|wire.PerfCapExtendedWidthNoIETF, "PortCountersExtended"); err != nil {
		return err
	}
	return portSelectEchoed(ctx, c, n, wire.AttrPortCountersExtended)
}

// pmaAdvertises requires n to have a LID and its PMA's ClassPortInfo to
// set a bit of mask in CapabilityMask; otherwise the check is skipped
// (what names the feature).
func pmaAdvertises(ctx context.Context, c *Conn, n *Node, mask uint16, what string) error {
	if err := needLID(n); err != nil {
		return err
	}
	m, err := perfGet(ctx, c, n, wire.AttrClassPortInfo, nil)
	if err != nil {
		return err
	}
	if wire.ClassPortInfo(m.Data()).CapabilityMask()&mask == 0 {
		return skip("the PMA does not advertise %s", what)
	}
	return nil
}

// portSelectEchoed gets counters attribute attr of n's port (a switch's
// port 1 when the walk arrived on port 0) and requires PortSelect echoed.
func portSelectEchoed(ctx context.Context, c *Conn, n *Node, attr wire.AttrID) error {
	port := max(n.Arrival, 1)
	m, err := perfGet(ctx, c, n, attr, &wire.PortCountersFields{PortSelect: port})
	if err != nil {
		return err
	}
	if got := wire.PortCounters(m.Data()).PortSelect(); got != port {
		return violation("%s of port %d answered for PortSelect %d", attr, port, got)
	}
	return nil
}

func checkPMAUnsupportedAttr(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	m, err := perfGetAny(ctx, c, n, unassignedSMAttr, nil)
	if err != nil {
		return err
	}
	if st := wire.MAD(m).Status(); st != wire.MADStatusUnsupportedMethodAttr {
		return violation("PerfMgt Get of %s answered with status %s, want %s", unassignedSMAttr, st, wire.MADStatusUnsupportedMethodAttr)
	}
	return nil
}

func checkPMABadPortSelect(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	bad := n.Info.NumPorts + 1
	if bad == wire.PMAAllPorts {
		return skip("254 ports: the next PortSelect is 0xFF")
	}
	m, err := perfGetAny(ctx, c, n, wire.AttrPortCounters, &wire.PortCountersFields{PortSelect: bad})
	if err != nil {
		return err
	}
	if st := wire.MAD(m).Status(); st != wire.MADStatusInvalidField {
		return violation("PortCounters of PortSelect %d (of %d ports) answered with status %s, want %s", bad, n.Info.NumPorts,
			st, wire.MADStatusInvalidField)
	}
	return nil
}

func checkPMAAllPortSelect(ctx context.Context, c *Conn, n *Node) error {
	if err := pmaAdvertises(ctx, c, n, wire.PerfCapAllPortSelect, "AllPortSelect"); err != nil {
		return err
	}
	m, err := perfGet(ctx, c, n, wire.AttrPortCounters, &wire.PortCountersFields{PortSelect: wire.PMAAllPorts})
	if err != nil {
		return err
	}
	if got := wire.PortCounters(m.Data()).PortSelect(); got != wire.PMAAllPorts {
		return violation("PortCounters of PortSelect 0xFF answered for PortSelect %d", got)
	}
	return nil
}
