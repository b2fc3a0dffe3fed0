package agent

import (
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// The optional PerfMgt attributes a ConnectX HCA and a Mellanox switch
// answer (IBTA Vol 1 §16.1.3.2-3, §16.1.4, Annex A10): PortSamplesControl
// and PortSamplesResult, and the counter arrays of counterArrays, read
// from the emu.CounterDetails the packet path keeps: PortRcvErrorDetails
// and PortXmitDiscardDetails (by cause), PortXmitDataSL and PortRcvDataSL
// (by SL), PortOpRcvCounters, PortVLOpPackets and PortVLOpData (by
// received OpCode and VL), PortRcvConCtrl, PortSLRcvFECN and PortSLRcvBECN
// (by the received BTH FECN/BECN bits and SL), PortVLXmitWaitCounters,
// PortFlowCtlCounters, PortVLXmitFlowCtlUpdateErrors, SwPortVLCongestion
// (switches), PortXmitConCtrl and PortVLXmitTimeCong; and
// PortExtendedSpeedsCounters on ports that run extended speeds. The
// emulator has no flow-control packets, credits, congestion or lane
// errors, so the counters of those stay 0 (see emu.CounterDetails) unless
// the console sets them.

// counterArray is one optional counter attribute served from emu
// counters: its wire layout, the emu counter of each field, the OpCode
// register of the layouts that count one OpCode, and where its Set
// baselines live in a pmaBase.
type counterArray struct {
	layout wire.PMACounterLayout
	idx    int // index of its baselines in pmaBase.arr
	get    func(d *emu.CounterDetails, i int) *emu.Counter
	opCode func(d *emu.CounterDetails) *uint8 // nil: byte 0 is reserved
	// switchOnly says a CA answers 0x000C (SwPortVLCongestion, IBTA
	// Vol 1 Annex A10).
	switchOnly bool
}

// Indices of the counter arrays' baselines in pmaBase.arr.
const (
	caRcvErrorDetails = iota
	caXmitDiscardDetails
	caXmitDataSL
	caRcvDataSL
	caOpRcvCounters
	caFlowCtlCounters
	caVLOpPackets
	caVLOpData
	caVLXmitFlowCtlUpdateErrors
	caVLXmitWaitCounters
	caSwPortVLCongestion
	caRcvConCtrl
	caSLRcvFECN
	caSLRcvBECN
	caXmitConCtrl
	caVLXmitTimeCong
	numCounterArrays
)

// counterArrays are the counter-array attributes a PMA serves, by AttrID.
var counterArrays = map[wire.AttrID]*counterArray{
	wire.AttrPortRcvErrorDetails: {
		layout: wire.LayoutPortRcvErrorDetails, idx: caRcvErrorDetails,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.RcvErrorDetails[i] },
	},
	wire.AttrPortXmitDiscardDetails: {
		layout: wire.LayoutPortXmitDiscardDetails, idx: caXmitDiscardDetails,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.XmitDiscardDetails[i] },
	},
	wire.AttrPortXmitDataSL: {
		layout: wire.LayoutPortDataSL, idx: caXmitDataSL,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.XmitDataSL[i] },
	},
	wire.AttrPortRcvDataSL: {
		layout: wire.LayoutPortDataSL, idx: caRcvDataSL,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.RcvDataSL[i] },
	},
	wire.AttrPortOpRcvCounters: {
		layout: wire.LayoutPortOpRcvCounters, idx: caOpRcvCounters,
		get: func(d *emu.CounterDetails, i int) *emu.Counter {
			if i == wire.OpRcvPortOpRcvData {
				return &d.Optional().OpRcvData
			}
			return &d.Optional().OpRcvPkts
		},
		opCode: func(d *emu.CounterDetails) *uint8 { return &d.Optional().OpRcvOpCode },
	},
	wire.AttrPortFlowCtlCounters: {
		layout: wire.LayoutPortFlowCtlCounters, idx: caFlowCtlCounters,
		get: func(d *emu.CounterDetails, i int) *emu.Counter {
			if i == wire.FlowCtlPortRcvFlowPkts {
				return &d.Optional().RcvFlowPkts
			}
			return &d.Optional().XmitFlowPkts
		},
	},
	wire.AttrPortVLOpPackets: {
		layout: wire.LayoutPortVLOpPackets, idx: caVLOpPackets,
		get:    func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLOpPackets[i] },
		opCode: func(d *emu.CounterDetails) *uint8 { return &d.Optional().VLOpPacketsOpCode },
	},
	wire.AttrPortVLOpData: {
		layout: wire.LayoutPortVLOpData, idx: caVLOpData,
		get:    func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLOpData[i] },
		opCode: func(d *emu.CounterDetails) *uint8 { return &d.Optional().VLOpDataOpCode },
	},
	wire.AttrPortVLXmitFlowCtlUpdateErrors: {
		layout: wire.LayoutPortVLXmitFlowCtlUpdateErrors, idx: caVLXmitFlowCtlUpdateErrors,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLXmitFlowCtlUpdateErrors[i] },
	},
	wire.AttrPortVLXmitWaitCounters: {
		layout: wire.LayoutPortVLXmitWaitCounters, idx: caVLXmitWaitCounters,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().XmitWaitVL[i] },
	},
	wire.AttrSwPortVLCongestion: {
		layout: wire.LayoutSwPortVLCongestion, idx: caSwPortVLCongestion, switchOnly: true,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().SwPortVLCongestion[i] },
	},
	wire.AttrPortRcvConCtrl: {
		layout: wire.LayoutPortRcvConCtrl, idx: caRcvConCtrl,
		get: func(d *emu.CounterDetails, i int) *emu.Counter {
			if i == wire.RcvConCtrlPortPktRcvBECN {
				return &d.Optional().RcvBECN
			}
			return &d.Optional().RcvFECN
		},
	},
	wire.AttrPortSLRcvFECN: {
		layout: wire.LayoutPortSLRcvECN, idx: caSLRcvFECN,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().SLRcvFECN[i] },
	},
	wire.AttrPortSLRcvBECN: {
		layout: wire.LayoutPortSLRcvECN, idx: caSLRcvBECN,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().SLRcvBECN[i] },
	},
	wire.AttrPortXmitConCtrl: {
		layout: wire.LayoutPortXmitConCtrl, idx: caXmitConCtrl,
		get: func(d *emu.CounterDetails, _ int) *emu.Counter { return &d.Optional().XmitTimeCong },
	},
	wire.AttrPortVLXmitTimeCong: {
		layout: wire.LayoutPortVLXmitTimeCong, idx: caVLXmitTimeCong,
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLXmitTimeCong[i] },
	},
}

