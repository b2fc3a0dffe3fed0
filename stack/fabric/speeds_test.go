package fabric_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// build parses an ibnetdiscover-format or ibsim net and builds it.
func build(t *testing.T, net string, opts ...fabric.Option) *fabric.Fabric {
	t.Helper()
	topo, err := topology.Parse("speeds.net", strings.NewReader(net))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fabric.Build(topo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// start runs f until the test ends and returns once every link is up.
func start(t *testing.T, f *fabric.Fabric) {
	t.Helper()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		up := true
		_ = f.Emu.Do(func() {
			for _, l := range f.Topology.Links() {
				if !f.Node(l.A.Node.ID).Port(l.A.Num).IsUp() {
					up = false
				}
			}
		})
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("links did not come up")
		}
		time.Sleep(time.Millisecond)
	}
}

// portSpeed is the trained width and speed of port num of node id.
func portSpeed(t *testing.T, f *fabric.Fabric, id string, num int) (wire.LinkWidth, wire.LinkSpeed, time.Duration) {
	t.Helper()
	var w wire.LinkWidth
	var sp wire.LinkSpeed
	var ser time.Duration
	_ = f.Emu.Do(func() {
		p := f.Node(id).Port(num)
		w, sp, ser = p.Width(), p.Speed(), p.Link().SerialisationTime(1000)
	})
	return w, sp, ser
}

// TestBuildPicksModelsByRate: nodes without a device ID get the oldest
// model that runs the rates their links state: 4xEDR between two CAs
// makes them ConnectX-4s with IsExtendedSpeedsSupported; 4xFDR10 a
// ConnectX-3 and a SwitchX-2 that train FDR10 (40 Gb/s of data); 2xHDR a
// ConnectX-6 and a Quantum.
func TestBuildPicksModelsByRate(t *testing.T) {
	f := build(t, `
Ca	1 "H-a"		# "a mlx5_0"
[1](a1) 	"H-b"[1](b1)		# lid 1 lmc 0 "b mlx5_0" lid 2 4xEDR

Ca	1 "H-b"		# "b mlx5_0"
[1](b1) 	"H-a"[1](a1)		# lid 2 lmc 0 "a mlx5_0" lid 1 4xEDR
`)
	for _, id := range []string{"H-a", "H-b"} {
		d := f.HCA(id).Device
		if p := d.Profile(); p.DeviceID != 0x1013 || p.Name != hca.ProfileConnectX4EDR1p {
			t.Errorf("%s: model %s (%#04x), want %s", id, p.Name, p.DeviceID, hca.ProfileConnectX4EDR1p)
		}
		if !d.SMA().Port(1).CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported) {
			t.Errorf("%s: CapabilityMask %#x lacks IsExtendedSpeedsSupported", id, d.SMA().Port(1).CapabilityMask)
		}
	}
	start(t, f)
	if w, sp, ser := portSpeed(t, f, "H-a", 1); w != wire.Width4X || sp != wire.SpeedEDR || ser != 80*time.Nanosecond {
		t.Errorf("EDR link: %v %v, 1000 bytes in %v (want 4X EDR, 80ns)", w, sp, ser)
	}

	g := build(t, `
Switch	8 "S-q"		# "q" base port 0 lid 1 lmc 0
[1]	"H-x"[1](c1) 		# "x mlx4_0" lid 2 4xFDR10
[2]	"H-y"[1](d1) 		# "y mlx5_0" lid 3 2xHDR

Ca	1 "H-x"		# "x mlx4_0"
[1](c1) 	"S-q"[1]		# lid 2 lmc 0 "q" lid 1 4xFDR10

Ca	1 "H-y"		# "y mlx5_0"
[1](d1) 	"S-q"[2]		# lid 3 lmc 0 "q" lid 1 2xHDR
`)
	// The switch has both links: only Quantum runs HDR (not FDR10, so
	// it is the newest model, grown to FDR10 and serving MlnxExtPortInfo).
	sw := g.Switch("S-q").Switch.Profile()
	if sw.Name != "Quantum" || !sw.MlnxExtPortInfo || sw.CapabilityMask&ibswitch.CapIsExtendedSpeedsSupported == 0 {
		t.Errorf("switch model %s (mepi %v, capmask %#x), want Quantum with MlnxExtPortInfo", sw.Name, sw.MlnxExtPortInfo, sw.CapabilityMask)
	}
	if p := g.HCA("H-x").Device.Profile(); p.Name != hca.ProfileConnectX3FDR1p {
		t.Errorf("FDR10 CA: model %s, want %s", p.Name, hca.ProfileConnectX3FDR1p)
	}
	if p := g.HCA("H-y").Device.Profile(); p.Name != hca.ProfileConnectX6HDR1p || p.CapabilityMask2 != hca.Cap2IsLinkWidth2XSupported|hca.Cap2IsLinkSpeedHDRSupported {
		t.Errorf("2xHDR CA: model %s, capmask2 %#x", p.Name, p.CapabilityMask2)
	}
	if c2 := g.HCA("H-y").Device.SMA().Port(1).Config.CapabilityMask2; c2 != 0x30 {
		t.Errorf("2xHDR CA: SMA CapabilityMask2 %#x, want 0x30", c2)
	}
	start(t, g)
	if w, sp, ser := portSpeed(t, g, "H-x", 1); w != wire.Width4X || sp != wire.SpeedFDR10 || ser != 200*time.Nanosecond {
		t.Errorf("FDR10 link: %v %v, 1000 bytes in %v (want 4X FDR10, 200ns)", w, sp, ser)
	}
	if w, sp, _ := portSpeed(t, g, "H-y", 1); w != wire.Width2X || sp != wire.SpeedHDR {
		t.Errorf("HDR100 link: %v %v", w, sp)
	}
}

