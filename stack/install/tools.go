package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/host"
)

// TrustPublisher puts the WinOF publisher's certificate into the host's
// Trusted Publishers store, as cert-add.bat (or "Install certificate"
// from the package's Digital Signatures tab) does, so unattended installs
// of its drivers need no prompt. Re-imaging the host drops it.
func TrustPublisher(h *host.Host) error {
	return h.AddCertificate(host.Certificate{Store: host.StoreTrustedPublisher, Subject: Publisher, Thumbprint: PublisherThumbprint})
}

// installed returns the installed WinOF product and its package.
func installed(h *host.Host) (host.Product, *Package, bool) {
	for _, prod := range h.Products() {
		if p, err := FindProductCode(prod.Code); err == nil {
			return prod, p, true
		}
	}
	return host.Product{}, nil, false
}

// tool checks that a WinOF command-line tool is installed, as cmd.exe
// would find it on the PATH.
func tool(h *host.Host, name string) error {
	for _, dir := range h.PathEntries() {
		if h.Exists(h.ExpandEnv(dir) + `\` + name + ".exe") {
			return nil
		}
	}
	return fmt.Errorf("install: '%s' %w, operable program or batch file", name, ErrNoTool)
}

// ReleaseInfo is the installed release, as the release notes tell how to
// find it: the About text, the file version of the tools and the drivers'
// versions.
type ReleaseInfo struct {
	// Product and Version name the release ("WinOF", "2.2.1").
	Product, Version string
	// FileVersion is the version resource of ib_read_bw.exe.
	FileVersion string
	// About is the text "About WinOF" shows.
	About string
	// Drivers lists the WinOF drivers bound to devices.
	Drivers []DriverVersion
}

// DriverVersion is the driver a device runs.
type DriverVersion struct {
	Device, Description, INF, Service, Version string
}

// InstalledRelease reports which WinOF release is installed.
func InstalledRelease(h *host.Host) (ReleaseInfo, error) {
	prod, p, ok := installed(h)
	if !ok {
		return ReleaseInfo{}, fmt.Errorf("install: no WinOF release is installed: %w", ErrNotInstalled)
	}
	info := ReleaseInfo{Product: p.Release.Product, Version: p.Release.Version}
	fv, err := FileVersion(h, prod.InstallDir+`\ib_read_bw.exe`)
	if err != nil {
		return info, err
	}
	info.FileVersion = fv
	about, err := h.ReadFile(prod.InstallDir + `\about-` + p.Release.Product + `.txt`)
	if err != nil {
		return info, fmt.Errorf("install: about: %w", err)
	}
	info.About = string(about)
	for _, d := range h.Devices() {
		if d.Driver == "" {
			continue
		}
		if pkg, err := h.DriverPackage(d.Driver); err == nil && pkg.Signer == Publisher {
			info.Drivers = append(info.Drivers, DriverVersion{Device: d.InstanceID, Description: d.Description, INF: d.Driver, Service: d.Service, Version: d.DriverVersion})
		}
	}
	return info, nil
}

// VstatOptions select vstat's output.
type VstatOptions struct {
	// Counters adds each port's PortCounters (vstat -c).
	Counters bool
}

// ibHCA returns the device IBAL opens for slot n: the InfiniBand HCA
// device bound and started (not in firmware-update mode).
func ibHCA(h *host.Host, n int) (host.Device, bool) {
	for _, d := range h.Devices() {
		if d.Slot == n && d.Class == host.ClassInfiniBand && d.Status == host.StatusStarted {
			return d, true
		}
	}
	return host.Device{}, false
}

// pciDevice returns slot n's PCI function.
func pciDevice(h *host.Host, n int) (host.Device, bool) {
	for _, d := range h.Devices() {
		if d.Slot == n && d.Parent == "" {
			return d, true
		}
	}
	return host.Device{}, false
}

// guidGroups prints a GUID as vstat does: four groups of four hex digits.
func guidGroups(g wire.GUID) string {
	v := uint64(g)
	return fmt.Sprintf("%04x:%04x:%04x:%04x", uint16(v>>48), uint16(v>>32), uint16(v>>16), uint16(v))
}

var portStates = map[wire.PortState]string{1: "PORT_DOWN", 2: "PORT_INITIALIZE", 3: "PORT_ARMED", 4: "PORT_ACTIVE", 5: "PORT_ACTDEFER"}
var physStates = map[wire.PhysPortState]string{1: "SLEEP", 2: "POLLING", 3: "DISABLED", 4: "CFG_TRAINING", 5: "LINK_UP", 6: "LINK_ERROR_RECOVERY", 7: "PHY_TEST"}

// Vstat prints the HCAs the InfiniBand stack opened, in the layout of
// WinOF's vstat: per HCA, tab-indented key=value lines, the port lines
// indented twice (protocols.md §7.4). The values come from the emulated
// HCAs and their live port state; fw_ver is the firmware the driver
// loaded. HCAs without a running WinOF driver (none installed, or
// firmware below the minimum) are not listed.
//
// Equivalent to: vstat [-c]
func Vstat(h *host.Host, o VstatOptions) (string, error) {
	if err := tool(h, "vstat"); err != nil {
		return "", err
	}
	var b strings.Builder
	idx := 0
	for _, s := range h.HCAs() {
		if _, ok := ibHCA(h, s.Slot); !ok {
			continue
		}
		pci, _ := pciDevice(h, s.Slot)
		a, err := h.Adapter(s.Slot)
		if err != nil {
			return "", err
		}
		ports, err := a.Ports()
		if err != nil {
			return "", fmt.Errorf("install: vstat: %w", err)
		}
		fw := s.Firmware.Version
		if !pci.LoadedFirmware.IsZero() {
			fw = pci.LoadedFirmware
		}
		fmt.Fprintf(&b, "\n\thca_idx=%d\n", idx)
		fmt.Fprintf(&b, "\tvendor_id=0x%04x\n", s.VendorID)
		fmt.Fprintf(&b, "\tvendor_part_id=%d\n", s.DeviceID)
		fmt.Fprintf(&b, "\thw_ver=0x%x\n", s.Revision)
		fmt.Fprintf(&b, "\tfw_ver=%s\n", fw.VstatString())
		fmt.Fprintf(&b, "\tPSID=%s\n", s.Firmware.PSID)
		fmt.Fprintf(&b, "\tnode_guid=%s\n", guidGroups(s.NodeGUID))
		fmt.Fprintf(&b, "\tnum_phys_ports=%d\n", s.NumPorts)
		for _, p := range ports {
			vstatPort(&b, p)
		}
		if o.Counters {
			for _, p := range ports {
				c := p.Counters
				fmt.Fprintf(&b, "\n\tport counters for port %d\n", p.Num)
				for _, kv := range []struct {
					k, tabs string
					v       uint64
				}{
					{"link_error_recovery_counter", "\t", c.LinkErrorRecovery}, {"link_down_counter", "\t\t", c.LinkDowned},
					{"port_rcv_errors", "\t\t\t", c.RcvErrors}, {"port_rcv_remote_physical_errors", "\t", c.RcvRemotePhysErrors},
					{"port_rcv_switch_relay_errors", "\t", c.RcvSwitchRelayErrors}, {"port_xmit_discard", "\t\t", c.XmitDiscards},
					{"port_xmit_constraint_errors", "\t", c.XmitConstraintErrors}, {"port_rcv_constraint_errors", "\t", c.RcvConstraintErrors},
					{"vl15_dropped", "\t\t\t", c.VL15Dropped}, {"port_rcv_data", "\t\t\t", c.RcvData},
					{"port_xmit_data", "\t\t\t", c.XmitData}, {"port_rcv_pkts", "\t\t\t", c.RcvPkts},
				} {
					fmt.Fprintf(&b, "\t\t%s%s0x%x \n", kv.k, kv.tabs, kv.v)
				}
				fmt.Fprintf(&b, "\t\tport_xmit_pkts\t\t\t0x%x \n\n", c.XmitPkts)
			}
		}
		idx++
	}
	return b.String(), nil
}

func vstatPort(b *strings.Builder, p host.PortStatus) {
	fmt.Fprintf(b, "\t\tport=%d\n", p.Num)
	fmt.Fprintf(b, "\t\tport_guid=%s\n", guidGroups(p.GUID))
	name, ok := portStates[p.State]
	if !ok {
		name = "UNKNOWN"
	}
	fmt.Fprintf(b, "\t\tport_state=%s (%d)\n", name, p.State)
	speed := p.Speed.SignalGbps()
	if p.State == wire.PortStateDown {
		b.WriteString("\t\tlink_speed=NA\n\t\tlink_width=NA \n\t\trate=NA\n")
	} else {
		fmt.Fprintf(b, "\t\tlink_speed=%2.2f Gbps \n", speed)
		if n := p.Width.Lanes(); n > 0 && p.Width != wire.Width2X {
			fmt.Fprintf(b, "\t\tlink_width=%dx (%d) \n\t\trate=%2.2f Gbps\n", n, p.Width, float64(n)*speed)
			if p.Width == wire.Width4X && p.Speed == wire.SpeedQDR {
				fmt.Fprintf(b, "\t\treal_rate=%2.2f Gbps (QDR)\n", 40.0*8/10)
			}
		} else {
			fmt.Fprintf(b, "\t\tlink_width=UNKNOWN (%d)\n", p.Width)
		}
	}
	phys, ok := physStates[p.Phys]
	if !ok {
		phys = "UNKNOWN"
	}
	fmt.Fprintf(b, "\t\tport_phys_state=%s (%d)\n", phys, p.Phys)
	fmt.Fprintf(b, "\t\tactive_speed=%2.2f Gbps\n", speed)
	fmt.Fprintf(b, "\t\tsm_lid=0x%04x\n", uint16(p.SMLID))
	fmt.Fprintf(b, "\t\tport_lid=0x%04x\n", uint16(p.LID))
	fmt.Fprintf(b, "\t\tport_lmc=0x%x\n", p.LMC)
	if n := p.MTUCap.Bytes(); n > 0 {
		fmt.Fprintf(b, "\t\tmax_mtu=%d (%d)\n", n, p.MTUCap)
	} else {
		fmt.Fprintf(b, "\t\tmax_mtu=UNKNOWN (%d)\n", p.MTUCap)
	}
	b.WriteString("\n")
}

// winofNames are the names of every driver file, library and INF of
// every release.
func winofNames() (drivers, libs, infs map[string]bool) {
	drivers, libs, infs = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, r := range Releases() {
		for _, d := range r.drivers {
			infs[strings.ToLower(d.inf)] = true
			for _, f := range d.files {
				if f.Dir == host.DirDrivers {
					drivers[strings.ToLower(f.Name)] = true
				} else {
					libs[strings.ToLower(f.Name)] = true
				}
			}
		}
	}
	for _, l := range []string{"dat2.dll", "dapl2.dll", "dapl2-ofa-scm.dll", "dapl2-ofa-cma.dll", "ibwsd.dll", "ibndprov.dll", "libibverbs.dll", "libibumad.dll", "libibmad.dll"} {
		libs[l] = true
	}
	return drivers, libs, infs
}

// storeFolderPatterns are the name parts of WinOF driver store folders
// the release notes say to look for.
var storeFolderPatterns = []string{"mthca", "mlx4_", "netipoib", "srp", "vnic", "ibbus", "ib_iou"}

// IBScan lists every WinOF file on the host, as ibscan.bat does: the
// install folder, drivers and libraries in the system folders, published
// WinOF INFs, WinOF driver store folders, dat.conf, the Start menu group
// and OpenSM's logs. Folders are listed with a trailing backslash.
func IBScan(h *host.Host) ([]string, error) {
	if !h.OS().IsWindows() {
		return nil, fmt.Errorf("install: ibscan: %w", ErrNotWindows)
	}
	drivers, libs, _ := winofNames()
	var out []string
	addTree := func(dir string) error {
		return h.Walk(dir, func(p string, isDir bool) error {
			if isDir {
				p += `\`
			}
			out = append(out, p)
			return nil
		})
	}
	dirs := []string{h.ExpandEnv(`%ProgramFiles%\WinOF`)}
	for _, prod := range h.Products() {
		if _, err := FindProductCode(prod.Code); err == nil && !slices.Contains(dirs, prod.InstallDir) {
			dirs = append(dirs, prod.InstallDir)
		}
	}
	if sm, err := h.Folder("StartMenu"); err == nil {
		dirs = append(dirs, sm+`\Windows OpenFabrics`)
	}
	for _, d := range dirs {
		if err := addTree(d); err != nil {
			return nil, err
		}
	}
	match := func(dir string, names map[string]bool) error {
		list, err := h.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, n := range list {
			if names[strings.ToLower(n)] {
				out = append(out, dir+`\`+n)
			}
		}
		return nil
	}
	drv, _ := h.Folder("Drivers")
	sys, _ := h.Folder("System32")
	if err := match(drv, drivers); err != nil {
		return nil, err
	}
	if err := match(sys, libs); err != nil {
		return nil, err
	}
	if wow, err := h.Folder("SysWOW64"); err == nil {
		if err := match(wow, libs); err != nil {
			return nil, err
		}
	}
	infDir, _ := h.Folder("Inf")
	if list, err := h.ReadDir(infDir); err == nil {
		for _, n := range list {
			if !strings.HasSuffix(strings.ToLower(n), ".inf") {
				continue
			}
			if b, err := h.ReadFile(infDir + `\` + n); err == nil && bytes.Contains(b, []byte(Publisher)) {
				out = append(out, infDir+`\`+n)
			}
		}
	}
	if store, err := h.Folder("DriverStore"); err == nil {
		if list, err := h.ReadDir(store); err == nil {
			for _, n := range list {
				for _, pat := range storeFolderPatterns {
					if strings.Contains(strings.ToLower(n), pat) {
						if err := addTree(store + `\` + n); err != nil {
							return nil, err
						}
						break
					}
				}
			}
		}
	}
	dat, _ := h.Folder("DAT")
	tmp, _ := h.Folder("Temp")
	for _, f := range []string{dat + `\dat.conf`, tmp + `\osm.log`, tmp + `\osm.syslog`, tmp + `\opensm-subnet.lst`} {
		if h.Exists(f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// IBCleanup removes every WinOF file IBScan finds, the WinOF driver
// packages from the driver store, the OpenSM service and the PATH entry,
// as ibcleanup.bat does in an emergency. It is not an uninstall: product
// registrations stay. Files held open by an online disk stay; they are
// returned in kept with the error.
func IBCleanup(h *host.Host) (removed, kept []string, err error) {
	files, err := IBScan(h)
	if err != nil {
		return nil, nil, err
	}
	_, _, infs := winofNames()
	var errs []error
	for _, p := range h.DriverPackages() {
		if infs[strings.ToLower(p.INF)] && (p.Signer == Publisher || p.Provider == Publisher) {
			if err := h.RemoveDriverPackage(p.INF); err != nil && !errors.Is(err, host.ErrInUse) {
				errs = append(errs, err)
			}
		}
	}
	if s, err := h.Service("OpenSM"); err == nil {
		if err := h.RemoveService(s.Name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{h.ExpandEnv(`%ProgramFiles%\WinOF`)} {
		if h.InPath(d) {
			if err := h.RemovePath(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Deepest first, so folders are empty when their turn comes.
	sort.Slice(files, func(i, j int) bool { return len(files[i]) > len(files[j]) })
	for _, f := range files {
		p := strings.TrimSuffix(f, `\`)
		if !h.Exists(p) {
			continue
		}
		if strings.HasSuffix(f, `\`) {
			if names, err := h.ReadDir(p); err != nil || len(names) > 0 {
				continue
			}
		}
		if err := h.Remove(p); err != nil {
			if errors.Is(err, host.ErrInUse) {
				kept = append(kept, p)
				continue
			}
			errs = append(errs, err)
			continue
		}
		removed = append(removed, f)
	}
	sort.Strings(removed)
	sort.Strings(kept)
	if len(kept) > 0 {
		errs = append(errs, fmt.Errorf("install: ibcleanup: %d files are in use: %w", len(kept), host.ErrInUse))
	}
	return removed, kept, errors.Join(errs...)
}

// ProvisionDrivers stages the WinOF driver packages found under dir (an
// administrative install's PFiles\WinOF\Drivers, or an installed
// Program Files\WinOF\Drivers) without any installer, as HPC image
// provisioning does, and lets Plug and Play bind them. It returns the
// INFs staged.
func ProvisionDrivers(h *host.Host, dir string) ([]string, error) {
	var staged []string
	folders, err := h.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("install: provision: %w", err)
	}
	for _, f := range folders {
		src := dir + `\` + f
		names, err := h.ReadDir(src)
		if err != nil {
			continue
		}
		for _, n := range names {
			if !strings.HasSuffix(strings.ToLower(n), ".inf") {
				continue
			}
			inf, err := h.ReadFile(src + `\` + n)
			if err != nil {
				return staged, err
			}
			_, ver, _ := ParseDriverVerOf(inf)
			spec, rel := findDriver(n, ver)
			if spec == nil {
				return staged, fmt.Errorf("install: provision: %s (version %s) is not a WinOF driver: %w", n, ver, ErrPackage)
			}
			p, err := PackageFor(rel, h.OS(), h.Arch())
			if err != nil {
				return staged, err
			}
			if _, err := h.DriverPackage(spec.inf); err == nil {
				continue
			}
			if _, err := h.AddDriverPackage(driverPackageOf(p, spec, stagedFiles(h.Arch(), spec), ""), src); err != nil {
				return staged, fmt.Errorf("install: provision: %w", err)
			}
			staged = append(staged, spec.inf)
		}
	}
	if err := h.Enumerate(); err != nil {
		return staged, err
	}
	return staged, nil
}

// ParseDriverVerOf reads an INF's DriverVer.
func ParseDriverVerOf(inf []byte) (date, version string, ok bool) { return host.ParseDriverVer(inf) }

// findDriver finds the driver spec of an INF name and version.
func findDriver(inf, version string) (*driverSpec, *Release) {
	for _, r := range Releases() {
		if version != "" && r.FileVersion() != version {
			continue
		}
		for i := range r.drivers {
			if strings.EqualFold(r.drivers[i].inf, inf) {
				return &r.drivers[i], r
			}
		}
	}
	return nil, nil
}

// AttachSRPDisk brings an SRP target LUN online as drive volume, the way
// the SRP initiator does once a subnet manager reports the target: the
// InfiniBand I/O Unit and the SRP target's I/O controller appear below the
// first running HCA and bind to the I/O unit and SRP miniport drivers,
// and the disk's driver stack (SRP miniport, I/O unit, IB bus, HCA
// driver) stays in use while the disk is online. The SRP feature must be
// installed. This is the seam the SRP initiator plugs into.
func AttachSRPDisk(h *host.Host, volume string) error {
	if _, err := h.DriverPackage("ib_srp.inf"); err != nil {
		return fmt.Errorf("install: attach SRP disk %s: the SRP driver is not installed: %w", volume, ErrNotInstalled)
	}
	var parent host.Device
	for _, s := range h.HCAs() {
		if d, ok := ibHCA(h, s.Slot); ok {
			parent = d
			break
		}
	}
	if parent.InstanceID == "" {
		return fmt.Errorf("install: attach SRP disk %s: no HCA is running: %w", volume, ErrFailed)
	}
	iou := `IBA\IB_IOU\` + strings.ToUpper(volume) + "0"
	if _, err := h.Device(iou); err != nil {
		if err := h.AddDevice(host.Device{InstanceID: iou, Description: "InfiniBand I/O Unit", HardwareIDs: []string{`IBA\IB_IOU`}, Parent: parent.InstanceID}); err != nil {
			return fmt.Errorf("install: attach SRP disk %s: %w", volume, err)
		}
		ioc := `IBA\C0100C609EP0108R0001\` + strings.ToUpper(volume) + "0"
		if err := h.AddDevice(host.Device{InstanceID: ioc, Description: "SRP target I/O controller", HardwareIDs: []string{`IBA\C0100C609EP0108R0001`}, Parent: iou}); err != nil {
			return fmt.Errorf("install: attach SRP disk %s: %w", volume, err)
		}
	}
	drv, err := h.Folder("Drivers")
	if err != nil {
		return err
	}
	var holds []string
	for _, n := range []string{"ibsrp.sys", "ibiou.sys", "ibbus.sys", "mthca.sys", "mlx4_hca.sys", "mlx4_bus.sys"} {
		if p := drv + `\` + n; h.Exists(p) {
			holds = append(holds, p)
		}
	}
	return h.AttachDisk(host.Disk{Volume: volume, Transport: "SRP", Holds: holds})
}

// Firmware image files (what flint -i takes) are text:
//
//	IBEMU-FW-IMAGE 1
//	DEVICE_ID=26428
//	PSID=MT_0D80120009
//	FW_VERSION=2.7.9000
//	BUILD_ID=31
const imageMagic = "IBEMU-FW-IMAGE 1"

// FirmwareImageFile encodes a firmware image for the HCA with PCI device
// ID deviceID.
func FirmwareImageFile(deviceID uint16, img host.FirmwareImage) []byte {
	return []byte(fmt.Sprintf("%s\nDEVICE_ID=%d\nPSID=%s\nFW_VERSION=%s\nBUILD_ID=%d\n", imageMagic, deviceID, img.PSID, img.Version, img.BuildID))
}

// ParseFirmwareImage decodes a firmware image file. It never panics on
// bad input.
func ParseFirmwareImage(b []byte) (deviceID uint16, img host.FirmwareImage, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	bad := func(format string, a ...any) (uint16, host.FirmwareImage, error) {
		return 0, host.FirmwareImage{}, fmt.Errorf("install: firmware image: "+format+": %w", append(a, ErrFlint)...)
	}
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != imageMagic {
		return bad("not a firmware image (no %q header)", imageMagic)
	}
	seen := map[string]bool{}
	line := 1
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return bad("line %d: %q is not KEY=value", line, t)
		}
		if seen[k] {
			return bad("line %d: %s given twice", line, k)
		}
		seen[k] = true
		switch k {
		case "DEVICE_ID":
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				return bad("line %d: DEVICE_ID %q", line, v)
			}
			deviceID = uint16(n)
		case "PSID":
			if len(v) == 0 || len(v) > 16 {
				return bad("line %d: PSID %q must have 1 to 16 characters", line, v)
			}
			img.PSID = v
		case "FW_VERSION":
			fv, err := host.ParseFirmwareVersion(v)
			if err != nil {
				return bad("line %d: FW_VERSION %q", line, v)
			}
			img.Version = fv
		case "BUILD_ID":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return bad("line %d: BUILD_ID %q", line, v)
			}
			img.BuildID = uint32(n)
		default:
			return bad("line %d: unknown key %s", line, k)
		}
	}
	if err := sc.Err(); err != nil {
		return bad("%v", err)
	}
	for _, k := range []string{"DEVICE_ID", "PSID", "FW_VERSION"} {
		if !seen[k] {
			return bad("no %s", k)
		}
	}
	return deviceID, img, nil
}

// MSTDevices lists the firmware tools' device names of the host's HCAs
// ("mt26428_pci_cr0"), slot order, as `mst status` shows them.
func MSTDevices(h *host.Host) []string {
	var out []string
	count := map[uint16]int{}
	for _, s := range h.HCAs() {
		out = append(out, s.MSTDevice(count[s.DeviceID]))
		count[s.DeviceID]++
	}
	return out
}

// mstSlot resolves an mst device name to its HCA slot.
func mstSlot(h *host.Host, dev string) (host.HCASlot, error) {
	names := MSTDevices(h)
	for i, n := range names {
		if strings.EqualFold(n, dev) {
			return h.HCA(i + 1)
		}
	}
	return host.HCASlot{}, fmt.Errorf("install: flint: -E- Cannot open %s: no such device (devices: %s): %w", dev, strings.Join(names, ", "), ErrFlint)
}

// FlintQuery prints what flint's query command shows for an HCA: the
// image type, firmware version, device ID, GUIDs and PSID.
//
// Equivalent to: flint -d mt26428_pci_cr0 query
func FlintQuery(h *host.Host, dev string) (string, error) {
	s, err := mstSlot(h, dev)
	if err != nil {
		return "", err
	}
	typ := "Failsafe"
	if strings.HasPrefix(s.Family, "ConnectX") {
		typ = "ConnectX"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Image type:      %s\n", typ)
	fmt.Fprintf(&b, "FW Version:      %s\n", s.Firmware.Version)
	fmt.Fprintf(&b, "Device ID:       %d\n", s.DeviceID)
	head := "Description:     Node             "
	guids := fmt.Sprintf("GUIDs:           %016x ", uint64(s.NodeGUID))
	for i, g := range s.PortGUIDs {
		head += fmt.Sprintf("Port%-13d", i+1)
		guids += fmt.Sprintf("%016x ", uint64(g))
	}
	head += "Sys image"
	guids += fmt.Sprintf("%016x", uint64(s.SystemImageGUID))
	fmt.Fprintf(&b, "%s\n%s\n", head, guids)
	fmt.Fprintf(&b, "Board ID:        (%s)\n", s.Firmware.PSID)
	fmt.Fprintf(&b, "VSD:             \n")
	fmt.Fprintf(&b, "PSID:            %s\n", s.Firmware.PSID)
	return b.String(), nil
}

// FlintBurn burns a firmware image into an HCA's flash, as flint's burn
// command does. The image must be for the device's PCI device ID and
// carry its PSID (unless allowPSIDChange). The new firmware runs once the
// device restarts or the host reboots; the driver checks it against its
// firmware policy then.
//
// Equivalent to: flint -d mt26428_pci_cr0 -i fw.bin burn
func FlintBurn(h *host.Host, dev string, image []byte, allowPSIDChange bool) (string, error) {
	s, err := mstSlot(h, dev)
	if err != nil {
		return "", err
	}
	id, img, err := ParseFirmwareImage(image)
	if err != nil {
		return "", err
	}
	if id != s.DeviceID {
		return "", fmt.Errorf("install: flint: -E- the image is for device %d, %s is a %d: %w", id, dev, s.DeviceID, ErrFlint)
	}
	if img.PSID != s.Firmware.PSID && !allowPSIDChange {
		return "", fmt.Errorf("install: flint: -E- PSID mismatch: the PSID on flash (%s) differs from the PSID in the image (%s): %w", s.Firmware.PSID, img.PSID, ErrFlint)
	}
	if err := h.BurnFirmware(s.Slot, img, allowPSIDChange); err != nil {
		return "", fmt.Errorf("install: flint: %w", err)
	}
	return fmt.Sprintf("    Current FW version on flash:  %s\n    New FW version:               %s\n\nBurning FW image - OK\n-I- To load the new FW, restart the device or reboot the machine.\n",
		s.Firmware.Version, img.Version), nil
}
