package install_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/install"
)

var errInjected = errors.New("injected failure")

// An install that fails at any step, or whose process dies at any step,
// leaves the host byte for byte as it was.
func TestRollbackAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		os   host.OS
		arch host.Arch
		line string
	}{
		{"install", host.Server2008, host.X64, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn OSMS=1 SRP=1 VNIC=1 ADDLOCAL=ALL`},
		{"install-nodrv", host.Server2003, host.X86, `msiexec /i WinOF_2-2-1_wnet_x86.msi /qn NODRV=1`},
		{"admin", host.HPCServer2008, host.X64, `msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=C:\img\WinOF`},
		{"uninstall", host.Server2008, host.X64, `msiexec /x WinOF_2-2-1_wlh_x64.msi /qn`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setup := func(t *testing.T) *host.Host {
				h := newHost(t, tc.os, tc.arch)
				install.TrustPublisher(h)
				if tc.name == "uninstall" {
					mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn OSMS=1 SRP=1`, install.Options{})
				}
				return h
			}
			h := setup(t)
			args, _ := install.SplitCommandLine(tc.line)
			req, err := install.ParseCommandLine(args)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := install.Plan(h, req)
			if err != nil || len(plan) < 4 {
				t.Fatalf("plan %v, %v", plan, err)
			}
			for n := 1; n <= len(plan); n++ {
				if testing.Short() && n != 1 && n != len(plan)/2 && n != len(plan) {
					continue
				}
				for _, kill := range []bool{false, true} {
					t.Run(fmt.Sprintf("%d-%s-kill=%v", n, plan[n-1], kill), func(t *testing.T) {
						t.Parallel()
						h := setup(t)
						before, state := snap(t, h), h.State()
						_, err := install.Run(h, req, install.Options{Fault: func(step int, name string) error {
							if step != n {
								return nil
							}
							if kill {
								return install.ErrKilled
							}
							return errInjected
						}})
						var se *install.StepError
						if !errors.As(err, &se) || se.N != n || se.Name != plan[n-1] {
							t.Fatalf("err = %v, want a failure at step %d %s", err, n, plan[n-1])
						}
						if kill {
							if !errors.Is(err, install.ErrKilled) {
								t.Fatalf("err = %v", err)
							}
							again, err := host.Open(h.Root())
							if err != nil {
								t.Fatalf("reopen after kill: %v", err)
							}
							t.Cleanup(func() { again.Close() })
							h = again
						} else if !errors.Is(err, errInjected) || install.ExitCode(err) != 1603 {
							t.Fatalf("err = %v (exit %d)", err, install.ExitCode(err))
						}
						if d := before.Diff(snap(t, h)); len(d) > 0 {
							t.Fatalf("host differs after the failure: %v", d)
						}
						if got := h.State(); !slices.EqualFunc(got.Products, state.Products, func(a, b host.Product) bool { return a.Code == b.Code }) ||
							len(got.Devices) != len(state.Devices) || len(got.Services) != len(state.Services) {
							t.Fatalf("state differs")
						}
					})
				}
			}
		})
	}
}

