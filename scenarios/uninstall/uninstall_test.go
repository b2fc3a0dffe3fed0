package uninstall_test

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

// cleanHost is a trusted Server 2008 x64 host with an InfiniHost and a
// ConnectX-2, no fabric.
func cleanHost() *host.Host {
	h := NewHost(host.Config{OS: host.Server2008, Arch: host.X64, Adapters: []host.Adapter{
		Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200003000), Detached(hca.ProfileConnectX2QDR2p, 0x0002c903000e0000)}})
	Expect(install.TrustPublisher(h)).To(Succeed())
	return h
}

var _ = Describe("uninstalling WinOF 2.2.1 from a fabric node", Ordered, Label("kind:uninstall", "env:emu"), func() {
	var (
		h        *host.Host
		pristine host.Snapshot
		code     string
	)
	BeforeAll(func() {
		CheckGoroutines()
		f := StartFabric(ibtest.FatTree(2, 4))
		h = FabricHost(f, host.Server2008, host.X64, f.FirstHCA().Topo.ID)
		Expect(install.TrustPublisher(h)).To(Succeed())
		pristine = Snapshot(h)
		code = MustMsiexec(h, "msiexec /i "+pkg2008+" /qn OSMS=1").ProductCode
	})

	It("runs from the product's Start menu entry", func() {
		lnk, err := h.ReadFile(`C:\ProgramData\Microsoft\Windows\Start Menu\Programs\Windows OpenFabrics\Uninstall WinOF 2.2.1.lnk`)
		Expect(err).NotTo(HaveOccurred())
		target := strings.TrimSpace(strings.SplitAfter(string(lnk), "Content: ")[1])
		Expect(target).To(Equal("msiexec.exe /x " + code))
		res := MustMsiexec(h, target+" /quiet /forcerestart")
		Expect(res.Rebooted).To(BeTrue())
		Expect(res.ExitCode).To(Equal(1641))
	})

	It("stops the subnet manager and removes the service", func() {
		Expect(install.RunningSM(h)).To(BeNil())
		_, err := h.Service("OpenSM")
		Expect(err).To(MatchError(host.ErrNotFound))
	})

	It("leaves no WinOF file, driver, provider or PATH entry", func() {
		Expect(install.IBScan(h)).To(BeEmpty())
		Expect(h.DriverPackages()).To(BeEmpty())
		Expect(h.Providers()).To(BeEmpty())
		Expect(h.InPath(`%ProgramFiles%\WinOF`)).To(BeFalse())
		Expect(h.Devices()).To(HaveEach(HaveField("Driver", "")))
	})

	It("leaves the disk as it was before the install, but for logs", func() {
		diff := pristine.Diff(Snapshot(h))
		for _, d := range diff {
			Expect(d).To(Or(HaveSuffix("host.json"), HaveSuffix("setupapi.dev.log")), "only the host's registry and setupapi's log change")
		}
	})
})

var _ = Describe("an unattended uninstall by product code", Label("kind:uninstall", "env:emu"), func() {
	It("reports a missing product with 1605 and changes nothing", func() {
		h := cleanHost()
		before := Snapshot(h)
		p, err := install.FindPackage(pkg2008)
		Expect(err).NotTo(HaveOccurred())
		_, err = Msiexec(h, "start/wait msiexec.exe /x "+p.ProductCode+" /quiet /forcerestart", install.Options{})
		Expect(err).To(MatchError(install.ErrNotInstalled))
		Expect(install.ExitCode(err)).To(Equal(1605))
		Expect(h).To(EqualSnapshot(before))
	})

	It("without /forcerestart reports that a restart is required", func() {
		h := cleanHost()
		code := MustMsiexec(h, "msiexec /i "+pkg2008+" /qn").ProductCode
		boots := h.Boots()
		res := MustMsiexec(h, "msiexec /x "+code+" /qn")
		Expect(res.ExitCode).To(Equal(3010))
		Expect(h.Boots()).To(Equal(boots))
		Expect(h.RebootPending()).To(BeTrue())
	})
})

