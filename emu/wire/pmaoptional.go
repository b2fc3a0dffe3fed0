package wire

import (
	"fmt"
	"math"
)

// Optional PerfMgt attributes (IBTA Vol 1 §16.1.3 and §16.1.4): the
// error details, the per-SL data counters and port sampling.

// PMACounterArray is the layout the optional PerfMgt counter attributes
// share: a reserved byte, PortSelect, a 16-bit CounterSelect (bit i
// selects counter i for a Set, which clears it), then N counters of the
// same width, from byte 4, packed most significant first.
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    reserved   |   PortSelect  |         CounterSelect         |  0
//	+---------------+---------------+-------------------------------+
//	|  counter 0, counter 1, ... (Width bits each)                  |  4
//	+---------------------------------------------------------------+
//
// The attributes using it (PMACounterLayout values):
//
//   - PortRcvErrorDetails (0x0015, IBTA Vol 1 §16.1.4.1): 6 counters of 16
//     bits: PortLocalPhysicalErrors, PortMalformedPacketErrors,
//     PortBufferOverrunErrors, PortDLIDMappingErrors, PortVLMappingErrors,
//     PortLoopingErrors.
//   - PortXmitDiscardDetails (0x0016, IBTA Vol 1 §16.1.4.2): 4 counters of
//     16 bits: PortInactiveDiscards, PortNeighborMTUDiscards,
//     PortSwLifetimeLimitDiscards, PortSwHOQLifetimeLimitDiscards.
//   - PortXmitDataSL and PortRcvDataSL (0x0036, 0x0037, IBTA Vol 1
//     §16.1.4.12-13): 16 counters of 32 bits, the data (32-bit words)
//     sent/received on SL 0..15; CounterSelect bit i selects SL i.
//   - PortOpRcvCounters (0x0017, IBTA Vol 1 §16.1.4.3): byte 0 is the
//     OpCode counted; 2 counters of 32 bits, PortOpRcvPkts and
//     PortOpRcvData (32-bit words) of the packets received with it.
//   - PortFlowCtlCounters (0x0018, IBTA Vol 1 §16.1.4.4): 2 counters of 32
//     bits, PortXmitFlowPkts and PortRcvFlowPkts.
//   - PortVLOpPackets and PortVLOpData (0x0019, 0x001A, IBTA Vol 1
//     §16.1.4.5-6): byte 0 is the OpCode counted; 16 counters of 16 and
//     32 bits, the packets and data received with it on VL 0..15.
//   - PortVLXmitFlowCtlUpdateErrors (0x001B, IBTA Vol 1 §16.1.4.7): 16
//     counters of 2 bits, one per VL.
//   - PortVLXmitWaitCounters (0x001C, IBTA Vol 1 §16.1.4.8): 16 counters
//     of 16 bits, PortXmitWait per VL.
//   - SwPortVLCongestion (0x0030, IBTA Vol 1 Annex A10): 16 counters
//     of 16 bits per VL (switches only).
//   - PortRcvConCtrl (0x0031, Annex A10): 2 counters of 32 bits,
//     PortPktRcvFECN and PortPktRcvBECN.
//   - PortSLRcvFECN and PortSLRcvBECN (0x0032, 0x0033, Annex A10): 16
//     counters of 32 bits, the packets received on SL 0..15 with the BTH
//     FECN (BECN) bit set.
//   - PortXmitConCtrl (0x0034, Annex A10): 1 counter of 32 bits,
//     PortXmitTimeCong.
//   - PortVLXmitTimeCong (0x0035, Annex A10): 15 counters of 32 bits, VL
//     0..14.
//
// Counters saturate at their maximum (IBTA Vol 1 §16.1.3.5).
type PMACounterArray []byte

// The PerfMgt attributes of IBTA Vol 1 Annex A10 (congestion control
// counters), which the common attribute list does not name.
const (
	AttrSwPortVLCongestion AttrID = 0x0030
	AttrPortRcvConCtrl     AttrID = 0x0031
	AttrPortSLRcvFECN      AttrID = 0x0032
	AttrPortSLRcvBECN      AttrID = 0x0033
	AttrPortXmitConCtrl    AttrID = 0x0034
	AttrPortVLXmitTimeCong AttrID = 0x0035
)

