package install_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/install"
)

func TestDefaultUnattendedInstallServer2008(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	if err := install.TrustPublisher(h); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, h, `start/wait msiexec.exe /i WinOF_2-2-1_wlh_x64.msi /qn /quiet /log %TEMP%\WinOF-install.log`, install.Options{})
	if want := []string{"IBcore", "fIPoIB", "fWSD", "fND", "fDAPL"}; !slices.Equal(res.Features, want) {
		t.Errorf("features = %v, want %v", res.Features, want)
	}
	if res.ExitCode != 3010 || !res.RebootRequired {
		t.Errorf("exit %d, reboot required %v", res.ExitCode, res.RebootRequired)
	}
	// Plug and Play picked the driver by PCI device ID.
	if d := deviceByService(h, "mthca"); len(d) != 1 || d[0].Slot != 2 || d[0].Class != host.ClassInfiniBand {
		t.Errorf("mthca devices = %+v", d)
	}
	if d := deviceByService(h, "mlx4_bus"); len(d) != 1 || d[0].Slot != 1 {
		t.Errorf("mlx4_bus devices = %+v", d)
	}
	if d := deviceByService(h, "mlx4_hca"); len(d) != 1 || d[0].Status != host.StatusStarted {
		t.Errorf("mlx4_hca devices = %+v", d)
	}
	if d := deviceByService(h, "ipoib"); len(d) != 4 {
		t.Errorf("%d IPoIB ports, want 4", len(d))
	}
	names := []string{}
	for _, a := range h.NetAdapters() {
		names = append(names, a.Name)
	}
	if want := []string{"Local Area Connection", "Local Area Connection 2", "Local Area Connection 3", "Local Area Connection 4", "Local Area Connection 5"}; !slices.Equal(names, want) {
		t.Errorf("connections = %v", names)
	}
	if len(deviceByService(h, "ibsrp")) != 0 || slices.Contains(res.Features, "fSRP") {
		t.Error("SRP in a default install")
	}
	svc, err := h.Service("OpenSM")
	if err != nil || svc.StartMode != host.StartDisabled || svc.State != host.ServiceStopped || svc.DisplayName != "InfiniBand Subnet Manager" {
		t.Errorf("OpenSM = %+v, %v", svc, err)
	}
	if !h.InPath(`C:\Program Files\WinOF`) {
		t.Errorf("PATH = %s", h.Getenv("PATH"))
	}
	for _, f := range []string{`C:\DAT\dat.conf`, `C:\Program Files\WinOF\dat.conf`, `C:\Windows\System32\dat2.dll`, `C:\Windows\System32\dapl2.dll`,
		`C:\Windows\SysWOW64\dat2.dll`, `C:\Program Files\WinOF\vstat.exe`, `C:\Program Files\WinOF\dapl2test.exe`,
		`C:\Windows\System32\drivers\mthca.sys`, `C:\Windows\System32\drivers\mlx4_bus.sys`, `C:\Windows\Temp\WinOF-install.log`} {
		if !h.Exists(f) {
			t.Errorf("%s missing", f)
		}
	}
	conf, _ := h.ReadFile(`C:\DAT\dat.conf`)
	if !strings.Contains(string(conf), `ibnic0v2 u2.0 nonthreadsafe default C:\Windows\system32\dapl2.dll ri.2.0 "IbalHca0 1" ""`) {
		t.Errorf("dat.conf:\n%s", conf)
	}
	if !hasProvider(h, host.ProviderWSD) || !hasProvider(h, host.ProviderND) {
		t.Errorf("providers = %+v", h.Providers())
	}
	// ConnectX-2 firmware 2.7.0 is below the mlx4 driver's optimal
	// version: a warning. InfiniHost 5.3.0 is current.
	if ev := h.EventsFrom("mlx4_bus"); len(ev) != 1 || ev[0].Level != host.LevelWarning {
		t.Errorf("mlx4_bus events = %+v", ev)
	}
	if ev := h.EventsFrom("mthca"); len(ev) != 1 || ev[0].Level != host.LevelInformation {
		t.Errorf("mthca events = %+v", ev)
	}
	if _, err := h.Product(res.ProductCode); err != nil {
		t.Error(err)
	}
	log, _ := h.ReadFile(`%TEMP%\WinOF-install.log`)
	if !strings.Contains(string(log), "Installation completed successfully") || !strings.Contains(string(log), "MainEngineThread is returning 3010") {
		t.Errorf("log:\n%s", log)
	}
	// A second install of any WinOF is refused.
	if _, err := msiexec(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{}); !errors.Is(err, install.ErrOtherVersion) || install.ExitCode(err) != 1638 {
		t.Errorf("second install: %v", err)
	}
}

