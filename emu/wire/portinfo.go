package wire

// PortInfo is the PortInfo attribute (IBTA Vol 1 §14.2.5.6), AttrID
// 0x0015, 64 bytes in the SMP data area. AttributeModifier is the port
// number (0 on a CA means the port the SMP arrived on).
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                          M_Key (64)                           |  0
//	+---------------------------------------------------------------+
//	|                        GidPrefix (64)                         |  8
//	+-------------------------------+-------------------------------+
//	|              LID              |          MasterSMLID          |  16
//	+-------------------------------+-------------------------------+
//	|                        CapabilityMask                         |  20
//	+-------------------------------+-------------------------------+
//	|           DiagCode            |        M_KeyLeasePeriod       |  24
//	+---------------+---------------+---------------+---------------+
//	|  LocalPortNum |   LWEnabled   |  LWSupported  |    LWActive   |  28
//	+-------+-------+-------+-------+---+-----+-----+-------+-------+
//	|LSpdSup|PortSt.|PhysSt.|LDDefSt|MKP| rsv | LMC |LSpdAct|LSpdEn.|  32
//	+-------+-------+-------+-------+---+-----+-----+-------+-------+
//	| NbrMTU| MSMSL | VLCap |InitTyp|  VLHighLimit  |  VLArbHighCap |  36
//	+-------+-------+-------+-------+-----+---------+-------+-+-+-+-+
//	|  VLArbLowCap  |InitRep| MTUCap|VLStl| HOQLife |OperVLs|I|O|i|o|  40
//	+---------------+-------+-------+-----+---------+-------+-+-+-+-+
//	|        M_KeyViolations        |        P_KeyViolations        |  44
//	+-------------------------------+---------------+-+---+---------+
//	|        Q_KeyViolations        |    GUIDCap    |C|MPT| SubnetTO|  48
//	+-----+---------+-------+-------+---------------+-+---+---------+
//	| rsv | RespTime|LPhyErr|Overrun|         MaxCreditHint         |  52
//	+-----+---------+-------+-------+-------------------------------+
//	|    reserved   |           LinkRoundTripLatency (24)           |  56
//	+---------------+---------------+-------+-------+-----+---------+
//	|        CapabilityMask2        |LSEAct.|LSESup.| rsv | LSEEnab.|  60
//	+-------------------------------+-------+-------+-----+---------+
//
// LW* are LinkWidthEnabled/Supported/Active, LSpd* LinkSpeedSupported/
// Active/Enabled, LSE* LinkSpeedExtActive/Supported/Enabled, MKP
// M_KeyProtectBits, MSMSL MasterSMSL, C ClientReregister, MPT
// MulticastPKeyTrapSuppressionEnabled, I/O PartitionEnforcementInbound/
// Outbound and i/o FilterRawInbound/Outbound. The bit positions are those
// of rdma-core libibmad/fields.c and OpenSM's ib_port_info_t.
type PortInfo []byte

// PortInfoSize is the size of the PortInfo attribute.
const PortInfoSize = 64

const (
	piMKey            = 0
	piGIDPrefix       = 8
	piLID             = 16
	piMasterSMLID     = 18
	piCapMask         = 20
	piDiagCode        = 24
	piMKeyLease       = 26
	piLocalPort       = 28
	piLinkWidthEn     = 29
	piLinkWidthSup    = 30
	piLinkWidthAct    = 31
	piSpeedSupState   = 32 // LinkSpeedSupported(7:4) PortState(3:0)
	piPhysDownDef     = 33 // PortPhysicalState(7:4) LinkDownDefaultState(3:0)
	piMKeyProtLMC     = 34 // M_KeyProtectBits(7:6) reserved(5:3) LMC(2:0)
	piSpeedActEn      = 35 // LinkSpeedActive(7:4) LinkSpeedEnabled(3:0)
	piMTUSMSL         = 36 // NeighborMTU(7:4) MasterSMSL(3:0)
	piVLCapInit       = 37 // VLCap(7:4) InitType(3:0)
	piVLHighLimit     = 38
	piVLArbHighCap    = 39
	piVLArbLowCap     = 40
	piInitReplyMTU    = 41 // InitTypeReply(7:4) MTUCap(3:0)
	piStallHOQ        = 42 // VLStallCount(7:5) HOQLife(4:0)
	piOperVLsEnforce  = 43 // OperationalVLs(7:4) PI(3) PO(2) FI(1) FO(0)
	piMKeyViolations  = 44
	piPKeyViolations  = 46
	piQKeyViolations  = 48
	piGUIDCap         = 50
	piReregTimeout    = 51 // ClientReregister(7) MPT(6:5) SubnetTimeOut(4:0)
	piRespTime        = 52 // reserved(7:5) RespTimeValue(4:0)
	piErrThresholds   = 53 // LocalPhyErrors(7:4) OverrunErrors(3:0)
	piMaxCreditHint   = 54
	piLinkRTLatency   = 57 // 24 bits after a reserved byte at 56
	piCapMask2        = 60
	piSpeedExtActSup  = 62 // LinkSpeedExtActive(7:4) LinkSpeedExtSupported(3:0)
	piSpeedExtEnabled = 63 // reserved(7:5) LinkSpeedExtEnabled(4:0)
)

