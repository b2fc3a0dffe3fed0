package wire

import "fmt"

// Notice is the Notice attribute (IBTA Vol 1 §13.4.8.2), AttrID 0x0002,
// 80 bytes: the body of a Trap (SubnTrap, class 0x01/0x81), of a Report
// the SA sends to subscribers, and of the SA's Notice records.
//
//	 0               1               2               3
//	+-+-------------+-----------------------------------------------+
//	|G|    Type     |        ProducerType / VendorID (24)           |  0
//	+-+-------------+---------------+-------------------------------+
//	|   TrapNumber / DeviceID       |           IssuerLID           |  4
//	+-+-----------------------------+-------------------------------+
//	|T|        NoticeCount          |                               |  8
//	+-+-----------------------------+                               |
//	|                     DataDetails (54 bytes)                    |  10
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                         IssuerGID (128)                       |  64
//	+---------------------------------------------------------------+
//
// G is IsGeneric and T NoticeToggle. A generic notice carries
// ProducerType and TrapNumber; a vendor notice VendorID and DeviceID in the
// same bits.
type Notice []byte

// Notice sizes.
const (
	NoticeSize            = 80
	NoticeDataDetailsSize = 54
	noticeDataDetails     = 10
	noticeIssuerGID       = 64
)

// NoticeType is Notice.Type (IBTA Vol 1 §13.4.8.2).
type NoticeType uint8

// Notice types.
const (
	NoticeTypeFatal            NoticeType = 0
	NoticeTypeUrgent           NoticeType = 1
	NoticeTypeSecurity         NoticeType = 2
	NoticeTypeSubnetManagement NoticeType = 3
	NoticeTypeInformational    NoticeType = 4
	NoticeTypeEmpty            NoticeType = 0x7F
)

// String names the type.
func (t NoticeType) String() string {
	switch t {
	case NoticeTypeFatal:
		return "fatal"
	case NoticeTypeUrgent:
		return "urgent"
	case NoticeTypeSecurity:
		return "security"
	case NoticeTypeSubnetManagement:
		return "subnet-management"
	case NoticeTypeInformational:
		return "informational"
	case NoticeTypeEmpty:
		return "empty"
	}
	return fmt.Sprintf("NoticeType(%d)", uint8(t))
}

// Generic notice producer types (IBTA Vol 1 §13.4.8.2): the node types
// plus the class manager.
const (
	ProducerCA           = uint32(NodeTypeCA)
	ProducerSwitch       = uint32(NodeTypeSwitch)
	ProducerRouter       = uint32(NodeTypeRouter)
	ProducerClassManager = 4
)

// Generic trap numbers (IBTA Vol 1 §14.2.5.1, §13.4.8.2; protocols.md
// §4.7).
const (
	TrapGIDInService             = 64
	TrapGIDOutOfService          = 65
	TrapMcastGroupCreated        = 66
	TrapMcastGroupDeleted        = 67
	TrapLinkStateChange          = 128
	TrapLinkIntegrityThreshold   = 129
	TrapBufferOverrunThreshold   = 130
	TrapFlowControlWatchdog      = 131
	TrapLocalChanges             = 144 // CapabilityMask and other local changes
	TrapSystemImageGUIDChange    = 145
	TrapBadMKey                  = 256
	TrapBadPKey                  = 257
	TrapBadQKey                  = 258
	TrapSwitchExternalPKeyViolat = 259
)

// NoticeFields holds every Notice field for Encode.
type NoticeFields struct {
	IsGeneric bool
	Type      NoticeType // 7 bits
	// ProducerType for a generic notice, VendorID for a vendor one (24 bits).
	ProducerType uint32
	// TrapNumber for a generic notice, DeviceID for a vendor one.
	TrapNumber   uint16
	IssuerLID    LID
	NoticeToggle bool
	NoticeCount  uint16 // 15 bits
	DataDetails  [NoticeDataDetailsSize]byte
	IssuerGID    GID
}

