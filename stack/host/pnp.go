package host

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Folder returns the host path of a well-known folder:
//
//	SystemRoot  C:\Windows (C:\WINDOWS on XP and Server 2003)
//	System32    %SystemRoot%\System32
//	Drivers     %SystemRoot%\System32\drivers
//	SysWOW64    %SystemRoot%\SysWOW64 (64-bit hosts)
//	Inf         %SystemRoot%\inf
//	Temp        %SystemRoot%\Temp
//	DriverStore %SystemRoot%\System32\DriverStore\FileRepository (Vista and later)
//	ProgramFiles, ConfigMsi (C:\Config.Msi), DAT (%SystemDrive%\DAT),
//	StartMenu (the All Users Start Menu\Programs folder).
func (h *Host) Folder(name string) (string, error) {
	if h.st.OS == Linux {
		return "", fmt.Errorf("host: folder %s: %w", name, ErrNotWindows)
	}
	root := h.Getenv("SystemRoot")
	sys := root + `\System32`
	switch strings.ToLower(name) {
	case "systemroot", "windir":
		return root, nil
	case "system32":
		return sys, nil
	case "drivers":
		return sys + `\drivers`, nil
	case "syswow64":
		if !h.st.Arch.Is64() {
			return "", fmt.Errorf("host: folder SysWOW64: a 32-bit host has none: %w", ErrNotFound)
		}
		return root + `\SysWOW64`, nil
	case "inf":
		return root + `\inf`, nil
	case "temp":
		return root + `\Temp`, nil
	case "driverstore":
		if !h.st.OS.HasDriverStore() {
			return "", fmt.Errorf("host: folder DriverStore: %s has none: %w", h.st.OS, ErrNotFound)
		}
		return sys + `\DriverStore\FileRepository`, nil
	case "programfiles":
		return h.Getenv("ProgramFiles"), nil
	case "configmsi":
		return h.Getenv("SystemDrive") + `\Config.Msi`, nil
	case "dat":
		return h.Getenv("SystemDrive") + `\DAT`, nil
	case "startmenu":
		if h.st.OS.HasDriverStore() {
			return `C:\ProgramData\Microsoft\Windows\Start Menu\Programs`, nil
		}
		return `C:\Documents and Settings\All Users\Start Menu\Programs`, nil
	}
	return "", fmt.Errorf("host: unknown folder %q: %w", name, ErrNotFound)
}

