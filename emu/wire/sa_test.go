package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

func gid(prefix, guid uint64) (g wire.GID) {
	for i := 0; i < 8; i++ {
		g[i] = byte(prefix >> (56 - 8*i))
		g[8+i] = byte(guid >> (56 - 8*i))
	}
	return g
}

// saReply parses a captured SA reply and checks its headers.
func saReply(t *testing.T, fixture string, attr wire.AttrID, want wire.SAHeaderFields) wire.SAMAD {
	t.Helper()
	m, err := wire.ParseSAMAD(madHex(t, fixture))
	if err != nil {
		t.Fatalf("ParseSAMAD: %v", err)
	}
	if m.MAD().AttrID() != attr || m.MAD().Status() != 0 {
		t.Fatalf("reply attr %v status %v", m.MAD().AttrID(), m.MAD().Status())
	}
	// OpenSM behind umad2sim (no kernel RMPP layer) marks GetTable
	// replies Active but leaves version and type 0.
	wantRMPP := wire.RMPPHeaderFields{}
	if m.MAD().Method() == wire.MethodGetTableResp {
		wantRMPP.Flags = wire.RMPPFlagActive
	}
	if diff := cmp.Diff(wantRMPP, m.RMPP().Fields()); diff != "" {
		t.Errorf("RMPP header (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, m.SA().Fields()); diff != "" {
		t.Errorf("SA header (-want +got):\n%s", diff)
	}
	return m
}

func TestPathRecordCapture(t *testing.T) {
	// saquery --src-to-dst 2:4 asked with DLID|SLID|NumbPath and got:
	// dgid fe80::10:4, sgid fe80::10:1, dlid 4, slid 2, num_path_revers
	// 0x80, pkey 0xFFFF, mtu 0x84, rate 0x83, pkt_life 0x92, the rest 0.
	m := saReply(t, madSAPathRecord, wire.AttrPathRecord, wire.SAHeaderFields{
		AttributeOffset: 8,
		ComponentMask:   wire.PathRecordCompDLID | wire.PathRecordCompSLID | wire.PathRecordCompNumbPath,
	})
	want := wire.PathRecordFields{
		DGID: gid(0xfe80000000000000, 0x100004), SGID: gid(0xfe80000000000000, 0x100001), DLID: 4, SLID: 2,
		Reversible: true, PKey: wire.PKeyDefault,
		MTUSelector: wire.SelectorExactly, MTU: wire.MTU2048,
		RateSelector: wire.SelectorExactly, Rate: wire.Rate10Gbps,
		PacketLifeTimeSelector: wire.SelectorExactly, PacketLifeTime: 18,
	}
	checkView(t, m.Record(0, wire.PathRecordSize), wire.PathRecordSize, wire.ParsePathRecord,
		wire.PathRecord.Fields, wire.PathRecord.Encode, want)
	if m.Record(3, wire.PathRecordSize) != nil || m.Record(4, wire.PathRecordSize) != nil {
		t.Errorf("records past the 200-byte area must be nil")
	}
	if got := wire.PathRecord(m.Record(0, wire.PathRecordSize)).Rate().String(); got != "10 Gbps" {
		t.Errorf("Rate().String() = %q", got)
	}
}

func TestPathRecordEveryField(t *testing.T) {
	f := wire.PathRecordFields{
		ServiceID: 0x10000CE100415453, DGID: gid(1, 2), SGID: gid(3, 4), DLID: 0xBFFF, SLID: 1,
		RawTraffic: true, FlowLabel: 0xFFFFF, HopLimit: 0xFF, TClass: 0xFF, Reversible: true, NumbPath: 0x7F,
		PKey: 0x8001, QoSClass: 0xFFF, SL: 0xF, MTUSelector: wire.SelectorBest, MTU: 0x3F,
		RateSelector: wire.SelectorLessThan, Rate: 0x3F, PacketLifeTimeSelector: wire.SelectorGreaterThan,
		PacketLifeTime: 0x3F, Preference: 0xFF,
	}
	b := make([]byte, wire.PathRecordSize)
	wire.PathRecord(b).Encode(&f)
	if !bytes.Equal(b[44:58], []byte{0x8F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x01, 0xFF, 0xFF, 0xFF, 0x7F, 0x3F, 0xFF}) {
		t.Errorf("packed bytes 44-57: % x", b[44:58])
	}
	checkView(t, b, len(b), wire.ParsePathRecord, wire.PathRecord.Fields, wire.PathRecord.Encode, f)
}

func TestNodeRecordCapture(t *testing.T) {
	// saquery NR 2: lid 2, Channel Adapter, 2 ports, sys/node guid
	// 0x100000, port guid 0x100001, partition_cap 0x40, revision 0xA1,
	// port_num 1, NodeDescription Hca1.
	m := saReply(t, madSANodeRecord, wire.AttrNodeRecord, wire.SAHeaderFields{
		AttributeOffset: wire.SAAttributeOffset(wire.NodeRecordSize), ComponentMask: wire.NodeRecordCompLID,
	})
	if m.SA().AttributeOffset() != 14 {
		t.Errorf("NodeRecord stride = %d words, want 14", m.SA().AttributeOffset())
	}
	checkView(t, m.Record(0, wire.NodeRecordSize), wire.NodeRecordSize, wire.ParseNodeRecord,
		wire.NodeRecord.Fields, wire.NodeRecord.Encode, wire.NodeRecordFields{
			LID: 2,
			NodeInfo: wire.NodeInfoFields{BaseVersion: 1, ClassVersion: 1, NodeType: wire.NodeTypeCA, NumPorts: 2,
				SystemImageGUID: 0x100000, NodeGUID: 0x100000, PortGUID: 0x100001, PartitionCap: 64,
				Revision: 0xa1, LocalPortNum: 1},
			NodeDescription: "Hca1",
		})
}

func TestPortInfoRecordCapture(t *testing.T) {
	// saquery PIR 2 1 (it asks by LID only) prints the same PortInfo as
	// smpquery portinfo 2 1.
	m := saReply(t, madSAPortInfoRecord, wire.AttrPortInfoRecord, wire.SAHeaderFields{
		AttributeOffset: 9, ComponentMask: wire.PortInfoRecordCompLID,
	})
	pi := wire.PortInfo(smpData(t, madPortInfoCA, wire.AttrPortInfo, 1)).Fields()
	checkView(t, m.Record(0, wire.PortInfoRecordSize), wire.PortInfoRecordSize, wire.ParsePortInfoRecord,
		wire.PortInfoRecord.Fields, wire.PortInfoRecord.Encode, wire.PortInfoRecordFields{
			EndportLID: 2, PortNum: 1, PortInfo: pi,
		})
}

func TestMCMemberRecordCapture(t *testing.T) {
	// saquery MCMR: the IPoIB broadcast group OpenSM predefines:
	// MGID ff12:401b:ffff::ffff:ffff, qkey 0xb1b, mlid 0xc000, mtu 0x84,
	// pkey 0xffff, rate 0x83, pkt_life 0x92, Scope 0x2, the rest 0
	// (PortGID is hidden from an untrusted requester).
	m := saReply(t, madSAMCMemberRecord, wire.AttrMCMemberRecord, wire.SAHeaderFields{AttributeOffset: 7})
	mgid := wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}
	checkView(t, m.Record(0, wire.MCMemberRecordSize), wire.MCMemberRecordSize, wire.ParseMCMemberRecord,
		wire.MCMemberRecord.Fields, wire.MCMemberRecord.Encode, wire.MCMemberRecordFields{
			MGID: mgid, QKey: 0x0b1b, MLID: 0xC000,
			MTUSelector: wire.SelectorExactly, MTU: wire.MTU2048, PKey: wire.PKeyDefault,
			RateSelector: wire.SelectorExactly, Rate: wire.Rate10Gbps,
			PacketLifeTimeSelector: wire.SelectorExactly, PacketLifeTime: 18, Scope: 2,
		})
}