// Compile-time checks that the emu detail arrays match the wire layouts.
var (
	_ [wire.RcvErrPortLoopingErrors + 1 - int(emu.NumRcvErrorKinds)]struct{}
	_ [int(emu.NumRcvErrorKinds) - wire.RcvErrPortLoopingErrors - 1]struct{}
	_ [wire.XmitDiscPortSwHOQLifetimeLimitDiscards + 1 - int(emu.NumXmitDiscardKinds)]struct{}
	_ [int(emu.NumXmitDiscardKinds) - wire.XmitDiscPortSwHOQLifetimeLimitDiscards - 1]struct{}
	_ [len(emu.OptionalCounters{}.VLXmitTimeCong) - 15]struct{}
	_ [15 - len(emu.OptionalCounters{}.VLXmitTimeCong)]struct{}
)

// counterArrayAttr answers Get and Set of a counter-array attribute:
// PortSelect as for PortCounters (AllPortSelect sums the ports), a Set
// clears the counters CounterSelect selects (bit i, counter i) and the
// reply shows them as a Get would, saturated at the field width.
//
// In the layouts with an OpCode (PortOpRcvCounters, PortVLOpPackets,
// PortVLOpData) a Set also selects the OpCode the selected ports count
// from then on; a Set that changes it clears all the attribute's
// counters, which counted another OpCode. A Get leaves it and shows it.
func (a *PMA) counterArrayAttr(ca *counterArray, p *emu.Port, m, r wire.MAD) wire.MADStatus {
	if ca == nil || ca.switchOnly && a.typ != wire.NodeTypeSwitch {
		return wire.MADStatusUnsupportedMethodAttr
	}
	in, err := wire.ParsePMACounterArray(pmaData(m), ca.layout)
	if err != nil {
		return wire.MADStatusInvalidField
	}
	sel, cs, op := in.PortSelect(), in.CounterSelect(), in.OpCode()
	ports, ok := a.selectPorts(p, sel)
	if !ok {
		return wire.MADStatusInvalidField
	}
	set := m.Method() == wire.MethodSet
	var v [16]uint64
	for n, q := range ports {
		d := q.Counters.Details()
		base := &a.base(q).arr[ca.idx]
		clr := uint16(0)
		if set {
			clr = cs
		}
		if ca.opCode != nil {
			reg := ca.opCode(d)
			if set && *reg != op {
				*reg = op
				clr = 0xFFFF
			}
			if n == 0 {
				op = *reg
			}
		}
		for i := range ca.layout.Count {
			cur := ca.get(d, i).Load()
			if clr&(1<<i) != 0 {
				base[i] = cur
			}
			v[i] = addSat(v[i], since(cur, &base[i]))
		}
	}
	clear(pmaData(r))
	out, _ := wire.ParsePMACounterArray(pmaData(r), ca.layout)
	if ca.opCode != nil {
		out.SetOpCode(op)
	}
	out.SetPortSelect(sel)
	out.SetCounterSelect(cs)
	for i := range ca.layout.Count {
		out.SetCounter(ca.layout, i, v[i])
	}
	return wire.MADStatusOK
}

