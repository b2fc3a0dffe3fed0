package wire

// MulticastForwardingTableRecord is the SA MulticastForwardingTableRecord
// (IBTA Vol 1 §15.2.5.8), AttrID 0x0017: one block of a switch's
// multicast forwarding table: the port masks of 32 MLIDs for one position
// (16 ports). LID is the switch's (port 0's) LID. 72 bytes, stride 72.
//
//	+-------------------------------+-------+-----+-----------------+
//	|              LID              |Positn | rsv |    BlockNum     |  0
//	+-------------------------------+-------+-----+-----------------+
//	|                           reserved                            |  4
//	+---------------------------------------------------------------+
//	|             MulticastForwardingTable (64 bytes)               |  8
//	+---------------------------------------------------------------+
//
// Position is 4 bits, BlockNum 9 bits (MLID 0xC000+32*BlockNum+i is entry
// i).
type MulticastForwardingTableRecord []byte

// MulticastForwardingTableRecordSize is the size of the record.
const MulticastForwardingTableRecordSize = 8 + MulticastForwardingTableSize

// MulticastForwardingTableRecord ComponentMask bits (IBTA Vol 1
// §15.2.5.8; OpenSM IB_MFTR_COMPMASK_*).
const (
	MulticastForwardingTableRecordCompLID      ComponentMask = 1 << 0
	MulticastForwardingTableRecordCompPosition ComponentMask = 1 << 1
	MulticastForwardingTableRecordCompBlockNum ComponentMask = 1 << 3
)

// MulticastForwardingTableRecordFields holds the record for Encode.
type MulticastForwardingTableRecordFields struct {
	LID                      LID
	Position                 uint8  // 4 bits
	BlockNum                 uint16 // 9 bits
	MulticastForwardingTable MulticastForwardingTableFields
}

// IsValid reports whether r holds a whole record.
func (r MulticastForwardingTableRecord) IsValid() bool {
	return len(r) >= MulticastForwardingTableRecordSize
}

// LID returns the switch's LID.
func (r MulticastForwardingTableRecord) LID() LID { return LID(mfU16(r, 0)) }

// Position returns the 4-bit port-mask position.
func (r MulticastForwardingTableRecord) Position() uint8 { return mfGet(r[2], 4, 4) }

// BlockNum returns the 9-bit block number.
func (r MulticastForwardingTableRecord) BlockNum() uint16 { return mfU16(r, 2) & 0x1FF }

// MulticastForwardingTable returns the embedded block.
func (r MulticastForwardingTableRecord) MulticastForwardingTable() MulticastForwardingTable {
	return MulticastForwardingTable(r[8 : 8+MulticastForwardingTableSize])
}

// SetLID sets the LID.
func (r MulticastForwardingTableRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetPosition sets the 4-bit position.
func (r MulticastForwardingTableRecord) SetPosition(v uint8) { mfSet(&r[2], 4, 4, v) }

// SetBlockNum sets the 9-bit block number, leaving Position alone and the
// reserved bits clear.
func (r MulticastForwardingTableRecord) SetBlockNum(v uint16) {
	mfPut16(r, 2, mfU16(r, 2)&0xF000|v&0x1FF)
}

// Encode writes every field of f into r and zeroes the reserved bits.
func (r MulticastForwardingTableRecord) Encode(f *MulticastForwardingTableRecordFields) {
	clear(r[:MulticastForwardingTableRecordSize])
	r.SetLID(f.LID)
	r.SetPosition(f.Position)
	r.SetBlockNum(f.BlockNum)
	r.MulticastForwardingTable().Encode(&f.MulticastForwardingTable)
}

// Fields decodes every field of r.
func (r MulticastForwardingTableRecord) Fields() MulticastForwardingTableRecordFields {
	return MulticastForwardingTableRecordFields{LID: r.LID(), Position: r.Position(), BlockNum: r.BlockNum(),
		MulticastForwardingTable: r.MulticastForwardingTable().Fields()}
}

// ParseMulticastForwardingTableRecord returns the view over the first
// MulticastForwardingTableRecordSize bytes of b.
func ParseMulticastForwardingTableRecord(b []byte) (MulticastForwardingTableRecord, error) {
	if err := mfCheckLen("multicastforwardingtablerecord", b, MulticastForwardingTableRecordSize); err != nil {
		return nil, err
	}
	return MulticastForwardingTableRecord(b[:MulticastForwardingTableRecordSize]), nil
}