// IsValid reports whether n holds at least the 64 bytes a Trap SMP
// carries; IssuerGID needs the full NoticeSize.
func (n Notice) IsValid() bool { return len(n) >= SMPDataSize }

// IsGeneric reports whether n is a generic (not vendor) notice.
func (n Notice) IsGeneric() bool { return mfBit(n[0], 7) }

// Type returns the notice type.
func (n Notice) Type() NoticeType { return NoticeType(mfGet(n[0], 0, 7)) }

// ProducerType returns the 24-bit producer type of a generic notice.
func (n Notice) ProducerType() uint32 { return mfU24(n, 1) }

// VendorID returns the 24-bit vendor ID of a vendor notice (the same
// bits as ProducerType).
func (n Notice) VendorID() uint32 { return mfU24(n, 1) }

// TrapNumber returns the trap number of a generic notice.
func (n Notice) TrapNumber() uint16 { return mfU16(n, 4) }

// DeviceID returns the device ID of a vendor notice (the same bits as
// TrapNumber).
func (n Notice) DeviceID() uint16 { return mfU16(n, 4) }

// IssuerLID returns IssuerLID.
func (n Notice) IssuerLID() LID { return LID(mfU16(n, 6)) }

// NoticeToggle returns NoticeToggle.
func (n Notice) NoticeToggle() bool { return mfBit(n[8], 7) }

// NoticeCount returns the 15-bit NoticeCount.
func (n Notice) NoticeCount() uint16 { return mfU16(n, 8) & 0x7FFF }

// DataDetails returns the 54-byte trap-specific area.
func (n Notice) DataDetails() []byte {
	return n[noticeDataDetails : noticeDataDetails+NoticeDataDetailsSize]
}

// IssuerGID returns IssuerGID, or the zero GID on a 64-byte view (the
// Notice of a Trap SMP has no room for it).
func (n Notice) IssuerGID() GID {
	if len(n) < NoticeSize {
		return GID{}
	}
	return mfGID(n, noticeIssuerGID)
}

// SetIsGeneric sets IsGeneric.
func (n Notice) SetIsGeneric(v bool) { mfSetBit(&n[0], 7, v) }

// SetType sets the notice type.
func (n Notice) SetType(t NoticeType) { mfSet(&n[0], 0, 7, uint8(t)) }

// SetProducerType sets the 24-bit producer type (or vendor ID).
func (n Notice) SetProducerType(v uint32) { mfPut24(n, 1, v) }

// SetTrapNumber sets the trap number (or device ID).
func (n Notice) SetTrapNumber(v uint16) { mfPut16(n, 4, v) }

// SetIssuerLID sets IssuerLID.
func (n Notice) SetIssuerLID(l LID) { mfPut16(n, 6, uint16(l)) }

// SetNoticeToggle sets NoticeToggle.
func (n Notice) SetNoticeToggle(v bool) { mfSetBit(&n[8], 7, v) }

// SetNoticeCount sets the 15-bit NoticeCount.
func (n Notice) SetNoticeCount(v uint16) {
	mfPut16(n, 8, v&0x7FFF|mfU16(n, 8)&0x8000)
}

// SetIssuerGID sets IssuerGID; it does nothing on a 64-byte view.
func (n Notice) SetIssuerGID(g GID) {
	if len(n) >= NoticeSize {
		copy(n[noticeIssuerGID:NoticeSize], g[:])
	}
}

// Encode writes every field of f into n.
func (n Notice) Encode(f *NoticeFields) {
	n[0] = 0
	n.SetIsGeneric(f.IsGeneric)
	n.SetType(f.Type)
	n.SetProducerType(f.ProducerType)
	n.SetTrapNumber(f.TrapNumber)
	n.SetIssuerLID(f.IssuerLID)
	n[8] = 0
	n.SetNoticeToggle(f.NoticeToggle)
	n.SetNoticeCount(f.NoticeCount)
	copy(n.DataDetails(), f.DataDetails[:])
	n.SetIssuerGID(f.IssuerGID)
}

