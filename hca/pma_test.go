package hca_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// perf sends a PerfMgt request for attr to b (LID 2) and returns the reply.
func (bt *bench) perf(t testing.TB, method wire.Method, attr wire.AttrID, data []byte) wire.MAD {
	t.Helper()
	tid := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassPerf, 1, method, attr, 0, tid, wire.PMADataOffset, data))
	return wire.MAD(bt.expectResp(t, tid))
}

func pcSelect(port uint8, cs uint16, cs2 uint8) []byte {
	b := make([]byte, wire.PortCountersSize)
	wire.PortCounters(b).SetPortSelect(port)
	wire.PortCounters(b).SetCounterSelect(cs)
	wire.PortCounters(b).SetCounterSelect2(cs2)
	return b
}

func TestPMAPortCounters(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)

	r := bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))
	if r.Status() != wire.MADStatusOK {
		t.Fatalf("Get PortCounters: %s", r.Status())
	}
	pc := wire.PortCounters(wire.PerfMAD(r).Data())
	var emuRcv, emuXmit uint64
	bt.do(t, func() {
		emuRcv = bt.b.Node().Port(1).Counters.RcvPkts.Load()
		emuXmit = bt.b.Node().Port(1).Counters.XmitPkts.Load()
	})
	// The reply was built after the request arrived and before it left.
	if uint64(pc.PortRcvPkts()) != emuRcv || uint64(pc.PortXmitPkts()) != emuXmit-1 {
		t.Errorf("rcv/xmit pkts %d/%d, emu counters %d/%d (one more xmit: the reply)", pc.PortRcvPkts(), pc.PortXmitPkts(), emuRcv, emuXmit)
	}
	if pc.PortRcvPkts() != 4 || pc.PortRcvData() != pc.PortRcvPkts()*72 {
		t.Errorf("rcv pkts %d data %d: want 4 (three PortInfo Sets and this Get) of 72 words each", pc.PortRcvPkts(), pc.PortRcvData())
	}
	if pc.PortSelect() != 1 {
		t.Errorf("PortSelect %d, want 1", pc.PortSelect())
	}

	// Set clears what CounterSelect names.
	r = bt.perf(t, wire.MethodSet, wire.AttrPortCounters, pcSelect(1, 0xFFFF, 1))
	pc = wire.PortCounters(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || pc.PortRcvPkts() != 0 || pc.PortXmitPkts() != 0 || pc.PortRcvData() != 0 {
		t.Fatalf("Set PortCounters: %s rcv %d xmit %d", r.Status(), pc.PortRcvPkts(), pc.PortXmitPkts())
	}
	// Since then: the Get arrived, the Set's reply left.
	pc = wire.PortCounters(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))).Data())
	if pc.PortRcvPkts() != 1 || pc.PortXmitPkts() != 1 || pc.PortXmitData() != 72 {
		t.Errorf("after reset: rcv %d xmit %d xmit data %d, want 1 1 72", pc.PortRcvPkts(), pc.PortXmitPkts(), pc.PortXmitData())
	}

	// Error counters saturate at their field width.
	bt.do(t, func() {
		c := &bt.b.Node().Port(1).Counters
		c.SymbolErrors.Add(70000)
		c.LinkDowned.Add(300)
		c.LocalLinkIntegrity.Add(20)
		c.XmitWait.Add(5)
	})
	pc = wire.PortCounters(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))).Data())
	if pc.SymbolErrorCounter() != 0xFFFF || pc.LinkDownedCounter() != 0xFF || pc.LocalLinkIntegrityErrors() != 0xF || pc.PortXmitWait() != 5 {
		t.Errorf("saturation: symbol %d downed %d llinteg %d xmitwait %d", pc.SymbolErrorCounter(), pc.LinkDownedCounter(), pc.LocalLinkIntegrityErrors(), pc.PortXmitWait())
	}
	// Clearing only SymbolErrorCounter leaves LinkDowned.
	pc = wire.PortCounters(wire.PerfMAD(bt.perf(t, wire.MethodSet, wire.AttrPortCounters, pcSelect(1, wire.CounterSelectSymbolErrors, 0))).Data())
	if pc.SymbolErrorCounter() != 0 || pc.LinkDownedCounter() != 0xFF || pc.PortXmitWait() != 5 {
		t.Errorf("selective clear: symbol %d downed %d xmitwait %d", pc.SymbolErrorCounter(), pc.LinkDownedCounter(), pc.PortXmitWait())
	}

	// PortSelect: a CA serves its own ports (the firmware's one PMA); 0
	// is the arrival port (perfquery LID without a port).
	for _, c := range []struct {
		sel  uint8
		want wire.MADStatus
	}{{1, wire.MADStatusOK}, {2, wire.MADStatusOK}, {0, wire.MADStatusOK}, {3, wire.MADStatusInvalidField}, {0xFF, wire.MADStatusInvalidField}} {
		if st := bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(c.sel, 0, 0)).Status(); st != c.want {
			t.Errorf("PortSelect %d: %s, want %s", c.sel, st, c.want)
		}
	}
}

