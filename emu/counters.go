package emu

import "sync/atomic"

// Counters are a port's traffic and error counters, kept at full 64-bit
// width. A device's performance management agent reads them and saturates
// each into the width of its PortCounters field; PortCountersExtended shows
// them whole. They are atomic: safe to read from any goroutine.
type Counters struct {
	XmitData    atomic.Uint64 // octets transmitted, divided by 4 (IBTA PortXmitData)
	RcvData     atomic.Uint64 // octets received, divided by 4
	XmitPkts    atomic.Uint64
	RcvPkts     atomic.Uint64
	UnicastXmit atomic.Uint64
	UnicastRcv  atomic.Uint64
	McastXmit   atomic.Uint64
	McastRcv    atomic.Uint64

	SymbolErrors         atomic.Uint64
	LinkErrorRecovery    atomic.Uint64
	LinkDowned           atomic.Uint64
	RcvErrors            atomic.Uint64 // bad CRC, bad length, malformed
	RcvRemotePhysErrors  atomic.Uint64
	RcvSwitchRelayErrors atomic.Uint64 // no route (LFT miss, DLID out of range)
	XmitDiscards         atomic.Uint64 // link down, port not active, head-of-queue timeout
	XmitConstraintErrors atomic.Uint64 // outbound P_Key / raw filter
	RcvConstraintErrors  atomic.Uint64 // inbound P_Key / raw filter
	LocalLinkIntegrity   atomic.Uint64
	ExcessiveBufOverrun  atomic.Uint64
	VL15Dropped          atomic.Uint64
	XmitWait             atomic.Uint64
	PKeyViolations       atomic.Uint64 // PortInfo.P_KeyViolations
	QKeyViolations       atomic.Uint64
	MKeyViolations       atomic.Uint64
}

// Reset sets every counter to zero.
func (c *Counters) Reset() {
	for _, p := range c.all() {
		p.Store(0)
	}
}

func (c *Counters) all() []*atomic.Uint64 {
	return []*atomic.Uint64{&c.XmitData, &c.RcvData, &c.XmitPkts, &c.RcvPkts,
		&c.UnicastXmit, &c.UnicastRcv, &c.McastXmit, &c.McastRcv,
		&c.SymbolErrors, &c.LinkErrorRecovery, &c.LinkDowned, &c.RcvErrors,
		&c.RcvRemotePhysErrors, &c.RcvSwitchRelayErrors, &c.XmitDiscards,
		&c.XmitConstraintErrors, &c.RcvConstraintErrors, &c.LocalLinkIntegrity,
		&c.ExcessiveBufOverrun, &c.VL15Dropped, &c.XmitWait,
		&c.PKeyViolations, &c.QKeyViolations, &c.MKeyViolations}
}
