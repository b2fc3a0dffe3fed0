package wire_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

// checkView parses data as one attribute view, compares its Fields with
// want, checks that Encode(Fields) gives back data's first size bytes
// exactly (every bit is decoded, the reserved bits are zero) and that a
// buffer one byte short is refused.
func checkView[V ~[]byte, F any](t *testing.T, data []byte, size int,
	parse func([]byte) (V, error), fields func(V) F, encode func(V, *F), want F) {
	t.Helper()
	v, err := parse(data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(v) != size {
		t.Errorf("view has %d bytes, want %d", len(v), size)
	}
	got := fields(v)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields() (-want +got):\n%s", diff)
	}
	buf := make([]byte, size)
	encode(V(buf), &got)
	if diff := cmp.Diff(data[:size], buf); diff != "" {
		t.Errorf("Encode(Fields()) bytes (-want +got):\n%s", diff)
	}
	if _, err := parse(data[:size-1]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("parse(%d bytes) error = %v, want ErrMADTooShort", size-1, err)
	}
}

// smpData returns the attribute area of a captured SMP reply after checking
// its header.
func smpData(t *testing.T, fixture string, attr wire.AttrID, mod uint32) []byte {
	t.Helper()
	s, err := wire.ParseSMP(madHex(t, fixture))
	if err != nil {
		t.Fatalf("ParseSMP: %v", err)
	}
	m := s.MAD()
	if m.Method() != wire.MethodGetResp || m.Status() != 0 || m.AttrID() != attr || m.AttrMod() != mod {
		t.Fatalf("reply header %s status %v attr %s mod %#x, want GetResp success %s %#x",
			m.Method(), m.Status(), m.AttrID(), m.AttrMod(), attr, mod)
	}
	return s.Data()
}

func TestNodeInfoCaptures(t *testing.T) {
	// smpquery nodeinfo 2:
	//   NodeType Channel Adapter, NumPorts 2, SystemGuid/Guid 0x100000,
	//   PortGuid 0x100001, PartCap 64, DevId 0, Revision 0xa1, LocalPort 1,
	//   VendorId 0.
	t.Run("CA", func(t *testing.T) {
		checkView(t, smpData(t, madNodeInfoCA, wire.AttrNodeInfo, 0), wire.NodeInfoSize,
			wire.ParseNodeInfo, wire.NodeInfo.Fields, wire.NodeInfo.Encode, wire.NodeInfoFields{
				BaseVersion: 1, ClassVersion: 1, NodeType: wire.NodeTypeCA, NumPorts: 2,
				SystemImageGUID: 0x100000, NodeGUID: 0x100000, PortGUID: 0x100001,
				PartitionCap: 64, Revision: 0xa1, LocalPortNum: 1,
			})
	})
	// smpquery -D nodeinfo 0,1,3: Switch, 8 ports, GUIDs 0x200001, PartCap
	// 8, Revision 0xa1, LocalPort 3.
	t.Run("switch over DR", func(t *testing.T) {
		s := wire.SMP(madHex(t, madNodeInfoDRResp))
		checkView(t, s.Data(), wire.NodeInfoSize,
			wire.ParseNodeInfo, wire.NodeInfo.Fields, wire.NodeInfo.Encode, wire.NodeInfoFields{
				BaseVersion: 1, ClassVersion: 1, NodeType: wire.NodeTypeSwitch, NumPorts: 8,
				SystemImageGUID: 0x200001, NodeGUID: 0x200001, PortGUID: 0x200001,
				PartitionCap: 8, Revision: 0xa1, LocalPortNum: 3,
			})
	})
	t.Run("Mellanox ConnectX DDR", func(t *testing.T) {
		f := wire.NodeInfoFields{BaseVersion: 1, ClassVersion: 1, NodeType: wire.NodeTypeCA, NumPorts: 2,
			SystemImageGUID: 0x0002c90300012345, NodeGUID: 0x0002c90300012344, PortGUID: 0x0002c90300012345,
			PartitionCap: 128, DeviceID: 0x634A, Revision: 0xA0, LocalPortNum: 2, VendorID: wire.MellanoxOUI}
		b := make([]byte, wire.NodeInfoSize)
		wire.NodeInfo(b).Encode(&f)
		if b[36] != 2 || b[37] != 0x00 || b[38] != 0x02 || b[39] != 0xC9 || b[30] != 0x63 || b[31] != 0x4A {
			t.Errorf("LocalPortNum/VendorID/DeviceID bytes % x", b[28:40])
		}
		checkView(t, b, wire.NodeInfoSize, wire.ParseNodeInfo, wire.NodeInfo.Fields, wire.NodeInfo.Encode, f)
	})
}

