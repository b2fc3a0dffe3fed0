package install_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/install"
)

func TestVstatDetached(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, guidIH))
	if _, err := install.Vstat(h, install.VstatOptions{}); !errors.Is(err, install.ErrNoTool) {
		t.Errorf("vstat before install: %v", err)
	}
	install.TrustPublisher(h)
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	got, err := install.Vstat(h, install.VstatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	port := func(n int, guid string) string {
		return "\t\tport=" + string(rune('0'+n)) + "\n\t\tport_guid=" + guid + "\n\t\tport_state=PORT_DOWN (1)\n" +
			"\t\tlink_speed=NA\n\t\tlink_width=NA \n\t\trate=NA\n\t\tport_phys_state=POLLING (2)\n\t\tactive_speed=0.00 Gbps\n" +
			"\t\tsm_lid=0x0000\n\t\tport_lid=0x0000\n\t\tport_lmc=0x0\n\t\tmax_mtu=2048 (4)\n\n"
	}
	want := "\n\thca_idx=0\n\tvendor_id=0x02c9\n\tvendor_part_id=25218\n\thw_ver=0xa0\n\tfw_ver=5.03.0000\n\tPSID=MT_0370110002\n" +
		"\tnode_guid=0002:c902:0000:1000\n\tnum_phys_ports=2\n" + port(1, "0002:c902:0000:1001") + port(2, "0002:c902:0000:1002")
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("vstat (-want +got):\n%s", d)
	}
}

