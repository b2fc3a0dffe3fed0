package wire

// VLArbitrationTable is one block of the VLArbitrationTable attribute
// (IBTA Vol 1 §14.2.5.9), AttrID 0x0018: 32 (VL, weight) entries.
// AttributeModifier bits 31-16 select the block (1 low priority 0-31, 2
// low priority 32-63, 3 high priority 0-31, 4 high priority 32-63); on a
// switch bits 15-0 are the port.
//
//	 0               1               2               3
//	+-------+-------+---------------+-------+-------+---------------+
//	|  rsv  |  VL   |    Weight     |  rsv  |  VL   |    Weight     |  entries 0, 1
//	+-------+-------+---------------+-------+-------+---------------+
//	|                              ...                              |
//	+-------+-------+---------------+-------+-------+---------------+
//	|  rsv  |  VL   |    Weight     |  rsv  |  VL   |    Weight     |  entries 30, 31
//	+-------+-------+---------------+-------+-------+---------------+
type VLArbitrationTable []byte

// VLArbitrationTable sizes and AttributeModifier block numbers.
const (
	VLArbitrationTableSize         = 64
	VLArbitrationTableBlockEntries = 32

	VLArbLowBlock0  = 1 // low-priority entries 0-31
	VLArbLowBlock1  = 2 // low-priority entries 32-63
	VLArbHighBlock0 = 3 // high-priority entries 0-31
	VLArbHighBlock1 = 4 // high-priority entries 32-63
)

// VLArbEntry is one VLArbitrationTable entry.
type VLArbEntry struct {
	VL     uint8 // 4 bits
	Weight uint8 // units of 64 bytes; 0 skips the entry
}

// VLArbitrationTableFields holds one block for Encode.
type VLArbitrationTableFields struct {
	Entries [VLArbitrationTableBlockEntries]VLArbEntry
}

// IsValid reports whether t holds a whole block.
func (t VLArbitrationTable) IsValid() bool { return len(t) >= VLArbitrationTableSize }

// Entry returns entry i (0-31), or the zero entry when i is out of range.
func (t VLArbitrationTable) Entry(i int) VLArbEntry {
	if i < 0 || i >= VLArbitrationTableBlockEntries {
		return VLArbEntry{}
	}
	return VLArbEntry{VL: mfGet(t[2*i], 0, 4), Weight: t[2*i+1]}
}

// SetEntry sets entry i (0-31) and clears its reserved bits; other i are
// ignored.
func (t VLArbitrationTable) SetEntry(i int, e VLArbEntry) {
	if i >= 0 && i < VLArbitrationTableBlockEntries {
		t[2*i] = e.VL & 0x0F
		t[2*i+1] = e.Weight
	}
}

// Encode writes every entry of f into t.
func (t VLArbitrationTable) Encode(f *VLArbitrationTableFields) {
	for i, e := range f.Entries {
		t.SetEntry(i, e)
	}
}

// Fields decodes every entry of t.
func (t VLArbitrationTable) Fields() VLArbitrationTableFields {
	var f VLArbitrationTableFields
	for i := range f.Entries {
		f.Entries[i] = t.Entry(i)
	}
	return f
}

// ParseVLArbitrationTable returns the view over the first
// VLArbitrationTableSize bytes of b.
func ParseVLArbitrationTable(b []byte) (VLArbitrationTable, error) {
	if err := mfCheckLen("vlarbitrationtable", b, VLArbitrationTableSize); err != nil {
		return nil, err
	}
	return VLArbitrationTable(b[:VLArbitrationTableSize]), nil
}
