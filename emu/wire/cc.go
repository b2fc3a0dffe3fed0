package wire

import "fmt"

// Congestion control (IBTA Vol 1 Annex A10): class 0x21, class version 2.
// A CC MAD is not laid out as a plain GS MAD: the common header is
// followed by the CC_Key, then 32 bytes that only CongestionLog uses
// (its attribute starts there), then the 192-byte attribute area every
// other attribute uses (A10.4.1).
//
//	+-------------------------------+  0
//	| common MAD header (24)        |
//	+-------------------------------+  24
//	| CC_Key (8)                    |
//	+-------------------------------+  32
//	| CongestionLog data /          |
//	| reserved (32)                 |
//	+-------------------------------+  64
//	| attribute data (192)          |
//	+-------------------------------+  256
//
// The attribute views below follow the bit layouts libibmad's fields.c
// and OpenSM's ib_types.h give (the tools that judge these bytes).

// Congestion control MAD layout.
const (
	CCClassVersion  = 2
	CCKeyOffset     = 24
	CCLogDataOffset = 32
	CCLogDataSize   = MADSize - CCLogDataOffset // 224
	CCDataOffset    = 64
	CCDataSize      = MADSize - CCDataOffset // 192
)

// Congestion control attributes (IBTA Vol 1 Annex A10.4.3). ClassPortInfo
// (0x0001) and Notice (0x0002, the CC_Key violation trap) are the common
// ones.
const (
	AttrCongestionInfo              AttrID = 0x0011
	AttrCongestionKeyInfo           AttrID = 0x0012
	AttrCongestionLog               AttrID = 0x0013
	AttrSwitchCongestionSetting     AttrID = 0x0014
	AttrSwitchPortCongestionSetting AttrID = 0x0015
	AttrCACongestionSetting         AttrID = 0x0016
	AttrCongestionControlTable      AttrID = 0x0017
	AttrTimeStamp                   AttrID = 0x0018
)

// TrapBadCCKey is the generic trap number of the CC_Key violation notice
// a congestion control agent sends (IBTA Vol 1 Annex A10.4.2, trap 0).
const TrapBadCCKey uint16 = 0

// CCAttrName names a congestion control attribute ("AttrID(0x....)" for
// one Annex A10 does not define).
func CCAttrName(a AttrID) string {
	switch a {
	case AttrClassPortInfo:
		return "ClassPortInfo"
	case AttrNotice:
		return "Notice"
	case AttrCongestionInfo:
		return "CongestionInfo"
	case AttrCongestionKeyInfo:
		return "CongestionKeyInfo"
	case AttrCongestionLog:
		return "CongestionLog"
	case AttrSwitchCongestionSetting:
		return "SwitchCongestionSetting"
	case AttrSwitchPortCongestionSetting:
		return "SwitchPortCongestionSetting"
	case AttrCACongestionSetting:
		return "CACongestionSetting"
	case AttrCongestionControlTable:
		return "CongestionControlTable"
	case AttrTimeStamp:
		return "TimeStamp"
	}
	return fmt.Sprintf("AttrID(0x%04x)", uint16(a))
}

// CCMAD is a whole congestion control MAD (IBTA Vol 1 Annex A10.4.1).
type CCMAD []byte

// IsValid reports whether m holds a whole MAD.
func (m CCMAD) IsValid() bool { return len(m) >= MADSize }

// MAD returns the common-header view.
func (m CCMAD) MAD() MAD { return MAD(m) }

// CCKey returns the CC_Key the MAD carries.
func (m CCMAD) CCKey() uint64 { return mfU64(m, CCKeyOffset) }

// SetCCKey sets the CC_Key.
func (m CCMAD) SetCCKey(k uint64) { mfPut64(m, CCKeyOffset, k) }

// LogData returns the 224 bytes at byte 32 where CongestionLog lives.
func (m CCMAD) LogData() []byte { return m[CCLogDataOffset:MADSize] }

// Data returns the 192-byte attribute area at byte 64.
func (m CCMAD) Data() []byte { return m[CCDataOffset:MADSize] }

// AttrData returns where attribute a lives in m: LogData for
// CongestionLog, Data for every other attribute.
func (m CCMAD) AttrData(a AttrID) []byte {
	if a == AttrCongestionLog {
		return m.LogData()
	}
	return m.Data()
}

// CCMADFields holds a CC MAD's header fields for Encode.
type CCMADFields struct {
	Method  Method
	Status  MADStatus
	TID     uint64
	AttrID  AttrID
	AttrMod uint32
	CCKey   uint64
}

// Encode writes the common header (BaseVersion 1, class 0x21, class
// version 2) and the CC_Key, and clears the rest of m.
func (m CCMAD) Encode(f *CCMADFields) {
	clear(m[:MADSize])
	MAD(m).Encode(&MADFields{
		BaseVersion: MADBaseVersion, MgmtClass: MgmtClassCC, ClassVersion: CCClassVersion,
		Method: f.Method, Status: f.Status, TID: f.TID, AttrID: f.AttrID, AttrMod: f.AttrMod,
	})
	m.SetCCKey(f.CCKey)
}