// Fields decodes every field of n.
func (n Notice) Fields() NoticeFields {
	f := NoticeFields{
		IsGeneric:    n.IsGeneric(),
		Type:         n.Type(),
		ProducerType: n.ProducerType(),
		TrapNumber:   n.TrapNumber(),
		IssuerLID:    n.IssuerLID(),
		NoticeToggle: n.NoticeToggle(),
		NoticeCount:  n.NoticeCount(),
		IssuerGID:    n.IssuerGID(),
	}
	copy(f.DataDetails[:], n.DataDetails())
	return f
}

// ParseNotice returns the Notice view over the first NoticeSize bytes of
// b (an SA record or Report). Only the first 64 bytes fit in an SMP data
// area, so a Notice carried in a Trap SMP has no IssuerGID; for SMPs use
// ParseSMPNotice.
func ParseNotice(b []byte) (Notice, error) {
	if err := mfCheckLen("notice", b, NoticeSize); err != nil {
		return nil, err
	}
	return Notice(b[:NoticeSize]), nil
}

// ParseSMPNotice returns a 64-byte Notice view over the data area of a
// Trap or TrapRepress SMP. IssuerGID reads as zero on it and is not
// written by SetIssuerGID or Encode.
func ParseSMPNotice(b []byte) (Notice, error) {
	if err := mfCheckLen("notice", b, SMPDataSize); err != nil {
		return nil, err
	}
	return Notice(b[:SMPDataSize]), nil
}

// GenericNotice returns the fields of a generic notice for trap with the
// type and producer IBTA assigns to it (protocols.md §4.7): 64-67 are
// subnet-management notices from the class manager, 128-131 urgent ones
// from a switch, 144 and 145 informational ones from producer, and
// 256-259 security ones from producer. issuer is IssuerLID.
func GenericNotice(trap uint16, producer uint32, issuer LID) NoticeFields {
	f := NoticeFields{IsGeneric: true, TrapNumber: trap, IssuerLID: issuer, ProducerType: producer}
	switch {
	case trap >= TrapGIDInService && trap <= TrapMcastGroupDeleted:
		f.Type, f.ProducerType = NoticeTypeSubnetManagement, ProducerClassManager
	case trap >= TrapLinkStateChange && trap <= TrapFlowControlWatchdog:
		f.Type, f.ProducerType = NoticeTypeUrgent, ProducerSwitch
	case trap == TrapLocalChanges || trap == TrapSystemImageGUIDChange:
		f.Type = NoticeTypeInformational
	case trap >= TrapBadMKey && trap <= TrapSwitchExternalPKeyViolat:
		f.Type = NoticeTypeSecurity
	default:
		f.Type = NoticeTypeInformational
	}
	return f
}

// GIDTrapDetails is the DataDetails of traps 64-67 (GID in/out of
// service, multicast group created/deleted): 6 reserved bytes, then the
// GID (or MGID).
type GIDTrapDetails struct {
	GID GID
}

// Encode writes d into a 54-byte DataDetails area and zeroes the rest.
func (d GIDTrapDetails) Encode(dd []byte) {
	clear(dd[:NoticeDataDetailsSize])
	copy(dd[6:22], d.GID[:])
}

// DecodeGIDTrapDetails reads the details of traps 64-67.
func DecodeGIDTrapDetails(dd []byte) GIDTrapDetails { return GIDTrapDetails{GID: mfGID(dd, 6)} }

// Trap128Details is the DataDetails of trap 128 (link state change): the
// LID of the switch whose port changed.
type Trap128Details struct {
	LID LID
}

// Encode writes d into a 54-byte DataDetails area and zeroes the rest.
func (d Trap128Details) Encode(dd []byte) {
	clear(dd[:NoticeDataDetailsSize])
	mfPut16(dd, 0, uint16(d.LID))
}

// DecodeTrap128Details reads the details of trap 128.
func DecodeTrap128Details(dd []byte) Trap128Details { return Trap128Details{LID: LID(mfU16(dd, 0))} }

