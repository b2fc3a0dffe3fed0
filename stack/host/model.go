package host

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// StateFormat names the layout of the state file; Open refuses others.
const StateFormat = "ibemu-host/1"

// State is everything about a host that is not a file on its disk: what
// Windows keeps in its registry (devices, drivers, services, network
// adapters, environment, installed products, certificates) plus the
// hardware (HCA slots) and the system event log. It is saved as JSON in
// the host root (StateFile) after every change, atomically.
type State struct {
	// Format is StateFormat.
	Format string `json:"format"`
	// Name is the computer name.
	Name string `json:"name"`
	// OS and Arch are the operating system flavour and architecture.
	OS   OS   `json:"os"`
	Arch Arch `json:"arch"`
	// Boots counts system starts (1 after Create).
	Boots int `json:"boots"`
	// RebootPending is set by changes that need a restart to take effect
	// (a boot-start driver installed or removed).
	RebootPending bool `json:"reboot_pending,omitempty"`
	// Env is the system environment (HKLM ...\Session Manager\Environment).
	Env []EnvVar `json:"env"`
	// HCAs are the InfiniBand HCAs in the host's PCI slots.
	HCAs []HCASlot `json:"hcas,omitempty"`
	// Devices is the Plug and Play device tree.
	Devices []Device `json:"devices,omitempty"`
	// DriverStore lists the driver packages staged on the host.
	DriverStore []DriverPackage `json:"driver_store,omitempty"`
	// NextOEM numbers published INF files (oem0.inf, oem1.inf ...).
	NextOEM int `json:"next_oem"`
	// Services are the Service Control Manager's services and drivers.
	Services []Service `json:"services,omitempty"`
	// Adapters are the network adapters (Ethernet and IPoIB).
	Adapters []NetAdapter `json:"adapters,omitempty"`
	// Providers are registered Winsock Direct and NetworkDirect providers.
	Providers []Provider `json:"providers,omitempty"`
	// Products are installed Windows Installer products (Add or Remove
	// Programs entries).
	Products []Product `json:"products,omitempty"`
	// Certificates holds the local machine certificate stores.
	Certificates []Certificate `json:"certificates,omitempty"`
	// Disks are disks attached through the fabric (SRP targets).
	Disks []Disk `json:"disks,omitempty"`
	// Events is the System event log, oldest first.
	Events []Event `json:"events,omitempty"`
	// NextEvent numbers event records.
	NextEvent int `json:"next_event"`
}

// EnvVar is one system environment variable. Names compare without
// regard to case, as on Windows.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// FirmwareVersion is an HCA firmware version, major.minor.subminor, as
// the Mellanox drivers compare it (mthca and mlx4 pack it into one 64-bit
// number: major<<32 | minor<<16 | subminor).
type FirmwareVersion struct {
	Major, Minor, SubMinor uint16
}

// ParseFirmwareVersion parses "5.3.0", "2.7.9000" or vstat's
// "2.07.0000".
func ParseFirmwareVersion(s string) (FirmwareVersion, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 {
		return FirmwareVersion{}, fmt.Errorf("host: firmware version %q: want major.minor.subminor: %w", s, ErrBadConfig)
	}
	var v [3]uint16
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return FirmwareVersion{}, fmt.Errorf("host: firmware version %q: %w", s, ErrBadConfig)
		}
		v[i] = uint16(n)
	}
	return FW(v[0], v[1], v[2]), nil
}

// Packed is the version as the drivers hold it: major<<32 | minor<<16 |
// subminor.
func (v FirmwareVersion) Packed() uint64 {
	return uint64(v.Major)<<32 | uint64(v.Minor)<<16 | uint64(v.SubMinor)
}

// Less reports whether v is older than w.
func (v FirmwareVersion) Less(w FirmwareVersion) bool { return v.Packed() < w.Packed() }

// String formats the version as the drivers' event log messages do
// ("5.3.0").
func (v FirmwareVersion) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.SubMinor)
}

