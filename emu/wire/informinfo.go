package wire

// InformInfo is the InformInfo attribute (IBTA Vol 1 §13.4.8.3), AttrID
// 0x0003, 36 bytes: a subscription to traps, sent with SubnAdmSet.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                            GID (128)                          |  0
//	+-------------------------------+-------------------------------+
//	|         LIDRangeBegin         |          LIDRangeEnd          |  16
//	+-------------------------------+---------------+---------------+
//	|           reserved            |   IsGeneric   |   Subscribe   |  20
//	+-------------------------------+---------------+---------------+
//	|             Type              |   TrapNumber / DeviceID       |  24
//	+-------------------------------+---------------+-----+---------+
//	|                  QPN (24)                     | rsv |RespTimeV|  28
//	+---------------+-----------------------------------------------+
//	|   reserved    |        ProducerType / VendorID (24)           |  32
//	+---------------+-----------------------------------------------+
//
// A zero GID means "use the LID range"; LIDRangeBegin 0xFFFF means all
// LIDs; Type, TrapNumber and ProducerType 0xFFFF(FF) mean "any".
type InformInfo []byte

// InformInfoSize is the size of the InformInfo attribute.
const InformInfoSize = 36

// InformInfo wildcards.
const (
	InformInfoAllLIDs     LID    = 0xFFFF
	InformInfoAnyType     uint16 = 0xFFFF
	InformInfoAnyTrap     uint16 = 0xFFFF
	InformInfoAnyProducer uint32 = 0xFFFFFF
)

const (
	informGID          = 0
	informLIDBegin     = 16
	informLIDEnd       = 18
	informIsGeneric    = 22
	informSubscribe    = 23
	informType         = 24
	informTrapNumber   = 26
	informQPNResp      = 28
	informProducerType = 33
)

// InformInfo ComponentMask bits for SubnAdmSet(InformInfo) (protocols.md
// §4.7, as srp_daemon builds it).
const (
	InformInfoCompGID           ComponentMask = 1 << 0
	InformInfoCompLIDRangeBegin ComponentMask = 1 << 1
	InformInfoCompLIDRangeEnd   ComponentMask = 1 << 2
	InformInfoCompIsGeneric     ComponentMask = 1 << 4
	InformInfoCompSubscribe     ComponentMask = 1 << 5
	InformInfoCompType          ComponentMask = 1 << 6
	InformInfoCompTrapNumber    ComponentMask = 1 << 7
	InformInfoCompQPN           ComponentMask = 1 << 8
	InformInfoCompRespTimeValue ComponentMask = 1 << 10
	InformInfoCompProducerType  ComponentMask = 1 << 12
)

// InformInfoFields holds every InformInfo field for Encode.
type InformInfoFields struct {
	GID           GID
	LIDRangeBegin LID
	LIDRangeEnd   LID
	IsGeneric     bool
	Subscribe     bool
	Type          uint16
	// TrapNumber for a generic subscription, DeviceID for a vendor one.
	TrapNumber    uint16
	QPN           uint32 // 24 bits
	RespTimeValue uint8  // 5 bits
	// ProducerType for a generic subscription, VendorID for a vendor one
	// (24 bits).
	ProducerType uint32
}

// IsValid reports whether i holds a whole InformInfo.
func (i InformInfo) IsValid() bool { return len(i) >= InformInfoSize }

// GID returns the subscribed GID.
func (i InformInfo) GID() GID { return mfGID(i, informGID) }

// LIDRangeBegin returns LIDRangeBegin.
func (i InformInfo) LIDRangeBegin() LID { return LID(mfU16(i, informLIDBegin)) }

// LIDRangeEnd returns LIDRangeEnd.
func (i InformInfo) LIDRangeEnd() LID { return LID(mfU16(i, informLIDEnd)) }

// IsGeneric reports whether the subscription is for generic traps.
func (i InformInfo) IsGeneric() bool { return i[informIsGeneric] != 0 }

// Subscribe reports whether this is a subscription (false: unsubscribe).
func (i InformInfo) Subscribe() bool { return i[informSubscribe] != 0 }

// Type returns the notice type subscribed to.
func (i InformInfo) Type() uint16 { return mfU16(i, informType) }

// TrapNumber returns the trap number (generic) or device ID (vendor).
func (i InformInfo) TrapNumber() uint16 { return mfU16(i, informTrapNumber) }

// QPN returns the 24-bit QP the reports go to.
func (i InformInfo) QPN() uint32 { return mfU32(i, informQPNResp) >> 8 }

// RespTimeValue returns the 5-bit RespTimeValue.
func (i InformInfo) RespTimeValue() uint8 { return mfGet(i[informQPNResp+3], 0, 5) }

// ProducerType returns the 24-bit producer type (generic) or vendor ID.
func (i InformInfo) ProducerType() uint32 { return mfU24(i, informProducerType) }

// SetGID sets the subscribed GID.
func (i InformInfo) SetGID(g GID) { copy(i[informGID:], g[:]) }

// SetLIDRangeBegin sets LIDRangeBegin.
func (i InformInfo) SetLIDRangeBegin(l LID) { mfPut16(i, informLIDBegin, uint16(l)) }

// SetLIDRangeEnd sets LIDRangeEnd.
func (i InformInfo) SetLIDRangeEnd(l LID) { mfPut16(i, informLIDEnd, uint16(l)) }

// SetIsGeneric sets IsGeneric.
func (i InformInfo) SetIsGeneric(v bool) { i[informIsGeneric] = mfBool(v) }

