package wire

import "math"

// Performance management (IBTA Vol 1 §16.1): class 0x04, class version
// 1. A PerfMgt MAD carries 40 reserved bytes after the common header and
// its attribute at byte 64.
//
//	+-------------------------------+  0
//	| common MAD header (24)        |
//	+-------------------------------+  24
//	| reserved (40)                 |
//	+-------------------------------+  64
//	| attribute data (192)          |
//	+-------------------------------+  256

// PerfMgt layout.
const (
	PMADataOffset   = 64
	PMADataSize     = MADSize - PMADataOffset // 192
	PMAClassVersion = 1
	// PMAAllPorts is the PortSelect value meaning "all ports" (switches
	// that advertise PerfCapAllPortSelect).
	PMAAllPorts = 0xFF
)

// PerfMgt ClassPortInfo.CapabilityMask bits (IBTA Vol 1 §16.1.2; the
// names perfquery uses).
const (
	PerfCapAllPortSelect          = 1 << 8
	PerfCapExtendedWidth          = 1 << 9 // PortCountersExtended supported
	PerfCapExtendedWidthNoIETF    = 1 << 10
	PerfCapSamplesOnly            = 1 << 11
	PerfCapPortXmitWait           = 1 << 12
	PerfCapInhLmtdPKeyMcConstrErr = 1 << 13
	PerfCapRSFECCounters          = 1 << 14
	PerfCapQP1Dropped             = 1 << 15
)

// PerfMAD is a whole performance management MAD (IBTA Vol 1 §16.1.1).
type PerfMAD []byte

// IsValid reports whether m holds a whole MAD.
func (m PerfMAD) IsValid() bool { return len(m) >= MADSize }

// MAD returns the common-header view.
func (m PerfMAD) MAD() MAD { return MAD(m) }

// Data returns the 192-byte attribute area at byte 64.
func (m PerfMAD) Data() []byte { return m[PMADataOffset:MADSize] }

// ParsePerfMAD validates b as a PerfMgt MAD: exactly MADSize bytes,
// BaseVersion 1, class 0x04, ClassVersion 1. A bad version comes back as a
// wrapped *MADStatusError together with the view.
func ParsePerfMAD(b []byte) (PerfMAD, error) {
	if err := checkMAD256("perf mad", b, MgmtClassPerf); err != nil {
		if len(b) == MADSize && MAD(b).BaseVersion() != MADBaseVersion {
			return PerfMAD(b), err
		}
		return nil, err
	}
	if err := checkClassVersion("perf mad", MAD(b), PMAClassVersion); err != nil {
		return PerfMAD(b), err
	}
	return PerfMAD(b), nil
}

// saturate returns v, or max when v does not fit (IBTA Vol 1 §16.1.3.5:
// counters stop at all ones).
func saturate(v, max uint64) uint64 {
	if v > max {
		return max
	}
	return v
}

// PortCounters is the PortCounters attribute (IBTA Vol 1 §16.1.3.5),
// AttrID 0x0012, 44 bytes at PMA byte 64. Counters stop at their maximum
// instead of wrapping; every counter setter takes a 64-bit running total
// and saturates it at the field's maximum.
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    reserved   |   PortSelect  |         CounterSelect         |  0
//	+---------------+---------------+---------------+---------------+
//	|       SymbolErrorCounter      |LinkErrRecovery|  LinkDowned   |  4
//	+-------------------------------+---------------+---------------+
//	|         PortRcvErrors         |  PortRcvRemotePhysicalErrors  |  8
//	+-------------------------------+-------------------------------+
//	|    PortRcvSwitchRelayErrors   |        PortXmitDiscards       |  12
//	+---------------+---------------+---------------+-------+-------+
//	|XmitConstraint | RcvConstraint | CounterSelect2|LLInteg|ExcBufO|  16
//	+---------------+---------------+---------------+-------+-------+
//	|           QP1Dropped          |          VL15Dropped          |  20
//	+-------------------------------+-------------------------------+
//	|                          PortXmitData                         |  24
//	+---------------------------------------------------------------+
//	|                          PortRcvData                          |  28
//	+---------------------------------------------------------------+
//	|                          PortXmitPkts                         |  32
//	+---------------------------------------------------------------+
//	|                          PortRcvPkts                          |  36
//	+---------------------------------------------------------------+
//	|                          PortXmitWait                         |  40
//	+---------------------------------------------------------------+
//
// LLInteg is LocalLinkIntegrityErrors and ExcBufO
// ExcessiveBufferOverrunErrors (4 bits each). PortXmitData and PortRcvData
// count 32-bit words. QP1Dropped was reserved before IBTA 1.3.
type PortCounters []byte