// PortCapabilityMask is PortInfo.CapabilityMask (IBTA Vol 1 §14.2.5.6;
// protocols.md §0.4).
type PortCapabilityMask uint32

// PortInfo.CapabilityMask bits.
const (
	PortCapIsSM                                    PortCapabilityMask = 1 << 1
	PortCapIsNoticeSupported                       PortCapabilityMask = 1 << 2
	PortCapIsTrapSupported                         PortCapabilityMask = 1 << 3
	PortCapIsOptionalIPDSupported                  PortCapabilityMask = 1 << 4
	PortCapIsAutomaticMigrationSupported           PortCapabilityMask = 1 << 5
	PortCapIsSLMappingSupported                    PortCapabilityMask = 1 << 6
	PortCapIsMKeyNVRAM                             PortCapabilityMask = 1 << 7
	PortCapIsPKeyNVRAM                             PortCapabilityMask = 1 << 8
	PortCapIsLedInfoSupported                      PortCapabilityMask = 1 << 9
	PortCapIsSMDisabled                            PortCapabilityMask = 1 << 10
	PortCapIsSystemImageGUIDSupported              PortCapabilityMask = 1 << 11
	PortCapIsPKeySwitchExternalPortTrapSupported   PortCapabilityMask = 1 << 12
	PortCapIsCableInfoSupported                    PortCapabilityMask = 1 << 13
	PortCapIsExtendedSpeedsSupported               PortCapabilityMask = 1 << 14
	PortCapIsCapabilityMask2Supported              PortCapabilityMask = 1 << 15
	PortCapIsCommunicationManagementSupported      PortCapabilityMask = 1 << 16
	PortCapIsSNMPTunnelingSupported                PortCapabilityMask = 1 << 17
	PortCapIsReinitSupported                       PortCapabilityMask = 1 << 18
	PortCapIsDeviceManagementSupported             PortCapabilityMask = 1 << 19
	PortCapIsVendorClassSupported                  PortCapabilityMask = 1 << 20
	PortCapIsDRNoticeSupported                     PortCapabilityMask = 1 << 21
	PortCapIsCapabilityMaskNoticeSupported         PortCapabilityMask = 1 << 22
	PortCapIsBootManagementSupported               PortCapabilityMask = 1 << 23
	PortCapIsLinkRoundTripLatencySupported         PortCapabilityMask = 1 << 24
	PortCapIsClientReregistrationSupported         PortCapabilityMask = 1 << 25
	PortCapIsOtherLocalChangesNoticeSupported      PortCapabilityMask = 1 << 26
	PortCapIsLinkSpeedWidthPairsTableSupported     PortCapabilityMask = 1 << 27
	PortCapIsVendorSpecificMADsTableSupported      PortCapabilityMask = 1 << 28
	PortCapIsMulticastPKeyTrapSuppressionSupported PortCapabilityMask = 1 << 29
	PortCapIsMulticastFDBTopSupported              PortCapabilityMask = 1 << 30
	PortCapIsHierarchyInfoSupported                PortCapabilityMask = 1 << 31
)

// Has reports whether every bit of c2 is set in c.
func (c PortCapabilityMask) Has(c2 PortCapabilityMask) bool { return c&c2 == c2 }

// VLCap and OperationalVLs codes (IBTA Vol 1 §14.2.5.6).
const (
	VLCapVL0     = 1
	VLCapVL0to1  = 2
	VLCapVL0to3  = 3
	VLCapVL0to7  = 4
	VLCapVL0to14 = 5
)

// DataVLs is the number of data VLs a VLCap/OperationalVLs code stands
// for (0 for an invalid code).
func DataVLs(code uint8) int {
	switch code {
	case VLCapVL0, VLCapVL0to1, VLCapVL0to3, VLCapVL0to7:
		return 1 << (code - 1)
	case VLCapVL0to14:
		return 15
	}
	return 0
}