// VstatString formats the version as vstat prints fw_ver for Mellanox
// devices: major, two-digit minor, four-digit subminor ("2.07.0000").
func (v FirmwareVersion) VstatString() string {
	return fmt.Sprintf("%d.%02d.%04d", v.Major, v.Minor, v.SubMinor)
}

// IsZero reports whether no version is set.
func (v FirmwareVersion) IsZero() bool { return v == FirmwareVersion{} }

// FirmwareImage is what is burnt into an HCA's flash: the firmware
// version and the board's PSID (the image must match the board's PSID).
type FirmwareImage struct {
	Version FirmwareVersion `json:"version"`
	PSID    string          `json:"psid"`
	// BuildID identifies the build of the image.
	BuildID uint32 `json:"build_id,omitempty"`
	// Burns counts the times the flash was written since the host was
	// created.
	Burns int `json:"burns,omitempty"`
}

// HCASlot is an InfiniBand HCA in one of the host's PCI slots: the
// hardware, which stays when software comes and goes (and across
// re-imaging), and its firmware image.
type HCASlot struct {
	// Slot numbers the HCAs of the host from 1.
	Slot int `json:"slot"`
	// Name is the adapter's fabric node name, or its NodeDescription.
	Name string `json:"name"`
	// Profile is the hca.Profile name of the model.
	Profile string `json:"profile"`
	// Family, Part and Board describe the model ("ConnectX-2",
	// "MT26428", "MHQH29B-XTR").
	Family string `json:"family"`
	Part   string `json:"part"`
	Board  string `json:"board"`
	// DeviceID is the PCI device ID (vendor 0x15B3).
	DeviceID uint16 `json:"device_id"`
	// Revision is the hardware revision (vstat's hw_ver).
	Revision uint32 `json:"revision"`
	// VendorID is the IB vendor ID (IEEE OUI) of NodeInfo.
	VendorID uint32 `json:"vendor_id"`
	// NumPorts is the number of IB ports.
	NumPorts int `json:"num_ports"`
	// NodeGUID, SystemImageGUID and PortGUIDs identify the adapter.
	NodeGUID        wire.GUID   `json:"node_guid"`
	SystemImageGUID wire.GUID   `json:"system_image_guid"`
	PortGUIDs       []wire.GUID `json:"port_guids"`
	// MTUCap is the ports' maximum MTU.
	MTUCap wire.MTU `json:"mtu_cap"`
	// Firmware is the image in the adapter's flash.
	Firmware FirmwareImage `json:"firmware"`
}

// PCIVendorID is the PCI vendor ID of Mellanox adapters.
const PCIVendorID = 0x15B3

// HardwareIDs are the Plug and Play IDs the PCI bus reports for the slot,
// most specific first (vendor, device, subsystem, revision).
func (s *HCASlot) HardwareIDs() []string {
	base := fmt.Sprintf(`PCI\VEN_%04X&DEV_%04X`, PCIVendorID, s.DeviceID)
	sub := fmt.Sprintf("&SUBSYS_%04X%04X", s.DeviceID, PCIVendorID)
	rev := fmt.Sprintf("&REV_%02X", s.Revision&0xFF)
	return []string{base + sub + rev, base + sub, base + rev, base}
}

// CompatibleIDs are the class-based IDs of the slot (PCI class 0x0C06,
// InfiniBand serial bus controller).
func (s *HCASlot) CompatibleIDs() []string {
	return []string{fmt.Sprintf(`PCI\VEN_%04X&CC_0C0600`, PCIVendorID), fmt.Sprintf(`PCI\VEN_%04X&CC_0C06`, PCIVendorID), `PCI\CC_0C0600`, `PCI\CC_0C06`}
}

// InstanceID is the device instance ID of the slot's PCI function.
func (s *HCASlot) InstanceID() string {
	return fmt.Sprintf(`%s\4&%08X&0&00%02XE0`, s.HardwareIDs()[0], uint32(s.NodeGUID>>8)^uint32(s.NodeGUID), s.Slot)
}