// PortCountersSize is the size of the PortCounters attribute.
const PortCountersSize = 44

const (
	pcPortSelect       = 1
	pcCounterSelect    = 2
	pcSymbolErrors     = 4
	pcLinkErrRecovery  = 6
	pcLinkDowned       = 7
	pcRcvErrors        = 8
	pcRcvRemotePhys    = 10
	pcRcvSwitchRelay   = 12
	pcXmitDiscards     = 14
	pcXmitConstraint   = 16
	pcRcvConstraint    = 17
	pcCounterSelect2   = 18
	pcLinkIntegOverrun = 19 // LocalLinkIntegrityErrors(7:4) ExcessiveBufferOverrunErrors(3:0)
	pcQP1Dropped       = 20
	pcVL15Dropped      = 22
	pcXmitData         = 24
	pcRcvData          = 28
	pcXmitPkts         = 32
	pcRcvPkts          = 36
	pcXmitWait         = 40
)

// PortCounters.CounterSelect bits: which counters a Set clears (IBTA Vol
// 1 §16.1.3.5).
const (
	CounterSelectSymbolErrors                 = 1 << 0
	CounterSelectLinkErrorRecovery            = 1 << 1
	CounterSelectLinkDowned                   = 1 << 2
	CounterSelectPortRcvErrors                = 1 << 3
	CounterSelectPortRcvRemotePhysicalErrors  = 1 << 4
	CounterSelectPortRcvSwitchRelayErrors     = 1 << 5
	CounterSelectPortXmitDiscards             = 1 << 6
	CounterSelectPortXmitConstraintErrors     = 1 << 7
	CounterSelectPortRcvConstraintErrors      = 1 << 8
	CounterSelectLocalLinkIntegrityErrors     = 1 << 9
	CounterSelectExcessiveBufferOverrunErrors = 1 << 10
	CounterSelectVL15Dropped                  = 1 << 11
	CounterSelectPortXmitData                 = 1 << 12
	CounterSelectPortRcvData                  = 1 << 13
	CounterSelectPortXmitPkts                 = 1 << 14
	CounterSelectPortRcvPkts                  = 1 << 15

	// CounterSelect2PortXmitWait is bit 0 of CounterSelect2.
	CounterSelect2PortXmitWait = 1 << 0
)

// PortCountersFields holds every PortCounters field for Encode.
type PortCountersFields struct {
	PortSelect                   uint8
	CounterSelect                uint16
	SymbolErrorCounter           uint16
	LinkErrorRecoveryCounter     uint8
	LinkDownedCounter            uint8
	PortRcvErrors                uint16
	PortRcvRemotePhysicalErrors  uint16
	PortRcvSwitchRelayErrors     uint16
	PortXmitDiscards             uint16
	PortXmitConstraintErrors     uint8
	PortRcvConstraintErrors      uint8
	CounterSelect2               uint8
	LocalLinkIntegrityErrors     uint8 // 4 bits
	ExcessiveBufferOverrunErrors uint8 // 4 bits
	QP1Dropped                   uint16
	VL15Dropped                  uint16
	PortXmitData                 uint32 // 32-bit words
	PortRcvData                  uint32 // 32-bit words
	PortXmitPkts                 uint32
	PortRcvPkts                  uint32
	PortXmitWait                 uint32
}

// IsValid reports whether c holds a whole PortCounters.
func (c PortCounters) IsValid() bool { return len(c) >= PortCountersSize }