// ParseCCMAD validates b as a congestion control MAD: exactly MADSize
// bytes, BaseVersion 1, class 0x21, ClassVersion 2. A bad version comes
// back as a wrapped *MADStatusError together with the view.
func ParseCCMAD(b []byte) (CCMAD, error) {
	if err := checkMAD256("cc mad", b, MgmtClassCC); err != nil {
		if len(b) == MADSize && MAD(b).BaseVersion() != MADBaseVersion {
			return CCMAD(b), err
		}
		return nil, err
	}
	if err := checkClassVersion("cc mad", MAD(b), CCClassVersion); err != nil {
		return CCMAD(b), err
	}
	return CCMAD(b), nil
}

// CongestionInfo is the CongestionInfo attribute (IBTA Vol 1 Annex
// A10.4.3.3), read only, 4 bytes at CC byte 64.
//
//	 0               1               2               3
//	+-------------------------------+---------------+---------------+
//	|        CongestionInfo         |ControlTableCap|   reserved    |  0
//	+-------------------------------+---------------+---------------+
//
// CongestionInfo bit 0 (CongestionInfoCreditStarvation) says a switch
// supports credit starvation; ControlTableCap is the number of 64-entry
// blocks of a CA's CongestionControlTable (0 on a switch).
type CongestionInfo []byte

// CongestionInfoSize is the size of CongestionInfo.
const CongestionInfoSize = 4

// CongestionInfoCreditStarvation is CongestionInfo bit 0: the switch
// implements credit starvation (Annex A10.2.1.2).
const CongestionInfoCreditStarvation = 1 << 0

// CongestionInfoFields holds the CongestionInfo fields for Encode.
type CongestionInfoFields struct {
	CongestionInfo  uint16
	ControlTableCap uint8
}

// ParseCongestionInfo checks that b holds a CongestionInfo.
func ParseCongestionInfo(b []byte) (CongestionInfo, error) {
	if err := mfCheckLen("congestion info", b, CongestionInfoSize); err != nil {
		return nil, err
	}
	return CongestionInfo(b), nil
}

// IsValid reports whether c holds a whole CongestionInfo.
func (c CongestionInfo) IsValid() bool { return len(c) >= CongestionInfoSize }

// CongestionInfo returns the CongestionInfo bits.
func (c CongestionInfo) CongestionInfo() uint16 { return mfU16(c, 0) }

// ControlTableCap returns ControlTableCap.
func (c CongestionInfo) ControlTableCap() uint8 { return c[2] }

// Encode writes f into c.
func (c CongestionInfo) Encode(f *CongestionInfoFields) {
	clear(c[:CongestionInfoSize])
	mfPut16(c, 0, f.CongestionInfo)
	c[2] = f.ControlTableCap
}

// Fields decodes c.
func (c CongestionInfo) Fields() CongestionInfoFields {
	return CongestionInfoFields{CongestionInfo: c.CongestionInfo(), ControlTableCap: c.ControlTableCap()}
}

// CongestionKeyInfo is the CongestionKeyInfo attribute (IBTA Vol 1 Annex
// A10.4.3.4), 16 bytes at CC byte 64.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                          CC_Key (64)                          |  0
//	+-+-----------------------------+-------------------------------+
//	|P|          reserved           |       CC_KeyLeasePeriod       |  8
//	+-+-----------------------------+-------------------------------+
//	|       CC_KeyViolations        |           reserved            |  12
//	+-------------------------------+-------------------------------+
//
// P is CC_KeyProtectBit. CC_KeyLeasePeriod counts seconds.
type CongestionKeyInfo []byte

// CongestionKeyInfoSize is the size of CongestionKeyInfo.
const CongestionKeyInfoSize = 16

// CongestionKeyInfoFields holds the CongestionKeyInfo fields for Encode.
type CongestionKeyInfoFields struct {
	CCKey            uint64
	CCKeyProtectBit  bool
	CCKeyLeasePeriod uint16
	CCKeyViolations  uint16
}

// ParseCongestionKeyInfo checks that b holds a CongestionKeyInfo.
func ParseCongestionKeyInfo(b []byte) (CongestionKeyInfo, error) {
	if err := mfCheckLen("congestion key info", b, CongestionKeyInfoSize); err != nil {
		return nil, err
	}
	return CongestionKeyInfo(b), nil
}

// IsValid reports whether k holds a whole CongestionKeyInfo.
func (k CongestionKeyInfo) IsValid() bool { return len(k) >= CongestionKeyInfoSize }

// CCKey returns CC_Key.
func (k CongestionKeyInfo) CCKey() uint64 { return mfU64(k, 0) }

// CCKeyProtectBit returns CC_KeyProtectBit.
func (k CongestionKeyInfo) CCKeyProtectBit() bool { return mfBit(k[8], 7) }

// CCKeyLeasePeriod returns CC_KeyLeasePeriod (seconds).
func (k CongestionKeyInfo) CCKeyLeasePeriod() uint16 { return mfU16(k, 10) }

// CCKeyViolations returns CC_KeyViolations.
func (k CongestionKeyInfo) CCKeyViolations() uint16 { return mfU16(k, 12) }

// Encode writes f into k.
func (k CongestionKeyInfo) Encode(f *CongestionKeyInfoFields) {
	clear(k[:CongestionKeyInfoSize])
	mfPut64(k, 0, f.CCKey)
	mfSetBit(&k[8], 7, f.CCKeyProtectBit)
	mfPut16(k, 10, f.CCKeyLeasePeriod)
	mfPut16(k, 12, f.CCKeyViolations)
}

