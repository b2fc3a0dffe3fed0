package verbs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// udUp brings a UD QP to RTS with Q_Key qkey.
func (tn *testNet) udUp(x *ep, qkey uint32) {
	tn.t.Helper()
	var err error
	tn.do(func() {
		if err = x.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, QKey: qkey}, verbs.AttrState|verbs.AttrPKeyIndex|verbs.AttrPort|verbs.AttrQKey); err != nil {
			return
		}
		if err = x.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTR}, verbs.AttrState); err != nil {
			return
		}
		err = x.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS, SQPSN: 7}, verbs.AttrState|verbs.AttrSQPSN)
	})
	if err != nil {
		tn.t.Fatal(err)
	}
}

func (tn *testNet) ah(x *ep, attr verbs.AHAttr) *verbs.AH {
	tn.t.Helper()
	var ah *verbs.AH
	var err error
	tn.do(func() { ah, err = x.pd.CreateAH(attr) })
	if err != nil {
		tn.t.Fatal(err)
	}
	return ah
}

func TestUDSendGRHAndQKey(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeUD})
	tn.udUp(a, 0x1111)
	tn.udUp(b, 0x2222)
	var bgid wire.GID
	tn.do(func() { bgid, _ = tn.hcas[1].GID(1, 0) })
	local := tn.ah(a, verbs.AHAttr{DLID: b.lid, PortNum: 1, SL: 0})
	global := tn.ah(a, verbs.AHAttr{DLID: b.lid, PortNum: 1, IsGlobal: true, GRH: verbs.GlobalRoute{DGID: bgid, HopLimit: 1}})
	postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, 2048+40)}, verbs.RecvWR{WRID: 2, SGL: sge(b, 4096, 2048+40)}, verbs.RecvWR{WRID: 3, SGL: sge(b, 8192, 100)})
	fill(a.buf[:2048], 5)
	postSend(t, a,
		verbs.SendWR{WRID: 10, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 2048), AH: local, RemoteQPN: b.qp.Num(), RemoteQKey: 0x2222},
		verbs.SendWR{WRID: 11, Opcode: verbs.WRSendImm, Imm: 42, Flags: verbs.SendSignaled, SGL: sge(a, 0, 1000), AH: global, RemoteQPN: b.qp.Num(), RemoteQKey: 0x2222},
		// Wrong Q_Key: dropped and counted.
		verbs.SendWR{WRID: 12, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 10), AH: local, RemoteQPN: b.qp.Num(), RemoteQKey: 0x3333},
	)
	for _, wc := range poll(t, a.cq, 3) {
		if wc.Status != verbs.WCSuccess {
			t.Fatalf("send %+v", wc)
		}
	}
	r := poll(t, b.rcq, 2)
	if r[0].WRID != 1 || r[0].ByteLen != 2048+40 || r[0].Flags != 0 || r[0].SrcQP != a.qp.Num() || r[0].SLID != a.lid {
		t.Fatalf("first datagram %+v", r[0])
	}
	mustEqual(t, "datagram", b.buf[40:40+2048], a.buf[:2048])
	if r[1].WRID != 2 || r[1].ByteLen != 1040 || r[1].Flags != verbs.WCFlagGRH|verbs.WCFlagWithImm || r[1].Imm != 42 {
		t.Fatalf("second datagram %+v", r[1])
	}
	g := wire.GRH(b.buf[4096 : 4096+40])
	if g.DGID() != bgid || g.NxtHdr() != wire.GRHNextHeaderIBA {
		t.Fatalf("grh in buffer: dgid %s", g.DGID())
	}
	tn.settle(time.Millisecond)
	if n := b.rcq.Len(); n != 0 {
		t.Fatalf("the datagram with the wrong q_key was delivered")
	}
	var qv uint64
	tn.do(func() { qv = tn.hcas[1].Node().Port(1).Counters.QKeyViolations.Load() })
	if qv != 1 || tn.engs[1].Stats().QKeyDropped.Load() != 1 {
		t.Fatalf("q_key violations %d", qv)
	}
	// A datagram larger than the MTU fails locally and the QP goes to SQE.
	postSend(t, a, verbs.SendWR{WRID: 13, Opcode: verbs.WRSend, SGL: sge(a, 0, 5000), AH: local, RemoteQPN: b.qp.Num(), RemoteQKey: 0x2222})
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCLocLenErr {
		t.Fatalf("oversized datagram %+v", wc)
	}
	if s := a.qp.State(); s != verbs.QPStateSQE {
		t.Fatalf("state %s, want SQE", s)
	}
	// SQE -> RTS recovers.
	tn.do(func() {
		if err := a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS}, verbs.AttrState); err != nil {
			t.Error(err)
		}
	})
}

