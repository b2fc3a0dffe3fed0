package agent

import (
	"github.com/ibemu/ibemu/emu"
)

// pcCounter is one PortCounters field: its emu counter, its width in bits
// and its CounterSelect bit (IBTA Vol 1 §16.1.3.5, Table 224; bit 16
// stands for CounterSelect2 bit 0, PortXmitWait).
type pcCounter struct {
	name string
	get  func(c *emu.Counters) *emu.Counter
	bits uint
}

// The PortCounters fields in CounterSelect bit order.
var pcCounters = [...]pcCounter{
	{"SymbolErrorCounter", func(c *emu.Counters) *emu.Counter { return &c.SymbolErrors }, 16},
	{"LinkErrorRecoveryCounter", func(c *emu.Counters) *emu.Counter { return &c.LinkErrorRecovery }, 8},
	{"LinkDownedCounter", func(c *emu.Counters) *emu.Counter { return &c.LinkDowned }, 8},
	{"PortRcvErrors", func(c *emu.Counters) *emu.Counter { return &c.RcvErrors }, 16},
	{"PortRcvRemotePhysicalErrors", func(c *emu.Counters) *emu.Counter { return &c.RcvRemotePhysErrors }, 16},
	{"PortRcvSwitchRelayErrors", func(c *emu.Counters) *emu.Counter { return &c.RcvSwitchRelayErrors }, 16},
	{"PortXmitDiscards", func(c *emu.Counters) *emu.Counter { return &c.XmitDiscards }, 16},
	{"PortXmitConstraintErrors", func(c *emu.Counters) *emu.Counter { return &c.XmitConstraintErrors }, 8},
	{"PortRcvConstraintErrors", func(c *emu.Counters) *emu.Counter { return &c.RcvConstraintErrors }, 8},
	{"LocalLinkIntegrityErrors", func(c *emu.Counters) *emu.Counter { return &c.LocalLinkIntegrity }, 4},
	{"ExcessiveBufferOverrunErrors", func(c *emu.Counters) *emu.Counter { return &c.ExcessiveBufOverrun }, 4},
	{"VL15Dropped", func(c *emu.Counters) *emu.Counter { return &c.VL15Dropped }, 16},
	{"PortXmitData", func(c *emu.Counters) *emu.Counter { return &c.XmitData }, 32},
	{"PortRcvData", func(c *emu.Counters) *emu.Counter { return &c.RcvData }, 32},
	{"PortXmitPkts", func(c *emu.Counters) *emu.Counter { return &c.XmitPkts }, 32},
	{"PortRcvPkts", func(c *emu.Counters) *emu.Counter { return &c.RcvPkts }, 32},
	{"PortXmitWait", func(c *emu.Counters) *emu.Counter { return &c.XmitWait }, 32},
}

const numPCCounters = len(pcCounters)

// The PortCountersExtended fields in CounterSelect bit order (IBTA Vol 1
// §16.1.4.8, Table 240): all 64 bits wide.
var extCounters = [...]pcCounter{
	{"PortXmitData", func(c *emu.Counters) *emu.Counter { return &c.XmitData }, 64},
	{"PortRcvData", func(c *emu.Counters) *emu.Counter { return &c.RcvData }, 64},
	{"PortXmitPkts", func(c *emu.Counters) *emu.Counter { return &c.XmitPkts }, 64},
	{"PortRcvPkts", func(c *emu.Counters) *emu.Counter { return &c.RcvPkts }, 64},
	{"PortUnicastXmitPkts", func(c *emu.Counters) *emu.Counter { return &c.UnicastXmit }, 64},
	{"PortUnicastRcvPkts", func(c *emu.Counters) *emu.Counter { return &c.UnicastRcv }, 64},
	{"PortMulticastXmitPkts", func(c *emu.Counters) *emu.Counter { return &c.McastXmit }, 64},
	{"PortMulticastRcvPkts", func(c *emu.Counters) *emu.Counter { return &c.McastRcv }, 64},
}

const numExtCounters = len(extCounters)

// readPC returns the PortCounters values of ports summed (saturating at 64
// bits) since their baselines, and clears the selected ones first when
// clear is non-zero (bit i for field i).
func (a *PMA) readPC(ports []*emu.Port, clear uint32) (v [numPCCounters]uint64) {
	for _, p := range ports {
		b := a.base(p)
		for i, c := range pcCounters {
			cur := c.get(&p.Counters).Load()
			if clear&(1<<i) != 0 {
				b.pc[i] = cur
			}
			v[i] = addSat(v[i], since(cur, &b.pc[i]))
		}
	}
	for i, c := range pcCounters {
		v[i] = satN(v[i], c.bits)
	}
	return v
}

// readExt is readPC for PortCountersExtended.
func (a *PMA) readExt(ports []*emu.Port, clear uint32) (v [numExtCounters]uint64) {
	for _, p := range ports {
		b := a.base(p)
		for i, c := range extCounters {
			cur := c.get(&p.Counters).Load()
			if clear&(1<<i) != 0 {
				b.ext[i] = cur
			}
			v[i] = addSat(v[i], since(cur, &b.ext[i]))
		}
	}
	return v
}
