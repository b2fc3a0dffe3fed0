package host_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/ibtest"
)

// stage writes a driver package's INF and files into src and stages it.
func stage(t *testing.T, h *host.Host, src string, pkg host.DriverPackage) host.DriverPackage {
	t.Helper()
	inf := fmt.Sprintf("[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=%s\r\nDriverVer=%s,%s\r\n", pkg.Class, pkg.Date, pkg.Version)
	if err := h.WriteFile(src+`\`+pkg.INF, []byte(inf)); err != nil {
		t.Fatal(err)
	}
	for _, f := range pkg.Files {
		if err := h.WriteFile(src+`\`+f.Name, []byte(f.Name+" "+pkg.Version)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.AddDriverPackage(pkg, src)
	if err != nil {
		t.Fatalf("AddDriverPackage: %v", err)
	}
	return got
}

func mthcaPkg(version string) host.DriverPackage {
	return host.DriverPackage{
		INF: "mthca.inf", Provider: "OpenFabrics Alliance", Description: "Mellanox InfiniHost III Ex (MT25218) - Mellanox InfiniBand HCA",
		Class: host.ClassInfiniBand, Date: "01/20/2010", Version: version, Signer: "OpenFabrics Alliance",
		HardwareIDs: []string{`PCI\VEN_15B3&DEV_6282`}, Service: "mthca", StartMode: host.StartDemand,
		Files:    []host.DriverFile{{Name: "mthca.sys", Dir: host.DirDrivers}, {Name: "mthcau.dll", Dir: host.DirSystem}},
		Children: []host.ChildSpec{{HardwareID: `IBA\IPoIB`, Description: "OpenFabrics IPoIB Adapter", PerPort: true}},
		Firmware: []host.FirmwareRule{{DeviceID: 0x6282, Minimal: host.FW(5, 1, 0), Optimal: host.FW(5, 3, 0)}},
	}
}

func ipoibPkg() host.DriverPackage {
	return host.DriverPackage{
		INF: "netipoib.inf", Description: "OpenFabrics IPoIB Adapter", Class: host.ClassNet, Date: "01/20/2010", Version: "2.2.1.2778",
		HardwareIDs: []string{`IBA\IPoIB`}, Service: "ipoib", Files: []host.DriverFile{{Name: "ipoib.sys", Dir: host.DirDrivers}},
	}
}

func TestBindByHardwareIDWithChildrenAndAdapters(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
	h.Setenv("x", "y") // a second Ethernet-free change, saved
	stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
	stage(t, h, `C:\src\ipoib`, ipoibPkg())
	if err := h.Enumerate(); err != nil {
		t.Fatal(err)
	}
	var hcaDev host.Device
	var ports []host.Device
	for _, d := range h.Devices() {
		switch {
		case d.Service == "mthca":
			hcaDev = d
		case d.Service == "ipoib":
			ports = append(ports, d)
		}
	}
	if hcaDev.Status != host.StatusStarted || hcaDev.Class != host.ClassInfiniBand || hcaDev.DriverVersion != "2.2.1.2778" {
		t.Fatalf("HCA device = %+v", hcaDev)
	}
	if len(ports) != 2 || ports[0].Status != host.StatusStarted || ports[1].Port != 2 {
		t.Fatalf("IPoIB devices = %+v", ports)
	}
	if b, err := h.ReadFile(`%SystemRoot%\System32\drivers\mthca.sys`); err != nil || string(b) != "mthca.sys 2.2.1.2778" {
		t.Errorf("mthca.sys = %q, %v", b, err)
	}
	if s, err := h.Service("mthca"); err != nil || s.State != host.ServiceRunning || s.Kind != host.KindKernelDriver {
		t.Errorf("mthca service = %+v, %v", s, err)
	}
	ad := h.NetAdapters()
	if len(ad) != 3 || ad[1].Name != "Local Area Connection 2" || ad[2].Name != "Local Area Connection 3" ||
		ad[2].Description != "OpenFabrics IPoIB Adapter #2" || ad[1].MAC != "00-02-C9-00-10-01" {
		t.Fatalf("adapters = %+v", ad)
	}
	if ev := h.EventsFrom("mthca"); len(ev) != 1 || ev[0].ID != host.EventFirmwareCurrent {
		t.Errorf("firmware events = %+v", ev)
	}
	// Names stay with the devices across a reboot.
	if err := h.SetStaticAddress("Local Area Connection 2", "10.10.4.23", "255.255.255.0", "10.10.4.1"); err != nil {
		t.Fatal(err)
	}
	if err := h.SetStaticAddress("Local Area Connection 2", "10.10.4", "255.255.255.0", ""); !errors.Is(err, host.ErrBadConfig) {
		t.Errorf("bad address accepted: %v", err)
	}
	if err := h.Reboot(); err != nil {
		t.Fatal(err)
	}
	a, err := h.NetAdapter("local area connection 2")
	if err != nil || a.IPv4 != "10.10.4.23" || a.DHCP {
		t.Errorf("after reboot: %+v, %v", a, err)
	}
}

func TestFirmwarePolicy(t *testing.T) {
	for _, tc := range []struct {
		fw       host.FirmwareVersion
		level    host.EventLevel
		id       uint32
		memory   bool
		children int
	}{
		{host.FW(5, 0, 1), host.LevelError, host.EventFirmwareUnsupported, true, 0},
		{host.FW(5, 1, 0), host.LevelWarning, host.EventFirmwareOutdated, false, 2},
		{host.FW(5, 2, 900), host.LevelWarning, host.EventFirmwareOutdated, false, 2},
		{host.FW(5, 3, 0), host.LevelInformation, host.EventFirmwareCurrent, false, 2},
		{host.FW(6, 0, 0), host.LevelInformation, host.EventFirmwareCurrent, false, 2},
	} {
		t.Run(tc.fw.String(), func(t *testing.T) {
			h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
			if err := h.BurnFirmware(1, host.FirmwareImage{Version: tc.fw}, false); err != nil {
				t.Fatal(err)
			}
			stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
			if err := h.Enumerate(); err != nil {
				t.Fatal(err)
			}
			ev := h.EventsFrom("mthca")
			if len(ev) != 1 || ev[0].Level != tc.level || ev[0].ID != tc.id || !strings.Contains(ev[0].Message, tc.fw.String()) {
				t.Fatalf("events = %+v", ev)
			}
			d := h.Devices()[0]
			if d.FirmwareUpdateMode != tc.memory || (d.Class == host.ClassMemory) != tc.memory || d.Status != host.StatusStarted {
				t.Errorf("device = %+v", d)
			}
			if n := len(h.Devices()) - 1; n != tc.children {
				t.Errorf("%d children, want %d", n, tc.children)
			}
		})
	}
}

// Burning new firmware takes effect when the driver restarts.
func TestFirmwareBurnReevaluates(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
	h.BurnFirmware(1, host.FirmwareImage{Version: host.FW(4, 0, 0)}, false)
	stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
	h.Enumerate()
	id := h.Devices()[0].InstanceID
	if err := h.BurnFirmware(1, host.FirmwareImage{Version: host.FW(5, 3, 0), PSID: "MT_9999999999"}, false); !errors.Is(err, host.ErrBadConfig) {
		t.Errorf("PSID mismatch accepted: %v", err)
	}
	if err := h.BurnFirmware(1, host.FirmwareImage{Version: host.FW(5, 3, 0)}, false); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device(id); !d.FirmwareUpdateMode {
		t.Error("new firmware took effect without a restart")
	}
	if err := h.RestartDevice(id); err != nil {
		t.Fatal(err)
	}
	if d, _ := h.Device(id); d.FirmwareUpdateMode || d.Class != host.ClassInfiniBand {
		t.Errorf("after restart: %+v", d)
	}
	if s, _ := h.HCA(1); s.Firmware.Burns != 2 || s.Firmware.Version != (host.FW(5, 3, 0)) {
		t.Errorf("slot firmware = %+v", s.Firmware)
	}
}

// A driver store folder left by an earlier failed install is used instead
// of the new files.
func TestLeftoverStoreFolderWins(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
	old := `%SystemRoot%\System32\DriverStore\FileRepository\mthca.inf_amd64_neutral_0123456789abcdef`
	h.WriteFile(old+`\mthca.inf`, []byte("[Version]\r\nDriverVer=06/02/2009,2.1.0.2476\r\n"))
	h.WriteFile(old+`\mthca.sys`, []byte("mthca.sys 2.1"))
	h.WriteFile(old+`\mthcau.dll`, []byte("mthcau.dll 2.1"))
	if l, _ := h.LeftoverStoreFolders(); len(l) != 1 {
		t.Fatalf("leftovers = %v", l)
	}
	got := stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
	if !got.Leftover || got.Version != "2.1.0.2476" {
		t.Fatalf("staged = %+v", got)
	}
	h.Enumerate()
	if b, _ := h.ReadFile(`%SystemRoot%\System32\drivers\mthca.sys`); string(b) != "mthca.sys 2.1" {
		t.Errorf("mthca.sys = %q, want the leftover's", b)
	}
	if d := h.Devices()[0]; d.DriverVersion != "2.1.0.2476" {
		t.Errorf("driver version %s", d.DriverVersion)
	}
	if l, _ := h.LeftoverStoreFolders(); len(l) != 0 {
		t.Errorf("leftover still unused: %v", l)
	}
}

// Files an online SRP disk holds open linger when the driver package is
// removed; once the disk is offline they go.
func TestRemoveDriverPackageWithDiskOnline(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
	stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
	h.Enumerate()
	sys := `%SystemRoot%\System32\drivers\mthca.sys`
	if err := h.AttachDisk(host.Disk{Volume: "l", Transport: "SRP", Holds: []string{`C:\Windows\System32\drivers\MTHCA.SYS`}}); err != nil {
		t.Fatal(err)
	}
	err := h.RemoveDriverPackage("mthca.inf")
	if !errors.Is(err, host.ErrInUse) || !h.Exists(sys) {
		t.Fatalf("RemoveDriverPackage = %v, file there: %v", err, h.Exists(sys))
	}
	if h.Exists(`%SystemRoot%\System32\mthcau.dll`) {
		t.Error("a file not in use lingers")
	}
	if d := h.Devices()[0]; d.Driver != "" || d.Problem != host.ProblemNoDriver {
		t.Errorf("device still bound: %+v", d)
	}
	if err := h.OfflineDisk("L"); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove(sys); err != nil {
		t.Errorf("remove after offline: %v", err)
	}
}

// A driver whose binary is gone cannot load (code 39); a root-enumerated
// device stays after an uninstall of its driver, a PCI device comes back
// on the next scan.
func TestDeviceLifecycle(t *testing.T) {
	h := newHost(t, host.Server2003, host.X86, adapter(t, hca.ProfileInfiniHostIIIEx, 0x0002c90200001000))
	stage(t, h, `C:\src\mthca`, mthcaPkg("2.2.1.2778"))
	h.Enumerate()
	if err := h.Remove(`%SystemRoot%\system32\drivers\mthca.sys`); err != nil {
		t.Fatal(err)
	}
	h.Reboot()
	if d := h.Devices()[0]; d.Problem != host.ProblemDriverMissing {
		t.Errorf("after deleting the binary: %+v", d)
	}
	fabricDev := host.Device{InstanceID: `ROOT\SYSTEM\0000`, Description: "InfiniBand Fabric", HardwareIDs: []string{`root\ibbus`}}
	if err := h.AddDevice(fabricDev); err != nil {
		t.Fatal(err)
	}
	if err := h.AddDevice(fabricDev); !errors.Is(err, host.ErrExists) {
		t.Errorf("duplicate device: %v", err)
	}
	pci := h.Devices()[0].InstanceID
	h.RemoveDevice(pci)
	h.Reboot()
	if len(h.FindDevices("InfiniBand Fabric")) != 1 {
		t.Error("root device did not survive the reboot")
	}
	if _, err := h.Device(pci); err != nil {
		t.Errorf("PCI device not found again: %v", err)
	}
}

type countingRunner struct{ starts, stops *int }

func (r countingRunner) Start(h *host.Host, s host.Service) error {
	*r.starts++
	return h.WriteFile(`%SystemRoot%\Temp\test.log`, []byte(s.Args))
}
func (r countingRunner) Stop(*host.Host, host.Service) error { *r.stops++; return nil }

var starts, stops int

func init() { host.RegisterServiceRunner("testsvc.exe", countingRunner{&starts, &stops}) }

func TestServices(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	starts, stops = 0, 0
	h.WriteFile(`C:\bin\testsvc.exe`, []byte("x"))
	if err := h.AddService(host.Service{Name: "Test", DisplayName: "Test service", ImagePath: `C:\bin\testsvc.exe`, Args: "-e", StartMode: host.StartDisabled}); err != nil {
		t.Fatal(err)
	}
	if err := h.StartService("test"); !errors.Is(err, host.ErrServiceDisabled) {
		t.Errorf("start disabled = %v", err)
	}
	h.SetStartMode("test", host.StartAuto)
	if err := h.Reboot(); err != nil {
		t.Fatal(err)
	}
	if s, _ := h.Service("test"); s.State != host.ServiceRunning || starts != 1 {
		t.Errorf("after reboot: %+v, %d starts", s, starts)
	}
	if b, _ := h.ReadFile(`%SystemRoot%\Temp\test.log`); string(b) != "-e" {
		t.Errorf("runner output %q", b)
	}
	if err := h.RemoveService("test"); err != nil || stops != 1 {
		t.Errorf("remove: %v, %d stops", err, stops)
	}
	h.WriteFile(`C:\bin\other.exe`, []byte("x"))
	h.AddService(host.Service{Name: "Other", ImagePath: `C:\bin\other.exe`})
	if err := h.StartService("Other"); !errors.Is(err, host.ErrNotFound) {
		t.Errorf("service with no emulation started: %v", err)
	}
}

func TestReimageDropsSoftwareKeepsHardware(t *testing.T) {
	h := newHost(t, host.HPCServer2008, host.X64, adapter(t, hca.ProfileConnectX2QDR2p, 0x0002c903000a0000))
	h.AddCertificate(host.Certificate{Store: host.StoreTrustedPublisher, Subject: "OpenFabrics Alliance"})
	h.BurnFirmware(1, host.FirmwareImage{Version: host.FW(2, 7, 9000)}, false)
	h.WriteFile(`C:\Program Files\WinOF\vstat.exe`, []byte("x"))
	if err := h.Reimage(); err != nil {
		t.Fatal(err)
	}
	if h.Trusts("OpenFabrics Alliance") || h.Exists(`C:\Program Files\WinOF`) {
		t.Error("reimage kept software or trust")
	}
	if s, _ := h.HCA(1); s.Firmware.Version != (host.FW(2, 7, 9000)) {
		t.Errorf("firmware lost: %+v", s.Firmware)
	}
	if len(h.NetAdapters()) != 1 {
		t.Errorf("adapters %+v", h.NetAdapters())
	}
}

// A host given the HCAs of a running fabric reads their live ports.
func TestFabricAdapter(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	fh := f.FirstHCA()
	a := host.FabricAdapter(fh)
	h := newHost(t, host.Server2008, host.X64, a)
	got, err := h.Adapter(1)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := got.Ports()
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != fh.Node.NumPorts() || ports[0].Phys != wire.PhysStateLinkUp || ports[0].Width == 0 || ports[0].Speed == 0 {
		t.Fatalf("ports = %+v", ports)
	}
	if err := f.LinkDown(fh.Topo.ID, 1); err != nil {
		t.Fatal(err)
	}
	ports, _ = got.Ports()
	if ports[0].Phys == wire.PhysStateLinkUp || ports[0].Width != 0 {
		t.Errorf("after link down: %+v", ports[0])
	}
	// Reopened without the fabric, the slot is a detached adapter.
	again, err := host.Open(h.Root())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := again.Adapter(1)
	ps, _ := d.Ports()
	if ps[0].Phys != wire.PhysStatePolling || ps[0].GUID != fh.Device.PortGUID(1) {
		t.Errorf("detached ports = %+v", ps)
	}
	// Reopened with it, live again.
	again, err = host.Open(h.Root(), host.WithAdapters(a))
	if err != nil {
		t.Fatal(err)
	}
	if len(again.HCAs()) != 1 {
		t.Errorf("slots = %d", len(again.HCAs()))
	}
}
