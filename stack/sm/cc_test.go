package sm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// ccOptions is an OpenSM options file enabling the congestion control
// manager, in the syntax `opensm -c` writes, with keys the SM does not
// model among them.
const ccOptions = `# congestion control as a site would set it
congestion_control TRUE
cc_key 0x0000000000001234
cc_max_outstanding_mads 500
cc_sw_cong_setting_control_map 0x1F
cc_sw_cong_setting_victim_mask 0x00000000000000000000000000000000000000000000000000000000000000F0
cc_sw_cong_setting_credit_mask 0x3
cc_sw_cong_setting_threshold 0x07
cc_sw_cong_setting_packet_size 8
cc_sw_cong_setting_credit_starvation_threshold 0x03
cc_sw_cong_setting_credit_starvation_return_delay 1:200
cc_sw_cong_setting_marking_rate 5
cc_ca_cong_setting_port_control 0x0001
cc_ca_cong_setting_control_map 0xFFFF
cc_ca_cong_setting_ccti_timer 0 100
cc_ca_cong_setting_ccti_increase 0 2
cc_ca_cong_setting_trigger_threshold 0 3
cc_ca_cong_setting_ccti_min 0 1
cc_ca_cong_setting_ccti_timer 5 7
cc_cct 0:0,0:1,1:2,2:3,3:16383
sm_priority 7   # a comment after the value
routing_engine lash,updn
log_flags 0x83
transaction_retries 5
max_wire_smps 4
sweep_interval 0
`

func TestApplyOpenSMOptions(t *testing.T) {
	var c sm.Config
	ignored, err := c.ApplyOpenSMOptions("opensm.conf", strings.NewReader(ccOptions))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ignored, []string{"log_flags"}) {
		t.Errorf("ignored %v, want [log_flags]", ignored)
	}
	if c.Priority != 7 || c.Routing != sm.RoutingUpDown {
		t.Errorf("priority %d routing %q, want 7 and updn (lash is not modelled)", c.Priority, c.Routing)
	}
	if c.Retries != 5 || c.Window != 4 || c.SweepInterval >= 0 {
		t.Errorf("retries %d window %d sweep interval %v, want 5, 4 and none", c.Retries, c.Window, c.SweepInterval)
	}
	cc := c.CongestionControl
	if cc == nil {
		t.Fatal("congestion_control TRUE left the manager off")
	}
	var victim, credit [32]byte
	victim[31], credit[31] = 0xF0, 0x03
	want := wire.SwitchCongestionSettingFields{ControlMap: 0x1F, VictimMask: victim, CreditMask: credit, Threshold: 7,
		PacketSize: 8, CSThreshold: 3, CSReturnDelay: 1<<14 | 200, MarkingRate: 5}
	if cc.Key != 0x1234 || cc.Switch != want {
		t.Errorf("key %#x switch %+v, want %+v", cc.Key, cc.Switch, want)
	}
	if cc.CA.PortControl != 1 || cc.CA.ControlMap != 0xFFFF ||
		cc.CA.Entries[0] != (wire.CACongestionEntryFields{CCTITimer: 100, CCTIIncrease: 2, TriggerThreshold: 3, CCTIMin: 1}) ||
		cc.CA.Entries[5].CCTITimer != 7 {
		t.Errorf("ca setting %+v", cc.CA)
	}
	wantCCT := []wire.CCTEntry{{Shift: 0, Multiplier: 0}, {Shift: 0, Multiplier: 1}, {Shift: 1, Multiplier: 2}, {Shift: 2, Multiplier: 3}, {Shift: 3, Multiplier: 16383}}
	if !reflect.DeepEqual(cc.CCT, wantCCT) {
		t.Errorf("cct %v, want %v", cc.CCT, wantCCT)
	}

	// congestion_control FALSE turns it off again; every bad value is
	// reported with its line.
	_, err = c.ApplyOpenSMOptions("bad.conf", strings.NewReader(
		"congestion_control FALSE\ncc_sw_cong_setting_threshold 16\ncc_cct 0:1,4:1\nlmc 9\ncc_ca_cong_setting_ccti_min 16 1\n"))
	if c.CongestionControl != nil {
		t.Error("congestion_control FALSE left the manager on")
	}
	for _, w := range []string{"bad.conf:2:", "bad.conf:3:", "bad.conf:4:", "bad.conf:5:"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not report %s", err, w)
		}
	}
	if !errors.Is(err, sm.ErrConfig) {
		t.Errorf("error %v is not ErrConfig", err)
	}
}

