//go:build linux

package attach

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// The perfquery interop tests run Debian's perfquery, unmodified, with
// every optional attribute option against an HCA port and a switch port
// of a running server, after traffic, and with -r and -R.

// pq runs `perfquery args...` from Hca1 and returns its fields; it fails
// the test when perfquery fails.
func (h *interop) pq(args ...string) map[string]string {
	h.t.Helper()
	return fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", args...))
}

// pqUint returns field name of out as a number, failing the test when
// it is missing.
func (h *interop) pqUint(out map[string]string, name string) uint64 {
	h.t.Helper()
	v, err := strconv.ParseUint(out[name], 10, 64)
	if err != nil {
		h.t.Fatalf("perfquery printed no %s: %v", name, out)
	}
	return v
}

// perfTarget is one port perfquery reads: the LID and port number to
// give it, and the emu port behind them.
type perfTarget struct {
	name string
	lid  string
	port string
	p    *emu.Port
}

// TestInteropPerfqueryOptional: perfquery's --oprcvcounters,
// --vloppackets, --vlopdata, --rcvcc, --slrcvfecn and --slrcvbecn show
// the traffic that reached an HCA port and a switch port (SMPs on VL15,
// GMPs on VL0, frames with FECN/BECN), -r reads and resets, -R resets;
// --flowctlcounters, --vlxmitflowctlerrors, --vlxmitcounters, --xmitcc
// and --vlxmittimecc answer (zeros: nothing emulated counts them) and show
// what PerformanceSet stores; --swportvlcong answers on the switch only;
// -T is refused on these QDR ports.
func TestInteropPerfqueryOptional(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.opensmOnce(30*time.Second, nil)
	hca2 := h.lidOf("Hca2")
	var targets []perfTarget
	var hca1Port *emu.Port
	_ = h.srv.Fabric().Do(func() {
		hca1Port = h.srv.byID["Hca1"].en.Port(1)
		sw := hca1Port.Peer()
		swLID := h.srv.byID[sw.Node().Name()].sma.Port(0).LID
		targets = []perfTarget{
			{"Hca2 port 1", strconv.Itoa(int(hca2)), "1", h.srv.byID["Hca2"].en.Port(1)},
			{sw.Node().Name() + " port " + strconv.Itoa(sw.Num()), strconv.Itoa(int(swLID)), strconv.Itoa(sw.Num()), sw},
		}
	})
	// Count UD SEND Only (the OpCode of every MAD) instead of the
	// default SEND First, which no tool sends: what a PMA Set of these
	// attributes with OpCode 0x64 selects.
	const udSendOnly = uint8(wire.OpUDSendOnly)
	_ = h.srv.Fabric().Do(func() {
		for _, tg := range targets {
			d := tg.p.Counters.Details()
			d.Optional().OpRcvOpCode, d.Optional().VLOpPacketsOpCode, d.Optional().VLOpDataOpCode = udSendOnly, udSendOnly, udSendOnly
		}
	})
	// Traffic: five LID-routed SMPs (VL15) to each target, and frames
	// with FECN (3) and BECN (2) on SL 0 from Hca1 to Hca2, which cross
	// the switch port on the way.
	for _, tg := range targets {
		for range 5 {
			h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "nodeinfo", tg.lid)
		}
	}
	var slid wire.LID
	_ = h.srv.Fabric().Do(func() { slid = h.srv.byID["Hca1"].sma.Port(1).LID })
	ecn := func(fecn, becn bool) []byte {
		fr, err := wire.AppendData(nil, &wire.DataFields{DLID: hca2, SLID: slid, OpCode: wire.OpUDSendOnly, FECN: fecn, BECN: becn,
			PKey: 0xFFFF, DestQP: 0xABCDE, DETH: wire.DETHFields{QKey: 1, SrcQP: 5}, Payload: make([]byte, 16)})
		if err != nil {
			t.Fatal(err)
		}
		return fr
	}
	_ = h.srv.Fabric().Do(func() {
		for _, fr := range [][]byte{ecn(true, false), ecn(true, false), ecn(true, true), ecn(false, true)} {
			hca1Port.Send(fr)
		}
	})

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			h := *h
			h.t = t
			op := h.pq("--oprcvcounters", tg.lid, tg.port)
			t.Logf("PortOpRcvCounters after traffic: %v", op)
			// At least the five SMPs and perfquery's ClassPortInfo and
			// PortOpRcvCounters requests; the 4 ECN frames are UD SEND Only
			// too.
			if n := h.pqUint(op, "PortOpRcvPkts"); n < 7 {
				t.Errorf("PortOpRcvPkts %d after 5 SMPs and 2 GMPs", n)
			}
			if d := h.pqUint(op, "PortOpRcvData"); d < 7*64 {
				t.Errorf("PortOpRcvData %d words for at least 7 MADs of 256 bytes", d)
			}
			vp := h.pq("--vloppackets", tg.lid, tg.port)
			if n := h.pqUint(vp, "PortVLOpPackets15"); n < 5 {
				t.Errorf("PortVLOpPackets15 %d after 5 SMPs", n)
			}
			if n := h.pqUint(vp, "PortVLOpPackets0"); n < 2 {
				t.Errorf("PortVLOpPackets0 %d after perfquery's GMPs", n)
			}
			if n := h.pqUint(vp, "PortVLOpPackets7"); n != 0 {
				t.Errorf("PortVLOpPackets7 %d, nothing was sent on VL7", n)
			}
			vd := h.pq("--vlopdata", tg.lid, tg.port)
			if d := h.pqUint(vd, "PortVLOpData15"); d < 5*64 {
				t.Errorf("PortVLOpData15 %d words after 5 SMPs", d)
			}
			cc := h.pq("--rcvcc", tg.lid, tg.port)
			t.Logf("PortRcvConCtrl after traffic: %v", cc)
			if f, b := h.pqUint(cc, "PortPktRcvFECN"), h.pqUint(cc, "PortPktRcvBECN"); f != 3 || b != 2 {
				t.Errorf("PortRcvConCtrl FECN %d BECN %d, want 3 2", f, b)
			}
			if f := h.pqUint(h.pq("--slrcvfecn", tg.lid, tg.port), "PortSLRcvFECN0"); f != 3 {
				t.Errorf("PortSLRcvFECN0 %d, want 3", f)
			}
			// -r: read, then reset; the read shows the counts.
			if b := h.pqUint(h.pq("--slrcvbecn", "-r", tg.lid, tg.port), "PortSLRcvBECN0"); b != 2 {
				t.Errorf("PortSLRcvBECN0 %d before the reset, want 2", b)
			}
			if b := h.pqUint(h.pq("--slrcvbecn", tg.lid, tg.port), "PortSLRcvBECN0"); b != 0 {
				t.Errorf("PortSLRcvBECN0 %d after perfquery -r, want 0", b)
			}
			// -R resets (a Set with OpCode 0: from then on the counters
			// count SEND First, which nothing sends).
			for _, opt := range []string{"--oprcvcounters", "--vloppackets", "--vlopdata", "--rcvcc", "--slrcvfecn"} {
				h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", opt, "-R", tg.lid, tg.port)
			}
			if n := h.pqUint(h.pq("--oprcvcounters", tg.lid, tg.port), "PortOpRcvPkts"); n != 0 {
				t.Errorf("PortOpRcvPkts %d after -R", n)
			}
			if n := h.pqUint(h.pq("--vloppackets", tg.lid, tg.port), "PortVLOpPackets15"); n != 0 {
				t.Errorf("PortVLOpPackets15 %d after -R", n)
			}
			if n := h.pqUint(h.pq("--vlopdata", tg.lid, tg.port), "PortVLOpData0"); n != 0 {
				t.Errorf("PortVLOpData0 %d after -R", n)
			}
			if f := h.pqUint(h.pq("--rcvcc", tg.lid, tg.port), "PortPktRcvFECN"); f != 0 {
				t.Errorf("PortPktRcvFECN %d after -R", f)
			}
			if f := h.pqUint(h.pq("--slrcvfecn", tg.lid, tg.port), "PortSLRcvFECN0"); f != 0 {
				t.Errorf("PortSLRcvFECN0 %d after -R", f)
			}

			// The counters nothing emulated produces: answered, 0.
			for opt, names := range map[string][]string{
				"--flowctlcounters":     {"PortXmitFlowPkts", "PortRcvFlowPkts"},
				"--vlxmitflowctlerrors": {"PortVLXmitFlowCtlUpdateErrors0", "PortVLXmitFlowCtlUpdateErrors15"},
				"--vlxmitcounters":      {"PortVLXmitWait0", "PortVLXmitWait15"},
				"--xmitcc":              {"PortXmitTimeCong"},
				"--vlxmittimecc":        {"PortVLXmitTimeCong0", "PortVLXmitTimeCong14"},
			} {
				out := h.pq(opt, tg.lid, tg.port)
				for _, n := range names {
					if v := h.pqUint(out, n); v != 0 {
						t.Errorf("%s %s = %d, want 0", opt, n, v)
					}
				}
			}
			// PerformanceSet, in ibsim's syntax, shows up in perfquery.
			node := tg.p.Node().Name()
			for _, set := range []struct{ cmd, opt, field, want string }{
				{"PortFlowCtlCounters.PortXmitFlowPkts=123", "--flowctlcounters", "PortXmitFlowPkts", "123"},
				{"PortVLXmitWaitCounters.PortVLXmitWaitCounters3=77", "--vlxmitcounters", "PortVLXmitWait3", "77"},
				{"PortVLXmitFlowCtlUpdateErrors.PortVLXmitFlowCtlUpdateErrors2=9", "--vlxmitflowctlerrors", "PortVLXmitFlowCtlUpdateErrors2", "3"},
				{"PortVLOpPackets.PortVLOpPackets4=70000", "--vloppackets", "PortVLOpPackets4", "65535"},
				{"PortOpRcvCounters.PortOpRcvData=4444", "--oprcvcounters", "PortOpRcvData", "4444"},
			} {
				var out bytes.Buffer
				if err := h.srv.Exec(`PerformanceSet "`+node+`"[`+tg.port+`] `+set.cmd, &out); err != nil {
					t.Fatalf("PerformanceSet %s: %v", set.cmd, err)
				}
				if got := h.pq(set.opt, tg.lid, tg.port)[set.field]; got != set.want {
					t.Errorf("%s %s = %q after PerformanceSet %s, want %s", set.opt, set.field, got, set.cmd, set.want)
				}
			}
			// The physical layer's counters: these QDR ports have none.
			if out, err := h.run(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-T", tg.lid, tg.port); err == nil {
				t.Errorf("perfquery -T on a QDR port succeeded:\n%s", out)
			}
		})
	}
	// SwPortVLCongestion is a switch's.
	if out, err := h.run(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "--swportvlcong", targets[0].lid, "1"); err == nil {
		t.Errorf("perfquery --swportvlcong on an HCA succeeded:\n%s", out)
	}
	sw := h.pq("--swportvlcong", targets[1].lid, targets[1].port)
	if v := h.pqUint(sw, "SWPortVLCongestion0"); v != 0 {
		t.Errorf("SWPortVLCongestion0 %d, want 0", v)
	}
}