func TestPMAPortCountersExtended(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	sel := func(cs uint16) []byte {
		b := make([]byte, wire.PortCountersExtendedBaseSize)
		wire.PortCountersExtended(b).SetPortSelect(1)
		wire.PortCountersExtended(b).SetCounterSelect(cs)
		return b
	}
	r := bt.perf(t, wire.MethodGet, wire.AttrPortCountersExtended, sel(0))
	x := wire.PortCountersExtended(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || x.PortRcvPkts() == 0 || x.PortUnicastRcvPkts() != x.PortRcvPkts() ||
		x.PortRcvData() != 72*x.PortRcvPkts() || x.PortMulticastRcvPkts() != 0 {
		t.Fatalf("extended: %s %+v", r.Status(), x.Fields())
	}
	// A PortCounters reset leaves the extended counters alone (separate
	// registers), and an extended reset clears them.
	before := x.PortXmitPkts()
	bt.perf(t, wire.MethodSet, wire.AttrPortCounters, pcSelect(1, 0xFFFF, 1))
	x = wire.PortCountersExtended(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortCountersExtended, sel(0))).Data())
	if x.PortXmitPkts() != before+2 {
		t.Errorf("xmit pkts %d after a PortCounters reset, want %d", x.PortXmitPkts(), before+2)
	}
	x = wire.PortCountersExtended(wire.PerfMAD(bt.perf(t, wire.MethodSet, wire.AttrPortCountersExtended, sel(0xFF))).Data())
	if x.PortXmitPkts() != 0 || x.PortUnicastRcvPkts() != 0 || x.PortRcvData() != 0 {
		t.Errorf("after extended reset: %+v", x.Fields())
	}
}