// PortInfoFields holds every PortInfo field for Encode.
type PortInfoFields struct {
	MKey                                uint64
	GIDPrefix                           uint64
	LID                                 LID
	MasterSMLID                         LID
	CapabilityMask                      PortCapabilityMask
	DiagCode                            uint16
	MKeyLeasePeriod                     uint16
	LocalPortNum                        uint8
	LinkWidthEnabled                    LinkWidth
	LinkWidthSupported                  LinkWidth
	LinkWidthActive                     LinkWidth
	LinkSpeedSupported                  LinkSpeed // 4-bit mask of SDR/DDR/QDR
	PortState                           PortState
	PortPhysicalState                   PhysPortState
	LinkDownDefaultState                PhysPortState // 0 no change, 1 Sleep, 2 Polling
	MKeyProtectBits                     uint8         // 2 bits
	LMC                                 uint8         // 3 bits
	LinkSpeedActive                     LinkSpeed     // 4 bits
	LinkSpeedEnabled                    LinkSpeed     // 4 bits
	NeighborMTU                         MTU
	MasterSMSL                          uint8
	VLCap                               uint8
	InitType                            uint8
	VLHighLimit                         uint8
	VLArbitrationHighCap                uint8
	VLArbitrationLowCap                 uint8
	InitTypeReply                       uint8
	MTUCap                              MTU
	VLStallCount                        uint8 // 3 bits
	HOQLife                             uint8 // 5 bits
	OperationalVLs                      uint8
	PartitionEnforcementInbound         bool
	PartitionEnforcementOutbound        bool
	FilterRawInbound                    bool
	FilterRawOutbound                   bool
	MKeyViolations                      uint16
	PKeyViolations                      uint16
	QKeyViolations                      uint16
	GUIDCap                             uint8
	ClientReregister                    bool
	MulticastPKeyTrapSuppressionEnabled uint8 // 2 bits
	SubnetTimeOut                       uint8 // 5 bits
	RespTimeValue                       uint8 // 5 bits
	LocalPhyErrors                      uint8 // 4 bits
	OverrunErrors                       uint8 // 4 bits
	MaxCreditHint                       uint16
	LinkRoundTripLatency                uint32 // 24 bits
	CapabilityMask2                     uint16
	LinkSpeedExtActive                  uint8 // 4 bits: 1 FDR, 2 EDR, 4 HDR, 8 NDR
	LinkSpeedExtSupported               uint8 // 4 bits
	LinkSpeedExtEnabled                 uint8 // 5 bits
}

// IsValid reports whether p holds a whole PortInfo.
func (p PortInfo) IsValid() bool { return len(p) >= PortInfoSize }

// MKey returns M_Key.
func (p PortInfo) MKey() uint64 { return mfU64(p, piMKey) }

// GIDPrefix returns GidPrefix.
func (p PortInfo) GIDPrefix() uint64 { return mfU64(p, piGIDPrefix) }

// LID returns the base LID.
func (p PortInfo) LID() LID { return LID(mfU16(p, piLID)) }

// MasterSMLID returns MasterSMLID.
func (p PortInfo) MasterSMLID() LID { return LID(mfU16(p, piMasterSMLID)) }

// CapabilityMask returns CapabilityMask.
func (p PortInfo) CapabilityMask() PortCapabilityMask {
	return PortCapabilityMask(mfU32(p, piCapMask))
}

// DiagCode returns DiagCode.
func (p PortInfo) DiagCode() uint16 { return mfU16(p, piDiagCode) }

// MKeyLeasePeriod returns M_KeyLeasePeriod.
func (p PortInfo) MKeyLeasePeriod() uint16 { return mfU16(p, piMKeyLease) }

// LocalPortNum returns LocalPortNum.
func (p PortInfo) LocalPortNum() uint8 { return p[piLocalPort] }

// LinkWidthEnabled returns LinkWidthEnabled.
func (p PortInfo) LinkWidthEnabled() LinkWidth { return LinkWidth(p[piLinkWidthEn]) }

// LinkWidthSupported returns LinkWidthSupported.
func (p PortInfo) LinkWidthSupported() LinkWidth { return LinkWidth(p[piLinkWidthSup]) }

// LinkWidthActive returns LinkWidthActive.
func (p PortInfo) LinkWidthActive() LinkWidth { return LinkWidth(p[piLinkWidthAct]) }

// LinkSpeedSupported returns LinkSpeedSupported (4 bits).
func (p PortInfo) LinkSpeedSupported() LinkSpeed {
	return LinkSpeed(mfGet(p[piSpeedSupState], 4, 4))
}

// PortState returns the logical port state.
func (p PortInfo) PortState() PortState { return PortState(mfGet(p[piSpeedSupState], 0, 4)) }

// PortPhysicalState returns the physical port state.
func (p PortInfo) PortPhysicalState() PhysPortState {
	return PhysPortState(mfGet(p[piPhysDownDef], 4, 4))
}

// LinkDownDefaultState returns LinkDownDefaultState.
func (p PortInfo) LinkDownDefaultState() PhysPortState {
	return PhysPortState(mfGet(p[piPhysDownDef], 0, 4))
}

