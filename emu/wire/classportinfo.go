package wire

// ClassPortInfo is the ClassPortInfo attribute (IBTA Vol 1 §13.4.8.1),
// AttrID 0x0001, 72 bytes; every GSI class answers Get(ClassPortInfo).
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|  BaseVersion  | ClassVersion  |        CapabilityMask         |  0
//	+---------------+---------------+-------------------------------+
//	|                 CapabilityMask2 (27)                | RespTime|  4
//	+-----------------------------------------------------+---------+
//	|                        RedirectGID (128)                      |  8
//	+---------------+-------+---------------------------------------+
//	|  RedirectTC   |RedirSL|         RedirectFL (20)               |  24
//	+---------------+-------+-------+-------------------------------+
//	|          RedirectLID          |         RedirectP_Key         |  28
//	+---------------+---------------+-------------------------------+
//	|   reserved    |                  RedirectQP (24)              |  32
//	+---------------+-----------------------------------------------+
//	|                         RedirectQ_Key                         |  36
//	+---------------------------------------------------------------+
//	|                          TrapGID (128)                        |  40
//	+---------------+-------+---------------------------------------+
//	|    TrapTC     |TrapSL |            TrapFL (20)                |  56
//	+---------------+-------+-------+-------------------------------+
//	|            TrapLID            |           TrapP_Key           |  60
//	+---------------+---------------+-------------------------------+
//	|  TrapHopLimit |                    TrapQP (24)                |  64
//	+---------------+-----------------------------------------------+
//	|                           TrapQ_Key                           |  68
//	+---------------------------------------------------------------+
type ClassPortInfo []byte

// ClassPortInfoSize is the size of the ClassPortInfo attribute.
const ClassPortInfoSize = 72

// ClassPortInfo.CapabilityMask bits common to all classes (IBTA Vol 1
// §13.4.8.1) and those of the SA class (§15.2.1.1; protocols.md §0.3).
const (
	ClassCapIsTrapSupported   = 1 << 0
	ClassCapIsNoticeSupported = 1 << 1

	SACapOptionalRecordsSupported      = 1 << 8
	SACapUDMulticastSupported          = 1 << 9
	SACapMultiPathSupported            = 1 << 10
	SACapReinitSupported               = 1 << 11
	SACapGIDScopedMultiPathSupported   = 1 << 12
	SACapPortInfoCapMaskMatchSupported = 1 << 13
	SACapLinkSpeedWidthPairsSupported  = 1 << 14
	SACapPASupported                   = 1 << 15
)

const (
	cpiBaseVersion  = 0
	cpiClassVersion = 1
	cpiCapMask      = 2
	cpiCapMask2Resp = 4
	cpiRedirGID     = 8
	cpiRedirTCSLFL  = 24
	cpiRedirLID     = 28
	cpiRedirPKey    = 30
	cpiRedirQP      = 33
	cpiRedirQKey    = 36
	cpiTrapGID      = 40
	cpiTrapTCSLFL   = 56
	cpiTrapLID      = 60
	cpiTrapPKey     = 62
	cpiTrapHopLimit = 64
	cpiTrapQP       = 65
	cpiTrapQKey     = 68
)

// ClassPortInfoFields holds every ClassPortInfo field for Encode.
type ClassPortInfoFields struct {
	BaseVersion     uint8
	ClassVersion    uint8
	CapabilityMask  uint16
	CapabilityMask2 uint32 // 27 bits
	RespTimeValue   uint8  // 5 bits
	RedirectGID     GID
	RedirectTC      uint8
	RedirectSL      uint8  // 4 bits
	RedirectFL      uint32 // 20 bits
	RedirectLID     LID
	RedirectPKey    PKey
	RedirectQP      uint32 // 24 bits
	RedirectQKey    uint32
	TrapGID         GID
	TrapTC          uint8
	TrapSL          uint8  // 4 bits
	TrapFL          uint32 // 20 bits
	TrapLID         LID
	TrapPKey        PKey
	TrapHopLimit    uint8
	TrapQP          uint32 // 24 bits
	TrapQKey        uint32
}

// IsValid reports whether c holds a whole ClassPortInfo.
func (c ClassPortInfo) IsValid() bool { return len(c) >= ClassPortInfoSize }

// BaseVersion returns BaseVersion.
func (c ClassPortInfo) BaseVersion() uint8 { return c[cpiBaseVersion] }

// ClassVersion returns ClassVersion.
func (c ClassPortInfo) ClassVersion() uint8 { return c[cpiClassVersion] }

// CapabilityMask returns CapabilityMask.
func (c ClassPortInfo) CapabilityMask() uint16 { return mfU16(c, cpiCapMask) }

// CapabilityMask2 returns the 27-bit CapabilityMask2.
func (c ClassPortInfo) CapabilityMask2() uint32 { return mfU32(c, cpiCapMask2Resp) >> 5 }

// RespTimeValue returns the 5-bit RespTimeValue.
func (c ClassPortInfo) RespTimeValue() uint8 { return uint8(mfU32(c, cpiCapMask2Resp) & 0x1F) }

