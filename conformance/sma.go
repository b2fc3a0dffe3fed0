package conformance

import (
	"context"
	"errors"
	"math/bits"

	"github.com/ibemu/ibemu/emu/wire"
)

// unassignedSMAttr is an attribute ID the SM and PerfMgt classes leave unassigned
// (below the vendor range 0xFF00-0xFFFF), so that no SMA implements it.
const unassignedSMAttr wire.AttrID = 0x00FE

// Checks is every check, in the order Run runs them on each node.
var Checks = []*Check{
	{ID: "sma.nodeinfo", Ref: "IBTA Vol 1 §14.2.5.3",
		What: "NodeInfo: base and class version 1, a known node type, 1-254 ports, non-zero GUIDs, PartitionCap at least 1, LocalPortNum a port of the node",
		Run:  checkNodeInfo},
	{ID: "sma.nodedescription", Ref: "IBTA Vol 1 §14.2.5.2",
		What: "NodeDescription is answered with status 0",
		Run: func(ctx context.Context, c *Conn, n *Node) error {
			_, err := c.GetOK(ctx, n, wire.AttrNodeDescription, 0)
			return err
		}},
	{ID: "sma.portinfo", Ref: "IBTA Vol 1 §14.2.5.6",
		What: "PortInfo of every port (a CA's arrival port): LocalPortNum the arrival port, valid states, MTUs, LMC, and on a linked port an active width and speed each one bit of the supported ones",
		Run:  checkPortInfo},
	{ID: "sma.portinfo-bad-port", Ref: "IBTA Vol 1 §14.2.5.6, §13.4.7",
		What: "PortInfo of a port the node does not have is refused with status 0x001C (invalid attribute modifier)",
		Run: func(ctx context.Context, c *Conn, n *Node) error {
			return expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo,
				AttrMod: uint32(n.Info.NumPorts) + 1}, wire.MADStatusInvalidField)
		}},
	{ID: "sma.unsupported-attribute", Ref: "IBTA Vol 1 §13.4.7",
		What: "a Get of an attribute the class does not define is answered with status 0x000C (method/attribute not supported)",
		Run: func(ctx context.Context, c *Conn, n *Node) error {
			return expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: unassignedSMAttr},
				wire.MADStatusUnsupportedMethodAttr)
		}},
	{ID: "sma.unsupported-method", Ref: "IBTA Vol 1 §13.4.7",
		What: "a request method the SM class does not define (GetTable) is answered with status 0x0008 (method not supported)",
		Run: func(ctx context.Context, c *Conn, n *Node) error {
			return expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGetTable, AttrID: wire.AttrNodeInfo},
				wire.MADStatusUnsupportedMethod)
		}},
	{ID: "sma.set-get-only", Ref: "IBTA Vol 1 §14.2.5, §13.4.7",
		What: "a Set of NodeInfo or NodeDescription, which only a Get may read, is answered with status 0x000C (method/attribute combination not supported); the Set carries what a Get read, so a device that takes it changes nothing",
		Run:  checkSetGetOnly},
	{ID: "sma.bad-class-version", Ref: "IBTA Vol 1 §13.4.7",
		What: "an SMP of class version 2 is answered with status 0x0004 (bad version)",
		Run:  checkBadClassVersion},
	{ID: "sma.pkeytable", Ref: "IBTA Vol 1 §14.2.5.7",
		What:    "P_KeyTable block 0 is answered; the block past PartitionCap is refused with status 0x001C",
		Applies: isCA,
		Run:     checkPKeyTable},
	{ID: "sma.guidinfo", Ref: "IBTA Vol 1 §14.2.5.5",
		What:    "GUIDInfo block 0 holds the PortGUID at index 0; the block past GUIDCap is refused with status 0x001C",
		Applies: isCA,
		Run:     checkGUIDInfo},
	{ID: "sma.switchinfo", Ref: "IBTA Vol 1 §14.2.5.4",
		What:    "SwitchInfo: LinearFDBTop below LinearFDBCap, MulticastFDBTop within the multicast table, and with a random forwarding table a DefaultPort of the switch",
		Applies: (*Node).IsSwitch,
		Run:     checkSwitchInfo},
	{ID: "sma.lft-bad-block", Ref: "IBTA Vol 1 §14.2.5.10, §13.4.7",
		What:    "the LinearForwardingTable block past LinearFDBCap is refused with status 0x001C",
		Applies: (*Node).IsSwitch,
		Run:     checkLFTBadBlock},
	{ID: "smi.dr-return-path", Ref: "IBTA Vol 1 §14.2.2",
		What:    "a directed-route response carries the ports it arrived on in ReturnPath, the last one the node's LocalPortNum",
		Applies: func(n *Node) bool { return len(n.Path) > 0 },
		Run:     checkReturnPath},
	{ID: "sma.link-ends", Ref: "IBTA Vol 1 §14.2.5.6",
		What:    "the two ends of the link the walk reached a node by agree: both LinkUp, the same LinkWidthActive, LinkSpeedActive and LinkSpeedExtActive, each one both ends support",
		Applies: func(n *Node) bool { return len(n.Path) > 0 },
		Run:     checkLinkEnds},
	{ID: "smi.dr-down-port", Ref: "IBTA Vol 1 §14.2.2",
		What:    "a switch discards a directed-route SMP whose next hop is a port without a physical link: no answer",
		Applies: (*Node).IsSwitch,
		Run:     checkDRDownPort},
	{ID: "smi.lid-routed", Ref: "IBTA Vol 1 §14.2.1",
		What: "a LID-routed SMP to the node's LID reaches the node the directed route reaches",
		Run:  checkLIDRouted},
	{ID: "pma.classportinfo", Ref: "IBTA Vol 1 §16.1.1, §13.4.8.1",
		What: "the PMA answers ClassPortInfo with base and class version 1",
		Run:  checkPMAClassPortInfo},
	{ID: "pma.portcounters", Ref: "IBTA Vol 1 §16.1.3.5",
		What: "the PMA answers PortCounters of the node's port with status 0, echoing PortSelect",
		Run:  checkPortCounters},
	{ID: "pma.portcountersextended", Ref: "IBTA Vol 1 §16.1.4.11",
		What: "a PMA whose ClassPortInfo advertises PortCountersExtended answers it with status 0, echoing PortSelect",
		Run:  checkPortCountersExtended},
	{ID: "pma.bad-portselect", Ref: "IBTA Vol 1 §16.1.3.5, §13.4.7",
		What: "PortCounters of a PortSelect past the node's ports (and not 0xFF) is refused with status 0x001C",
		Run:  checkPMABadPortSelect},
	{ID: "pma.allportselect", Ref: "IBTA Vol 1 §16.1.3.5, §16.1.1",
		What: "a PMA whose ClassPortInfo advertises AllPortSelect answers PortCounters of PortSelect 0xFF with status 0, echoing 0xFF",
		Run:  checkPMAAllPortSelect},
	{ID: "pma.unsupported-attribute", Ref: "IBTA Vol 1 §13.4.7",
		What: "a PerfMgt Get of an attribute the class does not define is answered with status 0x000C",
		Run:  checkPMAUnsupportedAttr},
	{ID: "sma.sl2vl", Ref: "IBTA Vol 1 §14.2.5.8",
		What:    "a CA port with more than one data VL answers SLtoVLMappingTable with status 0, every SL mapped to a data VL or to VL15",
		Applies: isCA,
		Run:     checkSL2VL},
	{ID: "sma.sl2vl-switch", Ref: "IBTA Vol 1 §14.2.5.8, §13.4.7",
		What: "a switch answers SLtoVLMappingTable for (input, output) port pairs of its own with status 0, every SL mapped to VL 0-15; " +
			"a pair naming a port past NumPorts is refused with status 0x001C",
		Applies: (*Node).IsSwitch,
		Run:     checkSwitchSL2VL},
	{ID: "sma.vlarbitration", Ref: "IBTA Vol 1 §14.2.5.9, §13.4.7",
		What: "every port with VLArbitration tables (a CA's arrival port, a switch's ports) answers the low- and high-priority blocks 1 and 3 " +
			"with status 0, no entry of weight above 0 naming VL15; the reserved blocks 0 and 5 are refused with status 0x001C",
		Run: checkVLArbitration},
	{ID: "sma.mft-bad-position", Ref: "IBTA Vol 1 §14.2.5.12, §13.4.7",
		What:    "a switch with a multicast table answers MulticastForwardingTable block 0 at port-mask position 0, and refuses the position past its ports with status 0x001C",
		Applies: (*Node).IsSwitch,
		Run:     checkMFTBadPosition},
}