// MKeyProtectBits returns M_KeyProtectBits.
func (p PortInfo) MKeyProtectBits() uint8 { return mfGet(p[piMKeyProtLMC], 6, 2) }

// LMC returns the LID mask control.
func (p PortInfo) LMC() uint8 { return mfGet(p[piMKeyProtLMC], 0, 3) }

// LinkSpeedActive returns LinkSpeedActive (4 bits).
func (p PortInfo) LinkSpeedActive() LinkSpeed { return LinkSpeed(mfGet(p[piSpeedActEn], 4, 4)) }

// LinkSpeedEnabled returns LinkSpeedEnabled (4 bits).
func (p PortInfo) LinkSpeedEnabled() LinkSpeed { return LinkSpeed(mfGet(p[piSpeedActEn], 0, 4)) }

// NeighborMTU returns NeighborMTU.
func (p PortInfo) NeighborMTU() MTU { return MTU(mfGet(p[piMTUSMSL], 4, 4)) }

// MasterSMSL returns MasterSMSL.
func (p PortInfo) MasterSMSL() uint8 { return mfGet(p[piMTUSMSL], 0, 4) }

// VLCap returns the VLCap code.
func (p PortInfo) VLCap() uint8 { return mfGet(p[piVLCapInit], 4, 4) }

// InitType returns InitType.
func (p PortInfo) InitType() uint8 { return mfGet(p[piVLCapInit], 0, 4) }

// VLHighLimit returns VLHighLimit.
func (p PortInfo) VLHighLimit() uint8 { return p[piVLHighLimit] }

// VLArbitrationHighCap returns VLArbitrationHighCap.
func (p PortInfo) VLArbitrationHighCap() uint8 { return p[piVLArbHighCap] }

// VLArbitrationLowCap returns VLArbitrationLowCap.
func (p PortInfo) VLArbitrationLowCap() uint8 { return p[piVLArbLowCap] }

// InitTypeReply returns InitTypeReply.
func (p PortInfo) InitTypeReply() uint8 { return mfGet(p[piInitReplyMTU], 4, 4) }

// MTUCap returns MTUCap.
func (p PortInfo) MTUCap() MTU { return MTU(mfGet(p[piInitReplyMTU], 0, 4)) }

// VLStallCount returns VLStallCount.
func (p PortInfo) VLStallCount() uint8 { return mfGet(p[piStallHOQ], 5, 3) }

// HOQLife returns HOQLife.
func (p PortInfo) HOQLife() uint8 { return mfGet(p[piStallHOQ], 0, 5) }

// OperationalVLs returns the OperationalVLs code.
func (p PortInfo) OperationalVLs() uint8 { return mfGet(p[piOperVLsEnforce], 4, 4) }

// PartitionEnforcementInbound returns PartitionEnforcementInbound.
func (p PortInfo) PartitionEnforcementInbound() bool { return mfBit(p[piOperVLsEnforce], 3) }

// PartitionEnforcementOutbound returns PartitionEnforcementOutbound.
func (p PortInfo) PartitionEnforcementOutbound() bool { return mfBit(p[piOperVLsEnforce], 2) }

// FilterRawInbound returns FilterRawInbound.
func (p PortInfo) FilterRawInbound() bool { return mfBit(p[piOperVLsEnforce], 1) }

// FilterRawOutbound returns FilterRawOutbound.
func (p PortInfo) FilterRawOutbound() bool { return mfBit(p[piOperVLsEnforce], 0) }

// MKeyViolations returns M_KeyViolations.
func (p PortInfo) MKeyViolations() uint16 { return mfU16(p, piMKeyViolations) }

// PKeyViolations returns P_KeyViolations.
func (p PortInfo) PKeyViolations() uint16 { return mfU16(p, piPKeyViolations) }

// QKeyViolations returns Q_KeyViolations.
func (p PortInfo) QKeyViolations() uint16 { return mfU16(p, piQKeyViolations) }

// GUIDCap returns GUIDCap.
func (p PortInfo) GUIDCap() uint8 { return p[piGUIDCap] }

// ClientReregister returns ClientReregister.
func (p PortInfo) ClientReregister() bool { return mfBit(p[piReregTimeout], 7) }

// MulticastPKeyTrapSuppressionEnabled returns the 2-bit field.
func (p PortInfo) MulticastPKeyTrapSuppressionEnabled() uint8 {
	return mfGet(p[piReregTimeout], 5, 2)
}

// SubnetTimeOut returns SubnetTimeOut.
func (p PortInfo) SubnetTimeOut() uint8 { return mfGet(p[piReregTimeout], 0, 5) }

