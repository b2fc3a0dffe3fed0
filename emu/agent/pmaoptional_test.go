package agent_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// countDev counts the frames that reach it.
type countDev struct{ n int }

func (d *countDev) HandlePacket(*emu.Port, []byte) { d.n++ }

// pmaBench is a CA (1 port) linked to port 1 of a 3-port switch, with a
// PMA of each, started; frames the test sends arrive at countDevs.
type pmaBench struct {
	f            *emu.Fabric
	ca, sw       *emu.Node
	caDev, swDev *countDev
	caPMA, swPMA *agent.PMA
}

func newPMABench(t *testing.T, caSpeed, swSpeed wire.LinkSpeed) *pmaBench {
	t.Helper()
	b := &pmaBench{f: emu.New(), caDev: &countDev{}, swDev: &countDev{}}
	var err error
	cfg := func(s wire.LinkSpeed) emu.PortConfig {
		return emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: s}
	}
	if b.ca, err = b.f.AddNode("ca", wire.NodeTypeCA, 1, b.caDev, cfg(caSpeed)); err != nil {
		t.Fatal(err)
	}
	if b.sw, err = b.f.AddNode("sw", wire.NodeTypeSwitch, 3, b.swDev, cfg(swSpeed)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.f.Connect(b.ca.Port(1), b.sw.Port(1)); err != nil {
		t.Fatal(err)
	}
	b.caPMA = agent.NewPMA(wire.NodeTypeCA, agent.PMAConfig{})
	b.swPMA = agent.NewPMA(wire.NodeTypeSwitch, agent.PMAConfig{})
	if err := b.f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.f.Stop)
	return b
}

// frame builds a sealed local-route frame with a BTH of OpCode op, LRH VL
// and SL, the BTH FECN/BECN bits and n payload bytes.
func frame(vl, sl uint8, op wire.OpCode, fecn, becn bool, n int) []byte {
	words := (wire.LRHSize + wire.BTHSize + n + wire.ICRCSize) / 4
	b := make([]byte, words*4+wire.VCRCSize)
	wire.LRH(b).Encode(&wire.LRHFields{VL: vl, SL: sl, LNH: wire.LNHIBALocal, DLID: 2, SLID: 1, PktLen: uint16(words)})
	h := wire.BTH(b[wire.LRHSize:])
	h.SetOpCode(op)
	h.SetFECN(fecn)
	h.SetBECN(becn)
	if err := wire.SealPacket(b); err != nil {
		panic(err)
	}
	return b
}

// send sends frames from the CA to the switch and waits for them; it
// returns the frames' sizes in 32-bit words.
func (b *pmaBench) send(t *testing.T, frames ...[]byte) (words []uint64) {
	t.Helper()
	want := b.swDev.n + len(frames)
	if err := b.f.Do(func() {
		for _, fr := range frames {
			words = append(words, uint64(len(fr)/4))
			b.ca.Port(1).Send(fr)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		if err := b.f.Do(func() { n = b.swDev.n }); err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return words
		}
	}
}

// perf sends a PerfMgt request for attr to pma as if it arrived on port p
// (on the event loop) and returns the reply's status and data.
func (b *pmaBench) perf(t *testing.T, pma *agent.PMA, p *emu.Port, method wire.Method, attr wire.AttrID, data []byte) (wire.MADStatus, []byte) {
	t.Helper()
	m := wire.MAD(make([]byte, wire.MADSize))
	m.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: method, TID: 7, AttrID: attr})
	copy(wire.PerfMAD(m).Data(), data)
	var r wire.MAD
	var ok bool
	if err := b.f.Do(func() { r, ok = pma.Process(p, m) }); err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("no reply to %s %#x", method, attr)
	}
	return r.Status(), wire.PerfMAD(r).Data()
}

// array returns the request data of a counter-array attribute.
func array(l wire.PMACounterLayout, op, port uint8, cs uint16) []byte {
	d := make([]byte, wire.PMADataSize)
	a, _ := wire.ParsePMACounterArray(d, l)
	a.SetOpCode(op)
	a.SetPortSelect(port)
	a.SetCounterSelect(cs)
	return d
}

