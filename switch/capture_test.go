package ibswitch_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
)

// TestCaptureDecodesInTshark records the switches' traffic of every kind
// (directed-route relays with their rewritten hop pointers and return
// paths, LID-routed lead-in and tail, SMA answers, PMA and vendor
// answers, remapped and replicated data, traps) and has tshark, with the
// CRC-checking post-dissector, judge every frame.
func TestCaptureDecodesInTshark(t *testing.T) {
	path := capturetest.Path(t, "switch.pcap")
	if p := os.Getenv("IBSWITCH_KEEP_PCAP"); p != "" {
		path = p
	}
	w, err := capture.Create(path)
	must(t, err)

	tf, a, b := line(t, 5)
	// tshark 4.0 knows no Mellanox vendor attribute and flags every class
	// 0x0A MAD "Unknown Attribute": vendstat's exchange happens before the
	// capture starts.
	tf.gmp(a, 13, wire.MgmtClassMellanox, wire.MethodGet, wire.AttrVendorGeneralInfo, 0, nil, 0)
	tf.do(func() { tf.f.AddTap(w) })
	s := tf.sw
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: []uint8{1, 2, 2, 2, 2}})
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: []uint8{1, 2, 1}})
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrPortInfo, directed: true, path: []uint8{2, 2}, drSLID: 1, dlid: 11, slid: 1})
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeDescription, directed: true, path: []uint8{1, 2}, drDLID: 14})
	si := wire.SwitchInfo(make([]byte, 64))
	f := s[2].SwitchInfo()
	f.LinearFDBTop = 500
	si.Encode(&f)
	tf.smp(a, smpReq{method: wire.MethodSet, attr: wire.AttrSwitchInfo, data: si, directed: true, path: []uint8{1, 2, 2}})
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrLinearForwardingTable, directed: true, path: []uint8{1, 2}})
	mft := make([]byte, 64)
	wire.MulticastForwardingTable(mft).SetPortMask(1, 0x0006)
	tf.smp(a, smpReq{method: wire.MethodSet, attr: wire.AttrMulticastForwardingTable, data: mft, dlid: 10, slid: 1})
	tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrRandomForwardingTable, dlid: 12, slid: 1})
	pc := make([]byte, wire.PMADataSize)
	wire.PortCounters(pc).SetPortSelect(0xFF)
	tf.gmp(a, 13, wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters, 0, pc, wire.PMADataOffset)
	tf.do(func() {
		s[1].SMA().Port(2).SetSLtoVL(1, 0, 3)
		a.port().Send(dataFrame(t, 1, 2, 0, 0xFFFF, 1, 300))
		a.port().Send(dataFrame(t, 1, 0xC001, 0, 0xFFFF, 2, 40))
	})
	tf.settle()
	tf.take(b)
	// Trap 128 from S5 to the SM at A, repressed.
	pi := make([]byte, 64)
	wire.PortInfo(pi).SetLID(14)
	wire.PortInfo(pi).SetMasterSMLID(1)
	tf.smp(a, smpReq{method: wire.MethodSet, attr: wire.AttrPortInfo, data: pi, directed: true, path: []uint8{1, 2, 2, 2, 2}})
	tf.do(func() { tf.f.Links()[len(tf.f.Links())-1].SetCut(true) })
	tf.settle()
	ts := traps(tf, a)
	if len(ts) != 1 {
		t.Fatalf("%d traps", len(ts))
	}
	tf.do(func() {
		smp := wire.SMP(make([]byte, wire.MADSize))
		fl := wire.SMPFields{Method: wire.MethodTrapRepress, TID: ts[0].MAD().TID(), AttrID: wire.AttrNotice}
		copy(fl.Data[:], ts[0].Data())
		smp.Encode(&fl)
		fr := appendSMPFrame(t, smp, 14, 1)
		a.port().Send(fr)
	})
	tf.settle()
	tf.do(func() { tf.f.RemoveTap(w) })
	must(t, w.Close())
	if w.Frames() < 60 {
		t.Fatalf("only %d frames captured", w.Frames())
	}
	out := capturetest.Check(t, path)
	if !strings.HasPrefix(out, "OK:") {
		t.Fatalf("ib-capture-check: %s", out)
	}
	// tshark sees the hop pointer advance hop by hop on the 5-hop request.
	hp, err := exec.Command("tshark", "-n", "-r", path, "-Y", "infiniband.smpdirected.hopcount == 5 && infiniband.mad.method == 0x01",
		"-T", "fields", "-e", "infiniband.smpdirected.hoppointer").Output()
	must(t, err)
	if got := strings.Fields(string(hp)); strings.Join(got, ",") != "0x01,0x02,0x03,0x04,0x05" {
		t.Errorf("outbound hop pointers seen by tshark: %v", got)
	}
}

func appendSMPFrame(t *testing.T, smp wire.SMP, dlid, slid wire.LID) []byte {
	t.Helper()
	f, err := wire.EncodePacket(&wire.PacketFields{
		LRH:     wire.LRHFields{VL: 15, DLID: dlid, SLID: slid},
		BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF, DestQP: 0},
		DETH:    &wire.DETHFields{SrcQP: 0},
		Payload: smp,
	})
	must(t, err)
	return f
}
