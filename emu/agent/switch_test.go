package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// testSwitch is the smallest switch a colleague's package would build
// from these agents: DR relay, SMA on port 0, PMA, and traps routed out
// of a fixed port.
type testSwitch struct {
	sma      *agent.SMA
	pma      *agent.PMA
	node     *emu.Node
	trapPort int
	repress  []agent.Trap
}

func newTestSwitch(t *testing.T, guid wire.GUID) *testSwitch {
	t.Helper()
	s := &testSwitch{pma: agent.NewPMA(wire.NodeTypeSwitch, agent.PMAConfig{})}
	var err error
	s.sma, err = agent.NewSMA(agent.NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 3, NodeGUID: guid, PartitionCap: 8,
		DeviceID: 0xB924, VendorID: 0x0002C9, Description: "sw"},
		[]agent.PortConfig{{CapabilityMask: wire.PortCapIsTrapSupported}, {PKeyCap: 64}},
		agent.SMAOptions{
			Transmit:        func(p *emu.Port, frame []byte) { s.node.Port(s.trapPort).Send(frame) },
			OnTrapRepressed: func(p *emu.Port, tr agent.Trap) { s.repress = append(s.repress, tr) },
		})
	if err != nil {
		t.Fatal(err)
	}
	s.sma.Handle(wire.AttrSwitchInfo, []wire.Method{wire.MethodGet}, func(r *agent.Request) wire.MADStatus {
		clear(r.Data())
		r.Data()[0], r.Data()[1] = 0xC0, 0x00 // LinearFDBCap 0xC000
		return wire.MADStatusOK
	})
	return s
}

func (s *testSwitch) HandlePacket(p *emu.Port, frame []byte) {
	f, err := agent.ParseFrame(frame)
	if err != nil {
		return
	}
	m := f.MAD
	if f.Addr.DestQP != agent.QP0 {
		if resp, ok := s.pma.Process(p, m); ok {
			out, _ := agent.AppendReply(nil, f, s.sma.Port(0).LID, resp)
			p.Send(out)
		}
		return
	}
	if m.MgmtClass() == wire.MgmtClassSubnDirected {
		r, err := agent.RouteDR(p, wire.SMP(m))
		if err != nil {
			return
		}
		switch {
		case r.Action == wire.DRForwardPort:
			if err := wire.SealPacket(frame); err == nil {
				r.Out.Send(frame)
			}
			return
		case r.Action != wire.DRDeliver || m.IsResponse():
			return
		}
	}
	s.sma.Process(p, f, func(resp wire.MAD) {
		out := p
		if resp.MgmtClass() == wire.MgmtClassSubnDirected {
			r, err := agent.RouteDRSend(s.node, wire.SMP(resp))
			if err != nil || r.Action != wire.DRForwardPort {
				return
			}
			out = r.Out
		}
		fr, err := agent.AppendReply(nil, f, s.sma.Port(0).LID, resp)
		if err == nil {
			out.Send(fr)
		}
	})
}

// probe is a CA test double: it sends what the test gives it and pushes
// every frame it receives to an inbox.
type probe struct {
	box  *emu.Inbox[[]byte]
	node *emu.Node
}

func (p *probe) HandlePacket(_ *emu.Port, frame []byte) { p.box.Push(frame) }

type swBench struct {
	f        *emu.Fabric
	sw, sw2  *testSwitch
	pr       *probe
	tid      uint64
	received []*agent.Frame
}

func newSwBench(t *testing.T) *swBench {
	f := emu.New()
	b := &swBench{f: f, sw: newTestSwitch(t, 0x0002c90000000100), sw2: newTestSwitch(t, 0x0002c90000000200)}
	b.pr = &probe{box: emu.NewInbox[[]byte](f)}
	sdr := []emu.PortConfig{{SpeedSupported: wire.SpeedSDR | wire.SpeedDDR}}
	b.start(t, "sw", sdr, sdr, sdr[0])
	return b
}