func TestNodeDescription(t *testing.T) {
	// smpquery nodedesc 1: "Switch1".
	d := smpData(t, madNodeDescSwitch, wire.AttrNodeDescription, 0)
	checkView(t, d, wire.NodeDescriptionSize, wire.ParseNodeDescription, wire.NodeDescription.Fields,
		wire.NodeDescription.Encode, wire.NodeDescriptionFields{NodeString: "Switch1"})
	if got := wire.NodeDescription(d).String(); got != "Switch1" {
		t.Errorf("String() = %q", got)
	}
	long := make([]byte, 64)
	for i := range long {
		long[i] = 'x'
	}
	nd := wire.NodeDescription(make([]byte, 64))
	nd.SetString(string(long) + "tail")
	if got := nd.String(); got != string(long) {
		t.Errorf("a 68-character description is not cut to 64: %q", got)
	}
	nd.SetString("MT25408 ConnectX Mellanox Technologies")
	if got := nd.String(); got != "MT25408 ConnectX Mellanox Technologies" || nd[63] != 0 {
		t.Errorf("SetString/String = %q", got)
	}
}

func TestPortInfoCaptures(t *testing.T) {
	// Field values as `smpquery portinfo` printed them for the same MAD.
	common := wire.PortInfoFields{
		LinkWidthEnabled: wire.Width4X, LinkWidthSupported: 0x1F, LinkWidthActive: wire.Width4X,
		LinkSpeedSupported: 7, PortState: wire.PortStateActive, PortPhysicalState: wire.PhysStateLinkUp,
		LinkDownDefaultState: wire.PhysStatePolling, LinkSpeedActive: wire.SpeedSDR, LinkSpeedEnabled: wire.SpeedSDR,
		VLCap: wire.VLCapVL0to7, VLArbitrationHighCap: 8, VLArbitrationLowCap: 8, OperationalVLs: wire.VLCapVL0to7,
		CapabilityMask2: 0x30,
	}
	ca := common
	ca.GIDPrefix, ca.LID, ca.MasterSMLID = 0xfe80000000000000, 2, 1
	ca.CapabilityMask = wire.PortCapIsTrapSupported | wire.PortCapIsSLMappingSupported |
		wire.PortCapIsExtendedSpeedsSupported | wire.PortCapIsCapabilityMask2Supported |
		wire.PortCapIsVendorClassSupported | wire.PortCapIsCapabilityMaskNoticeSupported
	ca.MKeyLeasePeriod, ca.LocalPortNum = 4089, 1
	ca.NeighborMTU, ca.MTUCap, ca.VLStallCount, ca.GUIDCap, ca.SubnetTimeOut = wire.MTU2048, wire.MTU2048, 7, 32, 31

	sw0 := common
	sw0.GIDPrefix, sw0.LID, sw0.MasterSMLID = 0xfe80000000000000, 1, 1
	sw0.CapabilityMask = 0xc04a
	sw0.MKeyLeasePeriod = 4089
	sw0.NeighborMTU, sw0.MTUCap, sw0.GUIDCap, sw0.SubnetTimeOut, sw0.RespTimeValue = wire.MTU256, wire.MTU1024, 1, 31, 8

	sw3 := common
	sw3.NeighborMTU, sw3.MTUCap, sw3.VLStallCount, sw3.HOQLife = wire.MTU2048, wire.MTU2048, 7, 18
	sw3.CapabilityMask2 = 0

	tests := []struct {
		name    string
		fixture string
		mod     uint32
		want    wire.PortInfoFields
	}{
		{"smpquery portinfo 2 1", madPortInfoCA, 1, ca},
		{"smpquery portinfo 1 0", madPortInfoSwitch0, 0, sw0},
		{"smpquery portinfo 1 3", madPortInfoSwitch3, 3, sw3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := smpData(t, tc.fixture, wire.AttrPortInfo, tc.mod)
			checkView(t, d, wire.PortInfoSize, wire.ParsePortInfo, wire.PortInfo.Fields, wire.PortInfo.Encode, tc.want)
		})
	}
	p := wire.PortInfo(smpData(t, madPortInfoCA, wire.AttrPortInfo, 1))
	if !p.CapabilityMask().Has(wire.PortCapIsTrapSupported|wire.PortCapIsVendorClassSupported) ||
		p.CapabilityMask().Has(wire.PortCapIsSM) {
		t.Errorf("CapabilityMask().Has wrong for %#x", uint32(p.CapabilityMask()))
	}
	if p.ActiveSpeed() != wire.SpeedSDR || wire.DataVLs(p.OperationalVLs()) != 8 {
		t.Errorf("ActiveSpeed %s DataVLs %d", p.ActiveSpeed(), wire.DataVLs(p.OperationalVLs()))
	}
}

