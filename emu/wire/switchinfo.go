package wire

// SwitchInfo is the SwitchInfo attribute (IBTA Vol 1 §14.2.5.4), AttrID
// 0x0012, the first 20 bytes of the SMP data area.
//
//	 0               1               2               3
//	+-------------------------------+-------------------------------+
//	|         LinearFDBCap          |         RandomFDBCap          |  0
//	+-------------------------------+-------------------------------+
//	|        MulticastFDBCap        |         LinearFDBTop          |  4
//	+---------------+---------------+---------------+---------+-+---+
//	|  DefaultPort  | DefMcastPrim. | DefMcastNotPr.| LifeTime|P|OSV|  8
//	+---------------+---------------+---------------+---------+-+---+
//	|          LIDsPerPort          |    PartitionEnforcementCap    |  12
//	+-+-+-+-+-+-----+---------------+-------------------------------+
//	|I|O|F|F|E| rsv |   reserved    |        MulticastFDBTop        |  16
//	| | |I|O| |     |               |                               |
//	+-+-+-+-+-+-----+---------------+-------------------------------+
//
// LifeTime is LifeTimeValue, P PortStateChange (write 1 to clear), OSV
// OptimizedSLtoVLMappingProgramming, I/O Inbound/OutboundEnforcementCap,
// FI/FO FilterRawInbound/OutboundCap and E EnhancedPort0.
type SwitchInfo []byte

// SwitchInfoSize is the part of the SMP data area SwitchInfo uses.
const SwitchInfoSize = 20

const (
	siLinearFDBCap    = 0
	siRandomFDBCap    = 2
	siMulticastFDBCap = 4
	siLinearFDBTop    = 6
	siDefaultPort     = 8
	siDefMcastPrim    = 9
	siDefMcastNotPrim = 10
	siLifeState       = 11 // LifeTimeValue(7:3) PortStateChange(2) OSV(1:0)
	siLIDsPerPort     = 12
	siPartEnfCap      = 14
	siFlags           = 16 // I(7) O(6) FI(5) FO(4) E(3)
	siMulticastFDBTop = 18
)

// SwitchInfoFields holds every SwitchInfo field for Encode.
type SwitchInfoFields struct {
	LinearFDBCap                      uint16
	RandomFDBCap                      uint16
	MulticastFDBCap                   uint16
	LinearFDBTop                      uint16
	DefaultPort                       uint8
	DefaultMulticastPrimaryPort       uint8
	DefaultMulticastNotPrimaryPort    uint8
	LifeTimeValue                     uint8 // 5 bits
	PortStateChange                   bool
	OptimizedSLtoVLMappingProgramming uint8 // 2 bits
	LIDsPerPort                       uint16
	PartitionEnforcementCap           uint16
	InboundEnforcementCap             bool
	OutboundEnforcementCap            bool
	FilterRawInboundCap               bool
	FilterRawOutboundCap              bool
	EnhancedPort0                     bool
	MulticastFDBTop                   uint16
}

// IsValid reports whether s holds a whole SwitchInfo.
func (s SwitchInfo) IsValid() bool { return len(s) >= SwitchInfoSize }

// LinearFDBCap returns LinearFDBCap.
func (s SwitchInfo) LinearFDBCap() uint16 { return mfU16(s, siLinearFDBCap) }

// RandomFDBCap returns RandomFDBCap.
func (s SwitchInfo) RandomFDBCap() uint16 { return mfU16(s, siRandomFDBCap) }

// MulticastFDBCap returns MulticastFDBCap.
func (s SwitchInfo) MulticastFDBCap() uint16 { return mfU16(s, siMulticastFDBCap) }

// LinearFDBTop returns LinearFDBTop.
func (s SwitchInfo) LinearFDBTop() uint16 { return mfU16(s, siLinearFDBTop) }

// DefaultPort returns DefaultPort.
func (s SwitchInfo) DefaultPort() uint8 { return s[siDefaultPort] }

// DefaultMulticastPrimaryPort returns DefaultMulticastPrimaryPort.
func (s SwitchInfo) DefaultMulticastPrimaryPort() uint8 { return s[siDefMcastPrim] }

// DefaultMulticastNotPrimaryPort returns DefaultMulticastNotPrimaryPort.
func (s SwitchInfo) DefaultMulticastNotPrimaryPort() uint8 { return s[siDefMcastNotPrim] }