// Fields decodes k.
func (k CongestionKeyInfo) Fields() CongestionKeyInfoFields {
	return CongestionKeyInfoFields{
		CCKey: k.CCKey(), CCKeyProtectBit: k.CCKeyProtectBit(),
		CCKeyLeasePeriod: k.CCKeyLeasePeriod(), CCKeyViolations: k.CCKeyViolations(),
	}
}

// CongestionLog types (IBTA Vol 1 Annex A10.4.3.5, LogType).
const (
	CongestionLogTypeSwitch = 1
	CongestionLogTypeCA     = 2
)

// CongestionFlagsLeaseActive is CongestionFlags bit 0: the CC_Key lease
// period timer runs.
const CongestionFlagsLeaseActive = 1 << 0

// Number of event entries a CongestionLog holds.
const (
	CongestionLogSwitchEntries = 15
	CongestionLogCAEntries     = 13
)

// CongestionLog is the CongestionLog attribute (IBTA Vol 1 Annex
// A10.4.3.5), read only, 220 bytes at CC byte 32 (it overlays the log
// data area and the attribute area). Its first two bytes are common; the
// rest depends on LogType.
//
// Switch (LogType 1):
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    LogType    |CongestionFlags|       LogEventsCounter        |  0
//	+---------------+---------------+-------------------------------+
//	|                       CurrentTimeStamp                        |  4
//	+---------------------------------------------------------------+
//	|                     PortMap (256 bits)                        |  8
//	+---------------------------------------------------------------+
//	|          15 x CongestionLogEvent (switch, 12 bytes)           |  40
//	+---------------------------------------------------------------+
//
// CA (LogType 2):
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|    LogType    |CongestionFlags|     ThresholdEventCounter     |  0
//	+---------------+---------------+-------------------------------+
//	|  ThresholdCongestionEventMap  |           reserved            |  4
//	+-------------------------------+-------------------------------+
//	|                       CurrentTimeStamp                        |  8
//	+---------------------------------------------------------------+
//	|            13 x CongestionLogEvent (CA, 16 bytes)             |  12
//	+---------------------------------------------------------------+
//
// The CA layout is the one of the Q3/2010 errata as libibmad and
// ibccquery read it (CurrentTimeStamp word-aligned at 8, entries at 12).
// Time stamps count 1.024 µs units.
type CongestionLog []byte

// CongestionLogSize is the size of CongestionLog.
const CongestionLogSize = 220

const (
	clSwEntries  = 40
	clSwEntrySz  = 12
	clCAEntries  = 12
	clCAEntrySz  = 16
	clPortMapLen = 32
)

// ParseCongestionLog checks that b holds a CongestionLog.
func ParseCongestionLog(b []byte) (CongestionLog, error) {
	if err := mfCheckLen("congestion log", b, CongestionLogSize); err != nil {
		return nil, err
	}
	return CongestionLog(b), nil
}

// IsValid reports whether l holds a whole CongestionLog.
func (l CongestionLog) IsValid() bool { return len(l) >= CongestionLogSize }

// LogType returns LogType (CongestionLogTypeSwitch or CongestionLogTypeCA).
func (l CongestionLog) LogType() uint8 { return l[0] }

// CongestionFlags returns CongestionFlags.
func (l CongestionLog) CongestionFlags() uint8 { return l[1] }

// LogEventsCounter returns a switch log's LogEventsCounter (events since
// the log was last read); on a CA log the same bits are
// ThresholdEventCounter.
func (l CongestionLog) LogEventsCounter() uint16 { return mfU16(l, 2) }

// ThresholdEventCounter returns a CA log's ThresholdEventCounter.
func (l CongestionLog) ThresholdEventCounter() uint16 { return mfU16(l, 2) }

// SwitchCurrentTimeStamp returns a switch log's CurrentTimeStamp.
func (l CongestionLog) SwitchCurrentTimeStamp() uint32 { return mfU32(l, 4) }

// PortMap returns a switch log's 32-byte PortMap (bit i of the 256-bit
// big-endian map is port i).
func (l CongestionLog) PortMap() []byte { return l[8 : 8+clPortMapLen] }

// ThresholdCongestionEventMap returns a CA log's event map (one bit per
// SL).
func (l CongestionLog) ThresholdCongestionEventMap() uint16 { return mfU16(l, 4) }

// CACurrentTimeStamp returns a CA log's CurrentTimeStamp.
func (l CongestionLog) CACurrentTimeStamp() uint32 { return mfU32(l, 8) }

// SwitchEvent returns switch event entry i (0..14).
func (l CongestionLog) SwitchEvent(i int) CongestionLogEventSwitch {
	o := clSwEntries + i*clSwEntrySz
	return CongestionLogEventSwitch(l[o : o+clSwEntrySz])
}

// CAEvent returns CA event entry i (0..12).
func (l CongestionLog) CAEvent(i int) CongestionLogEventCA {
	o := clCAEntries + i*clCAEntrySz
	return CongestionLogEventCA(l[o : o+clCAEntrySz])
}

// CongestionLogSwitchFields holds a switch CongestionLog for Encode.
type CongestionLogSwitchFields struct {
	CongestionFlags  uint8
	LogEventsCounter uint16
	CurrentTimeStamp uint32
	PortMap          [clPortMapLen]byte
	Events           []CongestionLogEventSwitchFields // at most 15
}

