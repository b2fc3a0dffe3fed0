package ibswitch_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// enhancedStar is a 4-port switch whose profile says enhanced port 0 (as
// stack/fabric builds one from a topology's "enhanced port 0"), with CA A
// (LID 1) on port 1; port 0 has LID 100.
func enhancedStar(t *testing.T, enhanced bool) (*testFabric, *ibswitch.Switch, *testCA) {
	t.Helper()
	tf := newTestFabric(t)
	p := ibswitch.DefaultProfile()
	p.EnhancedPort0 = enhanced
	s, err := ibswitch.Add(tf.f, "S1", ibswitch.Config{Profile: p, NumPorts: 4, NodeGUID: 0x0002c90200000100})
	if err != nil {
		t.Fatal(err)
	}
	tf.sw = append(tf.sw, s)
	a := tf.addCA("A", 1)
	tf.connect(a.port(), s.Node().Port(1))
	must(t, s.SetRoute(1, 1))
	must(t, s.SetLID(100, 0))
	tf.start()
	tf.activate()
	return tf, s, a
}

// TestEnhancedPort0SwitchInfo: SwitchInfo.EnhancedPort0 (IBTA Vol 1
// §14.2.5.4) follows the profile, is what a Get reads and is a capability
// a Set cannot change.
func TestEnhancedPort0SwitchInfo(t *testing.T) {
	for _, enhanced := range []bool{false, true} {
		tf, _, a := enhancedStar(t, enhanced)
		r := tf.smp(a, dr(wire.MethodGet, wire.AttrSwitchInfo, 0, nil))
		si := wire.SwitchInfo(r.Data())
		if r.Status() != 0 || si.EnhancedPort0() != enhanced {
			t.Fatalf("enhanced %v: SwitchInfo status %v, EnhancedPort0 %v", enhanced, r.Status(), si.EnhancedPort0())
		}
		f := si.Fields()
		f.EnhancedPort0 = !enhanced
		buf := make([]byte, wire.SwitchInfoSize)
		wire.SwitchInfo(buf).Encode(&f)
		r = tf.smp(a, dr(wire.MethodSet, wire.AttrSwitchInfo, 0, buf))
		if r.Status() != 0 || wire.SwitchInfo(r.Data()).EnhancedPort0() != enhanced {
			t.Errorf("enhanced %v: a Set changed EnhancedPort0 (status %v, now %v)", enhanced, r.Status(), wire.SwitchInfo(r.Data()).EnhancedPort0())
		}
	}
}

// TestEnhancedPort0Attributes: what OpenSM and the diags use on an
// enhanced port 0 (osm_link_mgr sets its PortInfo like an end port's,
// osm_qos programs SL-to-VL with output port 0 and port 0's VL
// arbitration, the PerfMgr and perfquery read PortSelect 0) is served on
// port 0.
func TestEnhancedPort0Attributes(t *testing.T) {
	tf, s, a := enhancedStar(t, true)
	pi := make([]byte, wire.PortInfoSize)
	wire.PortInfo(pi).SetLID(100)
	wire.PortInfo(pi).SetMasterSMLID(1)
	wire.PortInfo(pi).SetNeighborMTU(wire.MTU1024)
	wire.PortInfo(pi).SetOperationalVLs(2)
	r := tf.smp(a, dr(wire.MethodSet, wire.AttrPortInfo, 0, pi))
	got := wire.PortInfo(r.Data())
	if r.Status() != 0 || got.NeighborMTU() != wire.MTU1024 || got.OperationalVLs() != 2 || got.MasterSMLID() != 1 || got.PortState() != wire.PortStateActive {
		t.Errorf("port 0 PortInfo Set: status %v, mtu %v, opvls %d, smlid %d, state %s", r.Status(), got.NeighborMTU(), got.OperationalVLs(), got.MasterSMLID(), got.PortState())
	}
	sl2vl := make([]byte, wire.SLtoVLMappingTableSize)
	wire.SLtoVLMappingTable(sl2vl).SetVL(3, 1)
	// input port 1, output port 0
	if r := tf.smp(a, dr(wire.MethodSet, wire.AttrSLtoVLMappingTable, 1<<8, sl2vl)); r.Status() != 0 || wire.SLtoVLMappingTable(r.Data()).VL(3) != 1 {
		t.Errorf("SL-to-VL 1->0 Set: status %v", r.Status())
	}
	if r := tf.smp(a, dr(wire.MethodGet, wire.AttrVLArbitrationTable, uint32(wire.VLArbLowBlock0)<<16, nil)); r.Status() != 0 {
		t.Errorf("port 0 VLArbitration low block: status %v", r.Status())
	}
	m := tf.gmp(a, s.LID(), wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters, 0, []byte{0, 0}, wire.PMADataOffset)
	if m.Status() != 0 || wire.PerfMAD(m).Data()[1] != 0 {
		t.Errorf("PMA PortCounters PortSelect 0: status %v", m.Status())
	}
}