func TestPMAClassPortInfoAndRefusals(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	r := bt.perf(t, wire.MethodGet, wire.AttrClassPortInfo, nil)
	cpi := wire.ClassPortInfo(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || cpi.ClassVersion() != 1 ||
		cpi.CapabilityMask() != wire.PerfCapExtendedWidth|wire.PerfCapPortXmitWait {
		t.Errorf("ClassPortInfo: %s version %d capmask 0x%x", r.Status(), cpi.ClassVersion(), cpi.CapabilityMask())
	}
	cases := []struct {
		name  string
		class wire.MgmtClass
		ver   uint8
		m     wire.Method
		attr  wire.AttrID
		want  wire.MADStatus
	}{
		{"perf class version 2", wire.MgmtClassPerf, 2, wire.MethodGet, wire.AttrPortCounters, wire.MADStatusBadVersion},
		{"perf GetTable", wire.MgmtClassPerf, 1, wire.MethodGetTable, wire.AttrPortCounters, wire.MADStatusUnsupportedMethod},
		{"perf PortSamplesResultExtended", wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrPortSamplesResultExtended, wire.MADStatusUnsupportedMethodAttr},
		{"perf SwPortVLCongestion on a CA", wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrSwPortVLCongestion, wire.MADStatusUnsupportedMethodAttr},
		{"perf Set PortSamplesResult", wire.MgmtClassPerf, 1, wire.MethodSet, wire.AttrPortSamplesResult, wire.MADStatusUnsupportedMethodAttr},
		{"perf GetTable PortXmitDataSL", wire.MgmtClassPerf, 1, wire.MethodGetTable, wire.AttrPortXmitDataSL, wire.MADStatusUnsupportedMethod},
		{"perf Set ClassPortInfo", wire.MgmtClassPerf, 1, wire.MethodSet, wire.AttrClassPortInfo, wire.MADStatusUnsupportedMethodAttr},
		{"vendor ConfigSpaceAccess", wire.MgmtClassMellanox, 1, wire.MethodGet, wire.AttrVendorConfigSpaceAccess, wire.MADStatusUnsupportedMethodAttr},
		{"vendor class version 2", wire.MgmtClassMellanox, 2, wire.MethodGet, wire.AttrVendorGeneralInfo, wire.MADStatusBadVersion},
		{"no DevMgt agent", wire.MgmtClassDevMgt, 1, wire.MethodGet, wire.AttrClassPortInfo, wire.MADStatusUnsupportedMethodAttr},
		{"no SA on a plain host", wire.MgmtClassSubnAdm, 2, wire.MethodGet, wire.AttrClassPortInfo, wire.MADStatusUnsupportedMethodAttr},
	}
	for _, c := range cases {
		tid := bt.nextTID()
		ag := bt.gsi[wire.MgmtClassPerf]
		bt.send(t, ag, hca.MADAddr{LID: 2, QPN: 1}, gmp(c.class, c.ver, c.m, c.attr, 0, tid, wire.PMADataOffset, nil))
		if st := wire.MAD(bt.expectResp(t, tid)).Status(); st != c.want {
			t.Errorf("%s: %s, want %s", c.name, st, c.want)
		}
	}
}

func TestVendorGeneralInfo(t *testing.T) {
	bt := newBench(t, func(_, b *hca.Config) { b.Profile, _ = hca.StandardProfiles().Lookup(hca.ProfileInfiniHostIIIEx) })
	bt.bringUp(t)
	// Let 90 s of virtual time pass.
	bt.do(t, func() {
		bt.f.Clock().AfterFunc(90*time.Second, func() { bt.inbox.Push(hca.ReceivedMAD{Port: -1}) })
	})
	if r := bt.recv(t); r.Port != -1 {
		t.Fatalf("unexpected MAD while waiting: %x", r.MAD[:24])
	}
	ag := bt.gsi[wire.MgmtClassMellanox]
	tid := bt.nextTID()
	bt.send(t, ag, hca.MADAddr{LID: 2, QPN: 1}, gmp(wire.MgmtClassMellanox, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, tid, 24, nil))
	if st := wire.MAD(bt.expectResp(t, tid)).Status(); st != wire.MADStatusOK {
		t.Fatalf("vendor ClassPortInfo: %s", st)
	}
	tid = bt.nextTID()
	bt.send(t, ag, hca.MADAddr{LID: 2, QPN: 1}, gmp(wire.MgmtClassMellanox, 1, wire.MethodGet, wire.AttrVendorGeneralInfo, 0, tid, 24, nil))
	r := wire.MAD(bt.expectResp(t, tid))
	if r.Status() != wire.MADStatusOK {
		t.Fatalf("GeneralInfo: %s", r.Status())
	}
	gi, err := wire.ParseMellanoxGeneralInfo(wire.VendorMAD(r).Data())
	if err != nil {
		t.Fatal(err)
	}
	f := gi.Fields()
	if f.HWUptime < 90 || f.HWUptime > 100 {
		t.Errorf("uptime %d s, want about 90", f.HWUptime)
	}
	got := f.Vendstat()
	for _, want := range []string{
		"hw_dev_rev:  0x00a0\n", "hw_dev_id:   0x6282\n", "fw_version:  05.03.00\n", "fw_build_id: 0x0004\n",
		"fw_date:     03/18/2008\n", "fw_psid:     'MT_0370110002'\n", "fw_ini_ver:  1\n", "sw_version:  00.00.00\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("vendstat output lacks %q:\n%s", want, got)
		}
	}
}