// PortSelect returns PortSelect.
func (c PortCounters) PortSelect() uint8 { return c[pcPortSelect] }

// CounterSelect returns CounterSelect.
func (c PortCounters) CounterSelect() uint16 { return mfU16(c, pcCounterSelect) }

// SymbolErrorCounter returns SymbolErrorCounter.
func (c PortCounters) SymbolErrorCounter() uint16 { return mfU16(c, pcSymbolErrors) }

// LinkErrorRecoveryCounter returns LinkErrorRecoveryCounter.
func (c PortCounters) LinkErrorRecoveryCounter() uint8 { return c[pcLinkErrRecovery] }

// LinkDownedCounter returns LinkDownedCounter.
func (c PortCounters) LinkDownedCounter() uint8 { return c[pcLinkDowned] }

// PortRcvErrors returns PortRcvErrors.
func (c PortCounters) PortRcvErrors() uint16 { return mfU16(c, pcRcvErrors) }

// PortRcvRemotePhysicalErrors returns PortRcvRemotePhysicalErrors.
func (c PortCounters) PortRcvRemotePhysicalErrors() uint16 { return mfU16(c, pcRcvRemotePhys) }

// PortRcvSwitchRelayErrors returns PortRcvSwitchRelayErrors.
func (c PortCounters) PortRcvSwitchRelayErrors() uint16 { return mfU16(c, pcRcvSwitchRelay) }

// PortXmitDiscards returns PortXmitDiscards.
func (c PortCounters) PortXmitDiscards() uint16 { return mfU16(c, pcXmitDiscards) }

// PortXmitConstraintErrors returns PortXmitConstraintErrors.
func (c PortCounters) PortXmitConstraintErrors() uint8 { return c[pcXmitConstraint] }

// PortRcvConstraintErrors returns PortRcvConstraintErrors.
func (c PortCounters) PortRcvConstraintErrors() uint8 { return c[pcRcvConstraint] }

// CounterSelect2 returns CounterSelect2.
func (c PortCounters) CounterSelect2() uint8 { return c[pcCounterSelect2] }

// LocalLinkIntegrityErrors returns the 4-bit LocalLinkIntegrityErrors.
func (c PortCounters) LocalLinkIntegrityErrors() uint8 { return mfGet(c[pcLinkIntegOverrun], 4, 4) }

// ExcessiveBufferOverrunErrors returns the 4-bit ExcessiveBufferOverrunErrors.
func (c PortCounters) ExcessiveBufferOverrunErrors() uint8 {
	return mfGet(c[pcLinkIntegOverrun], 0, 4)
}

// QP1Dropped returns QP1Dropped.
func (c PortCounters) QP1Dropped() uint16 { return mfU16(c, pcQP1Dropped) }

// VL15Dropped returns VL15Dropped.
func (c PortCounters) VL15Dropped() uint16 { return mfU16(c, pcVL15Dropped) }

// PortXmitData returns PortXmitData (32-bit words).
func (c PortCounters) PortXmitData() uint32 { return mfU32(c, pcXmitData) }

// PortRcvData returns PortRcvData (32-bit words).
func (c PortCounters) PortRcvData() uint32 { return mfU32(c, pcRcvData) }

// PortXmitPkts returns PortXmitPkts.
func (c PortCounters) PortXmitPkts() uint32 { return mfU32(c, pcXmitPkts) }

// PortRcvPkts returns PortRcvPkts.
func (c PortCounters) PortRcvPkts() uint32 { return mfU32(c, pcRcvPkts) }

// PortXmitWait returns PortXmitWait.
func (c PortCounters) PortXmitWait() uint32 { return mfU32(c, pcXmitWait) }

// SetPortSelect sets PortSelect.
func (c PortCounters) SetPortSelect(v uint8) { c[pcPortSelect] = v }

// SetCounterSelect sets CounterSelect.
func (c PortCounters) SetCounterSelect(v uint16) { mfPut16(c, pcCounterSelect, v) }

// SetSymbolErrorCounter stores v saturated at 0xFFFF.
func (c PortCounters) SetSymbolErrorCounter(v uint64) {
	mfPut16(c, pcSymbolErrors, uint16(saturate(v, math.MaxUint16)))
}

