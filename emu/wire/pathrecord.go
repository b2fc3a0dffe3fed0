package wire

import "fmt"

// PathRecord is the SA PathRecord (IBTA Vol 1 §15.2.5.16), AttrID
// 0x0035, 64 bytes.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                         ServiceID (64)                        |  0
//	+---------------------------------------------------------------+
//	|                           DGID (128)                          |  8
//	+---------------------------------------------------------------+
//	|                           SGID (128)                          |  24
//	+-------------------------------+-------------------------------+
//	|              DLID             |              SLID             |  40
//	+-+-----+-----------------------+---------------+---------------+
//	|R| rsv |             FlowLabel (20)            |    HopLimit   |  44
//	+-+-----+-------+-+-------------+---------------+---------------+
//	|     TClass    |V|   NumbPath  |             P_Key             |  48
//	+---------------+-+-----+-------+---+-----------+---+-----------+
//	|     QoSClass (12)     |   SL  |MSl|    MTU    |RSl|    Rate   |  52
//	+---+-----------+-------+-------+---+-----------+---+-----------+
//	|LSl|  PktLife  |   Preference  |            reserved           |  56
//	+---+-----------+---------------+-------------------------------+
//	|                            reserved                           |  60
//	+---------------------------------------------------------------+
//
// R is RawTraffic, V Reversible; MSl, RSl and LSl are the 2-bit selectors
// of MTU, Rate and PacketLifeTime.
type PathRecord []byte

// PathRecordSize is the size of a PathRecord (stride 64).
const PathRecordSize = 64

const (
	prServiceID  = 0
	prDGID       = 8
	prSGID       = 24
	prDLID       = 40
	prSLID       = 42
	prHopFlowRaw = 44
	prTClass     = 48
	prNumPath    = 49
	prPKey       = 50
	prQoSSL      = 52
	prMTU        = 54
	prRate       = 55
	prLifeTime   = 56
	prPreference = 57
)

// PathRecord ComponentMask bits (IBTA Vol 1 §15.2.5.16; OpenSM
// IB_PR_COMPMASK_*).
const (
	PathRecordCompServiceIDMSB   ComponentMask = 1 << 0
	PathRecordCompServiceIDLSB   ComponentMask = 1 << 1
	PathRecordCompServiceID                    = PathRecordCompServiceIDMSB | PathRecordCompServiceIDLSB
	PathRecordCompDGID           ComponentMask = 1 << 2
	PathRecordCompSGID           ComponentMask = 1 << 3
	PathRecordCompDLID           ComponentMask = 1 << 4
	PathRecordCompSLID           ComponentMask = 1 << 5
	PathRecordCompRawTraffic     ComponentMask = 1 << 6
	PathRecordCompFlowLabel      ComponentMask = 1 << 8
	PathRecordCompHopLimit       ComponentMask = 1 << 9
	PathRecordCompTClass         ComponentMask = 1 << 10
	PathRecordCompReversible     ComponentMask = 1 << 11
	PathRecordCompNumbPath       ComponentMask = 1 << 12
	PathRecordCompPKey           ComponentMask = 1 << 13
	PathRecordCompQoSClass       ComponentMask = 1 << 14
	PathRecordCompSL             ComponentMask = 1 << 15
	PathRecordCompMTUSelector    ComponentMask = 1 << 16
	PathRecordCompMTU            ComponentMask = 1 << 17
	PathRecordCompRateSelector   ComponentMask = 1 << 18
	PathRecordCompRate           ComponentMask = 1 << 19
	PathRecordCompLifeSelector   ComponentMask = 1 << 20
	PathRecordCompPacketLifeTime ComponentMask = 1 << 21
	PathRecordCompPreference     ComponentMask = 1 << 22
)

// Selector is the 2-bit selector in front of the MTU, Rate and
// PacketLifeTime of PathRecord and MCMemberRecord (IBTA Vol 1 §15.2.5.16).
type Selector uint8

// Selectors.
const (
	SelectorGreaterThan Selector = 0
	SelectorLessThan    Selector = 1
	SelectorExactly     Selector = 2
	// SelectorBest asks for the largest MTU or rate, or the smallest
	// packet lifetime, available.
	SelectorBest Selector = 3
)

