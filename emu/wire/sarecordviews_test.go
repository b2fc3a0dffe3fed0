package wire_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// hexBytes decodes a hex string with spaces.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The layouts below are written out byte by byte from IBTA Vol 1 §15.2.5
// (and OpenSM's ib_types.h structs of the same records).

func TestSMInfoRecordLayout(t *testing.T) {
	want := hexBytes(t, "0007 0000 0002c90300001234 0000000000000001 00000010 d3")
	checkView(t, want, wire.SMInfoRecordSize, wire.ParseSMInfoRecord, wire.SMInfoRecord.Fields, wire.SMInfoRecord.Encode,
		wire.SMInfoRecordFields{LID: 7, SMInfo: wire.SMInfoFields{GUID: 0x0002c90300001234, SMKey: 1, ActCount: 0x10,
			Priority: 13, SMState: wire.SMStateMaster}})
	if wire.SAAttributeOffset(wire.SMInfoRecordSize) != 4 {
		t.Errorf("SMInfoRecord stride %d words, want 4 (32 bytes)", wire.SAAttributeOffset(wire.SMInfoRecordSize))
	}
}

func TestPKeyTableRecordLayout(t *testing.T) {
	want := make([]byte, wire.PKeyTableRecordSize)
	copy(want, hexBytes(t, "0012 0001 05 000000 ffff 8001"))
	var f wire.PKeyTableRecordFields
	f.LID, f.BlockNum, f.PortNum = 0x12, 1, 5
	f.PKeyTable.PKeys[0], f.PKeyTable.PKeys[1] = 0xFFFF, 0x8001
	checkView(t, want, wire.PKeyTableRecordSize, wire.ParsePKeyTableRecord, wire.PKeyTableRecord.Fields, wire.PKeyTableRecord.Encode, f)
}

func TestSLtoVLMappingTableRecordLayout(t *testing.T) {
	want := hexBytes(t, "0003 02 07 00000000 01 23 45 67 01 23 45 67")
	var f wire.SLtoVLMappingTableRecordFields
	f.LID, f.InputPortNum, f.OutputPortNum = 3, 2, 7
	for sl := range f.SLtoVLMappingTable.VL {
		f.SLtoVLMappingTable.VL[sl] = uint8(sl % 8)
	}
	checkView(t, want, wire.SLtoVLMappingTableRecordSize, wire.ParseSLtoVLMappingTableRecord,
		wire.SLtoVLMappingTableRecord.Fields, wire.SLtoVLMappingTableRecord.Encode, f)
}

func TestVLArbitrationTableRecordLayout(t *testing.T) {
	want := make([]byte, wire.VLArbitrationTableRecordSize)
	copy(want, hexBytes(t, "0004 01 03 00000000 00 01 01 01 07 ff"))
	var f wire.VLArbitrationTableRecordFields
	f.LID, f.OutputPortNum, f.BlockNum = 4, 1, wire.VLArbHighBlock0
	f.VLArbitrationTable.Entries[0] = wire.VLArbEntry{VL: 0, Weight: 1}
	f.VLArbitrationTable.Entries[1] = wire.VLArbEntry{VL: 1, Weight: 1}
	f.VLArbitrationTable.Entries[2] = wire.VLArbEntry{VL: 7, Weight: 255}
	checkView(t, want, wire.VLArbitrationTableRecordSize, wire.ParseVLArbitrationTableRecord,
		wire.VLArbitrationTableRecord.Fields, wire.VLArbitrationTableRecord.Encode, f)
}

func TestMulticastForwardingTableRecordLayout(t *testing.T) {
	// Position 2, block 0x1FF: 0x2000 | 0x01FF.
	want := make([]byte, wire.MulticastForwardingTableRecordSize)
	copy(want, hexBytes(t, "0001 21ff 00000000 0006 8000"))
	var f wire.MulticastForwardingTableRecordFields
	f.LID, f.Position, f.BlockNum = 1, 2, 0x1FF
	f.MulticastForwardingTable.PortMasks[0], f.MulticastForwardingTable.PortMasks[1] = 6, 0x8000
	checkView(t, want, wire.MulticastForwardingTableRecordSize, wire.ParseMulticastForwardingTableRecord,
		wire.MulticastForwardingTableRecord.Fields, wire.MulticastForwardingTableRecord.Encode, f)
	// Setting the block keeps the position; out-of-range values are cut.
	r := wire.MulticastForwardingTableRecord(make([]byte, wire.MulticastForwardingTableRecordSize))
	r.SetPosition(0xF)
	r.SetBlockNum(0xFFFF)
	if r.Position() != 0xF || r.BlockNum() != 0x1FF || r[2]&0x0E != 0 {
		t.Errorf("position %d block %#x bytes % x: reserved bits touched", r.Position(), r.BlockNum(), r[2:4])
	}
}