// MSTDevice is the name the Mellanox firmware tools (mst, flint) give the
// adapter's configuration-space access device: "mt<part number>_pci_cr<n>",
// where the part number is the decimal PCI device ID.
func (s *HCASlot) MSTDevice(index int) string {
	return fmt.Sprintf("mt%d_pci_cr%d", s.DeviceID, index)
}

// Device is a node of the Plug and Play device tree.
type Device struct {
	// InstanceID identifies the device (PCI\VEN_15B3&DEV_6282&...\...).
	InstanceID string `json:"instance_id"`
	// Description is the name Device Manager shows.
	Description string `json:"description"`
	// HardwareIDs and CompatibleIDs are what drivers are matched
	// against, most specific first.
	HardwareIDs   []string `json:"hardware_ids"`
	CompatibleIDs []string `json:"compatible_ids,omitempty"`
	// Class is the setup class of the bound driver (ClassInfiniBand,
	// ClassNet ...); empty while no driver is bound ("Other devices").
	Class string `json:"class,omitempty"`
	// Parent is the instance ID of the parent device ("" for root and
	// PCI devices).
	Parent string `json:"parent,omitempty"`
	// RootEnumerated marks devices created by software rather than found
	// on a bus (ROOT\...).
	RootEnumerated bool `json:"root_enumerated,omitempty"`
	// Slot is the HCA slot of PCI HCAs and of their children (0: none).
	Slot int `json:"slot,omitempty"`
	// Port is the HCA port of per-port children (IPoIB).
	Port int `json:"port,omitempty"`
	// Driver is the INF of the bound driver package ("" none).
	Driver string `json:"driver,omitempty"`
	// Service is the bound driver's service.
	Service string `json:"service,omitempty"`
	// DriverVersion is the bound package's DriverVer version.
	DriverVersion string `json:"driver_version,omitempty"`
	// Status is the device's state.
	Status DeviceStatus `json:"status"`
	// Problem is the Device Manager problem code while Status is
	// StatusProblem (ProblemNoDriver, ProblemFailedStart ...).
	Problem int `json:"problem,omitempty"`
	// FirmwareUpdateMode marks an HCA whose firmware is below the
	// driver's minimum: it is bound as a memory controller so the
	// firmware can be burnt, and carries no InfiniBand traffic.
	FirmwareUpdateMode bool `json:"firmware_update_mode,omitempty"`
	// LoadedFirmware is the firmware version an HCA's driver found when
	// it last started the device (flashing new firmware changes the slot,
	// not this, until the device restarts).
	LoadedFirmware FirmwareVersion `json:"loaded_firmware,omitzero"`
}

// DeviceStatus is the state of a device.
type DeviceStatus string

// Device states.
const (
	StatusStarted  DeviceStatus = "started"
	StatusProblem  DeviceStatus = "problem"
	StatusDisabled DeviceStatus = "disabled"
)

// Device Manager problem codes (CM_PROB_*).
const (
	// ProblemFailedStart: "This device cannot start. (Code 10)".
	ProblemFailedStart = 10
	// ProblemDisabled: "This device is disabled. (Code 22)".
	ProblemDisabled = 22
	// ProblemNoDriver: "The drivers for this device are not installed.
	// (Code 28)".
	ProblemNoDriver = 28
	// ProblemDriverMissing: "Windows cannot load the device driver for
	// this hardware. The driver may be corrupted or missing. (Code 39)".
	ProblemDriverMissing = 39
)

// Setup classes of the devices WinOF drivers bind.
const (
	ClassInfiniBand = "InfiniBandController" // InfiniBand Host Channel Adapters
	ClassSystem     = "System"               // System devices
	ClassNet        = "Net"                  // Network adapters
	ClassSCSI       = "SCSIAdapter"          // SCSI and RAID controllers
	ClassMemory     = "MemoryController"     // Memory controllers (an HCA in firmware-update mode)
)

// DriverFile is one file of a driver package and the folder it is copied
// to when a device is bound: DirDrivers (System32\drivers), DirSystem
// (System32) or DirSystemWOW (SysWOW64, 64-bit hosts only).
type DriverFile struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
}