// arraySelect builds the request data of an optional counter attribute.
func arraySelect(l wire.PMACounterLayout, port uint8, cs uint16) []byte {
	b := make([]byte, l.Size())
	a, _ := wire.ParsePMACounterArray(b, l)
	a.SetPortSelect(port)
	a.SetCounterSelect(cs)
	return b
}

// TestPMAErrorDetails: PortRcvErrorDetails and PortXmitDiscardDetails
// show the emu detail counters, agree with the PortCounters summaries
// they split, saturate at 16 bits and clear what CounterSelect names.
func TestPMAErrorDetails(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	bt.do(t, func() {
		c := &bt.b.Node().Port(1).Counters
		for range 3 {
			c.CountRcvError(emu.RcvMalformedPacket)
		}
		for range 2 {
			c.CountRcvError(emu.RcvLooping)
		}
		c.CountRcvError(emu.RcvLocalPhysicalError)
		for range 70000 {
			c.CountXmitDiscard(emu.XmitNeighborMTUDiscard)
		}
		c.CountXmitDiscard(emu.XmitInactiveDiscard)
	})
	rl, xl := wire.LayoutPortRcvErrorDetails, wire.LayoutPortXmitDiscardDetails
	r := bt.perf(t, wire.MethodGet, wire.AttrPortRcvErrorDetails, arraySelect(rl, 1, 0))
	rd := wire.PMACounterArray(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || rd.PortSelect() != 1 {
		t.Fatalf("Get PortRcvErrorDetails: %s PortSelect %d", r.Status(), rd.PortSelect())
	}
	want := [6]uint64{1, 3, 0, 0, 0, 2}
	for i, w := range want {
		if got := rd.Counter(rl, i); got != w {
			t.Errorf("PortRcvErrorDetails counter %d = %d, want %d", i, got, w)
		}
	}
	pc := wire.PortCounters(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))).Data())
	if pc.PortRcvErrors() != 4 || pc.PortRcvSwitchRelayErrors() != 2 || pc.PortXmitDiscards() != 0xFFFF {
		t.Errorf("summaries: rcv errors %d (want 4), relay errors %d (want 2), xmit discards %d (want saturated)",
			pc.PortRcvErrors(), pc.PortRcvSwitchRelayErrors(), pc.PortXmitDiscards())
	}
	x := bt.perf(t, wire.MethodGet, wire.AttrPortXmitDiscardDetails, arraySelect(xl, 1, 0))
	xd := wire.PMACounterArray(wire.PerfMAD(x).Data())
	if x.Status() != wire.MADStatusOK || xd.Counter(xl, wire.XmitDiscPortInactiveDiscards) != 1 ||
		xd.Counter(xl, wire.XmitDiscPortNeighborMTUDiscards) != 0xFFFF || xd.Counter(xl, wire.XmitDiscPortSwHOQLifetimeLimitDiscards) != 0 {
		t.Errorf("PortXmitDiscardDetails: %s % x", x.Status(), []byte(xd[:xl.Size()]))
	}
	// Set clears only the selected counters (here PortMalformedPacketErrors)
	// and answers with the counters as they are after the clear.
	r = bt.perf(t, wire.MethodSet, wire.AttrPortRcvErrorDetails, arraySelect(rl, 1, 1<<wire.RcvErrPortMalformedPacketErrors))
	rd = wire.PMACounterArray(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || rd.Counter(rl, wire.RcvErrPortMalformedPacketErrors) != 0 ||
		rd.Counter(rl, wire.RcvErrPortLoopingErrors) != 2 || rd.Counter(rl, wire.RcvErrPortLocalPhysicalErrors) != 1 {
		t.Errorf("Set PortRcvErrorDetails: %s % x", r.Status(), []byte(rd[:rl.Size()]))
	}
	// The emu counters and PortCounters are untouched by the details' clear.
	pc = wire.PortCounters(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))).Data())
	if pc.PortRcvErrors() != 4 {
		t.Errorf("PortRcvErrors %d after a details clear, want 4", pc.PortRcvErrors())
	}
	for _, c := range []struct {
		sel  uint8
		want wire.MADStatus
	}{{1, wire.MADStatusOK}, {2, wire.MADStatusOK}, {0, wire.MADStatusOK}, {3, wire.MADStatusInvalidField}, {0xFF, wire.MADStatusInvalidField}} {
		if st := bt.perf(t, wire.MethodGet, wire.AttrPortXmitDiscardDetails, arraySelect(xl, c.sel, 0)).Status(); st != c.want {
			t.Errorf("PortSelect %d: %s, want %s", c.sel, st, c.want)
		}
	}
}

