package wire

import "fmt"

// MultiPathRecord is the SA MultiPathRecord (IBTA Vol 1 §15.2.5.20),
// AttrID 0x003A, the request of a SubnAdmGetMulti: path constraints like
// a PathRecord's, then SGIDCount source GIDs followed by DGIDCount
// destination GIDs. The SA answers with PathRecords (o15-0.2.7). 24 bytes
// plus 16 per GID.
//
//	 0               1               2               3
//	+-+-----+-----------------------------------------+---------------+
//	|R| rsv |             FlowLabel (20)              |   HopLimit    |  0
//	+-+-----+-------+-+-------------+-----------------+---------------+
//	|     TClass    |V|   NumbPath  |             P_Key               |  4
//	+---------------+-+-----+-------+---+-----------+---+-------------+
//	|     QoSClass (12)     |   SL  |MSl|    MTU    |RSl|    Rate     |  8
//	+---+-----------+-------+-------+---+-----------+-----------------+
//	|LSl|  PktLife  | ServiceID MSB |ISl|   rsv     |   SGIDCount     |  12
//	+---+-----------+---------------+---+-----------+-----------------+
//	|   DGIDCount   |          ServiceID 56 LSB (7 bytes)  ...        |  16
//	+---------------+-------------------------------------------------+
//	|                        SDGID[0] (128) ...                       |  24
//	+-----------------------------------------------------------------+
//
// R is RawTraffic, V Reversible; MSl, RSl, LSl and ISl are the 2-bit MTU,
// Rate, PacketLifeTime and Independence selectors.
type MultiPathRecord []byte

// MultiPathRecord sizes.
const (
	// MultiPathRecordSize is the size of the record without GIDs.
	MultiPathRecordSize = 24
	// MultiPathRecordMaxGIDs is how many GIDs fit in the 200-byte record
	// area of one SA MAD (OpenSM's IB_MULTIPATH_MAX_GIDS).
	MultiPathRecordMaxGIDs = (SADataSize - MultiPathRecordSize) / 16
)

const (
	mprHopFlowRaw = 0
	mprTClass     = 4
	mprNumPath    = 5
	mprPKey       = 6
	mprQoSSL      = 8
	mprMTU        = 10
	mprRate       = 11
	mprLifeTime   = 12
	mprSIDMSB     = 13
	mprIndep      = 14
	mprSGIDCount  = 15
	mprDGIDCount  = 16
	mprSIDLSB     = 17
	mprGIDs       = 24
)

// MultiPathRecord ComponentMask bits (IBTA Vol 1 §15.2.5.20; OpenSM
// IB_MPR_COMPMASK_*).
const (
	MultiPathRecordCompRawTraffic           ComponentMask = 1 << 0
	MultiPathRecordCompFlowLabel            ComponentMask = 1 << 2
	MultiPathRecordCompHopLimit             ComponentMask = 1 << 3
	MultiPathRecordCompTClass               ComponentMask = 1 << 4
	MultiPathRecordCompReversible           ComponentMask = 1 << 5
	MultiPathRecordCompNumbPath             ComponentMask = 1 << 6
	MultiPathRecordCompPKey                 ComponentMask = 1 << 7
	MultiPathRecordCompQoSClass             ComponentMask = 1 << 8
	MultiPathRecordCompSL                   ComponentMask = 1 << 9
	MultiPathRecordCompMTUSelector          ComponentMask = 1 << 10
	MultiPathRecordCompMTU                  ComponentMask = 1 << 11
	MultiPathRecordCompRateSelector         ComponentMask = 1 << 12
	MultiPathRecordCompRate                 ComponentMask = 1 << 13
	MultiPathRecordCompLifeSelector         ComponentMask = 1 << 14
	MultiPathRecordCompPacketLifeTime       ComponentMask = 1 << 15
	MultiPathRecordCompServiceIDMSB         ComponentMask = 1 << 16
	MultiPathRecordCompIndependenceSelector ComponentMask = 1 << 17
	MultiPathRecordCompSGIDCount            ComponentMask = 1 << 19
	MultiPathRecordCompDGIDCount            ComponentMask = 1 << 20
	MultiPathRecordCompServiceIDLSB         ComponentMask = 1 << 21
	MultiPathRecordCompServiceID                          = MultiPathRecordCompServiceIDMSB | MultiPathRecordCompServiceIDLSB
)

