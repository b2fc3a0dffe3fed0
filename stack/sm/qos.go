package sm

import (
	"context"

	"github.com/ibemu/ibemu/emu/wire"
)

// QoS defaults of OpenSM (osm_base.h, OSM_DEFAULT_QOS_*), which the SM
// programs when Config.QoS is set (OpenSM's "qos TRUE", opensm -Q): the
// high-priority table gives VL0 weight 4, the low-priority table gives
// VL1-VL14 weight 4 each, SL i maps to VL i except SL15 to VL7, and
// VLHighLimit is 0. Each VL is masked to the port's operational VLs
// (VL15 in an SL-to-VL table stays 15).
var (
	qosVLArbHigh = []wire.VLArbEntry{{VL: 0, Weight: 4}, {VL: 1}, {VL: 2}, {VL: 3}, {VL: 4}, {VL: 5}, {VL: 6},
		{VL: 7}, {VL: 8}, {VL: 9}, {VL: 10}, {VL: 11}, {VL: 12}, {VL: 13}, {VL: 14}}
	qosVLArbLow = []wire.VLArbEntry{{VL: 0}, {VL: 1, Weight: 4}, {VL: 2, Weight: 4}, {VL: 3, Weight: 4},
		{VL: 4, Weight: 4}, {VL: 5, Weight: 4}, {VL: 6, Weight: 4}, {VL: 7, Weight: 4}, {VL: 8, Weight: 4},
		{VL: 9, Weight: 4}, {VL: 10, Weight: 4}, {VL: 11, Weight: 4}, {VL: 12, Weight: 4}, {VL: 13, Weight: 4},
		{VL: 14, Weight: 4}}
	qosSL2VL = [wire.NumSLs]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 7}
)

// qosVLHighLimit is OpenSM's default qos_high_limit.
const qosVLHighLimit = 0

// vlMask is the mask OpenSM applies to a VL for a port whose
// OperationalVLs code is ops: (1 << (ops-1)) - 1.
func vlMask(ops uint8) uint8 {
	if ops == 0 {
		return 0
	}
	return uint8(1<<(ops-1)) - 1
}

// qosKey identifies one port's QoS tables: a CA port, or an output port of
// a switch (its VLArbitration table and the SL-to-VL tables of every
// input port toward it).
type qosKey = portKey

// programQoS writes SL-to-VL mapping and VL arbitration tables (IBTA Vol 1
// §14.2.5.8, §14.2.5.9) as OpenSM's osm_qos_setup does.
//
// OpenSM's default is QoS off (qos FALSE): it sends neither table to any
// port and leaves every port with its power-on tables (SL i → VL i mod the
// data VLs, a low-priority arbitration table over the data VLs), and so
// does the SM when Config.QoS is false. With Config.QoS it writes
// OpenSM's default tables:
//
//   - on every switch, for each output port with its link up: the
//     VLArbitration blocks the port has (low block 0, and high block 0
//     when VLArbitrationHighCap is not 0; a second block of each when
//     the capacity exceeds 32 entries), and, when port 0 advertises
//     IsSLMappingSupported, one SLtoVLMappingTable per input port (port
//     0 and every port with its link up; AttributeModifier input<<8 |
//     output), since the emulated switches do not offer
//     OptimizedSLtoVLMappingProgramming (OpenSM's use_optimized_slvl is
//     off by default too);
//   - on every CA port with a LID: its VLArbitration blocks, and its
//     SLtoVLMappingTable when the port advertises IsSLMappingSupported.
//
// A port's tables are written again only when its operational VLs changed
// since they were written (OpenSM compares the tables it holds).
func (m *SM) programQoS(ctx context.Context, sn *Subnet) {
	if !m.cfg.QoS {
		return
	}
	var qs []smpQuery
	add := func(q smpQuery) { qs = append(qs, q) }
	for _, n := range sn.Nodes {
		if n.IsSwitch() {
			p0 := n.Ports[0]
			slmap := p0 != nil && p0.Read && p0.Info.CapabilityMask&wire.PortCapIsSLMappingSupported != 0
			var ins []int
			for _, p := range n.Ports {
				if p != nil && (p.Num == 0 || p.LinkUp()) {
					ins = append(ins, p.Num)
				}
			}
			for _, out := range n.Ports[1:] {
				if out == nil || !out.LinkUp() {
					continue
				}
				m.qosPort(sn, out, uint32(out.Num), slmap, ins, add)
			}
			continue
		}
		for _, p := range n.Ports[1:] {
			if p == nil || !p.LinkUp() || p.LID == 0 {
				continue
			}
			m.qosPort(sn, p, 0, p.Info.CapabilityMask&wire.PortCapIsSLMappingSupported != 0, []int{0}, add)
		}
	}
	m.progress("qos", 0, len(qs))
	m.batch(ctx, qs)
}

// qosPort adds the queries that write the QoS tables of port p (a CA port,
// or output port num of a switch with the given input ports).
func (m *SM) qosPort(sn *Subnet, p *Port, num uint32, slmap bool, ins []int, add func(smpQuery)) {
	key := qosKey{p.Node.GUID(), p.Num}
	ops := p.Info.OperationalVLs
	if ops == 0 {
		ops = p.Info.VLCap
	}
	if m.lastQoS[key] == int(ops) {
		return
	}
	mask := vlMask(ops)
	path := p.Route()
	left := 0
	ok := true
	done := func(_ []byte, err error) {
		if err != nil {
			m.problem(sn, err)
			ok = false
		}
		if left--; left == 0 && ok {
			m.lastQoS[key] = int(ops)
		}
	}
	vlarb := func(block uint32, tbl []wire.VLArbEntry, first, cp int) {
		n := min(cp-first, wire.VLArbitrationTableBlockEntries)
		data := make([]byte, wire.SMPDataSize)
		t := wire.VLArbitrationTable(data)
		for i := range n {
			if e := first + i; e < len(tbl) {
				t.SetEntry(i, wire.VLArbEntry{VL: tbl[e].VL & mask, Weight: tbl[e].Weight})
			}
		}
		left++
		add(smpQuery{path: path, method: wire.MethodSet, attr: wire.AttrVLArbitrationTable, mod: block<<16 | num, data: data, done: done})
	}
	const blk = wire.VLArbitrationTableBlockEntries
	if lo := int(p.Info.VLArbitrationLowCap); lo > 0 {
		vlarb(wire.VLArbLowBlock0, qosVLArbLow, 0, lo)
		if lo > blk {
			vlarb(wire.VLArbLowBlock1, qosVLArbLow, blk, lo)
		}
	}
	if hi := int(p.Info.VLArbitrationHighCap); hi > 0 {
		vlarb(wire.VLArbHighBlock0, qosVLArbHigh, 0, hi)
		if hi > blk {
			vlarb(wire.VLArbHighBlock1, qosVLArbHigh, blk, hi)
		}
	}
	if slmap {
		data := make([]byte, wire.SMPDataSize)
		t := wire.SLtoVLMappingTable(data)
		for sl, vl := range qosSL2VL {
			if vl != 15 {
				vl &= mask
			}
			t.SetVL(sl, vl)
		}
		for _, in := range ins {
			left++
			add(smpQuery{path: path, method: wire.MethodSet, attr: wire.AttrSLtoVLMappingTable, mod: uint32(in)<<8 | num, data: data, done: done})
		}
	}
}
