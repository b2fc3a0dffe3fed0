package sm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// speedsNet (the file) has a link of every rate of the FDR, EDR and HDR generations
// and a QDR corner: a Quantum with a ConnectX-6 at 4xHDR (the SM's port)
// and one at 2xHDR, an EDR link to a Switch-IB with a ConnectX-4 at 4xEDR,
// a ConnectX-2 at 4xQDR and an InfiniScale-IV (QDR) with another
// ConnectX-2, an FDR link to a SwitchX-2 with a ConnectX-3 at 4xFDR and a
// ConnectX-3 Pro at 4xFDR10. Every enable is what the link trained at
// (the FDR10 and extended speeds the ports could also run are off), so
// the SM's link manager has something to do.
const speedsNet = "../../emu/topology/testdata/ibnetdiscover/speeds.net"

// upSpeeds brings speedsNet up with the SM on the ConnectX-6.
func upSpeeds(t *testing.T) *ibtest.UpFabric {
	t.Helper()
	topo, err := topology.Load(speedsNet)
	if err != nil {
		t.Fatal(err)
	}
	f := ibtest.Up(t, ibtest.FromTopology(topo))
	if got := f.FirstHCA().Topo.ID; got != "H-cx6" {
		t.Fatalf("SM on %s, want H-cx6", got)
	}
	return f
}

// TestLinkEnablesLikeOpenSM: after the SM, every port enables what it
// supports as OpenSM's link manager leaves it with its defaults:
// LinkSpeedEnabled all base speeds (force_link_speed 15), the extended
// speeds where both ends have them (force_link_speed_ext 31, written with
// SMSupportsExtendedSpeeds in the AttributeModifier, without which the
// port ignores them), FDR10 through MlnxExtPortInfo where the port has it
// ("fdr10 1"), every width on the ports that support 2X (force_link_width
// 255), and the other widths left as they were. The links keep the width
// and speed they trained at until they next train.
func TestLinkEnablesLikeOpenSM(t *testing.T) {
	f := upSpeeds(t)
	if len(f.Subnet.Problems) != 0 {
		t.Fatalf("sweep problems: %v", f.Subnet.Problems)
	}
	extCap := map[string]bool{}
	for _, n := range f.Topology.Nodes {
		id := n.ID
		_ = f.Emu.Do(func() {
			p0 := f.Node(id).Port(1)
			extCap[id] = p0.SpeedSupported().Ext() != 0
		})
	}
	for _, l := range f.Topology.Links() {
		for _, end := range [][2]*topology.Port{{l.A, l.B}, {l.B, l.A}} {
			me, peer := end[0], end[1]
			var sup, en, active wire.LinkSpeed
			var wsup, wen uint8
			var w wire.LinkWidth
			_ = f.Emu.Do(func() {
				p := f.Node(me.Node.ID).Port(me.Num)
				sup, en, active = p.SpeedSupported(), p.SpeedEnabled(), p.Speed()
				wsup, wen, w = p.WidthSupported(), p.WidthEnabled(), p.Width()
			})
			who := fmt.Sprintf("%s port %d", me.Node.ID, me.Num)
			rate := me.ActiveRate()
			trained := rate.Speed
			if rate.FDR10 {
				trained = wire.SpeedFDR10
			}
			if en.Base() != sup.Base() {
				t.Errorf("%s: base speeds enabled %#x, supported %#x", who, en.Base(), sup.Base())
			}
			wantExt := uint8(0)
			if extCap[me.Node.ID] && extCap[peer.Node.ID] {
				wantExt = sup.Ext()
			}
			if en.Ext() != wantExt && !(wantExt == 0 && en.Ext() == trained.Ext()) {
				t.Errorf("%s (peer %s): extended speeds enabled %#x, want %#x", who, peer.Node.ID, en.Ext(), wantExt)
			}
			if en.HasFDR10() != sup.HasFDR10() {
				t.Errorf("%s: FDR10 enabled %v, supported %v", who, en.HasFDR10(), sup.HasFDR10())
			}
			twoX := wire.LinkWidth(wsup)&wire.Width2X != 0
			if twoX && wen != wsup {
				t.Errorf("%s: widths enabled %#x, supported %#x (2X-capable)", who, wen, wsup)
			}
			if !twoX && wire.LinkWidth(wen) != rate.Width {
				t.Errorf("%s: widths enabled %#x, want %v as trained", who, wen, rate.Width)
			}
			if active != trained || w != rate.Width {
				t.Errorf("%s: link %v %v, want %v %v until it retrains", who, w, active, rate.Width, trained)
			}
		}
	}
	// The SM keeps what MlnxExtPortInfo says of the FDR10-capable ports.
	for _, n := range f.Subnet.Nodes {
		for _, p := range n.Ports {
			if p == nil || p.Num == 0 || !p.LinkUp() {
				continue
			}
			fdr10 := n.Info.DeviceID == 0xC738 || n.Info.DeviceID == 0x1003 || n.Info.DeviceID == 0x1007
			if fdr10 && (!p.MlnxExtRead || p.MlnxExt.LinkSpeedEnabled != wire.MlnxSpeedFDR10) {
				t.Errorf("%s: MlnxExtPortInfo read %v, %+v", p, p.MlnxExtRead, p.MlnxExt)
			}
			if n.Info.DeviceID == 0x673C && p.MlnxExtRead {
				t.Errorf("%s: MlnxExtPortInfo read on a ConnectX-2", p)
			}
		}
	}
	// A second sweep finds nothing left to enable: no Set but the
	// LFT-free ones OpenSM would send too.
	before := f.SM.SMPs()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := f.SM.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	sn := f.SM.Subnet()
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.Num != 0 && p.LinkUp() && p.MlnxExtRead && p.MlnxExt.LinkSpeedSupported != 0 && p.MlnxExt.LinkSpeedEnabled == 0 {
				t.Errorf("%s: FDR10 off after a second sweep", p)
			}
		}
	}
	t.Logf("second sweep: %d SMPs", f.SM.SMPs()-before)
}