// MultiPathRecordFields holds a MultiPathRecord for Encode.
type MultiPathRecordFields struct {
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
	MTU                    MTU
	RateSelector           Selector
	Rate                   Rate
	PacketLifeTimeSelector Selector
	PacketLifeTime         uint8 // 6 bits
	ServiceID              uint64
	IndependenceSelector   uint8 // 2 bits
	SGIDCount, DGIDCount   uint8
	// GIDs are the SGIDCount source GIDs, then the DGIDCount destination
	// GIDs.
	GIDs []GID
}

// IsValid reports whether r holds the fixed part and every GID it counts.
func (r MultiPathRecord) IsValid() bool {
	return len(r) >= MultiPathRecordSize && len(r) >= MultiPathRecordSize+16*r.NumGIDs()
}

// RawTraffic returns RawTraffic.
func (r MultiPathRecord) RawTraffic() bool { return mfBit(r[mprHopFlowRaw], 7) }

// FlowLabel returns the 20-bit FlowLabel.
func (r MultiPathRecord) FlowLabel() uint32 { return mfU32(r, mprHopFlowRaw) >> 8 & 0xFFFFF }

// HopLimit returns HopLimit.
func (r MultiPathRecord) HopLimit() uint8 { return r[mprHopFlowRaw+3] }

// TClass returns TClass.
func (r MultiPathRecord) TClass() uint8 { return r[mprTClass] }

// Reversible returns Reversible.
func (r MultiPathRecord) Reversible() bool { return mfBit(r[mprNumPath], 7) }

// NumbPath returns the 7-bit NumbPath: the most paths wanted.
func (r MultiPathRecord) NumbPath() uint8 { return mfGet(r[mprNumPath], 0, 7) }

// PKey returns P_Key.
func (r MultiPathRecord) PKey() PKey { return PKey(mfU16(r, mprPKey)) }

// QoSClass returns the 12-bit QoSClass.
func (r MultiPathRecord) QoSClass() uint16 { return mfU16(r, mprQoSSL) >> 4 }

// SL returns the 4-bit SL.
func (r MultiPathRecord) SL() uint8 { return mfGet(r[mprQoSSL+1], 0, 4) }

// MTUSelector returns the MTU selector.
func (r MultiPathRecord) MTUSelector() Selector { return Selector(mfGet(r[mprMTU], 6, 2)) }

// MTU returns the MTU code.
func (r MultiPathRecord) MTU() MTU { return MTU(mfGet(r[mprMTU], 0, 6)) }

// RateSelector returns the rate selector.
func (r MultiPathRecord) RateSelector() Selector { return Selector(mfGet(r[mprRate], 6, 2)) }

// Rate returns the rate code.
func (r MultiPathRecord) Rate() Rate { return Rate(mfGet(r[mprRate], 0, 6)) }

// PacketLifeTimeSelector returns the packet lifetime selector.
func (r MultiPathRecord) PacketLifeTimeSelector() Selector {
	return Selector(mfGet(r[mprLifeTime], 6, 2))
}

// PacketLifeTime returns the 6-bit packet lifetime.
func (r MultiPathRecord) PacketLifeTime() uint8 { return mfGet(r[mprLifeTime], 0, 6) }

// ServiceID returns the ServiceID from its two parts.
func (r MultiPathRecord) ServiceID() uint64 {
	v := uint64(r[mprSIDMSB])
	for i := range 7 {
		v = v<<8 | uint64(r[mprSIDLSB+i])
	}
	return v
}

// IndependenceSelector returns the 2-bit independence selector.
func (r MultiPathRecord) IndependenceSelector() uint8 { return mfGet(r[mprIndep], 6, 2) }

