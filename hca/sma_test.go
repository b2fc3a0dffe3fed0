package hca_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

func TestDRGetNodeInfo(t *testing.T) {
	bt := newBench(t)
	r := bt.getDR(t, wire.AttrNodeInfo, 0)
	if st := r.Status(); st != wire.MADStatusOK {
		t.Fatalf("status %s", st)
	}
	if r.Direction() != wire.DRReturning {
		t.Errorf("response direction %s, want returning", r.Direction())
	}
	if r.HopPointer() != 0 {
		t.Errorf("response hop pointer %d at the requester, want 0", r.HopPointer())
	}
	if got := r.ReturnPathAt(1); got != 1 {
		t.Errorf("return path[1] = %d, want 1 (b's arrival port)", got)
	}
	prof := hca.StandardProfiles().Default()
	want := wire.NodeInfoFields{
		BaseVersion: 1, ClassVersion: 1, NodeType: wire.NodeTypeCA, NumPorts: uint8(prof.NumPorts),
		SystemImageGUID: guidB, NodeGUID: guidB, PortGUID: guidB + 1, PartitionCap: prof.PartitionCap,
		DeviceID: prof.DeviceID, Revision: prof.Revision, LocalPortNum: 1, VendorID: hca.MellanoxVendorID,
	}
	if diff := cmp.Diff(want, wire.NodeInfo(r.Data()).Fields()); diff != "" {
		t.Errorf("NodeInfo (-want +got):\n%s", diff)
	}
}

func TestDRGetNodeDescriptionGUIDInfoPKeyTable(t *testing.T) {
	bt := newBench(t)
	if got := wire.NodeDescription(bt.getDR(t, wire.AttrNodeDescription, 0).Data()).String(); got != "host-b HCA-1" {
		t.Errorf("NodeDescription %q, want %q", got, "host-b HCA-1")
	}

	g := wire.GUIDInfo(bt.getDR(t, wire.AttrGUIDInfo, 0).Data())
	if g.GUID(0) != guidB+1 || g.GUID(1) != 0 {
		t.Errorf("GUIDInfo block 0 = %v, %v..., want port guid %v then 0", g.GUID(0), g.GUID(1), guidB+1)
	}
	// 128 GIDs on ConnectX-2: block 15 is the last, block 16 is invalid.
	if st := bt.getDR(t, wire.AttrGUIDInfo, 15).Status(); st != wire.MADStatusOK {
		t.Errorf("GUIDInfo block 15: %s", st)
	}
	if st := bt.getDR(t, wire.AttrGUIDInfo, 16).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("GUIDInfo block 16: %s, want invalid field", st)
	}

	pk := wire.PKeyTable(bt.getDR(t, wire.AttrPKeyTable, 0).Data())
	if pk.PKey(0) != wire.PKeyDefault || pk.PKey(1) != 0 {
		t.Errorf("P_KeyTable = %v %v..., want 0xffff then 0", pk.PKey(0), pk.PKey(1))
	}
	// Set entries 1 and 31 of block 3 (entries 97 and 127) and read back.
	data := make([]byte, wire.PKeyTableSize)
	wire.PKeyTable(data).SetPKey(1, 0x8001)
	wire.PKeyTable(data).SetPKey(31, 0x7fff)
	if r := bt.setDR(t, wire.AttrPKeyTable, 3, 0, data); r.Status() != wire.MADStatusOK {
		t.Fatalf("set P_KeyTable: %s", r.Status())
	}
	pk = wire.PKeyTable(bt.getDR(t, wire.AttrPKeyTable, 3).Data())
	if pk.PKey(1) != 0x8001 || pk.PKey(31) != 0x7fff {
		t.Errorf("P_KeyTable block 3 after set: %v %v", pk.PKey(1), pk.PKey(31))
	}
	if st := bt.getDR(t, wire.AttrPKeyTable, 4).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("P_KeyTable block 4 of 128 entries: %s, want invalid field", st)
	}
}

