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
//
// Counters saturate at their maximum (IBTA Vol 1 §16.1.3.5).
type PMACounterArray []byte

// PMACounterLayout describes one PMACounterArray attribute: how many
// counters it has and their width in bits (16 or 32).
type PMACounterLayout struct {
	Count int
	Width int
}

// The layouts of the optional counter attributes.
var (
	LayoutPortRcvErrorDetails    = PMACounterLayout{Count: 6, Width: 16}
	LayoutPortXmitDiscardDetails = PMACounterLayout{Count: 4, Width: 16}
	LayoutPortDataSL             = PMACounterLayout{Count: 16, Width: 32}
)

// Size returns the attribute size: the 4-byte header and the counters.
func (l PMACounterLayout) Size() int { return 4 + l.Count*l.Width/8 }

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
	if l.Count <= 0 || (l.Width != 16 && l.Width != 32) {
		return nil, fmt.Errorf("wire: pma counter array: unsupported layout %d x %d bits", l.Count, l.Width)
	}
	if err := mfCheckLen("pma counter array", b, l.Size()); err != nil {
		return nil, err
	}
	return PMACounterArray(b[:l.Size()]), nil
}

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
	off := 4 + i*l.Width/8
	if i < 0 || i >= l.Count || off+l.Width/8 > len(a) {
		return 0
	}
	if l.Width == 16 {
		return uint64(mfU16(a, off))
	}
	return uint64(mfU32(a, off))
}

// SetCounter stores v, saturated at the layout's maximum, as counter i;
// i out of range is ignored.
func (a PMACounterArray) SetCounter(l PMACounterLayout, i int, v uint64) {
	off := 4 + i*l.Width/8
	if i < 0 || i >= l.Count || off+l.Width/8 > len(a) {
		return
	}
	v = saturate(v, l.Max())
	if l.Width == 16 {
		mfPut16(a, off, uint16(v))
		return
	}
	mfPut32(a, off, uint32(v))
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