type trapTap struct{ traps []uint16 }

func (c *trapTap) TapPacket(_ time.Time, _ *emu.Port, frame []byte) {
	f, err := agent.ParseFrame(frame)
	if err != nil || f.MAD.Method() != wire.MethodTrap {
		return
	}
	n := wire.Notice(wire.SMP(f.MAD).Data())
	c.traps = append(c.traps, n.TrapNumber())
}

func TestPKeyViolationDroppedCountedTrapped(t *testing.T) {
	tn := newNet(t, 3)
	tap := &trapTap{}
	tn.do(func() {
		tn.f.AddTap(tap)
		pa := tn.hcas[1].SMA().Port(1)
		pa.SetPKey(1, 0x8001)
		pa.MasterSMLID = 3 // the SM runs on h3
	})
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 10, 1, 7)
	tn.do(func() {
		// Move b to partition 0x8001 (index 1): a still sends with 0xffff.
		if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateError}, verbs.AttrState); err != nil {
			t.Fatal(err)
		}
		if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateReset}, verbs.AttrState); err != nil {
			t.Fatal(err)
		}
		if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, PKeyIndex: 1}, verbs.AttrState|verbs.AttrPort|verbs.AttrPKeyIndex|verbs.AttrAccessFlags); err != nil {
			t.Fatal(err)
		}
		if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTR, PathMTU: wire.MTU1024, DestQPNum: a.qp.Num(), RQPSN: 0x100, MaxDestRdAtomic: 1, AHAttr: verbs.AHAttr{DLID: a.lid}},
			verbs.AttrState|verbs.AttrAV|verbs.AttrPathMTU|verbs.AttrDestQPN|verbs.AttrRQPSN|verbs.AttrMaxDestRdAtomic|verbs.AttrMinRNRTimer); err != nil {
			t.Fatal(err)
		}
	})
	postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, 100)})
	postSend(t, a, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, SGL: sge(a, 0, 10)})
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCRetryExcErr {
		t.Fatalf("send into the wrong partition: %+v", wc)
	}
	var pv uint64
	tn.do(func() { pv = tn.hcas[1].Node().Port(1).Counters.PKeyViolations.Load() })
	if pv != 2 || b.rcq.Len() != 0 {
		t.Fatalf("p_key violations %d (want 2: the send and its retry), recv completions %d", pv, b.rcq.Len())
	}
	n257 := 0
	for _, tr := range tap.traps {
		if tr == wire.TrapBadPKey {
			n257++
		}
	}
	if n257 == 0 {
		t.Fatalf("no trap 257 seen (traps %v)", tap.traps)
	}
}

func TestMulticast(t *testing.T) {
	tn := newNet(t, 4)
	const mlid = wire.LID(0xC001)
	mgid := wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	tn.do(func() {
		for _, p := range []int{2, 3} {
			if err := tn.sw.SetMulticastPort(mlid, p, true); err != nil {
				t.Fatal(err)
			}
		}
	})
	eps := make([]*ep, 4)
	for i := range eps {
		eps[i] = tn.endpoint(i, epOpts{typ: verbs.QPTypeUD})
		tn.udUp(eps[i], 0x5555)
		postRecv(t, eps[i], verbs.RecvWR{WRID: 1, SGL: sge(eps[i], 0, 1000)})
	}
	tn.do(func() {
		for _, i := range []int{1, 2} {
			if err := eps[i].qp.AttachMcast(mgid, mlid); err != nil {
				t.Fatal(err)
			}
		}
		if err := eps[3].qp.AttachMcast(mgid, 0x12); !errors.Is(err, verbs.ErrInvalid) {
			t.Fatalf("attach to unicast lid: %v", err)
		}
	})
	ah := tn.ah(eps[0], verbs.AHAttr{DLID: mlid, PortNum: 1, IsGlobal: true, GRH: verbs.GlobalRoute{DGID: mgid}})
	fill(eps[0].buf[:500], 1)
	postSend(t, eps[0], verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, SGL: sge(eps[0], 0, 500), AH: ah, RemoteQPN: verbs.MulticastQPN, RemoteQKey: 0x5555})
	for _, i := range []int{1, 2} {
		wc := poll(t, eps[i].rcq, 1)[0]
		if wc.Status != verbs.WCSuccess || wc.ByteLen != 540 || wc.Flags&verbs.WCFlagGRH == 0 {
			t.Fatalf("member %d: %+v", i, wc)
		}
		mustEqual(t, "multicast payload", eps[i].buf[40:540], eps[0].buf[:500])
	}
	tn.settle(time.Millisecond)
	if eps[3].rcq.Len() != 0 {
		t.Fatal("a non-member received the datagram")
	}
}

