package wire

// SAHeader is the subnet administration class header (IBTA Vol 1
// §15.2.1.1), bytes 36-55 of an SA MAD, after the common header and the
// RMPP header.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                          SM_Key (64)                          |  0 (MAD 36)
//	+-------------------------------+-------------------------------+
//	|   AttributeOffset (8 bytes)   |           reserved            |  8 (MAD 44)
//	+-------------------------------+-------------------------------+
//	|                      ComponentMask (64)                       |  12 (MAD 48)
//	+---------------------------------------------------------------+
//
// AttributeOffset is the record stride of a GetTable response in 8-byte
// units (0 when the table is empty).
type SAHeader []byte

// SA MAD layout (IBTA Vol 1 §15.2.1.1; protocols.md §0.5, §4.1).
const (
	SAHeaderOffset = RMPPHeaderOffset + RMPPHeaderSize // 36
	SAHeaderSize   = 20
	// SADataOffset is where the SA records start in every segment.
	SADataOffset = SAHeaderOffset + SAHeaderSize // 56
	// SADataSize is the record space of one segment.
	SADataSize = MADSize - SADataOffset // 200
	// SASegmentPayloadSize is what one RMPP segment of an SA transfer
	// carries after the RMPP header: SA header plus records.
	SASegmentPayloadSize = SAHeaderSize + SADataSize // 220
	// SAClassVersion is the SA class version.
	SAClassVersion = 2
)

const (
	saSMKey      = 0
	saAttrOffset = 8
	saCompMask   = 12
)

// ComponentMask selects which fields of an SA query record must match
// (IBTA Vol 1 §15.2.1.1): bit n stands for the record's n-th component.
type ComponentMask uint64

// Has reports whether every bit of c2 is set in c.
func (c ComponentMask) Has(c2 ComponentMask) bool { return c&c2 == c2 }

// SAHeaderFields holds the SA header for Encode.
type SAHeaderFields struct {
	SMKey           uint64
	AttributeOffset uint16 // in 8-byte words
	ComponentMask   ComponentMask
}

// IsValid reports whether h holds a whole SA header.
func (h SAHeader) IsValid() bool { return len(h) >= SAHeaderSize }

// SMKey returns SM_Key.
func (h SAHeader) SMKey() uint64 { return mfU64(h, saSMKey) }

// AttributeOffset returns the record stride in 8-byte words.
func (h SAHeader) AttributeOffset() uint16 { return mfU16(h, saAttrOffset) }

// ComponentMask returns the component mask.
func (h SAHeader) ComponentMask() ComponentMask { return ComponentMask(mfU64(h, saCompMask)) }

// SetSMKey sets SM_Key.
func (h SAHeader) SetSMKey(k uint64) { mfPut64(h, saSMKey, k) }

// SetAttributeOffset sets the record stride in 8-byte words.
func (h SAHeader) SetAttributeOffset(v uint16) { mfPut16(h, saAttrOffset, v) }

// SetComponentMask sets the component mask.
func (h SAHeader) SetComponentMask(c ComponentMask) { mfPut64(h, saCompMask, uint64(c)) }

// Encode writes every field of f into h and zeroes the reserved word.
func (h SAHeader) Encode(f *SAHeaderFields) {
	h.SetSMKey(f.SMKey)
	h.SetAttributeOffset(f.AttributeOffset)
	mfPut16(h, saAttrOffset+2, 0)
	h.SetComponentMask(f.ComponentMask)
}

// Fields decodes h.
func (h SAHeader) Fields() SAHeaderFields {
	return SAHeaderFields{SMKey: h.SMKey(), AttributeOffset: h.AttributeOffset(), ComponentMask: h.ComponentMask()}
}

// ParseSAHeader returns the SA header view over the first SAHeaderSize
// bytes of b (b starts at MAD byte 36).
func ParseSAHeader(b []byte) (SAHeader, error) {
	if err := mfCheckLen("sa header", b, SAHeaderSize); err != nil {
		return nil, err
	}
	return SAHeader(b[:SAHeaderSize]), nil
}

