package sm_test

import (
	"fmt"
	"testing"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// openSMSL2VL is OpenSM's OSM_DEFAULT_QOS_SL2VL masked to ops, the
// OperationalVLs code of the port (VL15 stays).
func openSMSL2VL(ops uint8) [16]uint8 {
	mask := uint8(1<<(ops-1)) - 1
	t := [16]uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 7}
	for i := range t {
		if t[i] != 15 {
			t[i] &= mask
		}
	}
	return t
}

// readTables reads a port's SMA tables on the event loop.
func readTables(t *testing.T, f *ibtest.UpFabric, sma func() *agent.SMA, num int) (sl2vl [][16]uint8, low, high []wire.VLArbEntry, ops, highLimit uint8) {
	t.Helper()
	err := f.Emu.Do(func() {
		pa := sma().Port(num)
		for in := range pa.NumSLtoVLRows() {
			sl2vl = append(sl2vl, pa.SLtoVLRow(in))
		}
		for i := range int(pa.Config.VLArbLowCap) {
			low = append(low, pa.VLArbLow(i))
		}
		for i := range int(pa.Config.VLArbHighCap) {
			high = append(high, pa.VLArbHigh(i))
		}
		ops, highLimit = pa.OperationalVLs, pa.VLHighLimit
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

// TestQoSOffLeavesTables: as OpenSM with its default "qos FALSE", the SM
// writes no SL-to-VL or VL arbitration table: a table changed on a switch
// port before the sweep is still there afterwards, and the CA ports keep
// their power-on tables.
func TestQoSOffLeavesTables(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	sw := f.Switches[0].Switch
	marked := [16]uint8{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	var before [16]uint8
	if err := f.Emu.Do(func() {
		before = f.HCAs[1].Device.SMA().Port(1).SLtoVLRow(0)
		sw.SMA().Port(2).SetSLtoVLRow(1, marked)
		sw.SMA().Port(2).SetVLArbLow(0, wire.VLArbEntry{VL: 2, Weight: 9})
	}); err != nil {
		t.Fatal(err)
	}
	m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{})
	sweep(t, m)
	if err := f.Emu.Do(func() {
		if got := sw.SMA().Port(2).SLtoVLRow(1); got != marked {
			t.Errorf("switch port 2 SL-to-VL from port 1 rewritten with qos off: %v", got)
		}
		if got := sw.SMA().Port(2).VLArbLow(0); got != (wire.VLArbEntry{VL: 2, Weight: 9}) {
			t.Errorf("switch port 2 VLArbitration rewritten with qos off: %+v", got)
		}
		if got := f.HCAs[1].Device.SMA().Port(1).SLtoVLRow(0); got != before {
			t.Errorf("CA SL-to-VL changed with qos off: %v, was %v", got, before)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// TestQoSProgramsSwitchAndCAPorts: with QoS on, every switch output port
// gets OpenSM's default VL arbitration tables and one SL-to-VL table per
// input port, every CA port its VL arbitration and SL-to-VL tables, and
// PortInfo.VLHighLimit is OpenSM's 0; data still flows (the subnet is up
// and LID-routed SMPs reach every port).
func TestQoSProgramsSwitchAndCAPorts(t *testing.T) {
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{QoS: true, SweepInterval: -1})
	check := func(what string, sl2vl [][16]uint8, rows []int, low, high []wire.VLArbEntry, ops, highLimit uint8) {
		t.Helper()
		if ops == 0 {
			t.Fatalf("%s: no operational VLs", what)
		}
		mask := uint8(1<<(ops-1)) - 1
		want := openSMSL2VL(ops)
		for _, r := range rows {
			if sl2vl[r] != want {
				t.Errorf("%s: SL-to-VL from input %d is %v, want %v", what, r, sl2vl[r], want)
			}
		}
		for i, e := range low {
			w := wire.VLArbEntry{}
			if i < 15 {
				w = wire.VLArbEntry{VL: uint8(i) & mask, Weight: 4}
				if i == 0 {
					w.Weight = 0
				}
			}
			if e != w {
				t.Errorf("%s: VLArbitration low entry %d is %+v, want %+v", what, i, e, w)
			}
		}
		for i, e := range high {
			w := wire.VLArbEntry{}
			if i < 15 {
				w.VL = uint8(i) & mask
			}
			if i == 0 {
				w.Weight = 4
			}
			if e != w {
				t.Errorf("%s: VLArbitration high entry %d is %+v, want %+v", what, i, e, w)
			}
		}
		if highLimit != 0 {
			t.Errorf("%s: VLHighLimit %d, want 0", what, highLimit)
		}
	}
	for _, s := range f.Switches {
		var ins []int
		ins = append(ins, 0)
		for p := 1; p <= s.Topo.NumPorts; p++ {
			if s.Topo.Ports[p] != nil && s.Topo.Ports[p].Remote != nil {
				ins = append(ins, p)
			}
		}
		for _, out := range ins[1:] {
			sl2vl, low, high, ops, hl := readTables(t, f, s.Switch.SMA, out)
			check(fmt.Sprintf("%s port %d", s.Topo.Desc, out), sl2vl, ins, low, high, ops, hl)
		}
	}
	for _, h := range f.HCAs {
		sl2vl, low, high, ops, hl := readTables(t, f, h.Device.SMA, 1)
		check(h.Topo.Desc, sl2vl, []int{0}, low, high, ops, hl)
	}
	if len(f.Subnet.Problems) > 0 {
		t.Fatalf("sweep problems: %v", f.Subnet.Problems)
	}
	checkUp(t, f.Fabric, f.SM, f.Subnet)
}