// TestPMADataSL: PortXmitDataSL and PortRcvDataSL show the per-SL data
// counters, and a Set clears the SLs CounterSelect names.
func TestPMADataSL(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	bt.do(t, func() {
		c := &bt.b.Node().Port(1).Counters
		c.Details().XmitDataSL[3].Add(100)
		c.Details().XmitDataSL[15].Add(1 << 33) // saturates the 32-bit field
		c.Details().RcvDataSL[7].Add(42)
	})
	l := wire.LayoutPortDataSL
	r := bt.perf(t, wire.MethodGet, wire.AttrPortXmitDataSL, arraySelect(l, 1, 0))
	x := wire.PMACounterArray(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || x.Counter(l, 3) != 100 || x.Counter(l, 15) != 0xFFFFFFFF {
		t.Fatalf("PortXmitDataSL: %s SL3 %d SL15 %#x", r.Status(), x.Counter(l, 3), x.Counter(l, 15))
	}
	r = bt.perf(t, wire.MethodGet, wire.AttrPortRcvDataSL, arraySelect(l, 1, 0))
	if got := wire.PMACounterArray(wire.PerfMAD(r).Data()).Counter(l, 7); r.Status() != wire.MADStatusOK || got != 42 {
		t.Errorf("PortRcvDataSL SL7: %s %d, want 42", r.Status(), got)
	}
	r = bt.perf(t, wire.MethodSet, wire.AttrPortXmitDataSL, arraySelect(l, 1, 1<<3))
	x = wire.PMACounterArray(wire.PerfMAD(r).Data())
	if x.Counter(l, 3) != 0 || x.Counter(l, 15) != 0xFFFFFFFF {
		t.Errorf("after clearing SL3: SL3 %d SL15 %#x", x.Counter(l, 3), x.Counter(l, 15))
	}
}

// samplesControl builds PortSamplesControl request data.
func samplesControl(port uint8, start, interval uint32, tag uint16, sel ...uint16) []byte {
	b := make([]byte, wire.PortSamplesControlSize)
	c, _ := wire.ParsePortSamplesControl(b)
	c.SetPortSelect(port)
	c.SetSampleStart(start)
	c.SetSampleInterval(interval)
	c.SetTag(tag)
	for i, s := range sel {
		c.SetCounterSelect(i, s)
	}
	return b
}

// TestPMAPortSampling: PortSamplesControl Set starts a sample timed on the
// fabric clock, a Set while it runs changes nothing, and PortSamplesResult
// gives the counts of the sampled interval once it is done.
func TestPMAPortSampling(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	r := bt.perf(t, wire.MethodGet, wire.AttrPortSamplesControl, samplesControl(1, 0, 0, 0))
	c := wire.PortSamplesControl(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || c.SampleStatus() != wire.SampleStatusDone || c.CounterWidth() != wire.CounterWidth32 ||
		c.PortSelect() != 1 || c.CounterMasks0to9() == 0 {
		t.Fatalf("Get PortSamplesControl: %s status %d width %d", r.Status(), c.SampleStatus(), c.CounterWidth())
	}
	if st := bt.perf(t, wire.MethodSet, wire.AttrPortSamplesControl, samplesControl(1, 0, 10, 1, 0x99)).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("unknown CounterSelect code: %s, want %s", st, wire.MADStatusInvalidField)
	}
	if st := bt.perf(t, wire.MethodGet, wire.AttrPortSamplesControl, samplesControl(0xFF, 0, 0, 0)).Status(); st != wire.MADStatusInvalidField {
		t.Errorf("AllPortSelect: %s, want %s", st, wire.MADStatusInvalidField)
	}
	// 2 ms of delay, then 4 ms of sampling (ticks of agent.SampleTick).
	start, interval := uint32(2*time.Millisecond/agent.SampleTick), uint32(4*time.Millisecond/agent.SampleTick)
	r = bt.perf(t, wire.MethodSet, wire.AttrPortSamplesControl,
		samplesControl(1, start, interval, 0xBEEF, wire.SampleSelectPortXmitPkts, wire.SampleSelectPortRcvData))
	c = wire.PortSamplesControl(wire.PerfMAD(r).Data())
	if r.Status() != wire.MADStatusOK || c.SampleStatus() != wire.SampleStatusStartDelay || c.Tag() != 0xBEEF ||
		c.CounterSelect(0) != wire.SampleSelectPortXmitPkts || c.SampleInterval() != interval {
		t.Fatalf("Set PortSamplesControl: %s status %d tag %#x", r.Status(), c.SampleStatus(), c.Tag())
	}
	// Traffic during the start delay is not sampled.
	bt.do(t, func() { bt.b.Node().Port(1).Counters.XmitPkts.Add(1000) })
	bt.wait(t, 3*time.Millisecond)
	// A Set while the sample runs changes nothing.
	r = bt.perf(t, wire.MethodSet, wire.AttrPortSamplesControl, samplesControl(1, 0, 1, 0x1111, wire.SampleSelectPortRcvPkts))
	c = wire.PortSamplesControl(wire.PerfMAD(r).Data())
	if c.SampleStatus() != wire.SampleStatusRunning || c.Tag() != 0xBEEF {
		t.Errorf("Set while running: status %d tag %#x, want running 0xbeef", c.SampleStatus(), c.Tag())
	}
	res := wire.PortSamplesResult(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortSamplesResult, nil)).Data())
	if res.SampleStatus() != wire.SampleStatusRunning || res.Counter(0) != 0 {
		t.Errorf("result while running: status %d counter0 %d", res.SampleStatus(), res.Counter(0))
	}
	bt.do(t, func() { bt.b.Node().Port(1).Counters.XmitPkts.Add(7) })
	bt.wait(t, 5*time.Millisecond)
	res = wire.PortSamplesResult(wire.PerfMAD(bt.perf(t, wire.MethodGet, wire.AttrPortSamplesResult, nil)).Data())
	// Sampled: the 7 added, and the answers to the Set and the Get sent
	// while the sample ran.
	if res.SampleStatus() != wire.SampleStatusDone || res.Tag() != 0xBEEF || res.Counter(0) != 7+2 {
		t.Errorf("result: status %d tag %#x counter0 %d, want done 0xbeef 9", res.SampleStatus(), res.Tag(), res.Counter(0))
	}
	// The two requests that arrived while it ran, 72 words each.
	if res.Counter(1) != 2*72 || res.Counter(2) != 0 {
		t.Errorf("result counter1 (PortRcvData) %d, want 144; counter2 %d, want 0", res.Counter(1), res.Counter(2))
	}
}

// wait lets d of virtual time pass.
func (bt *bench) wait(t *testing.T, d time.Duration) {
	t.Helper()
	bt.do(t, func() {
		bt.f.Clock().AfterFunc(d, func() { bt.inbox.Push(hca.ReceivedMAD{Port: -1}) })
	})
	if r := bt.recv(t); r.Port != -1 {
		t.Fatalf("unexpected MAD while waiting: %x", r.MAD[:24])
	}
}