// PMACounterLayout describes one PMACounterArray attribute: how many
// counters it has, their width in bits (2, 16 or 32), and whether byte 0
// holds the OpCode the counters count.
type PMACounterLayout struct {
	Count  int
	Width  int
	OpCode bool
}

// The layouts of the optional counter attributes.
var (
	LayoutPortRcvErrorDetails           = PMACounterLayout{Count: 6, Width: 16}
	LayoutPortXmitDiscardDetails        = PMACounterLayout{Count: 4, Width: 16}
	LayoutPortDataSL                    = PMACounterLayout{Count: 16, Width: 32}
	LayoutPortOpRcvCounters             = PMACounterLayout{Count: 2, Width: 32, OpCode: true}
	LayoutPortFlowCtlCounters           = PMACounterLayout{Count: 2, Width: 32}
	LayoutPortVLOpPackets               = PMACounterLayout{Count: 16, Width: 16, OpCode: true}
	LayoutPortVLOpData                  = PMACounterLayout{Count: 16, Width: 32, OpCode: true}
	LayoutPortVLXmitFlowCtlUpdateErrors = PMACounterLayout{Count: 16, Width: 2}
	LayoutPortVLXmitWaitCounters        = PMACounterLayout{Count: 16, Width: 16}
	LayoutSwPortVLCongestion            = PMACounterLayout{Count: 16, Width: 16}
	LayoutPortRcvConCtrl                = PMACounterLayout{Count: 2, Width: 32}
	LayoutPortSLRcvECN                  = PMACounterLayout{Count: 16, Width: 32}
	LayoutPortXmitConCtrl               = PMACounterLayout{Count: 1, Width: 32}
	LayoutPortVLXmitTimeCong            = PMACounterLayout{Count: 15, Width: 32}
)

// Counter indices of the two-counter attributes.
const (
	OpRcvPortOpRcvPkts       = 0 // PortOpRcvCounters
	OpRcvPortOpRcvData       = 1
	FlowCtlPortXmitFlowPkts  = 0 // PortFlowCtlCounters
	FlowCtlPortRcvFlowPkts   = 1
	RcvConCtrlPortPktRcvFECN = 0 // PortRcvConCtrl
	RcvConCtrlPortPktRcvBECN = 1
)

// Size returns the attribute size: the 4-byte header and the counters.
func (l PMACounterLayout) Size() int { return 4 + (l.Count*l.Width+7)/8 }

// Max returns the largest value a counter holds.
func (l PMACounterLayout) Max() uint64 {
	if l.Width >= 64 {
		return math.MaxUint64
	}
	return 1<<uint(l.Width) - 1
}

// Counter indices of PortRcvErrorDetails (IBTA Vol 1 §16.1.4.1).
const (
	RcvErrPortLocalPhysicalErrors = iota
	RcvErrPortMalformedPacketErrors
	RcvErrPortBufferOverrunErrors
	RcvErrPortDLIDMappingErrors
	RcvErrPortVLMappingErrors
	RcvErrPortLoopingErrors
)

// Counter indices of PortXmitDiscardDetails (IBTA Vol 1 §16.1.4.2).
const (
	XmitDiscPortInactiveDiscards = iota
	XmitDiscPortNeighborMTUDiscards
	XmitDiscPortSwLifetimeLimitDiscards
	XmitDiscPortSwHOQLifetimeLimitDiscards
)

// ParsePMACounterArray returns the view of layout l over the start of b
// (the PMA data area), or an error when b is too short or l is not a
// layout of 16- or 32-bit counters.
func ParsePMACounterArray(b []byte, l PMACounterLayout) (PMACounterArray, error) {
	if l.Count <= 0 || l.Count > 16 || (l.Width != 2 && l.Width != 16 && l.Width != 32) {
		return nil, fmt.Errorf("wire: pma counter array: unsupported layout %d x %d bits", l.Count, l.Width)
	}
	if err := mfCheckLen("pma counter array", b, l.Size()); err != nil {
		return nil, err
	}
	return PMACounterArray(b[:l.Size()]), nil
}

// OpCode returns byte 0: the OpCode counted, in the layouts that have
// one (PMACounterLayout.OpCode), reserved in the others.
func (a PMACounterArray) OpCode() uint8 { return a[0] }

// SetOpCode sets byte 0 (OpCode).
func (a PMACounterArray) SetOpCode(v uint8) { a[0] = v }

