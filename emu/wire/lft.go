package wire

// LinearForwardingTable is one block of a switch's linear forwarding table
// (IBTA Vol 1 §14.2.5.10), AttrID 0x0019: the output port of 64
// consecutive LIDs. AttributeModifier is the block number, so LID l is
// entry l%64 of block l/64.
//
//	 0               1                                     63
//	+---------------+---------------+     +---------------+
//	| port(LID 64b) |port(LID 64b+1)| ... |port(LID 64b+63)|
//	+---------------+---------------+     +---------------+
type LinearForwardingTable []byte

// LinearForwardingTable sizes and values.
const (
	LinearForwardingTableSize         = 64
	LinearForwardingTableBlockEntries = 64
	// LFTNoPort marks a LID with no route (0xFF, as OpenSM and ibsim use).
	LFTNoPort = 0xFF
)

// LFTBlock returns the block number and the entry index of LID l.
func LFTBlock(l LID) (block uint32, index int) {
	return uint32(l) / LinearForwardingTableBlockEntries, int(l) % LinearForwardingTableBlockEntries
}

// LinearForwardingTableFields holds one block for Encode.
type LinearForwardingTableFields struct {
	Ports [LinearForwardingTableBlockEntries]uint8
}

// IsValid reports whether t holds a whole block.
func (t LinearForwardingTable) IsValid() bool { return len(t) >= LinearForwardingTableSize }

// Port returns entry i (0-63), or LFTNoPort when i is out of range.
func (t LinearForwardingTable) Port(i int) uint8 {
	if i < 0 || i >= LinearForwardingTableBlockEntries {
		return LFTNoPort
	}
	return t[i]
}

// SetPort sets entry i (0-63); other i are ignored.
func (t LinearForwardingTable) SetPort(i int, port uint8) {
	if i >= 0 && i < LinearForwardingTableBlockEntries {
		t[i] = port
	}
}

// Encode writes every entry of f into t.
func (t LinearForwardingTable) Encode(f *LinearForwardingTableFields) {
	copy(t[:LinearForwardingTableSize], f.Ports[:])
}

// Fields decodes every entry of t.
func (t LinearForwardingTable) Fields() LinearForwardingTableFields {
	var f LinearForwardingTableFields
	copy(f.Ports[:], t[:LinearForwardingTableSize])
	return f
}

// ParseLinearForwardingTable returns the view over the first
// LinearForwardingTableSize bytes of b.
func ParseLinearForwardingTable(b []byte) (LinearForwardingTable, error) {
	if err := mfCheckLen("linearforwardingtable", b, LinearForwardingTableSize); err != nil {
		return nil, err
	}
	return LinearForwardingTable(b[:LinearForwardingTableSize]), nil
}
