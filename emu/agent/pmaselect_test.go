package agent_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// TestPMACAPortSelect: a two-port CA's PMA answers PortCounters and
// PortCountersExtended for the port the request arrived on (PortSelect
// its number, or 0) and refuses the other port with 0x001C, as ibsim
// does; `perfquery LID2 1` to port 2's LID used to read port 1's
// counters. Found by TestDifferentialRandomNets.
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
	pma := agent.NewPMA(wire.NodeTypeCA, agent.PMAConfig{})
	for attr, name := range map[wire.AttrID]string{wire.AttrPortCounters: "PortCounters", wire.AttrPortCountersExtended: "PortCountersExtended"} {
		for _, tc := range []struct {
			arrival, sel int
			want         wire.MADStatus
		}{
			{1, 1, wire.MADStatusOK},
			{2, 2, wire.MADStatusOK},
			{2, 0, wire.MADStatusOK},
			{2, 1, wire.MADStatusInvalidField},
			{1, 2, wire.MADStatusInvalidField},
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
		}
	}
}
