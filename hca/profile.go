package hca

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// MellanoxVendorID is the IEEE OUI Mellanox devices report in
// NodeInfo.VendorID (protocols.md §7.1; not the PCI vendor ID 0x15B3).
const MellanoxVendorID = 0x0002C9

// MellanoxPCIVendorID is the PCI vendor ID of Mellanox HCAs.
const MellanoxPCIVendorID = 0x15B3

// Profile is the data table of one HCA model: what its firmware reports
// in NodeInfo, PortInfo and GeneralInfo, and the link capabilities of its
// ports. Profiles are data, not code paths: the device behaves the same
// for every model and reads these values.
type Profile struct {
	// Name is the registry key ("ConnectX-2-QDR-2p").
	Name string
	// Family is the marketing family ("InfiniHost III Ex", "ConnectX-2").
	Family string
	// Part is the chip's part number ("MT25208", "MT26428").
	Part string
	// Board is the adapter card ("MHGA28-XTC").
	Board string
	// DeviceID is the PCI device ID, which NodeInfo.DeviceID reports; its
	// decimal value is the vendor_part_id ibv_devinfo prints.
	DeviceID uint16
	// VendorID is NodeInfo.VendorID (MellanoxVendorID).
	VendorID uint32
	// Revision is NodeInfo.Revision and the hardware revision (hw_ver).
	Revision uint32
	// Driver is the Linux driver that binds the device (mthca, mlx4_core).
	Driver string
	// NumPorts is 1 or 2 (1 to 254 on a router).
	NumPorts int
	// Widths is the LinkWidthSupported mask of every port.
	Widths wire.LinkWidth
	// Speeds is the supported speed mask of every port.
	Speeds wire.LinkSpeed
	// MTUCap is PortInfo.MTUCap.
	MTUCap wire.MTU
	// VLCap is PortInfo.VLCap.
	VLCap uint8
	// PartitionCap is NodeInfo.PartitionCap (P_Key table entries per port).
	PartitionCap uint16
	// GIDTableLen is PortInfo.GUIDCap (GUIDs, hence GIDs, per port).
	GIDTableLen uint8
	// CapabilityMask is PortInfo.CapabilityMask without IsSM. Models that
	// run FDR or faster have IsExtendedSpeedsSupported (IBTA Vol 1
	// §14.2.5.6): without it OpenSM and the diags never read
	// LinkSpeedExt*.
	CapabilityMask wire.PortCapabilityMask
	// CapabilityMask2 is PortInfo.CapabilityMask2 (valid when
	// CapabilityMask has IsCapabilityMask2Supported): HDR parts set
	// IsLinkWidth2XSupported and IsLinkSpeedHDRSupported.
	CapabilityMask2 uint16
	// MlnxExtPortInfo says the firmware answers the Mellanox vendor SM
	// attribute MlnxExtPortInfo (0xFF90, agent.MlnxExtPortInfo), as every
	// Mellanox part from ConnectX-3 on does; FDR10 support itself is
	// wire.SpeedFDR10 in Speeds. Older models answer 0x000C.
	MlnxExtPortInfo bool
	// CongestionControl says the firmware answers the congestion control
	// class (0x21, IBTA Vol 1 Annex A10; agent.CC), as ConnectX-3 and
	// later do. Older models have no CC agent: their Get and Set get
	// 0x000C like any class the node does not serve.
	CongestionControl bool
	// Firmware is what GeneralInfo reports; Firmware.PSID is the board ID.
	Firmware agent.Firmware
	// NodeType is the NodeInfo.NodeType the device reports (IBTA Vol 1
	// §14.2.5.3): wire.NodeTypeCA (0 means CA too) or wire.NodeTypeRouter.
	// A router (see AsRouter) is an end node like a CA: its own SMA with
	// NodeInfo, NodeDescription, PortInfo, GUIDInfo and P_KeyTable per
	// port, LIDs per port, a PMA and the vendor agent, and directed-route
	// handling as an end port (§14.2.2). It has no verbs engine and never
	// forwards packets between its ports: routing between subnets (IBTA
	// Vol 1 §19) is out of scope, as in ibsim.
	NodeType wire.NodeType
}

