package ibswitch_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu"

	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// dr is a one-hop directed-route request to the switch next to the CA.
func dr(method wire.Method, attr wire.AttrID, mod uint32, data []byte) smpReq {
	return smpReq{method: method, attr: attr, mod: mod, data: data, directed: true, path: []uint8{1}}
}

func TestSwitchInfoGetSet(t *testing.T) {
	tf, s, cas := star(t, 2, "InfiniScale-III")
	a := cas[0]
	r := tf.smp(a, dr(wire.MethodGet, wire.AttrSwitchInfo, 0, nil))
	if r.Status() != 0 {
		t.Fatalf("status %v", r.Status())
	}
	si := wire.SwitchInfo(r.Data()).Fields()
	p := s.Profile()
	if si.LinearFDBCap != 49152 || si.RandomFDBCap != 0 || si.MulticastFDBCap != p.MulticastFDBCap ||
		si.PartitionEnforcementCap != p.PartitionEnforcementCap || si.LifeTimeValue != 18 ||
		!si.InboundEnforcementCap || !si.OutboundEnforcementCap || !si.FilterRawInboundCap || !si.FilterRawOutboundCap ||
		si.EnhancedPort0 || si.DefaultPort != 0xFF || si.DefaultMulticastPrimaryPort != 0xFF {
		t.Errorf("SwitchInfo %+v", si)
	}
	if !si.PortStateChange {
		t.Error("PortStateChange clear although links came up")
	}
	if si.LinearFDBTop != 2 {
		t.Errorf("LinearFDBTop %d, want 2 (SetRoute raised it)", si.LinearFDBTop)
	}

	// Set: top, lifetime, clear PortStateChange; capabilities ignored.
	si.LinearFDBTop, si.LifeTimeValue, si.PortStateChange = 1000, 10, true
	si.LinearFDBCap, si.PartitionEnforcementCap = 5, 5
	buf := make([]byte, wire.SMPDataSize)
	wire.SwitchInfo(buf).Encode(&si)
	r = tf.smp(a, dr(wire.MethodSet, wire.AttrSwitchInfo, 0, buf))
	got := wire.SwitchInfo(r.Data()).Fields()
	if r.Status() != 0 || got.LinearFDBTop != 1000 || got.LifeTimeValue != 10 || got.PortStateChange ||
		got.LinearFDBCap != 49152 || got.PartitionEnforcementCap != p.PartitionEnforcementCap {
		t.Errorf("after Set: status %v %+v", r.Status(), got)
	}
	// Writing 0 to PortStateChange leaves it; after a link change it is set.
	tf.do(func() { tf.f.Links()[1].SetCut(true) })
	si = got
	si.PortStateChange = false
	wire.SwitchInfo(buf).Encode(&si)
	r = tf.smp(a, dr(wire.MethodSet, wire.AttrSwitchInfo, 0, buf))
	if !wire.SwitchInfo(r.Data()).PortStateChange() {
		t.Error("PortStateChange not set by a link going down, or cleared by writing 0")
	}

	// Invalid values fail the whole Set with 0x001C and change nothing.
	for _, bad := range []func(*wire.SwitchInfoFields){
		func(f *wire.SwitchInfoFields) { f.LinearFDBTop = 49152 },
		func(f *wire.SwitchInfoFields) { f.DefaultPort = 9 },
		func(f *wire.SwitchInfoFields) { f.DefaultMulticastPrimaryPort = 200 },
	} {
		f := si
		f.LifeTimeValue = 3
		bad(&f)
		wire.SwitchInfo(buf).Encode(&f)
		r = tf.smp(a, dr(wire.MethodSet, wire.AttrSwitchInfo, 0, buf))
		if r.Status() != wire.MADStatusInvalidField {
			t.Errorf("bad SwitchInfo Set: status %v", r.Status())
		}
		if s.SwitchInfo().LifeTimeValue != 10 {
			t.Error("a refused Set changed LifeTimeValue")
		}
	}
}

