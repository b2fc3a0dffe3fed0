package wire

// GUIDInfoRecord is the SA GUIDInfoRecord (IBTA Vol 1 §15.2.5.18), AttrID
// 0x0030: one 8-entry block of an end port's GUID table. 72 bytes, stride
// 72.
//
//	+-------------------------------+---------------+---------------+
//	|              LID              |   BlockNum    |   reserved    |  0
//	+-------------------------------+---------------+---------------+
//	|                           reserved                            |  4
//	+---------------------------------------------------------------+
//	|                      GUIDInfo (64 bytes)                      |  8
//	+---------------------------------------------------------------+
type GUIDInfoRecord []byte

// GUIDInfoRecordSize is the size of the record.
const GUIDInfoRecordSize = 8 + GUIDInfoSize

// GUIDInfoRecord ComponentMask bits (IBTA Vol 1 §15.2.5.18; OpenSM
// IB_GIR_COMPMASK_*): GUID n of the block is bit 4+n.
const (
	GUIDInfoRecordCompLID      ComponentMask = 1 << 0
	GUIDInfoRecordCompBlockNum ComponentMask = 1 << 1
	GUIDInfoRecordCompGUID0    ComponentMask = 1 << 4
)

// GUIDInfoRecordFields holds the record for Encode.
type GUIDInfoRecordFields struct {
	LID      LID
	BlockNum uint8
	GUIDInfo GUIDInfoFields
}

// IsValid reports whether r holds a whole record.
func (r GUIDInfoRecord) IsValid() bool { return len(r) >= GUIDInfoRecordSize }

// LID returns the end port's LID.
func (r GUIDInfoRecord) LID() LID { return LID(mfU16(r, 0)) }

// BlockNum returns the block number.
func (r GUIDInfoRecord) BlockNum() uint8 { return r[2] }

// GUIDInfo returns the embedded block.
func (r GUIDInfoRecord) GUIDInfo() GUIDInfo { return GUIDInfo(r[8 : 8+GUIDInfoSize]) }

// SetLID sets the LID.
func (r GUIDInfoRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetBlockNum sets the block number.
func (r GUIDInfoRecord) SetBlockNum(v uint8) { r[2] = v }

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r GUIDInfoRecord) Encode(f *GUIDInfoRecordFields) {
	clear(r[:GUIDInfoRecordSize])
	r.SetLID(f.LID)
	r.SetBlockNum(f.BlockNum)
	r.GUIDInfo().Encode(&f.GUIDInfo)
}

// Fields decodes every field of r.
func (r GUIDInfoRecord) Fields() GUIDInfoRecordFields {
	return GUIDInfoRecordFields{LID: r.LID(), BlockNum: r.BlockNum(), GUIDInfo: r.GUIDInfo().Fields()}
}

// ParseGUIDInfoRecord returns the view over the first GUIDInfoRecordSize
// bytes of b.
func ParseGUIDInfoRecord(b []byte) (GUIDInfoRecord, error) {
	if err := mfCheckLen("guidinforecord", b, GUIDInfoRecordSize); err != nil {
		return nil, err
	}
	return GUIDInfoRecord(b[:GUIDInfoRecordSize]), nil
}
