package emu

import "github.com/ibemu/ibemu/emu/wire"

// Counter is one of a port's traffic or error counters, kept at full
// 64-bit width. It belongs to the event loop, like the port: the packet
// path counts with plain adds instead of atomic ones, which took a
// locked instruction per counter per frame at every hop. Read and change
// it on the event loop (device code, a Clock callback, Fabric.Do);
// another goroutine takes a consistent copy of all of a port's counters
// with Fabric.ReadCounters.
type Counter struct{ v uint64 }

// Add adds n and returns the new count. Call it on the event loop.
func (c *Counter) Add(n uint64) uint64 {
	c.v += n
	return c.v
}

// Load returns the count. Call it on the event loop.
func (c *Counter) Load() uint64 { return c.v }

// Store sets the count (a PMA Set, a console command). Call it on the
// event loop.
func (c *Counter) Store(v uint64) { c.v = v }

// Counters are a port's traffic and error counters (IBTA Vol 1 §16.1.3.5
// PortCounters, §16.1.4.8 PortCountersExtended, §14.2.5.6 PortInfo
// violation counters). A device's performance management agent reads
// them and saturates each into the width of its PortCounters field;
// PortCountersExtended shows them whole. They belong to the event loop
// (see Counter); Snapshot copies them there, Fabric.ReadCounters from
// any goroutine.
type Counters struct {
	XmitData    Counter // octets transmitted, divided by 4 (IBTA PortXmitData)
	RcvData     Counter // octets received, divided by 4
	XmitPkts    Counter
	RcvPkts     Counter
	UnicastXmit Counter
	UnicastRcv  Counter
	McastXmit   Counter
	McastRcv    Counter

	SymbolErrors         Counter
	LinkErrorRecovery    Counter
	LinkDowned           Counter
	RcvErrors            Counter // bad CRC, bad length, malformed
	RcvRemotePhysErrors  Counter
	RcvSwitchRelayErrors Counter // no route (LFT miss, DLID out of range)
	XmitDiscards         Counter // link down, port not active, head-of-queue timeout
	XmitConstraintErrors Counter // outbound P_Key / raw filter
	RcvConstraintErrors  Counter // inbound P_Key / raw filter
	LocalLinkIntegrity   Counter
	ExcessiveBufOverrun  Counter
	VL15Dropped          Counter
	XmitWait             Counter
	PKeyViolations       Counter // PortInfo.P_KeyViolations
	QKeyViolations       Counter
	MKeyViolations       Counter

	// sl0Xmit and sl0Rcv are PortXmitDataSL and PortRcvDataSL of SL 0
	// while the port has no details (ext is nil): a port that carries
	// only SL 0 traffic, as every port does while an SM brings a fabric
	// up, then needs none. Details moves them in.
	sl0Xmit, sl0Rcv Counter

	// ext holds the detail and per-SL counters (CounterDetails), out of
	// line so that a Port keeps its size and cache-line layout; allocated
	// on first use.
	ext *CounterDetails
}

// CounterDetails are the counters behind the optional PerfMgt
// attributes: the causes of receive errors and transmit discards, the
// data per service level, and (Optional) the rest. They belong to the
// event loop, like Counters.
type CounterDetails struct {
	// RcvErrorDetails split PortRcvErrors and PortRcvSwitchRelayErrors
	// by cause (IBTA Vol 1 §16.1.4.1 PortRcvErrorDetails), indexed by
	// RcvErrorKind.
	RcvErrorDetails [NumRcvErrorKinds]Counter
	// XmitDiscardDetails split PortXmitDiscards by cause (IBTA Vol 1
	// §16.1.4.2 PortXmitDiscardDetails), indexed by XmitDiscardKind.
	XmitDiscardDetails [NumXmitDiscardKinds]Counter
	// XmitDataSL and RcvDataSL are PortXmitData and PortRcvData (32-bit
	// words) per service level (IBTA Vol 1 §16.1.4.12-13
	// PortXmitDataSL/PortRcvDataSL), indexed by the LRH SL.
	XmitDataSL [16]Counter
	RcvDataSL  [16]Counter

	// optional holds the counters of the attributes most ports never
	// have read (Optional), allocated on first use.
	optional *OptionalCounters
}

