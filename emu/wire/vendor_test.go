package wire_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

func TestMellanoxGeneralInfo(t *testing.T) {
	tests := []struct {
		name     string
		f        wire.MellanoxGeneralInfoFields
		extended bool
		bytes    map[int]byte // payload offsets to check
		vendstat string
	}{
		{
			name: "InfiniScale III switch (classic layout)",
			f: wire.MellanoxGeneralInfoFields{HWRevision: 0xA1, HWDeviceID: 0xB924, HWUptime: 0x0001E240,
				FWMajor: 5, FWMinor: 9, FWSubMinor: 0, FWBuildID: 0x12, FWMonth: 0x06, FWDay: 0x25, FWYear: 0x2009,
				FWHour: 0x1030, PSID: "MT_0C20110003", INIFileVersion: 3, SWMajor: 1, SWMinor: 2, SWSubMinor: 3},
			bytes: map[int]byte{9: 0xA1, 10: 0xB9, 11: 0x24, 39: 0x40, 41: 5, 42: 9, 47: 0x12, 48: 0x06, 49: 0x25,
				50: 0x20, 51: 0x09, 56: 'M', 75: 3, 77: 1, 78: 2, 79: 3, 105: 0},
			vendstat: "hw_dev_rev:  0x00a1\n" +
				"hw_dev_id:   0xb924\n" +
				"hw_uptime:   0x0001e240\n" +
				"fw_version:  05.09.00\n" +
				"fw_build_id: 0x0012\n" +
				"fw_date:     06/25/2009\n" +
				"fw_psid:     'MT_0C20110003'\n" +
				"fw_ini_ver:  3\n" +
				"sw_version:  01.02.03\n",
		},
		{
			name: "ConnectX-3 (extended layout)",
			f: wire.MellanoxGeneralInfoFields{HWRevision: 1, HWDeviceID: 0x1003, FWMajor: 2, FWMinor: 42,
				FWSubMinor: 5000, FWBuildID: 0xABCDE, FWMonth: 0x11, FWDay: 0x02, FWYear: 0x2017,
				PSID: "MT_1090120019", SWMajor: 4, SWMinor: 5, SWSubMinor: 6},
			extended: true,
			bytes: map[int]byte{41: 2, 42: 42, 43: 5000 & 0xFF, 79: 2, 83: 42, 86: 0x13, 87: 0x88, 77: 0,
				105: 4, 106: 5, 107: 6},
			vendstat: "hw_dev_rev:  0x0001\n" +
				"hw_dev_id:   0x1003\n" +
				"hw_uptime:   0x00000000\n" +
				"fw_version:  02.42.5000\n" +
				"fw_build_id: 0xabcde\n" +
				"fw_date:     11/02/2017\n" +
				"fw_psid:     'MT_1090120019'\n" +
				"fw_ini_ver:  0\n" +
				"sw_version:  04.05.06\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mad := make([]byte, wire.MADSize)
			wire.MAD(mad).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassMellanox, ClassVersion: 1,
				Method: wire.MethodGetResp, AttrID: wire.AttrVendorGeneralInfo})
			v, err := wire.ParseVendorMAD(mad)
			if err != nil {
				t.Fatalf("ParseVendorMAD: %v", err)
			}
			if v.IsRange2() || &v.Data()[0] != &mad[24] {
				t.Fatalf("range-1 payload must start at byte 24")
			}
			g, err := wire.ParseMellanoxGeneralInfo(v.Data())
			if err != nil {
				t.Fatalf("ParseMellanoxGeneralInfo: %v", err)
			}
			g.Encode(&tc.f)
			for off, want := range tc.bytes {
				if g[off] != want {
					t.Errorf("payload byte %d = %#02x, want %#02x", off, g[off], want)
				}
			}
			if g.IsExtended() != tc.extended {
				t.Errorf("IsExtended() = %v", g.IsExtended())
			}
			checkView(t, []byte(g), wire.MellanoxGeneralInfoSize, wire.ParseMellanoxGeneralInfo,
				wire.MellanoxGeneralInfo.Fields, wire.MellanoxGeneralInfo.Encode, tc.f)
			got := g.Fields()
			if diff := cmp.Diff(tc.vendstat, got.Vendstat()); diff != "" {
				t.Errorf("vendstat -N output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVendorMAD(t *testing.T) {
	mad := make([]byte, wire.MADSize)
	wire.MAD(mad).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassOpenIBPing, ClassVersion: 1,
		Method: wire.MethodGet})
	v, err := wire.ParseVendorMAD(mad)
	if err != nil {
		t.Fatalf("ParseVendorMAD: %v", err)
	}
	v.SetOUI(wire.OpenIBOUI)
	if !v.IsRange2() || v.OUI() != 0x001405 || mad[36] != 0 || mad[37] != 0x00 || mad[38] != 0x14 || mad[39] != 0x05 {
		t.Errorf("OUI bytes % x", mad[36:40])
	}
	if &v.Data()[0] != &mad[40] || len(v.Data()) != 216 {
		t.Errorf("range-2 payload must be the 216 bytes from 40")
	}
	m := make([]byte, wire.MADSize)
	wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassMellanox, ClassVersion: 1,
		Method: wire.MethodGetResp, AttrID: wire.AttrClassPortInfo})
	cpi := wire.VendorMAD(m).ClassPortInfo()
	cpi.Encode(&wire.ClassPortInfoFields{BaseVersion: 1, ClassVersion: 1, RespTimeValue: 18})
	if m[24] != 1 || m[25] != 1 || m[31] != 18 {
		t.Errorf("vendor ClassPortInfo must sit at byte 24: % x", m[24:32])
	}
	if _, err := wire.ParseVendorMAD(madHex(t, madSAPathRecord)); err == nil {
		t.Errorf("ParseVendorMAD(SA MAD) = nil error")
	}
	if _, err := wire.ParseVendorMAD(m[:100]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("ParseVendorMAD(100 bytes) = %v", err)
	}
	m[0] = 3
	if _, err := wire.ParseVendorMAD(m); !errors.Is(err, wire.ErrUnsupportedClassVersion) {
		t.Errorf("ParseVendorMAD(BaseVersion 3) = %v", err)
	}
	if !wire.MellanoxExtendedFWInfo(0xd2f0) || wire.MellanoxExtendedFWInfo(0x634A) || wire.MellanoxExtendedFWInfo(0xB924) {
		t.Errorf("MellanoxExtendedFWInfo list wrong")
	}
}
