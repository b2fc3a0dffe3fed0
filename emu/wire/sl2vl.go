package wire

// SLtoVLMappingTable is the SLtoVLMappingTable attribute (IBTA Vol 1
// §14.2.5.8), AttrID 0x0017: one 4-bit VL per SL. On a switch
// AttributeModifier bits 15-8 are the input port and 7-0 the output port.
//
//	 0               1                       7
//	+-------+-------+-------+-------+   +-------+-------+
//	|SL0toVL|SL1toVL|SL2toVL|SL3toVL|...|SL14toV|SL15toV|
//	+-------+-------+-------+-------+   +-------+-------+
type SLtoVLMappingTable []byte

// SLtoVLMappingTable sizes.
const (
	SLtoVLMappingTableSize = 8
	NumSLs                 = 16
)

// SLtoVLMappingTableFields holds the 16 VLs for Encode.
type SLtoVLMappingTableFields struct {
	VL [NumSLs]uint8 // VL[sl], 4 bits each
}

// IsValid reports whether t holds a whole table.
func (t SLtoVLMappingTable) IsValid() bool { return len(t) >= SLtoVLMappingTableSize }

// VL returns the VL that SL sl maps to, or 0 for sl outside 0-15.
func (t SLtoVLMappingTable) VL(sl int) uint8 {
	if sl < 0 || sl >= NumSLs {
		return 0
	}
	return mfGet(t[sl/2], uint(4*(1-sl%2)), 4)
}

// SetVL maps SL sl to vl (low 4 bits); sl outside 0-15 is ignored.
func (t SLtoVLMappingTable) SetVL(sl int, vl uint8) {
	if sl >= 0 && sl < NumSLs {
		mfSet(&t[sl/2], uint(4*(1-sl%2)), 4, vl)
	}
}

// Encode writes every entry of f into t.
func (t SLtoVLMappingTable) Encode(f *SLtoVLMappingTableFields) {
	for sl, vl := range f.VL {
		t.SetVL(sl, vl)
	}
}

// Fields decodes every entry of t.
func (t SLtoVLMappingTable) Fields() SLtoVLMappingTableFields {
	var f SLtoVLMappingTableFields
	for sl := range f.VL {
		f.VL[sl] = t.VL(sl)
	}
	return f
}

// ParseSLtoVLMappingTable returns the view over the first
// SLtoVLMappingTableSize bytes of b.
func ParseSLtoVLMappingTable(b []byte) (SLtoVLMappingTable, error) {
	if err := mfCheckLen("sltovlmappingtable", b, SLtoVLMappingTableSize); err != nil {
		return nil, err
	}
	return SLtoVLMappingTable(b[:SLtoVLMappingTableSize]), nil
}