// SGIDCount returns the number of source GIDs.
func (r MultiPathRecord) SGIDCount() uint8 { return r[mprSGIDCount] }

// DGIDCount returns the number of destination GIDs.
func (r MultiPathRecord) DGIDCount() uint8 { return r[mprDGIDCount] }

// NumGIDs is SGIDCount + DGIDCount.
func (r MultiPathRecord) NumGIDs() int { return int(r.SGIDCount()) + int(r.DGIDCount()) }

// GID returns GID i (sources first), or the zero GID when i is not in
// the record.
func (r MultiPathRecord) GID(i int) GID {
	off := mprGIDs + 16*i
	if i < 0 || i >= r.NumGIDs() || off+16 > len(r) {
		return GID{}
	}
	return mfGID(r, off)
}

// SetRawTraffic sets RawTraffic.
func (r MultiPathRecord) SetRawTraffic(v bool) { mfSetBit(&r[mprHopFlowRaw], 7, v) }

// SetFlowLabel sets the 20-bit FlowLabel.
func (r MultiPathRecord) SetFlowLabel(v uint32) {
	w := mfU32(r, mprHopFlowRaw)&0xF00000FF | (v&0xFFFFF)<<8
	mfPut32(r, mprHopFlowRaw, w)
}

// SetHopLimit sets HopLimit.
func (r MultiPathRecord) SetHopLimit(v uint8) { r[mprHopFlowRaw+3] = v }

// SetTClass sets TClass.
func (r MultiPathRecord) SetTClass(v uint8) { r[mprTClass] = v }

// SetReversible sets Reversible.
func (r MultiPathRecord) SetReversible(v bool) { mfSetBit(&r[mprNumPath], 7, v) }

// SetNumbPath sets the 7-bit NumbPath.
func (r MultiPathRecord) SetNumbPath(v uint8) { mfSet(&r[mprNumPath], 0, 7, v) }

// SetPKey sets P_Key.
func (r MultiPathRecord) SetPKey(k PKey) { mfPut16(r, mprPKey, uint16(k)) }

// SetQoSClass sets the 12-bit QoSClass.
func (r MultiPathRecord) SetQoSClass(v uint16) {
	mfPut16(r, mprQoSSL, mfU16(r, mprQoSSL)&0x000F|(v&0xFFF)<<4)
}

// SetSL sets the 4-bit SL.
func (r MultiPathRecord) SetSL(v uint8) { mfSet(&r[mprQoSSL+1], 0, 4, v) }

// SetMTUSelector sets the MTU selector.
func (r MultiPathRecord) SetMTUSelector(s Selector) { mfSet(&r[mprMTU], 6, 2, uint8(s)) }

// SetMTU sets the MTU code.
func (r MultiPathRecord) SetMTU(m MTU) { mfSet(&r[mprMTU], 0, 6, uint8(m)) }

// SetRateSelector sets the rate selector.
func (r MultiPathRecord) SetRateSelector(s Selector) { mfSet(&r[mprRate], 6, 2, uint8(s)) }

// SetRate sets the rate code.
func (r MultiPathRecord) SetRate(v Rate) { mfSet(&r[mprRate], 0, 6, uint8(v)) }

// SetPacketLifeTimeSelector sets the packet lifetime selector.
func (r MultiPathRecord) SetPacketLifeTimeSelector(s Selector) {
	mfSet(&r[mprLifeTime], 6, 2, uint8(s))
}

// SetPacketLifeTime sets the 6-bit packet lifetime.
func (r MultiPathRecord) SetPacketLifeTime(v uint8) { mfSet(&r[mprLifeTime], 0, 6, v) }

// SetServiceID sets both parts of the ServiceID.
func (r MultiPathRecord) SetServiceID(v uint64) {
	r[mprSIDMSB] = byte(v >> 56)
	for i := range 7 {
		r[mprSIDLSB+i] = byte(v >> (48 - 8*i))
	}
}