// Destination folders of driver files.
const (
	DirDrivers   = "drivers"
	DirSystem    = "system32"
	DirSystemWOW = "syswow64"
)

// ChildSpec is a device a bound driver enumerates below its device: the
// mlx4 bus driver's HCA function, or an IPoIB port (one per HCA port when
// PerPort).
type ChildSpec struct {
	HardwareID  string `json:"hardware_id"`
	Description string `json:"description"`
	PerPort     bool   `json:"per_port,omitempty"`
}

// FirmwareRule is an HCA driver's firmware policy for one PCI device ID:
// below Minimal the driver logs an error and binds the HCA as a memory
// controller so the firmware can be updated; from Minimal up to Optimal
// it starts with a warning in the event log; at Optimal or newer it starts
// cleanly.
type FirmwareRule struct {
	DeviceID uint16          `json:"device_id"`
	Minimal  FirmwareVersion `json:"minimal"`
	Optimal  FirmwareVersion `json:"optimal"`
}

// DriverPackage is a driver package staged on the host (an INF, its
// catalog and files): what DIFx/dpinst put into the driver store.
type DriverPackage struct {
	// INF is the package's INF file name ("mthca.inf").
	INF string `json:"inf"`
	// Published is the name Windows published the INF under
	// (oem<N>.inf).
	Published string `json:"published"`
	// Source is the Windows path of the folder the device installer
	// copies files from: the driver store folder on Vista and later,
	// the package's own folder on XP and Server 2003.
	Source string `json:"source"`
	// Provider and Description are the INF's provider and device
	// description.
	Provider    string `json:"provider"`
	Description string `json:"description"`
	// Class is the setup class of the devices the package drives.
	Class string `json:"class"`
	// Date and Version are the INF's DriverVer.
	Date    string `json:"date"`
	Version string `json:"version"`
	// Signer is the subject of the certificate that signed the catalog;
	// WHQL marks a Windows Hardware Quality Labs signature.
	Signer string `json:"signer"`
	WHQL   bool   `json:"whql,omitempty"`
	// HardwareIDs are the IDs the package's models match.
	HardwareIDs []string `json:"hardware_ids"`
	// Service is the driver's service; its binary is Files[0] unless
	// ServiceBinary says otherwise.
	Service       string    `json:"service"`
	ServiceBinary string    `json:"service_binary"`
	StartMode     StartMode `json:"start_mode"`
	// Files are copied into system folders when a device is bound.
	Files []DriverFile `json:"files"`
	// Children are enumerated below a device the package drives.
	Children []ChildSpec `json:"children,omitempty"`
	// Firmware is the HCA driver's firmware policy.
	Firmware []FirmwareRule `json:"firmware,omitempty"`
	// Product is the code of the product that staged the package ("":
	// staged by other means, e.g. image provisioning).
	Product string `json:"product,omitempty"`
	// Leftover is set when the package was registered from a store
	// folder an earlier failed install left behind.
	Leftover bool `json:"leftover,omitempty"`
}

// StartMode is a service's start type.
type StartMode string

// Start types.
const (
	StartBoot     StartMode = "boot"
	StartSystem   StartMode = "system"
	StartAuto     StartMode = "auto"
	StartDemand   StartMode = "demand"
	StartDisabled StartMode = "disabled"
)

// ServiceState is whether a service runs.
type ServiceState string

// Service states.
const (
	ServiceStopped ServiceState = "stopped"
	ServiceRunning ServiceState = "running"
)

// ServiceKind distinguishes kernel drivers from Win32 services.
type ServiceKind string

// Service kinds.
const (
	KindKernelDriver ServiceKind = "kernel"
	KindProcess      ServiceKind = "process"
)

// Service is an entry of the Service Control Manager.
type Service struct {
	Name        string       `json:"name"`
	DisplayName string       `json:"display_name"`
	Description string       `json:"description,omitempty"`
	Kind        ServiceKind  `json:"kind"`
	StartMode   StartMode    `json:"start_mode"`
	State       ServiceState `json:"state"`
	// ImagePath is the Windows path of the binary.
	ImagePath string `json:"image_path"`
	// Args are the command-line arguments.
	Args string `json:"args,omitempty"`
	// Product is the code of the product that installed the service.
	Product string `json:"product,omitempty"`
}