// OptionalCounters are the counters of the PerfMgt attributes that few
// ports ever have read or counted: per received OpCode and VL, flow
// control, per-VL XmitWait and the congestion counters of Annex A10.
// They hang off CounterDetails and are allocated only when a packet
// counts in them (an OpCode a PMA Set selected, a FECN or BECN), a PMA
// reads or sets them, or a switch counts congestion: a port that only
// ever carries SMPs (every port of a fabric an SM brings up, 2,600 on a
// 648-HCA fat tree) carries none of their 1.2 kB. They belong to the
// event loop.
type OptionalCounters struct {
	// OpRcvOpCode, VLOpPacketsOpCode and VLOpDataOpCode are the BTH
	// OpCodes that PortOpRcvCounters, PortVLOpPackets and PortVLOpData
	// count (IBTA Vol 1 §16.1.4.3, §16.1.4.5-6): each attribute counts
	// the received packets of one OpCode, which a PMA Set of the
	// attribute selects (0, RC SEND First, until then).
	OpRcvOpCode       uint8
	VLOpPacketsOpCode uint8
	VLOpDataOpCode    uint8
	// OpRcvPkts and OpRcvData are PortOpRcvPkts and PortOpRcvData: the
	// packets received with BTH OpCode OpRcvOpCode, and their data in
	// 32-bit words as PortRcvData counts it.
	OpRcvPkts Counter
	OpRcvData Counter
	// VLOpPackets and VLOpData are PortVLOpPackets and PortVLOpData: the
	// packets received on each VL (the LRH VL) with OpCode
	// VLOpPacketsOpCode, and the data (32-bit words) received on each VL
	// with OpCode VLOpDataOpCode.
	VLOpPackets [16]Counter
	VLOpData    [16]Counter

	// RcvFECN and RcvBECN are PortPktRcvFECN and PortPktRcvBECN (IBTA
	// Vol 1 Annex A10, PortRcvConCtrl): the packets received with the BTH
	// FECN (BECN) bit set; SLRcvFECN and SLRcvBECN split them by the LRH
	// SL (PortSLRcvFECN, PortSLRcvBECN).
	RcvFECN   Counter
	RcvBECN   Counter
	SLRcvFECN [16]Counter
	SLRcvBECN [16]Counter

	// XmitWaitVL is PortXmitWait per VL (IBTA Vol 1 §16.1.4.8
	// PortVLXmitWaitCounters); CountXmitWait keeps it and XmitWait
	// together. The emulated links have no credit-based flow control and
	// no VL arbitration to wait on, so nothing on the packet path counts
	// XmitWait (a frame queued behind the serialiser waits while data is
	// being sent, which is not a tick of XmitWait): these stay what a
	// console PerformanceSet makes them.
	XmitWaitVL [16]Counter

	// XmitFlowPkts and RcvFlowPkts are PortFlowCtlCounters (IBTA Vol 1
	// §16.1.4.4), VLXmitFlowCtlUpdateErrors the 2-bit per-VL
	// PortVLXmitFlowCtlUpdateErrors (§16.1.4.7). The emulated links
	// exchange no flow-control packets (IBTA Vol 1 §7.9: a real link
	// sends one per data VL at least every 65536 symbol times, which the
	// emulator does not model), so nothing counts them: they stay 0 unless
	// a console PerformanceSet sets them.
	XmitFlowPkts              Counter
	RcvFlowPkts               Counter
	VLXmitFlowCtlUpdateErrors [16]Counter

	// SwPortVLCongestion, XmitTimeCong and VLXmitTimeCong are the
	// congestion-time counters of IBTA Vol 1 Annex A10
	// (SwPortVLCongestion, PortXmitConCtrl.PortXmitTimeCong,
	// PortVLXmitTimeCong, VL 0..14): the time a port spent in the
	// congested state, in PMA sample ticks (agent.SampleTick). A switch
	// port whose congestion control marks FECN counts them (switch/cc.go):
	// from a data packet that finds its output queue past the port's
	// Threshold until the queue drains below it, on the VL the packet
	// leaves on. The queue is the link's serialiser backlog under the
	// virtual clock (Link.QueuedBytes); under the wall clock no queue
	// forms and they stay 0 unless set, as they do on CAs.
	SwPortVLCongestion [16]Counter
	XmitTimeCong       Counter
	VLXmitTimeCong     [15]Counter
}

