package sm

import (
	"encoding/binary"
	"sort"

	"github.com/ibemu/ibemu/emu/wire"
)

// The SA records of this file describe what the SM itself configured or
// knows (IBTA Vol 1 §15.2.5): the SMs of the subnet, the P_Key tables,
// SL-to-VL and VL arbitration tables the SM programmed, the GUID tables of
// the end ports, the multicast forwarding tables of the groups, and the
// InformInfo subscriptions. They answer SubnAdmGet and SubnAdmGetTable
// only (anything else is 0x000C, as OpenSM's osm_sa_*_record.c answer). A
// LID component selects the end port owning that LID (any LID of an LMC
// range); the record carries the port's base LID.

// newRecordLayouts gives the components of the records this file serves,
// in component-mask bit order (IBTA Vol 1 §15.2.5; OpenSM's
// IB_*_COMPMASK_* of ib_types.h).
var newRecordLayouts = map[wire.AttrID][]field{
	// LID, reserved, then SMInfo: GUID, SM_Key, ActCount, Priority, SMState.
	wire.AttrSMInfoRecord: {{0, 16}, {16, 16}, {32, 64}, {96, 64}, {160, 32}, {192, 4}, {196, 4}},
	// LID, BlockNum, PortNum, reserved.
	wire.AttrPKeyTableRecord: {{0, 16}, {16, 16}, {32, 8}, {40, 24}},
	// LID, InputPortNum, OutputPortNum, reserved.
	wire.AttrSLtoVLMappingTableRecord: {{0, 16}, {16, 8}, {24, 8}, {32, 32}},
	// LID, OutputPortNum, BlockNum, reserved.
	wire.AttrVLArbitrationTableRecord: {{0, 16}, {16, 8}, {24, 8}, {32, 32}},
	// LID, Position, reserved, BlockNum, reserved.
	wire.AttrMulticastForwardingTableRecord: {{0, 16}, {16, 4}, {20, 3}, {23, 9}, {32, 32}},
	// LID, BlockNum, two reserved, GUID 0-7.
	wire.AttrGUIDInfoRecord: {{0, 16}, {16, 8}, {24, 8}, {32, 32}, {64, 64}, {128, 64}, {192, 64}, {256, 64},
		{320, 64}, {384, 64}, {448, 64}, {512, 64}},
	// SubscriberGID, Enum, reserved, then InformInfo (at byte 24): GID,
	// LIDRangeBegin, LIDRangeEnd, reserved, IsGeneric, Subscribe, Type,
	// TrapNumber, QPN, reserved, RespTimeValue, reserved, ProducerType.
	wire.AttrInformInfoRecord: {{0, 128}, {128, 16}, {144, 48}, {192, 128}, {320, 16}, {336, 16}, {352, 16},
		{368, 8}, {376, 8}, {384, 16}, {400, 16}, {416, 24}, {440, 3}, {443, 5}, {448, 8}, {456, 24}},
}

func init() {
	for a, l := range newRecordLayouts {
		componentLayouts[a] = l
	}
}

// maskInRange reports whether mask names only components attr has.
func maskInRange(attr wire.AttrID, mask wire.ComponentMask) bool {
	n := len(componentLayouts[attr])
	return n >= 64 || mask>>uint(n) == 0
}

// tableAttr reports whether attr is one of the records tables serves.
func tableAttr(attr wire.AttrID) bool {
	_, ok := newRecordLayouts[attr]
	return ok
}

