package hca_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// TestSpeedGenerationProfiles: the FDR, EDR and HDR models report what
// their firmware reports: device IDs, the mlx4 and mlx5 capability masks
// ibstat shows (0x02514868, 0x2651e848) with IsExtendedSpeedsSupported,
// FDR10 on ConnectX-3 only, 2x lanes and the HDR CapabilityMask2 bits on
// ConnectX-6, and MlnxExtPortInfo from ConnectX-3 on.
func TestSpeedGenerationProfiles(t *testing.T) {
	r := hca.StandardProfiles()
	const (
		qdr = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
		fdr = qdr | wire.SpeedFDR10 | wire.SpeedFDR
		edr = qdr | wire.SpeedFDR | wire.SpeedEDR
		hdr = edr | wire.SpeedHDR
	)
	cases := []struct {
		name   string
		devID  uint16
		ports  int
		driver string
		speeds wire.LinkSpeed
		widths wire.LinkWidth
		capm   wire.PortCapabilityMask
		cap2   uint16
		vlcap  uint8
	}{
		{hca.ProfileConnectX3FDR2p, 0x1003, 2, "mlx4_core", fdr, wire.Width1X | wire.Width4X, 0x02514868, 0, wire.VLCapVL0to7},
		{hca.ProfileConnectX3FDR1p, 0x1003, 1, "mlx4_core", fdr, wire.Width1X | wire.Width4X, 0x02514868, 0, wire.VLCapVL0to7},
		{hca.ProfileConnectX3ProFDR, 0x1007, 2, "mlx4_core", fdr, wire.Width1X | wire.Width4X, 0x02514868, 0, wire.VLCapVL0to7},
		{hca.ProfileConnectX4EDR2p, 0x1013, 2, "mlx5_core", edr, wire.Width1X | wire.Width4X, 0x2651e848, 0, wire.VLCapVL0to3},
		{hca.ProfileConnectX4EDR1p, 0x1013, 1, "mlx5_core", edr, wire.Width1X | wire.Width4X, 0x2651e848, 0, wire.VLCapVL0to3},
		{hca.ProfileConnectX5EDR2p, 0x1017, 2, "mlx5_core", edr, wire.Width1X | wire.Width4X, 0x2651e848, 0, wire.VLCapVL0to3},
		{hca.ProfileConnectX6HDR2p, 0x101B, 2, "mlx5_core", hdr, wire.Width1X | wire.Width2X | wire.Width4X, 0x2651e848, 0x30, wire.VLCapVL0to3},
		{hca.ProfileConnectX6HDR1p, 0x101B, 1, "mlx5_core", hdr, wire.Width1X | wire.Width2X | wire.Width4X, 0x2651e848, 0x30, wire.VLCapVL0to3},
	}
	for _, c := range cases {
		p, err := r.Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.DeviceID != c.devID || p.NumPorts != c.ports || p.Driver != c.driver || p.Speeds != c.speeds || p.Widths != c.widths ||
			p.CapabilityMask != c.capm || p.CapabilityMask2 != c.cap2 || p.VLCap != c.vlcap || p.MTUCap != wire.MTU4096 ||
			!p.MlnxExtPortInfo || p.Firmware.HWDeviceID != c.devID || p.VendorID != hca.MellanoxVendorID {
			t.Errorf("%s: %+v", c.name, p)
		}
		if by, err := r.ByDeviceID(c.devID, c.ports); err != nil || by.DeviceID != c.devID || by.NumPorts != c.ports {
			t.Errorf("%s: ByDeviceID(%#04x, %d) = %v, %v", c.name, c.devID, c.ports, by, err)
		}
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	}
	// The older models keep their masks: no extended speeds, no vendor
	// attribute.
	for _, name := range []string{hca.ProfileConnectX2QDR2p, hca.ProfileInfiniHostIIIEx} {
		p, _ := r.Lookup(name)
		if p.CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported) || p.MlnxExtPortInfo || p.Speeds.HasFDR10() {
			t.Errorf("%s claims FDR-generation features: %+v", name, p)
		}
	}
	// Generations are registered, oldest first, each faster than the last.
	var prev wire.LinkSpeed
	for _, name := range hca.Generations {
		p, err := r.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Speeds <= prev {
			t.Errorf("generation %s is not faster than the one before", name)
		}
		prev = p.Speeds
	}
	if cx6, _ := r.Lookup(hca.ProfileConnectX6HDR1p); !cx6.CanRun(wire.Width2X, wire.SpeedHDR) || cx6.CanRun(0, wire.SpeedFDR10) {
		t.Error("ConnectX-6 CanRun wrong")
	}
}

// TestConfigureSMA: hca.New (through ConfigureSMA) puts the profile's
// CapabilityMask2 on every port of the device's SMA.
func TestConfigureSMA(t *testing.T) {
	p, _ := hca.StandardProfiles().Lookup(hca.ProfileConnectX6HDR2p)
	d, err := hca.New(hca.Config{Profile: p, NodeGUID: 0x100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if pa := d.SMA().Port(i); pa.Config.CapabilityMask2 != 0x30 || !pa.CapabilityMask.Has(wire.PortCapIsCapabilityMask2Supported) {
			t.Errorf("port %d: CapabilityMask2 %#x, CapabilityMask %#x", i, pa.Config.CapabilityMask2, pa.CapabilityMask)
		}
	}
}