func TestLFTGetSetByBlock(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	a := cas[0]
	blk := make([]byte, 64)
	for i := range blk {
		blk[i] = 0xFF
	}
	blk[5] = 3 // LID 64*2+5 = 133 -> port 3
	blk[6] = 0 // LID 134 -> port 0
	r := tf.smp(a, dr(wire.MethodSet, wire.AttrLinearForwardingTable, 2, blk))
	if r.Status() != 0 {
		t.Fatalf("LFT Set status %v", r.Status())
	}
	r = tf.smp(a, dr(wire.MethodGet, wire.AttrLinearForwardingTable, 2, nil))
	lft := wire.LinearForwardingTable(r.Data())
	if lft.Port(5) != 3 || lft.Port(6) != 0 || lft.Port(7) != 0xFF {
		t.Errorf("LFT block 2 read back %v", r.Data()[:8])
	}
	r = tf.smp(a, dr(wire.MethodGet, wire.AttrLinearForwardingTable, 0, nil))
	if l := wire.LinearForwardingTable(r.Data()); l.Port(1) != 1 || l.Port(2) != 2 || l.Port(3) != 3 || l.Port(0) != 0xFF {
		t.Errorf("LFT block 0 %v", r.Data()[:4])
	}
	// A block written beyond LinearFDBTop is kept, and used once the top
	// covers it.
	tf.do(func() { a.port().Send(dataFrame(t, 1, 133, 0, 0xFFFF, 1, 32)) })
	tf.settle()
	wantCounter(t, s.Node().Port(1), "RcvSwitchRelayErrors", 1)
	tf.do(func() { must(t, s.SetLinearFDBTop(200)) })
	tf.do(func() { a.port().Send(dataFrame(t, 1, 133, 0, 0xFFFF, 2, 32)) })
	tf.settle()
	if got := tf.take(cas[2]); len(got) != 1 || frameSeq(t, got[0]) != 2 {
		t.Errorf("C received %d frames for LID 133", len(got))
	}
	// The last block (767 for 49152 entries) exists, 768 does not.
	if r := tf.smp(a, dr(wire.MethodGet, wire.AttrLinearForwardingTable, 767, nil)); r.Status() != 0 {
		t.Errorf("block 767: %v", r.Status())
	}
	for _, mod := range []uint32{768, 0xFFFF, 1 << 31} {
		if r := tf.smp(a, dr(wire.MethodSet, wire.AttrLinearForwardingTable, mod, blk)); r.Status() != wire.MADStatusInvalidField {
			t.Errorf("block %d: status %v, want 0x001C", mod, r.Status())
		}
	}
}

func TestMFTGetSetByPositionAndBlock(t *testing.T) {
	tf, s, cas := star(t, 2, "IS4") // 4 ports: one 16-bit position
	a := cas[0]
	data := make([]byte, 64)
	wire.MulticastForwardingTable(data).SetPortMask(3, 0xFFFF) // MLID 0xC000+32+3
	wire.MulticastForwardingTable(data).SetPortMask(4, 0x0006) // ports 1, 2
	r := tf.smp(a, dr(wire.MethodSet, wire.AttrMulticastForwardingTable, wire.MFTAttrMod(0, 1), data))
	if r.Status() != 0 {
		t.Fatalf("MFT Set: %v", r.Status())
	}
	mft := wire.MulticastForwardingTable(r.Data())
	if mft.PortMask(3) != 0x001F || mft.PortMask(4) != 0x0006 || mft.PortMask(0) != 0 {
		t.Errorf("MFT reply masks %04x %04x: bits of absent ports must read 0", mft.PortMask(3), mft.PortMask(4))
	}
	if ports := s.MulticastPorts(0xC000 + 32 + 4); len(ports) != 2 || ports[0] != 1 || ports[1] != 2 {
		t.Errorf("mask of MLID 0xC024 = %v", ports)
	}
	tf.do(func() { a.port().Send(dataFrame(t, 1, 0xC024, 0, 0xFFFF, 9, 32)) })
	tf.settle()
	if got := tf.take(cas[1]); len(got) != 1 {
		t.Errorf("B got %d copies", len(got))
	}
	// Position 1 would be ports 16-31: this switch has none. IS4's
	// MulticastFDBCap 4096 is blocks 0-127.
	for _, mod := range []uint32{wire.MFTAttrMod(1, 0), wire.MFTAttrMod(0, 128), wire.MFTAttrMod(15, 511)} {
		if r := tf.smp(a, dr(wire.MethodGet, wire.AttrMulticastForwardingTable, mod, nil)); r.Status() != wire.MADStatusInvalidField {
			t.Errorf("MFT mod %08x: %v, want 0x001C", mod, r.Status())
		}
	}
	if r := tf.smp(a, dr(wire.MethodGet, wire.AttrMulticastForwardingTable, wire.MFTAttrMod(0, 127), nil)); r.Status() != 0 {
		t.Errorf("last MFT block: %v", r.Status())
	}
}

