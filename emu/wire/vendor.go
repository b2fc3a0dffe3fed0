package wire

import (
	"fmt"
	"strings"
)

// Vendor-specific classes (IBTA Vol 1 §13.4.4). Range 1 (0x09-0x0F) MADs
// have no RMPP header and their payload starts at byte 24; range 2
// (0x30-0x4F) MADs carry an RMPP header, a reserved byte and a 24-bit OUI
// at bytes 36-39, and their payload starts at byte 40.
//
//	range 1:  | common header (24) | vendor data (232)                       |
//	range 2:  | common header (24) | RMPP (12) | rsv | OUI (24) | data (216) |

// Vendor MAD layout.
const (
	VendorRange1DataOffset = MADHeaderSize // 24
	VendorRange2OUIOffset  = 36            // reserved byte, then the OUI at 37-39
	VendorRange2DataOffset = 40
)

// Vendor IDs (IEEE OUIs; protocols.md §7.1).
const (
	MellanoxOUI         = 0x0002C9
	OpenIBOUI           = 0x001405 // ibping, ibsysstat
	VoltaireOUI         = 0x0008F1
	QLogicOUI           = 0x00066A // SilverStorm/QLogic VNIC
	TopspinOUI          = 0x0005AD
	MellanoxPCIVendorID = 0x15B3 // PCI vendor ID, not an OUI
)

// MellanoxClassVersion is the class version of the Mellanox vendor class.
const MellanoxClassVersion = 1

// VendorMAD is a whole vendor-class MAD of either range (IBTA Vol 1
// §13.4.4, §13.6 for the range-2 RMPP header).
type VendorMAD []byte

// IsValid reports whether m holds a whole MAD.
func (m VendorMAD) IsValid() bool { return len(m) >= MADSize }

// MAD returns the common-header view.
func (m VendorMAD) MAD() MAD { return MAD(m) }

// IsRange2 reports whether the class is in vendor range 2.
func (m VendorMAD) IsRange2() bool { return MAD(m).MgmtClass().IsVendorRange2() }

// RMPPHeader returns the RMPP header view (range 2 only).
func (m VendorMAD) RMPPHeader() RMPPHeader { return MAD(m).RMPPHeader() }

// OUI returns the 24-bit OUI of a range-2 MAD.
func (m VendorMAD) OUI() uint32 { return mfU24(m, VendorRange2OUIOffset+1) }

// SetOUI sets the OUI of a range-2 MAD and clears the reserved byte.
func (m VendorMAD) SetOUI(v uint32) {
	m[VendorRange2OUIOffset] = 0
	mfPut24(m, VendorRange2OUIOffset+1, v)
}

// Data returns the vendor payload: from byte 24 for range 1, from byte 40
// for range 2.
func (m VendorMAD) Data() []byte {
	if m.IsRange2() {
		return m[VendorRange2DataOffset:MADSize]
	}
	return m[VendorRange1DataOffset:MADSize]
}

// ClassPortInfo returns the ClassPortInfo view at the start of the
// payload, where a vendor class answers Get(ClassPortInfo).
func (m VendorMAD) ClassPortInfo() ClassPortInfo {
	return ClassPortInfo(m.Data()[:ClassPortInfoSize])
}

// ParseVendorMAD validates b as a vendor-class MAD: exactly MADSize bytes,
// BaseVersion 1 and a class in vendor range 1 or 2. A bad BaseVersion
// comes back as a wrapped *MADStatusError together with the view.
func ParseVendorMAD(b []byte) (VendorMAD, error) {
	if err := mfCheckLen("vendor mad", b, MADSize); err != nil {
		return nil, err
	}
	if len(b) != MADSize {
		return nil, fmt.Errorf("wire: vendor mad: %d bytes, a MAD on qp1 is exactly %d", len(b), MADSize)
	}
	m := MAD(b)
	if c := m.MgmtClass(); !c.IsVendorRange1() && !c.IsVendorRange2() {
		return nil, fmt.Errorf("wire: vendor mad: class %s is not a vendor class", c)
	}
	if _, err := ParseMAD(b); err != nil {
		return VendorMAD(b), fmt.Errorf("wire: vendor mad: %w", err)
	}
	return VendorMAD(b), nil
}