// SetLinkErrorRecoveryCounter stores v saturated at 0xFF.
func (c PortCounters) SetLinkErrorRecoveryCounter(v uint64) {
	c[pcLinkErrRecovery] = uint8(saturate(v, math.MaxUint8))
}

// SetLinkDownedCounter stores v saturated at 0xFF.
func (c PortCounters) SetLinkDownedCounter(v uint64) {
	c[pcLinkDowned] = uint8(saturate(v, math.MaxUint8))
}

// SetPortRcvErrors stores v saturated at 0xFFFF.
func (c PortCounters) SetPortRcvErrors(v uint64) {
	mfPut16(c, pcRcvErrors, uint16(saturate(v, math.MaxUint16)))
}

// SetPortRcvRemotePhysicalErrors stores v saturated at 0xFFFF.
func (c PortCounters) SetPortRcvRemotePhysicalErrors(v uint64) {
	mfPut16(c, pcRcvRemotePhys, uint16(saturate(v, math.MaxUint16)))
}

// SetPortRcvSwitchRelayErrors stores v saturated at 0xFFFF.
func (c PortCounters) SetPortRcvSwitchRelayErrors(v uint64) {
	mfPut16(c, pcRcvSwitchRelay, uint16(saturate(v, math.MaxUint16)))
}

// SetPortXmitDiscards stores v saturated at 0xFFFF.
func (c PortCounters) SetPortXmitDiscards(v uint64) {
	mfPut16(c, pcXmitDiscards, uint16(saturate(v, math.MaxUint16)))
}

// SetPortXmitConstraintErrors stores v saturated at 0xFF.
func (c PortCounters) SetPortXmitConstraintErrors(v uint64) {
	c[pcXmitConstraint] = uint8(saturate(v, math.MaxUint8))
}

// SetPortRcvConstraintErrors stores v saturated at 0xFF.
func (c PortCounters) SetPortRcvConstraintErrors(v uint64) {
	c[pcRcvConstraint] = uint8(saturate(v, math.MaxUint8))
}

// SetCounterSelect2 sets CounterSelect2.
func (c PortCounters) SetCounterSelect2(v uint8) { c[pcCounterSelect2] = v }

// SetLocalLinkIntegrityErrors stores v saturated at 0xF.
func (c PortCounters) SetLocalLinkIntegrityErrors(v uint64) {
	mfSet(&c[pcLinkIntegOverrun], 4, 4, uint8(saturate(v, 0xF)))
}

// SetExcessiveBufferOverrunErrors stores v saturated at 0xF.
func (c PortCounters) SetExcessiveBufferOverrunErrors(v uint64) {
	mfSet(&c[pcLinkIntegOverrun], 0, 4, uint8(saturate(v, 0xF)))
}

// SetQP1Dropped stores v saturated at 0xFFFF.
func (c PortCounters) SetQP1Dropped(v uint64) {
	mfPut16(c, pcQP1Dropped, uint16(saturate(v, math.MaxUint16)))
}

// SetVL15Dropped stores v saturated at 0xFFFF.
func (c PortCounters) SetVL15Dropped(v uint64) {
	mfPut16(c, pcVL15Dropped, uint16(saturate(v, math.MaxUint16)))
}

// SetPortXmitData stores v (32-bit words) saturated at 0xFFFFFFFF.
func (c PortCounters) SetPortXmitData(v uint64) {
	mfPut32(c, pcXmitData, uint32(saturate(v, math.MaxUint32)))
}

// SetPortRcvData stores v (32-bit words) saturated at 0xFFFFFFFF.
func (c PortCounters) SetPortRcvData(v uint64) {
	mfPut32(c, pcRcvData, uint32(saturate(v, math.MaxUint32)))
}

// SetPortXmitPkts stores v saturated at 0xFFFFFFFF.
func (c PortCounters) SetPortXmitPkts(v uint64) {
	mfPut32(c, pcXmitPkts, uint32(saturate(v, math.MaxUint32)))
}