// Type is the NodeInfo.NodeType of the profile: wire.NodeTypeCA unless
// NodeType says router.
func (p *Profile) Type() wire.NodeType {
	if p.NodeType == wire.NodeTypeRouter {
		return wire.NodeTypeRouter
	}
	return wire.NodeTypeCA
}

// routerCapsCleared are the PortInfo.CapabilityMask bits a router
// profile drops (IBTA Vol 1 §14.2.5.6): it runs no communication manager,
// no automatic path migration, no device or boot management agent, since
// it has no verbs engine and no host behind its ports.
const routerCapsCleared = wire.PortCapIsCommunicationManagementSupported | wire.PortCapIsAutomaticMigrationSupported |
	wire.PortCapIsDeviceManagementSupported | wire.PortCapIsBootManagementSupported

// AsRouter returns a copy of p that reports NodeType router (IBTA Vol 1
// §14.2.5.3) with numPorts ports (0 keeps p's), named p.Name + "-router".
// Identity, link capabilities and table sizes are p's, as ibsim builds a
// router from its CA template; the port capability mask loses what needs
// a verbs engine or a host (CM, APM, device and boot management).
func (p *Profile) AsRouter(numPorts int) *Profile {
	r := *p
	r.NodeType = wire.NodeTypeRouter
	r.CapabilityMask &^= routerCapsCleared
	if !strings.HasSuffix(r.Name, "-router") {
		r.Name += "-router"
	}
	if numPorts != 0 {
		r.NumPorts = numPorts
	}
	return &r
}

// ConfigureSMA applies what the profile says about the SMA beyond its
// port table: CapabilityMask2 on every port and, for models whose
// firmware has it, the MlnxExtPortInfo vendor attribute
// (agent.ServeMlnxExtPortInfo). New calls it.
func (p *Profile) ConfigureSMA(s *agent.SMA) {
	for i := 1; i <= p.NumPorts; i++ {
		if pa := s.Port(i); pa != nil {
			pa.Config.CapabilityMask2 = p.CapabilityMask2
		}
	}
	if p.MlnxExtPortInfo {
		agent.ServeMlnxExtPortInfo(s)
	}
}

// CanRun reports whether the profile's ports support every speed in
// speeds and every width in widths (masks).
func (p *Profile) CanRun(widths wire.LinkWidth, speeds wire.LinkSpeed) bool {
	return widths&^p.Widths == 0 && speeds&^p.Speeds == 0
}

// FirmwareVersion formats the firmware version as the Linux driver
// reports fw_ver ("5.3.0", "2.7.0").
func (p *Profile) FirmwareVersion() string {
	return fmt.Sprintf("%d.%d.%d", p.Firmware.Major, p.Firmware.Minor, p.Firmware.SubMinor)
}

// PortConfigs returns the emu.PortConfig of each port, for
// emu.Fabric.AddNode.
func (p *Profile) PortConfigs() []emu.PortConfig {
	cfgs := make([]emu.PortConfig, p.NumPorts)
	for i := range cfgs {
		cfgs[i] = emu.PortConfig{WidthSupported: uint8(p.Widths), SpeedSupported: p.Speeds}
	}
	return cfgs
}

// Validate checks that the profile's tables are consistent.
func (p *Profile) Validate() error {
	var errs []string
	if p.Name == "" {
		errs = append(errs, "no name")
	}
	switch p.NodeType {
	case 0, wire.NodeTypeCA:
		if p.NumPorts < 1 || p.NumPorts > 2 {
			errs = append(errs, fmt.Sprintf("%d ports (an HCA has 1 or 2)", p.NumPorts))
		}
	case wire.NodeTypeRouter:
		if p.NumPorts < 1 || p.NumPorts > 254 {
			errs = append(errs, fmt.Sprintf("%d ports (a router has 1 to 254)", p.NumPorts))
		}
	default:
		errs = append(errs, fmt.Sprintf("node type %d (a CA or a router)", p.NodeType))
	}
	if p.Widths == 0 || p.Speeds == 0 {
		errs = append(errs, "no link width or speed")
	}
	if p.MTUCap.Bytes() == 0 {
		errs = append(errs, fmt.Sprintf("bad mtu cap %d", p.MTUCap))
	}
	if wire.DataVLs(p.VLCap) == 0 {
		errs = append(errs, fmt.Sprintf("bad vl cap %d", p.VLCap))
	}
	if p.PartitionCap == 0 || p.GIDTableLen == 0 {
		errs = append(errs, "empty p_key or gid table")
	}
	if p.VendorID > 0xFFFFFF {
		errs = append(errs, fmt.Sprintf("vendor id 0x%x wider than 24 bits", p.VendorID))
	}
	if p.CapabilityMask.Has(wire.PortCapIsSM) {
		errs = append(errs, "capability mask has IsSM (the host sets it)")
	}
	if err := p.Firmware.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("hca: profile %q: %s: %w", p.Name, strings.Join(errs, "; "), ErrBadProfile)
	}
	return nil
}