func TestUC(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeUC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
	tn.connect(a, b, wire.MTU512, 0, 0, 0)
	fill(a.buf[:10000], 2)
	postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, 5000)}, verbs.RecvWR{WRID: 2, SGL: sge(b, 5000, 5000)})
	postSend(t, a,
		verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 3000)},
		verbs.SendWR{WRID: 2, Opcode: verbs.WRRDMAWriteImm, Imm: 9, Flags: verbs.SendSignaled, SGL: sge(a, 0, 2000), RemoteAddr: b.mr.Addr() + 20000, RKey: b.mr.RKey()},
	)
	poll(t, a.cq, 2)
	r := poll(t, b.rcq, 2)
	if r[0].ByteLen != 3000 || r[1].Opcode != verbs.WCRecvRDMAImm || r[1].Imm != 9 {
		t.Fatalf("uc completions %+v", r)
	}
	mustEqual(t, "uc send", b.buf[:3000], a.buf[:3000])
	mustEqual(t, "uc write", b.buf[20000:22000], a.buf[:2000])
	// A lost middle packet loses its message only; the receive WQE serves the next.
	tn.do(func() { tn.links[0].SetDropRate(1) })
	postSend(t, a, verbs.SendWR{WRID: 3, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 3000)})
	poll(t, a.cq, 1)
	tn.do(func() { tn.links[0].SetDropRate(0) })
	postRecv(t, b, verbs.RecvWR{WRID: 3, SGL: sge(b, 0, 5000)})
	postSend(t, a, verbs.SendWR{WRID: 4, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 100, 1500)})
	poll(t, a.cq, 1)
	if wc := poll(t, b.rcq, 1)[0]; wc.WRID != 3 || wc.ByteLen != 1500 {
		t.Fatalf("after a lost message: %+v", wc)
	}
	// Reads are not UC operations.
	if _, err := a.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRRDMARead, SGL: sge(a, 0, 8)}}); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("uc read: %v", err)
	}
}

func TestSRQAndLimit(t *testing.T) {
	tn := newNet(t, 3)
	var srq *verbs.SRQ
	x := tn.endpoint(2, epOpts{typ: verbs.QPTypeRC})
	tn.do(func() {
		var err error
		if srq, err = x.pd.CreateSRQ(verbs.SRQAttr{MaxWR: 16, MaxSGE: 2}); err != nil {
			t.Fatal(err)
		}
	})
	// Two receivers on h3 share the SRQ; they need x's PD for the SRQ.
	mk := func() *ep {
		y := &ep{e: x.e, pd: x.pd, mr: x.mr, buf: x.buf, lid: x.lid, cq: x.cq, rcq: x.rcq}
		tn.do(func() {
			var err error
			y.qp, err = x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, SRQ: srq, QPType: verbs.QPTypeRC,
				Cap: verbs.QPCap{MaxSendWR: 16, MaxSendSGE: 1}})
			if err != nil {
				t.Fatal(err)
			}
		})
		return y
	}
	r1, r2 := mk(), mk()
	s1 := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	s2 := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(s1, r1, wire.MTU1024, 14, 7, 7)
	tn.connect(s2, r2, wire.MTU1024, 14, 7, 7)
	if _, err := r1.qp.PostRecv([]verbs.RecvWR{{WRID: 1}}); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("post recv on an srq qp: %v", err)
	}
	wrs := make([]verbs.RecvWR, 6)
	for i := range wrs {
		wrs[i] = verbs.RecvWR{WRID: uint64(i), SGL: sge(x, i*1000, 1000)}
	}
	if n, err := srq.PostRecv(wrs); err != nil || n != 6 {
		t.Fatal(n, err)
	}
	if err := srq.Modify(verbs.SRQAttr{SRQLimit: 3}, verbs.SRQLimit); err != nil {
		t.Fatal(err)
	}
	postSend(t, s1, verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(s1, 0, 100)}, verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(s1, 0, 100)})
	postSend(t, s2, verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(s2, 0, 100)}, verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(s2, 0, 100)})
	got := poll(t, x.rcq, 4)
	qps := map[uint32]int{}
	for _, wc := range got {
		qps[wc.QPNum]++
	}
	if qps[r1.qp.Num()] != 2 || qps[r2.qp.Num()] != 2 {
		t.Fatalf("completions per qp %v", qps)
	}
	limit := 0
	tn.do(func() {
		for _, ev := range tn.events {
			if ev.Type == verbs.EventSRQLimitReached && ev.SRQ == srq {
				limit++
			}
		}
	})
	if limit != 1 {
		t.Fatalf("%d srq limit events, want 1", limit)
	}
	if a := srq.Query(); a.SRQLimit != 0 {
		t.Fatalf("limit still armed: %+v", a)
	}
}