// Trap144 ChangeFlags bits (OpenSM ib_types.h TRAP_144_MASK_*).
const (
	Trap144NodeDescriptionChange  = 0x0001
	Trap144LinkWidthEnabledChange = 0x0002
	Trap144LinkSpeedEnabledChange = 0x0004
	Trap144SMPriorityChange       = 0x0008
	Trap144HierarchyInfoChange    = 0x0010
	Trap144CapabilityMask2Change  = 0x0020
)

// Trap144Details is the DataDetails of trap 144 (capability mask or other
// local changes): reserved 2, LID 2, reserved 1, OtherLocalChanges bit,
// CapabilityMask 4, ChangeFlags 2, CapabilityMask2 2.
type Trap144Details struct {
	LID               LID
	OtherLocalChanges bool
	CapabilityMask    PortCapabilityMask
	ChangeFlags       uint16
	CapabilityMask2   uint16
}

// Encode writes d into a 54-byte DataDetails area and zeroes the rest.
func (d Trap144Details) Encode(dd []byte) {
	clear(dd[:NoticeDataDetailsSize])
	mfPut16(dd, 2, uint16(d.LID))
	dd[5] = mfBool(d.OtherLocalChanges)
	mfPut32(dd, 6, uint32(d.CapabilityMask))
	mfPut16(dd, 10, d.ChangeFlags)
	mfPut16(dd, 12, d.CapabilityMask2)
}

// DecodeTrap144Details reads the details of trap 144.
func DecodeTrap144Details(dd []byte) Trap144Details {
	return Trap144Details{
		LID:               LID(mfU16(dd, 2)),
		OtherLocalChanges: mfBit(dd[5], 0),
		CapabilityMask:    PortCapabilityMask(mfU32(dd, 6)),
		ChangeFlags:       mfU16(dd, 10),
		CapabilityMask2:   mfU16(dd, 12),
	}
}

// BadMKeyPathSize is how many return-path entries trap 256 carries.
const BadMKeyPathSize = 30

// BadMKeyDetails is the DataDetails of trap 256 (bad M_Key, IBTA Vol 1
// §14.2.5.1): reserved 2, LIDADDR 2, DRSLID 2, Method 1, reserved 1,
// AttributeID 2, AttributeModifier 4, M_Key 8, reserved 1,
// DRNotice(1) DRPathTruncated(1) DRHopCount(6), DRNoticeReturnPath 30.
// DRNotice says the offending SMP was directed-route; its DrSLID, hop
// count and return path's used entries (ReturnPath[1..HopCount], at most
// 30, Truncated marking a longer path) follow.
type BadMKeyDetails struct {
	LID        LID
	DrSLID     LID
	Method     Method
	AttrID     AttrID
	AttrMod    uint32
	MKey       uint64
	DRNotice   bool
	Truncated  bool
	HopCount   uint8
	ReturnPath []uint8
}

// Encode writes d into a 54-byte DataDetails area and zeroes the rest. A
// hop count above 30 is written as 30 with DRPathTruncated set.
func (d BadMKeyDetails) Encode(dd []byte) {
	clear(dd[:NoticeDataDetailsSize])
	mfPut16(dd, 2, uint16(d.LID))
	mfPut16(dd, 4, uint16(d.DrSLID))
	dd[6] = uint8(d.Method)
	mfPut16(dd, 8, uint16(d.AttrID))
	mfPut32(dd, 10, d.AttrMod)
	mfPut64(dd, 14, d.MKey)
	hops, flags := d.HopCount, uint8(0)
	if d.DRNotice {
		flags |= 0x80
	}
	if d.Truncated || hops > BadMKeyPathSize {
		flags |= 0x40
		hops = min(hops, BadMKeyPathSize)
	}
	dd[23] = flags | hops&0x3F
	copy(dd[24:24+BadMKeyPathSize], d.ReturnPath[:min(len(d.ReturnPath), int(hops))])
}

