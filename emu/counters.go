package emu

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

	// ext holds the detail and per-SL counters (CounterDetails), out of
	// line so that a Port keeps its size and cache-line layout; allocated
	// on first use.
	ext *CounterDetails
}

// CounterDetails are the counters behind the optional PerfMgt
// attributes: the causes of receive errors and transmit discards, and
// the data per service level. They belong to the event loop, like
// Counters.
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
}

// Details returns the port's detail and per-SL counters, allocating them
// on first use. Call it on the event loop.
func (c *Counters) Details() *CounterDetails {
	if c.ext == nil {
		c.ext = new(CounterDetails)
	}
	return c.ext
}

// CountXmitDataSL adds words (32-bit words) to the PortXmitDataSL counter
// of sl (its low 4 bits): the packet path's one extra add per frame sent.
// Call it on the event loop.
func (c *Counters) CountXmitDataSL(sl uint8, words uint64) {
	c.Details().XmitDataSL[sl&0x0F].Add(words)
}

// CountRcvDataSL is CountXmitDataSL for PortRcvDataSL.
func (c *Counters) CountRcvDataSL(sl uint8, words uint64) {
	c.Details().RcvDataSL[sl&0x0F].Add(words)
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

// Reset sets every counter to zero. Call it on the event loop.
func (c *Counters) Reset() { *c = Counters{} }

// Snapshot returns a copy of the counters, all taken at one instant,
// the details included (a copy of its own, which the port's further
// counting leaves alone). Call it on the event loop;
// Fabric.ReadCounters works from anywhere.
func (c *Counters) Snapshot() Counters {
	s := *c
	if c.ext != nil {
		e := *c.ext
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