func TestMFTPositionsOnWideSwitch(t *testing.T) {
	tf := newTestFabric(t)
	s := tf.addSwitch(36, "IS4")
	a := tf.addCA("A", 1)
	tf.connect(a.port(), s.Node().Port(1))
	tf.start()
	data := make([]byte, 64)
	wire.MulticastForwardingTable(data).SetPortMask(0, 0xFFFF)
	r := tf.smp(a, dr(wire.MethodSet, wire.AttrMulticastForwardingTable, wire.MFTAttrMod(2, 0), data))
	if r.Status() != 0 || wire.MulticastForwardingTable(r.Data()).PortMask(0) != 0x001F {
		t.Fatalf("position 2 (ports 32-36): status %v mask %04x", r.Status(), wire.MulticastForwardingTable(r.Data()).PortMask(0))
	}
	if ports := s.MulticastPorts(0xC000); len(ports) != 5 || ports[0] != 32 || ports[4] != 36 {
		t.Errorf("ports %v", ports)
	}
	if r := tf.smp(a, dr(wire.MethodGet, wire.AttrMulticastForwardingTable, wire.MFTAttrMod(3, 0), nil)); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("position 3 on a 36-port switch: %v", r.Status())
	}
}

func TestUnsupportedAttributes(t *testing.T) {
	tf, _, cas := star(t, 2, "IS3")
	for _, attr := range []wire.AttrID{wire.AttrRandomForwardingTable, wire.AttrSMInfo, wire.AttrLedInfo, 0x7777} {
		r := tf.smp(cas[0], dr(wire.MethodGet, attr, 0, nil))
		if r.Status() != wire.MADStatusUnsupportedMethodAttr {
			t.Errorf("%v: status %v, want 0x000C", attr, r.Status())
		}
	}
	// NodeInfo is Get-only.
	if r := tf.smp(cas[0], dr(wire.MethodSet, wire.AttrNodeInfo, 0, nil)); r.Status() != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("NodeInfo Set: %v", r.Status())
	}
}

