package agent_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// TestPMACAPortSelect: a two-port CA's PMA answers PortCounters and
// PortCountersExtended for the port PortSelect names, whichever port the
// request arrived on (the adapter firmware's one PMA, so `perfquery -a`
// reads both ports), for the arrival port with PortSelect 0, and refuses
// a port the CA does not have with 0x001C. ibsim refuses the other port
// instead; the differential test against it does not read counters.
func TestPMACAPortSelect(t *testing.T) {
	f := emu.New()
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedSDR}
	ca, err := f.AddNode("ca", wire.NodeTypeCA, 2, &countDev{}, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := f.AddNode("sw", wire.NodeTypeSwitch, 2, &countDev{}, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := f.Connect(ca.Port(i), sw.Port(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	b := &pmaBench{f: f, ca: ca, sw: sw}
	// Each port's SymbolErrorCounter tells the ports apart.
	if err := f.Do(func() {
		ca.Port(1).Counters.SymbolErrors.Store(5)
		ca.Port(2).Counters.SymbolErrors.Store(9)
	}); err != nil {
		t.Fatal(err)
	}
	pma := agent.NewPMA(wire.NodeTypeCA, agent.PMAConfig{})
	for attr, name := range map[wire.AttrID]string{wire.AttrPortCounters: "PortCounters", wire.AttrPortCountersExtended: "PortCountersExtended"} {
		for _, tc := range []struct {
			arrival, sel int
			want         wire.MADStatus
		}{
			{1, 1, wire.MADStatusOK},
			{2, 2, wire.MADStatusOK},
			{2, 0, wire.MADStatusOK},
			{2, 1, wire.MADStatusOK},
			{1, 2, wire.MADStatusOK},
			{1, 3, wire.MADStatusInvalidField},
		} {
			d := make([]byte, wire.PMADataSize)
			d[1] = byte(tc.sel) // PortSelect, in both attributes
			st, out := b.perf(t, pma, ca.Port(tc.arrival), wire.MethodGet, attr, d)
			if st != tc.want {
				t.Errorf("%s PortSelect %d on port %d: %s, want %s", name, tc.sel, tc.arrival, st, tc.want)
			}
			if st == wire.MADStatusOK && int(out[1]) != tc.sel {
				t.Errorf("%s PortSelect %d on port %d: reply PortSelect %d", name, tc.sel, tc.arrival, out[1])
			}
			if st == wire.MADStatusOK && attr == wire.AttrPortCounters {
				want := tc.sel
				if want == 0 {
					want = tc.arrival
				}
				if got, exp := wire.PortCounters(out).SymbolErrorCounter(), map[int]uint16{1: 5, 2: 9}[want]; got != exp {
					t.Errorf("PortSelect %d on port %d: SymbolErrorCounter %d, want port %d's %d", tc.sel, tc.arrival, got, want, exp)
				}
			}
		}
	}
}
