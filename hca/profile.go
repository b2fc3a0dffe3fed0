package hca

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

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
	// Timing is the adapter's own latency, which the verbs engine adds
	// under the virtual clock (see Timing). The zero value models none:
	// only the links' latency and serialisation count.
	Timing Timing
}

// Timing is how long an adapter's host interface and pipelines take for
// one message, the part of a perftest latency (ib_send_lat, ib_write_lat,
// ib_read_lat) that is neither cable nor switch: the doorbell's MMIO
// write, the WQE and gather DMA reads, the payload and CQE DMA writes, and
// for an RDMA READ or atomic the responder's DMA read of the data. The
// verbs engine (hca/verbs) applies it under the virtual clock only, as
// latency, never as occupancy: a stream of posts is not serialised by it,
// so bandwidth stays the link rate. Under the wall clock the emulator's
// own speed is what is measured, and Timing is not used.
//
// The per-model values are calibrated from published small-message
// latencies (see "Latency figures" in the comment of builtinProfiles):
// with h the one-way time of a hop (emu.DefaultLinkLatency plus the
// frame's serialisation), perftest's half round trip of a 2-byte inline
// SEND back to back is InlineDoorbell + h + Completion, and its RDMA READ
// is Doorbell + 2h + ReadTurnaround + Completion.
type Timing struct {
	// Doorbell is the requester's delay from the host ringing the
	// doorbell to the first packet of a WQE the adapter must fetch
	// (MMIO doorbell write, WQE DMA read, gather DMA read).
	Doorbell time.Duration
	// InlineDoorbell is Doorbell for an inline WQE, which the host
	// writes with the doorbell (BlueFlame on ConnectX): no DMA read
	// before the packet leaves. Zero means Doorbell.
	InlineDoorbell time.Duration
	// Completion is the delay from the packet that completes a work
	// request (the last packet of a received message, the ACK or
	// response of a sent one) to its CQE being visible to a poller:
	// payload and CQE DMA writes.
	Completion time.Duration
	// ReadTurnaround is the responder's DMA read of the data an RDMA
	// READ or atomic returns, between the request's arrival and the
	// first response packet. The engine accounts it in the requester's
	// completion of the READ or atomic (so that the responder's packets
	// keep their PSN order with the ACKs it sends meanwhile).
	ReadTurnaround time.Duration
}

// IsZero reports whether t models no adapter latency.
func (t Timing) IsZero() bool { return t == Timing{} }