// TestPathRatesLikeOpenSM: the SA's PathRecords carry the rate codes real
// OpenSM answers on the same fabric (cmd/ibemu/sm_speeds_linux_test.go
// compares them live): 56 Gb/s for FDR, 40 for FDR10 and QDR, 100 for
// 4X EDR and 2X HDR, 200 for 4X HDR, the slowest link of the path in
// OpenSM's order of data rates, and 10 Gb/s on any path to or from a
// switch: OpenSM counts switch port 0's own PortInfo (4X SDR) at both
// ends. MultiPathRecord agrees, and the rate selectors step through the
// same order.
func TestPathRatesLikeOpenSM(t *testing.T) {
	f := upSpeeds(t)
	c := newRawSA(t, f.Fabric, "H-cx6", f.Subnet.Local.LID)
	gid := func(guid uint64) wire.GID { return f.Subnet.PortByGUID[wire.GUID(guid)].GID(sm.DefaultGIDPrefix) }
	const (
		sx, sib, quantum, is4                  = 0x2c90300000100, 0x2c90300000200, 0x2c90300000300, 0x2c90300000700
		cx3, cx3pro, cx4, cx6, cx6b, cx2, cx2b = 0x2c90300001001, 0x2c90300002001, 0x2c90300003001, 0x2c90300004001,
			0x2c90300005001, 0x2c90300006001, 0x2c90300007001
	)
	mask := wire.PathRecordCompSGID | wire.PathRecordCompDGID
	path := func(src, dst uint64, extra wire.ComponentMask, edit func(*wire.PathRecordFields)) []wire.PathRecordFields {
		t.Helper()
		q := make([]byte, wire.PathRecordSize)
		fl := wire.PathRecordFields{SGID: gid(src), DGID: gid(dst)}
		if edit != nil {
			edit(&fl)
		}
		wire.PathRecord(q).Encode(&fl)
		var out []wire.PathRecordFields
		for _, r := range c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask | extra, rec: q}) {
			out = append(out, wire.PathRecord(r).Fields())
		}
		return out
	}
	for _, w := range []struct {
		src, dst uint64
		rate     wire.Rate
	}{
		{cx6, cx6, wire.Rate200Gbps}, {cx6, cx6b, wire.Rate100Gbps}, {cx6b, cx6b, wire.Rate100Gbps},
		{cx6, cx4, wire.Rate100Gbps}, {cx4, cx4, wire.Rate100Gbps}, {cx6, cx3, wire.Rate56Gbps},
		{cx3, cx3, wire.Rate56Gbps}, {cx4, cx3, wire.Rate56Gbps}, {cx3, cx3pro, wire.Rate40Gbps},
		{cx3pro, cx3pro, wire.Rate40Gbps}, {cx6, cx3pro, wire.Rate40Gbps}, {cx4, cx2, wire.Rate40Gbps},
		{cx2, cx2b, wire.Rate40Gbps}, {cx6b, cx2b, wire.Rate40Gbps},
		{cx6, quantum, wire.Rate10Gbps}, {quantum, cx6, wire.Rate10Gbps}, {sib, sib, wire.Rate10Gbps},
		{sx, is4, wire.Rate10Gbps}, {cx3, sx, wire.Rate10Gbps},
	} {
		prs := path(w.src, w.dst, 0, nil)
		if len(prs) != 1 {
			t.Errorf("%#x -> %#x: %d paths", w.src, w.dst, len(prs))
			continue
		}
		pr := prs[0]
		life := uint8(0x12)
		if w.src == w.dst {
			life = 0
		}
		if pr.Rate != w.rate || pr.RateSelector != wire.SelectorExactly || pr.MTU != wire.MTU4096 || pr.PacketLifeTime != life {
			t.Errorf("%#x -> %#x: rate %v (selector %v) mtu %v life %#x, want %v, 4096, %#x", w.src, w.dst, pr.Rate, pr.RateSelector, pr.MTU, pr.PacketLifeTime, w.rate, life)
		}
	}

	// Selectors (cx4 -> cx3 is 56 Gb/s, MTU 4096): "less than" lowers to
	// the next rate below the one asked for in OpenSM's order (50 Gb/s
	// below 56, 28 below 40), "exactly" gives the requested MTU when the
	// path carries more.
	rateSel := wire.PathRecordCompRateSelector | wire.PathRecordCompRate
	for _, s := range []struct {
		sel  wire.Selector
		req  wire.Rate
		want wire.Rate // 0: no path
	}{
		{wire.SelectorLessThan, wire.Rate56Gbps, wire.Rate50Gbps},
		{wire.SelectorLessThan, wire.Rate40Gbps, wire.Rate28Gbps},
		{wire.SelectorLessThan, wire.Rate100Gbps, wire.Rate56Gbps},
		{wire.SelectorExactly, wire.Rate56Gbps, wire.Rate56Gbps},
		{wire.SelectorExactly, wire.Rate40Gbps, 0},
		{wire.SelectorGreaterThan, wire.Rate60Gbps, wire.Rate56Gbps}, // 12X DDR carries less data than 4X FDR
		{wire.SelectorGreaterThan, wire.Rate80Gbps, 0},
		{wire.SelectorGreaterThan, wire.Rate56Gbps, 0},
	} {
		prs := path(cx4, cx3, rateSel, func(fl *wire.PathRecordFields) { fl.RateSelector, fl.Rate = s.sel, s.req })
		switch {
		case s.want == 0 && len(prs) != 0:
			t.Errorf("rate %v %v: %d paths (rate %v), want none", s.sel, s.req, len(prs), prs[0].Rate)
		case s.want != 0 && (len(prs) != 1 || prs[0].Rate != s.want):
			t.Errorf("rate %v %v: %+v, want rate %v", s.sel, s.req, prs, s.want)
		}
	}
	mtuSel := wire.PathRecordCompMTUSelector | wire.PathRecordCompMTU
	if prs := path(cx4, cx3, mtuSel, func(fl *wire.PathRecordFields) { fl.MTUSelector, fl.MTU = wire.SelectorExactly, wire.MTU2048 }); len(prs) != 1 || prs[0].MTU != wire.MTU2048 {
		t.Errorf("mtu exactly 2048 on a 4096 path: %+v", prs)
	}
	if prs := path(cx4, cx3, mtuSel, func(fl *wire.PathRecordFields) { fl.MTUSelector, fl.MTU = wire.SelectorLessThan, wire.MTU4096 }); len(prs) != 1 || prs[0].MTU != wire.MTU2048 {
		t.Errorf("mtu less than 4096: %+v", prs)
	}

	// MultiPathRecord: the same rates.
	counts := wire.MultiPathRecordCompSGIDCount | wire.MultiPathRecordCompDGIDCount
	resp, err := c.do(saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rmpp: true,
		rec: multiPath(0, gid(cx6), gid(cx6b), gid(cx3pro), gid(cx3), gid(sib))})
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Rate{wire.Rate100Gbps, wire.Rate40Gbps, wire.Rate56Gbps, wire.Rate10Gbps}
	recs := records(resp)
	if len(recs) != len(want) {
		t.Fatalf("MultiPathRecord: %d paths, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if got := wire.PathRecord(r).Rate(); got != want[i] {
			t.Errorf("MultiPathRecord path %d: rate %v, want %v", i, got, want[i])
		}
	}
}

