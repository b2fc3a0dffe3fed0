package agent

import (
	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// PMAConfig configures a PMA. Zero fields take the defaults listed.
type PMAConfig struct {
	// CapabilityMask is ClassPortInfo.CapabilityMask (wire.PerfCap*
	// bits). The default is PerfCapExtendedWidth|PerfCapPortXmitWait
	// (0x1200) for a CA and adds PerfCapAllPortSelect (0x1300) for a
	// switch, what Mellanox HCAs and InfiniScale switches report:
	// PortCountersExtended with the unicast/multicast counters, PortXmitWait
	// in PortCounters, and PortSelect 0xFF on switches.
	CapabilityMask uint16
	// RespTimeValue is ClassPortInfo.RespTimeValue (default 18).
	RespTimeValue uint8
}

// pmaBase is a PMA's register view of one port: the counter values each
// attribute's last Set cleared at, one baseline per counter.
type pmaBase struct {
	pc  [numPCCounters]uint64
	ext [numExtCounters]uint64
	arr [numCounterArrays][16]uint64 // by counterArray.idx
}

// PMA is the performance management agent of one node (class 0x04, IBTA
// Vol 1 §16.1): ClassPortInfo Get, PortCounters Get/Set and
// PortCountersExtended Get/Set, read from the emu.Port counters, and the
// optional attributes a ConnectX HCA and a Mellanox switch answer:
// PortSamplesControl Get/Set and PortSamplesResult Get (port sampling on
// the fabric clock), and Get/Set of PortRcvErrorDetails,
// PortXmitDiscardDetails, PortXmitDataSL, PortRcvDataSL,
// PortOpRcvCounters, PortFlowCtlCounters, PortVLOpPackets, PortVLOpData,
// PortVLXmitFlowCtlUpdateErrors, PortVLXmitWaitCounters,
// PortExtendedSpeedsCounters (ports with extended speeds) and the Annex
// A10 counters SwPortVLCongestion (switches), PortRcvConCtrl,
// PortSLRcvFECN, PortSLRcvBECN, PortXmitConCtrl and PortVLXmitTimeCong
// (pmaoptional.go).
//
// PortCounters and PortCountersExtended are separate registers, as on
// hardware: each keeps its own baseline per counter, so that a Set that
// clears one leaves the other and the emu.Counters themselves alone. A
// PortCounters field shows the count since its last clear, saturated at
// the field's width (IBTA Vol 1 §16.1.3.5).
//
// A CA answers only for its own port: PortSelect must be the arrival port
// (or 0, which a CA reads as the arrival port). A switch answers for port
// 0..NumPorts, and with AllPortSelect for 0xFF, the sum of all ports.
type PMA struct {
	typ      wire.NodeType
	cfg      PMAConfig
	cs       ClassSupport
	bases    map[*emu.Port]*pmaBase
	samplers map[*emu.Port]*sampler
}

// NewPMA creates the PMA of a node of type typ.
func NewPMA(typ wire.NodeType, cfg PMAConfig) *PMA {
	if cfg.CapabilityMask == 0 {
		cfg.CapabilityMask = wire.PerfCapExtendedWidth | wire.PerfCapPortXmitWait
		if typ == wire.NodeTypeSwitch {
			cfg.CapabilityMask |= wire.PerfCapAllPortSelect
		}
	}
	if cfg.RespTimeValue == 0 {
		cfg.RespTimeValue = 18
	}
	a := &PMA{typ: typ, cfg: cfg, bases: map[*emu.Port]*pmaBase{}}
	a.cs = pmaSupport[0]
	if cfg.CapabilityMask&(wire.PerfCapExtendedWidth|wire.PerfCapExtendedWidthNoIETF) != 0 {
		a.cs = pmaSupport[1]
	}
	return a
}

// pmaSupport is what a PMA serves without ([0]) and with ([1])
// PortCountersExtended (IBTA Vol 1 §16.1.3, §16.1.4); both serve the
// optional attributes of pmaoptional.go. Every PMA shares
// these tables, which nothing changes after init: a fabric of thousands
// of nodes keeps one copy instead of a map per node.
var pmaSupport = func() [2]ClassSupport {
	get := []wire.Method{wire.MethodGet}
	getSet := []wire.Method{wire.MethodGet, wire.MethodSet}
	var cs [2]ClassSupport
	for i := range cs {
		cs[i] = ClassSupport{
			Versions: []uint8{wire.PMAClassVersion},
			Methods:  []wire.Method{wire.MethodGet, wire.MethodSet},
			Attrs: map[wire.AttrID][]wire.Method{
				wire.AttrClassPortInfo:              get,
				wire.AttrPortCounters:               getSet,
				wire.AttrPortSamplesControl:         getSet,
				wire.AttrPortSamplesResult:          get,
				wire.AttrPortExtendedSpeedsCounters: getSet,
			},
		}
		for id := range counterArrays {
			cs[i].Attrs[id] = getSet
		}
	}
	cs[1].Attrs[wire.AttrPortCountersExtended] = getSet
	return cs
}()

// CapabilityMask returns the ClassPortInfo.CapabilityMask the PMA reports.
func (a *PMA) CapabilityMask() uint16 { return a.cfg.CapabilityMask }

// Supports reports whether the PMA serves request m.
func (a *PMA) Supports(m wire.MAD) bool { return !m.IsResponse() && a.cs.Supports(m) }

// Process answers a PerfMgt request m that arrived on port p and returns
// the reply (ok false: no reply, for a response or a method that gets
// none). Bad versions, methods and attributes get 0x0004, 0x0008 and
// 0x000C; a PortSelect the node cannot serve gets 0x001C.
func (a *PMA) Process(p *emu.Port, m wire.MAD) (resp wire.MAD, ok bool) {
	if len(m) != wire.MADSize || m.IsResponse() {
		return nil, false
	}
	if resp, answered, refused := Refuse(&a.cs, m); refused {
		return resp, answered
	}
	r := ErrorReply(m, wire.MADStatusOK)
	var st wire.MADStatus
	switch m.AttrID() {
	case wire.AttrClassPortInfo:
		st = a.classPortInfo(r)
	case wire.AttrPortCounters:
		st = a.portCounters(p, m, r)
	case wire.AttrPortCountersExtended:
		st = a.portCountersExtended(p, m, r)
	case wire.AttrPortSamplesControl:
		st = a.portSamplesControl(p, m, r)
	case wire.AttrPortSamplesResult:
		st = a.portSamplesResult(p, r)
	case wire.AttrPortExtendedSpeedsCounters:
		st = a.portExtendedSpeedsCounters(p, m, r)
	default:
		st = a.counterArrayAttr(counterArrays[m.AttrID()], p, m, r)
	}
	r.SetStatus(st)
	return r, true
}

// pmaData is the PerfMgt attribute area: 40 reserved bytes after the
// common header, then 192 bytes of data (IBTA Vol 1 §16.1.1).
func pmaData(m wire.MAD) []byte { return wire.PerfMAD(m).Data() }

// selectPorts resolves PortSelect: the ports whose counters a request
// reads (and clears). ok false means 0x001C. A CA (or router) serves its
// own ports 1..N, as the adapter firmware's one PMA does, and PortSelect
// 0 means the arrival port (what `perfquery LID` without a port number
// sends): `perfquery -a` on a two-port CA then reads both ports. ibsim,
// qib and hfi1 refuse another port of the same CA with 0x001C instead,
// and the mlx5 driver (ConnectX-4 and later) answers with the arrival
// port's counters whatever PortSelect says. A switch serves 0..N and,
// with AllPortSelect, 0xFF for all of them.
func (a *PMA) selectPorts(p *emu.Port, sel uint8) (ports []*emu.Port, ok bool) {
	n := p.Node()
	if a.typ != wire.NodeTypeSwitch {
		if sel == 0 {
			return []*emu.Port{p}, true
		}
		if int(sel) > n.NumPorts() {
			return nil, false
		}
		return []*emu.Port{n.Port(int(sel))}, true
	}
	if sel == wire.PMAAllPorts {
		if a.cfg.CapabilityMask&wire.PerfCapAllPortSelect == 0 {
			return nil, false
		}
		for _, q := range n.Ports() {
			if q != nil {
				ports = append(ports, q)
			}
		}
		return ports, true
	}
	if q := n.Port(int(sel)); q != nil {
		return []*emu.Port{q}, true
	}
	return nil, false
}

func (a *PMA) base(p *emu.Port) *pmaBase {
	b := a.bases[p]
	if b == nil {
		b = &pmaBase{}
		a.bases[p] = b
	}
	return b
}

// since returns the count of a counter since its baseline; a counter reset
// underneath (emu.Counters.Reset) restarts the baseline at 0.
func since(cur uint64, base *uint64) uint64 {
	if cur < *base {
		*base = 0
	}
	return cur - *base
}

func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func satN(v uint64, bits uint) uint64 {
	if max := uint64(1)<<bits - 1; v > max {
		return max
	}
	return v
}

// classPortInfo answers PerfMgt ClassPortInfo Get (IBTA Vol 1 §16.1.3.1):
// base and class version 1, the capability mask and RespTimeValue; no
// redirection, no traps.
func (a *PMA) classPortInfo(r wire.MAD) wire.MADStatus {
	d := pmaData(r)
	clear(d)
	wire.ClassPortInfo(d).Encode(&wire.ClassPortInfoFields{
		BaseVersion:    wire.MADBaseVersion,
		ClassVersion:   wire.PMAClassVersion,
		CapabilityMask: a.cfg.CapabilityMask,
		RespTimeValue:  a.cfg.RespTimeValue,
	})
	return wire.MADStatusOK
}

// portCounters answers PortCounters Get and Set (IBTA Vol 1 §16.1.3.5). A
// Set clears the counters CounterSelect (and CounterSelect2 bit 0,
// PortXmitWait) selects, then the reply shows the counters as a Get would.
func (a *PMA) portCounters(p *emu.Port, m, r wire.MAD) wire.MADStatus {
	in := wire.PortCounters(pmaData(m))
	sel, cs, cs2 := in.PortSelect(), in.CounterSelect(), in.CounterSelect2()
	ports, ok := a.selectPorts(p, sel)
	if !ok {
		return wire.MADStatusInvalidField
	}
	var clr uint32
	if m.Method() == wire.MethodSet {
		clr = uint32(cs)
		if cs2&wire.CounterSelect2PortXmitWait != 0 {
			clr |= 1 << 16
		}
	}
	v := a.readPC(ports, clr)
	clear(pmaData(r))
	out := wire.PortCounters(pmaData(r))
	out.SetPortSelect(sel)
	out.SetCounterSelect(cs)
	out.SetCounterSelect2(cs2)
	out.SetSymbolErrorCounter(v[0])
	out.SetLinkErrorRecoveryCounter(v[1])
	out.SetLinkDownedCounter(v[2])
	out.SetPortRcvErrors(v[3])
	out.SetPortRcvRemotePhysicalErrors(v[4])
	out.SetPortRcvSwitchRelayErrors(v[5])
	out.SetPortXmitDiscards(v[6])
	out.SetPortXmitConstraintErrors(v[7])
	out.SetPortRcvConstraintErrors(v[8])
	out.SetLocalLinkIntegrityErrors(v[9])
	out.SetExcessiveBufferOverrunErrors(v[10])
	out.SetVL15Dropped(v[11])
	out.SetPortXmitData(v[12])
	out.SetPortRcvData(v[13])
	out.SetPortXmitPkts(v[14])
	out.SetPortRcvPkts(v[15])
	if a.cfg.CapabilityMask&wire.PerfCapPortXmitWait != 0 {
		out.SetPortXmitWait(v[16])
	}
	return wire.MADStatusOK
}

// portCountersExtended answers PortCountersExtended Get and Set (IBTA Vol
// 1 §16.1.4.11): the eight 64-bit traffic counters (the unicast and
// multicast ones only with PerfCapExtendedWidth). A Set clears what
// CounterSelect selects.
func (a *PMA) portCountersExtended(p *emu.Port, m, r wire.MAD) wire.MADStatus {
	in := wire.PortCountersExtended(pmaData(m))
	sel, cs, cs2 := in.PortSelect(), in.CounterSelect(), in.CounterSelect2()
	ports, ok := a.selectPorts(p, sel)
	if !ok {
		return wire.MADStatusInvalidField
	}
	var clr uint32
	if m.Method() == wire.MethodSet {
		clr = uint32(cs)
	}
	v := a.readExt(ports, clr)
	clear(pmaData(r))
	out := wire.PortCountersExtended(pmaData(r))
	out.SetPortSelect(sel)
	out.SetCounterSelect(cs)
	out.SetCounterSelect2(cs2)
	n := numExtCounters
	if a.cfg.CapabilityMask&wire.PerfCapExtendedWidth == 0 {
		n = 4 // NoIETF: no unicast/multicast counters
	}
	for i := range n {
		out.SetCounter(wire.PortCountersExtendedCounter(i), v[i])
	}
	return wire.MADStatusOK
}
