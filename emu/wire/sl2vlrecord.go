package wire

// SLtoVLMappingTableRecord is the SA SLtoVLMappingTableRecord (IBTA Vol 1
// §15.2.5.4), AttrID 0x0013: the SL-to-VL table of a CA port, or of one
// (input port, output port) pair of a switch. LID is the end port's LID
// (port 0's on a switch); the port numbers are reserved for a CA. 16
// bytes, stride 16.
//
//	+-------------------------------+---------------+---------------+
//	|              LID              |  InputPortNum | OutputPortNum |  0
//	+-------------------------------+---------------+---------------+
//	|                           reserved                            |  4
//	+---------------------------------------------------------------+
//	|                 SLtoVLMappingTable (8 bytes)                  |  8
//	+---------------------------------------------------------------+
type SLtoVLMappingTableRecord []byte

// SLtoVLMappingTableRecordSize is the size of the record.
const SLtoVLMappingTableRecordSize = 8 + SLtoVLMappingTableSize

// SLtoVLMappingTableRecord ComponentMask bits (IBTA Vol 1 §15.2.5.4;
// OpenSM IB_SLVL_COMPMASK_*).
const (
	SLtoVLMappingTableRecordCompLID           ComponentMask = 1 << 0
	SLtoVLMappingTableRecordCompInputPortNum  ComponentMask = 1 << 1
	SLtoVLMappingTableRecordCompOutputPortNum ComponentMask = 1 << 2
)

// SLtoVLMappingTableRecordFields holds the record for Encode.
type SLtoVLMappingTableRecordFields struct {
	LID                LID
	InputPortNum       uint8
	OutputPortNum      uint8
	SLtoVLMappingTable SLtoVLMappingTableFields
}

// IsValid reports whether r holds a whole record.
func (r SLtoVLMappingTableRecord) IsValid() bool { return len(r) >= SLtoVLMappingTableRecordSize }

// LID returns the end port's LID.
func (r SLtoVLMappingTableRecord) LID() LID { return LID(mfU16(r, 0)) }

// InputPortNum returns the input port (switches).
func (r SLtoVLMappingTableRecord) InputPortNum() uint8 { return r[2] }

// OutputPortNum returns the output port (switches).
func (r SLtoVLMappingTableRecord) OutputPortNum() uint8 { return r[3] }

// SLtoVLMappingTable returns the embedded table.
func (r SLtoVLMappingTableRecord) SLtoVLMappingTable() SLtoVLMappingTable {
	return SLtoVLMappingTable(r[8 : 8+SLtoVLMappingTableSize])
}

// SetLID sets the LID.
func (r SLtoVLMappingTableRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetInputPortNum sets the input port.
func (r SLtoVLMappingTableRecord) SetInputPortNum(v uint8) { r[2] = v }

// SetOutputPortNum sets the output port.
func (r SLtoVLMappingTableRecord) SetOutputPortNum(v uint8) { r[3] = v }

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r SLtoVLMappingTableRecord) Encode(f *SLtoVLMappingTableRecordFields) {
	clear(r[:SLtoVLMappingTableRecordSize])
	r.SetLID(f.LID)
	r.SetInputPortNum(f.InputPortNum)
	r.SetOutputPortNum(f.OutputPortNum)
	r.SLtoVLMappingTable().Encode(&f.SLtoVLMappingTable)
}

// Fields decodes every field of r.
func (r SLtoVLMappingTableRecord) Fields() SLtoVLMappingTableRecordFields {
	return SLtoVLMappingTableRecordFields{LID: r.LID(), InputPortNum: r.InputPortNum(), OutputPortNum: r.OutputPortNum(),
		SLtoVLMappingTable: r.SLtoVLMappingTable().Fields()}
}

// ParseSLtoVLMappingTableRecord returns the view over the first
// SLtoVLMappingTableRecordSize bytes of b.
func ParseSLtoVLMappingTableRecord(b []byte) (SLtoVLMappingTableRecord, error) {
	if err := mfCheckLen("sltovlmappingtablerecord", b, SLtoVLMappingTableRecordSize); err != nil {
		return nil, err
	}
	return SLtoVLMappingTableRecord(b[:SLtoVLMappingTableRecordSize]), nil
}