// CongestionLogCAFields holds a CA CongestionLog for Encode.
type CongestionLogCAFields struct {
	CongestionFlags             uint8
	ThresholdEventCounter       uint16
	ThresholdCongestionEventMap uint16
	CurrentTimeStamp            uint32
	Events                      []CongestionLogEventCAFields // at most 13
}

// EncodeSwitch writes a switch log (LogType 1) into l; events past the
// fifteenth are dropped.
func (l CongestionLog) EncodeSwitch(f *CongestionLogSwitchFields) {
	clear(l[:CongestionLogSize])
	l[0] = CongestionLogTypeSwitch
	l[1] = f.CongestionFlags
	mfPut16(l, 2, f.LogEventsCounter)
	mfPut32(l, 4, f.CurrentTimeStamp)
	copy(l[8:], f.PortMap[:])
	for i, e := range f.Events {
		if i == CongestionLogSwitchEntries {
			break
		}
		l.SwitchEvent(i).Encode(&e)
	}
}

// EncodeCA writes a CA log (LogType 2) into l; events past the
// thirteenth are dropped.
func (l CongestionLog) EncodeCA(f *CongestionLogCAFields) {
	clear(l[:CongestionLogSize])
	l[0] = CongestionLogTypeCA
	l[1] = f.CongestionFlags
	mfPut16(l, 2, f.ThresholdEventCounter)
	mfPut16(l, 4, f.ThresholdCongestionEventMap)
	mfPut32(l, 8, f.CurrentTimeStamp)
	for i, e := range f.Events {
		if i == CongestionLogCAEntries {
			break
		}
		l.CAEvent(i).Encode(&e)
	}
}

// CongestionLogEventSwitch is one switch congestion log entry (IBTA Vol 1
// Annex A10.4.3.5), 12 bytes: SLID, DLID, SL (4 bits, high nibble of
// byte 4) and Timestamp at byte 8.
type CongestionLogEventSwitch []byte

// CongestionLogEventSwitchFields holds a switch log entry.
type CongestionLogEventSwitchFields struct {
	SLID, DLID LID
	SL         uint8 // 4 bits
	Timestamp  uint32
}

// SLID returns SLID.
func (e CongestionLogEventSwitch) SLID() LID { return LID(mfU16(e, 0)) }

// DLID returns DLID.
func (e CongestionLogEventSwitch) DLID() LID { return LID(mfU16(e, 2)) }

// SL returns SL.
func (e CongestionLogEventSwitch) SL() uint8 { return mfGet(e[4], 4, 4) }

// Timestamp returns Timestamp.
func (e CongestionLogEventSwitch) Timestamp() uint32 { return mfU32(e, 8) }

// Encode writes f into e.
func (e CongestionLogEventSwitch) Encode(f *CongestionLogEventSwitchFields) {
	clear(e[:clSwEntrySz])
	mfPut16(e, 0, uint16(f.SLID))
	mfPut16(e, 2, uint16(f.DLID))
	mfSet(&e[4], 4, 4, f.SL)
	mfPut32(e, 8, f.Timestamp)
}

// Fields decodes e.
func (e CongestionLogEventSwitch) Fields() CongestionLogEventSwitchFields {
	return CongestionLogEventSwitchFields{SLID: e.SLID(), DLID: e.DLID(), SL: e.SL(), Timestamp: e.Timestamp()}
}

// CongestionLogEventCA is one CA congestion log entry (IBTA Vol 1 Annex
// A10.4.3.5 with the Q3/2010 errata), 16 bytes:
//
//	 0               1               2               3
//	+-----------------------------------------------+-------+-------+
//	|               Local_QP_CN_Entry               |  SL   | SvcTy |  0
//	+-----------------------------------------------+-------+-------+
//	|           Remote_QP_Number_CN_Entry           |   reserved    |  4
//	+-------------------------------+---------------+---------------+
//	|         Local_LID_CN          |      Remote_LID_CN_Entry      |  8
//	+-------------------------------+-------------------------------+
//	|                      Timestamp_CN_Entry                       |  12
//	+---------------------------------------------------------------+
type CongestionLogEventCA []byte

// CongestionLogEventCAFields holds a CA log entry.
type CongestionLogEventCAFields struct {
	LocalQP     uint32 // 24 bits
	SL          uint8  // 4 bits
	ServiceType uint8  // 4 bits
	RemoteQP    uint32 // 24 bits
	LocalLID    LID
	RemoteLID   LID
	Timestamp   uint32
}

// LocalQP returns Local_QP_CN_Entry.
func (e CongestionLogEventCA) LocalQP() uint32 { return mfU24(e, 0) }

// SL returns SL_CN_Entry.
func (e CongestionLogEventCA) SL() uint8 { return mfGet(e[3], 4, 4) }

// ServiceType returns Service_Type_CN_Entry.
func (e CongestionLogEventCA) ServiceType() uint8 { return mfGet(e[3], 0, 4) }

// RemoteQP returns Remote_QP_Number_CN_Entry.
func (e CongestionLogEventCA) RemoteQP() uint32 { return mfU24(e, 4) }

// LocalLID returns Local_LID_CN.
func (e CongestionLogEventCA) LocalLID() LID { return LID(mfU16(e, 8)) }

// RemoteLID returns Remote_LID_CN_Entry.
func (e CongestionLogEventCA) RemoteLID() LID { return LID(mfU16(e, 10)) }

// Timestamp returns Timestamp_CN_Entry.
func (e CongestionLogEventCA) Timestamp() uint32 { return mfU32(e, 12) }