// get reads a counter-array attribute of port through pma and checks the
// status is OK.
func (b *pmaBench) get(t *testing.T, pma *agent.PMA, p *emu.Port, id wire.AttrID, l wire.PMACounterLayout, port uint8) wire.PMACounterArray {
	t.Helper()
	st, d := b.perf(t, pma, p, wire.MethodGet, id, array(l, 0, port, 0))
	if st != wire.MADStatusOK {
		t.Fatalf("Get %#x port %d: %s", id, port, st)
	}
	a, _ := wire.ParsePMACounterArray(d, l)
	return a
}

// TestPMAOpCodeCounters: PortOpRcvCounters, PortVLOpPackets and
// PortVLOpData count the received packets of the OpCode a Set selects
// (SEND First, 0, until then), per VL where the layout says so; a Set
// with another OpCode clears them and counts that OpCode from then on; a
// Set with the same OpCode clears what CounterSelect selects.
func TestPMAOpCodeCounters(t *testing.T) {
	b := newPMABench(t, wire.SpeedQDR, wire.SpeedQDR)
	const sendFirst, sendOnly = wire.OpCode(0x00), wire.OpCode(0x04)
	w := b.send(t,
		frame(0, 0, sendFirst, false, false, 100),
		frame(2, 2, sendFirst, false, false, 40),
		frame(2, 2, sendOnly, false, false, 8),
		frame(5, 1, sendOnly, false, false, 8),
	)
	swp := b.sw.Port(1)
	opl, vpl, vdl := wire.LayoutPortOpRcvCounters, wire.LayoutPortVLOpPackets, wire.LayoutPortVLOpData
	op := b.get(t, b.swPMA, swp, wire.AttrPortOpRcvCounters, opl, 1)
	if op.Counter(opl, wire.OpRcvPortOpRcvPkts) != 2 || op.Counter(opl, wire.OpRcvPortOpRcvData) != w[0]+w[1] || op.OpCode() != 0 {
		t.Errorf("PortOpRcvCounters (SEND First): %d pkts %d words opcode %d, want 2, %d, 0",
			op.Counter(opl, 0), op.Counter(opl, 1), op.OpCode(), w[0]+w[1])
	}
	vp := b.get(t, b.swPMA, swp, wire.AttrPortVLOpPackets, vpl, 1)
	if vp.Counter(vpl, 0) != 1 || vp.Counter(vpl, 2) != 1 || vp.Counter(vpl, 5) != 0 {
		t.Errorf("PortVLOpPackets VL0 %d VL2 %d VL5 %d, want 1 1 0", vp.Counter(vpl, 0), vp.Counter(vpl, 2), vp.Counter(vpl, 5))
	}
	// Select SEND Only for PortVLOpData: the Set clears it; new traffic
	// counts.
	st, d := b.perf(t, b.swPMA, swp, wire.MethodSet, wire.AttrPortVLOpData, array(vdl, uint8(sendOnly), 1, 0))
	if vd, _ := wire.ParsePMACounterArray(d, vdl); st != wire.MADStatusOK || vd.OpCode() != uint8(sendOnly) || vd.Counter(vdl, 2) != 0 {
		t.Fatalf("Set PortVLOpData OpCode SEND Only: %s, opcode %d, VL2 %d", st, vd.OpCode(), vd.Counter(vdl, 2))
	}
	w2 := b.send(t, frame(2, 2, sendOnly, false, false, 64), frame(2, 2, sendFirst, false, false, 64), frame(9, 3, sendOnly, false, false, 4))
	vd := b.get(t, b.swPMA, swp, wire.AttrPortVLOpData, vdl, 1)
	if vd.OpCode() != uint8(sendOnly) || vd.Counter(vdl, 2) != w2[0] || vd.Counter(vdl, 9) != w2[2] || vd.Counter(vdl, 5) != 0 {
		t.Errorf("PortVLOpData (SEND Only): opcode %d VL2 %d VL9 %d VL5 %d, want 4 %d %d 0",
			vd.OpCode(), vd.Counter(vdl, 2), vd.Counter(vdl, 9), vd.Counter(vdl, 5), w2[0], w2[2])
	}
	// PortVLOpPackets still counts SEND First: 1 more on VL2.
	vp = b.get(t, b.swPMA, swp, wire.AttrPortVLOpPackets, vpl, 1)
	if vp.Counter(vpl, 2) != 2 || vp.Counter(vpl, 0) != 1 {
		t.Errorf("PortVLOpPackets after: VL0 %d VL2 %d, want 1 2", vp.Counter(vpl, 0), vp.Counter(vpl, 2))
	}
	// A Set with the same OpCode clears only what CounterSelect selects.
	b.perf(t, b.swPMA, swp, wire.MethodSet, wire.AttrPortVLOpPackets, array(vpl, 0, 1, 1<<2))
	vp = b.get(t, b.swPMA, swp, wire.AttrPortVLOpPackets, vpl, 1)
	if vp.Counter(vpl, 2) != 0 || vp.Counter(vpl, 0) != 1 {
		t.Errorf("PortVLOpPackets after clearing VL2: VL0 %d VL2 %d, want 1 0", vp.Counter(vpl, 0), vp.Counter(vpl, 2))
	}
	// PortOpRcvCounters: clear PortOpRcvData only.
	b.perf(t, b.swPMA, swp, wire.MethodSet, wire.AttrPortOpRcvCounters, array(opl, 0, 1, 1<<wire.OpRcvPortOpRcvData))
	op = b.get(t, b.swPMA, swp, wire.AttrPortOpRcvCounters, opl, 1)
	if op.Counter(opl, wire.OpRcvPortOpRcvPkts) != 3 || op.Counter(opl, wire.OpRcvPortOpRcvData) != 0 {
		t.Errorf("PortOpRcvCounters after clearing data: %d pkts %d words, want 3 0", op.Counter(opl, 0), op.Counter(opl, 1))
	}
	// The CA received nothing: its own port counts 0.
	if op := b.get(t, b.caPMA, b.ca.Port(1), wire.AttrPortOpRcvCounters, opl, 1); op.Counter(opl, 0) != 0 {
		t.Errorf("the sending CA counted %d received packets", op.Counter(opl, 0))
	}
}