// vstat reads the live port state of an HCA on a running fabric.
func TestVstatOnFabricAndOpenSMSweep(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	fh := f.FirstHCA()
	h := newHost(t, host.Server2008, host.X64, host.FabricAdapter(fh))
	install.TrustPublisher(h)
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn OSMS=1`, install.Options{})
	out, err := install.Vstat(h, install.VstatOptions{Counters: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\tvendor_part_id=26428\n", "\tfw_ver=2.07.0000\n", "\t\tport_state=PORT_ACTIVE (4)\n", "\t\tlink_speed=10.00 Gbps \n",
		"\t\tsm_lid=0x0001\n\t\tport_lid=0x0001\n",
		"\t\tlink_width=4x (2) \n\t\trate=40.00 Gbps\n\t\treal_rate=32.00 Gbps (QDR)\n", "\t\tport_phys_state=LINK_UP (5)\n",
		"\t\tmax_mtu=4096 (5)\n", "\tport counters for port 1\n", "\t\tport_xmit_pkts\t\t\t0x",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("vstat lacks %q:\n%s", want, out)
		}
	}
	log, _ := h.ReadFile(install.OpenSMLog)
	want := len(f.Topology.Nodes)
	if !strings.Contains(string(log), "SUBNET UP: "+strconv.Itoa(want)+" nodes") {
		t.Errorf("osm.log does not count %d nodes:\n%s", want, log)
	}
	if install.RunningSM(h) == nil {
		t.Fatal("no SM runs for the service")
	}
	// The SM process dies: the service stops, the ports keep their LIDs.
	if err := h.KillService("OpenSM"); err != nil {
		t.Fatal(err)
	}
	if install.RunningSM(h) != nil {
		t.Error("SM still runs after the kill")
	}
	if ev := h.EventsFrom("Service Control Manager"); ev[len(ev)-1].ID != 7034 {
		t.Errorf("last SCM event %+v", ev[len(ev)-1])
	}
	if err := h.StartService("OpenSM"); err != nil {
		t.Fatal(err)
	}
	if m := install.RunningSM(h); m == nil || m.Sweeps() == 0 {
		t.Fatal("restarted SM did not sweep")
	}
	if err := f.LinkDown(fh.Topo.ID, 1); err != nil {
		t.Fatal(err)
	}
	out, _ = install.Vstat(h, install.VstatOptions{})
	if !strings.Contains(out, "port_state=PORT_DOWN (1)\n\t\tlink_speed=NA\n") {
		t.Errorf("after link down:\n%s", out)
	}
}

// Firmware below the driver's minimum binds the HCA as a memory
// controller; burning newer firmware and restarting the device brings it
// up, with vstat showing the new version.
func TestFirmwareUpdateFlow(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64, adapter(t, hca.ProfileInfiniHostIIIEx, guidIH))
	if err := h.BurnFirmware(1, host.FirmwareImage{Version: host.FW(4, 8, 0)}, false); err != nil {
		t.Fatal(err)
	}
	install.TrustPublisher(h)
	res := mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "older than the minimal supported version 5.1.0") {
		t.Errorf("warnings = %v", res.Warnings)
	}
	pci := h.Devices()[0]
	if !pci.FirmwareUpdateMode || pci.Class != host.ClassMemory {
		t.Fatalf("device = %+v", pci)
	}
	if out, _ := install.Vstat(h, install.VstatOptions{}); out != "" {
		t.Errorf("vstat lists an HCA in firmware-update mode:\n%s", out)
	}
	if got := install.MSTDevices(h); len(got) != 1 || got[0] != "mt25218_pci_cr0" {
		t.Fatalf("mst devices %v", got)
	}
	q, err := install.FlintQuery(h, "mt25218_pci_cr0")
	if err != nil || !strings.Contains(q, "FW Version:      4.8.0\n") || !strings.Contains(q, "PSID:            MT_0370110002\n") {
		t.Errorf("query:\n%s %v", q, err)
	}
	img := install.FirmwareImageFile(0x6282, host.FirmwareImage{Version: host.FW(5, 2, 0), PSID: "MT_0370110002"})
	if _, err := install.FlintBurn(h, "mt25218_pci_cr0", install.FirmwareImageFile(0x673C, host.FirmwareImage{Version: host.FW(2, 7, 0), PSID: "MT_0370110002"}), false); !errors.Is(err, install.ErrFlint) {
		t.Errorf("wrong device image: %v", err)
	}
	if _, err := install.FlintBurn(h, "mt25218_pci_cr0", install.FirmwareImageFile(0x6282, host.FirmwareImage{Version: host.FW(5, 3, 0), PSID: "MT_OTHER"}), false); !errors.Is(err, install.ErrFlint) {
		t.Errorf("PSID mismatch: %v", err)
	}
	if _, err := install.FlintBurn(h, "mt99999_pci_cr0", img, false); !errors.Is(err, install.ErrFlint) {
		t.Errorf("bad device: %v", err)
	}
	if _, err := install.FlintBurn(h, "mt25218_pci_cr0", img, false); err != nil {
		t.Fatal(err)
	}
	if err := h.RestartDevice(pci.InstanceID); err != nil {
		t.Fatal(err)
	}
	out, err := install.Vstat(h, install.VstatOptions{})
	if err != nil || !strings.Contains(out, "\tfw_ver=5.02.0000\n") {
		t.Errorf("vstat after burn:\n%s %v", out, err)
	}
	ev := h.EventsFrom("mthca")
	if last := ev[len(ev)-1]; last.Level != host.LevelWarning || last.ID != host.EventFirmwareOutdated {
		t.Errorf("last mthca event %+v", last)
	}
	// The optimal version starts cleanly after a reboot.
	install.FlintBurn(h, "mt25218_pci_cr0", install.FirmwareImageFile(0x6282, host.FirmwareImage{Version: host.FW(5, 3, 0), PSID: "MT_0370110002"}), false)
	if out, _ := install.Vstat(h, install.VstatOptions{}); !strings.Contains(out, "fw_ver=5.02.0000") {
		t.Error("vstat shows the flash, not the running firmware")
	}
	h.Reboot()
	ev = h.EventsFrom("mthca")
	if last := ev[len(ev)-1]; last.Level != host.LevelInformation {
		t.Errorf("after reboot %+v", last)
	}
}

func TestInstalledRelease(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	if _, err := install.InstalledRelease(h); !errors.Is(err, install.ErrNotInstalled) {
		t.Errorf("nothing installed: %v", err)
	}
	install.TrustPublisher(h)
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn ADDLOCAL=ALL`, install.Options{})
	info, err := install.InstalledRelease(h)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != "2.2.1" || info.FileVersion != "2.2.1.2778" || !strings.Contains(info.About, "WinOF version 2.2.1") {
		t.Errorf("info = %+v", info)
	}
	services := map[string]bool{}
	for _, d := range info.Drivers {
		services[d.Service] = true
		if d.Version != "2.2.1.2778" {
			t.Errorf("driver %+v", d)
		}
	}
	for _, s := range []string{"mthca", "mlx4_bus", "mlx4_hca", "ipoib"} {
		if !services[s] {
			t.Errorf("no %s in %+v", s, info.Drivers)
		}
	}
	if v, err := install.FileVersion(h, `C:\Program Files\WinOF\Checked\user\ibal.dll`); err != nil || v != "2.2.1.2778 (DEBUG)" {
		t.Errorf("checked build version %q %v", v, err)
	}
}