func TestDRGetPortInfo(t *testing.T) {
	bt := newBench(t)
	pi := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data())
	prof := hca.StandardProfiles().Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"LocalPortNum", pi.LocalPortNum(), uint8(1)},
		{"PortState", pi.PortState(), wire.PortStateInit},
		{"PortPhysicalState", pi.PortPhysicalState(), wire.PhysStateLinkUp},
		{"LinkWidthSupported", pi.LinkWidthSupported(), prof.Widths},
		{"LinkWidthEnabled", pi.LinkWidthEnabled(), prof.Widths},
		{"LinkWidthActive", pi.LinkWidthActive(), wire.Width4X},
		{"LinkSpeedSupported", pi.LinkSpeedSupported(), prof.Speeds},
		{"LinkSpeedActive", pi.LinkSpeedActive(), wire.SpeedQDR},
		{"MTUCap", pi.MTUCap(), wire.MTU4096},
		{"VLCap", pi.VLCap(), uint8(wire.VLCapVL0to7)},
		{"CapabilityMask", pi.CapabilityMask(), prof.CapabilityMask},
		{"GUIDCap", pi.GUIDCap(), prof.GIDTableLen},
		{"LID", pi.LID(), wire.LID(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Port 2 of b is not connected: Down/Polling, and Get names it directly.
	pi2 := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 2).Data())
	if pi2.PortState() != wire.PortStateDown || pi2.PortPhysicalState() != wire.PhysStatePolling || pi2.LocalPortNum() != 1 {
		t.Errorf("port 2: %s/%s local %d, want Down/Polling local 1", pi2.PortState(), pi2.PortPhysicalState(), pi2.LocalPortNum())
	}
	if st := bt.getDR(t, wire.AttrPortInfo, 3).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("PortInfo of port 3: %s, want invalid field", st)
	}
}

// portInfoSet returns PortInfo Set data with the given state and LIDs and
// the default GID prefix, as OpenSM writes it.
func portInfoSet(lid, smLID wire.LID, st wire.PortState) []byte {
	pi := make([]byte, wire.PortInfoSize)
	wire.PortInfo(pi).SetGIDPrefix(agent.DefaultGIDPrefix)
	wire.PortInfo(pi).SetLID(lid)
	wire.PortInfo(pi).SetMasterSMLID(smLID)
	wire.PortInfo(pi).SetPortState(st)
	return pi
}

func TestPortInfoSetStateMachine(t *testing.T) {
	bt := newBench(t)
	steps := []struct {
		name   string
		set    wire.PortState
		status wire.MADStatus
		after  wire.PortState
	}{
		{"init to active is two steps", wire.PortStateActive, wire.MADStatusInvalidField, wire.PortStateInit},
		{"init to armed", wire.PortStateArmed, wire.MADStatusOK, wire.PortStateArmed},
		{"armed to init is no transition", wire.PortStateInit, wire.MADStatusInvalidField, wire.PortStateArmed},
		{"armed to armed is no change", wire.PortStateArmed, wire.MADStatusOK, wire.PortStateArmed},
		{"armed to active", wire.PortStateActive, wire.MADStatusOK, wire.PortStateActive},
		{"active to armed is refused", wire.PortStateArmed, wire.MADStatusInvalidField, wire.PortStateActive},
		{"bad state 5", 5, wire.MADStatusInvalidField, wire.PortStateActive},
		{"down retrains to init", wire.PortStateDown, wire.MADStatusOK, wire.PortStateInit},
	}
	for _, s := range steps {
		r := bt.setDR(t, wire.AttrPortInfo, 0, 0, portInfoSet(7, 1, s.set))
		pi := wire.PortInfo(r.Data())
		if r.Status() != s.status || pi.PortState() != s.after {
			t.Errorf("%s: status %s state %s, want %s %s", s.name, r.Status(), pi.PortState(), s.status, s.after)
		}
		var emuState wire.PortState
		bt.do(t, func() { emuState = bt.b.Node().Port(1).State() })
		if emuState != s.after {
			t.Errorf("%s: emu port state %s, want %s", s.name, emuState, s.after)
		}
	}
	// A refused Set changes nothing: LID stays what the accepted Sets left.
	r := bt.setDR(t, wire.AttrPortInfo, 0, 0, portInfoSet(9, 1, wire.PortStateActive))
	if r.Status() != wire.MADStatusInvalidField || wire.PortInfo(r.Data()).LID() != 7 {
		t.Errorf("refused set: status %s lid %d, want invalid field and lid 7", r.Status(), wire.PortInfo(r.Data()).LID())
	}
	// The peer (a) followed the Down: both ends retrained to Init.
	var aState wire.PortState
	bt.do(t, func() { aState = bt.a.Node().Port(1).State() })
	if aState != wire.PortStateInit {
		t.Errorf("peer state after down %s, want Init", aState)
	}
}

