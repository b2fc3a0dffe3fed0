package install_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ibemu/ibemu/hca"
	. "github.com/ibemu/ibemu/scenarios"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/install"
)

const pkg2008 = "WinOF_2-2-1_wlh_x64.msi"

var _ = Describe("A default WinOF 2.2.1 install on a Server 2008 x64 fabric node", Ordered, Label("kind:install", "env:emu"), func() {
	var (
		f *ibtest.Fabric
		h *host.Host
	)
	BeforeAll(func() {
		CheckGoroutines()
		f = StartFabric(ibtest.FatTree(2, 4))
		first := f.FirstHCA()
		h = NewHost(host.Config{OS: host.Server2008, Arch: host.X64, EthernetPorts: 2,
			Adapters: []host.Adapter{host.FabricAdapter(first), Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200001000)}})
	})

	It("refuses an unattended install until the publisher is trusted, leaving the host as it was", func() {
		before := Snapshot(h)
		_, err := Msiexec(h, `start/wait msiexec.exe /i `+pkg2008+` /qn /quiet`, install.Options{})
		Expect(err).To(MatchError(install.ErrUntrusted))
		Expect(install.ExitCode(err)).To(Equal(1603))
		Expect(h).To(EqualSnapshot(before))
	})

	It("installs the default features once the certificate is in the Trusted Publishers store", func() {
		Expect(install.TrustPublisher(h)).To(Succeed())
		res := MustMsiexec(h, `start/wait msiexec.exe /i `+pkg2008+` /qn /quiet /log %TEMP%\WinOF-install.log`)
		Expect(res.Features).To(Equal([]string{"IBcore", "fIPoIB", "fWSD", "fND", "fDAPL"}))
		Expect(res.ExitCode).To(Equal(3010))
		Expect(h.Exists(`%TEMP%\WinOF-install.log`)).To(BeTrue())
	})

	It("lets Plug and Play pick the HCA driver by PCI device ID", func() {
		services := map[string]int{}
		for _, d := range h.Devices() {
			if d.Status == host.StatusStarted {
				services[d.Service] = d.Slot
			}
		}
		Expect(services).To(HaveKeyWithValue("mlx4_bus", 1), "ConnectX-2 (DEV_673C) binds the mlx4 bus driver")
		Expect(services).To(HaveKeyWithValue("mlx4_hca", 1))
		Expect(services).To(HaveKeyWithValue("mthca", 2), "InfiniHost III Ex (DEV_6282) binds mthca")
		Expect(services).To(HaveKey("ipoib"))
	})

	It("names the IPoIB connections after the Ethernet ones", func() {
		var ipoib []string
		for _, a := range h.NetAdapters() {
			if a.Kind == host.AdapterIPoIB {
				ipoib = append(ipoib, a.Name)
			}
		}
		// One port on the fabric's ConnectX, two on the InfiniHost.
		Expect(ipoib).To(Equal([]string{"Local Area Connection 3", "Local Area Connection 4", "Local Area Connection 5"}))
		Expect(h.SetStaticAddress("Local Area Connection 3", "10.10.4.23", "255.255.255.0", "10.10.4.1")).To(Succeed())
	})

	It("installs OpenSM as a disabled service, leaves SRP out, and registers WSD and ND", func() {
		svc, err := h.Service("OpenSM")
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.StartMode).To(Equal(host.StartDisabled))
		Expect(svc.State).To(Equal(host.ServiceStopped))
		Expect(h.DriverPackages()).NotTo(ContainElement(HaveField("INF", "ib_srp.inf")))
		Expect(h.Providers()).To(ContainElements(HaveField("Kind", host.ProviderWSD), HaveField("Kind", host.ProviderND)))
	})

	It("writes the dat.conf template, the sample, the DAT/DAPL libraries and the PATH", func() {
		conf, err := h.ReadFile(`%SystemDrive%\DAT\dat.conf`)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(conf)).To(ContainSubstring(`ibnic0v2 u2.0 nonthreadsafe default C:\Windows\system32\dapl2.dll ri.2.0 "IbalHca0 1" ""`))
		Expect(h.Exists(`%ProgramFiles%\WinOF\dat.conf`)).To(BeTrue())
		for _, lib := range []string{"dat2.dll", "dapl2.dll"} {
			Expect(h.Exists(`%SystemRoot%\System32\` + lib)).To(BeTrue())
			Expect(h.Exists(`%SystemRoot%\SysWOW64\` + lib)).To(BeTrue())
		}
		Expect(h.InPath(`%ProgramFiles%\WinOF`)).To(BeTrue())
	})

	It("shows the HCAs in vstat's layout, from the live ports", func() {
		out, err := install.Vstat(h, install.VstatOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(out, "\thca_idx=")).To(Equal(2))
		Expect(out).To(ContainSubstring("\tvendor_id=0x02c9\n\tvendor_part_id=26428\n\thw_ver=0xb0\n\tfw_ver=2.07.0000\n\tPSID=MT_0D90110009\n"), "the fat tree's single-port ConnectX-2")
		Expect(out).To(ContainSubstring("\t\tport_phys_state=LINK_UP (5)\n"), "the ConnectX port is cabled")
		Expect(out).To(ContainSubstring("\t\tport_state=PORT_INITIALIZE (2)\n"), "no subnet manager yet")
		Expect(out).To(ContainSubstring("\t\tlink_width=4x (2) \n\t\trate=40.00 Gbps\n\t\treal_rate=32.00 Gbps (QDR)\n"))
		Expect(out).To(ContainSubstring("\tvendor_part_id=25218\n"))
		Expect(out).To(ContainSubstring("\t\tport_phys_state=POLLING (2)\n"), "the InfiniHost has no cable")
	})

	It("reports the installed release and driver versions as the notes describe", func() {
		info, err := install.InstalledRelease(h)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Version).To(Equal("2.2.1"))
		Expect(info.FileVersion).To(Equal("2.2.1.2778"))
		Expect(info.About).To(ContainSubstring("svn revision 2778"))
		Expect(info.Drivers).To(ContainElement(SatisfyAll(HaveField("Service", "mthca"), HaveField("Version", "2.2.1.2778"))))
		// The ConnectX firmware is below the mlx4 driver's optimal version.
		Expect(h.EventsFrom("mlx4_bus")).To(ContainElement(HaveField("Level", host.LevelWarning)))
	})

	It("is seen the same by a second process that reopens the root", func() {
		again, err := host.Open(h.Root())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(again.Close)
		Expect(again.Products()).To(HaveLen(1))
		Expect(again.NetAdapter("Local Area Connection 3")).To(HaveField("IPv4", "10.10.4.23"))
		Expect(again.State().Devices).To(Equal(h.State().Devices))
	})
})

var _ = DescribeTable("features offered per OS flavour",
	Label("kind:install", "env:emu"),
	func(o host.OS, a host.Arch, wsd, nd bool) {
		h := NewHost(host.Config{OS: o, Arch: a, Adapters: []host.Adapter{Detached(hca.ProfileConnectX2QDR1p, 0x0002c903000b0000)}})
		Expect(install.TrustPublisher(h)).To(Succeed())
		p, err := install.PackageFor(nil, o, a)
		Expect(err).NotTo(HaveOccurred())
		res := MustMsiexec(h, "msiexec /i "+p.FileName+" /qn")
		Expect(res.Features).To(ContainElements("IBcore", "fIPoIB", "fDAPL"))
		Expect(res.Features).NotTo(ContainElements("fSRP", "fVNIC", "OpenSM_Service_Started"))
		Expect(contains(res.Features, "fWSD")).To(Equal(wsd))
		Expect(contains(res.Features, "fND")).To(Equal(nd))
		if !wsd {
			_, err := Msiexec(NewHost(host.Config{OS: o, Arch: a}), "msiexec /i "+p.FileName+" /qn ADDLOCAL=IBcore,fIPoIB,fWSD", install.Options{})
			Expect(err).To(MatchError(ContainSubstring("not available on " + o.String())))
		}
	},
	Entry("Windows XP x86: no WSD, no ND", host.WindowsXP, host.X86, false, false),
	Entry("Server 2003 x64: WSD", host.Server2003, host.X64, true, false),
	Entry("Server 2003 ia64: WSD", host.Server2003, host.IA64, true, false),
	Entry("Vista x86: ND", host.Vista, host.X86, false, true),
	Entry("Server 2008 x86: WSD and ND", host.Server2008, host.X86, true, true),
	Entry("HPC Server 2008 x64: WSD and ND", host.HPCServer2008, host.X64, true, true),
)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var _ = Describe("the OpenSM_Service_Started feature", Ordered, Label("kind:install", "env:emu", "layer:sm"), func() {
	var (
		f *ibtest.Fabric
		h *host.Host
	)
	BeforeAll(func() {
		CheckGoroutines()
		f = StartFabric(ibtest.FatTree(2, 4))
		h = FabricHost(f, host.HPCServer2008, host.X64, f.FirstHCA().Topo.ID)
		Expect(install.TrustPublisher(h)).To(Succeed())
	})

	It("installs OpenSM automatic and started, and the subnet comes up", func() {
		MustMsiexec(h, `start/wait msiexec.exe /i `+pkg2008+` /passive OSMS=1`)
		svc, _ := h.Service("OpenSM")
		Expect(svc.StartMode).To(Equal(host.StartAuto))
		Expect(svc.State).To(Equal(host.ServiceRunning))
		Expect(install.Vstat(h, install.VstatOptions{})).To(ContainSubstring("port_state=PORT_ACTIVE (4)"))
	})

	It("logs to %SystemRoot%\\Temp\\osm.log", func() {
		log, err := h.ReadFile(install.OpenSMLog)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring("OpenSM 3.3.3"))
		Expect(string(log)).To(ContainSubstring("SUBNET UP: 14 nodes"))
	})

	It("starts again after a reboot", func() {
		Expect(h.Reboot()).To(Succeed())
		Expect(h.Service("OpenSM")).To(HaveField("State", host.ServiceRunning))
		Expect(install.RunningSM(h)).NotTo(BeNil())
	})
})

var _ = Describe("HCA firmware policy", Label("kind:install", "env:emu"), func() {
	var h *host.Host
	install221 := func(fw host.FirmwareVersion) {
		h = NewHost(host.Config{OS: host.Server2008, Arch: host.X64, Adapters: []host.Adapter{Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200002000)}})
		Expect(h.BurnFirmware(1, host.FirmwareImage{Version: fw}, false)).To(Succeed())
		Expect(install.TrustPublisher(h)).To(Succeed())
		MustMsiexec(h, "msiexec /i "+pkg2008+" /qn")
	}
	hcaDevice := func() host.Device { return h.Devices()[0] }

	It("binds an HCA below the minimal firmware as a memory controller and logs an error", func() {
		install221(host.FW(5, 0, 0))
		Expect(hcaDevice()).To(SatisfyAll(HaveField("FirmwareUpdateMode", true), HaveField("Class", host.ClassMemory)))
		Expect(h.EventsFrom("mthca")).To(ContainElement(SatisfyAll(HaveField("Level", host.LevelError), HaveField("Message", ContainSubstring("5.1.0")))))
		Expect(install.Vstat(h, install.VstatOptions{})).To(BeEmpty())
	})

	It("starts an HCA between minimal and optimal with a warning", func() {
		install221(host.FW(5, 2, 0))
		Expect(hcaDevice()).To(SatisfyAll(HaveField("Class", host.ClassInfiniBand), HaveField("Status", host.StatusStarted)))
		Expect(h.EventsFrom("mthca")).To(ContainElement(HaveField("Level", host.LevelWarning)))
	})

	It("starts an HCA at the optimal firmware cleanly", func() {
		install221(host.FW(5, 3, 0))
		Expect(h.EventsFrom("mthca")).To(HaveEach(HaveField("Level", host.LevelInformation)))
	})

	It("re-evaluates after flint burns new firmware and the device restarts", func() {
		install221(host.FW(4, 9, 0))
		dev := install.MSTDevices(h)[0]
		img := install.FirmwareImageFile(0x6282, host.FirmwareImage{Version: host.FW(5, 3, 0), PSID: "MT_0370110002"})
		Expect(install.FlintBurn(h, dev, img, false)).To(ContainSubstring("New FW version:               5.3.0"))
		Expect(hcaDevice().FirmwareUpdateMode).To(BeTrue(), "the running driver keeps the old firmware")
		Expect(h.RestartDevice(hcaDevice().InstanceID)).To(Succeed())
		Expect(hcaDevice().FirmwareUpdateMode).To(BeFalse())
		Expect(install.Vstat(h, install.VstatOptions{})).To(ContainSubstring("\tfw_ver=5.03.0000\n"))
	})
})

var _ = Describe("HPC provisioning", Ordered, Label("kind:install", "env:emu"), func() {
	var h *host.Host
	BeforeAll(func() {
		h = NewHost(host.Config{OS: host.HPCServer2008, Arch: host.X64, Adapters: []host.Adapter{Detached(hca.ProfileConnectX2QDR2p, 0x0002c903000c0000)}})
	})

	It("extracts the package with an administrative install", func() {
		MustMsiexec(h, `msiexec /A `+pkg2008+` TARGETDIR=%TEMP%\WinOF`)
		Expect(h.Exists(`%TEMP%\WinOF\PFiles\WinOF\HPC\cert-add.bat`)).To(BeTrue())
		Expect(h.Exists(`%TEMP%\WinOF\PFiles\WinOF\Drivers\mlx4_bus\mlx4_bus.inf`)).To(BeTrue())
		Expect(h.Products()).To(BeEmpty())
	})

	It("refuses a TARGETDIR whose last folder exists, and a lowercase targetdir", func() {
		before := Snapshot(h)
		_, err := Msiexec(h, `msiexec /A `+pkg2008+` TARGETDIR=%TEMP%\WinOF`, install.Options{})
		Expect(err).To(MatchError(install.ErrTargetExists))
		_, err = Msiexec(h, `msiexec /A `+pkg2008+` targetdir=%TEMP%\Other`, install.Options{})
		Expect(err).To(MatchError(ContainSubstring("did you mean TARGETDIR")))
		Expect(h).To(EqualSnapshot(before))
	})

	It("provisions the drivers from the image and installs WinOF without drivers", func() {
		Expect(install.ProvisionDrivers(h, `%TEMP%\WinOF\PFiles\WinOF\Drivers`)).To(ContainElements("mlx4_bus.inf", "mlx4_hca.inf", "netipoib.inf"))
		MustMsiexec(h, `start/wait msiexec /I `+pkg2008+` /qn /quiet NODRV=1`)
		p, err := install.FindPackage(pkg2008)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Product(p.ProductCode)).To(HaveField("Properties", HaveKeyWithValue("NODRV", "1")))
		Expect(h.DriverPackages()).To(HaveEach(HaveField("Product", "")), "every driver came from provisioning")
	})

	It("keeps the drivers on an uninstall with NODRV=1", func() {
		MustMsiexec(h, `start/wait msiexec /X `+pkg2008+` /qn /quiet NODRV=1`)
		Expect(h.DriverPackages()).NotTo(BeEmpty())
	})
})

var _ = DescribeTable("the release notes' command lines replay as written",
	Label("kind:install", "env:emu"),
	func(setup func(*host.Host), line string, check func(*host.Host, *install.Result)) {
		h := NewHost(host.Config{OS: host.HPCServer2008, Arch: host.X64, Adapters: []host.Adapter{Detached(hca.ProfileConnectX2QDR2p, 0x0002c903000d0000)}})
		Expect(install.TrustPublisher(h)).To(Succeed())
		if setup != nil {
			setup(h)
		}
		check(h, MustMsiexec(h, line))
	},
	Entry(nil, nil, `start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /qn /quiet /log %TEMP%\WinOF-install.log`,
		func(h *host.Host, r *install.Result) { Expect(h.Exists(`%TEMP%\WinOF-install.log`)).To(BeTrue()) }),
	Entry(nil, nil, `msiexec /I WinOF_2-2-1_wlh_x64.msi /Lv \temp\msi.log`,
		func(h *host.Host, r *install.Result) { Expect(h.Exists(`C:\temp\msi.log`)).To(BeTrue()) }),
	Entry(nil, nil, `start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /passive OSMS=1`,
		func(h *host.Host, r *install.Result) { Expect(r.Features).To(ContainElement("OpenSM_Service_Started")) }),
	Entry(nil, nil, `start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /passive SRP=1`,
		func(h *host.Host, r *install.Result) { Expect(r.Features).To(ContainElement("fSRP")) }),
	Entry(nil, nil, `start/wait msiexec /I WinOF_2-2-1_wlh_x64.msi /qn /quiet NODRV=1`,
		func(h *host.Host, r *install.Result) { Expect(h.DriverPackages()).To(BeEmpty()) }),
	Entry(nil, func(h *host.Host) { MustMsiexec(h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`) },
		`start/wait msiexec.exe /x WinOF_2-2-1_wlh_x64.msi /quiet /forcerestart`,
		func(h *host.Host, r *install.Result) {
			Expect(r.Rebooted).To(BeTrue())
			Expect(h.Products()).To(BeEmpty())
		}),
	Entry(nil, nil, `msiexec /A WinOF_2-2-1_wlh_x64.msi TARGETDIR=%TEMP%\WinOF`,
		func(h *host.Host, r *install.Result) { Expect(h.IsDir(`%TEMP%\WinOF\PFiles\WinOF`)).To(BeTrue()) }),
)
