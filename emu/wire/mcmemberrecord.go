package wire

// MCMemberRecord is the SA MCMemberRecord (IBTA Vol 1 §15.2.5.17), AttrID
// 0x0038: a multicast group membership (join = SubnAdmSet, leave =
// SubnAdmDelete). 52 bytes, stride 56.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                           MGID (128)                          |  0
//	+---------------------------------------------------------------+
//	|                          PortGID (128)                        |  16
//	+---------------------------------------------------------------+
//	|                             Q_Key                             |  32
//	+-------------------------------+---+-----------+---------------+
//	|              MLID             |MSl|    MTU    |     TClass    |  36
//	+-------------------------------+---+-----------+---+-----------+
//	|             P_Key             |RSl|    Rate   |LSl|  PktLife  |  40
//	+-------+-----------------------+---+-----------+---+-----------+
//	|   SL  |             FlowLabel (20)            |    HopLimit   |  44
//	+-------+-------+-+-------------+---------------+---------------+
//	| Scope |JoinSt.|P|   reserved  |            reserved           |  48
//	+-------+-------+-+-------------+-------------------------------+
//
// P is ProxyJoin; MSl, RSl and LSl are the MTU, Rate and PacketLifeTime
// selectors.
type MCMemberRecord []byte

// MCMemberRecordSize is the size of an MCMemberRecord without padding.
const MCMemberRecordSize = 52

const (
	mcrMGID      = 0
	mcrPortGID   = 16
	mcrQKey      = 32
	mcrMLID      = 36
	mcrMTU       = 38
	mcrTClass    = 39
	mcrPKey      = 40
	mcrRate      = 42
	mcrLifeTime  = 43
	mcrSLFlowHop = 44
	mcrScopeJoin = 48
	mcrProxyJoin = 49
)

// JoinState bits of MCMemberRecord (IBTA Vol 1 §15.2.5.17).
const (
	JoinFullMember         = 0x1
	JoinNonMember          = 0x2
	JoinSendOnlyNonMember  = 0x4
	JoinSendOnlyFullMember = 0x8
)

// MCMemberRecord ComponentMask bits (IBTA Vol 1 §15.2.5.17; OpenSM
// IB_MCR_COMPMASK_*).
const (
	MCMemberRecordCompMGID           ComponentMask = 1 << 0
	MCMemberRecordCompPortGID        ComponentMask = 1 << 1
	MCMemberRecordCompQKey           ComponentMask = 1 << 2
	MCMemberRecordCompMLID           ComponentMask = 1 << 3
	MCMemberRecordCompMTUSelector    ComponentMask = 1 << 4
	MCMemberRecordCompMTU            ComponentMask = 1 << 5
	MCMemberRecordCompTClass         ComponentMask = 1 << 6
	MCMemberRecordCompPKey           ComponentMask = 1 << 7
	MCMemberRecordCompRateSelector   ComponentMask = 1 << 8
	MCMemberRecordCompRate           ComponentMask = 1 << 9
	MCMemberRecordCompLifeSelector   ComponentMask = 1 << 10
	MCMemberRecordCompPacketLifeTime ComponentMask = 1 << 11
	MCMemberRecordCompSL             ComponentMask = 1 << 12
	MCMemberRecordCompFlowLabel      ComponentMask = 1 << 13
	MCMemberRecordCompHopLimit       ComponentMask = 1 << 14
	MCMemberRecordCompScope          ComponentMask = 1 << 15
	MCMemberRecordCompJoinState      ComponentMask = 1 << 16
	MCMemberRecordCompProxyJoin      ComponentMask = 1 << 17
)

// MCMemberRecordFields holds every MCMemberRecord field for Encode.
type MCMemberRecordFields struct {
	MGID                   GID
	PortGID                GID
	QKey                   uint32
	MLID                   LID
	MTUSelector            Selector
	MTU                    MTU
	TClass                 uint8
	PKey                   PKey
	RateSelector           Selector
	Rate                   Rate
	PacketLifeTimeSelector Selector
	PacketLifeTime         uint8  // 6 bits
	SL                     uint8  // 4 bits
	FlowLabel              uint32 // 20 bits
	HopLimit               uint8
	Scope                  uint8 // 4 bits
	JoinState              uint8 // 4 bits: Join* bits
	ProxyJoin              bool
}