// Registry holds HCA profiles by name and by PCI device ID. It is an
// explicit object (not package state) so tests and topologies can build
// registries of their own. It is not safe for concurrent modification.
type Registry struct {
	byName map[string]*Profile
	def    string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*Profile{}} }

// Register adds a copy of p. The first profile registered becomes the
// default until SetDefault names another.
func (r *Registry) Register(p Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	key := strings.ToLower(p.Name)
	if _, dup := r.byName[key]; dup {
		return fmt.Errorf("hca: register profile %q: %w", p.Name, ErrDuplicateProfile)
	}
	r.byName[key] = &p
	if r.def == "" {
		r.def = key
	}
	return nil
}

// SetDefault makes the profile called name the default.
func (r *Registry) SetDefault(name string) error {
	if _, err := r.Lookup(name); err != nil {
		return err
	}
	r.def = strings.ToLower(name)
	return nil
}

// Default returns the profile used when a topology names none (nil for an
// empty registry).
func (r *Registry) Default() *Profile { return r.byName[r.def] }

// Lookup returns the profile called name (case-insensitive).
func (r *Registry) Lookup(name string) (*Profile, error) {
	if p, ok := r.byName[strings.ToLower(name)]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("hca: profile %q: %w", name, ErrNoProfile)
}

// ByDeviceID returns the profile with PCI device ID id and ports ports
// (0 matches any port count; among several the one with more ports wins,
// then the first by name).
func (r *Registry) ByDeviceID(id uint16, ports int) (*Profile, error) {
	var found []*Profile
	for _, p := range r.byName {
		if p.DeviceID == id && (ports == 0 || p.NumPorts == ports) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("hca: device id 0x%04x with %d ports: %w", id, ports, ErrNoProfile)
	}
	slices.SortFunc(found, func(a, b *Profile) int {
		if a.NumPorts != b.NumPorts {
			return b.NumPorts - a.NumPorts
		}
		return strings.Compare(a.Name, b.Name)
	})
	return found[0], nil
}

// Names returns the registered profile names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for _, p := range r.byName {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

// Built-in profile names.
const (
	ProfileInfiniHostIIIEx = "InfiniHost-III-Ex"
	ProfileConnectX2QDR2p  = "ConnectX-2-QDR-2p"
	ProfileConnectX2QDR1p  = "ConnectX-2-QDR-1p"
	ProfileConnectX3FDR2p  = "ConnectX-3-FDR-2p"
	ProfileConnectX3FDR1p  = "ConnectX-3-FDR-1p"
	ProfileConnectX3ProFDR = "ConnectX-3-Pro-FDR-2p"
	ProfileConnectX4EDR2p  = "ConnectX-4-EDR-2p"
	ProfileConnectX4EDR1p  = "ConnectX-4-EDR-1p"
	ProfileConnectX5EDR2p  = "ConnectX-5-EDR-2p"
	ProfileConnectX6HDR2p  = "ConnectX-6-HDR-2p"
	ProfileConnectX6HDR1p  = "ConnectX-6-HDR-1p"
)

// Generations lists the built-in HCA models a fabric may pick for a CA
// whose topology states no device ID but a rate the default model cannot
// run: oldest first, so the first that can run the rate is the one a
// cluster of that generation would have.
var Generations = []string{
	ProfileConnectX2QDR2p, ProfileConnectX3FDR2p, ProfileConnectX4EDR2p, ProfileConnectX6HDR2p,
}