// PortSelect returns PortSelect.
func (a PMACounterArray) PortSelect() uint8 { return a[1] }

// CounterSelect returns CounterSelect.
func (a PMACounterArray) CounterSelect() uint16 { return mfU16(a, 2) }

// SetPortSelect sets PortSelect.
func (a PMACounterArray) SetPortSelect(v uint8) { a[1] = v }

// SetCounterSelect sets CounterSelect.
func (a PMACounterArray) SetCounterSelect(v uint16) { mfPut16(a, 2, v) }

// Counter returns counter i of layout l; 0 when i is out of range or a
// is too short.
func (a PMACounterArray) Counter(l PMACounterLayout, i int) uint64 {
	if i < 0 || i >= l.Count {
		return 0
	}
	bit := 32 + i*l.Width
	off := bit / 8
	if off+(l.Width+7)/8 > len(a) {
		return 0
	}
	switch l.Width {
	case 2: // packed most significant first: counter 0 in bits 7..6
		return uint64(a[off]>>(6-bit%8)) & 3
	case 16:
		return uint64(mfU16(a, off))
	case 32:
		return uint64(mfU32(a, off))
	}
	return 0
}

// SetCounter stores v, saturated at the layout's maximum, as counter i;
// i out of range is ignored.
func (a PMACounterArray) SetCounter(l PMACounterLayout, i int, v uint64) {
	if i < 0 || i >= l.Count {
		return
	}
	bit := 32 + i*l.Width
	off := bit / 8
	if off+(l.Width+7)/8 > len(a) {
		return
	}
	v = saturate(v, l.Max())
	switch l.Width {
	case 2:
		sh := 6 - bit%8
		a[off] = a[off]&^(3<<sh) | uint8(v)<<sh
	case 16:
		mfPut16(a, off, uint16(v))
	case 32:
		mfPut32(a, off, uint32(v))
	}
}

// PortSamplesControl is the PortSamplesControl attribute (IBTA Vol 1
// §16.1.3.2), AttrID 0x0010: it starts a sample of up to 15 counters
// (CounterSelect0..14) that runs SampleInterval ticks after a delay of
// SampleStart ticks; PortSamplesResult reads it.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+-----+---------+
//	|     OpCode    |   PortSelect  |      Tick     | res |CntWidth |  0
//	+---+-----------------------------------------------------------+
//	|res| CounterMask0..9 (3 bits each)                             |  4
//	+-+-+---------------------------+---------------+-----------+---+
//	|r| CounterMask10..14           |SampleMechanism|  reserved |SSt|  8
//	+-+-----------------------------+---------------+-----------+---+
//	|                      OptionMask (64)                          |  12
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                      VendorMask (64)                          |  20
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                      SampleStart                              |  28
//	+---------------------------------------------------------------+
//	|                      SampleInterval                           |  32
//	+-------------------------------+-------------------------------+
//	|              Tag              |        CounterSelect0         |  36
//	+-------------------------------+-------------------------------+
//	|  CounterSelect1 .. CounterSelect14 (16 bits each)             |  40
//	+---------------------------------------------------------------+
//	|  reserved to byte 72, then SamplesOnlyOptionMask (64)         |  68
//	+---------------------------------------------------------------+  80
//
// SSt is SampleStatus. CounterWidth 4 means 32-bit sample counters.
type PortSamplesControl []byte

// PortSamplesControl sizes and values.
const (
	PortSamplesControlSize = 80
	// PortSamplesCounters is the number of counters one sample holds.
	PortSamplesCounters = 15

	// SampleStatus values (IBTA Vol 1 §16.1.3.2).
	SampleStatusDone       = 0
	SampleStatusStartDelay = 1
	SampleStatusRunning    = 2

	// CounterWidth32 is the CounterWidth code of 32-bit counters.
	CounterWidth32 = 4
)

// PortSamplesControl.CounterSelect codes: which counter a sample counter
// counts (IBTA Vol 1 §16.1.3.2, Table 223; the codes qib and the Linux
// ib_pma.h use). 0 leaves a sample counter unused.
const (
	SampleSelectPortXmitData = 0x0001
	SampleSelectPortRcvData  = 0x0002
	SampleSelectPortXmitPkts = 0x0003
	SampleSelectPortRcvPkts  = 0x0004
	SampleSelectPortXmitWait = 0x0005
)

