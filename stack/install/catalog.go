package install

import (
	"crypto/sha1"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ibemu/ibemu/stack/host"
)

// Publisher is the software publisher that signs WinOF's driver
// catalogs. The drivers are signed but not WHQL-certified, so Windows
// asks before installing them unless this publisher is in the Trusted
// Publishers store.
const Publisher = "OpenFabrics Alliance"

// PublisherThumbprint is the thumbprint of the emulated publisher
// certificate (a stable value of ours, not the real certificate's).
var PublisherThumbprint = fmt.Sprintf("%X", sha1.Sum([]byte("ibemu emulated code-signing certificate: "+Publisher)))

// Feature IDs of the WinOF packages. Windows Installer feature names are
// case-sensitive, and so are these.
const (
	FeatureIBCore        = "IBcore"                 // HCA drivers, IB core stack, tools, docs, OpenSM service (disabled)
	FeatureIPoIB         = "fIPoIB"                 // IP over InfiniBand
	FeatureWSD           = "fWSD"                   // Winsock Direct (Server 2003 and 2008 only)
	FeatureND            = "fND"                    // NetworkDirect (Server 2008, HPC Server 2008 and Vista only)
	FeatureDAPL          = "fDAPL"                  // DAT/DAPL 2.0 runtime, dapltest, dat.conf
	FeatureSRP           = "fSRP"                   // SRP initiator (never in a default install)
	FeatureVNIC          = "fVNIC"                  // QLogic VNIC
	FeatureOpenSMStarted = "OpenSM_Service_Started" // OpenSM service automatic and started
	FeatureChecked       = "fChecked"               // checked (debug) builds of drivers and libraries
)

// Feature is an install feature of a package.
type Feature struct {
	// ID is the feature name ADDLOCAL and REMOVE take.
	ID string
	// Title and Description are what the custom-setup dialog shows.
	Title, Description string
	// Default marks features of a default (typical or unattended)
	// install.
	Default bool
	// Required features cannot be left out.
	Required bool
	// Drivers marks features that install device drivers; NODRV=1
	// leaves their drivers out (their files still go under
	// Program Files\WinOF\Drivers).
	Drivers bool
	// OS lists the flavours the feature is available on (nil: all).
	OS []host.OS
	// Needs lists features this one requires.
	Needs []string
}

// availableOn reports whether f can be installed on o.
func (f *Feature) availableOn(o host.OS) bool { return f.OS == nil || slices.Contains(f.OS, o) }

// driverSpec is a driver package of a release: its INF, the folder under
// Program Files\WinOF\Drivers holding it, and what the INF says.
type driverSpec struct {
	inf, folder, service, class, desc string
	hwids                             []string
	files                             []host.DriverFile
	children                          []host.ChildSpec
	firmware                          []host.FirmwareRule
	start                             host.StartMode
	// feature is the feature that installs the package.
	feature string
	// root marks a package for a root-enumerated device the installer
	// creates (hardware ID hwids[0]).
	root bool
}

// fileSpec is a file a feature installs: base is one of the bases below,
// sub a sub-folder of it.
type fileSpec struct {
	name, base, sub string
	// kind selects the file's content.
	kind string
}

// File bases.
const (
	baseInstall   = "install"   // Program Files\WinOF
	baseSystem    = "system32"  // %SystemRoot%\System32
	baseSystemWOW = "syswow64"  // %SystemRoot%\SysWOW64 (32-bit copies on 64-bit hosts)
	baseStartMenu = "startmenu" // All Users Start Menu\Programs\Windows OpenFabrics
)

// Release is a WinOF release: its version, features and files.
type Release struct {
	// Product is "WinOF"; Version "2.2.1"; SVN the openib-windows
	// revision it was built from.
	Product, Version string
	SVN              int
	// Date is the DriverVer date of its drivers (representative).
	Date string
	// Folder is the install folder under Program Files.
	Folder string
	// Flavours maps the package OS code (wxp, wnet, wlh) to the
	// architectures built.
	Flavours map[string][]host.Arch
	// Features, in display order.
	Features []Feature
	// OpenSMVersion is the OpenSM the release carries.
	OpenSMVersion string

	drivers []driverSpec
	tools   []string
}