// LifeTimeValue returns LifeTimeValue.
func (s SwitchInfo) LifeTimeValue() uint8 { return mfGet(s[siLifeState], 3, 5) }

// PortStateChange returns PortStateChange.
func (s SwitchInfo) PortStateChange() bool { return mfBit(s[siLifeState], 2) }

// OptimizedSLtoVLMappingProgramming returns the 2-bit field.
func (s SwitchInfo) OptimizedSLtoVLMappingProgramming() uint8 { return mfGet(s[siLifeState], 0, 2) }

// LIDsPerPort returns LIDsPerPort.
func (s SwitchInfo) LIDsPerPort() uint16 { return mfU16(s, siLIDsPerPort) }

// PartitionEnforcementCap returns PartitionEnforcementCap.
func (s SwitchInfo) PartitionEnforcementCap() uint16 { return mfU16(s, siPartEnfCap) }

// InboundEnforcementCap returns InboundEnforcementCap.
func (s SwitchInfo) InboundEnforcementCap() bool { return mfBit(s[siFlags], 7) }

// OutboundEnforcementCap returns OutboundEnforcementCap.
func (s SwitchInfo) OutboundEnforcementCap() bool { return mfBit(s[siFlags], 6) }

// FilterRawInboundCap returns FilterRawInboundCap.
func (s SwitchInfo) FilterRawInboundCap() bool { return mfBit(s[siFlags], 5) }

// FilterRawOutboundCap returns FilterRawOutboundCap.
func (s SwitchInfo) FilterRawOutboundCap() bool { return mfBit(s[siFlags], 4) }

// EnhancedPort0 returns EnhancedPort0.
func (s SwitchInfo) EnhancedPort0() bool { return mfBit(s[siFlags], 3) }

// MulticastFDBTop returns MulticastFDBTop.
func (s SwitchInfo) MulticastFDBTop() uint16 { return mfU16(s, siMulticastFDBTop) }

// SetLinearFDBCap sets LinearFDBCap.
func (s SwitchInfo) SetLinearFDBCap(v uint16) { mfPut16(s, siLinearFDBCap, v) }

// SetRandomFDBCap sets RandomFDBCap.
func (s SwitchInfo) SetRandomFDBCap(v uint16) { mfPut16(s, siRandomFDBCap, v) }

// SetMulticastFDBCap sets MulticastFDBCap.
func (s SwitchInfo) SetMulticastFDBCap(v uint16) { mfPut16(s, siMulticastFDBCap, v) }

// SetLinearFDBTop sets LinearFDBTop.
func (s SwitchInfo) SetLinearFDBTop(v uint16) { mfPut16(s, siLinearFDBTop, v) }

// SetDefaultPort sets DefaultPort.
func (s SwitchInfo) SetDefaultPort(v uint8) { s[siDefaultPort] = v }

// SetDefaultMulticastPrimaryPort sets DefaultMulticastPrimaryPort.
func (s SwitchInfo) SetDefaultMulticastPrimaryPort(v uint8) { s[siDefMcastPrim] = v }

// SetDefaultMulticastNotPrimaryPort sets DefaultMulticastNotPrimaryPort.
func (s SwitchInfo) SetDefaultMulticastNotPrimaryPort(v uint8) { s[siDefMcastNotPrim] = v }

// SetLifeTimeValue sets LifeTimeValue.
func (s SwitchInfo) SetLifeTimeValue(v uint8) { mfSet(&s[siLifeState], 3, 5, v) }

// SetPortStateChange sets PortStateChange.
func (s SwitchInfo) SetPortStateChange(v bool) { mfSetBit(&s[siLifeState], 2, v) }

// SetOptimizedSLtoVLMappingProgramming sets the 2-bit field.
func (s SwitchInfo) SetOptimizedSLtoVLMappingProgramming(v uint8) {
	mfSet(&s[siLifeState], 0, 2, v)
}

// SetLIDsPerPort sets LIDsPerPort.
func (s SwitchInfo) SetLIDsPerPort(v uint16) { mfPut16(s, siLIDsPerPort, v) }

// SetPartitionEnforcementCap sets PartitionEnforcementCap.
func (s SwitchInfo) SetPartitionEnforcementCap(v uint16) { mfPut16(s, siPartEnfCap, v) }

// SetInboundEnforcementCap sets InboundEnforcementCap.
func (s SwitchInfo) SetInboundEnforcementCap(v bool) { mfSetBit(&s[siFlags], 7, v) }

