package agent

import (
	"fmt"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Firmware describes a device's firmware and hardware the way the
// Mellanox GeneralInfo attribute reports it (protocols.md §7.3; what
// `vendstat -N` prints).
type Firmware struct {
	// Major, Minor and SubMinor are the firmware version (5.3.0,
	// 2.7.0, 20.39.1002, ...). GeneralInfo carries them in bytes and,
	// for the device IDs vendstat reads the extended words of
	// (wire.MellanoxExtendedFWInfo), in 32-bit words as well; a model
	// without the extended words needs each below 256.
	Major, Minor, SubMinor uint16
	// BuildID is the firmware build number.
	BuildID uint32
	// Year, Month, Day, Hour and Minute are the firmware build date and
	// time; GeneralInfo carries them in BCD (2009 as 0x2009).
	Year         int
	Month, Day   int
	Hour, Minute int
	// PSID is the board's Parameter Set ID (at most 16 characters).
	PSID string
	// INIVersion is the firmware INI file version.
	INIVersion uint32
	// HWRevision and HWDeviceID are the hardware revision and device ID.
	HWRevision, HWDeviceID uint16
	// SWMajor, SWMinor and SWSubMinor are the software version the
	// firmware reports (0.0.0 on HCAs).
	SWMajor, SWMinor, SWSubMinor uint8
}

// Version formats the firmware version as vendstat does: "05.03.00".
func (fw Firmware) Version() string {
	return fmt.Sprintf("%02d.%02d.%02d", fw.Major, fw.Minor, fw.SubMinor)
}

// Validate checks that the firmware description can be encoded.
func (fw Firmware) Validate() error {
	switch {
	case len(fw.PSID) > 16:
		return fmt.Errorf("agent: firmware: psid %q longer than 16 characters", fw.PSID)
	case !wire.MellanoxExtendedFWInfo(fw.HWDeviceID) && (fw.Major > 0xFF || fw.Minor > 0xFF || fw.SubMinor > 0xFF):
		return fmt.Errorf("agent: firmware: version %d.%d.%d does not fit GeneralInfo's bytes (device %#x has no extended version words)",
			fw.Major, fw.Minor, fw.SubMinor, fw.HWDeviceID)
	case fw.Year < 0 || fw.Year > 9999, fw.Month < 0 || fw.Month > 12, fw.Day < 0 || fw.Day > 31,
		fw.Hour < 0 || fw.Hour > 23, fw.Minute < 0 || fw.Minute > 59:
		return fmt.Errorf("agent: firmware: bad build date %04d-%02d-%02d %02d:%02d", fw.Year, fw.Month, fw.Day, fw.Hour, fw.Minute)
	}
	return nil
}

// bcd encodes v (0..9999) in binary-coded decimal.
func bcd(v int) uint16 {
	return uint16(v/1000%10)<<12 | uint16(v/100%10)<<8 | uint16(v/10%10)<<4 | uint16(v%10)
}

// Vendor is the Mellanox vendor-specific agent (class 0x0A, vendor range
// 1) of one node: ClassPortInfo Get and GeneralInfo Get. GeneralInfo's
// uptime counts seconds on the fabric clock since the node started
// (Start, or the first request).
type Vendor struct {
	fw      Firmware
	cs      ClassSupport
	started bool
	start   time.Time
}

// NewVendor creates the vendor agent for firmware fw.
func NewVendor(fw Firmware) (*Vendor, error) {
	if err := fw.Validate(); err != nil {
		return nil, err
	}
	return &Vendor{fw: fw, cs: vendorSupport}, nil
}

// vendorSupport is what the vendor agent serves. Every Vendor shares it
// (nothing changes it after init), so a large fabric keeps one copy.
var vendorSupport = func() ClassSupport {
	get := []wire.Method{wire.MethodGet}
	return ClassSupport{
		Versions: []uint8{wire.MellanoxClassVersion},
		Methods:  []wire.Method{wire.MethodGet, wire.MethodSet},
		Attrs: map[wire.AttrID][]wire.Method{
			wire.AttrClassPortInfo:     get,
			wire.AttrVendorGeneralInfo: get,
		},
	}
}()

// Firmware returns the firmware description.
func (v *Vendor) Firmware() Firmware { return v.fw }

// Start records the instant the node started; uptime counts from it.
func (v *Vendor) Start(now time.Time) { v.start, v.started = now, true }

// Uptime is the time since Start on the clock whose current time is now.
func (v *Vendor) Uptime(now time.Time) time.Duration {
	if !v.started {
		return 0
	}
	return now.Sub(v.start)
}

// Supports reports whether the agent serves request m.
func (v *Vendor) Supports(m wire.MAD) bool { return !m.IsResponse() && v.cs.Supports(m) }

// Process answers a class 0x0A request m that arrived on p and returns
// the reply (ok false: none).
func (v *Vendor) Process(p *emu.Port, m wire.MAD) (resp wire.MAD, ok bool) {
	if len(m) != wire.MADSize || m.IsResponse() {
		return nil, false
	}
	now := p.Node().Fabric().Now()
	if !v.started {
		v.Start(now)
	}
	if resp, answered, refused := Refuse(&v.cs, m); refused {
		return resp, answered
	}
	r := ErrorReply(m, wire.MADStatusOK)
	// Vendor range 1: the attribute follows the common header, with no
	// RMPP header and no OUI (IBTA Vol 1 §13.4.4; protocols.md §7.3).
	d := wire.VendorMAD(r).Data()
	clear(d)
	switch m.AttrID() {
	case wire.AttrClassPortInfo:
		wire.ClassPortInfo(d).Encode(&wire.ClassPortInfoFields{
			BaseVersion:   wire.MADBaseVersion,
			ClassVersion:  wire.MellanoxClassVersion,
			RespTimeValue: 18,
		})
	case wire.AttrVendorGeneralInfo:
		v.generalInfo(d, now)
	}
	return r, true
}

// generalInfo writes GeneralInfo (protocols.md §7.3) into d, the data area
// of a vendor range 1 MAD: the firmware description with its date in BCD
// and the uptime in seconds since the node started.
func (v *Vendor) generalInfo(d []byte, now time.Time) {
	fw := v.fw
	up := v.Uptime(now) / time.Second
	if up > 0xFFFFFFFF {
		up = 0xFFFFFFFF
	}
	wire.MellanoxGeneralInfo(d).Encode(&wire.MellanoxGeneralInfoFields{
		HWRevision: fw.HWRevision, HWDeviceID: fw.HWDeviceID, HWUptime: uint32(up),
		FWMajor: uint32(fw.Major), FWMinor: uint32(fw.Minor), FWSubMinor: uint32(fw.SubMinor),
		FWBuildID: fw.BuildID,
		FWMonth:   uint8(bcd(fw.Month)), FWDay: uint8(bcd(fw.Day)), FWYear: bcd(fw.Year),
		FWHour:         bcd(fw.Hour)<<8 | bcd(fw.Minute),
		PSID:           fw.PSID,
		INIFileVersion: fw.INIVersion,
		SWMajor:        fw.SWMajor, SWMinor: fw.SWMinor, SWSubMinor: fw.SWSubMinor,
	})
}