// RedirectGID returns RedirectGID.
func (c ClassPortInfo) RedirectGID() GID { return mfGID(c, cpiRedirGID) }

// RedirectTC returns RedirectTC.
func (c ClassPortInfo) RedirectTC() uint8 { return c[cpiRedirTCSLFL] }

// RedirectSL returns RedirectSL.
func (c ClassPortInfo) RedirectSL() uint8 { return mfGet(c[cpiRedirTCSLFL+1], 4, 4) }

// RedirectFL returns the 20-bit RedirectFL.
func (c ClassPortInfo) RedirectFL() uint32 { return mfU32(c, cpiRedirTCSLFL) & 0xFFFFF }

// RedirectLID returns RedirectLID.
func (c ClassPortInfo) RedirectLID() LID { return LID(mfU16(c, cpiRedirLID)) }

// RedirectPKey returns RedirectP_Key.
func (c ClassPortInfo) RedirectPKey() PKey { return PKey(mfU16(c, cpiRedirPKey)) }

// RedirectQP returns the 24-bit RedirectQP.
func (c ClassPortInfo) RedirectQP() uint32 { return mfU24(c, cpiRedirQP) }

// RedirectQKey returns RedirectQ_Key.
func (c ClassPortInfo) RedirectQKey() uint32 { return mfU32(c, cpiRedirQKey) }

// TrapGID returns TrapGID.
func (c ClassPortInfo) TrapGID() GID { return mfGID(c, cpiTrapGID) }

// TrapTC returns TrapTC.
func (c ClassPortInfo) TrapTC() uint8 { return c[cpiTrapTCSLFL] }

// TrapSL returns TrapSL.
func (c ClassPortInfo) TrapSL() uint8 { return mfGet(c[cpiTrapTCSLFL+1], 4, 4) }

// TrapFL returns the 20-bit TrapFL.
func (c ClassPortInfo) TrapFL() uint32 { return mfU32(c, cpiTrapTCSLFL) & 0xFFFFF }

// TrapLID returns TrapLID.
func (c ClassPortInfo) TrapLID() LID { return LID(mfU16(c, cpiTrapLID)) }

// TrapPKey returns TrapP_Key.
func (c ClassPortInfo) TrapPKey() PKey { return PKey(mfU16(c, cpiTrapPKey)) }

// TrapHopLimit returns TrapHopLimit.
func (c ClassPortInfo) TrapHopLimit() uint8 { return c[cpiTrapHopLimit] }

// TrapQP returns the 24-bit TrapQP.
func (c ClassPortInfo) TrapQP() uint32 { return mfU24(c, cpiTrapQP) }

// TrapQKey returns TrapQ_Key.
func (c ClassPortInfo) TrapQKey() uint32 { return mfU32(c, cpiTrapQKey) }

// SetBaseVersion sets BaseVersion.
func (c ClassPortInfo) SetBaseVersion(v uint8) { c[cpiBaseVersion] = v }

// SetClassVersion sets ClassVersion.
func (c ClassPortInfo) SetClassVersion(v uint8) { c[cpiClassVersion] = v }

// SetCapabilityMask sets CapabilityMask.
func (c ClassPortInfo) SetCapabilityMask(v uint16) { mfPut16(c, cpiCapMask, v) }

// SetCapabilityMask2 sets the 27-bit CapabilityMask2.
func (c ClassPortInfo) SetCapabilityMask2(v uint32) {
	mfPut32(c, cpiCapMask2Resp, v<<5|mfU32(c, cpiCapMask2Resp)&0x1F)
}

// SetRespTimeValue sets the 5-bit RespTimeValue.
func (c ClassPortInfo) SetRespTimeValue(v uint8) {
	mfPut32(c, cpiCapMask2Resp, mfU32(c, cpiCapMask2Resp)&^0x1F|uint32(v&0x1F))
}

// SetRedirectGID sets RedirectGID.
func (c ClassPortInfo) SetRedirectGID(g GID) { copy(c[cpiRedirGID:], g[:]) }

// SetRedirectTC sets RedirectTC.
func (c ClassPortInfo) SetRedirectTC(v uint8) { c[cpiRedirTCSLFL] = v }

// SetRedirectSL sets RedirectSL.
func (c ClassPortInfo) SetRedirectSL(v uint8) { mfSet(&c[cpiRedirTCSLFL+1], 4, 4, v) }

// SetRedirectFL sets the 20-bit RedirectFL.
func (c ClassPortInfo) SetRedirectFL(v uint32) {
	mfPut32(c, cpiRedirTCSLFL, mfU32(c, cpiRedirTCSLFL)&^0xFFFFF|v&0xFFFFF)
}

// SetRedirectLID sets RedirectLID.
func (c ClassPortInfo) SetRedirectLID(l LID) { mfPut16(c, cpiRedirLID, uint16(l)) }

// SetRedirectPKey sets RedirectP_Key.
func (c ClassPortInfo) SetRedirectPKey(k PKey) { mfPut16(c, cpiRedirPKey, uint16(k)) }

