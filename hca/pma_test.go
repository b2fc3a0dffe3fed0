package hca_test

import (
	"strings"
	"testing"
	"time"

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

	// PortSelect: a CA serves its own ports only; 0 is the arrival port
	// (perfquery LID without a port).
	for _, c := range []struct {
		sel  uint8
		want wire.MADStatus
	}{{2, wire.MADStatusOK}, {0, wire.MADStatusOK}, {3, wire.MADStatusInvalidField}, {0xFF, wire.MADStatusInvalidField}} {
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
		{"perf PortSamplesControl", wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrPortSamplesControl, wire.MADStatusUnsupportedMethodAttr},
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