func TestMCMemberRecordJoin(t *testing.T) {
	// An IPoIB join: SubnAdmSet with MGID|PortGID|JoinState plus the
	// creation components.
	f := wire.MCMemberRecordFields{MGID: gid(0xff12401bffff0000, 0xffffffff), PortGID: gid(0xfe80000000000000, 0x0002c90300012345),
		QKey: 0x0b1b, TClass: 0, PKey: 0xFFFF, SL: 0xF, FlowLabel: 0xABCDE, HopLimit: 0x40,
		JoinState: wire.JoinFullMember | wire.JoinSendOnlyFullMember, ProxyJoin: true, Scope: 0xE}
	b := make([]byte, wire.MCMemberRecordSize)
	wire.MCMemberRecord(b).Encode(&f)
	if !bytes.Equal(b[44:52], []byte{0xFA, 0xBC, 0xDE, 0x40, 0xE9, 0x80, 0, 0}) {
		t.Errorf("bytes 44-51: % x", b[44:52])
	}
	checkView(t, b, len(b), wire.ParseMCMemberRecord, wire.MCMemberRecord.Fields, wire.MCMemberRecord.Encode, f)
	mask := wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState
	if mask != 0x10003 || !mask.Has(wire.MCMemberRecordCompJoinState) || mask.Has(wire.MCMemberRecordCompQKey) {
		t.Errorf("component mask %#x", uint64(mask))
	}
}