// portExtendedSpeedsCounters answers PortExtendedSpeedsCounters Get and
// Set (IBTA Vol 1 §16.1.4.11) in the layout without RS-FEC, for the
// ports whose LinkSpeedSupported has an extended speed (FDR and faster,
// IBTA Vol 1 §14.2.5.6 LinkSpeedExtSupported); a port without one, or a
// selection with none, gets 0x000C as from a device without the
// attribute. The counters are the 64b/66b physical layer's: the emulated
// links carry frames, not blocks, and lose no sync headers and correct
// no FEC blocks, so every counter is 0 and a Set, which clears the
// counters CounterSelect selects, has nothing to clear.
func (a *PMA) portExtendedSpeedsCounters(p *emu.Port, m, r wire.MAD) wire.MADStatus {
	in, err := wire.ParsePortExtendedSpeedsCounters(pmaData(m))
	if err != nil {
		return wire.MADStatusInvalidField
	}
	sel, cs := in.PortSelect(), in.CounterSelect()
	ports, ok := a.selectPorts(p, sel)
	if !ok {
		return wire.MADStatusInvalidField
	}
	ext := false
	for _, q := range ports {
		ext = ext || q.SpeedSupported().Ext() != 0
	}
	if !ext {
		return wire.MADStatusUnsupportedMethodAttr
	}
	clear(pmaData(r))
	out, _ := wire.ParsePortExtendedSpeedsCounters(pmaData(r))
	out.SetPortSelect(sel)
	out.SetCounterSelect(cs)
	return wire.MADStatusOK
}

// SampleTick is the length of one PortSamplesControl tick, the unit of
// SampleStart and SampleInterval. The PMA reports Tick 0 and counts in
// these units.
const SampleTick = 5 * time.Nanosecond

// sampleCounters are the counters a sample can count, by their
// PortSamplesControl.CounterSelect code (wire.SampleSelect*).
var sampleCounters = map[uint16]func(c *emu.Counters) *emu.Counter{
	wire.SampleSelectPortXmitData: func(c *emu.Counters) *emu.Counter { return &c.XmitData },
	wire.SampleSelectPortRcvData:  func(c *emu.Counters) *emu.Counter { return &c.RcvData },
	wire.SampleSelectPortXmitPkts: func(c *emu.Counters) *emu.Counter { return &c.XmitPkts },
	wire.SampleSelectPortRcvPkts:  func(c *emu.Counters) *emu.Counter { return &c.RcvPkts },
	wire.SampleSelectPortXmitWait: func(c *emu.Counters) *emu.Counter { return &c.XmitWait },
}

// sampleMasks0to9 and sampleMasks10to14 say every sample counter can
// count: CounterMaskN 1 in each 3-bit field (as Linux's qib reports).
const (
	sampleMasks0to9   uint32 = 0o1111111111
	sampleMasks10to14 uint16 = 0o11111
)

// sampler is the port sampling state of one PMA (one per CA port, one
// per switch): the last PortSamplesControl Set, the sample's status and,
// once it is done, its counts.
type sampler struct {
	port     *emu.Port // the port being sampled
	start    uint32
	interval uint32
	tag      uint16
	sel      [wire.PortSamplesCounters]uint16
	status   uint8
	begin    [wire.PortSamplesCounters]uint64 // counter values when the sample started
	result   [wire.PortSamplesCounters]uint64
	timer    emu.Timer
}

// samplerFor returns the sampler that serves requests arriving on p: the
// arrival port's on a CA, the node's on a switch (whose PMA samples one
// port at a time, IBTA Vol 1 §16.1.3.2).
func (a *PMA) samplerFor(p *emu.Port) *sampler {
	key := p
	if a.typ == wire.NodeTypeSwitch {
		key = p.Node().Port(0)
	}
	if a.samplers == nil {
		a.samplers = map[*emu.Port]*sampler{}
	}
	s := a.samplers[key]
	if s == nil {
		s = &sampler{}
		a.samplers[key] = s
	}
	return s
}