func TestPortInfoSetters(t *testing.T) {
	// Every bit field set to all ones must decode back and leave the
	// neighbouring fields alone; the reserved bits stay zero.
	all := wire.PortInfoFields{
		MKey: ^uint64(0), GIDPrefix: ^uint64(0), LID: 0xFFFF, MasterSMLID: 0xFFFF, CapabilityMask: 0xFFFFFFFF,
		DiagCode: 0xFFFF, MKeyLeasePeriod: 0xFFFF, LocalPortNum: 0xFF, LinkWidthEnabled: 0xFF,
		LinkWidthSupported: 0xFF, LinkWidthActive: 0xFF, LinkSpeedSupported: 0xF, PortState: 0xF,
		PortPhysicalState: 0xF, LinkDownDefaultState: 0xF, MKeyProtectBits: 3, LMC: 7, LinkSpeedActive: 0xF,
		LinkSpeedEnabled: 0xF, NeighborMTU: 0xF, MasterSMSL: 0xF, VLCap: 0xF, InitType: 0xF, VLHighLimit: 0xFF,
		VLArbitrationHighCap: 0xFF, VLArbitrationLowCap: 0xFF, InitTypeReply: 0xF, MTUCap: 0xF, VLStallCount: 7,
		HOQLife: 0x1F, OperationalVLs: 0xF, PartitionEnforcementInbound: true, PartitionEnforcementOutbound: true,
		FilterRawInbound: true, FilterRawOutbound: true, MKeyViolations: 0xFFFF, PKeyViolations: 0xFFFF,
		QKeyViolations: 0xFFFF, GUIDCap: 0xFF, ClientReregister: true, MulticastPKeyTrapSuppressionEnabled: 3,
		SubnetTimeOut: 0x1F, RespTimeValue: 0x1F, LocalPhyErrors: 0xF, OverrunErrors: 0xF, MaxCreditHint: 0xFFFF,
		LinkRoundTripLatency: 0xFFFFFF, CapabilityMask2: 0xFFFF, LinkSpeedExtActive: 0xF, LinkSpeedExtSupported: 0xF,
		LinkSpeedExtEnabled: 0x1F,
	}
	b := make([]byte, wire.PortInfoSize)
	p := wire.PortInfo(b)
	p.Encode(&all)
	if diff := cmp.Diff(all, p.Fields()); diff != "" {
		t.Errorf("all-ones round trip (-want +got):\n%s", diff)
	}
	// Reserved: byte 34 bits 5-3, byte 52 bits 7-5, byte 56, byte 63 bits 7-5.
	want := map[int]byte{34: 0xC7, 52: 0x1F, 56: 0x00, 63: 0x1F}
	for off, v := range want {
		if b[off] != v {
			t.Errorf("byte %d = %#02x, want %#02x", off, b[off], v)
		}
	}
	p.SetPortState(wire.PortStateArmed)
	p.SetLMC(2)
	p.SetHOQLife(0)
	f := p.Fields()
	if f.PortState != wire.PortStateArmed || f.LinkSpeedSupported != 0xF || f.LMC != 2 ||
		f.MKeyProtectBits != 3 || f.HOQLife != 0 || f.VLStallCount != 7 {
		t.Errorf("setters disturbed neighbours: %+v", f)
	}
	p.SetLinkSpeedExtActive(2)
	if p.ActiveSpeed() != wire.SpeedEDR {
		t.Errorf("ActiveSpeed() with ext 2 = %s, want EDR", p.ActiveSpeed())
	}
}