// start adds the bench's nodes to its fabric (the first switch as swName,
// each with its port configs), links probe port 1 to switch port 1 and
// switch port 2 to the second switch's port 1, and starts the fabric.
func (b *swBench) start(t *testing.T, swName string, sw, sw2 []emu.PortConfig, pr emu.PortConfig) {
	t.Helper()
	f := b.f
	var err error
	if b.sw.node, err = f.AddNode(swName, wire.NodeTypeSwitch, 3, b.sw, sw...); err != nil {
		t.Fatal(err)
	}
	if b.sw2.node, err = f.AddNode("sw2", wire.NodeTypeSwitch, 3, b.sw2, sw2...); err != nil {
		t.Fatal(err)
	}
	if b.pr.node, err = f.AddNode("probe", wire.NodeTypeCA, 1, b.pr, pr); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]*emu.Port{{b.pr.node.Port(1), b.sw.node.Port(1)}, {b.sw.node.Port(2), b.sw2.node.Port(1)}} {
		if _, err := f.Connect(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.pr.box.Close(); f.Stop() })
}

// dr sends a DR SMP from the probe along path (the probe's own port
// first) and returns the reply.
func (b *swBench) dr(t *testing.T, method wire.Method, attr wire.AttrID, mod uint32, data []byte, path ...uint8) wire.SMP {
	t.Helper()
	b.tid++
	fl := wire.SMPFields{Directed: true, Method: method, HopCount: uint8(len(path)), TID: b.tid, AttrID: attr, AttrMod: mod,
		DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	copy(fl.InitialPath[1:], path)
	copy(fl.Data[:], data)
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&fl)
	var sendErr error
	if err := b.f.Do(func() {
		r, err := agent.RouteDRSend(b.pr.node, smp)
		if err != nil || r.Action != wire.DRForwardPort {
			sendErr = err
			return
		}
		a := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
		fr, err := agent.AppendFrame(nil, &a, smp)
		if err != nil {
			sendErr = err
			return
		}
		r.Out.Send(fr)
	}); err != nil || sendErr != nil {
		t.Fatalf("send: %v %v", err, sendErr)
	}
	return wire.SMP(b.reply(t, b.tid).MAD)
}

