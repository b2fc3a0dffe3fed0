package sm

import (
	"log/slog"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestLinkRate: the rate of every width at every speed, OpenSM's
// ib_port_info_compute_rate: the extended speed when the port has them,
// else the base one (an FDR10 link shows QDR: 40 Gb/s at 4X).
func TestLinkRate(t *testing.T) {
	for _, c := range []struct {
		w    wire.LinkWidth
		base wire.LinkSpeed
		ext  wire.LinkSpeed
		x    bool
		want wire.Rate
	}{
		{wire.Width1X, wire.SpeedSDR, 0, false, wire.Rate2_5Gbps},
		{wire.Width4X, wire.SpeedSDR, 0, false, wire.Rate10Gbps},
		{wire.Width12X, wire.SpeedDDR, 0, false, wire.Rate60Gbps},
		{wire.Width4X, wire.SpeedQDR, 0, true, wire.Rate40Gbps}, // FDR10 and QDR
		{wire.Width2X, wire.SpeedQDR, 0, false, wire.Rate20Gbps},
		{wire.Width4X, wire.SpeedQDR, wire.SpeedFDR, true, wire.Rate56Gbps},
		{wire.Width4X, wire.SpeedQDR, wire.SpeedFDR, false, wire.Rate40Gbps}, // extended speeds not read
		{wire.Width1X, wire.SpeedQDR, wire.SpeedFDR, true, wire.Rate14Gbps},
		{wire.Width2X, wire.SpeedQDR, wire.SpeedFDR, true, wire.Rate28Gbps},
		{wire.Width12X, wire.SpeedQDR, wire.SpeedFDR, true, wire.Rate168Gbps},
		{wire.Width4X, wire.SpeedQDR, wire.SpeedEDR, true, wire.Rate100Gbps},
		{wire.Width1X, wire.SpeedQDR, wire.SpeedEDR, true, wire.Rate25Gbps},
		{wire.Width12X, wire.SpeedQDR, wire.SpeedEDR, true, wire.Rate300Gbps},
		{wire.Width4X, wire.SpeedQDR, wire.SpeedHDR, true, wire.Rate200Gbps},
		{wire.Width2X, wire.SpeedQDR, wire.SpeedHDR, true, wire.Rate100Gbps}, // HDR100
		{wire.Width1X, wire.SpeedQDR, wire.SpeedHDR, true, wire.Rate50Gbps},
		{wire.Width8X, wire.SpeedQDR, wire.SpeedHDR, true, wire.Rate400Gbps},
		{wire.Width4X, wire.SpeedQDR, wire.SpeedNDR, true, wire.Rate400Gbps},
		{0, wire.LinkSpeed(0), 0, false, wire.Rate2_5Gbps},
	} {
		pi := wire.PortInfoFields{LinkWidthActive: c.w, LinkSpeedActive: c.base, LinkSpeedExtActive: c.ext.Ext()}
		if got := linkRate(&pi, c.x); got != c.want {
			t.Errorf("%v %v ext %v (extended %v): %v, want %v", c.w, c.base, c.ext, c.x, got, c.want)
		}
	}
}

// TestRateOrder: rates compare and step by the data they carry, as
// OpenSM's ordered_rates: 25 Gb/s (EDR 1X) above 30 (12X SDR), 100 (4X
// EDR) above 120 (12X QDR), and the rate below 40 Gb/s is 28 (FDR 2X).
func TestRateOrder(t *testing.T) {
	for _, c := range []struct {
		a, b wire.Rate
		want int
	}{
		{wire.Rate25Gbps, wire.Rate30Gbps, 1},
		{wire.Rate100Gbps, wire.Rate120Gbps, 1},
		{wire.Rate50Gbps, wire.Rate60Gbps, 1},
		{wire.Rate14Gbps, wire.Rate20Gbps, -1},
		{wire.Rate56Gbps, wire.Rate56Gbps, 0},
		{wire.Rate40Gbps, wire.Rate56Gbps, -1},
		{wire.Rate1200Gbps, wire.Rate800Gbps, 1},
	} {
		if got := compareRates(c.a, c.b); got != c.want {
			t.Errorf("compareRates(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := slowerRate(wire.Rate120Gbps, wire.Rate100Gbps); got != wire.Rate120Gbps {
		t.Errorf("slower of 120 and 100 Gb/s: %v, want 120 Gbps (96 of data)", got)
	}
	for _, c := range []struct{ r, prev, next wire.Rate }{
		{wire.Rate40Gbps, wire.Rate28Gbps, wire.Rate60Gbps},
		{wire.Rate56Gbps, wire.Rate50Gbps, wire.Rate80Gbps},
		{wire.Rate2_5Gbps, 0, wire.Rate5Gbps},
		{wire.Rate1200Gbps, wire.Rate800Gbps, 0},
		{wire.Rate10Gbps, wire.Rate5Gbps, wire.Rate14Gbps},
	} {
		if p, n := ratePrev(c.r), rateNext(c.r); p != c.prev || n != c.next {
			t.Errorf("%v: prev %v next %v, want %v and %v", c.r, p, n, c.prev, c.next)
		}
	}
	// Every rate code has its own rank.
	seen := map[uint8]wire.Rate{}
	for r := minRate; r <= maxRate; r++ {
		k := rateRank(r)
		if k == 0 {
			t.Errorf("%v has no rank", r)
		}
		if o, dup := seen[k]; dup {
			t.Errorf("%v and %v share rank %d", r, o, k)
		}
		seen[k] = r
	}
}

// TestMlnxExtPortInfoSupported: the devices OpenSM asks MlnxExtPortInfo
// of.
func TestMlnxExtPortInfoSupported(t *testing.T) {
	for dev, want := range map[uint16]bool{0xC738: true, 0xCB20: true, 0xCF08: true, 0xD2F0: true, 0x1003: true,
		0x1007: true, 0x1013: true, 0x101B: true, 0x673C: false, 0xBD36: false, 0x6282: false, 0x1bf0: false} {
		if got := mlnxExtPortInfoSupported(vendorMellanox, dev); got != want {
			t.Errorf("device %#04x: %v, want %v", dev, got, want)
		}
	}
	if !mlnxExtPortInfoSupported(vendorBull, 0x1bf0) {
		t.Error("Bull Quantum (0x1bf0) not supported")
	}
}

// TestConfigFieldsExtendedSpeeds: the Set without a state change of a
// port with extended speeds carries SMSupportsExtendedSpeeds (modifier
// bit 31) and LinkSpeedExtEnabled 31 when both ends have them, 255 in
// LinkWidthEnabled on a 2X-capable port, and LinkSpeedEnabled 15; the
// Sets that arm and activate the port write the enables back as read,
// without bit 31, as OpenSM's link manager does.
func TestConfigFieldsExtendedSpeeds(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	m := &SM{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	sw := &Node{Info: wire.NodeInfoFields{NodeType: wire.NodeTypeSwitch, NumPorts: 1}}
	ca := &Node{Info: wire.NodeInfoFields{NodeType: wire.NodeTypeCA, NumPorts: 1}}
	ext := wire.PortCapIsExtendedSpeedsSupported
	sw.Ports = []*Port{
		{Node: sw, Num: 0, Read: true, Info: wire.PortInfoFields{CapabilityMask: ext, CapabilityMask2: capMask2LinkWidth2X}},
		{Node: sw, Num: 1, Read: true},
	}
	ca.Ports = []*Port{nil, {Node: ca, Num: 1, Read: true, LID: 5}}
	sp, cp := sw.Ports[1], ca.Ports[1]
	sp.Remote, cp.Remote = cp, sp
	link := wire.PortInfoFields{PortState: wire.PortStateInit, PortPhysicalState: wire.PhysStateLinkUp,
		LinkWidthSupported: wire.Width1X | wire.Width4X | wire.Width2X, LinkWidthEnabled: wire.Width4X, LinkWidthActive: wire.Width4X,
		LinkSpeedSupported: 7, LinkSpeedEnabled: 4, LinkSpeedExtSupported: 7, LinkSpeedExtEnabled: 4, LinkSpeedExtActive: 4}
	sp.Info = link
	cp.Info = link
	cp.Info.CapabilityMask = ext
	cp.Info.CapabilityMask2 = capMask2LinkWidth2X
	sn := &Subnet{Nodes: []*Node{sw, ca}, Local: cp}

	for _, p := range []*Port{sp, cp} {
		f, mod, changed := m.configFields(sn, p, wire.PortStateNoChange)
		if !changed || mod != uint32(p.Num)|1<<31 {
			t.Errorf("%s: changed %v, modifier %#x; want a Set with bit 31", p, changed, mod)
		}
		if f.LinkSpeedExtEnabled != 0x1F || f.LinkSpeedEnabled != 0xF || f.LinkWidthEnabled != 0xFF {
			t.Errorf("%s: enables width %#x speed %#x ext %#x, want 0xff, 0xf, 0x1f", p, f.LinkWidthEnabled, f.LinkSpeedEnabled, f.LinkSpeedExtEnabled)
		}
		f, mod, _ = m.configFields(sn, p, wire.PortStateArmed)
		if mod != uint32(p.Num) || f.LinkSpeedExtEnabled != 4 || f.LinkSpeedEnabled != 4 || f.LinkWidthEnabled != wire.Width4X || f.PortState != wire.PortStateArmed {
			t.Errorf("%s armed: modifier %#x, enables %#x %#x %#x, state %v; want the read enables, no bit 31", p, mod, f.LinkWidthEnabled, f.LinkSpeedEnabled, f.LinkSpeedExtEnabled, f.PortState)
		}
	}
	// A peer without extended speeds: bit 31 stays (the port has them),
	// LinkSpeedExtEnabled stays as read.
	cp.Info.CapabilityMask = 0
	if f, mod, _ := m.configFields(sn, sp, wire.PortStateNoChange); mod&(1<<31) == 0 || f.LinkSpeedExtEnabled != 4 {
		t.Errorf("toward a QDR port: modifier %#x, LinkSpeedExtEnabled %#x; want bit 31 and 4", mod, f.LinkSpeedExtEnabled)
	}
	if _, mod, _ := m.configFields(sn, cp, wire.PortStateNoChange); mod&(1<<31) != 0 {
		t.Errorf("QDR port: modifier %#x has bit 31", mod)
	}
}