// SetIndependenceSelector sets the 2-bit independence selector.
func (r MultiPathRecord) SetIndependenceSelector(v uint8) { mfSet(&r[mprIndep], 6, 2, v) }

// SetSGIDCount sets SGIDCount.
func (r MultiPathRecord) SetSGIDCount(v uint8) { r[mprSGIDCount] = v }

// SetDGIDCount sets DGIDCount.
func (r MultiPathRecord) SetDGIDCount(v uint8) { r[mprDGIDCount] = v }

// SetGID sets GID i (sources first); a GID past the end of r is ignored.
func (r MultiPathRecord) SetGID(i int, g GID) {
	off := mprGIDs + 16*i
	if i >= 0 && off+16 <= len(r) {
		copy(r[off:off+16], g[:])
	}
}

// Encode writes every field of f into r and zeroes the reserved bits. r
// must have room for the GIDs (MultiPathRecordSize + 16 per GID); GIDs
// that do not fit are left out.
func (r MultiPathRecord) Encode(f *MultiPathRecordFields) {
	clear(r[:MultiPathRecordSize])
	r.SetRawTraffic(f.RawTraffic)
	r.SetFlowLabel(f.FlowLabel)
	r.SetHopLimit(f.HopLimit)
	r.SetTClass(f.TClass)
	r.SetReversible(f.Reversible)
	r.SetNumbPath(f.NumbPath)
	r.SetPKey(f.PKey)
	r.SetQoSClass(f.QoSClass)
	r.SetSL(f.SL)
	r.SetMTUSelector(f.MTUSelector)
	r.SetMTU(f.MTU)
	r.SetRateSelector(f.RateSelector)
	r.SetRate(f.Rate)
	r.SetPacketLifeTimeSelector(f.PacketLifeTimeSelector)
	r.SetPacketLifeTime(f.PacketLifeTime)
	r.SetServiceID(f.ServiceID)
	r.SetIndependenceSelector(f.IndependenceSelector)
	r.SetSGIDCount(f.SGIDCount)
	r.SetDGIDCount(f.DGIDCount)
	for i, g := range f.GIDs {
		r.SetGID(i, g)
	}
}

// Fields decodes every field of r, with the GIDs it counts.
func (r MultiPathRecord) Fields() MultiPathRecordFields {
	f := MultiPathRecordFields{
		RawTraffic: r.RawTraffic(), FlowLabel: r.FlowLabel(), HopLimit: r.HopLimit(), TClass: r.TClass(),
		Reversible: r.Reversible(), NumbPath: r.NumbPath(), PKey: r.PKey(), QoSClass: r.QoSClass(), SL: r.SL(),
		MTUSelector: r.MTUSelector(), MTU: r.MTU(), RateSelector: r.RateSelector(), Rate: r.Rate(),
		PacketLifeTimeSelector: r.PacketLifeTimeSelector(), PacketLifeTime: r.PacketLifeTime(),
		ServiceID: r.ServiceID(), IndependenceSelector: r.IndependenceSelector(),
		SGIDCount: r.SGIDCount(), DGIDCount: r.DGIDCount(),
	}
	if n := r.NumGIDs(); n > 0 {
		f.GIDs = make([]GID, n)
		for i := range f.GIDs {
			f.GIDs[i] = r.GID(i)
		}
	}
	return f
}

// ParseMultiPathRecord returns the view over the fixed part of b and the
// SGIDCount + DGIDCount GIDs after it; a b too short for them is an
// error wrapping ErrMADTooShort.
func ParseMultiPathRecord(b []byte) (MultiPathRecord, error) {
	if err := mfCheckLen("multipathrecord", b, MultiPathRecordSize); err != nil {
		return nil, err
	}
	r := MultiPathRecord(b)
	n := MultiPathRecordSize + 16*r.NumGIDs()
	if err := mfCheckLen(fmt.Sprintf("multipathrecord with %d gids", r.NumGIDs()), b, n); err != nil {
		return nil, err
	}
	return r[:n], nil
}
