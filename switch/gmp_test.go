package ibswitch_test

import (
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

func TestPMAPortCountersAndAllPortSelect(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	const n = 5
	tf.do(func() {
		for i := range n {
			cas[0].port().Send(dataFrame(t, 1, 2, 0, 0xFFFF, uint32(i), 200))
			cas[2].port().Send(dataFrame(t, 3, 2, 0, 0xFFFF, uint32(i), 200))
		}
	})
	tf.settle()
	words := uint64(len(dataFrame(t, 1, 2, 0, 0xFFFF, 0, 200)) / 4)
	query := func(sel uint8) wire.PortCounters {
		t.Helper()
		d := make([]byte, wire.PMADataSize)
		wire.PortCounters(d).SetPortSelect(sel)
		r := tf.gmp(cas[0], 100, wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters, 0, d, wire.PMADataOffset)
		if r.Status() != 0 {
			t.Fatalf("PortCounters PortSelect %d: status %v", sel, r.Status())
		}
		return wire.PortCounters(r[wire.PMADataOffset:])
	}
	// All ports at once: port 1 and 3 received 5 frames each (port 1
	// also this request), port 2 sent 10.
	all := query(0xFF)
	if all.PortXmitPkts() != 2*n || all.PortRcvPkts() != 2*n+1 || uint64(all.PortXmitData()) != 2*n*words {
		t.Errorf("AllPortSelect: xmit %d rcv %d xmitdata %d", all.PortXmitPkts(), all.PortRcvPkts(), all.PortXmitData())
	}
	if p2 := query(2); p2.PortXmitPkts() != 2*n || p2.PortRcvPkts() != 0 || p2.PortSelect() != 2 {
		t.Errorf("port 2: xmit %d rcv %d", p2.PortXmitPkts(), p2.PortRcvPkts())
	}
	if p3 := query(3); p3.PortRcvPkts() != n || p3.PortXmitPkts() != 0 {
		t.Errorf("port 3: xmit %d rcv %d", p3.PortXmitPkts(), p3.PortRcvPkts())
	}
	// A relay error shows up in the port's PortCounters.
	tf.do(func() { cas[2].port().Send(dataFrame(t, 3, 999, 0, 0xFFFF, 0, 8)) })
	tf.settle()
	if p3 := query(3); p3.PortRcvSwitchRelayErrors() != 1 {
		t.Errorf("port 3 relay errors %d", p3.PortRcvSwitchRelayErrors())
	}
	// A port the switch does not have is an invalid field.
	d := make([]byte, wire.PMADataSize)
	wire.PortCounters(d).SetPortSelect(9)
	if r := tf.gmp(cas[0], 100, wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters, 0, d, wire.PMADataOffset); r.Status() != wire.MADStatusInvalidField {
		t.Errorf("PortSelect 9: status %v", r.Status())
	}
	// ClassPortInfo advertises AllPortSelect.
	r := tf.gmp(cas[0], 100, wire.MgmtClassPerf, wire.MethodGet, wire.AttrClassPortInfo, 0, nil, 0)
	if cpi := wire.ClassPortInfo(r[wire.PMADataOffset:]); cpi.CapabilityMask()&wire.PerfCapAllPortSelect == 0 {
		t.Errorf("PMA capability mask %04x", cpi.CapabilityMask())
	}
	if st := s.Stats(); st.GMPReplies < 5 {
		t.Errorf("GMP replies %d", st.GMPReplies)
	}
}

func TestVendorGeneralInfo(t *testing.T) {
	tf, _, cas := star(t, 2, "IS3")
	tf.sleep(3 * time.Second)
	// vendstat asks ClassPortInfo first, then GeneralInfo.
	r := tf.gmp(cas[0], 100, wire.MgmtClassMellanox, wire.MethodGet, wire.AttrClassPortInfo, 0, nil, 0)
	if r.Status() != 0 {
		t.Fatalf("vendor ClassPortInfo: %v", r.Status())
	}
	r = tf.gmp(cas[0], 100, wire.MgmtClassMellanox, wire.MethodGet, wire.AttrVendorGeneralInfo, 0, nil, 0)
	if r.Status() != 0 {
		t.Fatalf("GeneralInfo: %v", r.Status())
	}
	gi := wire.MellanoxGeneralInfo(r[wire.VendorRange1DataOffset:])
	maj, min, sub := gi.FWVersion()
	if gi.HWDeviceID() != 0xB924 || maj != 2 || min != 8 || sub != 0 || gi.PSID() != "MT_0130000001" {
		t.Errorf("GeneralInfo dev %04x fw %d.%d.%d psid %q", gi.HWDeviceID(), maj, min, sub, gi.PSID())
	}
	if up := gi.HWUptime(); up < 3 {
		t.Errorf("uptime %d s after 3 s", up)
	}
	// A class the switch has no agent for: Get is refused with 0x000C.
	r = tf.gmp(cas[0], 100, wire.MgmtClassDevMgt, wire.MethodGet, wire.AttrClassPortInfo, 0, nil, 0)
	if r.Status() != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("DevMgt Get: %v", r.Status())
	}
}

// smAt makes CA a the SM of switch s: port 0 gets LID 100 and
// MasterSMLID 1 (a's LID) through a directed-route PortInfo Set.
func smAt(t *testing.T, tf *testFabric, a *testCA) {
	t.Helper()
	pi := make([]byte, 64)
	wire.PortInfo(pi).SetLID(100)
	wire.PortInfo(pi).SetMasterSMLID(1)
	if r := tf.smp(a, dr(wire.MethodSet, wire.AttrPortInfo, 0, pi)); r.Status() != 0 {
		t.Fatalf("PortInfo Set: %v", r.Status())
	}
}