// isCA reports whether n is a channel adapter (or router): not a switch.
func isCA(n *Node) bool { return !n.IsSwitch() }

// expectStatus sends the SMP f to n and requires status want.
func expectStatus(ctx context.Context, c *Conn, n *Node, f wire.SMPFields, want wire.MADStatus) error {
	s, err := c.SMP(ctx, n, f)
	if err != nil {
		return err
	}
	if got := s.Status(); got != want {
		return violation("%s of %s (modifier %#x) answered with status %s, want %s", f.Method, f.AttrID, f.AttrMod, got, want)
	}
	return nil
}

// expectBlockPastCap requires a Get of the first block of attr past a
// table of entries entries, perBlock to a block, to be refused with
// status 0x001C.
func expectBlockPastCap(ctx context.Context, c *Conn, n *Node, attr wire.AttrID, entries, perBlock uint32) error {
	past := (entries + perBlock - 1) / perBlock
	return expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: attr, AttrMod: past}, wire.MADStatusInvalidField)
}

func checkNodeInfo(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrNodeInfo, 0)
	if err != nil {
		return err
	}
	f := wire.NodeInfo(b).Fields()
	switch {
	case f.BaseVersion != wire.MADBaseVersion || f.ClassVersion != wire.SMPClassVersion:
		return violation("base version %d, class version %d; want 1 and 1", f.BaseVersion, f.ClassVersion)
	case f.NodeType < wire.NodeTypeCA || f.NodeType > wire.NodeTypeRouter:
		return violation("node type %d", f.NodeType)
	case f.NumPorts == 0 || f.NumPorts == 255:
		return violation("NumPorts %d", f.NumPorts)
	case f.NodeGUID == 0 || f.PortGUID == 0:
		return violation("NodeGUID %s PortGUID %s", f.NodeGUID, f.PortGUID)
	case f.PartitionCap == 0:
		return violation("PartitionCap 0")
	case f.LocalPortNum > f.NumPorts || f.NodeType != wire.NodeTypeSwitch && f.LocalPortNum == 0:
		return violation("LocalPortNum %d of a %s with %d ports", f.LocalPortNum, f.NodeType, f.NumPorts)
	}
	return nil
}