// RespTimeValue returns RespTimeValue.
func (p PortInfo) RespTimeValue() uint8 { return mfGet(p[piRespTime], 0, 5) }

// LocalPhyErrors returns the LocalPhyErrors threshold.
func (p PortInfo) LocalPhyErrors() uint8 { return mfGet(p[piErrThresholds], 4, 4) }

// OverrunErrors returns the OverrunErrors threshold.
func (p PortInfo) OverrunErrors() uint8 { return mfGet(p[piErrThresholds], 0, 4) }

// MaxCreditHint returns MaxCreditHint.
func (p PortInfo) MaxCreditHint() uint16 { return mfU16(p, piMaxCreditHint) }

// LinkRoundTripLatency returns LinkRoundTripLatency (24 bits).
func (p PortInfo) LinkRoundTripLatency() uint32 { return mfU24(p, piLinkRTLatency) }

// CapabilityMask2 returns CapabilityMask2.
func (p PortInfo) CapabilityMask2() uint16 { return mfU16(p, piCapMask2) }

// LinkSpeedExtActive returns LinkSpeedExtActive (4 bits).
func (p PortInfo) LinkSpeedExtActive() uint8 { return mfGet(p[piSpeedExtActSup], 4, 4) }

// LinkSpeedExtSupported returns LinkSpeedExtSupported (4 bits).
func (p PortInfo) LinkSpeedExtSupported() uint8 { return mfGet(p[piSpeedExtActSup], 0, 4) }

// LinkSpeedExtEnabled returns LinkSpeedExtEnabled (5 bits).
func (p PortInfo) LinkSpeedExtEnabled() uint8 { return mfGet(p[piSpeedExtEnabled], 0, 5) }

// ActiveSpeed combines LinkSpeedActive and LinkSpeedExtActive into one
// LinkSpeed: the extended speed when one is active, else the base speed.
func (p PortInfo) ActiveSpeed() LinkSpeed {
	if e := p.LinkSpeedExtActive(); e != 0 {
		return LinkSpeed(e) << 8
	}
	return p.LinkSpeedActive()
}

// SetMKey sets M_Key.
func (p PortInfo) SetMKey(v uint64) { mfPut64(p, piMKey, v) }

// SetGIDPrefix sets GidPrefix.
func (p PortInfo) SetGIDPrefix(v uint64) { mfPut64(p, piGIDPrefix, v) }

// SetLID sets the base LID.
func (p PortInfo) SetLID(v LID) { mfPut16(p, piLID, uint16(v)) }

// SetMasterSMLID sets MasterSMLID.
func (p PortInfo) SetMasterSMLID(v LID) { mfPut16(p, piMasterSMLID, uint16(v)) }

// SetCapabilityMask sets CapabilityMask.
func (p PortInfo) SetCapabilityMask(v PortCapabilityMask) { mfPut32(p, piCapMask, uint32(v)) }

// SetDiagCode sets DiagCode.
func (p PortInfo) SetDiagCode(v uint16) { mfPut16(p, piDiagCode, v) }

// SetMKeyLeasePeriod sets M_KeyLeasePeriod.
func (p PortInfo) SetMKeyLeasePeriod(v uint16) { mfPut16(p, piMKeyLease, v) }

// SetLocalPortNum sets LocalPortNum.
func (p PortInfo) SetLocalPortNum(v uint8) { p[piLocalPort] = v }

// SetLinkWidthEnabled sets LinkWidthEnabled.
func (p PortInfo) SetLinkWidthEnabled(v LinkWidth) { p[piLinkWidthEn] = uint8(v) }

// SetLinkWidthSupported sets LinkWidthSupported.
func (p PortInfo) SetLinkWidthSupported(v LinkWidth) { p[piLinkWidthSup] = uint8(v) }

// SetLinkWidthActive sets LinkWidthActive.
func (p PortInfo) SetLinkWidthActive(v LinkWidth) { p[piLinkWidthAct] = uint8(v) }

// SetLinkSpeedSupported sets LinkSpeedSupported (low 4 bits of v).
func (p PortInfo) SetLinkSpeedSupported(v LinkSpeed) { mfSet(&p[piSpeedSupState], 4, 4, uint8(v)) }

// SetPortState sets the logical port state.
func (p PortInfo) SetPortState(v PortState) { mfSet(&p[piSpeedSupState], 0, 4, uint8(v)) }

// SetPortPhysicalState sets the physical port state.
func (p PortInfo) SetPortPhysicalState(v PhysPortState) { mfSet(&p[piPhysDownDef], 4, 4, uint8(v)) }

// SetLinkDownDefaultState sets LinkDownDefaultState.
func (p PortInfo) SetLinkDownDefaultState(v PhysPortState) {
	mfSet(&p[piPhysDownDef], 0, 4, uint8(v))
}