func TestPortInfoSetFields(t *testing.T) {
	bt := newBench(t)
	cases := []struct {
		name   string
		mutate func(wire.PortInfo)
		status wire.MADStatus
		check  func(wire.PortInfo) bool
	}{
		{"operational vls above cap", func(p wire.PortInfo) { p.SetOperationalVLs(wire.VLCapVL0to14) }, wire.MADStatusInvalidField, nil},
		{"operational vls 2", func(p wire.PortInfo) { p.SetOperationalVLs(wire.VLCapVL0to1) }, wire.MADStatusOK,
			func(p wire.PortInfo) bool { return p.OperationalVLs() == wire.VLCapVL0to1 }},
		{"neighbor mtu above cap", func(p wire.PortInfo) { p.SetNeighborMTU(6) }, wire.MADStatusInvalidField, nil},
		{"neighbor mtu 2048", func(p wire.PortInfo) { p.SetNeighborMTU(wire.MTU2048) }, wire.MADStatusOK,
			func(p wire.PortInfo) bool { return p.NeighborMTU() == wire.MTU2048 }},
		{"multicast lid", func(p wire.PortInfo) { p.SetLID(0xC001) }, wire.MADStatusInvalidField, nil},
		{"lid lmc gid prefix sm", func(p wire.PortInfo) {
			p.SetLID(0x20)
			p.SetLMC(2)
			p.SetGIDPrefix(0xfe80000000000000)
			p.SetMasterSMSL(3)
			p.SetSubnetTimeOut(18)
			p.SetHOQLife(0x10)
		}, wire.MADStatusOK, func(p wire.PortInfo) bool {
			return p.LID() == 0x20 && p.LMC() == 2 && p.GIDPrefix() == 0xfe80000000000000 &&
				p.MasterSMSL() == 3 && p.SubnetTimeOut() == 18 && p.HOQLife() == 0x10
		}},
		{"phys state sleep", func(p wire.PortInfo) { p.SetPortPhysicalState(wire.PhysStateSleep) }, wire.MADStatusInvalidField, nil},
		{"width enable none supported", func(p wire.PortInfo) { p.SetLinkWidthEnabled(wire.Width12X) }, wire.MADStatusInvalidField, nil},
		{"speed enable sdr only", func(p wire.PortInfo) { p.SetLinkSpeedEnabled(wire.SpeedSDR) }, wire.MADStatusOK,
			func(p wire.PortInfo) bool { return p.LinkSpeedEnabled() == wire.SpeedSDR }},
	}
	for _, c := range cases {
		pi := make([]byte, wire.PortInfoSize)
		wire.PortInfo(pi).SetMasterSMLID(1)
		wire.PortInfo(pi).SetLID(0x20)
		c.mutate(wire.PortInfo(pi))
		r := bt.setDR(t, wire.AttrPortInfo, 0, 0, pi)
		if r.Status() != c.status {
			t.Errorf("%s: status %s, want %s", c.name, r.Status(), c.status)
			continue
		}
		if c.check != nil && !c.check(wire.PortInfo(r.Data())) {
			t.Errorf("%s: reply does not show the set: %+v", c.name, wire.PortInfo(r.Data()).Fields())
		}
	}
	// A new speed enable takes effect at the next link training: the
	// link stays at QDR until a reset (PortPhysicalState Polling)
	// retrains it, then runs at SDR.
	pi := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data())
	if pi.LinkSpeedActive() != wire.SpeedQDR || pi.LinkSpeedEnabled() != wire.SpeedSDR {
		t.Errorf("after speed enable: active %s enabled %s, want QDR and SDR", pi.LinkSpeedActive(), pi.LinkSpeedEnabled())
	}
	reset := func(speed wire.LinkSpeed) {
		t.Helper()
		data := make([]byte, wire.PortInfoSize)
		wire.PortInfo(data).SetLID(0x20)
		wire.PortInfo(data).SetLinkSpeedEnabled(speed)
		wire.PortInfo(data).SetPortPhysicalState(wire.PhysStatePolling)
		if r := bt.setDR(t, wire.AttrPortInfo, 0, 0, data); r.Status() != wire.MADStatusOK {
			t.Fatalf("reset: %s", r.Status())
		}
	}
	waitSpeed := func(want wire.LinkSpeed) {
		t.Helper()
		// Virtual time moves on (to the retrain) once the reply is
		// taken in.
		bt.releaseAll(nil)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var got wire.LinkSpeed
			bt.do(t, func() {
				if p := bt.a.Node().Port(1); p.IsUp() {
					got = p.Speed()
				}
			})
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("link speed %s after the reset, want %s", got, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	reset(0)
	waitSpeed(wire.SpeedSDR)
	// 0xF sets the speeds back to supported, again from the next
	// training on.
	data := make([]byte, wire.PortInfoSize)
	wire.PortInfo(data).SetLID(0x20)
	wire.PortInfo(data).SetLinkSpeedEnabled(0xF)
	if r := bt.setDR(t, wire.AttrPortInfo, 0, 0, data); r.Status() != wire.MADStatusOK {
		t.Fatalf("speed enable 0xF: %s", r.Status())
	}
	pi = wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data())
	if pi.LinkSpeedActive() != wire.SpeedSDR || pi.LinkSpeedEnabled() != wire.SpeedSDR|wire.SpeedDDR|wire.SpeedQDR {
		t.Errorf("after speed enable 0xF: active %s enabled %s, want SDR and all", pi.LinkSpeedActive(), pi.LinkSpeedEnabled())
	}
	reset(0)
	waitSpeed(wire.SpeedQDR)
}