// singleBit reports whether v has exactly one bit set.
func singleBit(v uint64) bool { return bits.OnesCount64(v) == 1 }

func checkPortInfo(ctx context.Context, c *Conn, n *Node) error {
	ports := []uint8{n.Arrival}
	if n.IsSwitch() {
		ports = ports[:0]
		for p := 0; p <= int(n.Info.NumPorts); p++ {
			ports = append(ports, uint8(p))
		}
	}
	for _, p := range ports {
		b, err := c.GetOK(ctx, n, wire.AttrPortInfo, uint32(p))
		if err != nil {
			return err
		}
		pi := wire.PortInfo(b)
		st, phys := pi.PortState(), pi.PortPhysicalState()
		switch {
		case pi.LocalPortNum() != n.Arrival:
			return violation("port %d: LocalPortNum %d, but the SMP arrived on port %d", p, pi.LocalPortNum(), n.Arrival)
		case st < wire.PortStateDown || st > wire.PortStateActive:
			return violation("port %d: PortState %d", p, st)
		case pi.LMC() > 7:
			return violation("port %d: LMC %d", p, pi.LMC())
		}
		if n.IsSwitch() && p == 0 {
			continue // the link components do not apply to switch port 0
		}
		if phys < wire.PhysStateSleep || phys > wire.PhysStatePhyTest {
			return violation("port %d: PortPhysicalState %d", p, phys)
		}
		if mc := pi.MTUCap(); mc < wire.MTU256 || mc > wire.MTU4096 {
			return violation("port %d: MTUCap %d", p, mc)
		}
		if st >= wire.PortStateInit && phys != wire.PhysStateLinkUp {
			return violation("port %d: PortState %s with PortPhysicalState %s (a port past Down has its link up)", p, st, phys)
		}
		if phys != wire.PhysStateLinkUp {
			continue
		}
		wa, ws := pi.LinkWidthActive(), pi.LinkWidthSupported()
		if !singleBit(uint64(wa)) || wa&ws == 0 {
			return violation("port %d: LinkWidthActive %#x, LinkWidthSupported %#x", p, uint8(wa), uint8(ws))
		}
		if ext := pi.LinkSpeedExtActive(); ext != 0 {
			if !singleBit(uint64(ext)) || ext&pi.LinkSpeedExtSupported() == 0 {
				return violation("port %d: LinkSpeedExtActive %#x, LinkSpeedExtSupported %#x", p, ext, pi.LinkSpeedExtSupported())
			}
		} else if sa, ss := pi.LinkSpeedActive(), pi.LinkSpeedSupported(); !singleBit(uint64(sa)) || sa&ss == 0 {
			return violation("port %d: LinkSpeedActive %#x, LinkSpeedSupported %#x", p, uint16(sa), uint16(ss))
		}
		if nm := pi.NeighborMTU(); nm < wire.MTU256 || nm > pi.MTUCap() {
			return violation("port %d: NeighborMTU %d above MTUCap %d", p, nm, pi.MTUCap())
		}
	}
	return nil
}