func TestCQOverflowAndNotify(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, cqe: 4})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	notified := 0
	var ncq *verbs.CQ
	tn.do(func() {
		var err error
		ncq, err = b.e.CreateCQ(16, func(*verbs.CQ) { notified++ })
		if err != nil {
			t.Fatal(err)
		}
	})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	if err := ncq.ReqNotify(false); err != nil {
		t.Fatal(err)
	}
	if err := b.cq.ReqNotify(false); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("req notify without a channel: %v", err)
	}
	// cqe 4 gives 7 entries (ibv_create_cq rounds up): 9 completions
	// overflow it.
	wrs := make([]verbs.SendWR, a.cq.CQE()+2)
	for i := range wrs {
		wrs[i] = verbs.SendWR{WRID: uint64(i), Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
	}
	postSend(t, a, wrs...)
	deadline := time.Now().Add(10 * time.Second)
	for a.qp.State() != verbs.QPStateError {
		if time.Now().After(deadline) {
			t.Fatal("qp did not go to error after the cq overflowed")
		}
		time.Sleep(time.Millisecond)
	}
	if n := a.cq.Poll(make([]verbs.WC, 8)); n != -1 {
		t.Fatalf("poll of an overflowed cq returned %d", n)
	}
	var cqErr, fatal int
	tn.do(func() {
		for _, ev := range tn.events {
			switch {
			case ev.Type == verbs.EventCQErr && ev.CQ == a.cq:
				cqErr++
			case ev.Type == verbs.EventQPFatal && ev.QP == a.qp:
				fatal++
			}
		}
	})
	if cqErr != 1 || fatal != 1 {
		t.Fatalf("cq error events %d, qp fatal %d", cqErr, fatal)
	}
	_ = notified
}