// tables answers the records of this file: method and component mask are
// checked, then the matching records are built and answered.
func (s *SA) tables(sn *Subnet, q *saReq) {
	if !s.readOnly(q) {
		return
	}
	if !maskInRange(q.attr, q.mask) {
		// A component the record does not have (IBTA Vol 1 §15.2.1.1:
		// each mask bit names a component of the record).
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	var recs [][]byte
	switch q.attr {
	case wire.AttrSMInfoRecord:
		recs = s.smInfoRecords(sn, q)
	case wire.AttrPKeyTableRecord:
		if wire.SAHeader(q.r.MAD[wire.SAHeaderOffset:wire.SADataOffset]).SMKey() != s.m.cfg.SMKey {
			// P_KeyTableRecords go to trusted requesters only (IBTA Vol 1
			// §15.2.5.11; OpenSM compares SM_Key with its sa_key).
			s.m.log.Info("sa: p_keytablerecord request from an untrusted requester refused", "from", q.r.Addr.String())
			_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
			return
		}
		recs = s.pkeyTableRecords(sn, q)
	case wire.AttrSLtoVLMappingTableRecord:
		recs = s.slToVLRecords(sn, q)
	case wire.AttrVLArbitrationTableRecord:
		recs = s.vlArbRecords(sn, q)
	case wire.AttrMulticastForwardingTableRecord:
		recs = s.mftRecords(sn, q)
	case wire.AttrGUIDInfoRecord:
		recs = s.guidInfoRecords(sn, q)
	case wire.AttrInformInfoRecord:
		recs = s.informInfoRecords(sn, q)
	}
	s.answer(q, recs)
}

// lidPorts returns the end ports a request names by its LID component
// (nil, false when the LID is not in use), or every end port when the
// mask has no LID component.
func lidPorts(sn *Subnet, q *saReq, lidBit wire.ComponentMask) ([]*Port, bool) {
	if q.mask&lidBit == 0 {
		return sn.EndPorts(), true
	}
	p := sn.EndPortOf(wire.LID(binary.BigEndian.Uint16(q.rec)))
	if p == nil {
		return nil, false
	}
	return []*Port{p}, true
}

// keepMatch appends rec to out when it matches q on every component but the
// ones in skip.
func keepMatch(out [][]byte, q *saReq, skip wire.ComponentMask, rec []byte) [][]byte {
	if matches(q.attr, q.mask&^skip, q.rec, rec) {
		out = append(out, rec)
	}
	return out
}

// nodePorts returns the ports of an end port's node that carry tables:
// the CA port itself, or every port of a switch.
func nodePorts(ep *Port) []*Port {
	if !ep.Node.IsSwitch() {
		return []*Port{ep}
	}
	var out []*Port
	for _, p := range ep.Node.Ports {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// smInfoRecords answers SMInfoRecord (IBTA Vol 1 §15.2.5.10): this SM and
// the other SMs its last sweep found, with their SMInfo as last read (the
// SM_Key is never shown).
func (s *SA) smInfoRecords(sn *Subnet, q *saReq) [][]byte {
	type smRec struct {
		port *Port
		info wire.SMInfoFields
	}
	local := wire.SMInfo(s.m.smInfo(false)).Fields()
	sms := []smRec{{sn.Local, local}}
	s.m.mu.Lock()
	for _, o := range s.m.others {
		if o.info.GUID != local.GUID {
			sms = append(sms, smRec{o.port, o.info})
		}
	}
	s.m.mu.Unlock()
	var want *Port
	if q.mask&wire.SMInfoRecordCompLID != 0 {
		if want = sn.EndPortOf(wire.SMInfoRecord(q.rec).LID()); want == nil {
			return nil
		}
	}
	var out [][]byte
	for _, sm := range sms {
		if want != nil && endPortOf(sm.port) != want {
			continue
		}
		info := sm.info
		info.SMKey = 0
		rec := make([]byte, wire.SMInfoRecordSize)
		wire.SMInfoRecord(rec).Encode(&wire.SMInfoRecordFields{LID: endLID(sm.port), SMInfo: info})
		out = keepMatch(out, q, wire.SMInfoRecordCompLID, rec)
	}
	return out
}

// endPortOf is the end port p belongs to: itself for a CA port, port 0
// of a switch.
func endPortOf(p *Port) *Port {
	if p.Node.IsSwitch() {
		return p.Node.Ports[0]
	}
	return p
}

// pkeyCap is how many P_Key entries port p has: NodeInfo.PartitionCap for
// a CA port and switch port 0, SwitchInfo.PartitionEnforcementCap for the
// external ports of a switch (IBTA Vol 1 §14.2.5.7).
func pkeyCap(p *Port) int {
	if p.Node.IsSwitch() && p.Num != 0 {
		return int(p.Node.Switch.PartitionEnforcementCap)
	}
	return int(p.Node.Info.PartitionCap)
}

// pkeyTableRecords answers P_KeyTableRecord (IBTA Vol 1 §15.2.5.11): the
// P_Key tables the SM programmed from the partition configuration (CA
// ports, and the switch ports facing them when the switch enforces
// partitions), block by block. A BlockNum component asks for one block,
// which exists up to the port's P_Key capacity; entries the SM did not
// write show as 0. PortNum selects a switch port; a CA record carries its
// own port.
func (s *SA) pkeyTableRecords(sn *Subnet, q *saReq) [][]byte {
	eps, ok := lidPorts(sn, q, wire.PKeyTableRecordCompLID)
	if !ok {
		return nil
	}
	req := wire.PKeyTableRecord(q.rec)
	var out [][]byte
	for _, ep := range eps {
		for _, p := range nodePorts(ep) {
			if p.PKeys == nil {
				continue
			}
			if p.Node.IsSwitch() && q.mask&wire.PKeyTableRecordCompPortNum != 0 && uint8(p.Num) != req.PortNum() {
				continue
			}
			blocks := (len(p.PKeys) + wire.PKeyTableBlockEntries - 1) / wire.PKeyTableBlockEntries
			lo, hi := 0, blocks
			if q.mask&wire.PKeyTableRecordCompBlockNum != 0 {
				b := int(req.BlockNum())
				capBlocks := (pkeyCap(p) + wire.PKeyTableBlockEntries - 1) / wire.PKeyTableBlockEntries
				if b >= max(capBlocks, blocks) {
					continue
				}
				lo, hi = b, b+1
			}
			for b := lo; b < hi; b++ {
				var f wire.PKeyTableRecordFields
				f.LID, f.BlockNum, f.PortNum = endLID(p), uint16(b), uint8(p.Num)
				for i := range wire.PKeyTableBlockEntries {
					if k := b*wire.PKeyTableBlockEntries + i; k < len(p.PKeys) {
						f.PKeyTable.PKeys[i] = p.PKeys[k]
					}
				}
				rec := make([]byte, wire.PKeyTableRecordSize)
				wire.PKeyTableRecord(rec).Encode(&f)
				out = keepMatch(out, q, wire.PKeyTableRecordCompLID|wire.PKeyTableRecordCompPortNum|wire.PKeyTableRecordCompBlockNum, rec)
			}
		}
	}
	return out
}

// qosPort reports whether p is a CA port with a link and a LID, whose
// SL-to-VL and VL arbitration tables the SA knows, and over how many data
// VLs the power-on tables spread the SLs.
func qosPort(p *Port) (vls int, ok bool) {
	if p.Node.IsSwitch() || p.Num == 0 || !p.LinkUp() || p.LID == 0 {
		return 0, false
	}
	vls = wire.DataVLs(p.Info.OperationalVLs)
	if vls <= 0 {
		vls = 1
	}
	return vls, true
}

// qosOps is the OperationalVLs code the QoS tables of p are masked to
// (programQoS).
func qosOps(p *Port) uint8 {
	if p.Info.OperationalVLs != 0 {
		return p.Info.OperationalVLs
	}
	return p.Info.VLCap
}

// portSLtoVL is the SL-to-VL table of a CA port or a switch output port:
// with Config.QoS the one programQoS writes (OpenSM's defaults masked to
// the operational VLs), else the power-on table the SM leaves, SL i to VL
// i mod the data VLs.
func (s *SA) portSLtoVL(p *Port, vls int) wire.SLtoVLMappingTableFields {
	var f wire.SLtoVLMappingTableFields
	if s.m.cfg.QoS {
		mask := vlMask(qosOps(p))
		for sl, vl := range qosSL2VL {
			if vl != 15 {
				vl &= mask
			}
			f.VL[sl] = vl
		}
		return f
	}
	for sl := range f.VL {
		f.VL[sl] = uint8(sl % vls)
	}
	return f
}

// portVLArb is block (1-4) of p's VL arbitration table: with Config.QoS
// OpenSM's defaults as programQoS writes them, else the power-on table
// (every data VL weight 1 in the low-priority table up to its capacity,
// the high-priority table empty).
func (s *SA) portVLArb(p *Port, vls int, block uint8) wire.VLArbitrationTableFields {
	var f wire.VLArbitrationTableFields
	const blk = wire.VLArbitrationTableBlockEntries
	low := block == wire.VLArbLowBlock0 || block == wire.VLArbLowBlock1
	first := 0
	if block == wire.VLArbLowBlock1 || block == wire.VLArbHighBlock1 {
		first = blk
	}
	capN := int(p.Info.VLArbitrationHighCap)
	if low {
		capN = int(p.Info.VLArbitrationLowCap)
	}
	n := min(capN-first, blk)
	if s.m.cfg.QoS {
		tbl, mask := qosVLArbHigh, vlMask(qosOps(p))
		if low {
			tbl = qosVLArbLow
		}
		for i := range max(n, 0) {
			if e := first + i; e < len(tbl) {
				f.Entries[i] = wire.VLArbEntry{VL: tbl[e].VL & mask, Weight: tbl[e].Weight}
			}
		}
		return f
	}
	return powerOnVLArb(p, vls, block)
}

// powerOnVLArb is block (1-4) of the VL arbitration table p powers up
// with and the SM leaves without Config.QoS: every data VL weight 1 in the
// low-priority table up to its capacity, the high-priority table empty.
func powerOnVLArb(p *Port, vls int, block uint8) wire.VLArbitrationTableFields {
	var f wire.VLArbitrationTableFields
	if block == wire.VLArbLowBlock0 {
		n := min(int(p.Info.VLArbitrationLowCap), wire.VLArbitrationTableBlockEntries)
		for i := range max(n, 0) {
			f.Entries[i] = wire.VLArbEntry{VL: uint8(i % vls), Weight: 1}
		}
	}
	return f
}

// slToVLRecords answers SLtoVLMappingTableRecord (IBTA Vol 1 §15.2.5.4)
// as OpenSM does: one record per CA port (input and output port 0 in the
// record, whatever port numbers the request names) and, per switch, one
// for every (input port, output port) pair of its ports, port 0 included.
// Each is the table the port holds: with Config.QoS the one programQoS
// wrote, else the power-on table the SM leaves (switchSLtoVL).
func (s *SA) slToVLRecords(sn *Subnet, q *saReq) [][]byte {
	eps, ok := lidPorts(sn, q, wire.SLtoVLMappingTableRecordCompLID)
	if !ok {
		return nil
	}
	var out [][]byte
	for _, ep := range eps {
		if ep.Node.IsSwitch() {
			out = s.switchSLtoVL(ep.Node, q, out)
			continue
		}
		vls, ok := qosPort(ep)
		if !ok {
			continue
		}
		rec := make([]byte, wire.SLtoVLMappingTableRecordSize)
		wire.SLtoVLMappingTableRecord(rec).Encode(&wire.SLtoVLMappingTableRecordFields{LID: ep.LID, SLtoVLMappingTable: s.portSLtoVL(ep, vls)})
		// CAs: the port components are reserved (OpenSM ignores them).
		out = keepMatch(out, q, wire.SLtoVLMappingTableRecordCompLID|wire.SLtoVLMappingTableRecordCompInputPortNum|
			wire.SLtoVLMappingTableRecordCompOutputPortNum, rec)
	}
	return out
}

// switchSLtoVL appends the SL-to-VL records of switch n: one per (input,
// output) pair of the ports the SM read, as OpenSM answers for every port
// of a switch it discovered. The table of an output port is the one
// programQoS wrote with Config.QoS (the same for every input port, as
// programQoS writes it) and otherwise the power-on one, SL i to VL i mod
// the output port's data VLs (switch port 0 included: it maps for the
// switch's own management traffic).
func (s *SA) switchSLtoVL(n *Node, q *saReq, out [][]byte) [][]byte {
	p0 := n.Ports[0]
	if p0 == nil || !p0.Read {
		return out
	}
	qos := s.m.cfg.QoS && p0.Info.CapabilityMask&wire.PortCapIsSLMappingSupported != 0
	for _, o := range n.Ports {
		if o == nil || !o.Read {
			continue
		}
		var tbl wire.SLtoVLMappingTableFields
		switch {
		case qos && o.Num != 0 && o.LinkUp():
			tbl = s.portSLtoVL(o, 1)
		default:
			vls := wire.DataVLs(o.Info.OperationalVLs)
			if vls <= 0 {
				vls = 1
			}
			for sl := range tbl.VL {
				tbl.VL[sl] = uint8(sl % vls)
			}
		}
		for _, in := range n.Ports {
			if in == nil || !in.Read {
				continue
			}
			rec := make([]byte, wire.SLtoVLMappingTableRecordSize)
			wire.SLtoVLMappingTableRecord(rec).Encode(&wire.SLtoVLMappingTableRecordFields{LID: p0.LID,
				InputPortNum: uint8(in.Num), OutputPortNum: uint8(o.Num), SLtoVLMappingTable: tbl})
			out = keepMatch(out, q, wire.SLtoVLMappingTableRecordCompLID, rec)
		}
	}
	return out
}

// vlArbRecords answers VLArbitrationTableRecord (IBTA Vol 1 §15.2.5.9) as
// OpenSM does: all four blocks (low 1-2, high 3-4) of the VL arbitration
// table of each CA port (its own port, whatever port the request names)
// and of every port of each switch, port 0 included. A block past the
// port's VLArbitrationLowCap or HighCap has no entries and reads as zeros,
// as in OpenSM's tables. The content is what the port holds: with
// Config.QoS what programQoS wrote, else the power-on table.
func (s *SA) vlArbRecords(sn *Subnet, q *saReq) [][]byte {
	eps, ok := lidPorts(sn, q, wire.VLArbitrationTableRecordCompLID)
	if !ok {
		return nil
	}
	var out [][]byte
	add := func(p *Port, lid wire.LID, skip wire.ComponentMask, table func(block uint8) wire.VLArbitrationTableFields) {
		for b := uint8(wire.VLArbLowBlock0); b <= wire.VLArbHighBlock1; b++ {
			rec := make([]byte, wire.VLArbitrationTableRecordSize)
			wire.VLArbitrationTableRecord(rec).Encode(&wire.VLArbitrationTableRecordFields{LID: lid, OutputPortNum: uint8(p.Num),
				BlockNum: b, VLArbitrationTable: table(b)})
			out = keepMatch(out, q, skip, rec)
		}
	}
	for _, ep := range eps {
		if ep.Node.IsSwitch() {
			for _, o := range ep.Node.Ports {
				if o == nil || !o.Read {
					continue
				}
				add(o, ep.LID, wire.VLArbitrationTableRecordCompLID, func(b uint8) wire.VLArbitrationTableFields {
					if s.m.cfg.QoS && o.Num != 0 && o.LinkUp() {
						return s.portVLArb(o, 1, b) // programQoS masks its tables itself
					}
					return powerOnVLArb(o, max(wire.DataVLs(o.Info.OperationalVLs), 1), b)
				})
			}
			continue
		}
		if vls, ok := qosPort(ep); ok {
			// A CA record is its own port's (OpenSM forces the port).
			add(ep, ep.LID, wire.VLArbitrationTableRecordCompLID|wire.VLArbitrationTableRecordCompOutputPortNum,
				func(b uint8) wire.VLArbitrationTableFields { return s.portVLArb(ep, vls, b) })
		}
	}
	return out
}

// guidInfoRecords answers GUIDInfoRecord (IBTA Vol 1 §15.2.5.18): every
// block of the GUID table of each end port, up to its GUIDCap. Entry 0 of
// block 0 is the port GUID; the SM assigns no alias GUIDs, so the other
// entries are 0.
func (s *SA) guidInfoRecords(sn *Subnet, q *saReq) [][]byte {
	eps, ok := lidPorts(sn, q, wire.GUIDInfoRecordCompLID)
	if !ok {
		return nil
	}
	req := wire.GUIDInfoRecord(q.rec)
	var out [][]byte
	for _, p := range eps {
		if !p.Read || p.Info.GUIDCap == 0 {
			continue
		}
		blocks := (int(p.Info.GUIDCap) + wire.GUIDInfoBlockEntries - 1) / wire.GUIDInfoBlockEntries
		lo, hi := 0, blocks
		if q.mask&wire.GUIDInfoRecordCompBlockNum != 0 {
			if int(req.BlockNum()) >= blocks {
				continue
			}
			lo, hi = int(req.BlockNum()), int(req.BlockNum())+1
		}
		for b := lo; b < hi; b++ {
			var f wire.GUIDInfoRecordFields
			f.LID, f.BlockNum = p.LID, uint8(b)
			if b == 0 {
				f.GUIDInfo.GUIDs[0] = p.GUID
			}
			rec := make([]byte, wire.GUIDInfoRecordSize)
			wire.GUIDInfoRecord(rec).Encode(&f)
			out = keepMatch(out, q, wire.GUIDInfoRecordCompLID, rec)
		}
	}
	return out
}

// mftRecords answers MulticastForwardingTableRecord (IBTA Vol 1
// §15.2.5.8): for every switch with a multicast table that forwards some
// group, the blocks from 0 to the highest in use and every position of
// its ports, with the port masks the SM computes for the groups as they
// are now (what it programs, OpenSM's mcast_tbl).
func (s *SA) mftRecords(sn *Subnet, q *saReq) [][]byte {
	eps, ok := lidPorts(sn, q, wire.MulticastForwardingTableRecordCompLID)
	if !ok {
		return nil
	}
	// masks[switch index][mlid offset] = port masks by position.
	masks := s.groupMasks(sn)
	req := wire.MulticastForwardingTableRecord(q.rec)
	var out [][]byte
	for _, ep := range eps {
		n := ep.Node
		if !n.IsSwitch() || n.Switch.MulticastFDBCap == 0 {
			continue
		}
		sw := masks[n.swIdx]
		if len(sw) == 0 {
			continue
		}
		maxBlock := 0
		for off := range sw {
			maxBlock = max(maxBlock, off/wire.MulticastForwardingTableBlockEntries)
		}
		maxPos := (len(n.Ports) - 1) / wire.MulticastForwardingTablePortsPerMask
		bLo, bHi := 0, maxBlock
		if q.mask&wire.MulticastForwardingTableRecordCompBlockNum != 0 {
			if bLo = int(req.BlockNum()); bLo > maxBlock {
				continue
			}
			bHi = bLo
		}
		pLo, pHi := 0, maxPos
		if q.mask&wire.MulticastForwardingTableRecordCompPosition != 0 {
			if pLo = int(req.Position()); pLo > maxPos {
				continue
			}
			pHi = pLo
		}
		for b := bLo; b <= bHi; b++ {
			for pos := pLo; pos <= pHi; pos++ {
				var f wire.MulticastForwardingTableRecordFields
				f.LID, f.Position, f.BlockNum = n.Ports[0].LID, uint8(pos), uint16(b)
				for i := range wire.MulticastForwardingTableBlockEntries {
					if mk := sw[b*wire.MulticastForwardingTableBlockEntries+i]; pos < len(mk) {
						f.MulticastForwardingTable.PortMasks[i] = mk[pos]
					}
				}
				rec := make([]byte, wire.MulticastForwardingTableRecordSize)
				wire.MulticastForwardingTableRecord(rec).Encode(&f)
				out = keepMatch(out, q, wire.MulticastForwardingTableRecordCompLID, rec)
			}
		}
	}
	return out
}

// groupMasks computes the multicast port masks of every group on every
// switch: [switch index][MLID - 0xC000] = masks by position.
func (s *SA) groupMasks(sn *Subnet) map[int]map[int][]uint16 {
	type grp struct {
		mlid    wire.LID
		members map[wire.GUID]uint8
	}
	s.m.mu.Lock()
	gs := make([]grp, 0, len(s.m.mcast.groups))
	for _, g := range s.m.mcast.groups {
		mem := make(map[wire.GUID]uint8, len(g.Members))
		for k, v := range g.Members {
			mem[k] = v
		}
		gs = append(gs, grp{g.MLID, mem})
	}
	s.m.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].mlid < gs[j].mlid })
	out := map[int]map[int][]uint16{}
	if len(gs) == 0 || len(sn.Switches) == 0 {
		return out
	}
	gr := buildGraph(sn)
	for _, g := range gs {
		if !g.mlid.IsMulticast() {
			continue
		}
		for sw, mk := range mcastTree(sn, gr, g.members) {
			nonzero := false
			for _, v := range mk {
				nonzero = nonzero || v != 0
			}
			if !nonzero {
				continue
			}
			if out[int(sw)] == nil {
				out[int(sw)] = map[int][]uint16{}
			}
			out[int(sw)][int(g.mlid-wire.LIDMulticastBase)] = mk
		}
	}
	return out
}

// informInfoRecords answers InformInfoRecord (IBTA Vol 1 §15.2.5.12): one
// record per subscription, Enum 0 (as OpenSM), the QPN shown only to a
// trusted requester (C15-0.2-1.16: SM_Key non-zero and the SM's).
func (s *SA) informInfoRecords(sn *Subnet, q *saReq) [][]byte {
	smKey := wire.SAHeader(q.r.MAD[wire.SAHeaderOffset:wire.SADataOffset]).SMKey()
	trusted := smKey != 0 && smKey == s.m.cfg.SMKey
	s.mu.Lock()
	subs := make([]subscription, len(s.subs))
	for i, sub := range s.subs {
		subs[i] = *sub
	}
	s.mu.Unlock()
	var out [][]byte
	for _, sub := range subs {
		info := sub.info
		if !trusted {
			info.QPN = 0
		}
		rec := make([]byte, wire.InformInfoRecordSize)
		wire.InformInfoRecord(rec).Encode(&wire.InformInfoRecordFields{SubscriberGID: sub.gid, InformInfo: info})
		out = keepMatch(out, q, 0, rec)
	}
	return out
}