// Optional returns the port's optional counters, allocating them on
// first use. Call it on the event loop.
func (d *CounterDetails) Optional() *OptionalCounters {
	if d.optional == nil {
		d.optional = new(OptionalCounters)
	}
	return d.optional
}

// Details returns the port's detail and per-SL counters, allocating them
// on first use. Call it on the event loop.
func (c *Counters) Details() *CounterDetails {
	if c.ext == nil {
		c.ext = new(CounterDetails)
		c.ext.XmitDataSL[0], c.ext.RcvDataSL[0] = c.sl0Xmit, c.sl0Rcv
		c.sl0Xmit, c.sl0Rcv = Counter{}, Counter{}
	}
	return c.ext
}

// CountXmitDataSL adds words (32-bit words) to the PortXmitDataSL counter
// of sl (its low 4 bits): the packet path's one extra add per frame sent.
// Call it on the event loop.
func (c *Counters) CountXmitDataSL(sl uint8, words uint64) {
	if c.ext == nil && sl&0x0F == 0 {
		c.sl0Xmit.Add(words)
		return
	}
	c.Details().XmitDataSL[sl&0x0F].Add(words)
}

// CountRcvDataSL is CountXmitDataSL for PortRcvDataSL.
func (c *Counters) CountRcvDataSL(sl uint8, words uint64) {
	if c.ext == nil && sl&0x0F == 0 {
		c.sl0Rcv.Add(words)
		return
	}
	c.Details().RcvDataSL[sl&0x0F].Add(words)
}

// CountRcvTransport counts a received frame of words 32-bit words in
// the counters that read its headers: by BTH OpCode and LRH VL
// (PortOpRcvCounters, PortVLOpPackets, PortVLOpData) and by the BTH
// FECN/BECN bits and LRH SL (PortRcvConCtrl, PortSLRcvFECN,
// PortSLRcvBECN). A frame without a BTH (raw, or too short) counts
// nothing here. The packet path calls it once per frame, with a few
// compares and no allocation after the port's first frame. Call it on the
// event loop.
func (c *Counters) CountRcvTransport(frame []byte, words uint64) {
	// The LRH's LNH says whether a BTH follows, at byte 8 or after the
	// GRH at byte 48 (IBTA Vol 1 §7.7); the BTH's OpCode is its byte 0,
	// FECN and BECN the top bits of its byte 4 (§9.2, Annex A10).
	const lrh, grh = wire.LRHSize, wire.LRHSize + wire.GRHSize
	if len(frame) < lrh+wire.BTHSize {
		return
	}
	bth := lrh
	switch frame[1] & 3 {
	case wire.LNHIBALocal:
	case wire.LNHIBAGlobal:
		if len(frame) < grh+wire.BTHSize {
			return
		}
		bth = grh
	default:
		return
	}
	op, ecn := frame[bth], frame[bth+4]&0xC0
	// Until a PMA Set selects others, every attribute counts OpCode 0.
	var sel [3]uint8
	if c.ext != nil && c.ext.optional != nil {
		o := c.ext.optional
		sel = [3]uint8{o.OpRcvOpCode, o.VLOpPacketsOpCode, o.VLOpDataOpCode}
	}
	if op != sel[0] && op != sel[1] && op != sel[2] && ecn == 0 {
		return // the common case: a few compares, nothing allocated
	}
	c.Details().Optional().countRcv(wire.LRH(frame), op, ecn, words)
}

// countRcv counts a received frame whose OpCode is one the details count
// or that carries FECN or BECN (ecn, the BTH's bits 7 and 6).
func (d *OptionalCounters) countRcv(lrh wire.LRH, op, ecn uint8, words uint64) {
	vl := lrh.VL() & 0x0F
	if op == d.OpRcvOpCode {
		d.OpRcvPkts.Add(1)
		d.OpRcvData.Add(words)
	}
	if op == d.VLOpPacketsOpCode {
		d.VLOpPackets[vl].Add(1)
	}
	if op == d.VLOpDataOpCode {
		d.VLOpData[vl].Add(words)
	}
	if ecn != 0 {
		sl := lrh.SL() & 0x0F
		if ecn&0x80 != 0 { // FECN
			d.RcvFECN.Add(1)
			d.SLRcvFECN[sl].Add(1)
		}
		if ecn&0x40 != 0 { // BECN
			d.RcvBECN.Add(1)
			d.SLRcvBECN[sl].Add(1)
		}
	}
}