// SetOutboundEnforcementCap sets OutboundEnforcementCap.
func (s SwitchInfo) SetOutboundEnforcementCap(v bool) { mfSetBit(&s[siFlags], 6, v) }

// SetFilterRawInboundCap sets FilterRawInboundCap.
func (s SwitchInfo) SetFilterRawInboundCap(v bool) { mfSetBit(&s[siFlags], 5, v) }

// SetFilterRawOutboundCap sets FilterRawOutboundCap.
func (s SwitchInfo) SetFilterRawOutboundCap(v bool) { mfSetBit(&s[siFlags], 4, v) }

// SetEnhancedPort0 sets EnhancedPort0.
func (s SwitchInfo) SetEnhancedPort0(v bool) { mfSetBit(&s[siFlags], 3, v) }

// SetMulticastFDBTop sets MulticastFDBTop.
func (s SwitchInfo) SetMulticastFDBTop(v uint16) { mfPut16(s, siMulticastFDBTop, v) }

// Encode writes every field of f into s and zeroes the reserved bits.
func (s SwitchInfo) Encode(f *SwitchInfoFields) {
	clear(s[:SwitchInfoSize])
	s.SetLinearFDBCap(f.LinearFDBCap)
	s.SetRandomFDBCap(f.RandomFDBCap)
	s.SetMulticastFDBCap(f.MulticastFDBCap)
	s.SetLinearFDBTop(f.LinearFDBTop)
	s.SetDefaultPort(f.DefaultPort)
	s.SetDefaultMulticastPrimaryPort(f.DefaultMulticastPrimaryPort)
	s.SetDefaultMulticastNotPrimaryPort(f.DefaultMulticastNotPrimaryPort)
	s.SetLifeTimeValue(f.LifeTimeValue)
	s.SetPortStateChange(f.PortStateChange)
	s.SetOptimizedSLtoVLMappingProgramming(f.OptimizedSLtoVLMappingProgramming)
	s.SetLIDsPerPort(f.LIDsPerPort)
	s.SetPartitionEnforcementCap(f.PartitionEnforcementCap)
	s.SetInboundEnforcementCap(f.InboundEnforcementCap)
	s.SetOutboundEnforcementCap(f.OutboundEnforcementCap)
	s.SetFilterRawInboundCap(f.FilterRawInboundCap)
	s.SetFilterRawOutboundCap(f.FilterRawOutboundCap)
	s.SetEnhancedPort0(f.EnhancedPort0)
	s.SetMulticastFDBTop(f.MulticastFDBTop)
}

// Fields decodes every field of s.
func (s SwitchInfo) Fields() SwitchInfoFields {
	return SwitchInfoFields{
		LinearFDBCap:                      s.LinearFDBCap(),
		RandomFDBCap:                      s.RandomFDBCap(),
		MulticastFDBCap:                   s.MulticastFDBCap(),
		LinearFDBTop:                      s.LinearFDBTop(),
		DefaultPort:                       s.DefaultPort(),
		DefaultMulticastPrimaryPort:       s.DefaultMulticastPrimaryPort(),
		DefaultMulticastNotPrimaryPort:    s.DefaultMulticastNotPrimaryPort(),
		LifeTimeValue:                     s.LifeTimeValue(),
		PortStateChange:                   s.PortStateChange(),
		OptimizedSLtoVLMappingProgramming: s.OptimizedSLtoVLMappingProgramming(),
		LIDsPerPort:                       s.LIDsPerPort(),
		PartitionEnforcementCap:           s.PartitionEnforcementCap(),
		InboundEnforcementCap:             s.InboundEnforcementCap(),
		OutboundEnforcementCap:            s.OutboundEnforcementCap(),
		FilterRawInboundCap:               s.FilterRawInboundCap(),
		FilterRawOutboundCap:              s.FilterRawOutboundCap(),
		EnhancedPort0:                     s.EnhancedPort0(),
		MulticastFDBTop:                   s.MulticastFDBTop(),
	}
}

// ParseSwitchInfo returns the SwitchInfo view over the first
// SwitchInfoSize bytes of b.
func ParseSwitchInfo(b []byte) (SwitchInfo, error) {
	if err := mfCheckLen("switchinfo", b, SwitchInfoSize); err != nil {
		return nil, err
	}
	return SwitchInfo(b[:SwitchInfoSize]), nil
}