// gmp sends a PerfMgt MAD to the switch and returns the reply.
func (b *swBench) gmp(t *testing.T, method wire.Method, attr wire.AttrID, data []byte) wire.MAD {
	t.Helper()
	b.tid++
	m := make([]byte, wire.MADSize)
	wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: method, TID: b.tid, AttrID: attr})
	copy(m[wire.PMADataOffset:], data)
	a := agent.Addr{DLID: 5, SLID: 1, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	fr, err := agent.AppendFrame(nil, &a, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.f.Do(func() { b.pr.node.Port(1).Send(fr) }); err != nil {
		t.Fatal(err)
	}
	return b.reply(t, b.tid).MAD
}

func (b *swBench) recv(t *testing.T) *agent.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fr, err := b.pr.box.Recv(ctx)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	if err := wire.CheckPacket(fr); err != nil {
		t.Fatalf("received frame fails its CRCs: %v", err)
	}
	f, err := agent.ParseFrame(fr)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (b *swBench) reply(t *testing.T, tid uint64) *agent.Frame {
	t.Helper()
	f := b.recv(t)
	if f.MAD.TID() != tid || !f.MAD.IsResponse() {
		t.Fatalf("got %s tid %d, want the response to %d", f.MAD.Method(), f.MAD.TID(), tid)
	}
	return f
}

func TestSwitchSMAAndDRRelay(t *testing.T) {
	b := newSwBench(t)
	ni := wire.NodeInfo(b.dr(t, wire.MethodGet, wire.AttrNodeInfo, 0, nil, 1).Data())
	if ni.NodeType() != wire.NodeTypeSwitch || ni.NumPorts() != 3 || ni.PortGUID() != ni.NodeGUID() || ni.LocalPortNum() != 1 || ni.DeviceID() != 0xB924 {
		t.Errorf("switch NodeInfo %+v", ni.Fields())
	}
	// Two hops: through sw (in 1, out 2) to sw2, which sees port 1.
	r := b.dr(t, wire.MethodGet, wire.AttrNodeInfo, 0, nil, 1, 2)
	if ni := wire.NodeInfo(r.Data()); ni.NodeGUID() != 0x0002c90000000200 || ni.LocalPortNum() != 1 {
		t.Errorf("sw2 NodeInfo %+v", ni.Fields())
	}
	// The probe runs no SMI: the reply arrives with hop pointer 1, which
	// node 0 would take to 0 (wire.DRProcessReturn).
	if r.HopPointer() != 1 || r.ReturnPathAt(1) != 1 || r.ReturnPathAt(2) != 1 {
		t.Errorf("two-hop reply: hop pointer %d return path %v", r.HopPointer(), r.ReturnPath()[:3])
	}
	// The device hook answers SwitchInfo.
	if si := b.dr(t, wire.MethodGet, wire.AttrSwitchInfo, 0, nil, 1); si.Status() != wire.MADStatusOK || si.Data()[0] != 0xC0 {
		t.Errorf("SwitchInfo via hook: %s %x", si.Status(), si.Data()[:2])
	}
	if st := b.dr(t, wire.MethodSet, wire.AttrSwitchInfo, 0, nil, 1).Status(); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("SwitchInfo Set with a Get-only hook: %s", st)
	}

	// Port 0 holds the switch-wide fields; external ports report them as 0.
	pi := make([]byte, wire.PortInfoSize)
	wire.PortInfo(pi).SetLID(5)
	wire.PortInfo(pi).SetMasterSMLID(1)
	if st := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 0, pi, 1).Status(); st != wire.MADStatusOK {
		t.Fatalf("set port 0: %s", st)
	}
	p0 := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 0, nil, 1).Data())
	p2 := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 2, nil, 1).Data())
	p3 := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 3, nil, 1).Data())
	if p0.LID() != 5 || p0.MasterSMLID() != 1 || p0.PortState() != wire.PortStateActive {
		t.Errorf("port 0: lid %d sm %d state %s", p0.LID(), p0.MasterSMLID(), p0.PortState())
	}
	if p2.LID() != 0 || p2.LocalPortNum() != 1 || p2.PortState() != wire.PortStateInit || p2.PortPhysicalState() != wire.PhysStateLinkUp {
		t.Errorf("port 2: lid %d local %d %s/%s", p2.LID(), p2.LocalPortNum(), p2.PortState(), p2.PortPhysicalState())
	}
	if p3.PortState() != wire.PortStateDown || p3.PortPhysicalState() != wire.PhysStatePolling {
		t.Errorf("unconnected port 3: %s/%s", p3.PortState(), p3.PortPhysicalState())
	}
	// A switch may set any of its ports: arm port 2.
	wire.PortInfo(pi).SetPortState(wire.PortStateArmed)
	if r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 2, pi, 1); r.Status() != wire.MADStatusOK || wire.PortInfo(r.Data()).PortState() != wire.PortStateArmed {
		t.Errorf("arm port 2: %s %s", r.Status(), wire.PortInfo(r.Data()).PortState())
	}

	// P_KeyTable: bits 31-16 are the port; external ports hold 64 entries.
	pk := make([]byte, wire.PKeyTableSize)
	wire.PKeyTable(pk).SetPKey(3, 0x8002)
	if st := b.dr(t, wire.MethodSet, wire.AttrPKeyTable, 2<<16|1, pk, 1).Status(); st != wire.MADStatusOK {
		t.Errorf("set p_key port 2 block 1: %s", st)
	}
	if got := wire.PKeyTable(b.dr(t, wire.MethodGet, wire.AttrPKeyTable, 2<<16|1, nil, 1).Data()).PKey(3); got != 0x8002 {
		t.Errorf("port 2 block 1 entry 3 = %v", got)
	}
	if got := wire.PKeyTable(b.dr(t, wire.MethodGet, wire.AttrPKeyTable, 1<<16|1, nil, 1).Data()).PKey(3); got != 0 {
		t.Errorf("port 1 changed too: %v", got)
	}
	if st := b.dr(t, wire.MethodGet, wire.AttrPKeyTable, 0<<16|1, nil, 1).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("port 0 block 1 (8 entries): %s", st)
	}

	// SLtoVL: bits 15-8 input port, 7-0 output port.
	sl := make([]byte, wire.SLtoVLMappingTableSize)
	for i := range wire.NumSLs {
		wire.SLtoVLMappingTable(sl).SetVL(i, uint8(7-i%8))
	}
	if st := b.dr(t, wire.MethodSet, wire.AttrSLtoVLMappingTable, 1<<8|2, sl, 1).Status(); st != wire.MADStatusOK {
		t.Errorf("set sl2vl 1->2: %s", st)
	}
	if got := wire.SLtoVLMappingTable(b.dr(t, wire.MethodGet, wire.AttrSLtoVLMappingTable, 1<<8|2, nil, 1).Data()); got.VL(0) != 7 || got.VL(9) != 6 {
		t.Errorf("sl2vl 1->2 = %v %v", got.VL(0), got.VL(9))
	}
	if got := wire.SLtoVLMappingTable(b.dr(t, wire.MethodGet, wire.AttrSLtoVLMappingTable, 3<<8|2, nil, 1).Data()); got.VL(0) != 0 || got.VL(9) != 1 {
		t.Errorf("sl2vl 3->2 (default) = %v %v", got.VL(0), got.VL(9))
	}
	if st := b.dr(t, wire.MethodGet, wire.AttrSLtoVLMappingTable, 4<<8|2, nil, 1).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("sl2vl from port 4: %s", st)
	}

	// VLArbitration: block 3 (high 0-31) of port 1; block 2 is past the
	// low-priority capacity of 8.
	va := make([]byte, wire.VLArbitrationTableSize)
	wire.VLArbitrationTable(va).SetEntry(0, wire.VLArbEntry{VL: 2, Weight: 200})
	if st := b.dr(t, wire.MethodSet, wire.AttrVLArbitrationTable, 3<<16|1, va, 1).Status(); st != wire.MADStatusOK {
		t.Errorf("set vlarb: %s", st)
	}
	if e := wire.VLArbitrationTable(b.dr(t, wire.MethodGet, wire.AttrVLArbitrationTable, 3<<16|1, nil, 1).Data()).Entry(0); e.VL != 2 || e.Weight != 200 {
		t.Errorf("vlarb entry %+v", e)
	}
	for _, mod := range []uint32{2<<16 | 1, 5<<16 | 1, 3<<16 | 9} {
		if st := b.dr(t, wire.MethodGet, wire.AttrVLArbitrationTable, mod, nil, 1).Status(); st != wire.MADStatusInvalidField {
			t.Errorf("vlarb mod 0x%x: %s", mod, st)
		}
	}
}