// CountXmitWait adds ticks to PortXmitWait and to its share of vl (its
// low 4 bits) in PortVLXmitWaitCounters. Call it on the event loop.
func (c *Counters) CountXmitWait(vl uint8, ticks uint64) {
	c.XmitWait.Add(ticks)
	c.Details().Optional().XmitWaitVL[vl&0x0F].Add(ticks)
}

// RcvErrorKind is a cause of a received packet's discard, as
// PortRcvErrorDetails counts it (IBTA Vol 1 §16.1.4.1).
type RcvErrorKind uint8

// Receive error causes. The first three are PortRcvErrors, the last three
// PortRcvSwitchRelayErrors.
const (
	RcvLocalPhysicalError RcvErrorKind = iota // bad ICRC/VCRC, symbol or framing error
	RcvMalformedPacket                        // bad LRH (LVer, length), a VL the port does not run
	RcvBufferOverrun                          // receive buffer overrun
	RcvDLIDMapping                            // a switch found no egress for the DLID
	RcvVLMapping                              // a switch could not map the SL to a VL
	RcvLooping                                // a switch would send the packet back out its arrival port
	NumRcvErrorKinds
)

// XmitDiscardKind is a cause of an outbound packet's discard, as
// PortXmitDiscardDetails counts it (IBTA Vol 1 §16.1.4.2).
type XmitDiscardKind uint8

// Transmit discard causes; all of them are PortXmitDiscards.
const (
	XmitInactiveDiscard           XmitDiscardKind = iota // the port is down or not Active
	XmitNeighborMTUDiscard                               // the packet exceeds the neighbor's MTU
	XmitSwLifetimeLimitDiscard                           // a switch's packet lifetime ran out
	XmitSwHOQLifetimeLimitDiscard                        // a switch's head-of-queue lifetime ran out
	NumXmitDiscardKinds
)

// CountRcvError counts one received packet discarded for cause k: in its
// PortRcvErrorDetails counter and in PortRcvErrors (local physical,
// malformed, buffer overrun) or PortRcvSwitchRelayErrors (DLID mapping,
// VL mapping, looping), as IBTA Vol 1 §16.1.3.5 and §16.1.4.1 divide
// them. An unknown k counts nothing. Call it on the event loop.
func (c *Counters) CountRcvError(k RcvErrorKind) {
	switch {
	case k >= NumRcvErrorKinds:
		return
	case k >= RcvDLIDMapping:
		c.RcvSwitchRelayErrors.Add(1)
	default:
		c.RcvErrors.Add(1)
	}
	c.Details().RcvErrorDetails[k].Add(1)
}

// CountXmitDiscard counts one outbound packet discarded for cause k, in
// its PortXmitDiscardDetails counter and in PortXmitDiscards. An unknown
// k counts nothing. Call it on the event loop.
func (c *Counters) CountXmitDiscard(k XmitDiscardKind) {
	if k >= NumXmitDiscardKinds {
		return
	}
	c.XmitDiscards.Add(1)
	c.Details().XmitDiscardDetails[k].Add(1)
}

// Reset sets every counter to zero, and the OpCodes the details count
// back to 0. Call it on the event loop.
func (c *Counters) Reset() { *c = Counters{} }

// Snapshot returns a copy of the counters, all taken at one instant,
// the details included (a copy of its own, which the port's further
// counting leaves alone). Call it on the event loop;
// Fabric.ReadCounters works from anywhere.
func (c *Counters) Snapshot() Counters {
	s := *c
	if c.ext != nil {
		e := *c.ext
		if e.optional != nil {
			o := *e.optional
			e.optional = &o
		}
		s.ext = &e
	}
	return s
}

// ReadCounters returns a consistent copy of port p's counters, taken on
// the event loop (so safe from any goroutine; before Start or on the
// loop it copies at once). It fails with ErrStopped once the fabric has
// stopped.
func (f *Fabric) ReadCounters(p *Port) (Counters, error) {
	var c Counters
	err := f.Do(func() { c = p.Counters.Snapshot() })
	return c, err
}