// SetSubscribe sets Subscribe.
func (i InformInfo) SetSubscribe(v bool) { i[informSubscribe] = mfBool(v) }

// SetType sets Type.
func (i InformInfo) SetType(v uint16) { mfPut16(i, informType, v) }

// SetTrapNumber sets the trap number (or device ID).
func (i InformInfo) SetTrapNumber(v uint16) { mfPut16(i, informTrapNumber, v) }

// SetQPN sets the 24-bit QPN.
func (i InformInfo) SetQPN(v uint32) { mfPut24(i, informQPNResp, v) }

// SetRespTimeValue sets the 5-bit RespTimeValue.
func (i InformInfo) SetRespTimeValue(v uint8) { mfSet(&i[informQPNResp+3], 0, 5, v) }

// SetProducerType sets the 24-bit producer type (or vendor ID).
func (i InformInfo) SetProducerType(v uint32) { mfPut24(i, informProducerType, v) }

// Encode writes every field of f into i and zeroes the reserved bits.
func (i InformInfo) Encode(f *InformInfoFields) {
	clear(i[:InformInfoSize])
	i.SetGID(f.GID)
	i.SetLIDRangeBegin(f.LIDRangeBegin)
	i.SetLIDRangeEnd(f.LIDRangeEnd)
	i.SetIsGeneric(f.IsGeneric)
	i.SetSubscribe(f.Subscribe)
	i.SetType(f.Type)
	i.SetTrapNumber(f.TrapNumber)
	i.SetQPN(f.QPN)
	i.SetRespTimeValue(f.RespTimeValue)
	i.SetProducerType(f.ProducerType)
}

// Fields decodes every field of i.
func (i InformInfo) Fields() InformInfoFields {
	return InformInfoFields{
		GID:           i.GID(),
		LIDRangeBegin: i.LIDRangeBegin(),
		LIDRangeEnd:   i.LIDRangeEnd(),
		IsGeneric:     i.IsGeneric(),
		Subscribe:     i.Subscribe(),
		Type:          i.Type(),
		TrapNumber:    i.TrapNumber(),
		QPN:           i.QPN(),
		RespTimeValue: i.RespTimeValue(),
		ProducerType:  i.ProducerType(),
	}
}

// ParseInformInfo returns the InformInfo view over the first
// InformInfoSize bytes of b.
func ParseInformInfo(b []byte) (InformInfo, error) {
	if err := mfCheckLen("informinfo", b, InformInfoSize); err != nil {
		return nil, err
	}
	return InformInfo(b[:InformInfoSize]), nil
}

// InformInfoRecord is the SA InformInfoRecord (IBTA Vol 1 §15.2.5.12),
// AttrID 0x00F3: who subscribed to what. 60 bytes, stride 64.
//
//	+---------------------------------------------------------------+
//	|                      SubscriberGID (128)                      |  0
//	+-------------------------------+-------------------------------+
//	|            Enum               |      reserved (6 bytes)       |  16
//	+-------------------------------+                               |
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                      InformInfo (36 bytes)                    |  24
//	+---------------------------------------------------------------+
type InformInfoRecord []byte

// InformInfoRecordSize is the size of the record without padding.
const InformInfoRecordSize = 60

// InformInfoRecord ComponentMask bits (protocols.md §4.7): the record's
// own fields, then the InformInfo fields from bit 3.
const (
	InformInfoRecordCompSubscriberGID ComponentMask = 1 << 0
	InformInfoRecordCompEnum          ComponentMask = 1 << 1
)

// InformInfoRecordFields holds the record for Encode.
type InformInfoRecordFields struct {
	SubscriberGID GID
	Enum          uint16
	InformInfo    InformInfoFields
}

// IsValid reports whether r holds a whole record.
func (r InformInfoRecord) IsValid() bool { return len(r) >= InformInfoRecordSize }

// SubscriberGID returns SubscriberGID.
func (r InformInfoRecord) SubscriberGID() GID { return mfGID(r, 0) }

// Enum returns Enum.
func (r InformInfoRecord) Enum() uint16 { return mfU16(r, 16) }

// InformInfo returns the embedded InformInfo view.
func (r InformInfoRecord) InformInfo() InformInfo { return InformInfo(r[24 : 24+InformInfoSize]) }

// SetSubscriberGID sets SubscriberGID.
func (r InformInfoRecord) SetSubscriberGID(g GID) { copy(r[0:16], g[:]) }

// SetEnum sets Enum.
func (r InformInfoRecord) SetEnum(v uint16) { mfPut16(r, 16, v) }

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r InformInfoRecord) Encode(f *InformInfoRecordFields) {
	clear(r[:InformInfoRecordSize])
	r.SetSubscriberGID(f.SubscriberGID)
	r.SetEnum(f.Enum)
	r.InformInfo().Encode(&f.InformInfo)
}

// Fields decodes every field of r.
func (r InformInfoRecord) Fields() InformInfoRecordFields {
	return InformInfoRecordFields{SubscriberGID: r.SubscriberGID(), Enum: r.Enum(), InformInfo: r.InformInfo().Fields()}
}

// ParseInformInfoRecord returns the view over the first
// InformInfoRecordSize bytes of b.
func ParseInformInfoRecord(b []byte) (InformInfoRecord, error) {
	if err := mfCheckLen("informinforecord", b, InformInfoRecordSize); err != nil {
		return nil, err
	}
	return InformInfoRecord(b[:InformInfoRecordSize]), nil
}