var _ = Describe("NODRV=1 on uninstall", Label("kind:uninstall", "env:emu"), func() {
	DescribeTable("decides whether drivers installed by other means go",
		func(uninstall string, driversLeft bool) {
			h := cleanHost()
			MustMsiexec(h, "start/wait msiexec /I "+pkg2008+" /qn /quiet NODRV=1")
			Expect(install.ProvisionDrivers(h, `%ProgramFiles%\WinOF\Drivers`)).NotTo(BeEmpty())
			MustMsiexec(h, uninstall)
			if driversLeft {
				Expect(h.DriverPackages()).NotTo(BeEmpty())
				Expect(h.Devices()).To(ContainElement(HaveField("Service", "mthca")))
			} else {
				Expect(h.DriverPackages()).To(BeEmpty())
				Expect(h.Devices()).NotTo(ContainElement(HaveField("Service", "mthca")))
			}
		},
		Entry("with NODRV=1 they stay", "start/wait msiexec /X "+pkg2008+" /qn /quiet NODRV=1", true),
		Entry("without it they are removed too, as the notes warn", "start/wait msiexec /X "+pkg2008+" /qn /quiet", false),
	)
})

var _ = Describe("an active SRP target disk", Ordered, Label("kind:uninstall", "env:emu"), func() {
	var (
		h    *host.Host
		code string
		res  *install.Result
	)
	const srp = `C:\Windows\System32\drivers\ibsrp.sys`
	BeforeAll(func() {
		h = cleanHost()
		code = MustMsiexec(h, "start/wait msiexec.exe /i "+pkg2008+" /passive SRP=1").ProductCode
		Expect(install.AttachSRPDisk(h, "L")).To(Succeed())
	})

	It("blocks a clean uninstall: driver files linger after the reboot", func() {
		res = MustMsiexec(h, "msiexec /x "+code+" /quiet /forcerestart")
		Expect(res.Lingering).To(ContainElement(srp))
		Expect(h.Exists(srp)).To(BeTrue())
	})

	It("is seen by ibscan", func() {
		Expect(install.IBScan(h)).To(ContainElement(srp))
	})

	It("keeps ibcleanup from removing the files it holds", func() {
		_, kept, err := install.IBCleanup(h)
		Expect(err).To(MatchError(host.ErrInUse))
		Expect(kept).To(ContainElement(srp))
	})

	It("once released (diskpart OFFLINE DISK), lets ibcleanup remove everything", func() {
		Expect(h.OfflineDisk("L")).To(Succeed())
		_, kept, err := install.IBCleanup(h)
		Expect(err).NotTo(HaveOccurred())
		Expect(kept).To(BeEmpty())
		Expect(install.IBScan(h)).To(BeEmpty())
	})

	It("released before the uninstall, leaves nothing behind", func() {
		h2 := cleanHost()
		code := MustMsiexec(h2, "msiexec /i "+pkg2008+" /qn SRP=1").ProductCode
		Expect(install.AttachSRPDisk(h2, "M")).To(Succeed())
		Expect(h2.OfflineDisk("M")).To(Succeed())
		Expect(MustMsiexec(h2, "msiexec /x "+code+" /qn /forcerestart").Lingering).To(BeEmpty())
		Expect(install.IBScan(h2)).To(BeEmpty())
	})
})