// PortInfo.CapabilityMask of the Mellanox HCAs (ibstat shows 0x02510a68
// for mthca and 0x02510868 for mlx4 without IsSM): IsTrapSupported,
// IsAutomaticMigrationSupported, IsSLMappingSupported,
// IsSystemImageGUIDSupported, IsCommunicationManagementSupported,
// IsVendorClassSupported, IsCapabilityMaskNoticeSupported,
// IsClientReregistrationSupported, and on InfiniHost IsLedInfoSupported.
const (
	capConnectX = wire.PortCapIsTrapSupported | wire.PortCapIsAutomaticMigrationSupported |
		wire.PortCapIsSLMappingSupported | wire.PortCapIsSystemImageGUIDSupported |
		wire.PortCapIsCommunicationManagementSupported | wire.PortCapIsVendorClassSupported |
		wire.PortCapIsCapabilityMaskNoticeSupported | wire.PortCapIsClientReregistrationSupported
	capInfiniHost = capConnectX | wire.PortCapIsLedInfoSupported

	// capConnectX3 is ConnectX-3's (ibstat: 0x02514868): ConnectX-2's
	// plus IsExtendedSpeedsSupported.
	capConnectX3 = capConnectX | wire.PortCapIsExtendedSpeedsSupported

	// capConnectX4 is the mlx5 firmware's (ibstat: 0x2651e848 on
	// ConnectX-4, -5 and -6): IsTrapSupported, IsSLMappingSupported,
	// IsSystemImageGUIDSupported, IsCableInfoSupported,
	// IsExtendedSpeedsSupported, IsCapabilityMask2Supported,
	// IsCommunicationManagementSupported, IsVendorClassSupported,
	// IsCapabilityMaskNoticeSupported, IsClientReregistrationSupported,
	// IsOtherLocalChangesNoticeSupported and
	// IsMulticastPKeyTrapSuppressionSupported.
	capConnectX4 = wire.PortCapIsTrapSupported | wire.PortCapIsSLMappingSupported |
		wire.PortCapIsSystemImageGUIDSupported | wire.PortCapIsCableInfoSupported |
		wire.PortCapIsExtendedSpeedsSupported | wire.PortCapIsCapabilityMask2Supported |
		wire.PortCapIsCommunicationManagementSupported | wire.PortCapIsVendorClassSupported |
		wire.PortCapIsCapabilityMaskNoticeSupported | wire.PortCapIsClientReregistrationSupported |
		wire.PortCapIsOtherLocalChangesNoticeSupported | wire.PortCapIsMulticastPKeyTrapSuppressionSupported
)

// PortInfo.CapabilityMask2 bits (IBTA Vol 1 §14.2.5.6) HDR parts report.
const (
	Cap2IsLinkWidth2XSupported  uint16 = 0x0010
	Cap2IsLinkSpeedHDRSupported uint16 = 0x0020
)

// Link capabilities of the generations.
const (
	speedsQDR  = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
	speedsFDR  = speedsQDR | wire.SpeedFDR10 | wire.SpeedFDR
	speedsEDR  = speedsQDR | wire.SpeedFDR | wire.SpeedEDR
	speedsHDR  = speedsEDR | wire.SpeedHDR
	widths4X   = wire.Width1X | wire.Width4X
	widths2X4X = wire.Width1X | wire.Width2X | wire.Width4X
	mlx4PKeys  = 128
	mlx4GIDs   = 128
	mlx5PKeys  = 128
	mlx5GIDs   = 8
)