func TestModifyQPValidation(t *testing.T) {
	tn := newNet(t, 2)
	rc := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	ud := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD})
	init := verbs.AttrState | verbs.AttrPKeyIndex | verbs.AttrPort | verbs.AttrAccessFlags
	cases := []struct {
		name string
		qp   *verbs.QP
		attr verbs.QPAttr
		mask verbs.AttrMask
	}{
		{"reset to rtr", rc.qp, verbs.QPAttr{QPState: verbs.QPStateRTR}, verbs.AttrState},
		{"init without port", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit}, verbs.AttrState | verbs.AttrPKeyIndex | verbs.AttrAccessFlags},
		{"init with qkey on rc", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1}, init | verbs.AttrQKey},
		{"ud init without qkey", ud.qp, verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1}, verbs.AttrState | verbs.AttrPKeyIndex | verbs.AttrPort},
		{"bad port", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 2}, init},
		{"bad pkey index", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, PKeyIndex: 500}, init},
		{"bad access", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, QPAccessFlags: 0x100}, init},
		{"cur state mismatch", rc.qp, verbs.QPAttr{QPState: verbs.QPStateInit, CurQPState: verbs.QPStateRTS, PortNum: 1}, init | verbs.AttrCurState},
		{"bad state", rc.qp, verbs.QPAttr{QPState: 9}, verbs.AttrState},
	}
	for _, c := range cases {
		var err error
		tn.do(func() { err = c.qp.Modify(&c.attr, c.mask) })
		if !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.qp.State() != verbs.QPStateReset {
			t.Fatalf("%s changed the state to %s", c.name, c.qp.State())
		}
	}
	// Now walk rc to RTR and try bad RTR/RTS attributes.
	tn.do(func() {
		if err := rc.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1}, init); err != nil {
			t.Fatal(err)
		}
	})
	rtr := verbs.AttrState | verbs.AttrAV | verbs.AttrPathMTU | verbs.AttrDestQPN | verbs.AttrRQPSN | verbs.AttrMaxDestRdAtomic | verbs.AttrMinRNRTimer
	good := verbs.QPAttr{QPState: verbs.QPStateRTR, PathMTU: wire.MTU2048, DestQPNum: 0x99, AHAttr: verbs.AHAttr{DLID: 2}, MaxDestRdAtomic: 4}
	bad := []struct {
		name string
		mod  func(*verbs.QPAttr)
		mask verbs.AttrMask
	}{
		{"mtu 0", func(a *verbs.QPAttr) { a.PathMTU = 0 }, rtr},
		{"mtu 6", func(a *verbs.QPAttr) { a.PathMTU = 6 }, rtr},
		{"no dlid", func(a *verbs.QPAttr) { a.AHAttr.DLID = 0 }, rtr},
		{"multicast dlid", func(a *verbs.QPAttr) { a.AHAttr.DLID = 0xC000; a.AHAttr.IsGlobal = true }, rtr},
		{"sl 16", func(a *verbs.QPAttr) { a.AHAttr.SL = 16 }, rtr},
		{"dest rd atomic 17", func(a *verbs.QPAttr) { a.MaxDestRdAtomic = 17 }, rtr},
		{"min rnr 32", func(a *verbs.QPAttr) { a.MinRNRTimer = 32 }, rtr},
		{"rq psn 25 bits", func(a *verbs.QPAttr) { a.RQPSN = 1 << 24 }, rtr},
		{"missing rq psn", func(a *verbs.QPAttr) {}, rtr &^ verbs.AttrRQPSN},
		{"sq psn not allowed", func(a *verbs.QPAttr) {}, rtr | verbs.AttrSQPSN},
		{"alt path", func(a *verbs.QPAttr) {}, rtr | verbs.AttrAltPath},
	}
	for _, c := range bad {
		a := good
		c.mod(&a)
		var err error
		tn.do(func() { err = rc.qp.Modify(&a, c.mask) })
		if !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	tn.do(func() {
		if err := rc.qp.Modify(&good, rtr); err != nil {
			t.Fatal(err)
		}
	})
	rts := verbs.AttrState | verbs.AttrSQPSN | verbs.AttrTimeout | verbs.AttrRetryCnt | verbs.AttrRNRRetry | verbs.AttrMaxQPRdAtomic
	for _, a := range []verbs.QPAttr{
		{QPState: verbs.QPStateRTS, Timeout: 32},
		{QPState: verbs.QPStateRTS, RetryCnt: 8},
		{QPState: verbs.QPStateRTS, RNRRetry: 8},
		{QPState: verbs.QPStateRTS, MaxRdAtomic: 17},
	} {
		var err error
		tn.do(func() { err = rc.qp.Modify(&a, rts) })
		if !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("rts %+v: %v", a, err)
		}
	}
	// Post send before RTS is refused; post recv in RTR is fine.
	if _, err := rc.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend}}); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("post send in RTR: %v", err)
	}
	postRecv(t, rc, verbs.RecvWR{WRID: 1})
	var err error
	tn.do(func() {
		err = rc.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS, Timeout: 14, RetryCnt: 7, RNRRetry: 7}, rts)
	})
	if err != nil {
		t.Fatal(err)
	}
	// RC cannot go SQE -> RTS, and RTS -> RTR is no transition.
	tn.do(func() { err = rc.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTR}, verbs.AttrState) })
	if !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("rts to rtr: %v", err)
	}
	var q verbs.QPAttr
	tn.do(func() { q = rc.qp.Query() })
	if q.QPState != verbs.QPStateRTS || q.PathMTU != wire.MTU2048 || q.DestQPNum != 0x99 || q.Timeout != 14 {
		t.Fatalf("query %+v", q)
	}
}