func checkBadClassVersion(ctx context.Context, c *Conn, n *Node) error {
	// Built as SMP builds it, then the class version changed.
	f := wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrNodeInfo}
	s, err := c.smpWith(ctx, n, f, func(req []byte) { req[2] = 2 })
	if err != nil {
		return err
	}
	if got := s.Status(); got != wire.MADStatusBadVersion {
		return violation("class version 2 answered with status %s, want %s", got, wire.MADStatusBadVersion)
	}
	return nil
}

func checkPKeyTable(ctx context.Context, c *Conn, n *Node) error {
	if _, err := c.GetOK(ctx, n, wire.AttrPKeyTable, 0); err != nil {
		return err
	}
	return expectBlockPastCap(ctx, c, n, wire.AttrPKeyTable, uint32(n.Info.PartitionCap), wire.PKeyTableBlockEntries)
}

func checkGUIDInfo(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrGUIDInfo, 0)
	if err != nil {
		return err
	}
	if g := wire.GUIDInfo(b).GUID(0); g != n.Info.PortGUID {
		return violation("GUIDInfo index 0 is %s, the PortGUID %s", g, n.Info.PortGUID)
	}
	pb, err := c.GetOK(ctx, n, wire.AttrPortInfo, uint32(n.Arrival))
	if err != nil {
		return err
	}
	gcap := uint32(wire.PortInfo(pb).GUIDCap())
	if gcap == 0 {
		return violation("GUIDCap 0, yet GUIDInfo block 0 was answered")
	}
	return expectBlockPastCap(ctx, c, n, wire.AttrGUIDInfo, gcap, wire.GUIDInfoBlockEntries)
}

func checkSwitchInfo(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrSwitchInfo, 0)
	if err != nil {
		return err
	}
	si := wire.SwitchInfo(b)
	switch {
	case si.LinearFDBCap() > 0 && si.LinearFDBTop() >= si.LinearFDBCap():
		return violation("LinearFDBTop %#x not below LinearFDBCap %#x", si.LinearFDBTop(), si.LinearFDBCap())
	case si.RandomFDBCap() > 0 && si.DefaultPort() > n.Info.NumPorts:
		return violation("DefaultPort %d of %d ports", si.DefaultPort(), n.Info.NumPorts)
	case si.MulticastFDBTop() != 0 && si.MulticastFDBTop() != 0xBFFF &&
		(si.MulticastFDBTop() < 0xC000 || uint32(si.MulticastFDBTop()) >= 0xC000+uint32(si.MulticastFDBCap())):
		return violation("MulticastFDBTop %#x outside the table of %d entries", si.MulticastFDBTop(), si.MulticastFDBCap())
	}
	return nil
}