// MellanoxGeneralInfo is the payload of the Mellanox vendor GeneralInfo
// attribute (class 0x0A, AttrID 0x0017; protocols.md §7.3), viewed from
// MAD byte 24. Offsets below are from the start of the payload.
//
//	+---------------------------------------------------------------+
//	|                       reserved (8 bytes)                      |  0
//	+-------------------------------+-------------------------------+
//	|          HW revision          |          HW device ID         |  8
//	+-------------------------------+-------------------------------+
//	|                       reserved (24 bytes)                     |  12
//	+---------------------------------------------------------------+
//	|                           HW uptime                           |  36
//	+---------------+---------------+---------------+---------------+
//	|   reserved    |   FW major    |   FW minor    | FW sub-minor  |  40
//	+---------------+---------------+---------------+---------------+
//	|                          FW build ID                          |  44
//	+---------------+---------------+-------------------------------+
//	| FW month (BCD)|  FW day (BCD) |        FW year (BCD)          |  48
//	+---------------+---------------+-------------------------------+
//	|           reserved            |            FW hour            |  52
//	+-------------------------------+-------------------------------+
//	|                     PSID (16 bytes ASCII)                     |  56
//	+---------------------------------------------------------------+
//	|                        INI file version                       |  72
//	+---------------+---------------+---------------+---------------+
//	|   reserved    |   SW major    |   SW minor    | SW sub-minor  |  76 (classic)
//	+---------------+---------------+---------------+---------------+
//	|                       reserved (28 bytes)                     |  80
//	+---------------------------------------------------------------+
//
// Devices whose HW device ID vendstat lists as "extended" (InfiniScale IV,
// ConnectX-3 and later, SwitchX, Switch-IB, Quantum ...) put three 32-bit
// FW major/minor/sub-minor words at 76/80/84, 16 reserved bytes, and the
// SW info at 104 instead.
type MellanoxGeneralInfo []byte

// MellanoxGeneralInfoSize covers both layouts (the extended SW info ends
// at 136).
const MellanoxGeneralInfoSize = 136

const (
	mgiHWRev      = 8
	mgiHWDevID    = 10
	mgiUptime     = 36
	mgiFWMajor    = 41
	mgiFWMinor    = 42
	mgiFWSubMinor = 43
	mgiBuildID    = 44
	mgiMonth      = 48
	mgiDay        = 49
	mgiYear       = 50
	mgiHour       = 54
	mgiPSID       = 56
	mgiPSIDSize   = 16
	mgiINI        = 72
	mgiSWClassic  = 76
	mgiExtFW      = 76
	mgiSWExt      = 104
)

// mellanoxExtDevices lists the HW device ID ranges vendstat reads the
// extended layout for (rdma-core infiniband-diags/vendstat.c).
var mellanoxExtDevices = [][2]uint16{
	{0x0245, 0x0245}, {0xc738, 0xc73b}, {0xcb20, 0xcb20}, {0xcf08, 0xcf08},
	{0xd2f0, 0xd2f0}, {0x01b3, 0x01b3}, {0x1003, 0x101b}, {0xa2d2, 0xa2d2},
	{0x1b02, 0x1b02}, {0x1b50, 0x1b50}, {0x1ba0, 0x1ba0}, {0x1bd0, 0x1bd5},
	{0x1bf0, 0x1bf0}, {0x1b33, 0x1b33}, {0x1b73, 0x1b73}, {0x1b40, 0x1b41},
	{0x1b60, 0x1b61}, {0x1b83, 0x1b83}, {0x1b93, 0x1b94}, {0x1bb4, 0x1bb5},
	{0x1bc4, 0x1bc6},
}