// builtinProfiles are the models StandardProfiles registers.
//
// InfiniHost III Ex: the MT25208 chip has two PCI identities
// (protocols.md §7.2): 0x6278 in Tavor-compatibility mode and 0x6282 in
// its native mem-free (Arbel) mode, which mthca drives as mem-free. The
// native mode is modelled, so DeviceID is 0x6282 (vendor_part_id 25218,
// what ibv_devinfo shows for these boards); Part stays MT25208, the chip.
// The board is the mem-free dual-port DDR MHGA28-XTC.
//
// ConnectX-2: MT26428 (0x673C), 4x SDR/DDR/QDR, PCIe gen2; MHQH29B-XTR
// (2 ports) and MHQH19B-XTR (1 port), hw_ver 0xB0.
//
// ConnectX-3 (MT27500, 0x1003, vendor_part_id 4099) and ConnectX-3 Pro
// (MT27520, 0x1007, 4103): mlx4, 4x SDR to FDR and Mellanox FDR10,
// MCX354A-FCBT / MCX353A-FCBT and MCX354A-FCCT, hw_ver 0x1, firmware 2.42
// (the last mlx4 release line, 2.42.5000).
//
// ConnectX-4 (MT27700, 0x1013, 4115), ConnectX-5 (MT27800, 0x1017, 4119)
// and ConnectX-6 (MT28908, 0x101B, 4123): mlx5, FDR and EDR (ConnectX-6
// HDR, with 2x lanes for HDR100), no FDR10, VL0-VL3, 8 GIDs per port in
// the SMA's GUIDInfo; MCX456A-ECAT / MCX455A-ECAT, MCX556A-ECAT and
// MCX653106A-HDAT / MCX653105A-HDAT; firmware 12.28, 16.35 and 20.39
// (12.28.2006, 16.35.2000, 20.39.1002: mlx5 firmware has a
// three-component version with a four-digit sub-minor, which GeneralInfo
// carries in its extended version words).
//
// Firmware build IDs and dates are representative of the releases named.
var builtinProfiles = []Profile{
	{
		Name: ProfileConnectX2QDR2p, Family: "ConnectX-2", Part: "MT26428", Board: "MHQH29B-XTR",
		DeviceID: 0x673C, VendorID: MellanoxVendorID, Revision: 0xB0, Driver: "mlx4_core",
		NumPorts: 2, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to7, PartitionCap: 128, GIDTableLen: 128,
		CapabilityMask: capConnectX,
		Firmware: agent.Firmware{Major: 2, Minor: 7, SubMinor: 0, BuildID: 0x1F, Year: 2009, Month: 11, Day: 30,
			Hour: 14, Minute: 0, PSID: "MT_0D80120009", INIVersion: 1, HWRevision: 0xB0, HWDeviceID: 0x673C},
	},
	{
		Name: ProfileConnectX2QDR1p, Family: "ConnectX-2", Part: "MT26428", Board: "MHQH19B-XTR",
		DeviceID: 0x673C, VendorID: MellanoxVendorID, Revision: 0xB0, Driver: "mlx4_core",
		NumPorts: 1, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to7, PartitionCap: 128, GIDTableLen: 128,
		CapabilityMask: capConnectX,
		Firmware: agent.Firmware{Major: 2, Minor: 7, SubMinor: 0, BuildID: 0x1F, Year: 2009, Month: 11, Day: 30,
			Hour: 14, Minute: 0, PSID: "MT_0D90110009", INIVersion: 1, HWRevision: 0xB0, HWDeviceID: 0x673C},
	},
	cx3(ProfileConnectX3FDR2p, "MT27500", "MCX354A-FCBT", 0x1003, 2, "MT_1090120019"),
	cx3(ProfileConnectX3FDR1p, "MT27500", "MCX353A-FCBT", 0x1003, 1, "MT_1060110018"),
	cx3(ProfileConnectX3ProFDR, "MT27520", "MCX354A-FCCT", 0x1007, 2, "MT_1020120019"),
	mlx5(ProfileConnectX4EDR2p, "ConnectX-4", "MT27700", "MCX456A-ECAT", 0x1013, 2, speedsEDR, widths4X, 12, 28, 2006, "MT_2190110032"),
	mlx5(ProfileConnectX4EDR1p, "ConnectX-4", "MT27700", "MCX455A-ECAT", 0x1013, 1, speedsEDR, widths4X, 12, 28, 2006, "MT_2180110032"),
	mlx5(ProfileConnectX5EDR2p, "ConnectX-5", "MT27800", "MCX556A-ECAT", 0x1017, 2, speedsEDR, widths4X, 16, 35, 2000, "MT_0000000008"),
	mlx5(ProfileConnectX6HDR2p, "ConnectX-6", "MT28908", "MCX653106A-HDAT", 0x101B, 2, speedsHDR, widths2X4X, 20, 39, 1002, "MT_0000000223"),
	mlx5(ProfileConnectX6HDR1p, "ConnectX-6", "MT28908", "MCX653105A-HDAT", 0x101B, 1, speedsHDR, widths2X4X, 20, 39, 1002, "MT_0000000222"),
	{
		Name: ProfileInfiniHostIIIEx, Family: "InfiniHost III Ex", Part: "MT25208", Board: "MHGA28-XTC",
		DeviceID: 0x6282, VendorID: MellanoxVendorID, Revision: 0xA0, Driver: "ib_mthca",
		NumPorts: 2, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR,
		MTUCap: wire.MTU2048, VLCap: wire.VLCapVL0to7, PartitionCap: 64, GIDTableLen: 32,
		CapabilityMask: capInfiniHost,
		Firmware: agent.Firmware{Major: 5, Minor: 3, SubMinor: 0, BuildID: 0x4, Year: 2008, Month: 3, Day: 18,
			Hour: 10, Minute: 30, PSID: "MT_0370110002", INIVersion: 1, HWRevision: 0xA0, HWDeviceID: 0x6282},
	},
}