// ParsePortSamplesControl returns the view over the first
// PortSamplesControlSize bytes of b (the PMA data area).
//
// Equivalent to: `perfquery -c <lid> <port>`.
func ParsePortSamplesControl(b []byte) (PortSamplesControl, error) {
	if err := mfCheckLen("portsamplescontrol", b, PortSamplesControlSize); err != nil {
		return nil, err
	}
	return PortSamplesControl(b[:PortSamplesControlSize]), nil
}

// OpCode returns OpCode.
func (c PortSamplesControl) OpCode() uint8 { return c[0] }

// PortSelect returns PortSelect.
func (c PortSamplesControl) PortSelect() uint8 { return c[1] }

// Tick returns Tick.
func (c PortSamplesControl) Tick() uint8 { return c[2] }

// CounterWidth returns CounterWidth (3 bits).
func (c PortSamplesControl) CounterWidth() uint8 { return mfGet(c[3], 0, 3) }

// CounterMasks0to9 returns CounterMask0..9 (3 bits each, CounterMask0
// in bits 29..27): the low 30 bits of bytes 4..7.
func (c PortSamplesControl) CounterMasks0to9() uint32 { return mfU32(c, 4) & (1<<30 - 1) }

// CounterMasks10to14 returns CounterMask10..14 (3 bits each): the low 15
// bits of bytes 8..9.
func (c PortSamplesControl) CounterMasks10to14() uint16 { return mfU16(c, 8) & (1<<15 - 1) }

// SampleMechanisms returns SampleMechanisms.
func (c PortSamplesControl) SampleMechanisms() uint8 { return c[10] }

// SampleStatus returns SampleStatus (2 bits).
func (c PortSamplesControl) SampleStatus() uint8 { return mfGet(c[11], 0, 2) }

// OptionMask returns OptionMask.
func (c PortSamplesControl) OptionMask() uint64 { return mfU64(c, 12) }

// VendorMask returns VendorMask.
func (c PortSamplesControl) VendorMask() uint64 { return mfU64(c, 20) }

// SampleStart returns SampleStart (ticks).
func (c PortSamplesControl) SampleStart() uint32 { return mfU32(c, 28) }

// SampleInterval returns SampleInterval (ticks).
func (c PortSamplesControl) SampleInterval() uint32 { return mfU32(c, 32) }

// Tag returns Tag.
func (c PortSamplesControl) Tag() uint16 { return mfU16(c, 36) }

// CounterSelect returns CounterSelect i (0..14); 0 out of range.
func (c PortSamplesControl) CounterSelect(i int) uint16 {
	if i < 0 || i >= PortSamplesCounters {
		return 0
	}
	return mfU16(c, 38+2*i)
}

// SamplesOnlyOptionMask returns SamplesOnlyOptionMask.
func (c PortSamplesControl) SamplesOnlyOptionMask() uint64 { return mfU64(c, 72) }

// SetOpCode sets OpCode.
func (c PortSamplesControl) SetOpCode(v uint8) { c[0] = v }

// SetPortSelect sets PortSelect.
func (c PortSamplesControl) SetPortSelect(v uint8) { c[1] = v }

// SetTick sets Tick.
func (c PortSamplesControl) SetTick(v uint8) { c[2] = v }

// SetCounterWidth sets CounterWidth (3 bits).
func (c PortSamplesControl) SetCounterWidth(v uint8) { mfSet(&c[3], 0, 3, v) }

// SetCounterMasks0to9 sets CounterMask0..9 from the low 30 bits of v.
func (c PortSamplesControl) SetCounterMasks0to9(v uint32) {
	mfPut32(c, 4, mfU32(c, 4)&^(1<<30-1)|v&(1<<30-1))
}

// SetCounterMasks10to14 sets CounterMask10..14 from the low 15 bits of v.
func (c PortSamplesControl) SetCounterMasks10to14(v uint16) {
	mfPut16(c, 8, mfU16(c, 8)&^(1<<15-1)|v&(1<<15-1))
}

// SetSampleMechanisms sets SampleMechanisms.
func (c PortSamplesControl) SetSampleMechanisms(v uint8) { c[10] = v }

// SetSampleStatus sets SampleStatus (2 bits).
func (c PortSamplesControl) SetSampleStatus(v uint8) { mfSet(&c[11], 0, 2, v) }