// MellanoxExtendedFWInfo reports whether vendstat reads the extended
// GeneralInfo layout for a device with this HW device ID.
func MellanoxExtendedFWInfo(devID uint16) bool {
	for _, r := range mellanoxExtDevices {
		if r[0] <= devID && devID <= r[1] {
			return true
		}
	}
	return false
}

// MellanoxGeneralInfoFields holds GeneralInfo for Encode. Whether FW and
// SW versions use the classic or the extended layout follows HWDeviceID
// (MellanoxExtendedFWInfo); in the classic layout the FW version parts are
// single bytes.
type MellanoxGeneralInfoFields struct {
	HWRevision     uint16
	HWDeviceID     uint16
	HWUptime       uint32
	FWMajor        uint32
	FWMinor        uint32
	FWSubMinor     uint32
	FWBuildID      uint32
	FWMonth        uint8  // BCD, 0x12 = December
	FWDay          uint8  // BCD
	FWYear         uint16 // BCD, 0x2009
	FWHour         uint16
	PSID           string // up to 16 ASCII characters
	INIFileVersion uint32
	SWMajor        uint8
	SWMinor        uint8
	SWSubMinor     uint8
}

// IsValid reports whether g holds both layouts.
func (g MellanoxGeneralInfo) IsValid() bool { return len(g) >= MellanoxGeneralInfoSize }

// HWRevision returns the hardware revision.
func (g MellanoxGeneralInfo) HWRevision() uint16 { return mfU16(g, mgiHWRev) }

// HWDeviceID returns the hardware device ID.
func (g MellanoxGeneralInfo) HWDeviceID() uint16 { return mfU16(g, mgiHWDevID) }

// HWUptime returns the uptime.
func (g MellanoxGeneralInfo) HWUptime() uint32 { return mfU32(g, mgiUptime) }

// IsExtended reports whether the extended layout applies (by HW device ID).
func (g MellanoxGeneralInfo) IsExtended() bool { return MellanoxExtendedFWInfo(g.HWDeviceID()) }

// FWVersion returns the firmware version from the layout that applies.
func (g MellanoxGeneralInfo) FWVersion() (major, minor, subMinor uint32) {
	if g.IsExtended() {
		return mfU32(g, mgiExtFW), mfU32(g, mgiExtFW+4), mfU32(g, mgiExtFW+8)
	}
	return uint32(g[mgiFWMajor]), uint32(g[mgiFWMinor]), uint32(g[mgiFWSubMinor])
}

// FWBuildID returns the firmware build ID.
func (g MellanoxGeneralInfo) FWBuildID() uint32 { return mfU32(g, mgiBuildID) }

// FWDate returns the BCD firmware date.
func (g MellanoxGeneralInfo) FWDate() (month, day uint8, year uint16) {
	return g[mgiMonth], g[mgiDay], mfU16(g, mgiYear)
}

// FWHour returns the firmware hour field.
func (g MellanoxGeneralInfo) FWHour() uint16 { return mfU16(g, mgiHour) }

// PSID returns the PSID up to the first NUL.
func (g MellanoxGeneralInfo) PSID() string { return mfCString(g[mgiPSID : mgiPSID+mgiPSIDSize]) }

// INIFileVersion returns the INI file version.
func (g MellanoxGeneralInfo) INIFileVersion() uint32 { return mfU32(g, mgiINI) }

// SWVersion returns the software version from the layout that applies.
func (g MellanoxGeneralInfo) SWVersion() (major, minor, subMinor uint8) {
	off := mgiSWClassic
	if g.IsExtended() {
		off = mgiSWExt
	}
	return g[off+1], g[off+2], g[off+3]
}