// SetPortRcvPkts stores v saturated at 0xFFFFFFFF.
func (c PortCounters) SetPortRcvPkts(v uint64) {
	mfPut32(c, pcRcvPkts, uint32(saturate(v, math.MaxUint32)))
}

// SetPortXmitWait stores v saturated at 0xFFFFFFFF.
func (c PortCounters) SetPortXmitWait(v uint64) {
	mfPut32(c, pcXmitWait, uint32(saturate(v, math.MaxUint32)))
}

// Encode writes every field of f into c and zeroes the reserved byte.
func (c PortCounters) Encode(f *PortCountersFields) {
	c[0] = 0
	c.SetPortSelect(f.PortSelect)
	c.SetCounterSelect(f.CounterSelect)
	c.SetSymbolErrorCounter(uint64(f.SymbolErrorCounter))
	c.SetLinkErrorRecoveryCounter(uint64(f.LinkErrorRecoveryCounter))
	c.SetLinkDownedCounter(uint64(f.LinkDownedCounter))
	c.SetPortRcvErrors(uint64(f.PortRcvErrors))
	c.SetPortRcvRemotePhysicalErrors(uint64(f.PortRcvRemotePhysicalErrors))
	c.SetPortRcvSwitchRelayErrors(uint64(f.PortRcvSwitchRelayErrors))
	c.SetPortXmitDiscards(uint64(f.PortXmitDiscards))
	c.SetPortXmitConstraintErrors(uint64(f.PortXmitConstraintErrors))
	c.SetPortRcvConstraintErrors(uint64(f.PortRcvConstraintErrors))
	c.SetCounterSelect2(f.CounterSelect2)
	c.SetLocalLinkIntegrityErrors(uint64(f.LocalLinkIntegrityErrors))
	c.SetExcessiveBufferOverrunErrors(uint64(f.ExcessiveBufferOverrunErrors))
	c.SetQP1Dropped(uint64(f.QP1Dropped))
	c.SetVL15Dropped(uint64(f.VL15Dropped))
	c.SetPortXmitData(uint64(f.PortXmitData))
	c.SetPortRcvData(uint64(f.PortRcvData))
	c.SetPortXmitPkts(uint64(f.PortXmitPkts))
	c.SetPortRcvPkts(uint64(f.PortRcvPkts))
	c.SetPortXmitWait(uint64(f.PortXmitWait))
}

// Fields decodes every field of c.
func (c PortCounters) Fields() PortCountersFields {
	return PortCountersFields{
		PortSelect:                   c.PortSelect(),
		CounterSelect:                c.CounterSelect(),
		SymbolErrorCounter:           c.SymbolErrorCounter(),
		LinkErrorRecoveryCounter:     c.LinkErrorRecoveryCounter(),
		LinkDownedCounter:            c.LinkDownedCounter(),
		PortRcvErrors:                c.PortRcvErrors(),
		PortRcvRemotePhysicalErrors:  c.PortRcvRemotePhysicalErrors(),
		PortRcvSwitchRelayErrors:     c.PortRcvSwitchRelayErrors(),
		PortXmitDiscards:             c.PortXmitDiscards(),
		PortXmitConstraintErrors:     c.PortXmitConstraintErrors(),
		PortRcvConstraintErrors:      c.PortRcvConstraintErrors(),
		CounterSelect2:               c.CounterSelect2(),
		LocalLinkIntegrityErrors:     c.LocalLinkIntegrityErrors(),
		ExcessiveBufferOverrunErrors: c.ExcessiveBufferOverrunErrors(),
		QP1Dropped:                   c.QP1Dropped(),
		VL15Dropped:                  c.VL15Dropped(),
		PortXmitData:                 c.PortXmitData(),
		PortRcvData:                  c.PortRcvData(),
		PortXmitPkts:                 c.PortXmitPkts(),
		PortRcvPkts:                  c.PortRcvPkts(),
		PortXmitWait:                 c.PortXmitWait(),
	}
}