// portSamplesControl answers PortSamplesControl Get and Set (IBTA Vol 1
// §16.1.3.2). PortSelect names one port (AllPortSelect 0xFF gets
// 0x001C). A Set while a sample is under way changes nothing, as on
// hardware; otherwise it takes SampleStart, SampleInterval, Tag and the
// CounterSelects (a code other than 0 and wire.SampleSelect* gets 0x001C)
// and starts a sample: SampleStart ticks of delay, then SampleInterval
// ticks of counting, timed on the fabric clock.
func (a *PMA) portSamplesControl(p *emu.Port, m, r wire.MAD) wire.MADStatus {
	in, err := wire.ParsePortSamplesControl(pmaData(m))
	if err != nil {
		return wire.MADStatusInvalidField
	}
	sel := in.PortSelect()
	if sel == wire.PMAAllPorts {
		return wire.MADStatusInvalidField
	}
	ports, ok := a.selectPorts(p, sel)
	if !ok || len(ports) != 1 {
		return wire.MADStatusInvalidField
	}
	s := a.samplerFor(p)
	if m.Method() == wire.MethodSet && s.status == wire.SampleStatusDone {
		var cs [wire.PortSamplesCounters]uint16
		for i := range cs {
			cs[i] = in.CounterSelect(i)
			if _, known := sampleCounters[cs[i]]; cs[i] != 0 && !known {
				return wire.MADStatusInvalidField
			}
		}
		a.startSample(s, ports[0], in.SampleStart(), in.SampleInterval(), in.Tag(), cs)
	}
	clear(pmaData(r))
	out, _ := wire.ParsePortSamplesControl(pmaData(r))
	out.SetPortSelect(sel)
	out.SetTick(0)
	out.SetCounterWidth(wire.CounterWidth32)
	out.SetCounterMasks0to9(sampleMasks0to9)
	out.SetCounterMasks10to14(sampleMasks10to14)
	out.SetSampleStatus(s.status)
	out.SetSampleStart(s.start)
	out.SetSampleInterval(s.interval)
	out.SetTag(s.tag)
	for i, c := range s.sel {
		out.SetCounterSelect(i, c)
	}
	return wire.MADStatusOK
}

// startSample starts a sample of q: status StartDelay until start ticks
// have passed, then Running for interval ticks, then Done with the counts.
func (a *PMA) startSample(s *sampler, q *emu.Port, start, interval uint32, tag uint16, cs [wire.PortSamplesCounters]uint16) {
	s.port, s.start, s.interval, s.tag, s.sel = q, start, interval, tag, cs
	s.result = [wire.PortSamplesCounters]uint64{}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	f := q.Node().Fabric()
	if f == nil {
		return // a port outside a fabric has no clock to sample with
	}
	clock := f.Clock()
	run := func() {
		s.status = wire.SampleStatusRunning
		s.snapshot(&s.begin)
		s.timer = clock.AfterFunc(time.Duration(interval)*SampleTick, func() {
			var end [wire.PortSamplesCounters]uint64
			s.snapshot(&end)
			for i := range end {
				if end[i] >= s.begin[i] {
					s.result[i] = end[i] - s.begin[i]
				}
			}
			s.status = wire.SampleStatusDone
			s.timer = nil
		})
	}
	if start == 0 {
		run()
		return
	}
	s.status = wire.SampleStatusStartDelay
	s.timer = clock.AfterFunc(time.Duration(start)*SampleTick, run)
}

// snapshot reads the selected counters of the sampled port.
func (s *sampler) snapshot(v *[wire.PortSamplesCounters]uint64) {
	for i, c := range s.sel {
		if get := sampleCounters[c]; get != nil {
			v[i] = get(&s.port.Counters).Load()
		}
	}
}

// portSamplesResult answers PortSamplesResult Get (IBTA Vol 1
// §16.1.3.3): the Tag and status of the sampler that serves the arrival
// port, and the counts once the sample is done (zero before).
func (a *PMA) portSamplesResult(p *emu.Port, r wire.MAD) wire.MADStatus {
	s := a.samplerFor(p)
	clear(pmaData(r))
	out, _ := wire.ParsePortSamplesResult(pmaData(r))
	out.SetTag(s.tag)
	out.SetSampleStatus(s.status)
	if s.status == wire.SampleStatusDone {
		for i, v := range s.result {
			out.SetCounter(i, v)
		}
	}
	return wire.MADStatusOK
}