func TestSwitchInfoCapture(t *testing.T) {
	// smpquery switchinfo 1: LinearFdbCap 30720, McastFdbCap 1024,
	// LinearFdbTop 6, LifeTime 18, PartEnforceCap 64, FilterRawInbound 1,
	// FilterRawOutbound 1, the rest 0.
	checkView(t, smpData(t, madSwitchInfo, wire.AttrSwitchInfo, 0), wire.SwitchInfoSize,
		wire.ParseSwitchInfo, wire.SwitchInfo.Fields, wire.SwitchInfo.Encode, wire.SwitchInfoFields{
			LinearFDBCap: 30720, MulticastFDBCap: 1024, LinearFDBTop: 6, LifeTimeValue: 18,
			PartitionEnforcementCap: 64, FilterRawInboundCap: true, FilterRawOutboundCap: true,
		})
	all := wire.SwitchInfoFields{LinearFDBCap: 1, RandomFDBCap: 2, MulticastFDBCap: 3, LinearFDBTop: 4,
		DefaultPort: 5, DefaultMulticastPrimaryPort: 6, DefaultMulticastNotPrimaryPort: 7, LifeTimeValue: 0x1F,
		PortStateChange: true, OptimizedSLtoVLMappingProgramming: 3, LIDsPerPort: 8, PartitionEnforcementCap: 9,
		InboundEnforcementCap: true, OutboundEnforcementCap: true, FilterRawInboundCap: true,
		FilterRawOutboundCap: true, EnhancedPort0: true, MulticastFDBTop: 0xC3FF}
	b := make([]byte, wire.SwitchInfoSize)
	wire.SwitchInfo(b).Encode(&all)
	if b[11] != 0xFF || b[16] != 0xF8 || b[17] != 0 {
		t.Errorf("flag bytes % x", b[11:18])
	}
	checkView(t, b, wire.SwitchInfoSize, wire.ParseSwitchInfo, wire.SwitchInfo.Fields, wire.SwitchInfo.Encode, all)
}

