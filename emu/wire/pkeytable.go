package wire

import "fmt"

// PKey is a partition key (IBTA Vol 1 §10.9): bit 15 is the membership
// type (1 full, 0 limited), bits 14-0 the base.
type PKey uint16

// Well-known P_Keys.
const (
	// PKeyDefault is the default partition with full membership.
	PKeyDefault PKey = 0xFFFF
	// PKeyDefaultLimited is the default partition with limited membership.
	PKeyDefaultLimited PKey = 0x7FFF
	// PKeyMembershipBit marks full membership.
	PKeyMembershipBit PKey = 0x8000
)

// IsFullMember reports whether the membership bit is set.
func (k PKey) IsFullMember() bool { return k&PKeyMembershipBit != 0 }

// Base returns the 15-bit partition number.
func (k PKey) Base() uint16 { return uint16(k &^ PKeyMembershipBit) }

// IsValid reports whether k names a partition: a base of 0 is invalid
// whatever the membership bit (IBTA Vol 1 §10.9).
func (k PKey) IsValid() bool { return k.Base() != 0 }

// Full returns k with the membership bit set.
func (k PKey) Full() PKey { return k | PKeyMembershipBit }

// Limited returns k with the membership bit clear.
func (k PKey) Limited() PKey { return k &^ PKeyMembershipBit }

// SamePartition reports whether k and o have the same base.
func (k PKey) SamePartition(o PKey) bool { return k.Base() == o.Base() }

// Matches reports whether a packet with P_Key k is accepted by a port
// holding o: same valid base, and not both limited (IBTA Vol 1 §10.9).
func (k PKey) Matches(o PKey) bool {
	return k.IsValid() && k.SamePartition(o) && (k.IsFullMember() || o.IsFullMember())
}

// String formats k as 0x followed by 4 hex digits.
func (k PKey) String() string { return fmt.Sprintf("0x%04x", uint16(k)) }

// PKeyTable is one block of the P_KeyTable attribute (IBTA Vol 1
// §14.2.5.7), AttrID 0x0016: 32 P_Keys. AttributeModifier bits 15-0 are
// the block number; on a switch bits 31-16 are the port.
//
//	+-------------------------------+-------------------------------+
//	|          P_Key entry 0        |          P_Key entry 1        |  0
//	+-------------------------------+-------------------------------+
//	|                              ...                              |
//	+-------------------------------+-------------------------------+
//	|         P_Key entry 30        |         P_Key entry 31        |  60
//	+-------------------------------+-------------------------------+
type PKeyTable []byte

// PKeyTable sizes.
const (
	PKeyTableSize         = 64
	PKeyTableBlockEntries = 32
)

// PKeyTableFields holds one block for Encode.
type PKeyTableFields struct {
	PKeys [PKeyTableBlockEntries]PKey
}

// IsValid reports whether t holds a whole block.
func (t PKeyTable) IsValid() bool { return len(t) >= PKeyTableSize }

// PKey returns entry i (0-31), or 0 when i is out of range.
func (t PKeyTable) PKey(i int) PKey {
	if i < 0 || i >= PKeyTableBlockEntries {
		return 0
	}
	return PKey(mfU16(t, 2*i))
}

// SetPKey sets entry i (0-31); other i are ignored.
func (t PKeyTable) SetPKey(i int, k PKey) {
	if i >= 0 && i < PKeyTableBlockEntries {
		mfPut16(t, 2*i, uint16(k))
	}
}

// Encode writes every entry of f into t.
func (t PKeyTable) Encode(f *PKeyTableFields) {
	for i, k := range f.PKeys {
		t.SetPKey(i, k)
	}
}

// Fields decodes every entry of t.
func (t PKeyTable) Fields() PKeyTableFields {
	var f PKeyTableFields
	for i := range f.PKeys {
		f.PKeys[i] = t.PKey(i)
	}
	return f
}

// ParsePKeyTable returns the P_KeyTable view over the first PKeyTableSize
// bytes of b.
func ParsePKeyTable(b []byte) (PKeyTable, error) {
	if err := mfCheckLen("p_keytable", b, PKeyTableSize); err != nil {
		return nil, err
	}
	return PKeyTable(b[:PKeyTableSize]), nil
}