// Encode writes f into e.
func (e CongestionLogEventCA) Encode(f *CongestionLogEventCAFields) {
	clear(e[:clCAEntrySz])
	mfPut24(e, 0, f.LocalQP&QPNMask)
	mfSet(&e[3], 4, 4, f.SL)
	mfSet(&e[3], 0, 4, f.ServiceType)
	mfPut24(e, 4, f.RemoteQP&QPNMask)
	mfPut16(e, 8, uint16(f.LocalLID))
	mfPut16(e, 10, uint16(f.RemoteLID))
	mfPut32(e, 12, f.Timestamp)
}

// Fields decodes e.
func (e CongestionLogEventCA) Fields() CongestionLogEventCAFields {
	return CongestionLogEventCAFields{
		LocalQP: e.LocalQP(), SL: e.SL(), ServiceType: e.ServiceType(), RemoteQP: e.RemoteQP(),
		LocalLID: e.LocalLID(), RemoteLID: e.RemoteLID(), Timestamp: e.Timestamp(),
	}
}

// SwitchCongestionSetting is the SwitchCongestionSetting attribute (IBTA
// Vol 1 Annex A10.4.3.6), 76 bytes at CC byte 64.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                          Control_Map                          |  0
//	+---------------------------------------------------------------+
//	|                    Victim_Mask (256 bits)                     |  4
//	+---------------------------------------------------------------+
//	|                    Credit_Mask (256 bits)                     |  36
//	+-------+-------+---------------+-------+-----------------------+
//	|Thresh | resv  |  Packet_Size  |CS_Thr |       reserved        |  68
//	+-------+-------+---------------+-------+-----------------------+
//	|        CS_ReturnDelay         |         Marking_Rate          |  72
//	+-------------------------------+-------------------------------+
//
// Control_Map says which of the other fields a Set applies
// (SwitchCongestionControlMap*). CS_ReturnDelay is a CCT-style entry
// (2-bit shift, 14-bit multiplier). Masks are 256-bit big-endian port
// bit maps: bit i (port i) is bit i%8 of byte 31-i/8.
type SwitchCongestionSetting []byte

// SwitchCongestionSettingSize is the size of SwitchCongestionSetting.
const SwitchCongestionSettingSize = 76

// SwitchCongestionSetting.Control_Map bits (IBTA Vol 1 Annex A10.4.3.6).
const (
	SwitchCongestionControlMapVictimMask  = 1 << 0
	SwitchCongestionControlMapCreditMask  = 1 << 1
	SwitchCongestionControlMapThreshold   = 1 << 2 // Threshold and Packet_Size
	SwitchCongestionControlMapCSThreshold = 1 << 3 // CS_Threshold and CS_ReturnDelay
	SwitchCongestionControlMapMarkingRate = 1 << 4
	// SwitchCongestionControlMapAll has every defined bit.
	SwitchCongestionControlMapAll = 0x1F
)

const (
	switchCongestionPortMaskLen = 32
	scsThreshold                = 68
	scsCSThreshold              = 70
)

// SwitchCongestionSettingFields holds every SwitchCongestionSetting field.
type SwitchCongestionSettingFields struct {
	ControlMap    uint32
	VictimMask    [32]byte
	CreditMask    [32]byte
	Threshold     uint8 // 4 bits
	PacketSize    uint8
	CSThreshold   uint8 // 4 bits
	CSReturnDelay uint16
	MarkingRate   uint16
}

// ParseSwitchCongestionSetting checks that b holds a SwitchCongestionSetting.
func ParseSwitchCongestionSetting(b []byte) (SwitchCongestionSetting, error) {
	if err := mfCheckLen("switch congestion setting", b, SwitchCongestionSettingSize); err != nil {
		return nil, err
	}
	return SwitchCongestionSetting(b), nil
}

// IsValid reports whether s holds a whole SwitchCongestionSetting.
func (s SwitchCongestionSetting) IsValid() bool { return len(s) >= SwitchCongestionSettingSize }

// ControlMap returns Control_Map.
func (s SwitchCongestionSetting) ControlMap() uint32 { return mfU32(s, 0) }

// VictimMask returns the 32-byte Victim_Mask.
func (s SwitchCongestionSetting) VictimMask() []byte { return s[4 : 4+switchCongestionPortMaskLen] }

// CreditMask returns the 32-byte Credit_Mask.
func (s SwitchCongestionSetting) CreditMask() []byte { return s[36 : 36+switchCongestionPortMaskLen] }

// Threshold returns Threshold (4 bits).
func (s SwitchCongestionSetting) Threshold() uint8 {
	return mfGet(s[scsThreshold], 4, 4)
}

// PacketSize returns Packet_Size (in 64-byte credits).
func (s SwitchCongestionSetting) PacketSize() uint8 { return s[69] }

// CSThreshold returns CS_Threshold (4 bits).
func (s SwitchCongestionSetting) CSThreshold() uint8 {
	return mfGet(s[scsCSThreshold], 4, 4)
}

// CSReturnDelay returns CS_ReturnDelay (shift in bits 15-14, multiplier
// in bits 13-0).
func (s SwitchCongestionSetting) CSReturnDelay() uint16 { return mfU16(s, 72) }

// MarkingRate returns Marking_Rate.
func (s SwitchCongestionSetting) MarkingRate() uint16 { return mfU16(s, 74) }

