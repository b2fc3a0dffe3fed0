package hca_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// TestCaptureDecodesInTshark records what two HCAs exchange (DR and
// LID-routed SMPs with their answers, PortInfo Sets, PerfMgt, an
// unsupported-class answer, traps and their repress) and has tshark, with
// the CRC-checking post-dissector, judge every frame.
func TestCaptureDecodesInTshark(t *testing.T) {
	path := capturetest.Path(t, "hca.pcap")
	if p := os.Getenv("HCA_KEEP_PCAP"); p != "" {
		path = p
	}
	w, err := capture.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bt := newBench(t)
	bt.do(t, func() { bt.f.AddTap(w) })
	bt.trapAgent(t)
	bt.bringUp(t)
	for _, attr := range []wire.AttrID{wire.AttrNodeInfo, wire.AttrNodeDescription, wire.AttrGUIDInfo, wire.AttrPKeyTable,
		wire.AttrPortInfo, wire.AttrSLtoVLMappingTable, wire.AttrLedInfo} {
		bt.getDR(t, attr, 0)
	}
	bt.getDR(t, wire.AttrVLArbitrationTable, 1<<16)
	tid := bt.nextTID()
	bt.send(t, bt.smLID, hca.MADAddr{LID: 2}, lidSMP(wire.MethodGet, wire.AttrPortInfo, 1, tid, 0, nil))
	bt.expectResp(t, tid)
	bt.perf(t, wire.MethodGet, wire.AttrClassPortInfo, nil)
	bt.perf(t, wire.MethodGet, wire.AttrPortCounters, pcSelect(1, 0, 0))
	bt.perf(t, wire.MethodSet, wire.AttrPortCounters, pcSelect(1, 0xFFFF, 1))
	ext := make([]byte, wire.PortCountersExtendedBaseSize)
	wire.PortCountersExtended(ext).SetPortSelect(1)
	bt.perf(t, wire.MethodGet, wire.AttrPortCountersExtended, ext)
	tid = bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassSubnAdm], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassSubnAdm, 2, wire.MethodGet, wire.AttrClassPortInfo, 0, tid, 56, nil))
	bt.expectResp(t, tid)
	// A standby SM on b raises IsSM: trap 144 to a, repressed.
	bt.do(t, func() {
		mustAgent(t, bt.b, hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1,
			Methods: []wire.Method{wire.MethodTrap}, Handler: func(hca.ReceivedMAD) {}})
	})
	bt.expectTrap(t, wire.TrapLocalChanges)
	bt.getDR(t, wire.AttrNodeInfo, 0) // lets the repress arrive
	bt.do(t, func() { bt.f.RemoveTap(w) })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := capturetest.Check(t, path)
	t.Logf("%s", strings.TrimSpace(out))
	// tshark reads our NodeInfo answer as NodeInfo from b.
	fields, err := exec.Command("tshark", "-n", "-r", path, "-Y", "infiniband.mad.method == 0x81 && infiniband.mad.attributeid == 0x0011",
		"-T", "fields", "-e", "infiniband.nodeinfo.nodeguid", "-e", "infiniband.nodeinfo.localportnum").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(fields), "0x0002c90300002000\t0x01") {
		t.Errorf("tshark NodeInfo fields:\n%s", fields)
	}
}