// DecodeBadMKeyDetails reads the DataDetails of trap 256.
func DecodeBadMKeyDetails(dd []byte) (BadMKeyDetails, error) {
	if err := mfCheckLen("trap 256 details", dd, NoticeDataDetailsSize); err != nil {
		return BadMKeyDetails{}, err
	}
	d := BadMKeyDetails{
		LID:       LID(mfU16(dd, 2)),
		DrSLID:    LID(mfU16(dd, 4)),
		Method:    Method(dd[6]),
		AttrID:    AttrID(mfU16(dd, 8)),
		AttrMod:   mfU32(dd, 10),
		MKey:      mfU64(dd, 14),
		DRNotice:  dd[23]&0x80 != 0,
		Truncated: dd[23]&0x40 != 0,
		HopCount:  dd[23] & 0x3F,
	}
	n := min(int(d.HopCount), BadMKeyPathSize)
	d.ReturnPath = append([]uint8(nil), dd[24:24+n]...)
	return d, nil
}

// KeyViolationDetails is the DataDetails of traps 257 (bad P_Key) and 258
// (bad Q_Key): reserved 2, LID1 2, LID2 2, key 4, SL(4) reserved(4)
// QP1(24), reserved(8) QP2(24), GID1 16, GID2 16.
type KeyViolationDetails struct {
	LID1, LID2 LID
	Key        uint32
	SL         uint8  // 4 bits
	QP1, QP2   uint32 // 24 bits
	GID1, GID2 GID
}

// Encode writes d into a 54-byte DataDetails area and zeroes the rest.
func (d KeyViolationDetails) Encode(dd []byte) {
	clear(dd[:NoticeDataDetailsSize])
	mfPut16(dd, 2, uint16(d.LID1))
	mfPut16(dd, 4, uint16(d.LID2))
	mfPut32(dd, 6, d.Key)
	dd[10] = d.SL << 4
	mfPut24(dd, 11, d.QP1)
	mfPut24(dd, 15, d.QP2)
	copy(dd[18:34], d.GID1[:])
	copy(dd[34:50], d.GID2[:])
}

// DecodeKeyViolationDetails reads the details of traps 257 and 258.
func DecodeKeyViolationDetails(dd []byte) KeyViolationDetails {
	return KeyViolationDetails{
		LID1: LID(mfU16(dd, 2)),
		LID2: LID(mfU16(dd, 4)),
		Key:  mfU32(dd, 6),
		SL:   dd[10] >> 4,
		QP1:  mfU24(dd, 11),
		QP2:  mfU24(dd, 15),
		GID1: mfGID(dd, 18),
		GID2: mfGID(dd, 34),
	}
}

// Trap128Notice returns the notice a switch sends when a port's link state
// changes (trap 128), as ibsim builds it (ibsim-protocol.md §6.8).
func Trap128Notice(switchLID LID) NoticeFields {
	f := GenericNotice(TrapLinkStateChange, ProducerSwitch, switchLID)
	Trap128Details{LID: switchLID}.Encode(f.DataDetails[:])
	return f
}

// Trap144Notice returns the notice a port sends when its capability mask
// or another local attribute changes (trap 144).
func Trap144Notice(producer NodeType, d Trap144Details) NoticeFields {
	f := GenericNotice(TrapLocalChanges, uint32(producer), d.LID)
	d.Encode(f.DataDetails[:])
	return f
}

// GIDTrapNotice returns the notice the SM generates for traps 64-67 about
// gid; smLID and smGID identify the issuer.
func GIDTrapNotice(trap uint16, gid GID, smLID LID, smGID GID) NoticeFields {
	f := GenericNotice(trap, ProducerClassManager, smLID)
	f.IssuerGID = smGID
	GIDTrapDetails{GID: gid}.Encode(f.DataDetails[:])
	return f
}

// KeyViolationNotice returns the notice a port sends for a bad P_Key (257)
// or Q_Key (258).
func KeyViolationNotice(trap uint16, producer NodeType, issuer LID, d KeyViolationDetails) NoticeFields {
	f := GenericNotice(trap, uint32(producer), issuer)
	d.Encode(f.DataDetails[:])
	return f
}