// Encode writes f into s.
func (s SwitchCongestionSetting) Encode(f *SwitchCongestionSettingFields) {
	clear(s[:SwitchCongestionSettingSize])
	mfPut32(s, 0, f.ControlMap)
	copy(s.VictimMask(), f.VictimMask[:])
	copy(s.CreditMask(), f.CreditMask[:])
	mfSet(&s[scsThreshold], 4, 4, f.Threshold)
	s[69] = f.PacketSize
	mfSet(&s[scsCSThreshold], 4, 4, f.CSThreshold)
	mfPut16(s, 72, f.CSReturnDelay)
	mfPut16(s, 74, f.MarkingRate)
}

// Fields decodes s.
func (s SwitchCongestionSetting) Fields() SwitchCongestionSettingFields {
	f := SwitchCongestionSettingFields{
		ControlMap: s.ControlMap(), Threshold: s.Threshold(), PacketSize: s.PacketSize(),
		CSThreshold: s.CSThreshold(), CSReturnDelay: s.CSReturnDelay(), MarkingRate: s.MarkingRate(),
	}
	copy(f.VictimMask[:], s.VictimMask())
	copy(f.CreditMask[:], s.CreditMask())
	return f
}

// SwitchPortCongestionSetting is the SwitchPortCongestionSetting
// attribute (IBTA Vol 1 Annex A10.4.3.7) at CC byte 64: a block of
// SwitchPortCongestionBlockSize 4-byte elements, the AttributeModifier
// selecting the block (block b holds ports 32b..32b+31), as OpenSM
// (IB_CC_SW_PORT_SETTING_ELEMENTS) and ibccconfig's read use it.
// ibccquery divides by 48 instead; for ports below 32 both agree.
type SwitchPortCongestionSetting []byte

// SwitchPortCongestionBlockSize is the number of ports a
// SwitchPortCongestionSetting block holds.
const SwitchPortCongestionBlockSize = 32

// SwitchPortCongestionSettingSize is the size of one block.
const SwitchPortCongestionSettingSize = SwitchPortCongestionBlockSize * SwitchPortCongestionSettingElementSize

// ParseSwitchPortCongestionSetting checks that b holds a whole block.
func ParseSwitchPortCongestionSetting(b []byte) (SwitchPortCongestionSetting, error) {
	if err := mfCheckLen("switch port congestion setting", b, SwitchPortCongestionSettingSize); err != nil {
		return nil, err
	}
	return SwitchPortCongestionSetting(b), nil
}

// IsValid reports whether s holds a whole block.
func (s SwitchPortCongestionSetting) IsValid() bool { return len(s) >= SwitchPortCongestionSettingSize }

// Element returns element i (0..31) of the block.
func (s SwitchPortCongestionSetting) Element(i int) SwitchPortCongestionSettingElement {
	o := i * SwitchPortCongestionSettingElementSize
	return SwitchPortCongestionSettingElement(s[o : o+SwitchPortCongestionSettingElementSize])
}

// SwitchPortCongestionSettingElement is one port's element:
//
//	 0               1               2               3
//	+-+-+---+-------+---------------+-------------------------------+
//	|V|T|res|Thresh |  Packet_Size  |    Cong_Parm / Marking_Rate   |  0
//	+-+-+---+-------+---------------+-------------------------------+
//
// V is Valid, T Control_Type (0 congestion, 1 credit starvation).
type SwitchPortCongestionSettingElement []byte

// SwitchPortCongestionSettingElementSize is the size of one element.
const SwitchPortCongestionSettingElementSize = 4

// SwitchPortCongestionSettingElementFields holds one element.
type SwitchPortCongestionSettingElementFields struct {
	Valid       bool
	ControlType uint8 // 1 bit
	Threshold   uint8 // 4 bits
	PacketSize  uint8
	MarkingRate uint16 // Cong_Parm_Marking_Rate
}

// Valid returns Valid.
func (e SwitchPortCongestionSettingElement) Valid() bool { return mfBit(e[0], 7) }

// ControlType returns Control_Type.
func (e SwitchPortCongestionSettingElement) ControlType() uint8 { return mfGet(e[0], 6, 1) }

// Threshold returns Threshold.
func (e SwitchPortCongestionSettingElement) Threshold() uint8 { return mfGet(e[0], 0, 4) }

// PacketSize returns Packet_Size.
func (e SwitchPortCongestionSettingElement) PacketSize() uint8 { return e[1] }

// MarkingRate returns Cong_Parm_Marking_Rate.
func (e SwitchPortCongestionSettingElement) MarkingRate() uint16 { return mfU16(e, 2) }

// Encode writes f into e.
func (e SwitchPortCongestionSettingElement) Encode(f *SwitchPortCongestionSettingElementFields) {
	e[0] = 0
	mfSetBit(&e[0], 7, f.Valid)
	mfSet(&e[0], 6, 1, f.ControlType)
	mfSet(&e[0], 0, 4, f.Threshold)
	e[1] = f.PacketSize
	mfPut16(e, 2, f.MarkingRate)
}

// Fields decodes e.
func (e SwitchPortCongestionSettingElement) Fields() SwitchPortCongestionSettingElementFields {
	return SwitchPortCongestionSettingElementFields{
		Valid: e.Valid(), ControlType: e.ControlType(), Threshold: e.Threshold(),
		PacketSize: e.PacketSize(), MarkingRate: e.MarkingRate(),
	}
}