// SetOptionMask sets OptionMask.
func (c PortSamplesControl) SetOptionMask(v uint64) { mfPut64(c, 12, v) }

// SetVendorMask sets VendorMask.
func (c PortSamplesControl) SetVendorMask(v uint64) { mfPut64(c, 20, v) }

// SetSampleStart sets SampleStart.
func (c PortSamplesControl) SetSampleStart(v uint32) { mfPut32(c, 28, v) }

// SetSampleInterval sets SampleInterval.
func (c PortSamplesControl) SetSampleInterval(v uint32) { mfPut32(c, 32, v) }

// SetTag sets Tag.
func (c PortSamplesControl) SetTag(v uint16) { mfPut16(c, 36, v) }

// SetCounterSelect sets CounterSelect i (0..14); i out of range is
// ignored.
func (c PortSamplesControl) SetCounterSelect(i int, v uint16) {
	if i >= 0 && i < PortSamplesCounters {
		mfPut16(c, 38+2*i, v)
	}
}

// SetSamplesOnlyOptionMask sets SamplesOnlyOptionMask.
func (c PortSamplesControl) SetSamplesOnlyOptionMask(v uint64) { mfPut64(c, 72, v) }

// PortSamplesResult is the PortSamplesResult attribute (IBTA Vol 1
// §16.1.3.3), AttrID 0x0011: the Tag and SampleStatus of the last sample
// and its 15 32-bit counters.
//
//	 0               1               2               3
//	+-------------------------------+---------------------------+---+
//	|              Tag              |          reserved         |SSt|  0
//	+-------------------------------+---------------------------+---+
//	|  Counter0 .. Counter14 (32 bits each)                         |  4
//	+---------------------------------------------------------------+  64
type PortSamplesResult []byte

// PortSamplesResultSize is the size of PortSamplesResult.
const PortSamplesResultSize = 4 + 4*PortSamplesCounters

// ParsePortSamplesResult returns the view over the first
// PortSamplesResultSize bytes of b (the PMA data area).
func ParsePortSamplesResult(b []byte) (PortSamplesResult, error) {
	if err := mfCheckLen("portsamplesresult", b, PortSamplesResultSize); err != nil {
		return nil, err
	}
	return PortSamplesResult(b[:PortSamplesResultSize]), nil
}

// Tag returns Tag.
func (r PortSamplesResult) Tag() uint16 { return mfU16(r, 0) }

// SampleStatus returns SampleStatus (2 bits).
func (r PortSamplesResult) SampleStatus() uint8 { return mfGet(r[3], 0, 2) }

// Counter returns sample counter i (0..14); 0 out of range.
func (r PortSamplesResult) Counter(i int) uint32 {
	if i < 0 || i >= PortSamplesCounters {
		return 0
	}
	return mfU32(r, 4+4*i)
}

// SetTag sets Tag.
func (r PortSamplesResult) SetTag(v uint16) { mfPut16(r, 0, v) }

// SetSampleStatus sets SampleStatus (2 bits).
func (r PortSamplesResult) SetSampleStatus(v uint8) { mfSet(&r[3], 0, 2, v) }

// SetCounter stores v saturated at 0xFFFFFFFF as sample counter i; i out
// of range is ignored.
func (r PortSamplesResult) SetCounter(i int, v uint64) {
	if i >= 0 && i < PortSamplesCounters {
		mfPut32(r, 4+4*i, uint32(saturate(v, math.MaxUint32)))
	}
}

// PortExtendedSpeedsCounters is the PortExtendedSpeedsCounters attribute
// (IBTA Vol 1 §16.1.4.11), AttrID 0x001F: the physical-layer error
// counters of a port running an extended speed (FDR and faster, 64b/66b
// encoding), in the layout without RS-FEC (the one perfquery -T reads
// unless ClassPortInfo.CapabilityMask has PerfCapRSFECCounters and the
// port's PortInfoExtended shows RS-FEC active).
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    reserved   |   PortSelect  |           reserved            |  0
//	+---------------+---------------+-------------------------------+
//	|                           reserved                            |  4
//	+---------------------------------------------------------------+
//	|                     CounterSelect (64)                        |  8
//	|                                                               |
//	+-------------------------------+-------------------------------+
//	|    SyncHeaderErrorCounter     |      UnknownBlockCounter      |  16
//	+-------------------------------+-------------------------------+
//	|  ErrorDetectionCounterLane0..11 (16 bits each)                |  20
//	+---------------------------------------------------------------+
//	|  FECCorrectableBlockCtrLane0..11 (32 bits each)               |  44
//	+---------------------------------------------------------------+
//	|  FECUncorrectableBlockCtrLane0..11 (32 bits each)             |  92
//	+---------------------------------------------------------------+  140
//
// CounterSelect bit i selects counter i in ExtSpeedsCounter order.
type PortExtendedSpeedsCounters []byte

