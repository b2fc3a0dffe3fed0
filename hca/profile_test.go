package hca_test

import (
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

func TestStandardProfiles(t *testing.T) {
	r := hca.StandardProfiles()
	if d := r.Default(); d == nil || d.Name != hca.ProfileConnectX2QDR2p {
		t.Fatalf("default profile %v, want %s", d, hca.ProfileConnectX2QDR2p)
	}
	cases := []struct {
		name     string
		devID    uint16
		part     string
		ports    int
		speeds   wire.LinkSpeed
		fw, psid string
	}{
		{hca.ProfileInfiniHostIIIEx, 0x6282, "MT25208", 2, wire.SpeedSDR | wire.SpeedDDR, "5.3.0", "MT_0370110002"},
		{hca.ProfileConnectX2QDR2p, 0x673C, "MT26428", 2, wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR, "2.7.0", "MT_0D80120009"},
		{hca.ProfileConnectX2QDR1p, 0x673C, "MT26428", 1, wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR, "2.7.0", "MT_0D90110009"},
	}
	for _, c := range cases {
		p, err := r.Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.DeviceID != c.devID || p.Part != c.part || p.NumPorts != c.ports || p.Speeds != c.speeds ||
			p.FirmwareVersion() != c.fw || p.Firmware.PSID != c.psid || p.VendorID != hca.MellanoxVendorID ||
			p.Widths != wire.Width1X|wire.Width4X {
			t.Errorf("%s: %+v", c.name, p)
		}
		if len(p.PortConfigs()) != c.ports {
			t.Errorf("%s: %d port configs", c.name, len(p.PortConfigs()))
		}
	}
	// Lookup is case-insensitive; by device ID the port count decides.
	if p, err := r.Lookup("connectx-2-qdr-1P"); err != nil || p.NumPorts != 1 {
		t.Errorf("case-insensitive lookup: %v %v", p, err)
	}
	if p, err := r.ByDeviceID(0x673C, 1); err != nil || p.Name != hca.ProfileConnectX2QDR1p {
		t.Errorf("ByDeviceID 0x673c/1: %v %v", p, err)
	}
	if p, err := r.ByDeviceID(0x673C, 0); err != nil || p.NumPorts != 2 {
		t.Errorf("ByDeviceID 0x673c/any: %v %v", p, err)
	}
	if p, err := r.ByDeviceID(0x6282, 0); err != nil || p.Name != hca.ProfileInfiniHostIIIEx {
		t.Errorf("ByDeviceID 0x6282: %v %v", p, err)
	}
	if _, err := r.ByDeviceID(0x6278, 0); !errors.Is(err, hca.ErrNoProfile) {
		t.Errorf("Tavor-compat 0x6278: %v, want ErrNoProfile", err)
	}
	if _, err := r.Lookup("nope"); !errors.Is(err, hca.ErrNoProfile) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestRegistryRejects(t *testing.T) {
	r := hca.NewRegistry()
	if r.Default() != nil {
		t.Fatal("empty registry has a default")
	}
	good := *hca.StandardProfiles().Default()
	if err := r.Register(good); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(good); !errors.Is(err, hca.ErrDuplicateProfile) {
		t.Errorf("duplicate: %v", err)
	}
	bad := []func(p *hca.Profile){
		func(p *hca.Profile) { p.NumPorts = 3 },
		func(p *hca.Profile) { p.MTUCap = 9 },
		func(p *hca.Profile) { p.VLCap = 0 },
		func(p *hca.Profile) { p.CapabilityMask |= wire.PortCapIsSM },
		func(p *hca.Profile) { p.Firmware.PSID = "MT_0123456789ABCDEF" },
		func(p *hca.Profile) { p.Firmware.Month = 13 },
		func(p *hca.Profile) { p.Name = "" },
	}
	for i, mutate := range bad {
		p := good
		p.Name = "bad"
		mutate(&p)
		if err := r.Register(p); !errors.Is(err, hca.ErrBadProfile) {
			t.Errorf("bad profile %d: %v, want ErrBadProfile", i, err)
		}
	}
	if _, err := hca.New(hca.Config{}); err == nil {
		t.Error("New without a node guid succeeded")
	}
}