var _ = Describe("a silently failed earlier uninstall", Ordered, Label("kind:uninstall", "env:emu"), func() {
	var (
		h      *host.Host
		fabric host.Device
	)
	BeforeAll(func() {
		h = NewHost(host.Config{OS: host.Server2003, Arch: host.X86, Adapters: []host.Adapter{Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200004000)}})
		Expect(install.TrustPublisher(h)).To(Succeed())
		old := MustMsiexec(h, "msiexec /i WinOF_1-1_wnet_x86.msi /qn")
		_, err := Msiexec(h, "msiexec /x "+old.ProductCode+" /qn /forcerestart", install.Options{LeaveFabricDevice: true})
		Expect(err).NotTo(HaveOccurred(), "the failure is silent")
	})

	It("leaves the InfiniBand Fabric system device", func() {
		devs := h.FindDevices("InfiniBand Fabric")
		Expect(devs).To(HaveLen(1))
		fabric = devs[0]
		Expect(h.Products()).To(BeEmpty())
	})

	It("makes the next install fail with DriverInstall - HCA Ret 2 Error 0, rolled back", func() {
		before := Snapshot(h)
		_, err := Msiexec(h, "start/wait msiexec /i WinOF_2-2-1_wnet_x86.msi /qn /quiet", install.Options{})
		Expect(err).To(MatchError(ContainSubstring("DriverInstall - HCA Ret 2 Error 0")))
		Expect(h).To(EqualSnapshot(before))
	})

	It("installs once the device is uninstalled in Device Manager and the host rebooted", func() {
		Expect(h.RemoveDevice(fabric.InstanceID)).To(Succeed())
		Expect(h.Reboot()).To(Succeed())
		MustMsiexec(h, "start/wait msiexec /i WinOF_2-2-1_wnet_x86.msi /qn /quiet")
		Expect(h.Devices()).To(ContainElement(SatisfyAll(HaveField("Service", "mthca"), HaveField("DriverVersion", "2.2.1.2778"))))
	})
})

var _ = Describe("leftover driver store folders", Ordered, Label("kind:uninstall", "env:emu"), func() {
	var h *host.Host
	const old = `%SystemRoot%\System32\DriverStore\FileRepository\mthca.inf_amd64_neutral_1122334455667788`
	BeforeAll(func() {
		h = NewHost(host.Config{OS: host.Server2008, Arch: host.X64, Adapters: []host.Adapter{Detached(hca.ProfileInfiniHostIIIEx, 0x0002c90200005000)}})
		Expect(install.TrustPublisher(h)).To(Succeed())
		// What a failed WinOF 2.1 install attempt left behind.
		Expect(h.WriteFile(old+`\mthca.inf`, []byte("[Version]\r\nProvider=\"OpenFabrics Alliance\"\r\nDriverVer=08/25/2009,2.1.0.2476\r\n"))).To(Succeed())
		for _, f := range []string{"mthca.sys", "ibbus.sys", "winverbs.sys", "winmad.sys", "mthcau.dll", "ibal.dll", "complib.dll", "winverbs.dll", "winmad.dll"} {
			Expect(h.WriteFile(old+`\`+f, []byte(f+" (WinOF 2.1)"))).To(Succeed())
		}
	})

	It("are listed by ibscan", func() {
		Expect(install.IBScan(h)).To(ContainElement(ContainSubstring(`mthca.inf_amd64_neutral_1122334455667788\mthca.sys`)))
	})

	It("are used instead of the files being installed", func() {
		res := MustMsiexec(h, "msiexec /i "+pkg2008+" /qn")
		Expect(res.Warnings).To(ContainElement(ContainSubstring("leftover driver store folder")))
		Expect(h.ReadFile(`%SystemRoot%\System32\drivers\mthca.sys`)).To(BeEquivalentTo("mthca.sys (WinOF 2.1)"))
		Expect(h.Devices()).To(ContainElement(HaveField("DriverVersion", "2.1.0.2476")))
	})

	It("go with an uninstall and ibcleanup, and the reinstall gets the new driver", func() {
		p, _ := install.FindPackage(pkg2008)
		MustMsiexec(h, "msiexec /x "+p.ProductCode+" /qn /forcerestart")
		_, _, err := install.IBCleanup(h)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.LeftoverStoreFolders()).To(BeEmpty())
		MustMsiexec(h, "msiexec /i "+pkg2008+" /qn")
		Expect(h.Devices()).To(ContainElement(HaveField("DriverVersion", "2.2.1.2778")))
	})
})
