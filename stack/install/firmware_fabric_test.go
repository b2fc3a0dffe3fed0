package install_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/install"
	"github.com/ibemu/ibemu/stack/mad"
)

// vendstat reads the Mellanox GeneralInfo of the HCA at lid over the
// fabric, as `vendstat -N LID` does.
func vendstat(t *testing.T, tr mad.Transport, lid wire.LID) wire.MellanoxGeneralInfoFields {
	t.Helper()
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassMellanox, ClassVersion: wire.MellanoxClassVersion}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassMellanox,
		ClassVersion: wire.MellanoxClassVersion, Method: wire.MethodGet, AttrID: wire.AttrVendorGeneralInfo})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := a.Call(ctx, mad.Addr{LID: lid, QPN: 1, QKey: mad.GSIQKey, PKey: 0xFFFF}, req)
	if err != nil {
		t.Fatalf("vendstat: %v", err)
	}
	gi, err := wire.ParseMellanoxGeneralInfo(wire.VendorMAD(resp).Data())
	if err != nil {
		t.Fatal(err)
	}
	return gi.Fields()
}

// A firmware burn with flint reaches the emulated HCA when its driver
// restarts the device: GeneralInfo over the fabric reports the new image.
func TestFlintBurnReachesTheFabricHCA(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	fh := f.FirstHCA()
	h := newHost(t, host.Server2008, host.X64, host.FabricAdapter(fh))
	install.TrustPublisher(h)
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	tr, err := f.MADTransport(f.HCAs[1].Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lid := f.LID(fh.Topo.ID, 1)
	before := vendstat(t, tr, lid)
	if before.FWMajor != 2 || before.FWMinor != 7 {
		t.Fatalf("factory firmware %d.%d.%d, want 2.7.x", before.FWMajor, before.FWMinor, before.FWSubMinor)
	}
	dev := install.MSTDevices(h)[0]
	img := install.FirmwareImageFile(fh.Device.Profile().DeviceID, host.FirmwareImage{Version: host.FW(2, 8, 200), PSID: before.PSID})
	if _, err := install.FlintBurn(h, dev, img, false); err != nil {
		t.Fatal(err)
	}
	if got := vendstat(t, tr, lid); got.FWMinor != 7 {
		t.Fatalf("the running firmware changed before a restart: %d.%d.%d", got.FWMajor, got.FWMinor, got.FWSubMinor)
	}
	if err := h.RestartDevice(h.Devices()[0].InstanceID); err != nil {
		t.Fatal(err)
	}
	if got := vendstat(t, tr, lid); got.FWMajor != 2 || got.FWMinor != 8 || got.FWSubMinor != 200 || got.PSID != before.PSID {
		t.Fatalf("after burn and restart GeneralInfo says %d.%d.%d psid %q, want 2.8.200 %q",
			got.FWMajor, got.FWMinor, got.FWSubMinor, got.PSID, before.PSID)
	}
}

// vstatCounter returns the value vstat -c prints for name on its first port.
func vstatCounter(t *testing.T, h *host.Host, name string) uint64 {
	t.Helper()
	out, err := install.Vstat(h, install.VstatOptions{Counters: true})
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(out, "\t\t"+name+"\t")
	if i < 0 {
		t.Fatalf("vstat -c lacks %s:\n%s", name, out)
	}
	var v uint64
	if _, err := fmt.Sscanf(strings.TrimLeft(out[i+len(name)+2:], "\t "), "0x%x", &v); err != nil {
		t.Fatalf("vstat -c %s: %v", name, err)
	}
	return v
}

// vstat -c reads the counters with a local PerfMgt Get, so a remote
// `perfquery -R` (a PortCounters Set) shows in it at once.
func TestVstatCountersFollowPerfqueryReset(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	fh := f.FirstHCA()
	h := newHost(t, host.Server2008, host.X64, host.FabricAdapter(fh))
	install.TrustPublisher(h)
	mustRun(t, h, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn`, install.Options{})
	tr, err := f.MADTransport(f.HCAs[1].Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := vstatCounter(t, h, "port_rcv_pkts")
	if before == 0 {
		t.Fatal("no packets counted after bring-up")
	}
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1,
		Method: wire.MethodSet, AttrID: wire.AttrPortCounters})
	wire.PortCounters(wire.PerfMAD(req).Data()).Encode(&wire.PortCountersFields{PortSelect: 1, CounterSelect: 0xFFFF})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Call(ctx, mad.Addr{LID: f.LID(fh.Topo.ID, 1), QPN: 1, QKey: mad.GSIQKey, PKey: 0xFFFF}, req); err != nil {
		t.Fatalf("perfquery -R: %v", err)
	}
	if after := vstatCounter(t, h, "port_rcv_pkts"); after >= before || after > 2 {
		t.Fatalf("port_rcv_pkts %d before the reset, %d after", before, after)
	}
}