func TestFeatureAvailabilityByOS(t *testing.T) {
	for _, tc := range []struct {
		os       host.OS
		arch     host.Arch
		wsd, nd  bool
		refusals []string
	}{
		{host.WindowsXP, host.X86, false, false, []string{"ADDLOCAL=fWSD", "ADDLOCAL=fND"}},
		{host.Server2003, host.X64, true, false, []string{"ADDLOCAL=fND"}},
		{host.Vista, host.X86, false, true, []string{"ADDLOCAL=fWSD"}},
		{host.Server2008, host.IA64, true, true, nil},
		{host.HPCServer2008, host.X64, true, true, nil},
	} {
		t.Run(tc.os.Key(), func(t *testing.T) {
			h := newHost(t, tc.os, tc.arch)
			install.TrustPublisher(h)
			pkg := pkgName(tc.os, tc.arch)
			for _, r := range tc.refusals {
				before := snap(t, h)
				_, err := msiexec(t, h, "msiexec /i "+pkg+" /qn "+r, install.Options{})
				if !errors.Is(err, install.ErrUnknownFeature) || !strings.Contains(err.Error(), "not available on "+tc.os.String()) {
					t.Errorf("%s: %v", r, err)
				}
				if d := before.Diff(snap(t, h)); len(d) > 0 {
					t.Errorf("%s changed the host: %v", r, d)
				}
			}
			res := mustRun(t, h, "msiexec /i "+pkg+" /qn", install.Options{})
			if got := slices.Contains(res.Features, install.FeatureWSD); got != tc.wsd {
				t.Errorf("WSD = %v, want %v", got, tc.wsd)
			}
			if got := slices.Contains(res.Features, install.FeatureND); got != tc.nd {
				t.Errorf("ND = %v, want %v", got, tc.nd)
			}
			if hasProvider(h, host.ProviderWSD) != tc.wsd || hasProvider(h, host.ProviderND) != tc.nd {
				t.Errorf("providers %+v", h.Providers())
			}
			wow := h.Exists(`%SystemRoot%\SysWOW64\dat2.dll`)
			if wow != tc.arch.Is64() {
				t.Errorf("SysWOW64 copy present = %v", wow)
			}
		})
	}
}