// driverFilePath is where a driver file goes.
func (h *Host) driverFilePath(f DriverFile) (string, error) {
	var dir string
	var err error
	switch f.Dir {
	case DirDrivers:
		dir, err = h.Folder("Drivers")
	case DirSystem:
		dir, err = h.Folder("System32")
	case DirSystemWOW:
		dir, err = h.Folder("SysWOW64")
	default:
		err = fmt.Errorf("host: driver file %s: unknown folder %q: %w", f.Name, f.Dir, ErrBadConfig)
	}
	if err != nil {
		return "", err
	}
	return dir + `\` + f.Name, nil
}

// driverVerRE matches an INF's DriverVer line.
var driverVerRE = regexp.MustCompile(`(?mi)^\s*DriverVer\s*=\s*([0-9/]+)\s*,\s*([0-9.]+)`)

// ParseDriverVer reads the DriverVer (date and version) of an INF file.
func ParseDriverVer(inf []byte) (date, version string, ok bool) {
	m := driverVerRE.FindSubmatch(inf)
	if m == nil {
		return "", "", false
	}
	return string(m[1]), string(m[2]), true
}

// storeArch is the architecture tag of driver store folder names.
func (h *Host) storeArch() string {
	switch h.st.Arch {
	case X64:
		return "amd64"
	case IA64:
		return "ia64"
	}
	return "x86"
}

// DriverPackages returns the staged driver packages.
func (h *Host) DriverPackages() []DriverPackage {
	return h.State().DriverStore
}

// DriverPackage returns the staged package with INF name inf.
func (h *Host) DriverPackage(inf string) (DriverPackage, error) {
	for _, p := range h.State().DriverStore {
		if strings.EqualFold(p.INF, inf) {
			return p, nil
		}
	}
	return DriverPackage{}, fmt.Errorf("host: driver package %s: %w", inf, ErrNotFound)
}

// LeftoverStoreFolders lists driver store folders that no staged package
// uses: what a failed install leaves behind.
func (h *Host) LeftoverStoreFolders() ([]string, error) {
	store, err := h.Folder("DriverStore")
	if err != nil {
		return nil, nil
	}
	names, err := h.ReadDir(store)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, n := range names {
		p := store + `\` + n
		used := false
		for _, pkg := range h.st.DriverStore {
			if h.samePath(pkg.Source, p) {
				used = true
			}
		}
		if !used && h.IsDir(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// AddDriverPackage stages the driver package pkg, whose INF and files
// are in the folder srcDir, as DIFx and dpinst do. On Vista and later
// the files go into a driver store folder; if a folder for the same INF
// is already there, left over from an earlier failed install, Windows
// takes that folder's files instead of the new ones, and so does this.
// The INF is published as oem<N>.inf. Devices are bound by Enumerate.
func (h *Host) AddDriverPackage(pkg DriverPackage, srcDir string) (DriverPackage, error) {
	if err := h.usable(); err != nil {
		return pkg, err
	}
	if h.st.OS == Linux {
		return pkg, fmt.Errorf("host: stage %s: %w", pkg.INF, ErrNotWindows)
	}
	if pkg.INF == "" || pkg.Service == "" || len(pkg.Files) == 0 || len(pkg.HardwareIDs) == 0 {
		return pkg, fmt.Errorf("host: stage %q: a package needs an inf, a service, files and hardware ids: %w", pkg.INF, ErrBadConfig)
	}
	if pkg.ServiceBinary == "" {
		pkg.ServiceBinary = pkg.Files[0].Name
	}
	for _, p := range h.st.DriverStore {
		if strings.EqualFold(p.INF, pkg.INF) {
			return pkg, fmt.Errorf("host: stage %s: already staged as %s: %w", pkg.INF, p.Published, ErrExists)
		}
	}
	inf, err := h.ReadFile(srcDir + `\` + pkg.INF)
	if err != nil {
		return pkg, fmt.Errorf("host: stage %s: %w", pkg.INF, err)
	}
	for _, f := range pkg.Files {
		if !h.Exists(srcDir + `\` + f.Name) {
			return pkg, fmt.Errorf("host: stage %s: source file %s\\%s is missing: %w", pkg.INF, srcDir, f.Name, fs.ErrNotExist)
		}
	}
	if h.st.OS.HasDriverStore() {
		leftovers, err := h.LeftoverStoreFolders()
		if err != nil {
			return pkg, err
		}
		prefix := strings.ToLower(pkg.INF) + "_"
		for _, l := range leftovers {
			base := l[strings.LastIndex(l, `\`)+1:]
			if !strings.HasPrefix(strings.ToLower(base), prefix) {
				continue
			}
			old, err := h.ReadFile(l + `\` + pkg.INF)
			if err != nil {
				continue
			}
			pkg.Source, pkg.Leftover = l, true
			if d, v, ok := ParseDriverVer(old); ok {
				pkg.Date, pkg.Version = d, v
			}
			inf = old
			h.setupLog(fmt.Sprintf("sto: {Setup Import Driver Package: %s} using the existing driver store folder %s", pkg.INF, l))
			break
		}
		if pkg.Source == "" {
			store, _ := h.Folder("DriverStore")
			sum := fnv.New64a()
			sum.Write(inf)
			dir := fmt.Sprintf(`%s\%s_%s_neutral_%016x`, store, strings.ToLower(pkg.INF), h.storeArch(), sum.Sum64())
			if err := h.copyFile(srcDir+`\`+pkg.INF, dir+`\`+pkg.INF); err != nil {
				return pkg, err
			}
			for _, f := range pkg.Files {
				if err := h.copyFile(srcDir+`\`+f.Name, dir+`\`+f.Name); err != nil {
					return pkg, err
				}
			}
			pkg.Source = dir
			h.setupLog(fmt.Sprintf("sto: {Setup Import Driver Package: %s} imported to %s", pkg.INF, dir))
		}
	} else {
		pkg.Source = srcDir
	}
	infDir, _ := h.Folder("Inf")
	pkg.Published = fmt.Sprintf("oem%d.inf", h.st.NextOEM)
	if err := h.WriteFile(infDir+`\`+pkg.Published, inf); err != nil {
		return pkg, err
	}
	h.st.NextOEM++
	h.st.DriverStore = append(h.st.DriverStore, pkg)
	return pkg, h.changed()
}

// copyFile copies a file from one host path to another.
func (h *Host) copyFile(src, dst string) error {
	b, err := h.ReadFile(src)
	if err != nil {
		return err
	}
	return h.WriteFile(dst, b)
}

// setupLog appends a line to the device installer's log
// (%SystemRoot%\inf\setupapi.dev.log on Vista and later,
// setupapi.log before).
func (h *Host) setupLog(line string) {
	infDir, err := h.Folder("Inf")
	if err != nil {
		return
	}
	name := infDir + `\setupapi.log`
	if h.st.OS.HasDriverStore() {
		name = infDir + `\setupapi.dev.log`
	}
	old, _ := h.ReadFile(name)
	_ = h.WriteFile(name, append(old, []byte(line+"\r\n")...))
}

// RemoveDriverPackage removes a staged package, as DIFx's uninstall
// does: devices it drives lose their driver (their children go), its
// files leave the system folders unless another staged package uses
// them, its store folder, published INF and service go. Files held open
// by an online disk cannot be deleted and linger; their ErrInUse errors
// are joined into the result, and the rest of the removal still happens.
func (h *Host) RemoveDriverPackage(inf string) error {
	if err := h.usable(); err != nil {
		return err
	}
	idx := -1
	for i, p := range h.st.DriverStore {
		if strings.EqualFold(p.INF, inf) {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("host: remove driver package %s: %w", inf, ErrNotFound)
	}
	pkg := h.st.DriverStore[idx]
	for i := 0; i < len(h.st.Devices); i++ {
		d := &h.st.Devices[i]
		if strings.EqualFold(d.Driver, pkg.INF) {
			h.removeChildren(d.InstanceID)
			d = &h.st.Devices[h.deviceIndex(d.InstanceID)]
			h.unbind(d)
		}
	}
	h.st.DriverStore = append(h.st.DriverStore[:idx], h.st.DriverStore[idx+1:]...)
	var errs []error
	for _, f := range pkg.Files {
		if h.fileShared(f) {
			continue
		}
		dst, err := h.driverFilePath(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if h.Exists(dst) {
			if err := h.Remove(dst); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if h.st.OS.HasDriverStore() && !h.sourceShared(pkg.Source) {
		if err := h.RemoveAll(pkg.Source); err != nil {
			errs = append(errs, err)
		}
	}
	infDir, _ := h.Folder("Inf")
	if p := infDir + `\` + pkg.Published; h.Exists(p) {
		if err := h.Remove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if !h.serviceShared(pkg.Service) {
		h.deleteService(pkg.Service)
	}
	h.st.RebootPending = true
	if err := h.changed(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (h *Host) fileShared(f DriverFile) bool {
	for _, p := range h.st.DriverStore {
		for _, g := range p.Files {
			if strings.EqualFold(g.Name, f.Name) && g.Dir == f.Dir {
				return true
			}
		}
	}
	return false
}

func (h *Host) sourceShared(src string) bool {
	for _, p := range h.st.DriverStore {
		if h.samePath(p.Source, src) {
			return true
		}
	}
	return false
}

func (h *Host) serviceShared(name string) bool {
	for _, p := range h.st.DriverStore {
		if strings.EqualFold(p.Service, name) {
			return true
		}
	}
	return false
}

// unbind takes the driver off d: it shows under Other devices again.
func (h *Host) unbind(d *Device) {
	d.Driver, d.Service, d.DriverVersion, d.Class = "", "", "", ""
	d.FirmwareUpdateMode = false
	if d.Status != StatusDisabled {
		d.Status, d.Problem = StatusProblem, ProblemNoDriver
	}
	if d.Slot > 0 && d.Parent == "" {
		d.Description = "PCI device"
	}
}

// Devices returns the device tree, parents before children.
func (h *Host) Devices() []Device { return h.State().Devices }

// Device returns the device with instance ID id (any case).
func (h *Host) Device(id string) (Device, error) {
	i := h.deviceIndex(id)
	if i < 0 {
		return Device{}, fmt.Errorf("host: device %s: %w", id, ErrNotFound)
	}
	return h.State().Devices[i], nil
}

// FindDevices returns the devices whose description contains text (any
// case).
func (h *Host) FindDevices(text string) []Device {
	var out []Device
	for _, d := range h.State().Devices {
		if strings.Contains(strings.ToLower(d.Description), strings.ToLower(text)) {
			out = append(out, d)
		}
	}
	return out
}

func (h *Host) deviceIndex(id string) int {
	for i, d := range h.st.Devices {
		if strings.EqualFold(d.InstanceID, id) {
			return i
		}
	}
	return -1
}

// AddDevice adds a device and tries to bind a driver to it. With no
// Parent it is root-enumerated (a software device such as a bus driver's
// node); with one it is a child a bus driver reported (an I/O unit the
// subnet manager announced, say), in its parent's HCA slot. Children go
// away when the parent stops or the host reboots.
func (h *Host) AddDevice(d Device) error {
	if err := h.usable(); err != nil {
		return err
	}
	if d.InstanceID == "" || len(d.HardwareIDs) == 0 {
		return fmt.Errorf("host: add device: an instance id and hardware ids are needed: %w", ErrBadConfig)
	}
	if h.deviceIndex(d.InstanceID) >= 0 {
		return fmt.Errorf("host: add device %s: %w", d.InstanceID, ErrExists)
	}
	if d.Parent != "" {
		pi := h.deviceIndex(d.Parent)
		if pi < 0 {
			return fmt.Errorf("host: add device %s: parent %s: %w", d.InstanceID, d.Parent, ErrNotFound)
		}
		if h.st.Devices[pi].Status != StatusStarted {
			return fmt.Errorf("host: add device %s: parent %s is not started: %w", d.InstanceID, d.Parent, ErrBadConfig)
		}
		d.RootEnumerated, d.Parent, d.Slot = false, h.st.Devices[pi].InstanceID, h.st.Devices[pi].Slot
	} else {
		d.RootEnumerated, d.Slot = true, 0
	}
	d.Status, d.Problem = StatusProblem, ProblemNoDriver
	d.Driver, d.Service, d.Class, d.DriverVersion = "", "", "", ""
	h.st.Devices = append(h.st.Devices, d)
	if err := h.startDevice(len(h.st.Devices) - 1); err != nil {
		return err
	}
	return h.changed()
}

// RemoveDevice uninstalls a device and its children from the device tree,
// as Device Manager's Uninstall does; their network connections go too.
// A PCI device comes back at the next Enumerate (a hardware scan or a
// reboot); a root-enumerated one does not.
func (h *Host) RemoveDevice(id string) error {
	if err := h.usable(); err != nil {
		return err
	}
	i := h.deviceIndex(id)
	if i < 0 {
		return fmt.Errorf("host: remove device %s: %w", id, ErrNotFound)
	}
	h.removeChildren(h.st.Devices[i].InstanceID)
	i = h.deviceIndex(id)
	h.dropAdapter(h.st.Devices[i].InstanceID)
	h.st.Devices = append(h.st.Devices[:i], h.st.Devices[i+1:]...)
	return h.changed()
}

// removeChildren drops the descendants of id and their connections.
func (h *Host) removeChildren(id string) {
	for {
		found := -1
		for i, d := range h.st.Devices {
			if strings.EqualFold(d.Parent, id) {
				found = i
				break
			}
		}
		if found < 0 {
			return
		}
		child := h.st.Devices[found].InstanceID
		h.removeChildren(child)
		found = h.deviceIndex(child)
		h.dropAdapter(child)
		h.st.Devices = append(h.st.Devices[:found], h.st.Devices[found+1:]...)
	}
}

// DisableDevice stops a device and its children (Device Manager's
// Disable).
func (h *Host) DisableDevice(id string) error {
	i := h.deviceIndex(id)
	if i < 0 {
		return fmt.Errorf("host: disable device %s: %w", id, ErrNotFound)
	}
	h.removeChildren(h.st.Devices[i].InstanceID)
	i = h.deviceIndex(id)
	h.st.Devices[i].Status, h.st.Devices[i].Problem = StatusDisabled, ProblemDisabled
	return h.changed()
}

// EnableDevice starts a disabled device again; its driver checks the
// hardware (HCA firmware) anew.
func (h *Host) EnableDevice(id string) error {
	i := h.deviceIndex(id)
	if i < 0 {
		return fmt.Errorf("host: enable device %s: %w", id, ErrNotFound)
	}
	h.st.Devices[i].Status, h.st.Devices[i].Problem = StatusProblem, ProblemFailedStart
	if err := h.Enumerate(); err != nil {
		return err
	}
	return h.changed()
}

// RestartDevice disables and enables a device, which reloads its driver.
func (h *Host) RestartDevice(id string) error {
	if err := h.DisableDevice(id); err != nil {
		return err
	}
	return h.EnableDevice(id)
}

// Enumerate scans for hardware, as Device Manager's "Scan for hardware
// changes" does: every HCA slot gets its PCI device, and every device that
// is not running is bound to the best staged driver and started,
// recursively through the children drivers enumerate.
func (h *Host) Enumerate() error {
	if err := h.usable(); err != nil {
		return err
	}
	if h.st.OS == Linux {
		return nil
	}
	for i := range h.st.HCAs {
		s := &h.st.HCAs[i]
		if h.deviceIndex(s.InstanceID()) >= 0 {
			continue
		}
		h.st.Devices = append(h.st.Devices, Device{
			InstanceID: s.InstanceID(), Description: "PCI device", HardwareIDs: s.HardwareIDs(),
			CompatibleIDs: s.CompatibleIDs(), Slot: s.Slot, Status: StatusProblem, Problem: ProblemNoDriver,
		})
	}
	for i := 0; i < len(h.st.Devices); i++ {
		d := h.st.Devices[i]
		if d.Status == StatusStarted || d.Status == StatusDisabled {
			continue
		}
		if err := h.startDevice(i); err != nil {
			return err
		}
	}
	return h.changed()
}

// bestDriver picks the staged package for d: the one matching the most
// specific of its hardware IDs (then compatible IDs), WHQL-signed before
// not, then the newest DriverVer.
func (h *Host) bestDriver(d *Device) *DriverPackage {
	var best *DriverPackage
	bestRank := -1
	for i := range h.st.DriverStore {
		p := &h.st.DriverStore[i]
		rank := -1
		for j, id := range append(append([]string(nil), d.HardwareIDs...), d.CompatibleIDs...) {
			for _, pid := range p.HardwareIDs {
				if strings.EqualFold(id, pid) {
					rank = j
					break
				}
			}
			if rank >= 0 {
				break
			}
		}
		if rank < 0 {
			continue
		}
		if best == nil || rank < bestRank || (rank == bestRank && newer(p, best)) {
			best, bestRank = p, rank
		}
	}
	return best
}

// newer reports whether a outranks b among equal matches.
func newer(a, b *DriverPackage) bool {
	if a.WHQL != b.WHQL {
		return a.WHQL
	}
	da, _ := time.Parse("01/02/2006", a.Date)
	db, _ := time.Parse("01/02/2006", b.Date)
	if !da.Equal(db) {
		return da.After(db)
	}
	return compareVersions(a.Version, b.Version) > 0
}

// compareVersions compares dotted version strings numerically.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Firmware event IDs the HCA drivers log.
const (
	EventFirmwareUnsupported = 1001 // below the minimal version: error
	EventFirmwareOutdated    = 1002 // below the optimal version: warning
	EventFirmwareCurrent     = 1003 // at or above optimal: information
)

// startDevice binds device i to its best driver and starts it.
func (h *Host) startDevice(i int) error {
	d := &h.st.Devices[i]
	pkg := h.bestDriver(d)
	if pkg == nil {
		h.unbind(d)
		return nil
	}
	fresh := !strings.EqualFold(d.Driver, pkg.INF) || d.DriverVersion != pkg.Version
	d.Driver, d.Service, d.DriverVersion, d.Class = pkg.INF, pkg.Service, pkg.Version, pkg.Class
	d.Description = pkg.Description
	if fresh {
		// Installing the driver on the device copies its files into the
		// system folders.
		for _, f := range pkg.Files {
			dst, err := h.driverFilePath(f)
			if err != nil {
				return err
			}
			src := pkg.Source + `\` + f.Name
			data, err := h.ReadFile(src)
			if err != nil {
				h.setupLog(fmt.Sprintf("dvi: {Install Device %s} source file %s is missing", d.InstanceID, src))
				continue
			}
			if old, err := h.ReadFile(dst); err == nil && bytes.Equal(old, data) {
				continue
			}
			if err := h.WriteFile(dst, data); err != nil && !errors.Is(err, ErrInUse) {
				return err
			}
		}
		h.setupLog(fmt.Sprintf("dvi: {Install Device %s} driver %s (%s %s) installed", d.InstanceID, pkg.Published, pkg.Date, pkg.Version))
	}
	if err := h.ensureDriverService(pkg); err != nil {
		return err
	}
	bin := DriverFile{Name: pkg.ServiceBinary, Dir: DirDrivers}
	for _, f := range pkg.Files {
		if strings.EqualFold(f.Name, pkg.ServiceBinary) {
			bin = f
		}
	}
	if p, err := h.driverFilePath(bin); err != nil || !h.Exists(p) {
		d.Status, d.Problem = StatusProblem, ProblemDriverMissing
		return nil
	}
	d.Status, d.Problem, d.FirmwareUpdateMode = StatusStarted, 0, false
	if d.Slot > 0 && d.Parent == "" {
		slot := &h.st.HCAs[d.Slot-1]
		d.LoadedFirmware = slot.Firmware.Version
		if l, ok := h.adapters[slot.NodeGUID].(FirmwareLoader); ok {
			if err := l.LoadFirmware(slot.Firmware); err != nil {
				return err
			}
		}
		for _, r := range pkg.Firmware {
			if r.DeviceID != slot.DeviceID {
				continue
			}
			fw := slot.Firmware.Version
			switch {
			case fw.Less(r.Minimal):
				h.logEvent(LevelError, pkg.Service, EventFirmwareUnsupported, fmt.Sprintf(
					"%s: HCA firmware version %s is older than the minimal supported version %s. The HCA was started as a memory controller so that its firmware can be updated.",
					slot.MSTDevice(0), fw, r.Minimal))
				d.FirmwareUpdateMode, d.Class = true, ClassMemory
				d.Description = fmt.Sprintf("%s %s (firmware update mode)", slot.Family, slot.Part)
			case fw.Less(r.Optimal):
				h.logEvent(LevelWarning, pkg.Service, EventFirmwareOutdated, fmt.Sprintf(
					"%s: HCA firmware version %s is not the latest one. If you meet any issues with the HCA, first upgrade the firmware to version %s or higher.",
					slot.MSTDevice(0), fw, r.Optimal))
			default:
				h.logEvent(LevelInformation, pkg.Service, EventFirmwareCurrent, fmt.Sprintf(
					"%s: current HCA firmware version is %s.", slot.MSTDevice(0), fw))
			}
		}
	}
	h.setServiceState(pkg.Service, ServiceRunning)
	if d.FirmwareUpdateMode {
		return nil
	}
	if d.Slot > 0 {
		slot := h.st.HCAs[d.Slot-1]
		parent := d.InstanceID
		for _, c := range pkg.Children {
			if c.PerPort {
				for p := 1; p <= slot.NumPorts; p++ {
					h.addChild(parent, c, slot.Slot, p, fmt.Sprintf(`%s\%016X`, c.HardwareID, uint64(slot.PortGUIDs[p-1])))
				}
			} else {
				h.addChild(parent, c, slot.Slot, 0, fmt.Sprintf(`%s\%016X`, c.HardwareID, uint64(slot.NodeGUID)))
			}
		}
	}
	d = &h.st.Devices[i]
	if d.Class == ClassNet {
		h.ensureAdapter(d)
	}
	return nil
}

// addChild adds a child device unless it is there.
func (h *Host) addChild(parent string, c ChildSpec, slot, port int, id string) {
	if h.deviceIndex(id) >= 0 {
		return
	}
	h.st.Devices = append(h.st.Devices, Device{
		InstanceID: id, Description: c.Description, HardwareIDs: []string{c.HardwareID},
		Parent: parent, Slot: slot, Port: port, Status: StatusProblem, Problem: ProblemNoDriver,
	})
}

// ensureDriverService creates the kernel driver service of pkg.
func (h *Host) ensureDriverService(pkg *DriverPackage) error {
	if _, ok := h.service(pkg.Service); ok {
		return nil
	}
	mode := pkg.StartMode
	if mode == "" {
		mode = StartDemand
	}
	h.st.Services = append(h.st.Services, Service{
		Name: pkg.Service, DisplayName: pkg.Description, Kind: KindKernelDriver, StartMode: mode,
		State: ServiceStopped, ImagePath: `\SystemRoot\System32\drivers\` + pkg.ServiceBinary, Product: pkg.Product,
	})
	return nil
}