func TestSwitchPMAAllPortSelect(t *testing.T) {
	b := newSwBench(t)
	b.dr(t, wire.MethodGet, wire.AttrNodeInfo, 0, nil, 1, 2) // traffic on ports 1 and 2
	sel := func(port uint8) []byte {
		d := make([]byte, wire.PortCountersSize)
		wire.PortCounters(d).SetPortSelect(port)
		return d
	}
	cpi := wire.ClassPortInfo(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrClassPortInfo, nil)).Data())
	if cpi.CapabilityMask() != wire.PerfCapAllPortSelect|wire.PerfCapExtendedWidth|wire.PerfCapPortXmitWait {
		t.Errorf("switch PMA capability mask 0x%x", cpi.CapabilityMask())
	}
	var sum uint32
	for port := uint8(0); port <= 3; port++ {
		r := b.gmp(t, wire.MethodGet, wire.AttrPortCounters, sel(port))
		if r.Status() != wire.MADStatusOK {
			t.Fatalf("port %d: %s", port, r.Status())
		}
		sum += wire.PortCounters(wire.PerfMAD(r).Data()).PortXmitPkts()
	}
	all := wire.PortCounters(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortCounters, sel(0xFF))).Data())
	// Each Get's reply leaves port 1 after it was counted: since port 1
	// was read, the replies to the port 1, 2 and 3 reads went out.
	if all.PortXmitPkts() != sum+3 || all.PortSelect() != 0xFF {
		t.Errorf("all ports xmit %d, ports summed %d (+3 replies)", all.PortXmitPkts(), sum)
	}
	if st := b.gmp(t, wire.MethodGet, wire.AttrPortCounters, sel(4)).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("port 4 of 3: %s", st)
	}
	// Set with 0xFF clears every port.
	b.gmp(t, wire.MethodSet, wire.AttrPortCounters, func() []byte { d := sel(0xFF); wire.PortCounters(d).SetCounterSelect(0xFFFF); return d }())
	if x := wire.PortCounters(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortCounters, sel(2))).Data()).PortXmitPkts(); x != 0 {
		t.Errorf("port 2 xmit after clearing all: %d", x)
	}
}

