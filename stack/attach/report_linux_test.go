//go:build linux

package attach

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// TestInteropInformInfoReports: an emulated host subscribes with real
// OpenSM's SA to traps 64 and 65 (GID in and out of service: SubnAdmSet
// InformInfo from its own QP1), and OpenSM forwards the events to it as
// SA Reports. When Hca4's cable is pulled (console Unlink), OpenSM's
// sweep finds its port gone and reports trap 65 with Hca4's port GID;
// the host answers each Report with ReportResp (else OpenSM would send
// it again). ReLink brings trap 64 for the same GID. After the host
// unsubscribes, the next Unlink reports nothing to it.
func TestInteropInformInfoReports(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	_, logf := h.startOpenSM([]string{"SIM_HOST=Hca1"})
	h.waitAllActive(10 * time.Second)

	fab := h.srv.Fabric()
	dev := h.srv.byID["Hca3"].hca
	var sm wire.LID
	var gone wire.GID
	if err := fab.Do(func() {
		sm = dev.SMA().Port(1).MasterSMLID
		gone, _ = h.srv.byID["Hca4"].hca.GID(1, 0)
	}); err != nil {
		t.Fatal(err)
	}
	agent, err := mad.NewAgent(mad.NewInProcess(fab, dev, 1),
		mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion, Methods: []wire.Method{wire.MethodReport}},
		mad.Options{Timeout: time.Second, Retries: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })
	type report struct {
		trap uint16
		gid  wire.GID
		tid  uint64
	}
	reports := make(chan report, 64)
	agent.Serve(func(r *mad.Received) {
		sa, err := wire.ParseSAMAD(r.MAD)
		if err != nil || wire.MAD(r.MAD).AttrID() != wire.AttrNotice {
			t.Errorf("unsolicited SA MAD: %v %x", err, r.MAD[:24])
			return
		}
		n := wire.Notice(sa.Data())
		reports <- report{trap: n.TrapNumber(), gid: wire.GID(n.DataDetails()[6:22]), tid: wire.MAD(r.MAD).TID()}
		if err := r.RespondStatus(0); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	subscribe := func(trap uint16, on bool) {
		t.Helper()
		req := make([]byte, wire.MADSize)
		wire.SAMAD(req).Encode(&wire.SAMADFields{
			MAD: wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
				Method: wire.MethodSet, AttrID: wire.AttrInformInfo},
		})
		wire.InformInfo(wire.SAMAD(req).Data()).Encode(&wire.InformInfoFields{LIDRangeBegin: wire.InformInfoAllLIDs, IsGeneric: true,
			Subscribe: on, Type: wire.InformInfoAnyType, TrapNumber: trap, QPN: 1, ProducerType: wire.InformInfoAnyProducer})
		resp, err := agent.Call(ctx, mad.Addr{LID: sm, QPN: 1}, req)
		if err != nil {
			t.Fatalf("InformInfo trap %d subscribe %v: %v", trap, on, err)
		}
		sa, err := wire.ParseSAMAD(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := wire.InformInfo(sa.Data()); got.TrapNumber() != trap {
			t.Fatalf("InformInfo answer: trap %d", got.TrapNumber())
		}
	}
	subscribe(64, true)
	subscribe(65, true)
	// Only the subscription's own events: drain anything the bring-up
	// may still have queued.
	drain := func() {
		for {
			select {
			case <-reports:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	drain()
	await := func(trap uint16) report {
		t.Helper()
		for {
			select {
			case r := <-reports:
				if r.trap == trap && r.gid == gone {
					return r
				}
				t.Logf("report of trap %d for %s (waiting for %d for %s)", r.trap, r.gid, trap, gone)
			case <-time.After(20 * time.Second):
				b, _ := os.ReadFile(logf)
				t.Fatalf("no Report of trap %d for %s; OpenSM log:\n%s", trap, gone, tail(string(b), 30))
			}
		}
	}
	var out bytes.Buffer
	if err := h.srv.Exec(`Unlink "Hca4"[1]`, &out); err != nil {
		t.Fatal(err)
	}
	r65 := await(65)
	if err := h.srv.Exec(`ReLink "Hca4"[1]`, &out); err != nil {
		t.Fatal(err)
	}
	r64 := await(64)
	if r64.tid == r65.tid {
		t.Errorf("two Reports with one transaction ID %#x", r64.tid)
	}
	h.waitAllActive(20 * time.Second)
	// A Report that was answered is not sent again: no second trap 64
	// for the same event within OpenSM's retry time.
	select {
	case r := <-reports:
		if r.tid == r64.tid {
			t.Errorf("OpenSM sent the answered Report %#x again", r.tid)
		}
	case <-time.After(time.Second):
	}

	subscribe(64, false)
	subscribe(65, false)
	drain()
	b, _ := os.ReadFile(logf)
	ups := strings.Count(string(b), "SUBNET UP")
	if err := h.srv.Exec(`Unlink "Hca4"[1]`, &out); err != nil {
		t.Fatal(err)
	}
	h.waitLog(logf, "SUBNET UP", ups+1, 20*time.Second)
	select {
	case r := <-reports:
		t.Errorf("Report of trap %d after unsubscribing", r.trap)
	case <-time.After(500 * time.Millisecond):
	}
}
