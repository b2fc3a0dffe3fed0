package wire

// MulticastForwardingTable is one block of a switch's multicast forwarding
// table (IBTA Vol 1 §14.2.5.12), AttrID 0x001B: for 32 consecutive MLIDs,
// a 16-bit mask of output ports. AttributeModifier bits 31-28 select which
// 16 ports the masks cover (position p covers ports 16p..16p+15) and bits
// 8-0 the block (MLID 0xC000+32*block+i is entry i).
//
//	+-------------------------------+-------------------------------+
//	|     PortMask (MLID +0)        |     PortMask (MLID +1)        |  0
//	+-------------------------------+-------------------------------+
//	|                              ...                              |
//	+-------------------------------+-------------------------------+
//	|     PortMask (MLID +30)       |     PortMask (MLID +31)       |  60
//	+-------------------------------+-------------------------------+
//
// Bit j of a mask (bit 0 = least significant) stands for port 16p+j.
type MulticastForwardingTable []byte

// MulticastForwardingTable sizes.
const (
	MulticastForwardingTableSize         = 64
	MulticastForwardingTableBlockEntries = 32
	MulticastForwardingTablePortsPerMask = 16
)

// MFTAttrMod builds the AttributeModifier for port-mask position pos
// (0-15) and block (0-511).
func MFTAttrMod(pos uint8, block uint16) uint32 {
	return uint32(pos&0xF)<<28 | uint32(block&0x1FF)
}

// MFTAttrModSplit splits an AttributeModifier into position and block.
func MFTAttrModSplit(mod uint32) (pos uint8, block uint16) {
	return uint8(mod >> 28), uint16(mod & 0x1FF)
}

// MFTBlock returns the block and entry index of multicast LID mlid, and
// false when mlid is not a multicast LID.
func MFTBlock(mlid LID) (block uint16, index int, ok bool) {
	if !mlid.IsMulticast() {
		return 0, 0, false
	}
	off := int(mlid - LIDMulticastBase)
	return uint16(off / MulticastForwardingTableBlockEntries), off % MulticastForwardingTableBlockEntries, true
}

// MulticastForwardingTableFields holds one block for Encode.
type MulticastForwardingTableFields struct {
	PortMasks [MulticastForwardingTableBlockEntries]uint16
}

// IsValid reports whether t holds a whole block.
func (t MulticastForwardingTable) IsValid() bool { return len(t) >= MulticastForwardingTableSize }

// PortMask returns entry i (0-31), or 0 when i is out of range.
func (t MulticastForwardingTable) PortMask(i int) uint16 {
	if i < 0 || i >= MulticastForwardingTableBlockEntries {
		return 0
	}
	return mfU16(t, 2*i)
}

// SetPortMask sets entry i (0-31); other i are ignored.
func (t MulticastForwardingTable) SetPortMask(i int, mask uint16) {
	if i >= 0 && i < MulticastForwardingTableBlockEntries {
		mfPut16(t, 2*i, mask)
	}
}

// Encode writes every entry of f into t.
func (t MulticastForwardingTable) Encode(f *MulticastForwardingTableFields) {
	for i, m := range f.PortMasks {
		t.SetPortMask(i, m)
	}
}

// Fields decodes every entry of t.
func (t MulticastForwardingTable) Fields() MulticastForwardingTableFields {
	var f MulticastForwardingTableFields
	for i := range f.PortMasks {
		f.PortMasks[i] = t.PortMask(i)
	}
	return f
}

// ParseMulticastForwardingTable returns the view over the first
// MulticastForwardingTableSize bytes of b.
func ParseMulticastForwardingTable(b []byte) (MulticastForwardingTable, error) {
	if err := mfCheckLen("multicastforwardingtable", b, MulticastForwardingTableSize); err != nil {
		return nil, err
	}
	return MulticastForwardingTable(b[:MulticastForwardingTableSize]), nil
}