// NetAdapter is a network adapter (a "Local Area Connection").
type NetAdapter struct {
	// Name is the connection name ("Local Area Connection 3").
	Name string `json:"name"`
	// Description is the adapter's device description.
	Description string `json:"description"`
	// Kind is AdapterEthernet or AdapterIPoIB.
	Kind string `json:"kind"`
	// Device is the instance ID of the IPoIB device ("" for the
	// built-in Ethernet ports).
	Device string `json:"device,omitempty"`
	// MAC is the adapter's physical address ("00-02-C9-0A-1B-2D").
	MAC string `json:"mac"`
	// DHCP is set while the address comes from DHCP.
	DHCP bool `json:"dhcp"`
	// IPv4, Mask and Gateway are a static address (dotted quads).
	IPv4    string `json:"ipv4,omitempty"`
	Mask    string `json:"mask,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// Adapter kinds.
const (
	AdapterEthernet = "ethernet"
	AdapterIPoIB    = "ipoib"
)

// Provider is a registered Winsock Direct (ProviderWSD) or NetworkDirect
// (ProviderND) provider.
type Provider struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Path    string `json:"path"`
	Product string `json:"product,omitempty"`
}

// Provider kinds.
const (
	ProviderWSD = "WSD"
	ProviderND  = "ND"
)

// Product is an installed Windows Installer product.
type Product struct {
	// Code is the ProductCode ("{...}") and UpgradeCode the family's.
	Code        string `json:"code"`
	UpgradeCode string `json:"upgrade_code"`
	// Name, Version and Publisher are what Add or Remove Programs shows.
	Name      string `json:"name"`
	Version   string `json:"version"`
	Publisher string `json:"publisher"`
	// Package is the installer file name it was installed from.
	Package string `json:"package"`
	// InstallDir is the Windows path of the install folder.
	InstallDir string `json:"install_dir"`
	// Features are the installed features.
	Features []string `json:"features"`
	// Properties are the public properties given at install time.
	Properties map[string]string `json:"properties,omitempty"`
	// Record is the installer's own record of what it put where.
	Record json.RawMessage `json:"record,omitempty"`
}

// Certificate is a certificate in one of the machine's stores.
type Certificate struct {
	// Store is the store name (StoreTrustedPublisher ...).
	Store      string `json:"store"`
	Subject    string `json:"subject"`
	Thumbprint string `json:"thumbprint"`
}

// Certificate stores.
const (
	StoreTrustedPublisher = "TrustedPublisher"
	StoreRoot             = "Root"
)

// Disk is a disk the host reaches over the fabric (an SRP target LUN).
// While it is online, the files of the driver stack under it are in use
// and cannot be deleted.
type Disk struct {
	// Volume is the drive letter ("L").
	Volume string `json:"volume"`
	// Transport is "SRP".
	Transport string `json:"transport"`
	// Online is cleared by diskpart's OFFLINE DISK.
	Online bool `json:"online"`
	// Holds are the Windows paths of the files the disk's driver stack
	// keeps open.
	Holds []string `json:"holds,omitempty"`
}

// EventLevel is the type of an event log record.
type EventLevel string

// Event levels.
const (
	LevelError       EventLevel = "Error"
	LevelWarning     EventLevel = "Warning"
	LevelInformation EventLevel = "Information"
)

// Event is one record of the System event log.
type Event struct {
	Record  int        `json:"record"`
	Time    time.Time  `json:"time"`
	Level   EventLevel `json:"level"`
	Source  string     `json:"source"`
	ID      uint32     `json:"id"`
	Message string     `json:"message"`
}

// FW makes a FirmwareVersion.
func FW(major, minor, subMinor uint16) FirmwareVersion {
	return FirmwareVersion{Major: major, Minor: minor, SubMinor: subMinor}
}