func TestServiceRecord(t *testing.T) {
	// The ATS record WinOF IPoIB registers for 10.0.0.1 (protocols.md §4.6).
	f := wire.ServiceRecordFields{ServiceID: 0x10000CE100415453, ServiceGID: gid(0xfe80000000000000, 0x0002c90300012345),
		ServicePKey: 0xFFFF, ServiceLease: wire.ServiceLeaseInfinite, ServiceName: "DAPL Address Translation Service",
		ServiceKey: [16]byte{15: 0x42}}
	f.ServiceData8[12], f.ServiceData8[13], f.ServiceData8[15] = 10, 0, 1
	f.ServiceData16[7], f.ServiceData32[3], f.ServiceData64[1] = 0xBEEF, 0xCAFEF00D, 0x0123456789ABCDEF
	b := make([]byte, wire.ServiceRecordSize)
	wire.ServiceRecord(b).Encode(&f)
	if !bytes.Equal(b[124:128], []byte{10, 0, 0, 1}) || string(b[48:52]) != "DAPL" || b[28] != 0xFF ||
		b[142] != 0xBE || b[156] != 0xCA || b[175] != 0xEF || b[47] != 0x42 {
		t.Errorf("ServiceRecord layout wrong")
	}
	checkView(t, b, len(b), wire.ParseServiceRecord, wire.ServiceRecord.Fields, wire.ServiceRecord.Encode, f)
	if got := wire.ServiceRecordCompData8(12) | wire.ServiceRecordCompData64(1); got != 1<<19|1<<36 {
		t.Errorf("ServiceData component bits %#x", uint64(got))
	}
}