// String names the selector.
func (s Selector) String() string {
	switch s {
	case SelectorGreaterThan:
		return ">"
	case SelectorLessThan:
		return "<"
	case SelectorExactly:
		return "="
	case SelectorBest:
		return "best"
	}
	return fmt.Sprintf("Selector(%d)", uint8(s))
}

// Rate is the 6-bit static rate code of PathRecord, MCMemberRecord and
// address vectors (IBTA Vol 1 §15.2.5.16).
type Rate uint8

// Rate codes.
const (
	Rate2_5Gbps  Rate = 2
	Rate10Gbps   Rate = 3
	Rate30Gbps   Rate = 4
	Rate5Gbps    Rate = 5
	Rate20Gbps   Rate = 6
	Rate40Gbps   Rate = 7
	Rate60Gbps   Rate = 8
	Rate80Gbps   Rate = 9
	Rate120Gbps  Rate = 10
	Rate14Gbps   Rate = 11
	Rate56Gbps   Rate = 12
	Rate112Gbps  Rate = 13
	Rate168Gbps  Rate = 14
	Rate25Gbps   Rate = 15
	Rate100Gbps  Rate = 16
	Rate200Gbps  Rate = 17
	Rate300Gbps  Rate = 18
	Rate28Gbps   Rate = 19
	Rate50Gbps   Rate = 20
	Rate400Gbps  Rate = 21
	Rate600Gbps  Rate = 22
	Rate800Gbps  Rate = 23
	Rate1200Gbps Rate = 24
)

var rateGbps = [...]float64{2: 2.5, 3: 10, 4: 30, 5: 5, 6: 20, 7: 40, 8: 60, 9: 80, 10: 120,
	11: 14, 12: 56, 13: 112, 14: 168, 15: 25, 16: 100, 17: 200, 18: 300, 19: 28, 20: 50,
	21: 400, 22: 600, 23: 800, 24: 1200}

// Gbps returns the signalling rate in Gb/s, 0 for an unknown code.
func (r Rate) Gbps() float64 {
	if int(r) < len(rateGbps) {
		return rateGbps[r]
	}
	return 0
}

// String formats the rate the way the diagnostics do ("10 Gbps").
func (r Rate) String() string {
	if g := r.Gbps(); g != 0 {
		return fmt.Sprintf("%g Gbps", g)
	}
	return fmt.Sprintf("Rate(%d)", uint8(r))
}

// PathRecordFields holds every PathRecord field for Encode.
type PathRecordFields struct {
	ServiceID              uint64
	DGID                   GID
	SGID                   GID
	DLID                   LID
	SLID                   LID
	RawTraffic             bool
	FlowLabel              uint32 // 20 bits
	HopLimit               uint8
	TClass                 uint8
	Reversible             bool
	NumbPath               uint8 // 7 bits
	PKey                   PKey
	QoSClass               uint16 // 12 bits
	SL                     uint8  // 4 bits
	MTUSelector            Selector
	MTU                    MTU // 6 bits
	RateSelector           Selector
	Rate                   Rate // 6 bits
	PacketLifeTimeSelector Selector
	PacketLifeTime         uint8 // 6 bits
	Preference             uint8
}

// IsValid reports whether p holds a whole PathRecord.
func (p PathRecord) IsValid() bool { return len(p) >= PathRecordSize }

// ServiceID returns ServiceID.
func (p PathRecord) ServiceID() uint64 { return mfU64(p, prServiceID) }

// DGID returns DGID.
func (p PathRecord) DGID() GID { return mfGID(p, prDGID) }

// SGID returns SGID.
func (p PathRecord) SGID() GID { return mfGID(p, prSGID) }

// DLID returns DLID.
func (p PathRecord) DLID() LID { return LID(mfU16(p, prDLID)) }

// SLID returns SLID.
func (p PathRecord) SLID() LID { return LID(mfU16(p, prSLID)) }

// RawTraffic returns RawTraffic.
func (p PathRecord) RawTraffic() bool { return mfBit(p[prHopFlowRaw], 7) }

