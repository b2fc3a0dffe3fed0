package wire

// PKeyTableRecord is the SA P_KeyTableRecord (IBTA Vol 1 §15.2.5.11),
// AttrID 0x0033: one 32-entry block of a port's P_Key table. LID is the
// end port's LID (port 0's for every port of a switch); PortNum names the
// switch port and is reserved for a CA. 72 bytes, stride 72.
//
//	+-------------------------------+-------------------------------+
//	|              LID              |           BlockNum            |  0
//	+---------------+---------------+-------------------------------+
//	|    PortNum    |                 reserved (3)                  |  4
//	+---------------+-----------------------------------------------+
//	|                     P_KeyTable (64 bytes)                     |  8
//	+---------------------------------------------------------------+
type PKeyTableRecord []byte

// PKeyTableRecordSize is the size of a P_KeyTableRecord.
const PKeyTableRecordSize = 8 + PKeyTableSize

// PKeyTableRecord ComponentMask bits (IBTA Vol 1 §15.2.5.11; OpenSM
// IB_PKEY_COMPMASK_*).
const (
	PKeyTableRecordCompLID      ComponentMask = 1 << 0
	PKeyTableRecordCompBlockNum ComponentMask = 1 << 1
	PKeyTableRecordCompPortNum  ComponentMask = 1 << 2
)

// PKeyTableRecordFields holds a P_KeyTableRecord for Encode.
type PKeyTableRecordFields struct {
	LID       LID
	BlockNum  uint16
	PortNum   uint8
	PKeyTable PKeyTableFields
}

// IsValid reports whether r holds a whole record.
func (r PKeyTableRecord) IsValid() bool { return len(r) >= PKeyTableRecordSize }

// LID returns the end port's LID.
func (r PKeyTableRecord) LID() LID { return LID(mfU16(r, 0)) }

// BlockNum returns the block number.
func (r PKeyTableRecord) BlockNum() uint16 { return mfU16(r, 2) }

// PortNum returns the port number (switch ports).
func (r PKeyTableRecord) PortNum() uint8 { return r[4] }

// PKeyTable returns the embedded P_KeyTable block.
func (r PKeyTableRecord) PKeyTable() PKeyTable { return PKeyTable(r[8 : 8+PKeyTableSize]) }

// SetLID sets the LID.
func (r PKeyTableRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetBlockNum sets the block number.
func (r PKeyTableRecord) SetBlockNum(v uint16) { mfPut16(r, 2, v) }

// SetPortNum sets the port number.
func (r PKeyTableRecord) SetPortNum(v uint8) { r[4] = v }

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r PKeyTableRecord) Encode(f *PKeyTableRecordFields) {
	clear(r[:PKeyTableRecordSize])
	r.SetLID(f.LID)
	r.SetBlockNum(f.BlockNum)
	r.SetPortNum(f.PortNum)
	r.PKeyTable().Encode(&f.PKeyTable)
}

// Fields decodes every field of r.
func (r PKeyTableRecord) Fields() PKeyTableRecordFields {
	return PKeyTableRecordFields{LID: r.LID(), BlockNum: r.BlockNum(), PortNum: r.PortNum(), PKeyTable: r.PKeyTable().Fields()}
}

// ParsePKeyTableRecord returns the view over the first
// PKeyTableRecordSize bytes of b.
func ParsePKeyTableRecord(b []byte) (PKeyTableRecord, error) {
	if err := mfCheckLen("p_keytablerecord", b, PKeyTableRecordSize); err != nil {
		return nil, err
	}
	return PKeyTableRecord(b[:PKeyTableRecordSize]), nil
}