// Validate reports a negative delay.
func (t Timing) Validate() error {
	if t.Doorbell < 0 || t.InlineDoorbell < 0 || t.Completion < 0 || t.ReadTurnaround < 0 {
		return fmt.Errorf("negative timing %+v", t)
	}
	return nil
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
	if err := p.Timing.Validate(); err != nil {
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
//
// # Latency figures
//
// Timing is calibrated per generation from these small-message figures
// (one way, perftest's half round trip; h is one hop: the 100 ns
// emu.DefaultLinkLatency plus the frame's serialisation, and A =
// InlineDoorbell + Completion = send - h, split evenly between the two;
// X is a DMA read across the host interface, the difference between
// Doorbell and InlineDoorbell and the READ responder's turnaround):
//
//   - ConnectX-4 EDR (MT27700, MCX455A/456A-ECAT): ib_send_lat 0.83 µs
//     for 32-byte inline RC SENDs, back to back over a 0.5 m copper
//     cable (D. Potter, master's thesis, RWTH Aachen 2018, table
//     "mtu_performance": https://git.dennispotter.eu/Dennis/masters-thesis,
//     tables/mtu_performance.tex; the test system is in
//     tables/benchmark_testsystem.tex). A = 830-102 ns.
//   - ConnectX-5 EDR: no figure found; derived from ConnectX-4 (same EDR
//     port and PCIe Gen3 x16 host interface): the same Timing.
//   - ConnectX-6 HDR: no figure found; derived from ConnectX-5 (same
//     doorbell and completion path), with X 300 ns for PCIe Gen4 instead
//     of 350 ns.
//   - ConnectX-3 / ConnectX-3 Pro FDR: "sub-microsecond latency" with FDR
//     InfiniBand (The Register, 2011-06-06, "Mellanox ConnectX-3 chip",
//     https://www.theregister.co.uk/2011/06/06/mellanox_connectx_3_chip/);
//     0.90 µs is taken, between that bound and ConnectX-4's 0.83 µs
//     (derived). A = 900-104 ns.
//   - ConnectX-2 QDR (MT26428): about 1.3 µs for the ConnectX-2 chips
//     (same source, quoted for its 10GbE RoCE ports); taken for the QDR
//     InfiniBand port too (derived: no InfiniBand figure found).
//     A = 1300-108 ns.
//   - InfiniHost III Ex (MT25208): "small message latency achieved with
//     PCI Express is around 3.8 µs" at the verbs level, 4.6 µs with MPI
//     (J. Liu, A. Mamidala, A. Vishnu, D. K. Panda, "Performance
//     Evaluation of InfiniBand with PCI Express", Hot Interconnects 2004,
//     OSU; abstract at
//     https://paperexplained.cn/articles/paper/detail/a5aa8d77a77a58daa7cb2ac12a73f8369943d54a),
//     measured through one switch, taken as InfiniScale III (200 ns) at
//     SDR: 3.8 µs - 130 ns - 200 ns = 3.47 µs back to back, A = 3470-115 ns.
//
// ib_read_lat: no published figure was found for any of these models.
// X is an assumed PCIe read round trip per host-interface generation
// (PCIe Gen1 700 ns, Gen2 500 ns, Gen3 350 ns, Gen4 300 ns), which makes
// the back-to-back read latency send + h + 2X (derived, not published).
//
// Inline SENDs skip the WQE fetch: RAMCloud's measurements with
// ConnectX-2 found inline small-message round trips about half of
// non-inline ones ("Infiniband Verbs Performance",
// https://ramcloud.atlassian.net/wiki/spaces/RAM/pages/6848596).
var builtinProfiles = []Profile{
	{
		Name: ProfileConnectX2QDR2p, Family: "ConnectX-2", Part: "MT26428", Board: "MHQH29B-XTR",
		DeviceID: 0x673C, VendorID: MellanoxVendorID, Revision: 0xB0, Driver: "mlx4_core",
		NumPorts: 2, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to7, PartitionCap: 128, GIDTableLen: 128,
		CapabilityMask: capConnectX, Timing: timingConnectX2,
		Firmware: agent.Firmware{Major: 2, Minor: 7, SubMinor: 0, BuildID: 0x1F, Year: 2009, Month: 11, Day: 30,
			Hour: 14, Minute: 0, PSID: "MT_0D80120009", INIVersion: 1, HWRevision: 0xB0, HWDeviceID: 0x673C},
	},
	{
		Name: ProfileConnectX2QDR1p, Family: "ConnectX-2", Part: "MT26428", Board: "MHQH19B-XTR",
		DeviceID: 0x673C, VendorID: MellanoxVendorID, Revision: 0xB0, Driver: "mlx4_core",
		NumPorts: 1, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR,
		MTUCap: wire.MTU4096, VLCap: wire.VLCapVL0to7, PartitionCap: 128, GIDTableLen: 128,
		CapabilityMask: capConnectX, Timing: timingConnectX2,
		Firmware: agent.Firmware{Major: 2, Minor: 7, SubMinor: 0, BuildID: 0x1F, Year: 2009, Month: 11, Day: 30,
			Hour: 14, Minute: 0, PSID: "MT_0D90110009", INIVersion: 1, HWRevision: 0xB0, HWDeviceID: 0x673C},
	},
	cx3(ProfileConnectX3FDR2p, "MT27500", "MCX354A-FCBT", 0x1003, 2, "MT_1090120019"),
	cx3(ProfileConnectX3FDR1p, "MT27500", "MCX353A-FCBT", 0x1003, 1, "MT_1060110018"),
	cx3(ProfileConnectX3ProFDR, "MT27520", "MCX354A-FCCT", 0x1007, 2, "MT_1020120019"),
	timed(mlx5(ProfileConnectX4EDR2p, "ConnectX-4", "MT27700", "MCX456A-ECAT", 0x1013, 2, speedsEDR, widths4X, 12, 28, 2006, "MT_2190110032"), timingConnectX4),
	timed(mlx5(ProfileConnectX4EDR1p, "ConnectX-4", "MT27700", "MCX455A-ECAT", 0x1013, 1, speedsEDR, widths4X, 12, 28, 2006, "MT_2180110032"), timingConnectX4),
	timed(mlx5(ProfileConnectX5EDR2p, "ConnectX-5", "MT27800", "MCX556A-ECAT", 0x1017, 2, speedsEDR, widths4X, 16, 35, 2000, "MT_0000000008"), timingConnectX4),
	timed(mlx5(ProfileConnectX6HDR2p, "ConnectX-6", "MT28908", "MCX653106A-HDAT", 0x101B, 2, speedsHDR, widths2X4X, 20, 39, 1002, "MT_0000000223"), timingConnectX6),
	timed(mlx5(ProfileConnectX6HDR1p, "ConnectX-6", "MT28908", "MCX653105A-HDAT", 0x101B, 1, speedsHDR, widths2X4X, 20, 39, 1002, "MT_0000000222"), timingConnectX6),
	{
		Name: ProfileInfiniHostIIIEx, Family: "InfiniHost III Ex", Part: "MT25208", Board: "MHGA28-XTC",
		DeviceID: 0x6282, VendorID: MellanoxVendorID, Revision: 0xA0, Driver: "ib_mthca",
		NumPorts: 2, Widths: wire.Width1X | wire.Width4X, Speeds: wire.SpeedSDR | wire.SpeedDDR,
		MTUCap: wire.MTU2048, VLCap: wire.VLCapVL0to7, PartitionCap: 64, GIDTableLen: 32,
		CapabilityMask: capInfiniHost, Timing: timingInfiniHostIIIEx,
		Firmware: agent.Firmware{Major: 5, Minor: 3, SubMinor: 0, BuildID: 0x4, Year: 2008, Month: 3, Day: 18,
			Hour: 10, Minute: 30, PSID: "MT_0370110002", INIVersion: 1, HWRevision: 0xA0, HWDeviceID: 0x6282},
	},
}

// The Timing of the built-in generations (see "Latency figures" in the
// comment of builtinProfiles).
var (
	timingInfiniHostIIIEx = Timing{Doorbell: 2380 * time.Nanosecond, InlineDoorbell: 1680 * time.Nanosecond,
		Completion: 1675 * time.Nanosecond, ReadTurnaround: 700 * time.Nanosecond}
	timingConnectX2 = Timing{Doorbell: 1096 * time.Nanosecond, InlineDoorbell: 596 * time.Nanosecond,
		Completion: 596 * time.Nanosecond, ReadTurnaround: 500 * time.Nanosecond}
	timingConnectX3 = Timing{Doorbell: 748 * time.Nanosecond, InlineDoorbell: 398 * time.Nanosecond,
		Completion: 398 * time.Nanosecond, ReadTurnaround: 350 * time.Nanosecond}
	timingConnectX4 = Timing{Doorbell: 714 * time.Nanosecond, InlineDoorbell: 364 * time.Nanosecond,
		Completion: 364 * time.Nanosecond, ReadTurnaround: 350 * time.Nanosecond}
	timingConnectX6 = Timing{Doorbell: 664 * time.Nanosecond, InlineDoorbell: 364 * time.Nanosecond,
		Completion: 365 * time.Nanosecond, ReadTurnaround: 300 * time.Nanosecond}
)

// timed returns p with timing t.
func timed(p Profile, t Timing) Profile {
	p.Timing = t
	return p
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
		CapabilityMask: capConnectX3, MlnxExtPortInfo: true, CongestionControl: true, Timing: timingConnectX3,
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