// ParsePortCounters returns the PortCounters view over the first
// PortCountersSize bytes of b (the PMA data area).
//
// Equivalent to: `perfquery <lid> <port>`.
func ParsePortCounters(b []byte) (PortCounters, error) {
	if err := mfCheckLen("portcounters", b, PortCountersSize); err != nil {
		return nil, err
	}
	return PortCounters(b[:PortCountersSize]), nil
}

// PortCountersExtended is the PortCountersExtended attribute (IBTA Vol 1
// §16.1.4.11), AttrID 0x001D: 64-bit counters that do not saturate in
// practice. The first 72 bytes are the classic layout; the error counters
// from byte 72 on were added by IBTA 1.3 and are valid only when the
// PMA advertises them (IsExtendedWidthSupported / ClassPortInfo
// CapabilityMask2).
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    reserved   |   PortSelect  |         CounterSelect         |  0
//	+---------------+---------------+-------------------------------+
//	|                         CounterSelect2                        |  4
//	+---------------------------------------------------------------+
//	|  PortXmitData, PortRcvData, PortXmitPkts, PortRcvPkts,        |  8
//	|  PortUnicastXmitPkts, PortUnicastRcvPkts,                     |
//	|  PortMulticastXmitPkts, PortMulticastRcvPkts (64 bits each)   |
//	+---------------------------------------------------------------+
//	|  SymbolErrorCounter, LinkErrorRecoveryCounter,                |  72
//	|  LinkDownedCounter, PortRcvErrors, PortRcvRemotePhysicalErrors|
//	|  PortRcvSwitchRelayErrors, PortXmitDiscards,                  |
//	|  PortXmitConstraintErrors, PortRcvConstraintErrors,           |
//	|  LocalLinkIntegrityErrors, ExcessiveBufferOverrunErrors,      |
//	|  VL15Dropped, PortXmitWait, QP1Dropped (64 bits each)         |
//	+---------------------------------------------------------------+  184
type PortCountersExtended []byte

// PortCountersExtended sizes.
const (
	// PortCountersExtendedSize is the whole attribute, 1.3 counters
	// included (22 counters of 8 bytes after an 8-byte header).
	PortCountersExtendedSize = 184
	// PortCountersExtendedBaseSize is the classic 72-byte part.
	PortCountersExtendedBaseSize = 72
)

// PortCountersExtended.CounterSelect bits (IBTA Vol 1 §16.1.4.11).
const (
	ExtCounterSelectPortXmitData          = 1 << 0
	ExtCounterSelectPortRcvData           = 1 << 1
	ExtCounterSelectPortXmitPkts          = 1 << 2
	ExtCounterSelectPortRcvPkts           = 1 << 3
	ExtCounterSelectPortUnicastXmitPkts   = 1 << 4
	ExtCounterSelectPortUnicastRcvPkts    = 1 << 5
	ExtCounterSelectPortMulticastXmitPkts = 1 << 6
	ExtCounterSelectPortMulticastRcvPkts  = 1 << 7
)

// PortCountersExtendedCounter names the 64-bit counters by index, in wire
// order from byte 8 (index i is at byte 8+8i).
type PortCountersExtendedCounter int

// Extended counters in wire order.
const (
	ExtPortXmitData PortCountersExtendedCounter = iota
	ExtPortRcvData
	ExtPortXmitPkts
	ExtPortRcvPkts
	ExtPortUnicastXmitPkts
	ExtPortUnicastRcvPkts
	ExtPortMulticastXmitPkts
	ExtPortMulticastRcvPkts
	ExtSymbolErrorCounter
	ExtLinkErrorRecoveryCounter
	ExtLinkDownedCounter
	ExtPortRcvErrors
	ExtPortRcvRemotePhysicalErrors
	ExtPortRcvSwitchRelayErrors
	ExtPortXmitDiscards
	ExtPortXmitConstraintErrors
	ExtPortRcvConstraintErrors
	ExtLocalLinkIntegrityErrors
	ExtExcessiveBufferOverrunErrors
	ExtVL15Dropped
	ExtPortXmitWait
	ExtQP1Dropped
	numExtCounters
)