func TestSharedAttributesWithSwitchModifiers(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	a := cas[0]
	// NodeInfo and NodeDescription.
	r := tf.smp(a, dr(wire.MethodGet, wire.AttrNodeInfo, 0, nil))
	ni := wire.NodeInfo(r.Data()).Fields()
	if ni.NodeType != wire.NodeTypeSwitch || ni.NumPorts != 4 || ni.DeviceID != 0xB924 || ni.LocalPortNum != 1 ||
		ni.PartitionCap != 8 || ni.SystemImageGUID != s.GUID() {
		t.Errorf("NodeInfo %+v", ni)
	}
	r = tf.smp(a, dr(wire.MethodGet, wire.AttrNodeDescription, 0, nil))
	if d := wire.NodeDescription(r.Data()).String(); d != "MT47396 Infiniscale-III Mellanox Technologies" {
		t.Errorf("NodeDescription %q", d)
	}
	// PortInfo of port 0 carries the LID; an external port's does not.
	r = tf.smp(a, dr(wire.MethodGet, wire.AttrPortInfo, 0, nil))
	if pi := wire.PortInfo(r.Data()); pi.LID() != 100 || pi.LocalPortNum() != 1 || pi.CapabilityMask()&0x00100000 == 0 {
		t.Errorf("PortInfo 0: lid %d local %d cap %08x", pi.LID(), pi.LocalPortNum(), pi.CapabilityMask())
	}
	r = tf.smp(a, dr(wire.MethodGet, wire.AttrPortInfo, 2, nil))
	if pi := wire.PortInfo(r.Data()); r.Status() != 0 || pi.LID() != 0 || pi.PortState() != wire.PortStateActive ||
		pi.LinkWidthActive() != wire.Width4X {
		t.Errorf("PortInfo 2: status %v lid %d state %v width %v", r.Status(), pi.LID(), pi.PortState(), pi.LinkWidthActive())
	}
	if r = tf.smp(a, dr(wire.MethodGet, wire.AttrPortInfo, 5, nil)); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("PortInfo of port 5 on a 4-port switch: %v", r.Status())
	}
	// P_KeyTable: port in bits 31-16. Port 3 (external, 32 entries).
	keys := make([]byte, 64)
	wire.PKeyTable(keys).SetPKey(0, 0xFFFF)
	wire.PKeyTable(keys).SetPKey(1, 0x8123)
	r = tf.smp(a, dr(wire.MethodSet, wire.AttrPKeyTable, 3<<16, keys))
	if r.Status() != 0 || wire.PKeyTable(r.Data()).PKey(1) != 0x8123 {
		t.Errorf("P_KeyTable Set port 3: %v", r.Status())
	}
	var k wire.PKey
	tf.do(func() { k = s.SMA().Port(3).PKey(1) })
	if k != 0x8123 {
		t.Errorf("port 3 P_Key[1] = %v", k)
	}
	if r = tf.smp(a, dr(wire.MethodGet, wire.AttrPKeyTable, 3<<16|1, nil)); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("P_KeyTable block 1 of a 32-entry table: %v", r.Status())
	}
	// SLtoVLMappingTable: in port bits 15-8, out port bits 7-0; the
	// forwarding path uses it.
	sl2vl := make([]byte, 8)
	wire.SLtoVLMappingTable(sl2vl).SetVL(0, 5)
	r = tf.smp(a, dr(wire.MethodSet, wire.AttrSLtoVLMappingTable, 1<<8|3, sl2vl))
	if r.Status() != 0 || wire.SLtoVLMappingTable(r.Data()).VL(0) != 5 {
		t.Fatalf("SLtoVL Set: %v", r.Status())
	}
	tf.do(func() { a.port().Send(dataFrame(t, 1, 3, 0, 0xFFFF, 1, 32)) })
	tf.settle()
	if got := tf.take(cas[2]); len(got) != 1 || wire.LRH(got[0]).VL() != 5 {
		t.Errorf("SLtoVL from SMA not applied (%d frames)", len(got))
	}
	if r = tf.smp(a, dr(wire.MethodGet, wire.AttrSLtoVLMappingTable, 9<<8|3, nil)); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("SLtoVL in-port 9: %v", r.Status())
	}
	// VLArbitrationTable: block in bits 31-16, port in bits 15-0.
	if r = tf.smp(a, dr(wire.MethodGet, wire.AttrVLArbitrationTable, 1<<16|2, nil)); r.Status() != 0 {
		t.Errorf("VLArb port 2 block 1: %v", r.Status())
	}
	if r = tf.smp(a, dr(wire.MethodGet, wire.AttrVLArbitrationTable, 5<<16|2, nil)); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("VLArb block 5: %v", r.Status())
	}
	// LID-routed SMPs reach the SMA at port 0's LID.
	lr := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, dlid: 100, slid: 1})
	if lr.Status() != 0 || wire.NodeInfo(lr.Data()).NodeGUID() != s.GUID() {
		t.Errorf("LID-routed NodeInfo: %v", lr.Status())
	}
}

func TestPortInfoSetDrivesPortState(t *testing.T) {
	tf := newTestFabric(t)
	s := tf.addSwitch(4, "IS3")
	a := tf.addCA("A", 1)
	b := tf.addCA("B", 2)
	tf.connect(a.port(), s.Node().Port(1))
	tf.connect(b.port(), s.Node().Port(2))
	tf.start()
	pi := make([]byte, 64)
	wire.PortInfo(pi).SetPortState(wire.PortStateArmed)
	r := tf.smp(a, dr(wire.MethodSet, wire.AttrPortInfo, 2, pi))
	if r.Status() != 0 || wire.PortInfo(r.Data()).PortState() != wire.PortStateArmed {
		t.Fatalf("PortInfo Set Armed: %v state %v", r.Status(), wire.PortInfo(r.Data()).PortState())
	}
	wire.PortInfo(pi).SetPortState(wire.PortStateActive)
	if r = tf.smp(a, dr(wire.MethodSet, wire.AttrPortInfo, 2, pi)); wire.PortInfo(r.Data()).PortState() != wire.PortStateActive {
		t.Fatalf("PortInfo Set Active: %v", r.Status())
	}
	var st wire.PortState
	tf.do(func() { st = s.Node().Port(2).State() })
	if st != wire.PortStateActive {
		t.Errorf("emu port state %v", st)
	}
	// LID and LMC go to port 0 only.
	pi0 := make([]byte, 64)
	wire.PortInfo(pi0).SetLID(77)
	wire.PortInfo(pi0).SetMasterSMLID(1)
	if r = tf.smp(a, dr(wire.MethodSet, wire.AttrPortInfo, 0, pi0)); r.Status() != 0 || s.LID() != 77 {
		t.Errorf("port 0 LID Set: %v lid %d", r.Status(), s.LID())
	}
}

