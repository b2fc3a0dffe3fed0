package wire

// VLArbitrationTableRecord is the SA VLArbitrationTableRecord (IBTA Vol 1
// §15.2.5.9), AttrID 0x0036: one block of a port's VL arbitration table
// (BlockNum 1-4 as in the VLArbitrationTable AttributeModifier). LID is the
// end port's LID (port 0's on a switch). 72 bytes, stride 72.
//
//	+-------------------------------+---------------+---------------+
//	|              LID              | OutputPortNum |    BlockNum   |  0
//	+-------------------------------+---------------+---------------+
//	|                           reserved                            |  4
//	+---------------------------------------------------------------+
//	|                VLArbitrationTable (64 bytes)                  |  8
//	+---------------------------------------------------------------+
type VLArbitrationTableRecord []byte

// VLArbitrationTableRecordSize is the size of the record.
const VLArbitrationTableRecordSize = 8 + VLArbitrationTableSize

// VLArbitrationTableRecord ComponentMask bits (IBTA Vol 1 §15.2.5.9;
// OpenSM IB_VLA_COMPMASK_*).
const (
	VLArbitrationTableRecordCompLID           ComponentMask = 1 << 0
	VLArbitrationTableRecordCompOutputPortNum ComponentMask = 1 << 1
	VLArbitrationTableRecordCompBlockNum      ComponentMask = 1 << 2
)

// VLArbitrationTableRecordFields holds the record for Encode.
type VLArbitrationTableRecordFields struct {
	LID                LID
	OutputPortNum      uint8
	BlockNum           uint8
	VLArbitrationTable VLArbitrationTableFields
}

// IsValid reports whether r holds a whole record.
func (r VLArbitrationTableRecord) IsValid() bool { return len(r) >= VLArbitrationTableRecordSize }

// LID returns the end port's LID.
func (r VLArbitrationTableRecord) LID() LID { return LID(mfU16(r, 0)) }

// OutputPortNum returns the port number.
func (r VLArbitrationTableRecord) OutputPortNum() uint8 { return r[2] }

// BlockNum returns the block number (1-4).
func (r VLArbitrationTableRecord) BlockNum() uint8 { return r[3] }

// VLArbitrationTable returns the embedded block.
func (r VLArbitrationTableRecord) VLArbitrationTable() VLArbitrationTable {
	return VLArbitrationTable(r[8 : 8+VLArbitrationTableSize])
}

// SetLID sets the LID.
func (r VLArbitrationTableRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetOutputPortNum sets the port number.
func (r VLArbitrationTableRecord) SetOutputPortNum(v uint8) { r[2] = v }

// SetBlockNum sets the block number.
func (r VLArbitrationTableRecord) SetBlockNum(v uint8) { r[3] = v }

// Encode writes every field of f into r and zeroes the reserved bits.
func (r VLArbitrationTableRecord) Encode(f *VLArbitrationTableRecordFields) {
	clear(r[:VLArbitrationTableRecordSize])
	r.SetLID(f.LID)
	r.SetOutputPortNum(f.OutputPortNum)
	r.SetBlockNum(f.BlockNum)
	r.VLArbitrationTable().Encode(&f.VLArbitrationTable)
}

// Fields decodes every field of r.
func (r VLArbitrationTableRecord) Fields() VLArbitrationTableRecordFields {
	return VLArbitrationTableRecordFields{LID: r.LID(), OutputPortNum: r.OutputPortNum(), BlockNum: r.BlockNum(),
		VLArbitrationTable: r.VLArbitrationTable().Fields()}
}

// ParseVLArbitrationTableRecord returns the view over the first
// VLArbitrationTableRecordSize bytes of b.
func ParseVLArbitrationTableRecord(b []byte) (VLArbitrationTableRecord, error) {
	if err := mfCheckLen("vlarbitrationtablerecord", b, VLArbitrationTableRecordSize); err != nil {
		return nil, err
	}
	return VLArbitrationTableRecord(b[:VLArbitrationTableRecordSize]), nil
}