// TestPMACongestionNotification: PortRcvConCtrl and PortSLRcvFECN/BECN
// count received packets by their BTH FECN/BECN bits and LRH SL, on a CA
// and on a switch (AllPortSelect sums the ports), and a Set clears the
// selected counters.
func TestPMACongestionNotification(t *testing.T) {
	b := newPMABench(t, wire.SpeedQDR, wire.SpeedQDR)
	b.send(t,
		frame(0, 3, 0x04, true, false, 8),
		frame(0, 3, 0x04, true, true, 8),
		frame(1, 12, 0x11, false, true, 8),
		frame(1, 12, 0x11, false, false, 8),
	)
	// And one back to the CA, with FECN on SL 6.
	if err := b.f.Do(func() { b.sw.Port(1).Send(frame(0, 6, 0x11, true, false, 0)) }); err != nil {
		t.Fatal(err)
	}
	for n := 0; n == 0; {
		_ = b.f.Do(func() { n = b.caDev.n })
	}
	rl, sl := wire.LayoutPortRcvConCtrl, wire.LayoutPortSLRcvECN
	for _, port := range []uint8{1, wire.PMAAllPorts} {
		rc := b.get(t, b.swPMA, b.sw.Port(1), wire.AttrPortRcvConCtrl, rl, port)
		if rc.Counter(rl, wire.RcvConCtrlPortPktRcvFECN) != 2 || rc.Counter(rl, wire.RcvConCtrlPortPktRcvBECN) != 2 {
			t.Errorf("switch port %d PortRcvConCtrl: FECN %d BECN %d, want 2 2", port, rc.Counter(rl, 0), rc.Counter(rl, 1))
		}
	}
	f := b.get(t, b.swPMA, b.sw.Port(1), wire.AttrPortSLRcvFECN, sl, 1)
	be := b.get(t, b.swPMA, b.sw.Port(1), wire.AttrPortSLRcvBECN, sl, 1)
	if f.Counter(sl, 3) != 2 || f.Counter(sl, 12) != 0 || be.Counter(sl, 3) != 1 || be.Counter(sl, 12) != 1 {
		t.Errorf("switch SL FECN 3:%d 12:%d BECN 3:%d 12:%d, want 2 0 1 1", f.Counter(sl, 3), f.Counter(sl, 12), be.Counter(sl, 3), be.Counter(sl, 12))
	}
	if cf := b.get(t, b.caPMA, b.ca.Port(1), wire.AttrPortSLRcvFECN, sl, 1); cf.Counter(sl, 6) != 1 || cf.Counter(sl, 3) != 0 {
		t.Errorf("CA SL FECN 6:%d 3:%d, want 1 0", cf.Counter(sl, 6), cf.Counter(sl, 3))
	}
	// Set with CounterSelect SL3 clears SL3 only.
	b.perf(t, b.swPMA, b.sw.Port(1), wire.MethodSet, wire.AttrPortSLRcvBECN, array(sl, 0, 1, 1<<3))
	be = b.get(t, b.swPMA, b.sw.Port(1), wire.AttrPortSLRcvBECN, sl, 1)
	if be.Counter(sl, 3) != 0 || be.Counter(sl, 12) != 1 {
		t.Errorf("BECN after clearing SL3: 3:%d 12:%d, want 0 1", be.Counter(sl, 3), be.Counter(sl, 12))
	}
	b.perf(t, b.swPMA, b.sw.Port(1), wire.MethodSet, wire.AttrPortRcvConCtrl, array(rl, 0, wire.PMAAllPorts, 0x3))
	if rc := b.get(t, b.swPMA, b.sw.Port(1), wire.AttrPortRcvConCtrl, rl, 1); rc.Counter(rl, 0) != 0 || rc.Counter(rl, 1) != 0 {
		t.Errorf("PortRcvConCtrl after an AllPortSelect clear: %d %d", rc.Counter(rl, 0), rc.Counter(rl, 1))
	}
}

