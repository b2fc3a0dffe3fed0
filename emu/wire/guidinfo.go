package wire

// GUIDInfo is one block of the GUIDInfo attribute (IBTA Vol 1 §14.2.5.5),
// AttrID 0x0014: eight port GUIDs. AttributeModifier is the block number;
// entry 0 of block 0 is the port GUID itself.
//
//	+---------------------------------------------------------------+
//	|                          GUID 0 (64)                          |  0
//	+---------------------------------------------------------------+
//	|                              ...                              |
//	+---------------------------------------------------------------+
//	|                          GUID 7 (64)                          |  56
//	+---------------------------------------------------------------+
type GUIDInfo []byte

// GUIDInfo sizes.
const (
	GUIDInfoSize         = 64
	GUIDInfoBlockEntries = 8
)

// GUIDInfoFields holds one block for Encode.
type GUIDInfoFields struct {
	GUIDs [GUIDInfoBlockEntries]GUID
}

// IsValid reports whether g holds a whole block.
func (g GUIDInfo) IsValid() bool { return len(g) >= GUIDInfoSize }

// GUID returns entry i (0-7) of the block, or 0 when i is out of range.
func (g GUIDInfo) GUID(i int) GUID {
	if i < 0 || i >= GUIDInfoBlockEntries {
		return 0
	}
	return GUID(mfU64(g, 8*i))
}

// SetGUID sets entry i (0-7) of the block; other i are ignored.
func (g GUIDInfo) SetGUID(i int, v GUID) {
	if i >= 0 && i < GUIDInfoBlockEntries {
		mfPut64(g, 8*i, uint64(v))
	}
}

// Encode writes every entry of f into g.
func (g GUIDInfo) Encode(f *GUIDInfoFields) {
	for i, v := range f.GUIDs {
		g.SetGUID(i, v)
	}
}

// Fields decodes every entry of g.
func (g GUIDInfo) Fields() GUIDInfoFields {
	var f GUIDInfoFields
	for i := range f.GUIDs {
		f.GUIDs[i] = g.GUID(i)
	}
	return f
}

// ParseGUIDInfo returns the GUIDInfo view over the first GUIDInfoSize
// bytes of b.
func ParseGUIDInfo(b []byte) (GUIDInfo, error) {
	if err := mfCheckLen("guidinfo", b, GUIDInfoSize); err != nil {
		return nil, err
	}
	return GUIDInfo(b[:GUIDInfoSize]), nil
}