// Encode writes every field of f into g, in the layout f.HWDeviceID calls
// for, and zeroes everything else. In the extended layout the classic FW
// version bytes carry the low bytes of the version as well.
func (g MellanoxGeneralInfo) Encode(f *MellanoxGeneralInfoFields) {
	clear(g[:MellanoxGeneralInfoSize])
	mfPut16(g, mgiHWRev, f.HWRevision)
	mfPut16(g, mgiHWDevID, f.HWDeviceID)
	mfPut32(g, mgiUptime, f.HWUptime)
	g[mgiFWMajor], g[mgiFWMinor], g[mgiFWSubMinor] = uint8(f.FWMajor), uint8(f.FWMinor), uint8(f.FWSubMinor)
	mfPut32(g, mgiBuildID, f.FWBuildID)
	g[mgiMonth], g[mgiDay] = f.FWMonth, f.FWDay
	mfPut16(g, mgiYear, f.FWYear)
	mfPut16(g, mgiHour, f.FWHour)
	mfPutCString(g[mgiPSID:mgiPSID+mgiPSIDSize], f.PSID)
	mfPut32(g, mgiINI, f.INIFileVersion)
	sw := mgiSWClassic
	if MellanoxExtendedFWInfo(f.HWDeviceID) {
		mfPut32(g, mgiExtFW, f.FWMajor)
		mfPut32(g, mgiExtFW+4, f.FWMinor)
		mfPut32(g, mgiExtFW+8, f.FWSubMinor)
		sw = mgiSWExt
	}
	g[sw+1], g[sw+2], g[sw+3] = f.SWMajor, f.SWMinor, f.SWSubMinor
}

// Fields decodes g in the layout its HW device ID calls for.
func (g MellanoxGeneralInfo) Fields() MellanoxGeneralInfoFields {
	f := MellanoxGeneralInfoFields{
		HWRevision:     g.HWRevision(),
		HWDeviceID:     g.HWDeviceID(),
		HWUptime:       g.HWUptime(),
		FWBuildID:      g.FWBuildID(),
		FWHour:         g.FWHour(),
		PSID:           g.PSID(),
		INIFileVersion: g.INIFileVersion(),
	}
	f.FWMajor, f.FWMinor, f.FWSubMinor = g.FWVersion()
	f.FWMonth, f.FWDay, f.FWYear = g.FWDate()
	f.SWMajor, f.SWMinor, f.SWSubMinor = g.SWVersion()
	return f
}

// ParseMellanoxGeneralInfo returns the view over the first
// MellanoxGeneralInfoSize bytes of b (b starts at MAD byte 24).
func ParseMellanoxGeneralInfo(b []byte) (MellanoxGeneralInfo, error) {
	if err := mfCheckLen("mellanox generalinfo", b, MellanoxGeneralInfoSize); err != nil {
		return nil, err
	}
	return MellanoxGeneralInfo(b[:MellanoxGeneralInfoSize]), nil
}

// Vendstat formats f the way rdma-core's `vendstat -N` prints it
// (protocols.md §7.3): nine lines, each ending in a newline.
//
// Equivalent to: `vendstat -N <lid>`.
func (f *MellanoxGeneralInfoFields) Vendstat() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hw_dev_rev:  0x%04x\n", f.HWRevision)
	fmt.Fprintf(&b, "hw_dev_id:   0x%04x\n", f.HWDeviceID)
	fmt.Fprintf(&b, "hw_uptime:   0x%08x\n", f.HWUptime)
	fmt.Fprintf(&b, "fw_version:  %02d.%02d.%02d\n", f.FWMajor, f.FWMinor, f.FWSubMinor)
	fmt.Fprintf(&b, "fw_build_id: 0x%04x\n", f.FWBuildID)
	fmt.Fprintf(&b, "fw_date:     %02x/%02x/%04x\n", f.FWMonth, f.FWDay, f.FWYear)
	fmt.Fprintf(&b, "fw_psid:     '%s'\n", mfCString([]byte(f.PSID)))
	fmt.Fprintf(&b, "fw_ini_ver:  %d\n", int32(f.INIFileVersion))
	fmt.Fprintf(&b, "sw_version:  %02d.%02d.%02d\n", f.SWMajor, f.SWMinor, f.SWSubMinor)
	return b.String()
}