func TestTableAttributeCaptures(t *testing.T) {
	t.Run("GUIDInfo: smpquery GI 2", func(t *testing.T) {
		var want wire.GUIDInfoFields
		want.GUIDs[0] = 0x100001
		checkView(t, smpData(t, madGUIDInfo, wire.AttrGUIDInfo, 0), wire.GUIDInfoSize,
			wire.ParseGUIDInfo, wire.GUIDInfo.Fields, wire.GUIDInfo.Encode, want)
	})
	t.Run("P_KeyTable: smpquery pkeys 2 1", func(t *testing.T) {
		var want wire.PKeyTableFields
		want.PKeys[0] = wire.PKeyDefault
		checkView(t, smpData(t, madPKeyTable, wire.AttrPKeyTable, 0x00010000), wire.PKeyTableSize,
			wire.ParsePKeyTable, wire.PKeyTable.Fields, wire.PKeyTable.Encode, want)
	})
	t.Run("SLtoVLMappingTable: smpquery sl2vl 2 1", func(t *testing.T) {
		// | 0| 1| 2| 3| 4| 5| 6| 7| 8| 9|10|11|12|13|14| 7|
		want := wire.SLtoVLMappingTableFields{VL: [16]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 7}}
		checkView(t, smpData(t, madSLtoVL, wire.AttrSLtoVLMappingTable, 0), wire.SLtoVLMappingTableSize,
			wire.ParseSLtoVLMappingTable, wire.SLtoVLMappingTable.Fields, wire.SLtoVLMappingTable.Encode, want)
	})
	t.Run("VLArbitrationTable low: smpquery vlarb 2 1", func(t *testing.T) {
		// VL 0-7, WEIGHT 0,4,4,4,4,4,4,4.
		var want wire.VLArbitrationTableFields
		for i := 0; i < 8; i++ {
			want.Entries[i] = wire.VLArbEntry{VL: uint8(i), Weight: 4}
		}
		want.Entries[0].Weight = 0
		checkView(t, smpData(t, madVLArbLow, wire.AttrVLArbitrationTable, wire.VLArbLowBlock0<<16|1),
			wire.VLArbitrationTableSize, wire.ParseVLArbitrationTable, wire.VLArbitrationTable.Fields,
			wire.VLArbitrationTable.Encode, want)
	})
	t.Run("VLArbitrationTable high: smpquery vlarb 2 1", func(t *testing.T) {
		// VL 0-7, WEIGHT 4,0,0,0,0,0,0,0.
		var want wire.VLArbitrationTableFields
		for i := 0; i < 8; i++ {
			want.Entries[i] = wire.VLArbEntry{VL: uint8(i)}
		}
		want.Entries[0].Weight = 4
		checkView(t, smpData(t, madVLArbHigh, wire.AttrVLArbitrationTable, wire.VLArbHighBlock0<<16|1),
			wire.VLArbitrationTableSize, wire.ParseVLArbitrationTable, wire.VLArbitrationTable.Fields,
			wire.VLArbitrationTable.Encode, want)
	})
	t.Run("LinearForwardingTable: ibroute 1", func(t *testing.T) {
		// ibroute: LID 1 -> port 0, 2 -> 1, 3 -> 3, 4 -> 3, 5 -> 2, 6 -> 5.
		var want wire.LinearForwardingTableFields
		for i := range want.Ports {
			want.Ports[i] = wire.LFTNoPort
		}
		copy(want.Ports[1:], []uint8{0, 1, 3, 3, 2, 5})
		checkView(t, smpData(t, madLFT, wire.AttrLinearForwardingTable, 0), wire.LinearForwardingTableSize,
			wire.ParseLinearForwardingTable, wire.LinearForwardingTable.Fields, wire.LinearForwardingTable.Encode, want)
	})
	t.Run("MulticastForwardingTable: ibroute -M 1 (empty)", func(t *testing.T) {
		checkView(t, smpData(t, madMFT, wire.AttrMulticastForwardingTable, 0), wire.MulticastForwardingTableSize,
			wire.ParseMulticastForwardingTable, wire.MulticastForwardingTable.Fields,
			wire.MulticastForwardingTable.Encode, wire.MulticastForwardingTableFields{})
	})
	t.Run("SMInfo: sminfo", func(t *testing.T) {
		// sminfo: sm guid 0x200000, activity count 123, priority 0, state 3
		// SMINFO_MASTER (OpenSM's default SM_Key is 1).
		checkView(t, smpData(t, madSMInfo, wire.AttrSMInfo, 0), wire.SMInfoSize,
			wire.ParseSMInfo, wire.SMInfo.Fields, wire.SMInfo.Encode, wire.SMInfoFields{
				GUID: 0x200000, SMKey: 1, ActCount: 123, SMState: wire.SMStateMaster,
			})
		if got := wire.SMStateMaster.String(); got != "SMINFO_MASTER" {
			t.Errorf("SMStateMaster.String() = %q", got)
		}
	})
}