// TestPMARegisterCounters: the attributes whose counts nothing on the
// emulated packet path produces (flow control, XmitWait, congestion time)
// are served from their emu registers: what is counted there reads back,
// saturated at the field's width, and a Set clears it; SwPortVLCongestion
// is a switch's only.
func TestPMARegisterCounters(t *testing.T) {
	b := newPMABench(t, wire.SpeedQDR, wire.SpeedQDR)
	if err := b.f.Do(func() {
		d := b.ca.Port(1).Counters.Details()
		b.ca.Port(1).Counters.CountXmitWait(1, 70000)
		b.ca.Port(1).Counters.CountXmitWait(4, 12)
		d.Optional().XmitFlowPkts.Add(9)
		d.Optional().VLXmitFlowCtlUpdateErrors[3].Add(5) // 2 bits: reads 3
		d.Optional().XmitTimeCong.Add(77)
		d.Optional().VLXmitTimeCong[14].Add(78)
		b.sw.Port(2).Counters.Details().Optional().SwPortVLCongestion[7].Add(5)
		b.sw.Port(3).Counters.Details().Optional().SwPortVLCongestion[7].Add(6)
	}); err != nil {
		t.Fatal(err)
	}
	p := b.ca.Port(1)
	for _, tc := range []struct {
		name string
		id   wire.AttrID
		l    wire.PMACounterLayout
		i    int
		want uint64
	}{
		{"PortVLXmitWaitCounters VL1", wire.AttrPortVLXmitWaitCounters, wire.LayoutPortVLXmitWaitCounters, 1, 0xFFFF},
		{"PortVLXmitWaitCounters VL4", wire.AttrPortVLXmitWaitCounters, wire.LayoutPortVLXmitWaitCounters, 4, 12},
		{"PortFlowCtlCounters PortXmitFlowPkts", wire.AttrPortFlowCtlCounters, wire.LayoutPortFlowCtlCounters, wire.FlowCtlPortXmitFlowPkts, 9},
		{"PortFlowCtlCounters PortRcvFlowPkts", wire.AttrPortFlowCtlCounters, wire.LayoutPortFlowCtlCounters, wire.FlowCtlPortRcvFlowPkts, 0},
		{"PortVLXmitFlowCtlUpdateErrors VL3", wire.AttrPortVLXmitFlowCtlUpdateErrors, wire.LayoutPortVLXmitFlowCtlUpdateErrors, 3, 3},
		{"PortXmitConCtrl", wire.AttrPortXmitConCtrl, wire.LayoutPortXmitConCtrl, 0, 77},
		{"PortVLXmitTimeCong VL14", wire.AttrPortVLXmitTimeCong, wire.LayoutPortVLXmitTimeCong, 14, 78},
	} {
		if got := b.get(t, b.caPMA, p, tc.id, tc.l, 1).Counter(tc.l, tc.i); got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, got, tc.want)
		}
		st, d := b.perf(t, b.caPMA, p, wire.MethodSet, tc.id, array(tc.l, 0, 1, 1<<tc.i))
		if a, _ := wire.ParsePMACounterArray(d, tc.l); st != wire.MADStatusOK || a.Counter(tc.l, tc.i) != 0 {
			t.Errorf("Set %s: %s, reads %d after", tc.name, st, a.Counter(tc.l, tc.i))
		}
	}
	// The PortXmitWait total includes the per-VL counts.
	if err := b.f.Do(func() {
		if v := p.Counters.XmitWait.Load(); v != 70012 {
			t.Errorf("XmitWait %d, want 70012", v)
		}
	}); err != nil {
		t.Fatal(err)
	}
	l := wire.LayoutSwPortVLCongestion
	if st, _ := b.perf(t, b.caPMA, p, wire.MethodGet, wire.AttrSwPortVLCongestion, array(l, 0, 1, 0)); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("CA SwPortVLCongestion: %s, want 0x000C", st)
	}
	if c := b.get(t, b.swPMA, b.sw.Port(1), wire.AttrSwPortVLCongestion, l, wire.PMAAllPorts); c.Counter(l, 7) != 11 {
		t.Errorf("switch SwPortVLCongestion VL7 over all ports: %d, want 11", c.Counter(l, 7))
	}
}