// TestBuildKeepsModels: an ibsim net that states no rate keeps the
// default models at ibsim's defaults (4x SDR enabled); a device ID
// keeps its model even for a faster rate, whose ports grow to it and
// then advertise extended speeds; a forced model stays forced.
func TestBuildKeepsModels(t *testing.T) {
	f := build(t, "Switch 4 \"s\"\n[1] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"s\"[1]\n")
	if p := f.Switch("s").Switch.Profile(); p.Name != ibswitch.DefaultProfileName || p.CapabilityMask&ibswitch.CapIsExtendedSpeedsSupported != 0 {
		t.Errorf("ibsim switch: %s capmask %#x", p.Name, p.CapabilityMask)
	}
	if p := f.HCA("h").Device.Profile(); p.DeviceID != 0x673C || p.MlnxExtPortInfo {
		t.Errorf("ibsim CA: %s", p.Name)
	}
	start(t, f)
	if w, sp, _ := portSpeed(t, f, "h", 1); w != wire.Width4X || sp != wire.SpeedSDR {
		t.Errorf("ibsim link: %v %v, want 4X SDR", w, sp)
	}

	g := build(t, `
vendid=0x2c9
devid=0x673c
Ca	1 "H-a"		# "a"
[1](a1) 	"H-b"[1](b1)		# lid 1 lmc 0 "b" lid 2 4xFDR

vendid=0x2c9
devid=0x673c
Ca	1 "H-b"		# "b"
[1](b1) 	"H-a"[1](a1)		# lid 2 lmc 0 "a" lid 1 4xFDR
`)
	d := g.HCA("H-a").Device
	if d.Profile().DeviceID != 0x673C || !d.SMA().Port(1).CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported) {
		t.Errorf("ConnectX-2 grown to FDR: %s, capmask %#x", d.Profile().Name, d.SMA().Port(1).CapabilityMask)
	}

	h := build(t, `
Ca	1 "H-a"		# "a"
[1](a1) 	"H-b"[1](b1)		# lid 1 lmc 0 "b" lid 2 4xEDR

Ca	1 "H-b"		# "b"
[1](b1) 	"H-a"[1](a1)		# lid 2 lmc 0 "a" lid 1 4xEDR
`, fabric.WithHCAProfile(hca.ProfileConnectX2QDR1p))
	if p := h.HCA("H-a").Device.Profile(); p.Name != hca.ProfileConnectX2QDR1p {
		t.Errorf("forced model replaced: %s", p.Name)
	}

	// NDR: no model runs it; the newest grows to it.
	n := build(t, `
Ca	1 "H-a"		# "a"
[1](a1) 	"H-b"[1](b1)		# lid 1 lmc 0 "b" lid 2 4xNDR

Ca	1 "H-b"		# "b"
[1](b1) 	"H-a"[1](a1)		# lid 2 lmc 0 "a" lid 1 4xNDR
`)
	if p := n.HCA("H-a").Device.Profile(); p.DeviceID != 0x101B {
		t.Errorf("NDR CA: %s, want the newest model (ConnectX-6)", p.Name)
	}
	start(t, n)
	if _, sp, _ := portSpeed(t, n, "H-a", 1); sp != wire.SpeedNDR {
		t.Errorf("NDR link trains %v", sp)
	}
}