// FlowLabel returns the 20-bit FlowLabel.
func (p PathRecord) FlowLabel() uint32 { return mfU32(p, prHopFlowRaw) >> 8 & 0xFFFFF }

// HopLimit returns HopLimit.
func (p PathRecord) HopLimit() uint8 { return p[prHopFlowRaw+3] }

// TClass returns TClass.
func (p PathRecord) TClass() uint8 { return p[prTClass] }

// Reversible returns Reversible.
func (p PathRecord) Reversible() bool { return mfBit(p[prNumPath], 7) }

// NumbPath returns the 7-bit NumbPath.
func (p PathRecord) NumbPath() uint8 { return mfGet(p[prNumPath], 0, 7) }

// PKey returns P_Key.
func (p PathRecord) PKey() PKey { return PKey(mfU16(p, prPKey)) }

// QoSClass returns the 12-bit QoSClass.
func (p PathRecord) QoSClass() uint16 { return mfU16(p, prQoSSL) >> 4 }

// SL returns SL.
func (p PathRecord) SL() uint8 { return mfGet(p[prQoSSL+1], 0, 4) }

// MTUSelector returns the MTU selector.
func (p PathRecord) MTUSelector() Selector { return Selector(mfGet(p[prMTU], 6, 2)) }

// MTU returns the MTU code.
func (p PathRecord) MTU() MTU { return MTU(mfGet(p[prMTU], 0, 6)) }

// RateSelector returns the rate selector.
func (p PathRecord) RateSelector() Selector { return Selector(mfGet(p[prRate], 6, 2)) }

// Rate returns the rate code.
func (p PathRecord) Rate() Rate { return Rate(mfGet(p[prRate], 0, 6)) }

// PacketLifeTimeSelector returns the packet lifetime selector.
func (p PathRecord) PacketLifeTimeSelector() Selector { return Selector(mfGet(p[prLifeTime], 6, 2)) }

// PacketLifeTime returns the 6-bit packet lifetime.
func (p PathRecord) PacketLifeTime() uint8 { return mfGet(p[prLifeTime], 0, 6) }

// Preference returns Preference.
func (p PathRecord) Preference() uint8 { return p[prPreference] }

// SetServiceID sets ServiceID.
func (p PathRecord) SetServiceID(v uint64) { mfPut64(p, prServiceID, v) }

// SetDGID sets DGID.
func (p PathRecord) SetDGID(g GID) { copy(p[prDGID:], g[:]) }

// SetSGID sets SGID.
func (p PathRecord) SetSGID(g GID) { copy(p[prSGID:], g[:]) }

// SetDLID sets DLID.
func (p PathRecord) SetDLID(l LID) { mfPut16(p, prDLID, uint16(l)) }

// SetSLID sets SLID.
func (p PathRecord) SetSLID(l LID) { mfPut16(p, prSLID, uint16(l)) }

// SetRawTraffic sets RawTraffic.
func (p PathRecord) SetRawTraffic(v bool) { mfSetBit(&p[prHopFlowRaw], 7, v) }

// SetFlowLabel sets the 20-bit FlowLabel.
func (p PathRecord) SetFlowLabel(v uint32) {
	w := mfU32(p, prHopFlowRaw)
	mfPut32(p, prHopFlowRaw, w&^(0xFFFFF<<8)|(v&0xFFFFF)<<8)
}

// SetHopLimit sets HopLimit.
func (p PathRecord) SetHopLimit(v uint8) { p[prHopFlowRaw+3] = v }

// SetTClass sets TClass.
func (p PathRecord) SetTClass(v uint8) { p[prTClass] = v }

// SetReversible sets Reversible.
func (p PathRecord) SetReversible(v bool) { mfSetBit(&p[prNumPath], 7, v) }

// SetNumbPath sets the 7-bit NumbPath.
func (p PathRecord) SetNumbPath(v uint8) { mfSet(&p[prNumPath], 0, 7, v) }

// SetPKey sets P_Key.
func (p PathRecord) SetPKey(k PKey) { mfPut16(p, prPKey, uint16(k)) }