func TestPortInfoSetOtherPortRefused(t *testing.T) {
	bt := newBench(t)
	r := bt.setDR(t, wire.AttrPortInfo, 2, 0, portInfoSet(5, 1, wire.PortStateNoChange))
	if r.Status() != wire.MADStatusInvalidField {
		t.Errorf("set of port 2 through port 1: %s, want invalid field", r.Status())
	}
}

func TestLocalDRSMPHopCountZero(t *testing.T) {
	bt := newBench(t)
	tid := bt.nextTID()
	smp := drSMP(wire.MethodGet, wire.AttrNodeInfo, 0, tid, 0, nil)
	wire.SMP(smp).SetHopCount(0)
	var sentBefore uint64
	bt.do(t, func() { sentBefore = bt.a.Node().Port(1).Counters.XmitPkts.Load() })
	bt.send(t, bt.sm, drAddr, smp)
	r := bt.expectResp(t, tid)
	if g := wire.NodeInfo(r.Data()).NodeGUID(); g != guidA {
		t.Errorf("local NodeInfo guid %v, want a's %v", g, guidA)
	}
	var sentAfter uint64
	bt.do(t, func() { sentAfter = bt.a.Node().Port(1).Counters.XmitPkts.Load() })
	if sentAfter != sentBefore {
		t.Errorf("a local SMP went on the wire (%d frames)", sentAfter-sentBefore)
	}
}

func TestLIDRoutedSMPAfterBringUp(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	tid := bt.nextTID()
	bt.send(t, bt.smLID, hca.MADAddr{LID: 2}, lidSMP(wire.MethodGet, wire.AttrPortInfo, 0, tid, 0, nil))
	pi := wire.PortInfo(bt.expectResp(t, tid).Data())
	if pi.LID() != 2 || pi.PortState() != wire.PortStateActive || pi.MasterSMLID() != 1 {
		t.Errorf("b PortInfo lid %d state %s sm %d, want 2 Active 1", pi.LID(), pi.PortState(), pi.MasterSMLID())
	}
	// A LID-routed SMP to a LID nobody owns is dropped by b; the next one
	// is answered first.
	bt.send(t, bt.smLID, hca.MADAddr{LID: 3}, lidSMP(wire.MethodGet, wire.AttrPortInfo, 0, bt.nextTID(), 0, nil))
	tid = bt.nextTID()
	bt.send(t, bt.smLID, hca.MADAddr{LID: 2}, lidSMP(wire.MethodGet, wire.AttrNodeInfo, 0, tid, 0, nil))
	bt.expectResp(t, tid)
	if n := bt.b.Stats().BadDLID.Load(); n != 1 {
		t.Errorf("b BadDLID = %d, want 1", n)
	}
}