// TestPMAExtendedSpeedsCounters: PortExtendedSpeedsCounters answers for
// ports with an extended speed (FDR and faster), zeros since the
// emulated links have no lane errors, and 0x000C for the others.
func TestPMAExtendedSpeedsCounters(t *testing.T) {
	req := func(port uint8, cs uint64) []byte {
		d := make([]byte, wire.PMADataSize)
		c, _ := wire.ParsePortExtendedSpeedsCounters(d)
		c.SetPortSelect(port)
		c.SetCounterSelect(cs)
		return d
	}
	qdr := newPMABench(t, wire.SpeedSDR|wire.SpeedQDR, wire.SpeedSDR|wire.SpeedQDR)
	if st, _ := qdr.perf(t, qdr.caPMA, qdr.ca.Port(1), wire.MethodGet, wire.AttrPortExtendedSpeedsCounters, req(1, 0)); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("QDR CA: %s, want 0x000C", st)
	}
	if st, _ := qdr.perf(t, qdr.swPMA, qdr.sw.Port(1), wire.MethodGet, wire.AttrPortExtendedSpeedsCounters, req(wire.PMAAllPorts, 0)); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("QDR switch, all ports: %s, want 0x000C", st)
	}
	edr := newPMABench(t, wire.SpeedQDR|wire.SpeedFDR|wire.SpeedEDR, wire.SpeedQDR|wire.SpeedFDR|wire.SpeedEDR)
	for _, m := range []wire.Method{wire.MethodGet, wire.MethodSet} {
		st, d := edr.perf(t, edr.caPMA, edr.ca.Port(1), m, wire.AttrPortExtendedSpeedsCounters, req(1, 0xFFF))
		c, _ := wire.ParsePortExtendedSpeedsCounters(d)
		if st != wire.MADStatusOK || c.PortSelect() != 1 || c.CounterSelect() != 0xFFF {
			t.Errorf("EDR CA %s: %s PortSelect %d CounterSelect %#x", m, st, c.PortSelect(), c.CounterSelect())
		}
		for i := range wire.ExtSpeedsCounters {
			if v := c.Counter(wire.ExtSpeedsCounter(i)); v != 0 {
				t.Errorf("EDR CA %s: counter %d = %d, want 0", m, i, v)
			}
		}
	}
	if st, _ := edr.perf(t, edr.swPMA, edr.sw.Port(1), wire.MethodGet, wire.AttrPortExtendedSpeedsCounters, req(3, 0)); st != wire.MADStatusOK {
		t.Errorf("EDR switch port 3: %s", st)
	}
	if st, _ := edr.perf(t, edr.swPMA, edr.sw.Port(1), wire.MethodGet, wire.AttrPortExtendedSpeedsCounters, req(4, 0)); st != wire.MADStatusInvalidField {
		t.Errorf("EDR switch port 4 of 3: %s, want 0x001C", st)
	}
}