// CACongestionSetting is the CACongestionSetting attribute (IBTA Vol 1
// Annex A10.4.3.8), 132 bytes at CC byte 64: Port_Control, Control_Map
// (bit i: entry for SL i is applied by a Set) and 16 CACongestionEntry
// of 8 bytes, one per SL.
//
//	 0               1               2               3
//	+-------------------------------+-------------------------------+
//	|         Port_Control          |          Control_Map          |  0
//	+-------------------------------+---------------+---------------+
//	|          CCTI_Timer           | CCTI_Increase |Trigger_Thresh |  4 + 8*SL
//	+---------------+---------------+---------------+---------------+
//	|   CCTI_Min    |                   reserved                    |  8 + 8*SL
//	+---------------+-----------------------------------------------+
type CACongestionSetting []byte

// CACongestionSettingSize is the size of CACongestionSetting.
const CACongestionSettingSize = 4 + 16*CACongestionEntrySize

// CACongestionEntrySize is the size of one CACongestionEntry.
const CACongestionEntrySize = 8

// CACongestionSetting.Port_Control bit 0: congestion control per SL/port
// (1) rather than per QP (0).
const CAPortControlSLBased = 1 << 0

// CACongestionEntryFields holds one SL's CACongestionEntry.
type CACongestionEntryFields struct {
	CCTITimer        uint16 // 1.024 µs units
	CCTIIncrease     uint8
	TriggerThreshold uint8
	CCTIMin          uint8
}

// CACongestionSettingFields holds a whole CACongestionSetting.
type CACongestionSettingFields struct {
	PortControl uint16
	ControlMap  uint16
	Entries     [16]CACongestionEntryFields
}

// ParseCACongestionSetting checks that b holds a CACongestionSetting.
func ParseCACongestionSetting(b []byte) (CACongestionSetting, error) {
	if err := mfCheckLen("ca congestion setting", b, CACongestionSettingSize); err != nil {
		return nil, err
	}
	return CACongestionSetting(b), nil
}

// IsValid reports whether s holds a whole CACongestionSetting.
func (s CACongestionSetting) IsValid() bool { return len(s) >= CACongestionSettingSize }

// PortControl returns Port_Control.
func (s CACongestionSetting) PortControl() uint16 { return mfU16(s, 0) }

// ControlMap returns Control_Map.
func (s CACongestionSetting) ControlMap() uint16 { return mfU16(s, 2) }

// Entry returns the entry of SL sl (0..15).
func (s CACongestionSetting) Entry(sl int) CACongestionEntryFields {
	o := 4 + sl*CACongestionEntrySize
	return CACongestionEntryFields{
		CCTITimer: mfU16(s, o), CCTIIncrease: s[o+2], TriggerThreshold: s[o+3], CCTIMin: s[o+4],
	}
}

// SetEntry writes the entry of SL sl.
func (s CACongestionSetting) SetEntry(sl int, e *CACongestionEntryFields) {
	o := 4 + sl*CACongestionEntrySize
	clear(s[o : o+CACongestionEntrySize])
	mfPut16(s, o, e.CCTITimer)
	s[o+2], s[o+3], s[o+4] = e.CCTIIncrease, e.TriggerThreshold, e.CCTIMin
}

// Encode writes f into s.
func (s CACongestionSetting) Encode(f *CACongestionSettingFields) {
	clear(s[:CACongestionSettingSize])
	mfPut16(s, 0, f.PortControl)
	mfPut16(s, 2, f.ControlMap)
	for i := range f.Entries {
		s.SetEntry(i, &f.Entries[i])
	}
}

// Fields decodes s.
func (s CACongestionSetting) Fields() CACongestionSettingFields {
	f := CACongestionSettingFields{PortControl: s.PortControl(), ControlMap: s.ControlMap()}
	for i := range f.Entries {
		f.Entries[i] = s.Entry(i)
	}
	return f
}

// CongestionControlTable is one block of the CongestionControlTable
// attribute (IBTA Vol 1 Annex A10.4.3.9), 132 bytes at CC byte 64: the
// AttributeModifier is the block number, block b holding CCT entries
// 64b..64b+63.
//
//	 0               1               2               3
//	+-------------------------------+-------------------------------+
//	|          CCTI_Limit           |           reserved            |  0
//	+---+---------------------------+---+---------------------------+
//	|Sh |      CCT_Multiplier       |Sh |      CCT_Multiplier       |  4 + 2*i
//	+---+---------------------------+---+---------------------------+
//
// CCTI_Limit is the highest valid index of the whole table (not of the
// block); each entry is a 2-bit shift and a 14-bit multiplier of the
// inter-packet delay.
type CongestionControlTable []byte

// CCTBlockEntries is the number of entries one CongestionControlTable
// block holds.
const CCTBlockEntries = 64

// CongestionControlTableSize is the size of one block.
const CongestionControlTableSize = 4 + 2*CCTBlockEntries

// CCTEntry is one CongestionControlTable entry.
type CCTEntry struct {
	Shift      uint8  // 2 bits
	Multiplier uint16 // 14 bits
}

// Value returns the entry as the 16 bits the table carries.
func (e CCTEntry) Value() uint16 { return uint16(e.Shift&3)<<14 | e.Multiplier&0x3FFF }