// PortCountersExtendedFields holds every PortCountersExtended field for
// Encode.
type PortCountersExtendedFields struct {
	PortSelect                   uint8
	CounterSelect                uint16
	CounterSelect2               uint32
	PortXmitData                 uint64 // 32-bit words
	PortRcvData                  uint64 // 32-bit words
	PortXmitPkts                 uint64
	PortRcvPkts                  uint64
	PortUnicastXmitPkts          uint64
	PortUnicastRcvPkts           uint64
	PortMulticastXmitPkts        uint64
	PortMulticastRcvPkts         uint64
	SymbolErrorCounter           uint64
	LinkErrorRecoveryCounter     uint64
	LinkDownedCounter            uint64
	PortRcvErrors                uint64
	PortRcvRemotePhysicalErrors  uint64
	PortRcvSwitchRelayErrors     uint64
	PortXmitDiscards             uint64
	PortXmitConstraintErrors     uint64
	PortRcvConstraintErrors      uint64
	LocalLinkIntegrityErrors     uint64
	ExcessiveBufferOverrunErrors uint64
	VL15Dropped                  uint64
	PortXmitWait                 uint64
	QP1Dropped                   uint64
}

// IsValid reports whether c holds the whole 184-byte attribute.
func (c PortCountersExtended) IsValid() bool { return len(c) >= PortCountersExtendedSize }

// PortSelect returns PortSelect.
func (c PortCountersExtended) PortSelect() uint8 { return c[1] }

// CounterSelect returns CounterSelect.
func (c PortCountersExtended) CounterSelect() uint16 { return mfU16(c, 2) }

// CounterSelect2 returns CounterSelect2.
func (c PortCountersExtended) CounterSelect2() uint32 { return mfU32(c, 4) }

// Counter returns counter i, or 0 when i is out of range.
func (c PortCountersExtended) Counter(i PortCountersExtendedCounter) uint64 {
	if i < 0 || i >= numExtCounters {
		return 0
	}
	return mfU64(c, 8+8*int(i))
}

// SetPortSelect sets PortSelect.
func (c PortCountersExtended) SetPortSelect(v uint8) { c[1] = v }

// SetCounterSelect sets CounterSelect.
func (c PortCountersExtended) SetCounterSelect(v uint16) { mfPut16(c, 2, v) }

// SetCounterSelect2 sets CounterSelect2.
func (c PortCountersExtended) SetCounterSelect2(v uint32) { mfPut32(c, 4, v) }

// SetCounter sets counter i; i out of range is ignored.
func (c PortCountersExtended) SetCounter(i PortCountersExtendedCounter, v uint64) {
	if i >= 0 && i < numExtCounters {
		mfPut64(c, 8+8*int(i), v)
	}
}

// PortXmitData returns PortXmitData (32-bit words).
func (c PortCountersExtended) PortXmitData() uint64 { return c.Counter(ExtPortXmitData) }

// PortRcvData returns PortRcvData (32-bit words).
func (c PortCountersExtended) PortRcvData() uint64 { return c.Counter(ExtPortRcvData) }

// PortXmitPkts returns PortXmitPkts.
func (c PortCountersExtended) PortXmitPkts() uint64 { return c.Counter(ExtPortXmitPkts) }

// PortRcvPkts returns PortRcvPkts.
func (c PortCountersExtended) PortRcvPkts() uint64 { return c.Counter(ExtPortRcvPkts) }

// PortUnicastXmitPkts returns PortUnicastXmitPkts.
func (c PortCountersExtended) PortUnicastXmitPkts() uint64 {
	return c.Counter(ExtPortUnicastXmitPkts)
}

// PortUnicastRcvPkts returns PortUnicastRcvPkts.
func (c PortCountersExtended) PortUnicastRcvPkts() uint64 { return c.Counter(ExtPortUnicastRcvPkts) }

// PortMulticastXmitPkts returns PortMulticastXmitPkts.
func (c PortCountersExtended) PortMulticastXmitPkts() uint64 {
	return c.Counter(ExtPortMulticastXmitPkts)
}