func TestSwitchTrapAndRepress(t *testing.T) {
	b := newSwBench(t)
	pi := make([]byte, wire.PortInfoSize)
	wire.PortInfo(pi).SetLID(5)
	wire.PortInfo(pi).SetMasterSMLID(1)
	b.dr(t, wire.MethodSet, wire.AttrPortInfo, 0, pi, 1)
	var tid uint64
	var err error
	if e := b.f.Do(func() {
		b.sw.trapPort = 1
		tid, err = b.sw.sma.SendTrap(0, agent.LinkStateChangeNotice(5))
	}); e != nil || err != nil {
		t.Fatalf("send trap: %v %v", e, err)
	}
	f := b.recv(t)
	n := wire.Notice(wire.SMP(f.MAD).Data())
	if f.MAD.Method() != wire.MethodTrap || n.TrapNumber() != wire.TrapLinkStateChange || n.IssuerLID() != 5 ||
		n.ProducerType() != uint32(wire.NodeTypeSwitch) || f.Addr.DLID != 1 || f.Addr.SLID != 5 || f.VL != agent.VL15 || f.MAD.TID() != tid {
		t.Fatalf("trap frame: %+v notice %+v", f.Addr, n.Fields())
	}
	// The SM represses it; the switch stops repeating and reports it.
	rep := append([]byte(nil), f.MAD...)
	wire.MAD(rep).SetResponse(wire.MADStatusOK)
	a := f.Addr.Reply(1)
	fr, _ := agent.AppendFrame(nil, &a, rep)
	var pending int
	var repressed []agent.Trap
	if err := b.f.Do(func() { b.pr.node.Port(1).Send(fr) }); err != nil {
		t.Fatal(err)
	}
	// A marker round trip makes sure the repress arrived.
	b.dr(t, wire.MethodGet, wire.AttrNodeInfo, 0, nil, 1)
	if err := b.f.Do(func() { pending, repressed = len(b.sw.sma.PendingTraps()), b.sw.repress }); err != nil {
		t.Fatal(err)
	}
	if pending != 0 || len(repressed) != 1 || repressed[0].TID != tid {
		t.Errorf("after repress: %d pending, repressed %+v", pending, repressed)
	}
	// No path: a port without MasterSMLID cannot trap.
	if err := b.f.Do(func() { _, err = b.sw2.sma.SendTrap(0, agent.LinkStateChangeNotice(9)) }); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		t.Error("trap without a path was sent")
	}
}