// CCTEntryOf splits a 16-bit table entry.
func CCTEntryOf(v uint16) CCTEntry { return CCTEntry{Shift: uint8(v >> 14), Multiplier: v & 0x3FFF} }

// CongestionControlTableFields holds one block for Encode.
type CongestionControlTableFields struct {
	CCTILimit uint16
	Entries   [CCTBlockEntries]CCTEntry
}

// ParseCongestionControlTable checks that b holds a whole block.
func ParseCongestionControlTable(b []byte) (CongestionControlTable, error) {
	if err := mfCheckLen("congestion control table", b, CongestionControlTableSize); err != nil {
		return nil, err
	}
	return CongestionControlTable(b), nil
}

// IsValid reports whether t holds a whole block.
func (t CongestionControlTable) IsValid() bool { return len(t) >= CongestionControlTableSize }

// CCTILimit returns CCTI_Limit.
func (t CongestionControlTable) CCTILimit() uint16 { return mfU16(t, 0) }

// Entry returns entry i (0..63) of the block.
func (t CongestionControlTable) Entry(i int) CCTEntry { return CCTEntryOf(mfU16(t, 4+2*i)) }

// SetEntry sets entry i of the block.
func (t CongestionControlTable) SetEntry(i int, e CCTEntry) { mfPut16(t, 4+2*i, e.Value()) }

// Encode writes f into t.
func (t CongestionControlTable) Encode(f *CongestionControlTableFields) {
	clear(t[:CongestionControlTableSize])
	mfPut16(t, 0, f.CCTILimit)
	for i, e := range f.Entries {
		t.SetEntry(i, e)
	}
}

// Fields decodes t.
func (t CongestionControlTable) Fields() CongestionControlTableFields {
	f := CongestionControlTableFields{CCTILimit: t.CCTILimit()}
	for i := range f.Entries {
		f.Entries[i] = t.Entry(i)
	}
	return f
}

// TimeStamp is the TimeStamp attribute (IBTA Vol 1 Annex A10.4.3.10),
// read only, 4 bytes at CC byte 64: a free-running 32-bit count of
// 1.024 µs units.
type TimeStamp []byte

// TimeStampSize is the size of TimeStamp.
const TimeStampSize = 4

// ParseTimeStamp checks that b holds a TimeStamp.
func ParseTimeStamp(b []byte) (TimeStamp, error) {
	if err := mfCheckLen("timestamp", b, TimeStampSize); err != nil {
		return nil, err
	}
	return TimeStamp(b), nil
}

// IsValid reports whether t holds a whole TimeStamp.
func (t TimeStamp) IsValid() bool { return len(t) >= TimeStampSize }

// Value returns the time stamp.
func (t TimeStamp) Value() uint32 { return mfU32(t, 0) }

// SetValue sets the time stamp.
func (t TimeStamp) SetValue(v uint32) { mfPut32(t, 0, v) }

// BadCCKeyDetails is the DataDetails of trap 0, CC_Key violation (IBTA
// Vol 1 Annex A10.4.2; OpenSM's ntc_cckey_0), 54 bytes:
//
//	 0               1               2               3
//	+-------------------------------+---------------+---------------+
//	|             SLID              |    Method     |   reserved    |  0
//	+-------------------------------+---------------+---------------+
//	|          AttributeID          |           reserved            |  4
//	+-------------------------------+-------------------------------+
//	|                      AttributeModifier                        |  8
//	+---------------+-----------------------------------------------+
//	|   reserved    |                     QP                        |  12
//	+---------------+-----------------------------------------------+
//	|                          CC_Key (64)                          |  16
//	+---------------------------------------------------------------+
//	|                        SourceGID (128)                        |  24
//	+---------------------------------------------------------------+
type BadCCKeyDetails struct {
	SLID      LID
	Method    Method
	AttrID    AttrID
	AttrMod   uint32
	QP        uint32 // 24 bits: the destination QP of the offending MAD
	CCKey     uint64
	SourceGID GID
}

// badCCKeyDetailsSize is how much of DataDetails trap 0 uses.
const badCCKeyDetailsSize = 40

// EncodeBadCCKeyDetails writes d into dd (at least 40 bytes, the front of
// a Notice's DataDetails).
func EncodeBadCCKeyDetails(dd []byte, d *BadCCKeyDetails) {
	clear(dd[:badCCKeyDetailsSize])
	mfPut16(dd, 0, uint16(d.SLID))
	dd[2] = uint8(d.Method)
	mfPut16(dd, 4, uint16(d.AttrID))
	mfPut32(dd, 8, d.AttrMod)
	mfPut24(dd, 13, d.QP&QPNMask)
	mfPut64(dd, 16, d.CCKey)
	copy(dd[24:40], d.SourceGID[:])
}

// DecodeBadCCKeyDetails reads trap 0's DataDetails.
func DecodeBadCCKeyDetails(dd []byte) (BadCCKeyDetails, error) {
	if err := mfCheckLen("bad cc_key details", dd, badCCKeyDetailsSize); err != nil {
		return BadCCKeyDetails{}, err
	}
	d := BadCCKeyDetails{
		SLID: LID(mfU16(dd, 0)), Method: Method(dd[2]), AttrID: AttrID(mfU16(dd, 4)),
		AttrMod: mfU32(dd, 8), QP: mfU24(dd, 13), CCKey: mfU64(dd, 16),
	}
	copy(d.SourceGID[:], dd[24:40])
	return d, nil
}