// PortMulticastRcvPkts returns PortMulticastRcvPkts.
func (c PortCountersExtended) PortMulticastRcvPkts() uint64 {
	return c.Counter(ExtPortMulticastRcvPkts)
}

// Encode writes every field of f into c and zeroes the reserved byte.
func (c PortCountersExtended) Encode(f *PortCountersExtendedFields) {
	c[0] = 0
	c.SetPortSelect(f.PortSelect)
	c.SetCounterSelect(f.CounterSelect)
	c.SetCounterSelect2(f.CounterSelect2)
	for i, v := range f.counters() {
		c.SetCounter(PortCountersExtendedCounter(i), v)
	}
}

func (f *PortCountersExtendedFields) counters() [numExtCounters]uint64 {
	return [numExtCounters]uint64{
		f.PortXmitData, f.PortRcvData, f.PortXmitPkts, f.PortRcvPkts,
		f.PortUnicastXmitPkts, f.PortUnicastRcvPkts, f.PortMulticastXmitPkts, f.PortMulticastRcvPkts,
		f.SymbolErrorCounter, f.LinkErrorRecoveryCounter, f.LinkDownedCounter, f.PortRcvErrors,
		f.PortRcvRemotePhysicalErrors, f.PortRcvSwitchRelayErrors, f.PortXmitDiscards,
		f.PortXmitConstraintErrors, f.PortRcvConstraintErrors, f.LocalLinkIntegrityErrors,
		f.ExcessiveBufferOverrunErrors, f.VL15Dropped, f.PortXmitWait, f.QP1Dropped,
	}
}

// Fields decodes every field of c.
func (c PortCountersExtended) Fields() PortCountersExtendedFields {
	v := func(i PortCountersExtendedCounter) uint64 { return c.Counter(i) }
	return PortCountersExtendedFields{
		PortSelect:                   c.PortSelect(),
		CounterSelect:                c.CounterSelect(),
		CounterSelect2:               c.CounterSelect2(),
		PortXmitData:                 v(ExtPortXmitData),
		PortRcvData:                  v(ExtPortRcvData),
		PortXmitPkts:                 v(ExtPortXmitPkts),
		PortRcvPkts:                  v(ExtPortRcvPkts),
		PortUnicastXmitPkts:          v(ExtPortUnicastXmitPkts),
		PortUnicastRcvPkts:           v(ExtPortUnicastRcvPkts),
		PortMulticastXmitPkts:        v(ExtPortMulticastXmitPkts),
		PortMulticastRcvPkts:         v(ExtPortMulticastRcvPkts),
		SymbolErrorCounter:           v(ExtSymbolErrorCounter),
		LinkErrorRecoveryCounter:     v(ExtLinkErrorRecoveryCounter),
		LinkDownedCounter:            v(ExtLinkDownedCounter),
		PortRcvErrors:                v(ExtPortRcvErrors),
		PortRcvRemotePhysicalErrors:  v(ExtPortRcvRemotePhysicalErrors),
		PortRcvSwitchRelayErrors:     v(ExtPortRcvSwitchRelayErrors),
		PortXmitDiscards:             v(ExtPortXmitDiscards),
		PortXmitConstraintErrors:     v(ExtPortXmitConstraintErrors),
		PortRcvConstraintErrors:      v(ExtPortRcvConstraintErrors),
		LocalLinkIntegrityErrors:     v(ExtLocalLinkIntegrityErrors),
		ExcessiveBufferOverrunErrors: v(ExtExcessiveBufferOverrunErrors),
		VL15Dropped:                  v(ExtVL15Dropped),
		PortXmitWait:                 v(ExtPortXmitWait),
		QP1Dropped:                   v(ExtQP1Dropped),
	}
}

// ParsePortCountersExtended returns the view over the first
// PortCountersExtendedSize bytes of b (the PMA data area).
//
// Equivalent to: `perfquery -x <lid> <port>`.
func ParsePortCountersExtended(b []byte) (PortCountersExtended, error) {
	if err := mfCheckLen("portcountersextended", b, PortCountersExtendedSize); err != nil {
		return nil, err
	}
	return PortCountersExtended(b[:PortCountersExtendedSize]), nil
}