func TestBadInputLeavesHostAsItWas(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	before := snap(t, h)
	for _, tc := range []struct {
		line string
		want error
		text string
	}{
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi ADDLOCAL=fipoib`, install.ErrUnknownFeature, "did you mean fIPoIB"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi ADDLOCAL=fBogus`, install.ErrUnknownFeature, `unknown feature "fBogus"`},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi REMOVE=IBcore`, install.ErrUnknownFeature, "cannot be left out"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi ADDLOCAL=IBcore,fWSD`, install.ErrUnknownFeature, "needs fIPoIB"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi nodrv=1`, install.ErrUnknownProperty, "did you mean NODRV"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi COLOR=blue`, install.ErrUnknownProperty, `unknown property "COLOR"`},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi NODRV=yes`, install.ErrUnknownProperty, "want 0 or 1"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi TARGETDIR=C:\x`, install.ErrUnknownProperty, "not a property of an install"},
		{`msiexec /i WinOF_2-2-1_wnet_x64.msi`, install.ErrWrongPlatform, "installs on Windows Server 2003 x64 only"},
		{`msiexec /i WinOF_2-2-1_wlh_x86.msi`, install.ErrWrongPlatform, "this host runs Windows Server 2008 x64"},
		{`msiexec /i OFED_3-2_win7_x64.msi`, install.ErrPackage, "not a package"},
		{`msiexec /x WinOF_2-2-1_wlh_x64.msi /quiet`, install.ErrNotInstalled, ""},
		{`msiexec /x {00000000-0000-0000-0000-000000000000}`, install.ErrNotInstalled, ""},
		{`msiexec /a WinOF_2-2-1_wlh_x64.msi targetdir=C:\img`, install.ErrUnknownProperty, "did you mean TARGETDIR"},
		{`msiexec /a WinOF_2-2-1_wlh_x64.msi`, install.ErrBadCommandLine, "needs TARGETDIR"},
		{`msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=C:\Windows`, install.ErrTargetExists, "must not exist"},
		{`msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.ErrUntrusted, "Trusted Publishers"},
	} {
		res, err := msiexec(t, h, tc.line, install.Options{})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s:\n got %v\nwant %v containing %q", tc.line, err, tc.want, tc.text)
		}
		if res != nil && res.ExitCode != 0 {
			t.Errorf("%s: result exit code %d on failure", tc.line, res.ExitCode)
		}
		if d := before.Diff(snap(t, h)); len(d) > 0 {
			t.Fatalf("%s changed the host: %v", tc.line, d)
		}
	}
}

// Interactive installs ask about the non-WHQL drivers; "always trust"
// adds the certificate, which re-imaging drops again.
func TestDriverSigningTrust(t *testing.T) {
	h := newHost(t, host.HPCServer2008, host.X64)
	var asked []install.Question
	_, err := msiexec(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi`, install.Options{Prompt: func(q install.Question) install.Answer {
		asked = append(asked, q)
		return install.AnswerDontInstall
	}})
	if !errors.Is(err, install.ErrUntrusted) || len(asked) != 1 || asked[0].Publisher != install.Publisher {
		t.Fatalf("declined: %v, asked %+v", err, asked)
	}
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi`, install.Options{Prompt: func(install.Question) install.Answer { return install.AnswerAlwaysTrust }})
	if !h.Trusts(install.Publisher) {
		t.Fatal("always trust did not add the certificate")
	}
	mustRun(t, h, `msiexec /x `+res.ProductCode+` /qn`, install.Options{})
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	if err := h.Reimage(); err != nil {
		t.Fatal(err)
	}
	if _, err := msiexec(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{}); !errors.Is(err, install.ErrUntrusted) {
		t.Errorf("after reimage: %v", err)
	}
}

func TestOpenSMServiceStarted(t *testing.T) {
	for _, line := range []string{`msiexec /i WinOF_2-2-1_wlh_x64.msi /qn OSMS=1`, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn ADDLOCAL=IBcore,OpenSM_Service_Started`} {
		h := newHost(t, host.Server2008, host.X64)
		install.TrustPublisher(h)
		mustRun(t, h, line, install.Options{})
		svc, _ := h.Service("OpenSM")
		if svc.StartMode != host.StartAuto || svc.State != host.ServiceRunning {
			t.Errorf("%s: OpenSM = %+v", line, svc)
		}
		log, err := h.ReadFile(install.OpenSMLog)
		if err != nil || !strings.Contains(string(log), "OpenSM 3.3.3") || !strings.Contains(string(log), "no local HCA port is active") {
			t.Errorf("osm.log: %q %v", log, err)
		}
		if err := h.Reboot(); err != nil {
			t.Fatal(err)
		}
		if svc, _ := h.Service("OpenSM"); svc.State != host.ServiceRunning {
			t.Errorf("not running after reboot: %+v", svc)
		}
	}
}