func TestPostValidation(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, caps: verbs.QPCap{MaxSendWR: 2, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1, MaxInlineData: 16}})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	ud := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	tn.udUp(ud, 1)
	bad := []verbs.SendWR{
		{Opcode: verbs.WRSend, SGL: []verbs.SGE{{}, {}}},
		{Opcode: verbs.WRSend, Flags: verbs.SendInline, SGL: sge(a, 0, 17)},
		{Opcode: verbs.WRSend, Flags: 0x80},
		{Opcode: 9},
		{Opcode: verbs.WRAtomicFetchAndAdd, SGL: sge(a, 0, 4)},
		{Opcode: verbs.WRAtomicCmpAndSwp, SGL: sge(a, 0, 8), RemoteAddr: 3},
	}
	for i, wr := range bad {
		if n, err := a.qp.PostSend([]verbs.SendWR{wr}); n != 0 || !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("bad wr %d: %d %v", i, n, err)
		}
	}
	if n, err := ud.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend}}); n != 0 || !errors.Is(err, verbs.ErrInvalid) {
		t.Errorf("ud without ah: %d %v", n, err)
	}
	if n, err := ud.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRRDMAWrite}}); n != 0 || !errors.Is(err, verbs.ErrInvalid) {
		t.Errorf("ud write: %d %v", n, err)
	}
	// The send queue holds 2: the third of a list is refused with its index.
	tn.do(func() { tn.links[0].SetCut(true) }) // keep them outstanding
	n, err := a.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend}, {Opcode: verbs.WRSend}, {Opcode: verbs.WRSend}})
	if n != 2 || !errors.Is(err, verbs.ErrNoMem) {
		t.Fatalf("full send queue: %d %v", n, err)
	}
	if n, err := a.qp.PostRecv([]verbs.RecvWR{{}, {}}); n != 1 || !errors.Is(err, verbs.ErrNoMem) {
		t.Fatalf("full receive queue: %d %v", n, err)
	}
	// Inline data is copied at post time.
	tn.do(func() { tn.links[0].SetCut(false) })
	// MR validation.
	tn.do(func() {
		if _, err := a.pd.RegMR(make([]byte, 10), verbs.AccessRemoteWrite); !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("remote write without local write: %v", err)
		}
		if err := a.pd.Dealloc(); !errors.Is(err, verbs.ErrBusy) {
			t.Errorf("dealloc of a busy pd: %v", err)
		}
		if err := a.cq.Destroy(); !errors.Is(err, verbs.ErrBusy) {
			t.Errorf("destroy of a busy cq: %v", err)
		}
		if _, err := a.e.CreateCQ(0, nil); !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("cq of 0 entries: %v", err)
		}
		if _, err := a.pd.CreateAH(verbs.AHAttr{DLID: 0, PortNum: 1}); !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("ah to lid 0: %v", err)
		}
	})
}

func TestInlineAndLocalProtection(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	copy(a.buf, "inline!")
	postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, 100)})
	postSend(t, a, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, Flags: verbs.SendInline | verbs.SendSignaled, SGL: []verbs.SGE{{Addr: a.mr.Addr(), Length: 7}}})
	copy(a.buf, "changed") // after post: the inline copy went
	poll(t, a.cq, 1)
	if wc := poll(t, b.rcq, 1)[0]; wc.ByteLen != 7 || string(b.buf[:7]) != "inline!" {
		t.Fatalf("inline: %+v %q", wc, b.buf[:7])
	}
	// A bad lkey fails with a local protection error.
	postSend(t, a, verbs.SendWR{WRID: 2, Opcode: verbs.WRSend, SGL: []verbs.SGE{{Addr: a.mr.Addr(), Length: 7, LKey: a.mr.LKey() + 1}}})
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCLocProtErr {
		t.Fatalf("bad lkey: %+v", wc)
	}
}

func TestSQDrainedEvent(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	postSend(t, a, verbs.SendWR{WRID: 1, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: sge(a, 0, 50000), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()})
	// Past the adapter's doorbell latency (hca.Timing.Doorbell): the
	// WRITE has started (and is still on the wire) when the QP enters SQD.
	tn.settle(2 * time.Microsecond)
	tn.do(func() {
		if err := a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateSQD, EnSQDAsyncNotify: true}, verbs.AttrState|verbs.AttrEnSQDAsyncNotify); err != nil {
			t.Fatal(err)
		}
	})
	poll(t, a.cq, 1)
	tn.settle(time.Millisecond)
	drained := 0
	tn.do(func() {
		for _, ev := range tn.events {
			if ev.Type == verbs.EventSQDrained && ev.QP == a.qp {
				drained++
			}
		}
	})
	if drained != 1 {
		t.Fatalf("%d sq drained events", drained)
	}
}
