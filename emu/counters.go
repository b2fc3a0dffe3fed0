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
}

// Reset sets every counter to zero. Call it on the event loop.
func (c *Counters) Reset() { *c = Counters{} }

// Snapshot returns a copy of the counters, all taken at one instant.
// Call it on the event loop; Fabric.ReadCounters works from anywhere.
func (c *Counters) Snapshot() Counters { return *c }

// ReadCounters returns a consistent copy of port p's counters, taken on
// the event loop (so safe from any goroutine; before Start or on the
// loop it copies at once). It fails with ErrStopped once the fabric has
// stopped.
func (f *Fabric) ReadCounters(p *Port) (Counters, error) {
	var c Counters
	err := f.Do(func() { c = p.Counters })
	return c, err
}
