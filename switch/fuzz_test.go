package ibswitch_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// fuzzSeeds are well-formed frames of every kind the switch handles.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	seeds = append(seeds, dataFrame(t, 1, 2, 0, 0xFFFF, 1, 64))      // unicast data
	seeds = append(seeds, dataFrame(t, 1, 0xC001, 0, 0xFFFF, 2, 64)) // multicast
	seeds = append(seeds, dataFrame(t, 1, 100, 0, 0xFFFF, 3, 64))    // to port 0, not a MAD
	smp := wire.SMP(make([]byte, wire.MADSize))
	f := wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo, HopCount: 2,
		HopPointer: 1, DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	f.InitialPath[1], f.InitialPath[2] = 1, 2
	smp.Encode(&f)
	ad := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
	fr, err := agent.AppendFrame(nil, &ad, smp)
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, fr)
	f.HopPointer, f.HopCount = 1, 1
	for _, attr := range []wire.AttrID{wire.AttrSwitchInfo, wire.AttrLinearForwardingTable, wire.AttrMulticastForwardingTable, wire.AttrPortInfo} {
		for _, m := range []wire.Method{wire.MethodGet, wire.MethodSet} {
			f.AttrID, f.Method = attr, m
			smp.Encode(&f)
			fr, _ := agent.AppendFrame(nil, &ad, smp)
			seeds = append(seeds, fr)
		}
	}
	lr := agent.Addr{DLID: 100, SLID: 1, PKey: 0xFFFF}
	f = wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrNodeInfo}
	smp.Encode(&f)
	fr, _ = agent.AppendFrame(nil, &lr, smp)
	seeds = append(seeds, fr)
	pm := wire.MAD(make([]byte, wire.MADSize))
	pm.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGet, AttrID: wire.AttrPortCounters})
	wire.PortCounters(pm[wire.PMADataOffset:]).SetPortSelect(0xFF)
	gsi := agent.Addr{DLID: 100, SLID: 1, DestQP: agent.QP1, SrcQP: agent.QP1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	fr, _ = agent.AppendFrame(nil, &gsi, pm)
	seeds = append(seeds, fr)
	raw, _ := wire.EncodePacket(&wire.PacketFields{Raw: true, LRH: wire.LRHFields{LNH: wire.LNHRaw, DLID: 2, SLID: 1}, Payload: make([]byte, 8)})
	seeds = append(seeds, raw)
	return seeds
}

// fuzzFabric is A - S1 - S2 - B with C on S1, LIDs, routes, a multicast
// group and partition enforcement on S1 port 3.
func fuzzFabric(t testing.TB) (*emu.Fabric, *ibswitch.Switch, *testCA) {
	f := emu.New()
	s1, err := ibswitch.Add(f, "S1", ibswitch.Config{NumPorts: 4, NodeGUID: 0x100})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ibswitch.Add(f, "S2", ibswitch.Config{NumPorts: 4, NodeGUID: 0x200, Profile: mustProfile(t, "IS4")})
	if err != nil {
		t.Fatal(err)
	}
	var cas []*testCA
	for _, n := range []string{"A", "B", "C"} {
		c := &testCA{name: n}
		c.node, err = f.AddNode(n, wire.NodeTypeCA, 1, c)
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, c)
	}
	for _, l := range [][2]*emu.Port{{cas[0].port(), s1.Node().Port(1)}, {s1.Node().Port(2), s2.Node().Port(1)},
		{s2.Node().Port(2), cas[1].port()}, {cas[2].port(), s1.Node().Port(3)}} {
		if _, err := f.Connect(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []*ibswitch.Switch{s1, s2} {
		_ = s.SetLID(wire.LID(100+i), 0)
		_ = s.SetRoute(1, 1)
		_ = s.SetRoute(2, 2)
		_ = s.SetRoute(3, uint8(3-i))
		_ = s.SetRoute(wire.LID(101-i), uint8(2-i))
		_ = s.SetMulticastPort(0xC001, 1, true)
		_ = s.SetMulticastPort(0xC001, 2, true)
		_ = s.SetMulticastPort(0xC001, 3, true)
	}
	s1.SMA().Port(0).MasterSMLID = 1
	s1.SMA().Port(3).PartitionEnforcementInbound = true
	s1.SMA().Port(3).PartitionEnforcementOutbound = true
	s1.SMA().Port(3).FilterRawInbound = true
	s1.SMA().Port(3).SetPKey(0, 0x8001)
	for _, l := range f.Links() {
		a, b := l.Ends()
		_ = a.SetState(wire.PortStateArmed)
		_ = a.SetState(wire.PortStateActive)
		_ = b.SetState(wire.PortStateArmed)
		_ = b.SetState(wire.PortStateActive)
	}
	return f, s1, cas[0]
}

func mustProfile(t testing.TB, name string) ibswitch.Profile {
	p, ok := ibswitch.LookupProfile(name)
	if !ok {
		t.Fatalf("no profile %s", name)
	}
	return p
}

// FuzzHandlePacket feeds arbitrary frames to a switch, directly on each
// port (no CRC check, as a device might be handed a frame) and through a
// link with a resealed VCRC (so the bytes reach the forwarding and
// management code and whatever the switch sends on is processed by the
// next switch). The switch must never panic.
func FuzzHandlePacket(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(uint8(1), s)
	}
	f.Add(uint8(3), dataFrame(f, 3, 1, 0, 0x8001, 1, 32))
	f.Fuzz(func(t *testing.T, port uint8, frame []byte) {
		fab, s1, a := fuzzFabric(t)
		if err := fab.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer fab.Stop()
		in := s1.Node().Port(int(port)%5 + 0)
		if in.Num() == 0 {
			in = s1.Node().Port(1)
		}
		_ = fab.Do(func() {
			s1.HandlePacket(in, append([]byte(nil), frame...))
			g := append([]byte(nil), frame...)
			if len(g) >= wire.VCRCSize {
				wire.ResealVCRC(g)
			}
			a.port().Send(g)
		})
		done := make(chan struct{})
		_ = fab.Do(func() { fab.Clock().AfterFunc(10*time.Millisecond, func() { close(done) }) })
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("fabric stuck")
		}
	})
}