// SetMKeyProtectBits sets M_KeyProtectBits.
func (p PortInfo) SetMKeyProtectBits(v uint8) { mfSet(&p[piMKeyProtLMC], 6, 2, v) }

// SetLMC sets the LID mask control.
func (p PortInfo) SetLMC(v uint8) { mfSet(&p[piMKeyProtLMC], 0, 3, v) }

// SetLinkSpeedActive sets LinkSpeedActive.
func (p PortInfo) SetLinkSpeedActive(v LinkSpeed) { mfSet(&p[piSpeedActEn], 4, 4, uint8(v)) }

// SetLinkSpeedEnabled sets LinkSpeedEnabled.
func (p PortInfo) SetLinkSpeedEnabled(v LinkSpeed) { mfSet(&p[piSpeedActEn], 0, 4, uint8(v)) }

// SetNeighborMTU sets NeighborMTU.
func (p PortInfo) SetNeighborMTU(v MTU) { mfSet(&p[piMTUSMSL], 4, 4, uint8(v)) }

// SetMasterSMSL sets MasterSMSL.
func (p PortInfo) SetMasterSMSL(v uint8) { mfSet(&p[piMTUSMSL], 0, 4, v) }

// SetVLCap sets the VLCap code.
func (p PortInfo) SetVLCap(v uint8) { mfSet(&p[piVLCapInit], 4, 4, v) }

// SetInitType sets InitType.
func (p PortInfo) SetInitType(v uint8) { mfSet(&p[piVLCapInit], 0, 4, v) }

// SetVLHighLimit sets VLHighLimit.
func (p PortInfo) SetVLHighLimit(v uint8) { p[piVLHighLimit] = v }

// SetVLArbitrationHighCap sets VLArbitrationHighCap.
func (p PortInfo) SetVLArbitrationHighCap(v uint8) { p[piVLArbHighCap] = v }

// SetVLArbitrationLowCap sets VLArbitrationLowCap.
func (p PortInfo) SetVLArbitrationLowCap(v uint8) { p[piVLArbLowCap] = v }

// SetInitTypeReply sets InitTypeReply.
func (p PortInfo) SetInitTypeReply(v uint8) { mfSet(&p[piInitReplyMTU], 4, 4, v) }

// SetMTUCap sets MTUCap.
func (p PortInfo) SetMTUCap(v MTU) { mfSet(&p[piInitReplyMTU], 0, 4, uint8(v)) }

// SetVLStallCount sets VLStallCount.
func (p PortInfo) SetVLStallCount(v uint8) { mfSet(&p[piStallHOQ], 5, 3, v) }

// SetHOQLife sets HOQLife.
func (p PortInfo) SetHOQLife(v uint8) { mfSet(&p[piStallHOQ], 0, 5, v) }

// SetOperationalVLs sets the OperationalVLs code.
func (p PortInfo) SetOperationalVLs(v uint8) { mfSet(&p[piOperVLsEnforce], 4, 4, v) }

// SetPartitionEnforcementInbound sets PartitionEnforcementInbound.
func (p PortInfo) SetPartitionEnforcementInbound(v bool) { mfSetBit(&p[piOperVLsEnforce], 3, v) }

// SetPartitionEnforcementOutbound sets PartitionEnforcementOutbound.
func (p PortInfo) SetPartitionEnforcementOutbound(v bool) { mfSetBit(&p[piOperVLsEnforce], 2, v) }

// SetFilterRawInbound sets FilterRawInbound.
func (p PortInfo) SetFilterRawInbound(v bool) { mfSetBit(&p[piOperVLsEnforce], 1, v) }

// SetFilterRawOutbound sets FilterRawOutbound.
func (p PortInfo) SetFilterRawOutbound(v bool) { mfSetBit(&p[piOperVLsEnforce], 0, v) }

// SetMKeyViolations sets M_KeyViolations.
func (p PortInfo) SetMKeyViolations(v uint16) { mfPut16(p, piMKeyViolations, v) }

// SetPKeyViolations sets P_KeyViolations.
func (p PortInfo) SetPKeyViolations(v uint16) { mfPut16(p, piPKeyViolations, v) }

// SetQKeyViolations sets Q_KeyViolations.
func (p PortInfo) SetQKeyViolations(v uint16) { mfPut16(p, piQKeyViolations, v) }

// SetGUIDCap sets GUIDCap.
func (p PortInfo) SetGUIDCap(v uint8) { p[piGUIDCap] = v }

// SetClientReregister sets ClientReregister.
func (p PortInfo) SetClientReregister(v bool) { mfSetBit(&p[piReregTimeout], 7, v) }

