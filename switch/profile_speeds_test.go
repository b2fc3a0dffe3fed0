package ibswitch_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// TestSpeedGenerationProfiles: SwitchX-2, Switch-IB, Switch-IB 2 and
// Quantum by name and device ID, with IsExtendedSpeedsSupported in port
// 0's CapabilityMask (which OpenSM and the diags read for every port),
// FDR10 on SwitchX-2 only, 2x and HDR on Quantum, MlnxExtPortInfo on all.
func TestSpeedGenerationProfiles(t *testing.T) {
	const qdr = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
	cases := []struct {
		name   string
		devID  uint16
		ports  int
		speeds wire.LinkSpeed
		widths wire.LinkWidth
		cap2   uint16
	}{
		{"SwitchX-2", 0xC738, 36, qdr | wire.SpeedFDR10 | wire.SpeedFDR, wire.Width1X | wire.Width4X, 0},
		{"Switch-IB", 0xCB20, 36, qdr | wire.SpeedFDR | wire.SpeedEDR, wire.Width1X | wire.Width4X, 0},
		{"Switch-IB-2", 0xCF08, 36, qdr | wire.SpeedFDR | wire.SpeedEDR, wire.Width1X | wire.Width4X, 0},
		{"Quantum", 0xD2F0, 40, qdr | wire.SpeedFDR | wire.SpeedEDR | wire.SpeedHDR, wire.Width1X | wire.Width2X | wire.Width4X, 0x30},
	}
	for _, c := range cases {
		p, ok := ibswitch.LookupProfile(c.name)
		by, okBy := ibswitch.ProfileByDeviceID(c.devID)
		if !ok || !okBy || by.Name != p.Name {
			t.Fatalf("%s: lookup %v, by device id %v %s", c.name, ok, okBy, by.Name)
		}
		if p.NumPorts != c.ports || p.SpeedSupported != c.speeds || p.WidthSupported != uint8(c.widths) ||
			p.CapabilityMask2 != c.cap2 || p.CapabilityMask&ibswitch.CapIsExtendedSpeedsSupported == 0 ||
			!p.MlnxExtPortInfo || p.MTUCap != wire.MTU4096 || p.Firmware.HWDeviceID != c.devID {
			t.Errorf("%s: %+v", c.name, p)
		}
		if err := p.Validate(); err != nil {
			t.Error(err)
		}
	}
	for _, name := range []string{"InfiniScale-III", "InfiniScale-IV"} {
		p, _ := ibswitch.LookupProfile(name)
		if p.CapabilityMask&ibswitch.CapIsExtendedSpeedsSupported != 0 || p.MlnxExtPortInfo {
			t.Errorf("%s claims FDR-generation features", name)
		}
	}
	var prev wire.LinkSpeed
	for _, name := range ibswitch.Generations {
		p, ok := ibswitch.LookupProfile(name)
		if !ok || p.SpeedSupported <= prev {
			t.Errorf("generation %s missing or not faster than the one before", name)
		}
		prev = p.SpeedSupported
	}
}

// TestConfigureSMASwitch: ibswitch.New (through ConfigureSMA) gives the
// profile's CapabilityMask2 to every port of a Quantum, port 0's
// CapabilityMask has the extended speeds and the external ports report
// none of their own.
func TestConfigureSMASwitch(t *testing.T) {
	p, _ := ibswitch.LookupProfile("Quantum")
	s, err := ibswitch.New(ibswitch.Config{Profile: p, NodeGUID: 0x100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= p.NumPorts; i++ {
		if pa := s.SMA().Port(i); pa.Config.CapabilityMask2 != 0x30 {
			t.Errorf("port %d: CapabilityMask2 %#x", i, pa.Config.CapabilityMask2)
		}
	}
	if !s.SMA().Port(0).CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported) || s.SMA().Port(1).CapabilityMask != 0 {
		t.Errorf("capability masks: port 0 %#x, port 1 %#x", s.SMA().Port(0).CapabilityMask, s.SMA().Port(1).CapabilityMask)
	}
}
