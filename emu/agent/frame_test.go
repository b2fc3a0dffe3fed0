package agent_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

func mad(class wire.MgmtClass, method wire.Method, attr wire.AttrID) []byte {
	b := make([]byte, wire.MADSize)
	wire.MAD(b).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: class, ClassVersion: 1, Method: method, TID: 0x1234, AttrID: attr})
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	grh := &wire.GRHFields{IPVer: 6, TClass: 3, FlowLabel: 0x12345, NxtHdr: wire.GRHNextHeaderIBA, HopLmt: 64,
		SGID: wire.GID{0xfe, 0x80, 15: 1}, DGID: wire.GID{0xfe, 0x80, 15: 2}}
	cases := []struct {
		name string
		addr agent.Addr
		mad  []byte
		vl   uint8
	}{
		{"smp on qp0", agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, DestQP: 0, SrcQP: 0, PKey: 0xFFFF},
			mad(wire.MgmtClassSubnDirected, wire.MethodGet, wire.AttrNodeInfo), 15},
		{"gmp on qp1", agent.Addr{DLID: 4, SLID: 9, SL: 3, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0x8001},
			mad(wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters), 0},
		{"gmp with grh", agent.Addr{DLID: 4, SLID: 9, DestQP: 1, SrcQP: 0x123, QKey: agent.GSIQKey, PKey: 0xFFFF, GRH: grh},
			mad(wire.MgmtClassSubnAdm, wire.MethodGet, wire.AttrPathRecord), 0},
	}
	for _, c := range cases {
		frame, err := agent.AppendFrame(nil, &c.addr, c.mad)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := wire.CheckPacket(frame); err != nil {
			t.Fatalf("%s: built frame fails its CRCs: %v", c.name, err)
		}
		f, err := agent.ParseFrame(frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := c.addr
		if want.GRH != nil {
			g := *want.GRH
			g.PayLen = f.Addr.GRH.PayLen
			want.GRH = &g
		}
		if diff := cmp.Diff(want, f.Addr); diff != "" {
			t.Errorf("%s: addr (-want +got):\n%s", c.name, diff)
		}
		if f.VL != c.vl || !bytes.Equal(f.MAD, c.mad) {
			t.Errorf("%s: vl %d, mad equal %v", c.name, f.VL, bytes.Equal(f.MAD, c.mad))
		}
		// FromPacket on the decoded packet gives the same Frame.
		pkt, err := wire.ParsePacket(frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var g agent.Frame
		if err := g.FromPacket(&pkt); err != nil {
			t.Fatalf("%s: from packet: %v", c.name, err)
		}
		if diff := cmp.Diff(f.Addr, g.Addr); diff != "" || g.VL != f.VL || !bytes.Equal(g.MAD, f.MAD) {
			t.Errorf("%s: from packet differs from parse (-parse +from):\n%s", c.name, diff)
		}
	}
}

func TestParseFrameRejects(t *testing.T) {
	good := agent.Addr{DLID: 4, SLID: 9, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	base, err := agent.AppendFrame(nil, &good, mad(wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		frame func() []byte
		want  error
	}{
		{"truncated", func() []byte { return base[:40] }, wire.ErrPacketLength},
		{"qp1 on vl15", func() []byte {
			f := bytes.Clone(base)
			wire.LRH(f).SetVL(15)
			return f
		}, agent.ErrVL15},
		{"short payload", func() []byte {
			a := good
			f, _ := wire.EncodePacket(&wire.PacketFields{LRH: wire.LRHFields{DLID: a.DLID, SLID: a.SLID},
				BTH: wire.BTHFields{OpCode: wire.OpUDSendOnly, DestQP: 1, PKey: 0xFFFF}, DETH: &wire.DETHFields{QKey: a.QKey, SrcQP: 1},
				Payload: make([]byte, 200)})
			return f
		}, agent.ErrMADSize},
		{"rc packet", func() []byte {
			f, _ := wire.EncodePacket(&wire.PacketFields{LRH: wire.LRHFields{DLID: 4, SLID: 9},
				BTH: wire.BTHFields{OpCode: wire.OpRCSendOnly, DestQP: 1}, Payload: make([]byte, 256)})
			return f
		}, agent.ErrNotUD},
	}
	for _, c := range cases {
		if _, err := agent.ParseFrame(c.frame()); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if pkt, err := wire.ParsePacket(c.frame()); err == nil {
			var g agent.Frame
			if err := g.FromPacket(&pkt); !errors.Is(err, c.want) {
				t.Errorf("%s: from packet: %v, want %v", c.name, err, c.want)
			} else if g.MAD != nil || g.Packet.Frame != nil {
				t.Errorf("%s: from packet left a partial frame", c.name)
			}
		}
	}
	if _, err := agent.AppendFrame(nil, &good, make([]byte, 100)); !errors.Is(err, agent.ErrMADSize) {
		t.Errorf("build with a short mad: %v", err)
	}
}

func TestReplyAddr(t *testing.T) {
	grh := &wire.GRHFields{SGID: wire.GID{1}, DGID: wire.GID{2}, HopLmt: 3}
	cases := []struct {
		name   string
		req    agent.Addr
		ownLID wire.LID
		want   agent.Addr
	}{
		{"lid routed gmp", agent.Addr{DLID: 5, SLID: 9, SL: 2, DestQP: 1, SrcQP: 0x44, QKey: agent.GSIQKey, PKey: 0x8001}, 4,
			agent.Addr{DLID: 9, SLID: 5, SL: 2, DestQP: 0x44, SrcQP: 1, PKey: 0x8001}},
		{"gmp to qp1", agent.Addr{DLID: 5, SLID: 9, DestQP: 1, SrcQP: 1, PKey: 0xFFFF}, 4,
			agent.Addr{DLID: 9, SLID: 5, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}},
		{"directed route", agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}, 4,
			agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}},
		{"permissive dlid from a lid", agent.Addr{DLID: wire.LIDPermissive, SLID: 7, PKey: 0xFFFF}, 4,
			agent.Addr{DLID: 7, SLID: 4, PKey: 0xFFFF}},
		{"grh swapped", agent.Addr{DLID: 5, SLID: 9, DestQP: 1, SrcQP: 1, PKey: 0xFFFF, GRH: grh}, 4,
			agent.Addr{DLID: 9, SLID: 5, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF,
				GRH: &wire.GRHFields{SGID: wire.GID{2}, DGID: wire.GID{1}, HopLmt: 0xFF}}},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, c.req.Reply(c.ownLID)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestClassSupport(t *testing.T) {
	cs := agent.ClassSupport{
		Versions: []uint8{1},
		Methods:  []wire.Method{wire.MethodGet, wire.MethodSet},
		Attrs:    map[wire.AttrID][]wire.Method{wire.AttrPortCounters: {wire.MethodGet, wire.MethodSet}, wire.AttrClassPortInfo: {wire.MethodGet}},
	}
	m := func(base, ver uint8, method wire.Method, attr wire.AttrID) wire.MAD {
		b := mad(wire.MgmtClassPerf, method, attr)
		wire.MAD(b).SetBaseVersion(base)
		wire.MAD(b).SetClassVersion(ver)
		return b
	}
	cases := []struct {
		m    wire.MAD
		want wire.MADStatus
	}{
		{m(1, 1, wire.MethodGet, wire.AttrPortCounters), wire.MADStatusOK},
		{m(2, 1, wire.MethodGet, wire.AttrPortCounters), wire.MADStatusBadVersion},
		{m(1, 2, wire.MethodGet, wire.AttrPortCounters), wire.MADStatusBadVersion},
		{m(1, 1, wire.MethodReport, wire.AttrPortCounters), wire.MADStatusUnsupportedMethod},
		{m(1, 1, wire.MethodSet, wire.AttrClassPortInfo), wire.MADStatusUnsupportedMethodAttr},
		{m(1, 1, wire.MethodGet, wire.AttrPortSamplesControl), wire.MADStatusUnsupportedMethodAttr},
	}
	for i, c := range cases {
		if got := cs.Check(c.m); got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
	// Refusals of methods that get no answer stay unanswered.
	if _, ok, handled := agent.Refuse(&cs, m(1, 1, wire.MethodTrap, wire.AttrNotice)); ok || !handled {
		t.Errorf("trap refused with an answer")
	}
	resp, ok, handled := agent.Refuse(&cs, m(1, 1, wire.MethodGetTable, wire.AttrPortCounters))
	if !ok || !handled || resp.Status() != wire.MADStatusUnsupportedMethod || resp.Method() != wire.MethodGetTableResp {
		t.Errorf("GetTable refusal: %v %v %s %s", ok, handled, resp.Status(), resp.Method())
	}
}

func TestUnmatchedAndErrorReply(t *testing.T) {
	get := mad(wire.MgmtClassDevMgt, wire.MethodGet, wire.AttrClassPortInfo)
	r, ok := agent.UnmatchedReply(get)
	if !ok || r.Status() != wire.MADStatusUnsupportedMethodAttr || r.Method() != wire.MethodGetResp || r.TID() != 0x1234 {
		t.Errorf("unmatched Get: %v %s %s", ok, r.Status(), r.Method())
	}
	for _, x := range []wire.Method{wire.MethodSend, wire.MethodReport, wire.MethodTrap, wire.MethodGetResp} {
		if _, ok := agent.UnmatchedReply(mad(wire.MgmtClassCM, x, 0x10)); ok {
			t.Errorf("unmatched %s answered", x)
		}
	}
	dr := mad(wire.MgmtClassSubnDirected, wire.MethodGet, wire.AttrNodeInfo)
	e := agent.ErrorReply(dr, wire.MADStatusInvalidField)
	if wire.SMP(e).Direction() != wire.DRReturning || e.Status() != wire.MADStatusInvalidField || len(e) != wire.MADSize {
		t.Errorf("DR error reply: dir %s status %s", wire.SMP(e).Direction(), e.Status())
	}
	if wire.SMP(dr).Direction() != wire.DROutbound {
		t.Error("ErrorReply changed its input")
	}
}

func TestBadMKeyNoticeRoundTrip(t *testing.T) {
	var f wire.SMPFields
	f.Directed, f.Method, f.AttrID, f.AttrMod, f.MKey = true, wire.MethodSet, wire.AttrPortInfo, 3, 0xabc
	f.HopCount, f.DrSLID = 33, wire.LIDPermissive
	for i := range f.ReturnPath {
		f.ReturnPath[i] = uint8(i)
	}
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&f)
	n := agent.BadMKeyNotice(wire.NodeTypeSwitch, 7, 12, smp)
	if n.TrapNumber != wire.TrapBadMKey || n.Type != wire.NoticeTypeSecurity || n.ProducerType != uint32(wire.NodeTypeSwitch) || n.IssuerLID != 7 {
		t.Errorf("notice header %+v", n)
	}
	d, err := wire.DecodeBadMKeyDetails(n.DataDetails[:])
	if err != nil {
		t.Fatal(err)
	}
	want := wire.BadMKeyDetails{LID: 12, DrSLID: wire.LIDPermissive, Method: wire.MethodSet, AttrID: wire.AttrPortInfo,
		AttrMod: 3, MKey: 0xabc, DRNotice: true, Truncated: true, HopCount: 30}
	for i := 1; i <= 30; i++ {
		want.ReturnPath = append(want.ReturnPath, uint8(i))
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	if _, err := wire.DecodeBadMKeyDetails(make([]byte, 10)); err == nil {
		t.Error("short details decoded")
	}
}

// FuzzParseFrame: ParseFrame never panics, agrees with wire.ParsePacket
// and Frame.FromPacket, and what it accepts rebuilds into a frame that
// parses to the same address and MAD.
func FuzzParseFrame(f *testing.F) {
	a := agent.Addr{DLID: 4, SLID: 9, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	seed, _ := agent.AppendFrame(nil, &a, mad(wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters))
	f.Add(seed)
	a0 := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
	seed0, _ := agent.AppendFrame(nil, &a0, mad(wire.MgmtClassSubnDirected, wire.MethodGet, wire.AttrNodeInfo))
	f.Add(seed0)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := agent.ParseFrame(b)
		// DirectedSMP accepts only frames ParseFrame accepts as a
		// directed-route SMP on QP0, with the same MAD view, and every
		// such frame of the usual layout (no GRH, no pad bytes).
		smp, isDR := agent.DirectedSMP(b)
		wantDR := err == nil && fr.Addr.DestQP == agent.QP0 && fr.MAD.MgmtClass() == wire.MgmtClassSubnDirected
		switch {
		case isDR && !wantDR:
			t.Fatalf("DirectedSMP accepted a frame ParseFrame gives %v (err %v)", fr, err)
		case isDR && &smp[0] != &fr.MAD[0]:
			t.Fatal("DirectedSMP's view is not the frame's MAD")
		case !isDR && wantDR && fr.Packet.GRH == nil && len(b) == agent.MADFrameLen && fr.Packet.BTH.PadCnt() == 0:
			t.Fatal("DirectedSMP refused a directed-route SMP of the usual layout")
		}
		// The fast path for frames without a GRH must agree with the
		// general decoder on what it accepts and on every view.
		var general agent.Frame
		pkt, gerr := wire.ParsePacket(b)
		if gerr == nil {
			gerr = general.FromPacket(&pkt)
		}
		if (err == nil) != (gerr == nil) {
			t.Fatalf("ParseFrame error %v, general decoder error %v", err, gerr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff(&general, fr); diff != "" {
			t.Fatalf("ParseFrame differs from the general decoder (-general +got):\n%s", diff)
		}
		again, err := agent.AppendFrame(nil, &fr.Addr, fr.MAD)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		fr2, err := agent.ParseFrame(again)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		if !bytes.Equal(fr2.MAD, fr.MAD) || fr2.Addr.DLID != fr.Addr.DLID || fr2.Addr.DestQP != fr.Addr.DestQP || fr2.Addr.PKey != fr.Addr.PKey {
			t.Fatalf("round trip changed the frame")
		}
	})
}

// TestDirectedSMP: the relay fast path takes directed-route SMPs of the
// usual layout and nothing else.
func TestDirectedSMP(t *testing.T) {
	perm := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
	dr, _ := agent.AppendFrame(nil, &perm, mad(wire.MgmtClassSubnDirected, wire.MethodGet, wire.AttrNodeInfo))
	if smp, ok := agent.DirectedSMP(dr); !ok || !smp.IsDirected() || &smp[0] != &dr[agent.MADFrameLen-wire.MADSize-wire.ICRCSize-wire.VCRCSize] {
		t.Fatalf("directed SMP refused or wrong view (ok %v)", ok)
	}
	lid, _ := agent.AppendFrame(nil, &agent.Addr{DLID: 3, SLID: 1, PKey: 0xFFFF},
		mad(wire.MgmtClassSubnLID, wire.MethodGet, wire.AttrNodeInfo))
	gmp, _ := agent.AppendFrame(nil, &agent.Addr{DLID: 3, SLID: 1, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF},
		mad(wire.MgmtClassPerf, wire.MethodGet, wire.AttrPortCounters))
	g := wire.GRHFields{HopLmt: 1}
	withGRH := perm
	withGRH.GRH = &g
	grh, _ := agent.AppendFrame(nil, &withGRH, mad(wire.MgmtClassSubnDirected, wire.MethodGet, wire.AttrNodeInfo))
	if _, err := agent.ParseFrame(grh); err != nil {
		t.Fatalf("a directed SMP with a GRH does not parse: %v", err)
	}
	onVL0 := append([]byte(nil), dr...)
	wire.LRH(onVL0).SetVL(0)
	for name, fr := range map[string][]byte{"lid-routed": lid, "gmp": gmp, "grh": grh, "vl0": onVL0,
		"short": dr[:len(dr)-4], "empty": nil} {
		if _, ok := agent.DirectedSMP(fr); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAppendLocalFrameMatchesEncoder checks the fixed-offset encoder of
// GRH-less MAD frames against the general packet encoder, sealed and
// unsealed, for random addresses and MADs, appended after a prefix.
func TestAppendLocalFrameMatchesEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 2000 {
		a := agent.Addr{DLID: wire.LID(rng.Uint32()), SLID: wire.LID(rng.Uint32()), SL: uint8(rng.Uint32()),
			DestQP: rng.Uint32(), SrcQP: rng.Uint32(), QKey: rng.Uint32(), PKey: uint16(rng.Uint32())}
		if i%2 == 0 {
			a.DestQP = agent.QP0
		}
		m := make([]byte, wire.MADSize)
		for j := range m {
			m[j] = byte(rng.Uint32())
		}
		vl := uint8(0)
		if a.DestQP == agent.QP0 {
			vl = agent.VL15
		}
		f := wire.PacketFields{
			LRH:     wire.LRHFields{VL: vl, SL: a.SL & 0x0F, DLID: a.DLID, SLID: a.SLID},
			BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: a.PKey, DestQP: a.DestQP & wire.QPNMask},
			DETH:    &wire.DETHFields{QKey: a.QKey, SrcQP: a.SrcQP & wire.QPNMask},
			Payload: m,
		}
		prefix := []byte{1, 2, 3}
		for _, seal := range []bool{true, false} {
			var want []byte
			var err error
			if seal {
				want, err = wire.AppendPacket(append([]byte(nil), prefix...), &f)
			} else {
				want, err = wire.AppendPacketUnsealed(append([]byte(nil), prefix...), &f)
			}
			if err != nil {
				t.Fatal(err)
			}
			// A dirty buffer: every byte must be written.
			buf := make([]byte, len(prefix), len(prefix)+agent.MADFrameLen)
			copy(buf, prefix)
			for j := len(prefix); j < cap(buf); j++ {
				buf[:cap(buf)][j] = 0xA5
			}
			var got []byte
			if seal {
				got, err = agent.AppendFrame(buf, &a, m)
			} else {
				got, err = agent.AppendUnsealedFrame(buf, &a, m)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("addr %+v seal %v:\n got %x\nwant %x", a, seal, got, want)
			}
		}
	}
}