func TestProfiles(t *testing.T) {
	for _, name := range []string{"InfiniScale-III", "infiniscale iii", "MT47396", "IS3"} {
		p, ok := ibswitch.LookupProfile(name)
		if !ok || p.DeviceID != 0xB924 || p.NumPorts != 24 {
			t.Errorf("%q: %v %+v", name, ok, p)
		}
	}
	p, ok := ibswitch.ProfileByDeviceID(0xBD36)
	if !ok || p.NumPorts != 36 || p.SpeedSupported&wire.SpeedQDR == 0 || p.Firmware.HWDeviceID != 0x01B3 {
		t.Errorf("IS4 by device id: %v %+v", ok, p)
	}
	if _, ok := ibswitch.LookupProfile("ConnectX"); ok {
		t.Error("unknown profile found")
	}
	if d := ibswitch.DefaultProfile(); d.Name != "InfiniScale-III" {
		t.Errorf("default profile %q", d.Name)
	}
	for _, p := range ibswitch.Profiles() {
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
		if p.VendorID != ibswitch.VendorMellanox {
			t.Errorf("%s vendor %x", p.Name, p.VendorID)
		}
	}
	// Profiles returns copies: changing one changes nothing.
	ps := ibswitch.Profiles()
	ps[0].NumPorts = 3
	if ibswitch.DefaultProfile().NumPorts != 24 {
		t.Error("registry changed through a copy")
	}
	if _, err := ibswitch.New(ibswitch.Config{}); err == nil {
		t.Error("switch without a GUID accepted")
	}
	if _, err := ibswitch.New(ibswitch.Config{NodeGUID: 1, NumPorts: 255}); err == nil {
		t.Error("255-port switch accepted")
	}
}

func TestNewThenAddNodeBindsOnStart(t *testing.T) {
	tf := newTestFabric(t)
	s, err := ibswitch.New(ibswitch.Config{Profile: mustProfile(t, "IS4"), NumPorts: 6, NodeGUID: 0x55,
		Description: "leaf-1", Ports: []emu.PortConfig{{SpeedSupported: wire.SpeedSDR}}})
	must(t, err)
	if s.Node() != nil {
		t.Fatal("bound before AddNode")
	}
	must(t, s.SetLID(9, 0))
	n, err := tf.f.AddNode("leaf-1", wire.NodeTypeSwitch, s.NumPorts(), s, s.PortConfigs()...)
	must(t, err)
	a := tf.addCA("A", 1)
	tf.connect(a.port(), n.Port(3))
	tf.start()
	if s.Node() != n {
		t.Fatal("not bound after Start")
	}
	r := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrPortInfo, mod: 3, directed: true, path: []uint8{1}})
	pi := wire.PortInfo(r.Data())
	if r.Status() != 0 || pi.LinkSpeedActive() != wire.SpeedSDR || pi.LinkSpeedSupported() != wire.SpeedSDR {
		t.Errorf("port 3: status %v speed %v/%v (Config.Ports not applied)", r.Status(), pi.LinkSpeedActive(), pi.LinkSpeedSupported())
	}
	r = tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeDescription, directed: true, path: []uint8{1}})
	if d := wire.NodeDescription(r.Data()).String(); d != "leaf-1" {
		t.Errorf("description %q", d)
	}
	r = tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrPortInfo, directed: true, path: []uint8{1}})
	if l := wire.PortInfo(r.Data()).LID(); l != 9 {
		t.Errorf("port 0 LID %d", l)
	}
}