// SetMulticastPKeyTrapSuppressionEnabled sets the 2-bit field.
func (p PortInfo) SetMulticastPKeyTrapSuppressionEnabled(v uint8) {
	mfSet(&p[piReregTimeout], 5, 2, v)
}

// SetSubnetTimeOut sets SubnetTimeOut.
func (p PortInfo) SetSubnetTimeOut(v uint8) { mfSet(&p[piReregTimeout], 0, 5, v) }

// SetRespTimeValue sets RespTimeValue.
func (p PortInfo) SetRespTimeValue(v uint8) { mfSet(&p[piRespTime], 0, 5, v) }

// SetLocalPhyErrors sets the LocalPhyErrors threshold.
func (p PortInfo) SetLocalPhyErrors(v uint8) { mfSet(&p[piErrThresholds], 4, 4, v) }

// SetOverrunErrors sets the OverrunErrors threshold.
func (p PortInfo) SetOverrunErrors(v uint8) { mfSet(&p[piErrThresholds], 0, 4, v) }

// SetMaxCreditHint sets MaxCreditHint.
func (p PortInfo) SetMaxCreditHint(v uint16) { mfPut16(p, piMaxCreditHint, v) }

// SetLinkRoundTripLatency sets LinkRoundTripLatency (low 24 bits of v).
func (p PortInfo) SetLinkRoundTripLatency(v uint32) { mfPut24(p, piLinkRTLatency, v) }

// SetCapabilityMask2 sets CapabilityMask2.
func (p PortInfo) SetCapabilityMask2(v uint16) { mfPut16(p, piCapMask2, v) }

// SetLinkSpeedExtActive sets LinkSpeedExtActive.
func (p PortInfo) SetLinkSpeedExtActive(v uint8) { mfSet(&p[piSpeedExtActSup], 4, 4, v) }

// SetLinkSpeedExtSupported sets LinkSpeedExtSupported.
func (p PortInfo) SetLinkSpeedExtSupported(v uint8) { mfSet(&p[piSpeedExtActSup], 0, 4, v) }

// SetLinkSpeedExtEnabled sets LinkSpeedExtEnabled.
func (p PortInfo) SetLinkSpeedExtEnabled(v uint8) { mfSet(&p[piSpeedExtEnabled], 0, 5, v) }

// Encode writes every field of f into p and zeroes the reserved bits.
func (p PortInfo) Encode(f *PortInfoFields) {
	clear(p[:PortInfoSize])
	p.SetMKey(f.MKey)
	p.SetGIDPrefix(f.GIDPrefix)
	p.SetLID(f.LID)
	p.SetMasterSMLID(f.MasterSMLID)
	p.SetCapabilityMask(f.CapabilityMask)
	p.SetDiagCode(f.DiagCode)
	p.SetMKeyLeasePeriod(f.MKeyLeasePeriod)
	p.SetLocalPortNum(f.LocalPortNum)
	p.SetLinkWidthEnabled(f.LinkWidthEnabled)
	p.SetLinkWidthSupported(f.LinkWidthSupported)
	p.SetLinkWidthActive(f.LinkWidthActive)
	p.SetLinkSpeedSupported(f.LinkSpeedSupported)
	p.SetPortState(f.PortState)
	p.SetPortPhysicalState(f.PortPhysicalState)
	p.SetLinkDownDefaultState(f.LinkDownDefaultState)
	p.SetMKeyProtectBits(f.MKeyProtectBits)
	p.SetLMC(f.LMC)
	p.SetLinkSpeedActive(f.LinkSpeedActive)
	p.SetLinkSpeedEnabled(f.LinkSpeedEnabled)
	p.SetNeighborMTU(f.NeighborMTU)
	p.SetMasterSMSL(f.MasterSMSL)
	p.SetVLCap(f.VLCap)
	p.SetInitType(f.InitType)
	p.SetVLHighLimit(f.VLHighLimit)
	p.SetVLArbitrationHighCap(f.VLArbitrationHighCap)
	p.SetVLArbitrationLowCap(f.VLArbitrationLowCap)
	p.SetInitTypeReply(f.InitTypeReply)
	p.SetMTUCap(f.MTUCap)
	p.SetVLStallCount(f.VLStallCount)
	p.SetHOQLife(f.HOQLife)
	p.SetOperationalVLs(f.OperationalVLs)
	p.SetPartitionEnforcementInbound(f.PartitionEnforcementInbound)
	p.SetPartitionEnforcementOutbound(f.PartitionEnforcementOutbound)
	p.SetFilterRawInbound(f.FilterRawInbound)
	p.SetFilterRawOutbound(f.FilterRawOutbound)
	p.SetMKeyViolations(f.MKeyViolations)
	p.SetPKeyViolations(f.PKeyViolations)
	p.SetQKeyViolations(f.QKeyViolations)
	p.SetGUIDCap(f.GUIDCap)
	p.SetClientReregister(f.ClientReregister)
	p.SetMulticastPKeyTrapSuppressionEnabled(f.MulticastPKeyTrapSuppressionEnabled)
	p.SetSubnetTimeOut(f.SubnetTimeOut)
	p.SetRespTimeValue(f.RespTimeValue)
	p.SetLocalPhyErrors(f.LocalPhyErrors)
	p.SetOverrunErrors(f.OverrunErrors)
	p.SetMaxCreditHint(f.MaxCreditHint)
	p.SetLinkRoundTripLatency(f.LinkRoundTripLatency)
	p.SetCapabilityMask2(f.CapabilityMask2)
	p.SetLinkSpeedExtActive(f.LinkSpeedExtActive)
	p.SetLinkSpeedExtSupported(f.LinkSpeedExtSupported)
	p.SetLinkSpeedExtEnabled(f.LinkSpeedExtEnabled)
}