// PortExtendedSpeedsCounters sizes.
const (
	PortExtendedSpeedsCountersSize = 140
	// ExtSpeedsLanes is the number of lanes with counters of their own.
	ExtSpeedsLanes = 12
	// ExtSpeedsCounters is the number of counters: two per port, three
	// per lane.
	ExtSpeedsCounters = 2 + 3*ExtSpeedsLanes
)

// ExtSpeedsCounter is the index of a PortExtendedSpeedsCounters counter,
// also its CounterSelect bit.
type ExtSpeedsCounter int

// PortExtendedSpeedsCounters counters, in CounterSelect bit order.
const (
	ExtSyncHeaderErrorCounter   ExtSpeedsCounter = 0
	ExtUnknownBlockCounter      ExtSpeedsCounter = 1
	ExtErrorDetectionLane0      ExtSpeedsCounter = 2                    // ... lane 11: 13
	ExtFECCorrectableBlockLane0 ExtSpeedsCounter = 2 + ExtSpeedsLanes   // ... lane 11: 25
	ExtFECUncorrectableLane0    ExtSpeedsCounter = 2 + 2*ExtSpeedsLanes // ... lane 11: 37
)

// ParsePortExtendedSpeedsCounters returns the view over the first
// PortExtendedSpeedsCountersSize bytes of b (the PMA data area).
//
// Equivalent to: `perfquery -T <lid> <port>`.
func ParsePortExtendedSpeedsCounters(b []byte) (PortExtendedSpeedsCounters, error) {
	if err := mfCheckLen("portextendedspeedscounters", b, PortExtendedSpeedsCountersSize); err != nil {
		return nil, err
	}
	return PortExtendedSpeedsCounters(b[:PortExtendedSpeedsCountersSize]), nil
}

// PortSelect returns PortSelect.
func (c PortExtendedSpeedsCounters) PortSelect() uint8 { return c[1] }

// SetPortSelect sets PortSelect.
func (c PortExtendedSpeedsCounters) SetPortSelect(v uint8) { c[1] = v }

// CounterSelect returns the 64-bit CounterSelect.
func (c PortExtendedSpeedsCounters) CounterSelect() uint64 { return mfU64(c, 8) }

// SetCounterSelect sets CounterSelect.
func (c PortExtendedSpeedsCounters) SetCounterSelect(v uint64) { mfPut64(c, 8, v) }

// extSpeedsField returns the offset and width in bytes of counter i.
func extSpeedsField(i ExtSpeedsCounter) (off, size int, ok bool) {
	switch {
	case i < 0 || i >= ExtSpeedsCounters:
		return 0, 0, false
	case i < ExtErrorDetectionLane0:
		return 16 + 2*int(i), 2, true
	case i < ExtFECCorrectableBlockLane0:
		return 20 + 2*int(i-ExtErrorDetectionLane0), 2, true
	default:
		return 44 + 4*int(i-ExtFECCorrectableBlockLane0), 4, true
	}
}

// Counter returns counter i; 0 when i is out of range.
func (c PortExtendedSpeedsCounters) Counter(i ExtSpeedsCounter) uint64 {
	off, size, ok := extSpeedsField(i)
	if !ok || off+size > len(c) {
		return 0
	}
	if size == 2 {
		return uint64(mfU16(c, off))
	}
	return uint64(mfU32(c, off))
}

// SetCounter stores v, saturated at the field's width, as counter i; i
// out of range is ignored.
func (c PortExtendedSpeedsCounters) SetCounter(i ExtSpeedsCounter, v uint64) {
	off, size, ok := extSpeedsField(i)
	if !ok || off+size > len(c) {
		return
	}
	if size == 2 {
		mfPut16(c, off, uint16(saturate(v, math.MaxUint16)))
		return
	}
	mfPut32(c, off, uint32(saturate(v, math.MaxUint32)))
}