func TestTableAttributeRoundTrips(t *testing.T) {
	t.Run("MFT", func(t *testing.T) {
		var f wire.MulticastForwardingTableFields
		for i := range f.PortMasks {
			f.PortMasks[i] = uint16(0x8001 + i)
		}
		b := make([]byte, wire.MulticastForwardingTableSize)
		wire.MulticastForwardingTable(b).Encode(&f)
		if b[0] != 0x80 || b[1] != 0x01 || b[62] != 0x80 || b[63] != 0x20 {
			t.Errorf("MFT bytes % x ... % x", b[:2], b[62:])
		}
		checkView(t, b, len(b), wire.ParseMulticastForwardingTable, wire.MulticastForwardingTable.Fields,
			wire.MulticastForwardingTable.Encode, f)
		block, idx, ok := wire.MFTBlock(0xC041)
		if !ok || block != 2 || idx != 1 {
			t.Errorf("MFTBlock(0xC041) = %d, %d, %v", block, idx, ok)
		}
		if _, _, ok := wire.MFTBlock(0x0041); ok {
			t.Errorf("MFTBlock(unicast) ok")
		}
		if got := wire.MFTAttrMod(1, 31); got != 0x1000001F {
			t.Errorf("MFTAttrMod(1, 31) = %#x", got)
		}
		if pos, blk := wire.MFTAttrModSplit(0x2000000A); pos != 2 || blk != 10 {
			t.Errorf("MFTAttrModSplit = %d, %d", pos, blk)
		}
	})
	t.Run("LFT block math", func(t *testing.T) {
		if b, i := wire.LFTBlock(130); b != 2 || i != 2 {
			t.Errorf("LFTBlock(130) = %d, %d", b, i)
		}
		lft := wire.LinearForwardingTable(make([]byte, 64))
		lft.SetPort(64, 1) // ignored
		if lft.Port(64) != wire.LFTNoPort || lft.Port(-1) != wire.LFTNoPort {
			t.Errorf("out-of-range Port not LFTNoPort")
		}
	})
	t.Run("SL2VL setters", func(t *testing.T) {
		s := wire.SLtoVLMappingTable(make([]byte, 8))
		s.SetVL(15, 0xF)
		s.SetVL(0, 0xA)
		s.SetVL(16, 1) // ignored
		if s[0] != 0xA0 || s[7] != 0x0F || s.VL(15) != 0xF || s.VL(-1) != 0 {
			t.Errorf("SL2VL bytes % x", []byte(s))
		}
	})
	t.Run("VLArb reserved bits", func(t *testing.T) {
		v := wire.VLArbitrationTable(make([]byte, 64))
		v.SetEntry(31, wire.VLArbEntry{VL: 0xFF, Weight: 0xFF})
		if v[62] != 0x0F || v[63] != 0xFF {
			t.Errorf("entry 31 bytes % x", v[62:])
		}
		if e := v.Entry(32); e != (wire.VLArbEntry{}) {
			t.Errorf("Entry(32) = %+v", e)
		}
	})
	t.Run("SMInfo", func(t *testing.T) {
		f := wire.SMInfoFields{GUID: 0x0002c90300000001, SMKey: 0xdeadbeef, ActCount: 0xFFFFFFFF, Priority: 15, SMState: wire.SMStateStandby}
		b := make([]byte, wire.SMInfoSize)
		wire.SMInfo(b).Encode(&f)
		if b[20] != 0xF2 {
			t.Errorf("priority/state byte %#x, want 0xf2", b[20])
		}
		checkView(t, b, len(b), wire.ParseSMInfo, wire.SMInfo.Fields, wire.SMInfo.Encode, f)
	})
}

func TestPKey(t *testing.T) {
	tests := []struct {
		a, b    wire.PKey
		matches bool
	}{
		{0xFFFF, 0xFFFF, true},
		{0xFFFF, 0x7FFF, true},
		{0x7FFF, 0x7FFF, false}, // two limited members
		{0x8001, 0x8002, false},
		{0x0000, 0x8000, false}, // base 0 is invalid
		{0x8000, 0x8000, false},
	}
	for _, tc := range tests {
		if got := tc.a.Matches(tc.b); got != tc.matches {
			t.Errorf("%v.Matches(%v) = %v", tc.a, tc.b, got)
		}
	}
	k := wire.PKey(0x8123)
	if !k.IsFullMember() || k.Base() != 0x123 || k.Limited() != 0x0123 || k.Limited().Full() != k || k.String() != "0x8123" {
		t.Errorf("PKey helpers wrong for %v", k)
	}
	tbl := wire.PKeyTable(make([]byte, 64))
	tbl.SetPKey(31, 0x8001)
	tbl.SetPKey(32, 1) // ignored
	if tbl.PKey(31) != 0x8001 || tbl.PKey(32) != 0 || tbl[62] != 0x80 {
		t.Errorf("P_KeyTable entry 31 % x", tbl[62:])
	}
}