// TestCongestionControlManager: with Config.CongestionControl the SM
// writes, after bringing the subnet up, OpenSM's congestion control
// settings into every switch and CA port that has congestion control (on
// speedsNet: the Quantum, Switch-IB and SwitchX-2, and the ConnectX-3 and
// later), and nothing into the older models, which answer that they have
// none and are then left alone; the next sweep sends nothing, the ports
// holding what the SM wants.
func TestCongestionControlManager(t *testing.T) {
	var c sm.Config
	if _, err := c.ApplyOpenSMOptions("opensm.conf", strings.NewReader(ccOptions)); err != nil {
		t.Fatal(err)
	}
	cc := c.CongestionControl
	// Two table blocks: CCTI_Limit 69.
	cc.CCT = nil
	for i := range 70 {
		cc.CCT = append(cc.CCT, wire.CCTEntry{Shift: uint8(i % 4), Multiplier: uint16(i * 3)})
	}
	topo, err := topology.Load(speedsNet)
	if err != nil {
		t.Fatal(err)
	}
	f := ibtest.New(t, ibtest.FromTopology(topo))
	m := newSM(t, f, "H-cx6", sm.Config{CongestionControl: cc})
	sn := sweep(t, m)
	checkUp(t, f, m, sn)
	if len(sn.Problems) != 0 {
		t.Errorf("sweep problems: %v", sn.Problems)
	}
	var capable, old int
	var sets int
	err = f.Emu.Do(func() {
		for _, s := range f.Switches {
			a := s.Switch.CC()
			if a == nil {
				old++
				continue
			}
			capable++
			sets++
			if got := a.SwitchSetting(); got.Threshold != cc.Switch.Threshold || got.VictimMask != cc.Switch.VictimMask ||
				got.CreditMask != cc.Switch.CreditMask || got.PacketSize != cc.Switch.PacketSize ||
				got.CSThreshold != cc.Switch.CSThreshold || got.CSReturnDelay != cc.Switch.CSReturnDelay ||
				got.MarkingRate != cc.Switch.MarkingRate {
				t.Errorf("%s: SwitchCongestionSetting %+v, want %+v", s.Topo.Desc, got, cc.Switch)
			}
		}
		for _, h := range f.HCAs {
			a := h.Device.CC()
			if a == nil {
				old++
				continue
			}
			capable++
			for num := 1; num <= h.Node.NumPorts(); num++ {
				if p := h.Node.Port(num); p == nil || p.Peer() == nil {
					continue
				}
				sets += 3
				if got := a.CASetting(num); got.PortControl != cc.CA.PortControl || got.ControlMap != cc.CA.ControlMap ||
					got.Entries != cc.CA.Entries {
					t.Errorf("%s port %d: CACongestionSetting %+v, want %+v", h.Topo.Desc, num, got, cc.CA)
				}
				if got := a.CCT(num); !reflect.DeepEqual(got, cc.CCT) {
					t.Errorf("%s port %d: CCT %v, want %v", h.Topo.Desc, num, got, cc.CCT)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if capable < 6 || old < 3 {
		t.Fatalf("%d nodes with congestion control and %d without: speedsNet changed", capable, old)
	}
	if sn.CCMADs < sets {
		t.Errorf("%d congestion control MADs for %d Sets to the capable ports", sn.CCMADs, sets)
	}
	sn = sweep(t, m)
	if sn.CCMADs != 0 || len(sn.Problems) != 0 {
		t.Errorf("second sweep: %d congestion control MADs, problems %v; want none", sn.CCMADs, sn.Problems)
	}
}

// TestCongestionControlKeyMismatch: a CA whose CC_Key is protected and
// differs from cc_key drops the SM's Sets (A10.4.1); the SM reports
// nothing for three sweeps and then leaves the port alone, as OpenSM
// does with a port that keeps timing out.
func TestCongestionControlKeyMismatch(t *testing.T) {
	topo, err := topology.Load(speedsNet)
	if err != nil {
		t.Fatal(err)
	}
	f := ibtest.New(t, ibtest.FromTopology(topo))
	// The subnet up without congestion control first, for the LIDs.
	m0 := newSM(t, f, "H-cx6", sm.Config{})
	sn0 := sweep(t, m0)
	m0.Close()
	var target *agent.CC
	var guid wire.GUID
	_ = f.Emu.Do(func() {
		for _, h := range f.HCAs {
			if a := h.Device.CC(); a != nil && h.Topo.ID != "H-cx6" {
				target, guid = a, h.Device.NodeGUID()
				return
			}
		}
	})
	if target == nil {
		t.Fatal("no congestion control CA besides the SM's")
	}
	const port = 1
	var lid wire.LID
	for _, p := range sn0.EndPorts() {
		if p.Node.GUID() == guid && p.Num == port {
			lid = p.LID
		}
	}
	// A manager protects the port's CC_Key (as ibccconfig
	// CongestionKeyInfo does): the key is 0 until then, so any passes.
	tr, err := f.MADTransport("H-cx6", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassCC, ClassVersion: wire.CCClassVersion}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := make([]byte, wire.MADSize)
	wire.CCMAD(req).Encode(&wire.CCMADFields{Method: wire.MethodSet, AttrID: wire.AttrCongestionKeyInfo})
	wire.CongestionKeyInfo(wire.CCMAD(req).Data()).Encode(&wire.CongestionKeyInfoFields{CCKey: 0x99, CCKeyProtectBit: true})
	if _, err := a.Call(context.Background(), mad.Addr{LID: lid, QPN: 1}, req); err != nil {
		t.Fatalf("set CongestionKeyInfo of lid %d: %v", lid, err)
	}
	a.Close()
	cc := &sm.CongestionControl{Key: 0x1234, CA: wire.CACongestionSettingFields{ControlMap: 1, Entries: [16]wire.CACongestionEntryFields{{CCTITimer: 9}}}}
	m := newSM(t, f, "H-cx6", sm.Config{CongestionControl: cc, Retries: -1})
	var last int
	for i := range 5 {
		sn := sweep(t, m)
		if len(sn.Problems) != 0 {
			t.Errorf("sweep %d problems: %v", i, sn.Problems)
		}
		if i == 4 {
			last = sn.CCMADs
		}
	}
	if last != 0 {
		t.Errorf("the SM still writes to a port that dropped its Sets for 4 sweeps: %d MADs", last)
	}
	var got wire.CACongestionSettingFields
	_ = f.Emu.Do(func() { got = target.CASetting(port) })
	if got.Entries[0].CCTITimer == 9 {
		t.Error("a Set with the wrong CC_Key was applied")
	}
}

func TestCongestionControlRefusesBadSettings(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	tr, err := f.MADTransport(f.FirstHCA().Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range []*sm.CongestionControl{
		{CCT: make([]wire.CCTEntry, sm.MaxCCTEntries+1)},
		{Switch: wire.SwitchCongestionSettingFields{Threshold: 16}},
		{CCT: []wire.CCTEntry{{Shift: 4}}},
	} {
		if _, err := sm.New(tr, sm.Config{CongestionControl: cc}); !errors.Is(err, sm.ErrConfig) {
			t.Errorf("%+v: error %v, want ErrConfig", cc, err)
		}
	}
	// A root_guid_file is read; a missing partition file is not an error
	// (OpenSM runs with the default partition).
	dir := t.TempDir()
	roots := filepath.Join(dir, "roots")
	if err := os.WriteFile(roots, []byte("0x0002c90200000001\n# spine\n0x2c90200000002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var c sm.Config
	if _, err := c.ApplyOpenSMOptions("o.conf", strings.NewReader("root_guid_file "+roots+"\npartition_config_file "+
		filepath.Join(dir, "none")+"\n")); err != nil {
		t.Fatal(err)
	}
	if len(c.Roots) != 2 || c.Roots[1] != 0x2c90200000002 || c.Partitions != nil {
		t.Errorf("roots %v partitions %v", c.Roots, c.Partitions)
	}
}

// TestPortOptions: the link manager writes the PortInfo values of
// PortOptions (OpenSM's head_of_queue_lifetime, vl_stall_count and their
// leaf variants, the error thresholds, max_op_vls and sm_sl) into every
// port, as read back from the emulated devices, and an options file
// sets them.
func TestPortOptions(t *testing.T) {
	var c sm.Config
	if _, err := c.ApplyOpenSMOptions("o.conf", strings.NewReader("head_of_queue_lifetime 0x0e\nleaf_head_of_queue_lifetime 0x0c\n"+
		"vl_stall_count 5\nleaf_vl_stall_count 3\nlocal_phy_errors_threshold 0x04\noverrun_errors_threshold 0x05\nmax_op_vls 2\nsm_sl 3\n")); err != nil {
		t.Fatal(err)
	}
	want := sm.DefaultPortOptions()
	want.HOQLife, want.LeafHOQLife, want.VLStallCount, want.LeafVLStallCount = 0x0E, 0x0C, 5, 3
	want.LocalPhyErrorsThreshold, want.OverrunErrorsThreshold, want.MaxOpVLs, want.SMSL = 4, 5, 2, 3
	if c.Ports == nil || *c.Ports != want {
		t.Fatalf("ports %+v, want %+v", c.Ports, want)
	}
	if _, err := c.ApplyOpenSMOptions("bad.conf", strings.NewReader("max_op_vls 6\nvl_stall_count 8\n")); err == nil ||
		!strings.Contains(err.Error(), "bad.conf:1:") || !strings.Contains(err.Error(), "bad.conf:2:") {
		t.Errorf("out of range values: %v", err)
	}
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{Ports: &want})
	sn := sweep(t, m)
	checkUp(t, f, m, sn)
	pinfo := func(a *agent.SMA, num int) wire.PortInfoFields {
		b := make([]byte, wire.PortInfoSize)
		a.FillPortInfo(wire.PortInfo(b), num, num, true)
		return wire.PortInfo(b).Fields()
	}
	var n int
	err := f.Emu.Do(func() {
		for _, s := range f.Switches {
			for num := 1; num <= s.Node.NumPorts(); num++ {
				p := s.Node.Port(num)
				if p == nil || p.Peer() == nil {
					continue
				}
				pi := pinfo(s.Switch.SMA(), num)
				hoq, stall := want.HOQLife, want.VLStallCount
				if p.Peer().Node().NumPorts() <= 2 { // a CA of the fat tree
					hoq, stall = want.LeafHOQLife, want.LeafVLStallCount
				}
				if pi.HOQLife != hoq || pi.VLStallCount != stall || pi.OperationalVLs != 2 ||
					pi.LocalPhyErrors != 4 || pi.OverrunErrors != 5 {
					t.Errorf("%s port %d: hoq %d stall %d op vls %d thresholds %d/%d", s.Topo.Desc, num, pi.HOQLife,
						pi.VLStallCount, pi.OperationalVLs, pi.LocalPhyErrors, pi.OverrunErrors)
				}
				n++
			}
		}
		for _, h := range f.HCAs {
			if pi := pinfo(h.Device.SMA(), 1); pi.MasterSMSL != 3 || pi.OperationalVLs != 2 {
				t.Errorf("%s: MasterSMSL %d, op vls %d; want 3 and 2", h.Topo.Desc, pi.MasterSMSL, pi.OperationalVLs)
			}
		}
	})
	if err != nil || n == 0 {
		t.Fatalf("%d switch ports checked: %v", n, err)
	}
}

// TestForceLinkOptions: force_link_width, force_link_speed,
// force_link_speed_ext and fdr10 as OpenSM's link manager applies them:
// on speedsNet with 1X, SDR, no extended speeds and FDR10 off, every
// link port enables exactly those (the links keep the rate they trained
// at until they next train), and the options file reads them.
func TestForceLinkOptions(t *testing.T) {
	var c sm.Config
	if _, err := c.ApplyOpenSMOptions("o.conf", strings.NewReader(
		"force_link_width 1\nforce_link_speed 1\nforce_link_speed_ext 30\nfdr10 2\n")); err != nil {
		t.Fatal(err)
	}
	po := c.Ports
	if po == nil || po.ForceLinkWidth != wire.Width1X || po.ForceLinkSpeed != wire.SpeedSDR || po.ForceLinkSpeedExt != 30 ||
		po.FDR10 != sm.FDR10Disable {
		t.Fatalf("ports %+v", po)
	}
	topo, err := topology.Load(speedsNet)
	if err != nil {
		t.Fatal(err)
	}
	f := ibtest.New(t, ibtest.FromTopology(topo))
	m := newSM(t, f, "H-cx6", c)
	sn := sweep(t, m)
	checkUp(t, f, m, sn)
	if len(sn.Problems) != 0 {
		t.Errorf("sweep problems: %v", sn.Problems)
	}
	for _, l := range f.Topology.Links() {
		for _, end := range []*topology.Port{l.A, l.B} {
			var en wire.LinkSpeed
			var wen uint8
			_ = f.Emu.Do(func() {
				p := f.Node(end.Node.ID).Port(end.Num)
				en, wen = p.SpeedEnabled(), p.WidthEnabled()
			})
			if wire.LinkWidth(wen) != wire.Width1X || en.Base() != uint8(wire.SpeedSDR) || en.HasFDR10() {
				t.Errorf("%s port %d: widths enabled %#x, speeds %#x (FDR10 %v); want 1X, SDR and no FDR10",
					end.Node.ID, end.Num, wen, en, en.HasFDR10())
			}
		}
	}
}

func TestPartEnforceOption(t *testing.T) {
	for _, tc := range []struct {
		file string
		want sm.PartEnforce
	}{
		{"part_enforce out\n", sm.PartEnforceOut},
		{"part_enforce in\nno_partition_enforcement FALSE\n", sm.PartEnforceIn},
		{"no_partition_enforcement TRUE\npart_enforce both\n", sm.PartEnforceOff}, // TRUE wins, as in OpenSM
	} {
		var c sm.Config
		if _, err := c.ApplyOpenSMOptions("o.conf", strings.NewReader(tc.file)); err != nil {
			t.Fatal(err)
		}
		if c.Ports == nil || c.Ports.PartEnforce != tc.want {
			t.Errorf("%q: %+v, want part enforce %d", tc.file, c.Ports, tc.want)
		}
	}
	var c sm.Config
	if _, err := c.ApplyOpenSMOptions("o.conf", strings.NewReader("part_enforce sideways\n")); err == nil {
		t.Error("part_enforce sideways accepted")
	}
}