// TestSwitchPMAOptional: a switch PMA sums PortRcvErrorDetails over its
// ports for AllPortSelect, clears them all with it, and samples the port
// PortSamplesControl.PortSelect names.
func TestSwitchPMAOptional(t *testing.T) {
	b := newSwBench(t)
	l := wire.LayoutPortRcvErrorDetails
	sel := func(port uint8, cs uint16) []byte {
		d := make([]byte, l.Size())
		a, _ := wire.ParsePMACounterArray(d, l)
		a.SetPortSelect(port)
		a.SetCounterSelect(cs)
		return d
	}
	if err := b.f.Do(func() {
		b.sw.node.Port(2).Counters.CountRcvError(emu.RcvDLIDMapping)
		b.sw.node.Port(3).Counters.CountRcvError(emu.RcvDLIDMapping)
		b.sw.node.Port(3).Counters.CountRcvError(emu.RcvVLMapping)
	}); err != nil {
		t.Fatal(err)
	}
	all := wire.PMACounterArray(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortRcvErrorDetails, sel(0xFF, 0))).Data())
	if all.Counter(l, wire.RcvErrPortDLIDMappingErrors) != 2 || all.Counter(l, wire.RcvErrPortVLMappingErrors) != 1 || all.PortSelect() != 0xFF {
		t.Errorf("all ports: DLID mapping %d VL mapping %d", all.Counter(l, wire.RcvErrPortDLIDMappingErrors), all.Counter(l, wire.RcvErrPortVLMappingErrors))
	}
	p3 := wire.PMACounterArray(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortRcvErrorDetails, sel(3, 0))).Data())
	if p3.Counter(l, wire.RcvErrPortDLIDMappingErrors) != 1 {
		t.Errorf("port 3 DLID mapping %d, want 1", p3.Counter(l, wire.RcvErrPortDLIDMappingErrors))
	}
	b.gmp(t, wire.MethodSet, wire.AttrPortRcvErrorDetails, sel(0xFF, 0x3F))
	p3 = wire.PMACounterArray(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortRcvErrorDetails, sel(3, 0))).Data())
	if p3.Counter(l, wire.RcvErrPortDLIDMappingErrors) != 0 || p3.Counter(l, wire.RcvErrPortVLMappingErrors) != 0 {
		t.Errorf("port 3 after clearing all: % x", []byte(p3[:l.Size()]))
	}
	if st := b.gmp(t, wire.MethodGet, wire.AttrPortRcvErrorDetails, sel(4, 0)).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("port 4 of 3: %s", st)
	}

	// Sample port 3's PortXmitPkts for 1 ms starting now.
	psc := make([]byte, wire.PortSamplesControlSize)
	c, _ := wire.ParsePortSamplesControl(psc)
	c.SetPortSelect(3)
	c.SetSampleInterval(uint32(time.Millisecond / agent.SampleTick))
	c.SetCounterSelect(0, wire.SampleSelectPortXmitPkts)
	if r := b.gmp(t, wire.MethodSet, wire.AttrPortSamplesControl, psc); r.Status() != wire.MADStatusOK ||
		wire.PortSamplesControl(wire.PerfMAD(r).Data()).SampleStatus() != wire.SampleStatusRunning {
		t.Fatalf("Set PortSamplesControl: %s", r.Status())
	}
	if err := b.f.Do(func() {
		b.sw.node.Port(3).Counters.XmitPkts.Add(11)
		b.sw.node.Port(1).Counters.XmitPkts.Add(1000) // not the sampled port
	}); err != nil {
		t.Fatal(err)
	}
	done := emu.NewInbox[int](b.f)
	defer done.Close()
	if err := b.f.Do(func() { b.f.Clock().AfterFunc(2*time.Millisecond, func() { done.Push(1) }) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.pr.box.Done() // the probe's inbox stops holding virtual time
	if _, err := done.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	done.Done()
	res := wire.PortSamplesResult(wire.PerfMAD(b.gmp(t, wire.MethodGet, wire.AttrPortSamplesResult, nil)).Data())
	if res.SampleStatus() != wire.SampleStatusDone || res.Counter(0) != 11 {
		t.Errorf("sample of port 3: status %d PortXmitPkts %d, want done 11", res.SampleStatus(), res.Counter(0))
	}
	if st := b.gmp(t, wire.MethodGet, wire.AttrPortSamplesControl, func() []byte { c.SetPortSelect(0xFF); return psc }()).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("PortSamplesControl AllPortSelect: %s", st)
	}
}