func TestRMPPHeader(t *testing.T) {
	tests := []struct {
		name string
		f    wire.RMPPHeaderFields
		want []byte
	}{
		{
			name: "first DATA segment of a 3-segment GetTableResp",
			f: wire.RMPPHeaderFields{Version: wire.RMPPVersion, Type: wire.RMPPTypeData, RespTime: wire.RMPPNoRespTime,
				Flags: wire.RMPPFlagActive | wire.RMPPFlagFirst, Data1: 1, Data2: 3*220 - 136},
			want: []byte{1, 1, 0xFB, 0, 0, 0, 0, 1, 0, 0, 0x02, 0x0C},
		},
		{
			name: "ACK of segment 2, window up to 5",
			f:    wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeAck, Flags: wire.RMPPFlagActive, Data1: 2, Data2: 5},
			want: []byte{1, 2, 0x01, 0, 0, 0, 0, 2, 0, 0, 0, 5},
		},
		{
			name: "ABORT, unsupported version",
			f:    wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeAbort, Flags: wire.RMPPFlagActive, Status: wire.RMPPStatusUnsupportedVersion},
			want: []byte{1, 4, 0x01, 125, 0, 0, 0, 0, 0, 0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, wire.RMPPHeaderSize)
			wire.RMPPHeader(b).Encode(&tc.f)
			if diff := cmp.Diff(tc.want, b); diff != "" {
				t.Errorf("bytes (-want +got):\n%s", diff)
			}
			checkView(t, b, len(b), wire.ParseRMPPHeader, wire.RMPPHeader.Fields, wire.RMPPHeader.Encode, tc.f)
		})
	}
	r := wire.RMPPHeader([]byte{1, 1, 0x07, 0, 0, 0, 0, 9, 0, 0, 0, 220})
	if !r.IsActive() || r.SegmentNumber() != 9 || r.PayloadLength() != 220 || r.NewWindowLast() != 220 {
		t.Errorf("accessors wrong")
	}
	if got := r.Flags().String(); got != "Active|First|Last" {
		t.Errorf("Flags().String() = %q", got)
	}
	r.SetRespTime(0x1F)
	if r.Flags() != 7 || r[2] != 0xFF {
		t.Errorf("SetRespTime disturbed the flags: %#x", r[2])
	}
	for _, tc := range []struct{ got, want string }{
		{wire.RMPPTypeStop.String(), "STOP"},
		{wire.RMPPStatusBadType.String(), "bad rmpp type"},
		{wire.RMPPFlags(0).String(), "0"},
		{wire.RMPPType(9).String(), "RMPPType(9)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSAMADHeaders(t *testing.T) {
	f := wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: 2,
			Method: wire.MethodGetTable, TID: 0xabc, AttrID: wire.AttrPathRecord},
		RMPP: wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeData},
		SA: wire.SAHeaderFields{SMKey: 1, ComponentMask: wire.PathRecordCompSGID | wire.PathRecordCompDGID |
			wire.PathRecordCompNumbPath},
	}
	b := make([]byte, wire.MADSize)
	m := wire.SAMAD(b)
	m.Encode(&f)
	if !bytes.Equal(b[24:26], []byte{1, 1}) || b[43] != 1 || !bytes.Equal(b[48:56], []byte{0, 0, 0, 0, 0, 0, 0x10, 0x0C}) {
		t.Errorf("SA MAD header bytes % x", b[:56])
	}
	got, err := wire.ParseSAMAD(b)
	if err != nil {
		t.Fatalf("ParseSAMAD: %v", err)
	}
	if diff := cmp.Diff(f, got.Fields()); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if len(got.Data()) != wire.SADataSize || &got.Data()[0] != &b[wire.SADataOffset] {
		t.Errorf("Data() is not the 200 bytes at 56")
	}
	if _, err := wire.ParseSAHeader(b[36:55]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("ParseSAHeader(19 bytes) = %v", err)
	}
	for a, want := range map[wire.AttrID]int{wire.AttrPathRecord: 64, wire.AttrNodeRecord: 108,
		wire.AttrPortInfoRecord: 68, wire.AttrMCMemberRecord: 52, wire.AttrServiceRecord: 176,
		wire.AttrInformInfo: 36, wire.AttrInformInfoRecord: 60, wire.AttrNotice: 80, wire.AttrLinkRecord: 0} {
		if got := wire.SARecordSize(a); got != want {
			t.Errorf("SARecordSize(%#x) = %d, want %d", uint16(a), got, want)
		}
	}
	if wire.SAAttributeOffset(52) != 7 || wire.SAAttributeOffset(64) != 8 || wire.SAAttributeOffset(60) != 8 {
		t.Errorf("SAAttributeOffset rounding wrong")
	}
}