func checkLFTBadBlock(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrSwitchInfo, 0)
	if err != nil {
		return err
	}
	lfdbCap := uint32(wire.SwitchInfo(b).LinearFDBCap())
	if lfdbCap == 0 {
		return skip("no linear forwarding table")
	}
	return expectBlockPastCap(ctx, c, n, wire.AttrLinearForwardingTable, lfdbCap, wire.LinearForwardingTableBlockEntries)
}

func checkReturnPath(ctx context.Context, c *Conn, n *Node) error {
	s, err := c.Get(ctx, n, wire.AttrNodeInfo, 0)
	if err != nil {
		return err
	}
	hops := len(n.Path)
	if got := s.ReturnPathAt(hops); got != n.Arrival {
		return violation("ReturnPath[%d] %d, the node's LocalPortNum %d", hops, got, n.Arrival)
	}
	for i := 1; i < hops; i++ {
		if s.ReturnPathAt(i) == 0 {
			return violation("ReturnPath[%d] is 0 on a %d-hop route", i, hops)
		}
	}
	return nil
}

// needLID skips a LID-routed check of a node without an active LID.
func needLID(n *Node) error {
	if n.LID == 0 || n.LID >= wire.LIDMulticastBase || !n.Active {
		return skip("the node's port has no active LID (bring the subnet up first)")
	}
	return nil
}

func checkLIDRouted(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	req := make([]byte, wire.MADSize)
	wire.SMP(req).Encode(&wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrNodeInfo})
	m, err := c.LIDRouted(ctx, Address{LID: n.LID}, req)
	if err != nil {
		return err
	}
	if m.Status() != wire.MADStatusOK {
		return violation("LID-routed NodeInfo to LID %d: status %s", n.LID, m.Status())
	}
	if g := wire.NodeInfo(wire.SMP(m).Data()).Fields().NodeGUID; g != n.Info.NodeGUID {
		return violation("LID %d answers as node %s, the directed route reaches %s", n.LID, g, n.Info.NodeGUID)
	}
	return nil
}

func checkSL2VL(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrPortInfo, uint32(n.Arrival))
	if err != nil {
		return err
	}
	if vlcap := wire.PortInfo(b).VLCap(); vlcap < 2 {
		return skip("VLCap %d: one data VL, the table is optional", vlcap)
	}
	t, err := c.GetOK(ctx, n, wire.AttrSLtoVLMappingTable, 0)
	if err != nil {
		return err
	}
	for sl := range 16 {
		if vl := wire.SLtoVLMappingTable(t).VL(sl); vl > 15 {
			return violation("SL %d maps to VL %d", sl, vl)
		}
	}
	return nil
}

func checkDRDownPort(ctx context.Context, c *Conn, n *Node) error {
	down := 0
	for p := 1; p <= int(n.Info.NumPorts) && down == 0; p++ {
		b, err := c.GetOK(ctx, n, wire.AttrPortInfo, uint32(p))
		if err != nil {
			return err
		}
		if wire.PortInfo(b).PortPhysicalState() != wire.PhysStateLinkUp {
			down = p
		}
	}
	if down == 0 {
		return skip("every port has its link up")
	}
	if len(n.Path)+1 > wire.SMPMaxHopCount {
		return skip("the route is as long as a directed route can be")
	}
	s, err := c.Get(ctx, n.child(uint8(down)), wire.AttrNodeInfo, 0)
	switch {
	case err == nil:
		return violation("a Get out of port %d (link down) was answered (status %s, NodeGUID %s)", down, s.Status(),
			wire.NodeInfo(s.Data()).Fields().NodeGUID)
	case errors.Is(err, ErrNoResponse):
		return nil
	}
	return err
}

