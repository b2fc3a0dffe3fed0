package sm

import (
	"encoding/binary"

	"github.com/ibemu/ibemu/emu/wire"
)

// SA records that emu/wire has no view for (IBTA Vol 1 §15.2.5).
const (
	// LinkRecordSize: FromLID(2) FromPort(1) ToPort(1) ToLID(2) reserved(2).
	LinkRecordSize = 8
	// SwitchInfoRecordSize: LID(2) reserved(2) SwitchInfo(20).
	SwitchInfoRecordSize = 4 + wire.SwitchInfoSize
	// LFTRecordSize: LID(2) BlockNum(2) reserved(4) LFT block(64).
	LFTRecordSize = 8 + wire.LinearForwardingTableSize
)

// field is one component of a record for component-mask matching: its
// bit offset and length in the record.
type field struct{ off, bits int }

// componentLayouts gives the components of each record, in component-mask
// bit order (IBTA Vol 1 §15.2.5; the tables of protocols.md §4).
var componentLayouts = map[wire.AttrID][]field{
	wire.AttrNodeRecord: {{0, 16}, {16, 16}, {32, 8}, {40, 8}, {48, 8}, {56, 8}, {64, 64}, {128, 64}, {192, 64},
		{256, 16}, {272, 16}, {288, 32}, {320, 8}, {328, 24}, {352, 512}},
	// LID, PortNum, Options, then PortInfo fields up to CapabilityMask.
	wire.AttrPortInfoRecord: {{0, 16}, {16, 8}, {24, 8}, {32, 64}, {96, 64}, {160, 16}, {176, 16}, {192, 32}},
	wire.AttrMCMemberRecord: {{0, 128}, {128, 128}, {256, 32}, {288, 16}, {304, 2}, {306, 6}, {312, 8}, {320, 16},
		{336, 2}, {338, 6}, {344, 2}, {346, 6}, {352, 4}, {356, 20}, {376, 8}, {384, 4}, {388, 4}, {392, 1}},
	wire.AttrServiceRecord: serviceLayout(),
	wire.AttrLinkRecord:    {{0, 16}, {16, 8}, {24, 8}, {32, 16}},
	// LID, reserved, then SwitchInfo's caps and tops.
	wire.AttrSwitchInfoRecord:            {{0, 16}, {16, 16}, {32, 16}, {48, 16}, {64, 16}, {80, 16}},
	wire.AttrLinearForwardingTableRecord: {{0, 16}, {16, 16}},
}

func serviceLayout() []field {
	f := []field{{0, 64}, {64, 128}, {192, 16}, {208, 16}, {224, 32}, {256, 128}, {384, 512}}
	for i := range 16 {
		f = append(f, field{896 + 8*i, 8})
	}
	for i := range 8 {
		f = append(f, field{1024 + 16*i, 16})
	}
	for i := range 4 {
		f = append(f, field{1152 + 32*i, 32})
	}
	for i := range 2 {
		f = append(f, field{1280 + 64*i, 64})
	}
	return f
}

// bitsEqual compares n bits at bit offset off of a and b.
func bitsEqual(a, b []byte, off, n int) bool {
	for i := 0; i < n; {
		byteI, bit := (off+i)/8, (off+i)%8
		if bit == 0 && n-i >= 8 {
			if byteI >= len(a) || byteI >= len(b) || a[byteI] != b[byteI] {
				return false
			}
			i += 8
			continue
		}
		if byteI >= len(a) || byteI >= len(b) {
			return false
		}
		mask := byte(0x80 >> bit)
		if a[byteI]&mask != b[byteI]&mask {
			return false
		}
		i++
	}
	return true
}

// matches reports whether rec agrees with the request record req on every
// component the mask selects that the layout knows.
func matches(attr wire.AttrID, mask wire.ComponentMask, req, rec []byte) bool {
	layout := componentLayouts[attr]
	for i, f := range layout {
		if mask&(1<<i) == 0 {
			continue
		}
		if !bitsEqual(req, rec, f.off, f.bits) {
			return false
		}
	}
	return true
}

func putLinkRecord(b []byte, fromLID wire.LID, fromPort, toPort uint8, toLID wire.LID) {
	binary.BigEndian.PutUint16(b[0:], uint16(fromLID))
	b[2], b[3] = fromPort, toPort
	binary.BigEndian.PutUint16(b[4:], uint16(toLID))
}

func putSwitchInfoRecord(b []byte, lid wire.LID, si wire.SwitchInfoFields) {
	binary.BigEndian.PutUint16(b[0:], uint16(lid))
	wire.SwitchInfo(b[4 : 4+wire.SwitchInfoSize]).Encode(&si)
}

func putLFTRecord(b []byte, lid wire.LID, block uint16, ports []uint8) {
	binary.BigEndian.PutUint16(b[0:], uint16(lid))
	binary.BigEndian.PutUint16(b[2:], block)
	for i := range wire.LinearForwardingTableSize {
		b[8+i] = lftUnreachable
	}
	copy(b[8:8+wire.LinearForwardingTableSize], ports)
}

// recordSize is the size of one record of attr.
func recordSize(attr wire.AttrID) int {
	switch attr {
	case wire.AttrLinkRecord:
		return LinkRecordSize
	case wire.AttrSwitchInfoRecord:
		return SwitchInfoRecordSize
	case wire.AttrLinearForwardingTableRecord:
		return LFTRecordSize
	}
	return wire.SARecordSize(attr)
}