// TestInteropPerfqueryExtendedSpeeds: perfquery -T reads
// PortExtendedSpeedsCounters of FDR, EDR and HDR ports (an HCA and a
// switch port), zeros, and -T -R resets them.
func TestInteropPerfqueryExtendedSpeeds(t *testing.T) {
	in, err := topology.Parse("speeds.net", strings.NewReader(speedsNet))
	if err != nil {
		t.Fatal(err)
	}
	h := newInterop(t, in)
	h.opensmOnce(30*time.Second, nil)
	for _, tg := range []struct{ id, port string }{{cx4ID, "1"}, {cx6ID, "1"}, {sibID, "2"}, {quantum, "1"}} {
		lid := strconv.Itoa(int(h.lidOf(tg.id)))
		out := h.mustRun(10*time.Second, nil, "perfquery", "-T", lid, tg.port)
		f := fields(out)
		if !strings.Contains(out, "PortExtendedSpeedsCounters") {
			t.Errorf("%s: perfquery -T printed no PortExtendedSpeedsCounters:\n%s", tg.id, out)
		}
		for _, n := range []string{"SyncHeaderErrorCounter", "UnknownBlockCounter", "ErrorDetectionCounterLane0",
			"FECCorrectableBlockCtrLane11", "FECUncorrectableBlockCtrLane11"} {
			if f[n] != "0" {
				t.Errorf("%s: %s = %q, want 0", tg.id, n, f[n])
			}
		}
		h.mustRun(10*time.Second, nil, "perfquery", "-T", "-R", lid, tg.port)
	}
}