// FileVersion is the file version of the release's binaries:
// major.minor.point.svn, as Explorer shows it.
func (r *Release) FileVersion() string {
	v := strings.Split(r.Version, ".")
	for len(v) < 3 {
		v = append(v, "0")
	}
	return fmt.Sprintf("%s.%s.%s.%d", v[0], v[1], v[2], r.SVN)
}

// Feature returns the feature with ID id (case-sensitive).
func (r *Release) Feature(id string) (*Feature, bool) {
	for i := range r.Features {
		if r.Features[i].ID == id {
			return &r.Features[i], true
		}
	}
	return nil, false
}

// hasFabricDevice reports whether the release installs the
// root-enumerated "InfiniBand Fabric" device (releases before 2.0 did).
func (r *Release) hasFabricDevice() bool {
	for _, d := range r.drivers {
		if d.root {
			return true
		}
	}
	return false
}

// Package is one installer file of a release, for one OS flavour and
// architecture.
type Package struct {
	Release *Release
	// Flavour is the OS code: wxp (XP), wnet (Server 2003) or wlh
	// (Vista, Server 2008, HPC Server 2008).
	Flavour string
	Arch    host.Arch
	// FileName is the .msi name ("WinOF_2-2-1_wlh_x64.msi").
	FileName string
	// ProductCode and UpgradeCode identify the product. They are
	// name-based GUIDs derived from the package name (ours; the real
	// release's codes are not recorded here).
	ProductCode, UpgradeCode string
}

// ProductName is what Add or Remove Programs shows.
func (p *Package) ProductName() string {
	return fmt.Sprintf("%s %s %s", p.Release.Product, p.Release.Version, p.Arch)
}

// Installs reports whether the package installs on o.
func (p *Package) Installs(o host.OS) bool { return flavourOf(o) == p.Flavour }

// flavourOf is the package OS code of o.
func flavourOf(o host.OS) string {
	switch o {
	case host.WindowsXP:
		return "wxp"
	case host.Server2003:
		return "wnet"
	case host.Vista, host.Server2008, host.HPCServer2008:
		return "wlh"
	}
	return ""
}