// IsValid reports whether r holds a whole MCMemberRecord.
func (r MCMemberRecord) IsValid() bool { return len(r) >= MCMemberRecordSize }

// MGID returns the multicast GID.
func (r MCMemberRecord) MGID() GID { return mfGID(r, mcrMGID) }

// PortGID returns the member's port GID.
func (r MCMemberRecord) PortGID() GID { return mfGID(r, mcrPortGID) }

// QKey returns Q_Key.
func (r MCMemberRecord) QKey() uint32 { return mfU32(r, mcrQKey) }

// MLID returns MLID.
func (r MCMemberRecord) MLID() LID { return LID(mfU16(r, mcrMLID)) }

// MTUSelector returns the MTU selector.
func (r MCMemberRecord) MTUSelector() Selector { return Selector(mfGet(r[mcrMTU], 6, 2)) }

// MTU returns the MTU code.
func (r MCMemberRecord) MTU() MTU { return MTU(mfGet(r[mcrMTU], 0, 6)) }

// TClass returns TClass.
func (r MCMemberRecord) TClass() uint8 { return r[mcrTClass] }

// PKey returns P_Key.
func (r MCMemberRecord) PKey() PKey { return PKey(mfU16(r, mcrPKey)) }

// RateSelector returns the rate selector.
func (r MCMemberRecord) RateSelector() Selector { return Selector(mfGet(r[mcrRate], 6, 2)) }

// Rate returns the rate code.
func (r MCMemberRecord) Rate() Rate { return Rate(mfGet(r[mcrRate], 0, 6)) }

// PacketLifeTimeSelector returns the packet lifetime selector.
func (r MCMemberRecord) PacketLifeTimeSelector() Selector {
	return Selector(mfGet(r[mcrLifeTime], 6, 2))
}

// PacketLifeTime returns the 6-bit packet lifetime.
func (r MCMemberRecord) PacketLifeTime() uint8 { return mfGet(r[mcrLifeTime], 0, 6) }

// SL returns SL.
func (r MCMemberRecord) SL() uint8 { return mfGet(r[mcrSLFlowHop], 4, 4) }

// FlowLabel returns the 20-bit FlowLabel.
func (r MCMemberRecord) FlowLabel() uint32 { return mfU32(r, mcrSLFlowHop) >> 8 & 0xFFFFF }

// HopLimit returns HopLimit.
func (r MCMemberRecord) HopLimit() uint8 { return r[mcrSLFlowHop+3] }

// Scope returns the 4-bit Scope.
func (r MCMemberRecord) Scope() uint8 { return mfGet(r[mcrScopeJoin], 4, 4) }

// JoinState returns the 4-bit JoinState.
func (r MCMemberRecord) JoinState() uint8 { return mfGet(r[mcrScopeJoin], 0, 4) }

// ProxyJoin returns ProxyJoin.
func (r MCMemberRecord) ProxyJoin() bool { return mfBit(r[mcrProxyJoin], 7) }

// SetMGID sets the multicast GID.
func (r MCMemberRecord) SetMGID(g GID) { copy(r[mcrMGID:], g[:]) }

// SetPortGID sets the member's port GID.
func (r MCMemberRecord) SetPortGID(g GID) { copy(r[mcrPortGID:], g[:]) }

// SetQKey sets Q_Key.
func (r MCMemberRecord) SetQKey(v uint32) { mfPut32(r, mcrQKey, v) }

// SetMLID sets MLID.
func (r MCMemberRecord) SetMLID(l LID) { mfPut16(r, mcrMLID, uint16(l)) }

// SetMTUSelector sets the MTU selector.
func (r MCMemberRecord) SetMTUSelector(s Selector) { mfSet(&r[mcrMTU], 6, 2, uint8(s)) }

// SetMTU sets the MTU code.
func (r MCMemberRecord) SetMTU(m MTU) { mfSet(&r[mcrMTU], 0, 6, uint8(m)) }

// SetTClass sets TClass.
func (r MCMemberRecord) SetTClass(v uint8) { r[mcrTClass] = v }

// SetPKey sets P_Key.
func (r MCMemberRecord) SetPKey(k PKey) { mfPut16(r, mcrPKey, uint16(k)) }