// SetQoSClass sets the 12-bit QoSClass.
func (p PathRecord) SetQoSClass(v uint16) {
	mfPut16(p, prQoSSL, (v&0xFFF)<<4|mfU16(p, prQoSSL)&0xF)
}

// SetSL sets SL.
func (p PathRecord) SetSL(v uint8) { mfSet(&p[prQoSSL+1], 0, 4, v) }

// SetMTUSelector sets the MTU selector.
func (p PathRecord) SetMTUSelector(s Selector) { mfSet(&p[prMTU], 6, 2, uint8(s)) }

// SetMTU sets the MTU code.
func (p PathRecord) SetMTU(m MTU) { mfSet(&p[prMTU], 0, 6, uint8(m)) }

// SetRateSelector sets the rate selector.
func (p PathRecord) SetRateSelector(s Selector) { mfSet(&p[prRate], 6, 2, uint8(s)) }

// SetRate sets the rate code.
func (p PathRecord) SetRate(r Rate) { mfSet(&p[prRate], 0, 6, uint8(r)) }

// SetPacketLifeTimeSelector sets the packet lifetime selector.
func (p PathRecord) SetPacketLifeTimeSelector(s Selector) { mfSet(&p[prLifeTime], 6, 2, uint8(s)) }

// SetPacketLifeTime sets the 6-bit packet lifetime.
func (p PathRecord) SetPacketLifeTime(v uint8) { mfSet(&p[prLifeTime], 0, 6, v) }

// SetPreference sets Preference.
func (p PathRecord) SetPreference(v uint8) { p[prPreference] = v }

// Encode writes every field of f into p and zeroes the reserved bits.
func (p PathRecord) Encode(f *PathRecordFields) {
	clear(p[:PathRecordSize])
	p.SetServiceID(f.ServiceID)
	p.SetDGID(f.DGID)
	p.SetSGID(f.SGID)
	p.SetDLID(f.DLID)
	p.SetSLID(f.SLID)
	p.SetRawTraffic(f.RawTraffic)
	p.SetFlowLabel(f.FlowLabel)
	p.SetHopLimit(f.HopLimit)
	p.SetTClass(f.TClass)
	p.SetReversible(f.Reversible)
	p.SetNumbPath(f.NumbPath)
	p.SetPKey(f.PKey)
	p.SetQoSClass(f.QoSClass)
	p.SetSL(f.SL)
	p.SetMTUSelector(f.MTUSelector)
	p.SetMTU(f.MTU)
	p.SetRateSelector(f.RateSelector)
	p.SetRate(f.Rate)
	p.SetPacketLifeTimeSelector(f.PacketLifeTimeSelector)
	p.SetPacketLifeTime(f.PacketLifeTime)
	p.SetPreference(f.Preference)
}

// Fields decodes every field of p.
func (p PathRecord) Fields() PathRecordFields {
	return PathRecordFields{
		ServiceID:              p.ServiceID(),
		DGID:                   p.DGID(),
		SGID:                   p.SGID(),
		DLID:                   p.DLID(),
		SLID:                   p.SLID(),
		RawTraffic:             p.RawTraffic(),
		FlowLabel:              p.FlowLabel(),
		HopLimit:               p.HopLimit(),
		TClass:                 p.TClass(),
		Reversible:             p.Reversible(),
		NumbPath:               p.NumbPath(),
		PKey:                   p.PKey(),
		QoSClass:               p.QoSClass(),
		SL:                     p.SL(),
		MTUSelector:            p.MTUSelector(),
		MTU:                    p.MTU(),
		RateSelector:           p.RateSelector(),
		Rate:                   p.Rate(),
		PacketLifeTimeSelector: p.PacketLifeTimeSelector(),
		PacketLifeTime:         p.PacketLifeTime(),
		Preference:             p.Preference(),
	}
}

// ParsePathRecord returns the PathRecord view over the first
// PathRecordSize bytes of b.
func ParsePathRecord(b []byte) (PathRecord, error) {
	if err := mfCheckLen("pathrecord", b, PathRecordSize); err != nil {
		return nil, err
	}
	return PathRecord(b[:PathRecordSize]), nil
}