func TestDatConfKeptWhenPresent(t *testing.T) {
	h := newHost(t, host.Server2003, host.X86)
	install.TrustPublisher(h)
	mine := []byte("mine u2.0 nonthreadsafe default C:\\x.dll ri.2.0 \"\" \"\"\r\n")
	h.WriteFile(`C:\DAT\dat.conf`, mine)
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wnet_x86.msi /qn`, install.Options{})
	if b, _ := h.ReadFile(`C:\DAT\dat.conf`); string(b) != string(mine) {
		t.Errorf("dat.conf overwritten: %q", b)
	}
	if !h.Exists(`C:\Program Files\WinOF\dat.conf`) {
		t.Error("no sample dat.conf")
	}
	mustRun(t, h, `msiexec /x `+res.ProductCode+` /qn`, install.Options{})
	if b, _ := h.ReadFile(`C:\DAT\dat.conf`); string(b) != string(mine) {
		t.Errorf("uninstall removed the user's dat.conf: %q", b)
	}
}

func TestAdministrativeInstall(t *testing.T) {
	h := newHost(t, host.HPCServer2008, host.X64)
	res := mustRun(t, h, `msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=%TEMP%\WinOF`, install.Options{})
	if res.ExitCode != 0 {
		t.Errorf("exit %d", res.ExitCode)
	}
	for _, f := range []string{`%TEMP%\WinOF\PFiles\WinOF\vstat.exe`, `%TEMP%\WinOF\PFiles\WinOF\HPC\cert-add.bat`,
		`%TEMP%\WinOF\PFiles\WinOF\Drivers\mthca\mthca.inf`, `%TEMP%\WinOF\PFiles\WinOF\Drivers\srp\ibsrp.sys`,
		`%TEMP%\WinOF\System64\dat2.dll`, `%TEMP%\WinOF\WinOF_2-2-1_wlh_x64.msi`} {
		if !h.Exists(f) {
			t.Errorf("%s missing", f)
		}
	}
	if len(h.Products()) != 0 || len(h.DriverPackages()) != 0 || h.InPath(`C:\Program Files\WinOF`) {
		t.Error("an administrative install installed something")
	}
	if _, err := msiexec(t, h, `msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=%TEMP%\WinOF`, install.Options{}); !errors.Is(err, install.ErrTargetExists) {
		t.Errorf("second extraction: %v", err)
	}
	// HPC provisioning: drivers from the image, WinOF with NODRV=1.
	staged, err := install.ProvisionDrivers(h, `%TEMP%\WinOF\PFiles\WinOF\Drivers`)
	if err != nil || !slices.Contains(staged, "mthca.inf") || !slices.Contains(staged, "netipoib.inf") {
		t.Fatalf("provision: %v %v", staged, err)
	}
	if len(deviceByService(h, "mthca")) != 1 {
		t.Error("provisioned HCA driver not bound")
	}
}

func TestNoDriversInstallAndUninstall(t *testing.T) {
	for _, keep := range []bool{true, false} {
		h := newHost(t, host.HPCServer2008, host.X64)
		res := mustRun(t, h, `start/wait msiexec /I WinOF_2-2-1_wlh_x64.msi /qn /quiet NODRV=1`, install.Options{})
		if len(h.DriverPackages()) != 0 || len(deviceByService(h, "mthca")) != 0 || hasProvider(h, host.ProviderWSD) {
			t.Fatalf("NODRV=1 installed drivers: %+v", h.DriverPackages())
		}
		if !h.Exists(`C:\Program Files\WinOF\Drivers\mthca\mthca.inf`) {
			t.Fatal("driver files missing from Program Files")
		}
		if slices.ContainsFunc(res.Steps, func(s string) bool { return strings.HasPrefix(s, "DriverInstall") }) {
			t.Errorf("steps %v", res.Steps)
		}
		if _, err := install.ProvisionDrivers(h, `C:\Program Files\WinOF\Drivers`); err != nil {
			t.Fatal(err)
		}
		line := `start/wait msiexec /X WinOF_2-2-1_wlh_x64.msi /qn /quiet`
		if keep {
			line += " NODRV=1"
		}
		mustRun(t, h, line, install.Options{})
		got := len(h.DriverPackages()) > 0 && len(deviceByService(h, "mthca")) == 1
		if got != keep {
			t.Errorf("NODRV=1 on uninstall %v: drivers left = %v (%+v)", keep, got, h.DriverPackages())
		}
	}
}

func TestLinuxHostRefused(t *testing.T) {
	h := newHost(t, host.Linux, host.X64)
	before := snap(t, h)
	if _, err := msiexec(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{}); !errors.Is(err, install.ErrNotWindows) {
		t.Errorf("install on Linux: %v", err)
	}
	if _, err := install.IBScan(h); !errors.Is(err, install.ErrNotWindows) {
		t.Errorf("ibscan on Linux: %v", err)
	}
	if d := before.Diff(snap(t, h)); len(d) > 0 {
		t.Errorf("changed: %v", d)
	}
}