// SetRedirectQP sets the 24-bit RedirectQP.
func (c ClassPortInfo) SetRedirectQP(v uint32) { mfPut24(c, cpiRedirQP, v) }

// SetRedirectQKey sets RedirectQ_Key.
func (c ClassPortInfo) SetRedirectQKey(v uint32) { mfPut32(c, cpiRedirQKey, v) }

// SetTrapGID sets TrapGID.
func (c ClassPortInfo) SetTrapGID(g GID) { copy(c[cpiTrapGID:], g[:]) }

// SetTrapTC sets TrapTC.
func (c ClassPortInfo) SetTrapTC(v uint8) { c[cpiTrapTCSLFL] = v }

// SetTrapSL sets TrapSL.
func (c ClassPortInfo) SetTrapSL(v uint8) { mfSet(&c[cpiTrapTCSLFL+1], 4, 4, v) }

// SetTrapFL sets the 20-bit TrapFL.
func (c ClassPortInfo) SetTrapFL(v uint32) {
	mfPut32(c, cpiTrapTCSLFL, mfU32(c, cpiTrapTCSLFL)&^0xFFFFF|v&0xFFFFF)
}

// SetTrapLID sets TrapLID.
func (c ClassPortInfo) SetTrapLID(l LID) { mfPut16(c, cpiTrapLID, uint16(l)) }

// SetTrapPKey sets TrapP_Key.
func (c ClassPortInfo) SetTrapPKey(k PKey) { mfPut16(c, cpiTrapPKey, uint16(k)) }

// SetTrapHopLimit sets TrapHopLimit.
func (c ClassPortInfo) SetTrapHopLimit(v uint8) { c[cpiTrapHopLimit] = v }

// SetTrapQP sets the 24-bit TrapQP.
func (c ClassPortInfo) SetTrapQP(v uint32) { mfPut24(c, cpiTrapQP, v) }

// SetTrapQKey sets TrapQ_Key.
func (c ClassPortInfo) SetTrapQKey(v uint32) { mfPut32(c, cpiTrapQKey, v) }

// Encode writes every field of f into c and zeroes the reserved bits.
func (c ClassPortInfo) Encode(f *ClassPortInfoFields) {
	clear(c[:ClassPortInfoSize])
	c.SetBaseVersion(f.BaseVersion)
	c.SetClassVersion(f.ClassVersion)
	c.SetCapabilityMask(f.CapabilityMask)
	c.SetCapabilityMask2(f.CapabilityMask2)
	c.SetRespTimeValue(f.RespTimeValue)
	c.SetRedirectGID(f.RedirectGID)
	c.SetRedirectTC(f.RedirectTC)
	c.SetRedirectSL(f.RedirectSL)
	c.SetRedirectFL(f.RedirectFL)
	c.SetRedirectLID(f.RedirectLID)
	c.SetRedirectPKey(f.RedirectPKey)
	c.SetRedirectQP(f.RedirectQP)
	c.SetRedirectQKey(f.RedirectQKey)
	c.SetTrapGID(f.TrapGID)
	c.SetTrapTC(f.TrapTC)
	c.SetTrapSL(f.TrapSL)
	c.SetTrapFL(f.TrapFL)
	c.SetTrapLID(f.TrapLID)
	c.SetTrapPKey(f.TrapPKey)
	c.SetTrapHopLimit(f.TrapHopLimit)
	c.SetTrapQP(f.TrapQP)
	c.SetTrapQKey(f.TrapQKey)
}

// Fields decodes every field of c.
func (c ClassPortInfo) Fields() ClassPortInfoFields {
	return ClassPortInfoFields{
		BaseVersion:     c.BaseVersion(),
		ClassVersion:    c.ClassVersion(),
		CapabilityMask:  c.CapabilityMask(),
		CapabilityMask2: c.CapabilityMask2(),
		RespTimeValue:   c.RespTimeValue(),
		RedirectGID:     c.RedirectGID(),
		RedirectTC:      c.RedirectTC(),
		RedirectSL:      c.RedirectSL(),
		RedirectFL:      c.RedirectFL(),
		RedirectLID:     c.RedirectLID(),
		RedirectPKey:    c.RedirectPKey(),
		RedirectQP:      c.RedirectQP(),
		RedirectQKey:    c.RedirectQKey(),
		TrapGID:         c.TrapGID(),
		TrapTC:          c.TrapTC(),
		TrapSL:          c.TrapSL(),
		TrapFL:          c.TrapFL(),
		TrapLID:         c.TrapLID(),
		TrapPKey:        c.TrapPKey(),
		TrapHopLimit:    c.TrapHopLimit(),
		TrapQP:          c.TrapQP(),
		TrapQKey:        c.TrapQKey(),
	}
}

// ParseClassPortInfo returns the ClassPortInfo view over the first
// ClassPortInfoSize bytes of b.
func ParseClassPortInfo(b []byte) (ClassPortInfo, error) {
	if err := mfCheckLen("classportinfo", b, ClassPortInfoSize); err != nil {
		return nil, err
	}
	return ClassPortInfo(b[:ClassPortInfoSize]), nil
}