// SetRateSelector sets the rate selector.
func (r MCMemberRecord) SetRateSelector(s Selector) { mfSet(&r[mcrRate], 6, 2, uint8(s)) }

// SetRate sets the rate code.
func (r MCMemberRecord) SetRate(v Rate) { mfSet(&r[mcrRate], 0, 6, uint8(v)) }

// SetPacketLifeTimeSelector sets the packet lifetime selector.
func (r MCMemberRecord) SetPacketLifeTimeSelector(s Selector) {
	mfSet(&r[mcrLifeTime], 6, 2, uint8(s))
}

// SetPacketLifeTime sets the 6-bit packet lifetime.
func (r MCMemberRecord) SetPacketLifeTime(v uint8) { mfSet(&r[mcrLifeTime], 0, 6, v) }

// SetSL sets SL.
func (r MCMemberRecord) SetSL(v uint8) { mfSet(&r[mcrSLFlowHop], 4, 4, v) }

// SetFlowLabel sets the 20-bit FlowLabel.
func (r MCMemberRecord) SetFlowLabel(v uint32) {
	w := mfU32(r, mcrSLFlowHop)
	mfPut32(r, mcrSLFlowHop, w&^(0xFFFFF<<8)|(v&0xFFFFF)<<8)
}

// SetHopLimit sets HopLimit.
func (r MCMemberRecord) SetHopLimit(v uint8) { r[mcrSLFlowHop+3] = v }

// SetScope sets the 4-bit Scope.
func (r MCMemberRecord) SetScope(v uint8) { mfSet(&r[mcrScopeJoin], 4, 4, v) }

// SetJoinState sets the 4-bit JoinState.
func (r MCMemberRecord) SetJoinState(v uint8) { mfSet(&r[mcrScopeJoin], 0, 4, v) }

// SetProxyJoin sets ProxyJoin.
func (r MCMemberRecord) SetProxyJoin(v bool) { mfSetBit(&r[mcrProxyJoin], 7, v) }

// Encode writes every field of f into r and zeroes the reserved bits.
func (r MCMemberRecord) Encode(f *MCMemberRecordFields) {
	clear(r[:MCMemberRecordSize])
	r.SetMGID(f.MGID)
	r.SetPortGID(f.PortGID)
	r.SetQKey(f.QKey)
	r.SetMLID(f.MLID)
	r.SetMTUSelector(f.MTUSelector)
	r.SetMTU(f.MTU)
	r.SetTClass(f.TClass)
	r.SetPKey(f.PKey)
	r.SetRateSelector(f.RateSelector)
	r.SetRate(f.Rate)
	r.SetPacketLifeTimeSelector(f.PacketLifeTimeSelector)
	r.SetPacketLifeTime(f.PacketLifeTime)
	r.SetSL(f.SL)
	r.SetFlowLabel(f.FlowLabel)
	r.SetHopLimit(f.HopLimit)
	r.SetScope(f.Scope)
	r.SetJoinState(f.JoinState)
	r.SetProxyJoin(f.ProxyJoin)
}

// Fields decodes every field of r.
func (r MCMemberRecord) Fields() MCMemberRecordFields {
	return MCMemberRecordFields{
		MGID:                   r.MGID(),
		PortGID:                r.PortGID(),
		QKey:                   r.QKey(),
		MLID:                   r.MLID(),
		MTUSelector:            r.MTUSelector(),
		MTU:                    r.MTU(),
		TClass:                 r.TClass(),
		PKey:                   r.PKey(),
		RateSelector:           r.RateSelector(),
		Rate:                   r.Rate(),
		PacketLifeTimeSelector: r.PacketLifeTimeSelector(),
		PacketLifeTime:         r.PacketLifeTime(),
		SL:                     r.SL(),
		FlowLabel:              r.FlowLabel(),
		HopLimit:               r.HopLimit(),
		Scope:                  r.Scope(),
		JoinState:              r.JoinState(),
		ProxyJoin:              r.ProxyJoin(),
	}
}

// ParseMCMemberRecord returns the MCMemberRecord view over the first
// MCMemberRecordSize bytes of b.
func ParseMCMemberRecord(b []byte) (MCMemberRecord, error) {
	if err := mfCheckLen("mcmemberrecord", b, MCMemberRecordSize); err != nil {
		return nil, err
	}
	return MCMemberRecord(b[:MCMemberRecordSize]), nil
}