// checkSwitchSL2VL reads the SLtoVL tables of a switch: bits 15-8 of the
// modifier are the input port, bits 7-0 the output port.
func checkSwitchSL2VL(ctx context.Context, c *Conn, n *Node) error {
	np := uint32(n.Info.NumPorts)
	in := uint32(n.Arrival)
	for _, out := range []uint32{1, np} {
		t, err := c.GetOK(ctx, n, wire.AttrSLtoVLMappingTable, in<<8|out)
		if err != nil {
			return err
		}
		for sl := range wire.NumSLs {
			if vl := wire.SLtoVLMappingTable(t).VL(sl); vl > 15 {
				return violation("input port %d, output port %d: SL %d maps to VL %d", in, out, sl, vl)
			}
		}
	}
	for _, mod := range []uint32{in<<8 | (np + 1), (np+1)<<8 | 1} {
		if err := expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrSLtoVLMappingTable, AttrMod: mod},
			wire.MADStatusInvalidField); err != nil {
			return err
		}
	}
	return nil
}

// checkVLArbitration reads the VLArbitration tables of n's ports: bits
// 31-16 of the modifier are the block, bits 15-0 the port.
func checkVLArbitration(ctx context.Context, c *Conn, n *Node) error {
	ports := []uint32{uint32(n.Arrival)}
	if n.IsSwitch() {
		ports = ports[:0]
		for p := uint32(1); p <= uint32(n.Info.NumPorts); p++ {
			ports = append(ports, p)
		}
	}
	tables := 0
	for _, p := range ports {
		b, err := c.GetOK(ctx, n, wire.AttrPortInfo, p)
		if err != nil {
			return err
		}
		pi := wire.PortInfo(b)
		blocks := []struct {
			block uint32
			cap   uint8
		}{{wire.VLArbLowBlock0, pi.VLArbitrationLowCap()}, {wire.VLArbHighBlock0, pi.VLArbitrationHighCap()}}
		has := false
		for _, bl := range blocks {
			if bl.cap == 0 {
				continue
			}
			has = true
			t, err := c.GetOK(ctx, n, wire.AttrVLArbitrationTable, bl.block<<16|p)
			if err != nil {
				return err
			}
			for i := range min(int(bl.cap), wire.VLArbitrationTableBlockEntries) {
				if e := wire.VLArbitrationTable(t).Entry(i); e.Weight > 0 && e.VL == 15 {
					return violation("port %d, block %d: entry %d names VL15 with weight %d", p, bl.block, i, e.Weight)
				}
			}
		}
		if !has {
			continue
		}
		tables++
		for _, bad := range []uint32{0, wire.VLArbHighBlock1 + 1} {
			if err := expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrVLArbitrationTable, AttrMod: bad<<16 | p},
				wire.MADStatusInvalidField); err != nil {
				return err
			}
		}
	}
	if tables == 0 {
		return skip("no port has VLArbitration tables (both capabilities 0)")
	}
	return nil
}

// checkMFTBadPosition reads a switch's MulticastForwardingTable: bits
// 31-28 of the modifier are the port-mask position (16 ports each), bits
// 8-0 the block of 32 MLIDs.
func checkMFTBadPosition(ctx context.Context, c *Conn, n *Node) error {
	b, err := c.GetOK(ctx, n, wire.AttrSwitchInfo, 0)
	if err != nil {
		return err
	}
	if wire.SwitchInfo(b).MulticastFDBCap() == 0 {
		return skip("no multicast forwarding table")
	}
	if _, err := c.GetOK(ctx, n, wire.AttrMulticastForwardingTable, 0); err != nil {
		return err
	}
	past := uint32(n.Info.NumPorts)/16 + 1 // ports 0-15 are position 0
	if past > 15 {
		return skip("%d ports fill every port-mask position", n.Info.NumPorts)
	}
	return expectStatus(ctx, c, n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrMulticastForwardingTable, AttrMod: past << 28},
		wire.MADStatusInvalidField)
}

func checkSetGetOnly(ctx context.Context, c *Conn, n *Node) error {
	for _, attr := range []wire.AttrID{wire.AttrNodeInfo, wire.AttrNodeDescription} {
		cur, err := c.GetOK(ctx, n, attr, 0)
		if err != nil {
			return err
		}
		f := wire.SMPFields{Method: wire.MethodSet, AttrID: attr}
		copy(f.Data[:], cur)
		if err := expectStatus(ctx, c, n, f, wire.MADStatusUnsupportedMethodAttr); err != nil {
			return err
		}
	}
	return nil
}