func TestGUIDInfoRecordLayout(t *testing.T) {
	want := make([]byte, wire.GUIDInfoRecordSize)
	copy(want, hexBytes(t, "0009 02 00 00000000 0002c90300000001 0000000000000000 0002c903000000ff"))
	var f wire.GUIDInfoRecordFields
	f.LID, f.BlockNum = 9, 2
	f.GUIDInfo.GUIDs[0], f.GUIDInfo.GUIDs[2] = 0x0002c90300000001, 0x0002c903000000ff
	checkView(t, want, wire.GUIDInfoRecordSize, wire.ParseGUIDInfoRecord, wire.GUIDInfoRecord.Fields, wire.GUIDInfoRecord.Encode, f)
}

func TestMultiPathRecordLayout(t *testing.T) {
	s := wire.GID{0xfe, 0x80, 15: 1}
	d1 := wire.GID{0xfe, 0x80, 15: 2}
	d2 := wire.GID{0xfe, 0x80, 15: 3}
	f := wire.MultiPathRecordFields{
		RawTraffic: true, FlowLabel: 0xABCDE, HopLimit: 0x40, TClass: 0x12, Reversible: true, NumbPath: 4,
		PKey: 0xFFFF, QoSClass: 0x123, SL: 5, MTUSelector: wire.SelectorExactly, MTU: wire.MTU2048,
		RateSelector: wire.SelectorGreaterThan, Rate: 3, PacketLifeTimeSelector: wire.SelectorLessThan, PacketLifeTime: 0x12,
		ServiceID: 0x1122334455667788, IndependenceSelector: 1, SGIDCount: 1, DGIDCount: 2, GIDs: []wire.GID{s, d1, d2},
	}
	want := hexBytes(t, "8abcde40 12 84 ffff 1235 84 03 52 11 40 01 02 22334455667788")
	want = append(want, s[:]...)
	want = append(want, d1[:]...)
	want = append(want, d2[:]...)
	checkView(t, want, len(want), wire.ParseMultiPathRecord, wire.MultiPathRecord.Fields, wire.MultiPathRecord.Encode, f)
	// A record that counts more GIDs than it carries does not parse.
	short := bytes.Clone(want[:len(want)-1])
	if _, err := wire.ParseMultiPathRecord(short); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("record missing part of its last gid: %v", err)
	}
	if got := wire.MultiPathRecord(want).GID(5); got != (wire.GID{}) {
		t.Errorf("GID past the counts = %v, want zero", got)
	}
	if wire.MultiPathRecordMaxGIDs != 11 {
		t.Errorf("MultiPathRecordMaxGIDs %d, want 11 (OpenSM's IB_MULTIPATH_MAX_GIDS)", wire.MultiPathRecordMaxGIDs)
	}
}

func FuzzParseSMInfoRecord(f *testing.F) {
	fuzzView(f, wire.SMInfoRecordSize, wire.ParseSMInfoRecord, wire.SMInfoRecord.Fields, wire.SMInfoRecord.Encode)
}

func FuzzParsePKeyTableRecord(f *testing.F) {
	fuzzView(f, wire.PKeyTableRecordSize, wire.ParsePKeyTableRecord, wire.PKeyTableRecord.Fields, wire.PKeyTableRecord.Encode)
}

func FuzzParseSLtoVLMappingTableRecord(f *testing.F) {
	fuzzView(f, wire.SLtoVLMappingTableRecordSize, wire.ParseSLtoVLMappingTableRecord,
		wire.SLtoVLMappingTableRecord.Fields, wire.SLtoVLMappingTableRecord.Encode)
}

func FuzzParseVLArbitrationTableRecord(f *testing.F) {
	fuzzView(f, wire.VLArbitrationTableRecordSize, wire.ParseVLArbitrationTableRecord,
		wire.VLArbitrationTableRecord.Fields, wire.VLArbitrationTableRecord.Encode)
}

func FuzzParseMulticastForwardingTableRecord(f *testing.F) {
	fuzzView(f, wire.MulticastForwardingTableRecordSize, wire.ParseMulticastForwardingTableRecord,
		wire.MulticastForwardingTableRecord.Fields, wire.MulticastForwardingTableRecord.Encode)
}

func FuzzParseGUIDInfoRecord(f *testing.F) {
	fuzzView(f, wire.GUIDInfoRecordSize, wire.ParseGUIDInfoRecord, wire.GUIDInfoRecord.Fields, wire.GUIDInfoRecord.Encode)
}

func FuzzParseMultiPathRecord(f *testing.F) {
	fuzzView(f, wire.SADataSize, wire.ParseMultiPathRecord, wire.MultiPathRecord.Fields, wire.MultiPathRecord.Encode)
}