// traps returns the Trap(Notice) SMPs a received.
func traps(tf *testFabric, a *testCA) []wire.SMP {
	var out []wire.SMP
	for _, f := range tf.take(a) {
		af, err := agent.ParseFrame(f)
		if err == nil && af.MAD.MgmtClass() == wire.MgmtClassSubnLID && af.MAD.Method() == wire.MethodTrap {
			out = append(out, wire.SMP(af.MAD))
		}
	}
	return out
}

func TestTrap128OnLinkDown(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	a := cas[0]
	smAt(t, tf, a)
	tf.do(func() { tf.f.Links()[2].SetCut(true) }) // C's link
	tf.settle()
	ts := traps(tf, a)
	if len(ts) != 1 {
		t.Fatalf("A received %d traps, want 1", len(ts))
	}
	tr := ts[0]
	n := wire.Notice(tr.Data()).Fields()
	if tr.MAD().AttrID() != wire.AttrNotice || n.TrapNumber != 128 || !n.IsGeneric || n.IssuerLID != 100 ||
		n.ProducerType != wire.ProducerSwitch || n.Type != wire.NoticeTypeUrgent {
		t.Errorf("trap %+v", n)
	}
	if !s.SwitchInfo().PortStateChange {
		t.Error("PortStateChange not set")
	}
	// The SM represses it: no repeat follows, and TrapRepress gets no
	// answer.
	repress(t, tf, a, tr)
	tf.sleep(10 * time.Second)
	if n := len(tf.take(a)); n != 0 {
		t.Errorf("%d frames after TrapRepress", n)
	}
}

// repress sends the TrapRepress for trap tr from a (LID 1) to the switch
// (LID 100), as the SM does.
func repress(t *testing.T, tf *testFabric, a *testCA, tr wire.SMP) {
	t.Helper()
	tf.do(func() {
		smp := wire.SMP(make([]byte, wire.MADSize))
		f := wire.SMPFields{Method: wire.MethodTrapRepress, TID: tr.MAD().TID(), AttrID: wire.AttrNotice}
		copy(f.Data[:], tr.Data())
		smp.Encode(&f)
		ad := agent.Addr{DLID: 100, SLID: 1, PKey: 0xFFFF}
		fr, err := agent.AppendFrame(nil, &ad, smp)
		must(t, err)
		a.port().Send(fr)
	})
}

func TestTrap128RepeatsUntilRepressed(t *testing.T) {
	tf := newTestFabric(t)
	s, err := ibswitch.Add(tf.f, "S", ibswitch.Config{NumPorts: 4, NodeGUID: 0x77,
		TrapRetry: 500 * time.Millisecond, TrapRetries: 2})
	must(t, err)
	var cas []*testCA
	for i := 1; i <= 3; i++ {
		c := tf.addCA(string(rune('A'+i-1)), wire.LID(i))
		tf.connect(c.port(), s.Node().Port(i))
		must(t, s.SetRoute(wire.LID(i), uint8(i)))
		cas = append(cas, c)
	}
	tf.start()
	a := cas[0]
	smAt(t, tf, a)
	tf.do(func() { tf.f.Links()[2].SetCut(true) })
	tf.sleep(400 * time.Millisecond)
	if ts := traps(tf, a); len(ts) != 1 {
		t.Fatalf("%d traps before the first repeat is due", len(ts))
	}
	tf.sleep(10 * time.Second)
	// Repeated TrapRetries (2) times, TrapRetry apart, then given up.
	if ts := traps(tf, a); len(ts) != 2 {
		t.Fatalf("unrepressed trap repeated %d times, want 2", len(ts))
	}
	// Link back up: a new trap; repress it and nothing more arrives.
	tf.do(func() { tf.f.Links()[2].SetCut(false) })
	tf.settle()
	ts := traps(tf, a)
	if len(ts) != 1 {
		t.Fatalf("%d traps for link up", len(ts))
	}
	repress(t, tf, a, ts[0])
	tf.sleep(10 * time.Second)
	if ts := traps(tf, a); len(ts) != 0 {
		t.Errorf("%d repeats after TrapRepress", len(ts))
	}
	var pending int
	tf.do(func() { pending = len(s.SMA().PendingTraps()) })
	if pending != 0 {
		t.Errorf("%d traps still pending", pending)
	}
	if len(s.TrapTIDs()) != 2 {
		t.Errorf("trap TIDs %v", s.TrapTIDs())
	}
}

func TestNoTrapWithoutSMOrRoute(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	a := cas[0]
	// No LID, no SM: nothing.
	tf.do(func() { must(t, s.SetLID(0, 0)) })
	tf.do(func() { tf.f.Links()[2].SetCut(true) })
	tf.settle()
	if n := len(traps(tf, a)); n != 0 {
		t.Errorf("%d traps without a LID", n)
	}
	// LID and SM, but no route to the SM's LID.
	smAt(t, tf, a)
	tf.do(func() { must(t, s.SetRoute(1, ibswitchDrop)) })
	tf.do(func() { tf.f.Links()[2].SetCut(false) })
	tf.settle()
	if n := len(traps(tf, a)); n != 0 {
		t.Errorf("%d traps without a route", n)
	}
	if !s.SwitchInfo().PortStateChange {
		t.Error("PortStateChange not set")
	}
}

const ibswitchDrop = 0xFF