// nameGUID makes a name-based (SHA-1, RFC 4122 version 5 layout) GUID in
// registry format.
func nameGUID(name string) string {
	s := sha1.Sum([]byte("ibemu-msi:" + name))
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("{%X-%X-%X-%X-%X}", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// Mellanox PCI device IDs the HCA drivers match (protocols.md §7.2).
var (
	mthcaIDs = []uint16{0x5A44, 0x6278, 0x6282, 0x6274, 0x5E8C}
	mlx4IDs  = []uint16{0x6340, 0x634A, 0x6354, 0x6732, 0x673C}
)

func pciIDs(ids []uint16) []string {
	var out []string
	for _, vendor := range []uint16{0x15B3, 0x1867} { // Mellanox, and Topspin-branded boards
		for _, id := range ids {
			out = append(out, fmt.Sprintf(`PCI\VEN_%04X&DEV_%04X`, vendor, id))
		}
	}
	return out
}

// mthcaFirmware is mthca's firmware table: below the first version the
// driver refuses the HCA, below the second it warns (the minimal and
// optimal versions of the mthca driver's table, per chip mode).
var mthcaFirmware = []host.FirmwareRule{
	{DeviceID: 0x5A44, Minimal: host.FW(3, 3, 2), Optimal: host.FW(3, 5, 0)},   // Tavor
	{DeviceID: 0x6278, Minimal: host.FW(4, 7, 0), Optimal: host.FW(4, 8, 200)}, // Arbel in Tavor-compatible mode
	{DeviceID: 0x6282, Minimal: host.FW(5, 1, 0), Optimal: host.FW(5, 3, 0)},   // Arbel mem-free
	{DeviceID: 0x6274, Minimal: host.FW(1, 0, 800), Optimal: host.FW(1, 2, 0)}, // Sinai
	{DeviceID: 0x5E8C, Minimal: host.FW(1, 0, 800), Optimal: host.FW(1, 2, 0)}, // Sinai, old ID
}

// mlx4Firmware is the mlx4 bus driver's policy for every ConnectX ID:
// first supported 2.7.0, minimal good 2.7.9000 (the values of the mlx4
// bus driver's FW_FIRST_SUPPORTED and FW_MIN_GOOD_SUPPORTED).
func mlx4Firmware() []host.FirmwareRule {
	var out []host.FirmwareRule
	for _, id := range mlx4IDs {
		out = append(out, host.FirmwareRule{DeviceID: id, Minimal: host.FW(2, 7, 0), Optimal: host.FW(2, 7, 9000)})
	}
	return out
}

// ipoibChild is the IPoIB port device the IB bus enumerates per HCA port.
var ipoibChild = host.ChildSpec{HardwareID: `IBA\IPoIB`, Description: "OpenFabrics IPoIB Adapter", PerPort: true}

// userLibs lists user-mode libraries in System32 and their 32-bit copies
// in SysWOW64; the SysWOW64 entries are dropped on 32-bit hosts when the
// package is staged.
func userLibs(names ...string) []host.DriverFile {
	var out []host.DriverFile
	for _, n := range names {
		out = append(out, host.DriverFile{Name: n, Dir: host.DirSystem})
	}
	for _, n := range names {
		out = append(out, host.DriverFile{Name: n, Dir: host.DirSystemWOW})
	}
	return out
}

// files lists kernel drivers (System32\drivers) and user-mode libraries.
func files(kernel []string, user ...string) []host.DriverFile {
	var out []host.DriverFile
	for _, n := range kernel {
		out = append(out, host.DriverFile{Name: n, Dir: host.DirDrivers})
	}
	return append(out, userLibs(user...)...)
}

var winof221 = &Release{
	Product: "WinOF", Version: "2.2.1", SVN: 2778, Date: "04/21/2010", Folder: "WinOF", OpenSMVersion: "3.3.3",
	Flavours: map[string][]host.Arch{
		"wxp":  {host.X86},
		"wnet": {host.X86, host.X64, host.IA64},
		"wlh":  {host.X86, host.X64, host.IA64},
	},
	Features: []Feature{
		{ID: FeatureIBCore, Title: "InfiniBand Core modules", Description: "HCA drivers (chosen by Plug and Play), IB core stack and libraries, WinVerbs, WinMad, OpenSM service (installed disabled), tools, diagnostics and documentation",
			Default: true, Required: true, Drivers: true},
		{ID: FeatureIPoIB, Title: "IPoIB", Description: "Internet Protocols over InfiniBand", Default: true, Drivers: true},
		{ID: FeatureWSD, Title: "Winsock Direct", Description: "Winsock Direct provider (Server 2003 and Server 2008)", Default: true, Drivers: true,
			OS: []host.OS{host.Server2003, host.Server2008, host.HPCServer2008}, Needs: []string{FeatureIPoIB}},
		{ID: FeatureND, Title: "NetworkDirect", Description: "NetworkDirect provider (Server 2008, HPC Server 2008, Vista)", Default: true, Drivers: true,
			OS: []host.OS{host.Server2008, host.HPCServer2008, host.Vista}, Needs: []string{FeatureIPoIB}},
		{ID: FeatureDAPL, Title: "DAT/DAPL", Description: "DAT/DAPL 2.0 runtime libraries, dapltest and the dat.conf configuration", Default: true},
		{ID: FeatureSRP, Title: "SRP", Description: "SCSI RDMA Protocol initiator (not in a default install)", Drivers: true},
		{ID: FeatureVNIC, Title: "QLogic VNIC", Description: "QLogic virtual Ethernet NIC over InfiniBand", Drivers: true},
		{ID: FeatureOpenSMStarted, Title: "OpenSM service started", Description: "InfiniBand subnet manager enabled and started as a Windows service"},
		{ID: FeatureChecked, Title: "Checked drivers", Description: "Checked (debug) versions of the drivers and libraries"},
	},
	drivers: []driverSpec{
		{inf: "mthca.inf", folder: "mthca", service: "mthca", class: host.ClassInfiniBand, desc: "Mellanox InfiniHost III Ex InfiniBand HCA",
			hwids: pciIDs(mthcaIDs), files: files([]string{"mthca.sys", "ibbus.sys", "winverbs.sys", "winmad.sys"}, "mthcau.dll", "ibal.dll", "complib.dll", "winverbs.dll", "winmad.dll"),
			children: []host.ChildSpec{ipoibChild}, firmware: mthcaFirmware, start: host.StartDemand, feature: FeatureIBCore},
		{inf: "mlx4_bus.inf", folder: "mlx4_bus", service: "mlx4_bus", class: host.ClassSystem, desc: "Mellanox ConnectX VPI (MT26428) Bus Driver",
			hwids: pciIDs(mlx4IDs), files: files([]string{"mlx4_bus.sys"}),
			children: []host.ChildSpec{{HardwareID: `MLX4\ConnectX_Hca`, Description: "Mellanox ConnectX InfiniBand HCA"}},
			firmware: mlx4Firmware(), start: host.StartDemand, feature: FeatureIBCore},
		{inf: "mlx4_hca.inf", folder: "mlx4_hca", service: "mlx4_hca", class: host.ClassInfiniBand, desc: "Mellanox ConnectX InfiniBand HCA",
			hwids: []string{`MLX4\ConnectX_Hca`}, files: files([]string{"mlx4_hca.sys", "ibbus.sys", "winverbs.sys", "winmad.sys"}, "mlx4u.dll", "ibal.dll", "complib.dll", "winverbs.dll", "winmad.dll"),
			children: []host.ChildSpec{ipoibChild}, start: host.StartDemand, feature: FeatureIBCore},
		{inf: "netipoib.inf", folder: "ipoib", service: "ipoib", class: host.ClassNet, desc: "OpenFabrics IPoIB Adapter",
			hwids: []string{`IBA\IPoIB`}, files: files([]string{"ipoib.sys"}), start: host.StartDemand, feature: FeatureIPoIB},
		{inf: "ib_iou.inf", folder: "iou", service: "ibiou", class: host.ClassSystem, desc: "InfiniBand I/O Unit",
			hwids: []string{`IBA\IB_IOU`}, files: files([]string{"ibiou.sys"}), start: host.StartDemand, feature: FeatureSRP},
		{inf: "ib_srp.inf", folder: "srp", service: "ibsrp", class: host.ClassSCSI, desc: "InfiniBand SRP Miniport",
			hwids: []string{`IBA\C0100C609EP0108R0001`, `IBA\CFF00C609EP0108R0001`}, files: files([]string{"ibsrp.sys"}), start: host.StartDemand, feature: FeatureSRP},
		{inf: "netvnic.inf", folder: "qlgcvnic", service: "qlgcvnic", class: host.ClassNet, desc: "QLogic Virtual Ethernet Adapter",
			hwids: []string{`IBA\V00066AP00000030S00066AS00000030`, `IBA\V00066AP00000030`}, files: files([]string{"qlgcvnic.sys"}), start: host.StartDemand, feature: FeatureVNIC},
	},
	tools: []string{
		"vstat.exe", "ibstat.exe", "ibv_devinfo.exe", "ibnetdiscover.exe", "ibaddr.exe", "ibping.exe", "ibportstate.exe",
		"ibqueryerrors.exe", "ibroute.exe", "ibsysstat.exe", "ibtracert.exe", "perfquery.exe", "saquery.exe", "sminfo.exe",
		"smpdump.exe", "smpquery.exe", "vendstat.exe", "ib_read_bw.exe", "ib_read_lat.exe", "ib_send_bw.exe",
		"ib_send_lat.exe", "ib_write_bw.exe", "ib_write_lat.exe", "ib_limits.exe", "cmtest.exe", "ttcp.exe", "part_man.exe",
		"opensm.exe", "osmtest.exe", "ibtrapgen.exe",
	},
}

// winof11 is the last release before 2.0. Its IB core installed the
// root-enumerated "InfiniBand Fabric" system device (the IB bus), which
// later releases no longer have; an uninstall of it that silently fails
// leaves that device behind.
var winof11 = &Release{
	Product: "WinOF", Version: "1.1", SVN: 1177, Date: "06/24/2008", Folder: "WinOF", OpenSMVersion: "3.1.11",
	Flavours: map[string][]host.Arch{
		"wxp":  {host.X86},
		"wnet": {host.X86, host.X64, host.IA64},
	},
	Features: []Feature{
		{ID: FeatureIBCore, Title: "InfiniBand Core modules", Description: "HCA driver, InfiniBand Fabric bus, tools and documentation",
			Default: true, Required: true, Drivers: true},
		{ID: FeatureIPoIB, Title: "IPoIB", Description: "Internet Protocols over InfiniBand", Default: true, Drivers: true},
		{ID: FeatureWSD, Title: "Winsock Direct", Description: "Winsock Direct provider (Server 2003)", Default: true, Drivers: true,
			OS: []host.OS{host.Server2003}, Needs: []string{FeatureIPoIB}},
		{ID: FeatureOpenSMStarted, Title: "OpenSM service started", Description: "InfiniBand subnet manager enabled and started as a Windows service"},
	},
	drivers: []driverSpec{
		{inf: "ibbus.inf", folder: "ibbus", service: "ibbus", class: host.ClassSystem, desc: "InfiniBand Fabric",
			hwids: []string{`root\ibbus`}, files: files([]string{"ibbus.sys"}, "ibal.dll", "complib.dll"),
			children: nil, start: host.StartDemand, feature: FeatureIBCore, root: true},
		{inf: "mthca.inf", folder: "mthca", service: "mthca", class: host.ClassInfiniBand, desc: "Mellanox InfiniHost III Ex InfiniBand HCA",
			hwids: pciIDs(mthcaIDs), files: files([]string{"mthca.sys"}, "mthcau.dll"),
			children: []host.ChildSpec{ipoibChild}, firmware: mthcaFirmware, start: host.StartDemand, feature: FeatureIBCore},
		{inf: "netipoib.inf", folder: "ipoib", service: "ipoib", class: host.ClassNet, desc: "OpenFabrics IPoIB Adapter",
			hwids: []string{`IBA\IPoIB`}, files: files([]string{"ipoib.sys"}), start: host.StartDemand, feature: FeatureIPoIB},
	},
	tools: []string{"vstat.exe", "ibstat.exe", "ib_read_bw.exe", "ib_send_bw.exe", "ib_write_bw.exe", "opensm.exe", "osmtest.exe"},
}

// Releases are the WinOF releases ibemu carries, newest first.
func Releases() []*Release { return []*Release{winof221, winof11} }

var catalog = func() []*Package {
	var out []*Package
	for _, r := range Releases() {
		flav := make([]string, 0, len(r.Flavours))
		for f := range r.Flavours {
			flav = append(flav, f)
		}
		sort.Strings(flav)
		for _, f := range flav {
			for _, a := range r.Flavours[f] {
				name := fmt.Sprintf("%s_%s_%s_%s.msi", r.Product, strings.ReplaceAll(r.Version, ".", "-"), f, a)
				out = append(out, &Package{
					Release: r, Flavour: f, Arch: a, FileName: name,
					ProductCode: nameGUID("product:" + name), UpgradeCode: nameGUID("upgrade:" + r.Product),
				})
			}
		}
	}
	return out
}()

// Packages lists every installer file ibemu carries.
func Packages() []*Package { return slices.Clone(catalog) }

// FindPackage returns the package a path or file name names (the folder
// is ignored; the name compares without regard to case, as on Windows).
func FindPackage(name string) (*Package, error) {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	for _, p := range catalog {
		if strings.EqualFold(p.FileName, base) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("install: %q is not a package ibemu carries (try one of %s ...): %w", name, catalog[0].FileName, ErrPackage)
}

// FindProductCode returns the package whose ProductCode is code (braces
// optional, any case).
func FindProductCode(code string) (*Package, error) {
	c := strings.Trim(strings.ToUpper(code), "{}")
	for _, p := range catalog {
		if strings.Trim(p.ProductCode, "{}") == c {
			return p, nil
		}
	}
	return nil, fmt.Errorf("install: product code %s: %w", code, ErrNotInstalled)
}

// PackageFor returns the package of release (nil: the newest) for a host
// of flavour o and architecture a.
func PackageFor(release *Release, o host.OS, a host.Arch) (*Package, error) {
	if release == nil {
		release = winof221
	}
	for _, p := range catalog {
		if p.Release == release && p.Installs(o) && p.Arch == a {
			return p, nil
		}
	}
	return nil, fmt.Errorf("install: %s %s has no package for %s %s: %w", release.Product, release.Version, o, a, ErrWrongPlatform)
}

// LegacyRelease is WinOF 1.1, the last release with the "InfiniBand
// Fabric" device.
func LegacyRelease() *Release { return winof11 }

// CurrentRelease is WinOF 2.2.1.
func CurrentRelease() *Release { return winof221 }
