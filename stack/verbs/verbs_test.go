package verbs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/verbs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair is two HCAs on one switch, configured without an SM.
func pair(tb testing.TB, opts ...emu.Option) *fabric.Fabric {
	tb.Helper()
	rate, _ := topology.ParseRate("4xQDR")
	t, err := topology.Line(1, 2, topology.WithRate(rate))
	if err != nil {
		tb.Fatal(err)
	}
	fb, err := fabric.Build(t, fabric.WithHCAProfile(hca.ProfileConnectX2QDR1p), fabric.WithEmuOptions(opts...))
	if err != nil {
		tb.Fatal(err)
	}
	if err := verbs.ConfigureStatic(fb.Emu); err != nil {
		tb.Fatal(err)
	}
	if err := fb.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(fb.Stop)
	if err := fb.Emu.Do(func() {}); err != nil {
		tb.Fatal(err)
	}
	return fb
}

type side struct {
	ctx *verbs.Context
	pd  *verbs.PD
	ch  *verbs.CompChannel
	cq  *verbs.CQ
	qp  *verbs.QP
	mr  *verbs.MR
	lid wire.LID
}

func open(tb testing.TB, d *hca.Device, bufLen int, typ verbs.QPType) *side {
	tb.Helper()
	s := &side{lid: d.SMA().Port(1).LID}
	var err error
	must := func(e error) {
		tb.Helper()
		if e != nil {
			tb.Fatal(e)
		}
	}
	s.ctx, err = verbs.Open(d)
	must(err)
	s.pd, err = s.ctx.AllocPD()
	must(err)
	s.ch = s.ctx.CreateCompChannel()
	s.cq, err = s.ctx.CreateCQ(32768, s.ch)
	must(err)
	s.mr, err = s.pd.RegMR(make([]byte, bufLen), hv.AccessLocalWrite|hv.AccessRemoteWrite|hv.AccessRemoteRead)
	must(err)
	s.qp, err = s.pd.CreateQP(verbs.QPInitAttr{SendCQ: s.cq, RecvCQ: s.cq, QPType: typ,
		Cap: verbs.QPCap{MaxSendWR: 1024, MaxRecvWR: 16384, MaxSendSGE: 2, MaxRecvSGE: 2, MaxInlineData: 64}})
	must(err)
	return s
}

func connect(tb testing.TB, a, b *side, mtu wire.MTU) {
	tb.Helper()
	for _, p := range [][2]*side{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		steps := []struct {
			attr verbs.QPAttr
			mask verbs.AttrMask
		}{
			{verbs.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QPAccessFlags: hv.AccessRemoteWrite | hv.AccessRemoteRead},
				hv.AttrState | hv.AttrPort | hv.AttrPKeyIndex | hv.AttrAccessFlags},
			{verbs.QPAttr{QPState: hv.QPStateRTR, PathMTU: mtu, DestQPNum: y.qp.Num(), RQPSN: 1, MaxDestRdAtomic: 4, MinRNRTimer: 1,
				AHAttr: verbs.AHAttr{DLID: y.lid, PortNum: 1}},
				hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN | hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer},
			{verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1, Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 4},
				hv.AttrState | hv.AttrSQPSN | hv.AttrTimeout | hv.AttrRetryCnt | hv.AttrRNRRetry | hv.AttrMaxQPRdAtomic},
		}
		for _, s := range steps {
			if err := x.qp.Modify(&s.attr, s.mask); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func TestSendRecvWithCompletionChannel(t *testing.T) {
	fb := pair(t)
	a := open(t, fb.HCAs[0].Device, 1<<20, hv.QPTypeRC)
	b := open(t, fb.HCAs[1].Device, 1<<20, hv.QPTypeRC)
	connect(t, a, b, wire.MTU2048)
	port, err := a.ctx.QueryPort(1)
	if err != nil || port.State != wire.PortStateActive || port.LID != a.lid || port.ActiveWidth != wire.Width4X {
		t.Fatalf("query port: %+v %v", port, err)
	}
	if _, err := a.ctx.QueryPort(2); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("query of a missing port: %v", err)
	}
	buf := a.mr.Buf()
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	if _, err := b.qp.PostRecv([]verbs.RecvWR{{WRID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 1000), b.mr.SGE(5000, 200000)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled | hv.SendSolicited,
		SGL: []verbs.SGE{a.mr.SGE(0, 100000), a.mr.SGE(100000, 1000)}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc := make([]verbs.WC, 4)
	n, err := b.cq.Wait(ctx, wc)
	if err != nil || n != 1 || wc[0].WRID != 7 || wc[0].ByteLen != 101000 || wc[0].Status != hv.WCSuccess {
		t.Fatalf("wait: %d %v %+v", n, err, wc[0])
	}
	got := append(append([]byte(nil), b.mr.Buf()[:1000]...), b.mr.Buf()[5000:5000+100000]...)
	for i := range got {
		if got[i] != buf[i] {
			t.Fatalf("byte %d differs", i)
		}
	}
	if n, err := a.cq.Wait(ctx, wc); err != nil || n != 1 || wc[0].Opcode != hv.WCSend {
		t.Fatalf("send completion: %d %v %+v", n, err, wc[0])
	}
	// The responder was in RTS already, so no COMM_EST; cause an async
	// event: an SRQ limit.
	srq, err := b.pd.CreateSRQ(verbs.SRQAttr{MaxWR: 4, MaxSGE: 1, SRQLimit: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pd.CreateSRQ(verbs.SRQAttr{MaxWR: 0, MaxSGE: 1}); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("srq of 0: %v", err)
	}
	if err := b.pd.Dealloc(); !errors.Is(err, verbs.ErrBusy) {
		t.Fatalf("dealloc busy pd: %v", err)
	}
	if err := srq.Destroy(); err != nil {
		t.Fatal(err)
	}
}

func TestAsyncEventOnCQOverflow(t *testing.T) {
	fb := pair(t)
	a := open(t, fb.HCAs[0].Device, 4096, hv.QPTypeRC)
	b := open(t, fb.HCAs[1].Device, 4096, hv.QPTypeRC)
	small, err := a.ctx.CreateCQ(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := a.pd.CreateQP(verbs.QPInitAttr{SendCQ: small, RecvCQ: small, QPType: hv.QPTypeRC, Cap: verbs.QPCap{MaxSendWR: 8, MaxSendSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	a.qp = qp
	connect(t, a, b, wire.MTU1024)
	wrs := []verbs.SendWR{
		{Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
		{Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
	}
	if _, err := qp.PostSend(wrs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[verbs.EventType]bool{}
	for !seen[hv.EventCQErr] || !seen[hv.EventQPFatal] {
		ev, err := a.ctx.GetAsyncEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == hv.EventCQErr && ev.CQ != small || ev.Type == hv.EventQPFatal && ev.QP != qp {
			t.Fatalf("event names the wrong object: %+v", ev)
		}
		seen[ev.Type] = true
	}
	if _, err := small.Poll(make([]verbs.WC, 4)); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("poll after overflow: %v", err)
	}
	if s := qp.State(); s != hv.QPStateError {
		t.Fatalf("qp state %s", s)
	}
}