// cx3 is a ConnectX-3 (Pro) board: mlx4 firmware 2.42.
func cx3(name, part, board string, id uint16, ports int, psid string) Profile {
	family := "ConnectX-3"
	if id == 0x1007 {
		family = "ConnectX-3 Pro"
	}
	return Profile{
		Name: name, Family: family, Part: part, Board: board,
		DeviceID: id, VendorID: MellanoxVendorID, Revision: 0x01, Driver: "mlx4_core",
		NumPorts: ports, Widths: widths4X, Speeds: speedsFDR,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to7, PartitionCap: mlx4PKeys, GIDTableLen: mlx4GIDs,
		CapabilityMask: capConnectX3, MlnxExtPortInfo: true, CongestionControl: true,
		Firmware: agent.Firmware{Major: 2, Minor: 42, SubMinor: 5000, BuildID: 0x1, Year: 2017, Month: 9, Day: 12,
			Hour: 9, Minute: 0, PSID: psid, INIVersion: 1, HWRevision: 0x01, HWDeviceID: id},
	}
}

// mlx5 is a ConnectX-4 or later board; HDR parts add the CapabilityMask2
// bits for 2x and HDR.
func mlx5(name, family, part, board string, id uint16, ports int, speeds wire.LinkSpeed, widths wire.LinkWidth,
	fwMajor, fwMinor, fwSubMinor uint16, psid string) Profile {
	var cap2 uint16
	if widths&wire.Width2X != 0 {
		cap2 |= Cap2IsLinkWidth2XSupported
	}
	if speeds&wire.SpeedHDR != 0 {
		cap2 |= Cap2IsLinkSpeedHDRSupported
	}
	return Profile{
		Name: name, Family: family, Part: part, Board: board,
		DeviceID: id, VendorID: MellanoxVendorID, Revision: 0x00, Driver: "mlx5_core",
		NumPorts: ports, Widths: widths, Speeds: speeds,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to3, PartitionCap: mlx5PKeys, GIDTableLen: mlx5GIDs,
		CapabilityMask: capConnectX4, CapabilityMask2: cap2, MlnxExtPortInfo: true, CongestionControl: true,
		Firmware: agent.Firmware{Major: fwMajor, Minor: fwMinor, SubMinor: fwSubMinor, BuildID: 0x1, Year: 2022, Month: 6,
			Day: 1, Hour: 12, Minute: 0, PSID: psid, INIVersion: 1, HWRevision: 0x00, HWDeviceID: id},
	}
}

// StandardProfiles returns a new registry with the built-in models; the
// default is the dual-port ConnectX-2 QDR.
func StandardProfiles() *Registry {
	r := NewRegistry()
	for _, p := range builtinProfiles {
		if err := r.Register(p); err != nil {
			panic(err) // the built-in tables are wrong: a programming error
		}
	}
	if err := r.SetDefault(ProfileConnectX2QDR2p); err != nil {
		panic(err)
	}
	return r
}