func TestUnsupportedStatuses(t *testing.T) {
	bt := newBench(t)
	cases := []struct {
		name  string
		build func(tid uint64) []byte
		want  wire.MADStatus
	}{
		{"unsupported attribute", func(tid uint64) []byte { return drSMP(wire.MethodGet, wire.AttrLedInfo, 0, tid, 0, nil) }, wire.MADStatusUnsupportedMethodAttr},
		{"switch attribute on a CA", func(tid uint64) []byte {
			return drSMP(wire.MethodGet, wire.AttrLinearForwardingTable, 0, tid, 0, nil)
		}, wire.MADStatusUnsupportedMethodAttr},
		{"set of read-only NodeInfo", func(tid uint64) []byte { return drSMP(wire.MethodSet, wire.AttrNodeInfo, 0, tid, 0, nil) }, wire.MADStatusUnsupportedMethodAttr},
		{"unsupported method", func(tid uint64) []byte { return drSMP(wire.MethodGetTable, wire.AttrNodeInfo, 0, tid, 0, nil) }, wire.MADStatusUnsupportedMethod},
		{"bad class version", func(tid uint64) []byte {
			b := drSMP(wire.MethodGet, wire.AttrNodeInfo, 0, tid, 0, nil)
			wire.MAD(b).SetClassVersion(2)
			return b
		}, wire.MADStatusBadVersion},
		{"bad base version", func(tid uint64) []byte {
			b := drSMP(wire.MethodGet, wire.AttrNodeInfo, 0, tid, 0, nil)
			wire.MAD(b).SetBaseVersion(2)
			return b
		}, wire.MADStatusBadVersion},
		{"SMInfo with no SM agent", func(tid uint64) []byte { return drSMP(wire.MethodGet, wire.AttrSMInfo, 0, tid, 0, nil) }, wire.MADStatusUnsupportedMethodAttr},
	}
	for _, c := range cases {
		tid := bt.nextTID()
		bt.send(t, bt.sm, drAddr, c.build(tid))
		r := bt.expectResp(t, tid)
		if r.Status() != c.want {
			t.Errorf("%s: status %s, want %s", c.name, r.Status(), c.want)
		}
		if r.Direction() != wire.DRReturning {
			t.Errorf("%s: D bit not set", c.name)
		}
	}
}

func TestCATablesAndGID(t *testing.T) {
	bt := newBench(t)
	// GUIDInfo Set: entry 0 (the port GUID) cannot change, the others can.
	g := make([]byte, wire.GUIDInfoSize)
	wire.GUIDInfo(g).SetGUID(0, 0x1111)
	wire.GUIDInfo(g).SetGUID(1, 0x2222)
	r := wire.GUIDInfo(bt.setDR(t, wire.AttrGUIDInfo, 0, 0, g).Data())
	if r.GUID(0) != guidB+1 || r.GUID(1) != 0x2222 {
		t.Errorf("GUIDInfo after set: %v %v", r.GUID(0), r.GUID(1))
	}
	var gid wire.GID
	var err error
	bt.do(t, func() { gid, err = bt.b.GID(1, 1) })
	if err != nil || gid != (wire.GID{0xfe, 0x80, 14: 0x22, 15: 0x22}) {
		t.Errorf("GID[1] = %v, %v", gid, err)
	}
	// SLtoVL of a CA: the modifier is reserved; the table maps SL to VL.
	sl := make([]byte, wire.SLtoVLMappingTableSize)
	wire.SLtoVLMappingTable(sl).SetVL(5, 2)
	if got := wire.SLtoVLMappingTable(bt.setDR(t, wire.AttrSLtoVLMappingTable, 0, 0, sl).Data()); got.VL(5) != 2 || got.VL(0) != 0 {
		t.Errorf("SLtoVL after set: SL5->%d SL0->%d", got.VL(5), got.VL(0))
	}
	// VLArbitration: low-priority block 1 (entries 0-31); block 4 needs
	// more than 32 high-priority entries.
	va := make([]byte, wire.VLArbitrationTableSize)
	wire.VLArbitrationTable(va).SetEntry(7, wire.VLArbEntry{VL: 1, Weight: 64})
	if e := wire.VLArbitrationTable(bt.setDR(t, wire.AttrVLArbitrationTable, 1<<16, 0, va).Data()).Entry(7); e != (wire.VLArbEntry{VL: 1, Weight: 64}) {
		t.Errorf("VLArb entry 7 %+v", e)
	}
	if st := bt.getDR(t, wire.AttrVLArbitrationTable, 4<<16).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("VLArb block 4: %s", st)
	}
}

func TestPortEventsReachTheHost(t *testing.T) {
	var events []agent.PortEvent
	bt := newBench(t, func(_, b *hca.Config) {
		b.OnEvent = func(port int, ev agent.PortEvent) {
			if port == 1 {
				events = append(events, ev)
			}
		}
	})
	bt.bringUp(t)
	data := make([]byte, wire.PKeyTableSize)
	wire.PKeyTable(data).SetPKey(0, wire.PKeyDefault)
	wire.PKeyTable(data).SetPKey(1, 0x8001)
	bt.setDR(t, wire.AttrPKeyTable, 0, 0, data)
	pi := portInfoSet(2, 1, wire.PortStateNoChange)
	wire.PortInfo(pi).SetClientReregister(true)
	bt.setDR(t, wire.AttrPortInfo, 0, 0, pi)
	var got []agent.PortEvent
	bt.do(t, func() { got = append(got, events...) })
	want := []agent.PortEvent{agent.EventLIDChange, agent.EventSMChange, agent.EventPKeyChange, agent.EventClientReregister}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