// Fields decodes every field of p.
func (p PortInfo) Fields() PortInfoFields {
	return PortInfoFields{
		MKey:                                p.MKey(),
		GIDPrefix:                           p.GIDPrefix(),
		LID:                                 p.LID(),
		MasterSMLID:                         p.MasterSMLID(),
		CapabilityMask:                      p.CapabilityMask(),
		DiagCode:                            p.DiagCode(),
		MKeyLeasePeriod:                     p.MKeyLeasePeriod(),
		LocalPortNum:                        p.LocalPortNum(),
		LinkWidthEnabled:                    p.LinkWidthEnabled(),
		LinkWidthSupported:                  p.LinkWidthSupported(),
		LinkWidthActive:                     p.LinkWidthActive(),
		LinkSpeedSupported:                  p.LinkSpeedSupported(),
		PortState:                           p.PortState(),
		PortPhysicalState:                   p.PortPhysicalState(),
		LinkDownDefaultState:                p.LinkDownDefaultState(),
		MKeyProtectBits:                     p.MKeyProtectBits(),
		LMC:                                 p.LMC(),
		LinkSpeedActive:                     p.LinkSpeedActive(),
		LinkSpeedEnabled:                    p.LinkSpeedEnabled(),
		NeighborMTU:                         p.NeighborMTU(),
		MasterSMSL:                          p.MasterSMSL(),
		VLCap:                               p.VLCap(),
		InitType:                            p.InitType(),
		VLHighLimit:                         p.VLHighLimit(),
		VLArbitrationHighCap:                p.VLArbitrationHighCap(),
		VLArbitrationLowCap:                 p.VLArbitrationLowCap(),
		InitTypeReply:                       p.InitTypeReply(),
		MTUCap:                              p.MTUCap(),
		VLStallCount:                        p.VLStallCount(),
		HOQLife:                             p.HOQLife(),
		OperationalVLs:                      p.OperationalVLs(),
		PartitionEnforcementInbound:         p.PartitionEnforcementInbound(),
		PartitionEnforcementOutbound:        p.PartitionEnforcementOutbound(),
		FilterRawInbound:                    p.FilterRawInbound(),
		FilterRawOutbound:                   p.FilterRawOutbound(),
		MKeyViolations:                      p.MKeyViolations(),
		PKeyViolations:                      p.PKeyViolations(),
		QKeyViolations:                      p.QKeyViolations(),
		GUIDCap:                             p.GUIDCap(),
		ClientReregister:                    p.ClientReregister(),
		MulticastPKeyTrapSuppressionEnabled: p.MulticastPKeyTrapSuppressionEnabled(),
		SubnetTimeOut:                       p.SubnetTimeOut(),
		RespTimeValue:                       p.RespTimeValue(),
		LocalPhyErrors:                      p.LocalPhyErrors(),
		OverrunErrors:                       p.OverrunErrors(),
		MaxCreditHint:                       p.MaxCreditHint(),
		LinkRoundTripLatency:                p.LinkRoundTripLatency(),
		CapabilityMask2:                     p.CapabilityMask2(),
		LinkSpeedExtActive:                  p.LinkSpeedExtActive(),
		LinkSpeedExtSupported:               p.LinkSpeedExtSupported(),
		LinkSpeedExtEnabled:                 p.LinkSpeedExtEnabled(),
	}
}

// ParsePortInfo returns the PortInfo view over the first PortInfoSize
// bytes of b (an SMP data area or the PortInfo inside a PortInfoRecord).
func ParsePortInfo(b []byte) (PortInfo, error) {
	if err := mfCheckLen("portinfo", b, PortInfoSize); err != nil {
		return nil, err
	}
	return PortInfo(b[:PortInfoSize]), nil
}