// TestMulticastRateLikeOpenSM: a join that creates a group without rate
// or MTU components gets the joining port's link rate and NeighborMTU
// (OpenSM's mgrp_request_is_realizable), and a port whose link is slower
// than a group's rate cannot join it (validate_port_caps).
func TestMulticastRateLikeOpenSM(t *testing.T) {
	f := upSpeeds(t)
	join := func(from string, guid uint64, mgid wire.GID, qkey uint32) ([]byte, error) {
		c := newRawSA(t, f.Fabric, from, f.Subnet.Local.LID)
		q := make([]byte, wire.MCMemberRecordSize)
		wire.MCMemberRecord(q).Encode(&wire.MCMemberRecordFields{MGID: mgid, QKey: qkey, PKey: 0xFFFF, JoinState: wire.JoinFullMember,
			PortGID: f.Subnet.PortByGUID[wire.GUID(guid)].GID(sm.DefaultGIDPrefix)})
		mask := wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState |
			wire.MCMemberRecordCompQKey | wire.MCMemberRecordCompPKey | wire.MCMemberRecordCompTClass |
			wire.MCMemberRecordCompFlowLabel | wire.MCMemberRecordCompSL
		resp, err := c.do(saReq{method: wire.MethodSet, attr: wire.AttrMCMemberRecord, mask: mask, rec: q})
		if err != nil {
			return nil, err
		}
		return records(resp)[0], nil
	}
	mgid := wire.GID{0xff, 0x12, 0xa0, 0x1c, 15: 0x42}
	rec, err := join("H-cx6", 0x2c90300004001, mgid, 0x1234)
	if err != nil {
		t.Fatal(err)
	}
	if r := wire.MCMemberRecord(rec).Fields(); r.Rate != wire.Rate200Gbps || r.MTU != wire.MTU4096 {
		t.Errorf("group created from a 4X HDR port: rate %v mtu %v, want 200 Gbps and 4096", r.Rate, r.MTU)
	}
	if _, err := join("H-cx3", 0x2c90300001001, mgid, 0x1234); err == nil {
		t.Error("a 4X FDR port joined a 200 Gb/s group")
	} else if st := saStatus(err); st != wire.SAStatusRequestInvalid {
		t.Errorf("4X FDR port joining a 200 Gb/s group: %v, want 0x0200", st)
	}
	// The SM's own broadcast group (10 Gb/s) takes every port.
	if _, err := join("H-cx3pro", 0x2c90300002001, sm.BroadcastMGID, sm.BroadcastQKey); err != nil {
		t.Errorf("FDR10 port joining the broadcast group: %v", err)
	}
}