func TestUninstallByProductCodeWithRestart(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	install.TrustPublisher(h)
	pristine := snap(t, h)
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn OSMS=1`, install.Options{})
	boots := h.Boots()
	un := mustRun(t, h, `start/wait msiexec.exe /x `+res.ProductCode+` /quiet /forcerestart`, install.Options{})
	if !un.Rebooted || un.ExitCode != 1641 || h.Boots() != boots+1 {
		t.Errorf("restart: %+v, boots %d -> %d", un.ExitCode, boots, h.Boots())
	}
	if files, err := install.IBScan(h); err != nil || len(files) != 0 {
		t.Errorf("WinOF files left: %v %v", files, err)
	}
	if len(h.DriverPackages()) != 0 || len(h.Providers()) != 0 || h.InPath(`C:\Program Files\WinOF`) {
		t.Error("drivers, providers or PATH left")
	}
	if _, err := h.Service("OpenSM"); !errors.Is(err, host.ErrNotFound) {
		t.Errorf("OpenSM service left: %v", err)
	}
	for _, d := range h.Devices() {
		if d.Driver != "" || d.Parent != "" {
			t.Errorf("device left bound: %+v", d)
		}
	}
	// Everything but the host's own bookkeeping (event log, boot count,
	// the certificate, setupapi's log) is as before the install.
	var diff []string
	for _, d := range pristine.Diff(snap(t, h)) {
		if !strings.HasSuffix(d, "host.json") && !strings.HasSuffix(d, "setupapi.dev.log") {
			diff = append(diff, d)
		}
	}
	if len(diff) > 0 {
		t.Errorf("disk differs from before the install: %v", diff)
	}
}

// An online SRP target disk keeps driver files in use: they linger after
// the uninstall until the disk is released; ibcleanup removes them then.
func TestSRPDiskLeavesLingeringFiles(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	install.TrustPublisher(h)
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn SRP=1`, install.Options{})
	if err := install.AttachSRPDisk(h, "L"); err != nil {
		t.Fatal(err)
	}
	un := mustRun(t, h, `msiexec /x `+res.ProductCode+` /qn /forcerestart`, install.Options{})
	srp := `C:\Windows\System32\drivers\ibsrp.sys`
	if !slices.Contains(un.Lingering, srp) || !h.Exists(srp) {
		t.Fatalf("lingering = %v", un.Lingering)
	}
	files, _ := install.IBScan(h)
	if !slices.Contains(files, srp) {
		t.Errorf("ibscan misses %s: %v", srp, files)
	}
	if _, kept, err := install.IBCleanup(h); !errors.Is(err, host.ErrInUse) || !slices.Contains(kept, srp) {
		t.Errorf("ibcleanup with the disk online: kept %v, %v", kept, err)
	}
	if err := h.OfflineDisk("L"); err != nil {
		t.Fatal(err)
	}
	if _, kept, err := install.IBCleanup(h); err != nil || len(kept) > 0 {
		t.Fatalf("ibcleanup: %v %v", kept, err)
	}
	if files, _ := install.IBScan(h); len(files) != 0 {
		t.Errorf("left after ibcleanup: %v", files)
	}
	// Released first, the uninstall is clean.
	h2 := newHost(t, host.Server2008, host.X64)
	install.TrustPublisher(h2)
	res = mustRun(t, h2, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn SRP=1`, install.Options{})
	install.AttachSRPDisk(h2, "L")
	h2.OfflineDisk("L")
	if un := mustRun(t, h2, `msiexec /x `+res.ProductCode+` /qn`, install.Options{}); len(un.Lingering) != 0 {
		t.Errorf("lingering after release: %v", un.Lingering)
	}
}

// A silently failed uninstall of the 1.1 stack leaves the InfiniBand
// Fabric device; the next install fails in the driver phase until it is
// removed.
func TestInfiniBandFabricLeftover(t *testing.T) {
	h := newHost(t, host.Server2003, host.X86, adapter(t, hca.ProfileInfiniHostIIIEx, guidIH))
	install.TrustPublisher(h)
	old := mustRun(t, h, `msiexec /i WinOF_1-1_wnet_x86.msi /qn`, install.Options{})
	if len(h.FindDevices("InfiniBand Fabric")) != 1 {
		t.Fatal("WinOF 1.1 has no InfiniBand Fabric device")
	}
	mustRun(t, h, `msiexec /x `+old.ProductCode+` /qn /forcerestart`, install.Options{LeaveFabricDevice: true})
	fabric := h.FindDevices("InfiniBand Fabric")
	if len(fabric) != 1 || len(h.Products()) != 0 {
		t.Fatalf("after the silent failure: fabric %+v, products %+v", fabric, h.Products())
	}
	before := snap(t, h)
	_, err := msiexec(t, h, `msiexec /i WinOF_2-2-1_wnet_x86.msi /qn`, install.Options{})
	if !errors.Is(err, install.ErrDriverInstall) || !strings.Contains(err.Error(), "DriverInstall - HCA Ret 2 Error 0") {
		t.Fatalf("install: %v", err)
	}
	if d := before.Diff(snap(t, h)); len(d) > 0 {
		t.Errorf("failed install changed the host: %v", d)
	}
	if err := h.RemoveDevice(fabric[0].InstanceID); err != nil {
		t.Fatal(err)
	}
	h.Reboot()
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wnet_x86.msi /qn`, install.Options{})
	if d := deviceByService(h, "mthca"); len(d) != 1 || d[0].DriverVersion != "2.2.1.2778" {
		t.Errorf("mthca = %+v", d)
	}
}

// A driver store folder left by a failed attempt is used instead of the
// new files; ibcleanup removes it and a reinstall gets the new driver.
func TestLeftoverDriverStoreFolder(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, guidIH))
	install.TrustPublisher(h)
	old := `%SystemRoot%\System32\DriverStore\FileRepository\mthca.inf_amd64_neutral_00aa00aa00aa00aa`
	h.WriteFile(old+`\mthca.inf`, []byte("[Version]\r\nProvider=\"OpenFabrics Alliance\"\r\nDriverVer=11/14/2008,2.0.0.1763\r\n"))
	for _, f := range []string{"mthca.sys", "ibbus.sys", "winverbs.sys", "winmad.sys", "mthcau.dll", "ibal.dll", "complib.dll", "winverbs.dll", "winmad.dll"} {
		h.WriteFile(old+`\`+f, []byte(f+" from WinOF 2.0"))
	}
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	if d := deviceByService(h, "mthca"); len(d) != 1 || d[0].DriverVersion != "2.0.0.1763" {
		t.Fatalf("mthca = %+v", d)
	}
	if b, _ := h.ReadFile(`%SystemRoot%\System32\drivers\mthca.sys`); string(b) != "mthca.sys from WinOF 2.0" {
		t.Errorf("mthca.sys = %q", b)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "leftover driver store folder") }) {
		t.Errorf("warnings = %v", res.Warnings)
	}
	info, err := install.InstalledRelease(h)
	if err != nil || !slices.ContainsFunc(info.Drivers, func(d install.DriverVersion) bool { return d.INF == "mthca.inf" && d.Version == "2.0.0.1763" }) {
		t.Errorf("release info %+v %v", info, err)
	}
	mustRun(t, h, `msiexec /x `+res.ProductCode+` /qn /forcerestart`, install.Options{})
	if _, _, err := install.IBCleanup(h); err != nil {
		t.Fatal(err)
	}
	if l, _ := h.LeftoverStoreFolders(); len(l) != 0 {
		t.Fatalf("leftovers after ibcleanup: %v", l)
	}
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	if d := deviceByService(h, "mthca"); len(d) != 1 || d[0].DriverVersion != "2.2.1.2778" {
		t.Errorf("after cleanup, mthca = %+v", d)
	}
}