// SARecordSize returns the size in bytes of the SA record (or attribute)
// a carries in an SA MAD, without padding, and 0 for the records this
// package has no view for.
func SARecordSize(a AttrID) int {
	switch a {
	case AttrClassPortInfo:
		return ClassPortInfoSize
	case AttrNotice:
		return NoticeSize
	case AttrInformInfo:
		return InformInfoSize
	case AttrNodeRecord:
		return NodeRecordSize
	case AttrPortInfoRecord:
		return PortInfoRecordSize
	case AttrServiceRecord:
		return ServiceRecordSize
	case AttrPathRecord:
		return PathRecordSize
	case AttrMCMemberRecord:
		return MCMemberRecordSize
	case AttrInformInfoRecord:
		return InformInfoRecordSize
	case AttrSMInfoRecord:
		return SMInfoRecordSize
	case AttrPKeyTableRecord:
		return PKeyTableRecordSize
	case AttrSLtoVLMappingTableRecord:
		return SLtoVLMappingTableRecordSize
	case AttrVLArbitrationTableRecord:
		return VLArbitrationTableRecordSize
	case AttrMulticastForwardingTableRecord:
		return MulticastForwardingTableRecordSize
	case AttrGUIDInfoRecord:
		return GUIDInfoRecordSize
	case AttrMultiPathRecord:
		return MultiPathRecordSize
	}
	return 0
}

// SAAttributeOffset is the AttributeOffset for records of size bytes:
// the size rounded up to whole 8-byte words (IBTA Vol 1 §15.2.1.1).
func SAAttributeOffset(size int) uint16 { return uint16((size + 7) / 8) }

// SAMAD is a whole subnet administration MAD (IBTA Vol 1 §15.2.1):
// common header, RMPP header, SA header and 200 bytes of records.
//
//	+-------------------------------+  0
//	| common MAD header (24)        |
//	+-------------------------------+  24
//	| RMPP header (12)              |
//	+-------------------------------+  36
//	| SA header (20)                |
//	+-------------------------------+  56
//	| records (200)                 |
//	+-------------------------------+  256
type SAMAD []byte

// SAMADFields holds the three headers of an SA MAD for Encode; the record
// area is written through Data.
type SAMADFields struct {
	MAD  MADFields
	RMPP RMPPHeaderFields
	SA   SAHeaderFields
}

// IsValid reports whether m holds a whole MAD.
func (m SAMAD) IsValid() bool { return len(m) >= MADSize }

// MAD returns the common-header view.
func (m SAMAD) MAD() MAD { return MAD(m) }

// RMPP returns the RMPP header view.
func (m SAMAD) RMPP() RMPPHeader { return MAD(m).RMPPHeader() }

// SA returns the SA header view.
func (m SAMAD) SA() SAHeader { return SAHeader(m[SAHeaderOffset:SADataOffset]) }

// Data returns the 200-byte record area.
func (m SAMAD) Data() []byte { return m[SADataOffset:MADSize] }

// Record returns record i of the record area using the AttributeOffset
// stride and the given record size, or nil when it does not fit in this
// segment (records of a multi-segment GetTable reply span segments and
// must be reassembled first).
func (m SAMAD) Record(i, size int) []byte {
	stride := int(m.SA().AttributeOffset()) * 8
	if i < 0 || size <= 0 || stride < size {
		return nil
	}
	start := i * stride
	if start+size > SADataSize {
		return nil
	}
	return m.Data()[start : start+size]
}

// Encode writes the three headers of f into m.
func (m SAMAD) Encode(f *SAMADFields) {
	MAD(m).Encode(&f.MAD)
	m.RMPP().Encode(&f.RMPP)
	m.SA().Encode(&f.SA)
}

// Fields decodes the three headers of m.
func (m SAMAD) Fields() SAMADFields {
	return SAMADFields{MAD: MAD(m).Fields(), RMPP: m.RMPP().Fields(), SA: m.SA().Fields()}
}

// ParseSAMAD validates b as an SA MAD: exactly MADSize bytes, BaseVersion
// 1, class SubnAdm and ClassVersion 2. A bad version comes back as a
// wrapped *MADStatusError together with the view so the SA can answer it.
// The RMPP header is not judged here (see ParseRMPPHeader).
func ParseSAMAD(b []byte) (SAMAD, error) {
	if err := checkMAD256("sa mad", b, MgmtClassSubnAdm); err != nil {
		if len(b) == MADSize && MAD(b).BaseVersion() != MADBaseVersion {
			return SAMAD(b), err
		}
		return nil, err
	}
	m := SAMAD(b)
	if err := checkClassVersion("sa mad", MAD(b), SAClassVersion); err != nil {
		return m, err
	}
	return m, nil
}
