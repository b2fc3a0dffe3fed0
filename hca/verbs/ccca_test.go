package verbs_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// marker is a two-port middlebox between HCA 1 and the switch: it sets
// FECN on the first limit data packets HCA 1 sends, as a congested switch
// port would (resealing the VCRC), and records when each data packet
// from HCA 1 passed.
type marker struct {
	node   *emu.Node
	limit  int
	marked int
	times  []time.Duration
	ops    []wire.OpCode // of the packets towards HCA 1
}

func (m *marker) HandlePacket(p *emu.Port, frame []byte) {
	out := m.node.Port(3 - p.Num())
	lrh := wire.LRH(frame)
	if lrh.VL() != agent.VL15 && lrh.LNH() == wire.LNHIBALocal {
		bth := wire.BTH(frame[wire.LRHSize:])
		if p.Num() == 1 {
			m.times = append(m.times, m.node.Fabric().Elapsed())
			if m.marked < m.limit {
				m.marked++
				bth.SetFECN(true)
				wire.ResealVCRC(frame)
			}
		} else {
			m.ops = append(m.ops, bth.OpCode())
		}
	}
	out.Send(frame)
}

// clockHold advances a test's virtual time in steps: between steps the
// clock stands still (an Inbox holds it), so the test looks at the
// fabric at a known instant.
type clockHold struct {
	tn  *testNet
	box *emu.Inbox[struct{}]
}

func holdClock(tn *testNet) *clockHold {
	h := &clockHold{tn: tn, box: emu.NewInbox[struct{}](tn.f)}
	tn.t.Cleanup(h.box.Close)
	h.sleep(0)
	return h
}

// sleep lets exactly d of virtual time pass.
func (h *clockHold) sleep(d time.Duration) {
	h.tn.t.Helper()
	h.tn.do(func() { h.tn.f.Clock().AfterFunc(d, func() { h.box.Push(struct{}{}) }) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.box.Recv(ctx); err != nil {
		h.tn.t.Fatalf("fabric did not advance: %v", err)
	}
}

// caCC is a CA setting for SL 0 with a CCT whose entry i delays i
// packet times (shift 0, multiplier i), CCTI_Limit limit.
func caCC(portControl uint16, e wire.CACongestionEntryFields, limit uint16) ccConfig {
	c := ccConfig{ca: wire.CACongestionSettingFields{PortControl: portControl, ControlMap: 1}}
	c.ca.Entries[0] = e
	c.cct.CCTILimit = limit
	for i := range c.cct.Entries {
		c.cct.Entries[i] = wire.CCTEntry{Multiplier: uint16(i)}
	}
	return c
}

func (tn *testNet) ccti(x *ep) (v uint16) {
	tn.do(func() { v = x.qp.CCTI() })
	return v
}

func (tn *testNet) portDetails(i int) (fecn, becn uint64) {
	tn.do(func() {
		d := tn.hcas[i].Node().Port(1).Counters.Details()
		fecn, becn = d.Optional().RcvFECN.Load(), d.Optional().RcvBECN.Load()
	})
	return fecn, becn
}

// TestCCUDNotifiesAndThrottles: a UD datagram marked FECN on the way
// makes the destination send a CNP (BTH OpCode 0x80, BECN) to the
// source QP; the source raises its CCTI by CCTI_Increase, logs the
// Trigger_Threshold event and from then on spaces its datagrams by the
// CCT entry's delay: Tp x Multiplier >> Shift after each packet of
// serialisation time Tp. With CCTI_Timer 0 the CCTI stays.
func TestCCUDNotifiesAndThrottles(t *testing.T) {
	mk := &marker{limit: 1}
	tn := newCCNetWith(t, 2, mk)
	tn.configureCC(caCC(0, wire.CACongestionEntryFields{CCTIIncrease: 2, TriggerThreshold: 2}, 63))
	clk := holdClock(tn)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD, bufLen: 1 << 16})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeUD, bufLen: 1 << 16})
	tn.udUp(a, 0x77)
	tn.udUp(b, 0x77)
	ah := tn.ah(a, verbs.AHAttr{DLID: b.lid, PortNum: 1})
	const n, size = 6, 2048
	for i := range n {
		postRecv(t, b, verbs.RecvWR{WRID: uint64(i), SGL: sge(b, i*4096, size+40)})
	}
	send := func(k int) {
		wrs := make([]verbs.SendWR, k)
		for i := range wrs {
			wrs[i] = verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(a, 0, size), AH: ah, RemoteQPN: b.qp.Num(), RemoteQKey: 0x77,
				Flags: verbs.SendSignaled}
		}
		postSend(t, a, wrs...)
		clk.sleep(100 * time.Microsecond)
	}
	send(1)
	if fecn, _ := tn.portDetails(1); fecn != 1 {
		t.Fatalf("destination counted %d FECN, want 1", fecn)
	}
	if _, becn := tn.portDetails(0); becn != 1 {
		t.Fatalf("source counted %d BECN, want 1 (the CNP)", becn)
	}
	tn.do(func() {
		if len(mk.ops) != 1 || mk.ops[0] != wire.OpCNP {
			t.Errorf("towards the source: %v, want one CNP", mk.ops)
		}
	})
	if c := tn.ccti(a); c != 2 {
		t.Fatalf("source CCTI %d, want CCTI_Increase 2", c)
	}
	tn.do(func() {
		log := wire.CongestionLog(ccMAD(t, tn.hcas[0].CC(), tn.hcas[0].Node().Port(1), wire.MethodGet, wire.AttrCongestionLog, 0, nil))
		ev := log.CAEvent(0).Fields()
		if log.ThresholdEventCounter() != 1 || log.ThresholdCongestionEventMap() != 1 ||
			ev.LocalQP != a.qp.Num() || ev.SL != 0 || ev.ServiceType != 3 || ev.LocalLID != 1 || ev.RemoteLID != b.lid {
			t.Errorf("source CongestionLog: counter %d map %#x entry %+v", log.ThresholdEventCounter(), log.ThresholdCongestionEventMap(), ev)
		}
	})
	send(n - 1)
	poll(t, b.rcq, n)
	var tp time.Duration
	tn.do(func() {
		tp = tn.hcas[0].Node().Port(1).Link().SerialisationTime(wire.LRHSize + wire.BTHSize + 8 + size + 4 + 2)
	})
	tn.do(func() {
		if len(mk.times) != n {
			t.Fatalf("%d datagrams passed", len(mk.times))
		}
		for i := 2; i < n; i++ {
			// CCT[2] = multiplier 2, shift 0: 2 Tp of delay after each Tp.
			if gap := mk.times[i] - mk.times[i-1]; gap < 3*tp-2 || gap > 3*tp+2 {
				t.Errorf("datagram %d left %v after the one before, want 3 x %v", i, gap, tp)
			}
		}
	})
	if c := tn.ccti(a); c != 2 {
		t.Errorf("CCTI %d after the stream, want 2 (CCTI_Timer 0 never lowers it)", c)
	}
}

// TestCCTimerAndLimit: CCTI_Increase stops at CCTI_Limit, and each
// CCTI_Timer (1.024 µs units) lowers the CCTI by one down to CCTI_Min.
func TestCCTimerAndLimit(t *testing.T) {
	mk := &marker{limit: 1}
	tn := newCCNetWith(t, 2, mk)
	tn.configureCC(caCC(0, wire.CACongestionEntryFields{CCTITimer: 100, CCTIIncrease: 9, CCTIMin: 1}, 3))
	clk := holdClock(tn)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeUC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
	tn.connect(a, b, wire.MTU2048, 0, 0, 0)
	postSend(t, a, verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 64), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()})
	clk.sleep(5 * time.Microsecond)
	if c := tn.ccti(a); c != 3 {
		t.Fatalf("CCTI %d after one BECN, want CCTI_Limit 3", c)
	}
	tick := 100 * 1024 * time.Nanosecond
	for _, want := range []uint16{2, 1, 1} {
		clk.sleep(tick)
		if c := tn.ccti(a); c != want {
			t.Fatalf("CCTI %d, want %d", c, want)
		}
	}
	tn.do(func() {
		if len(mk.ops) != 1 || mk.ops[0] != wire.OpCNP {
			t.Errorf("towards the UC source: %v, want one CNP", mk.ops)
		}
	})
}

// TestCCRCAcknowledgesWithBECN: an RC WRITE's packets marked FECN are
// acknowledged at once with BECN set (no CNP), though the requester
// asked for one ACK only.
func TestCCRCAcknowledgesWithBECN(t *testing.T) {
	mk := &marker{limit: 4}
	tn := newCCNetWith(t, 2, mk)
	tn.configureCC(caCC(0, wire.CACongestionEntryFields{CCTIIncrease: 1}, 63))
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: 8 << 10})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: 8 << 10})
	tn.connect(a, b, wire.MTU1024, 18, 7, 7)
	fill(a.buf, 3)
	postSend(t, a, verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 8<<10), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey(),
		Flags: verbs.SendSignaled})
	if wc := poll(t, a.cq, 1); wc[0].Status != verbs.WCSuccess {
		t.Fatalf("write: %v", wc[0].Status)
	}
	mustEqual(t, "written data", b.buf, a.buf)
	if fecn, _ := tn.portDetails(1); fecn != 4 {
		t.Errorf("responder counted %d FECN, want 4", fecn)
	}
	if _, becn := tn.portDetails(0); becn != 4 {
		t.Errorf("requester counted %d BECN, want 4", becn)
	}
	tn.do(func() {
		for _, op := range mk.ops {
			if op != wire.OpRCAcknowledge {
				t.Errorf("towards the requester: %v, want ACKs only", op)
			}
		}
		if len(mk.ops) < 5 {
			t.Errorf("%d ACKs, want the 4 for the marked packets and the one requested", len(mk.ops))
		}
	})
	if c := tn.ccti(a); c != 4 {
		t.Errorf("requester CCTI %d, want 4", c)
	}
}

// TestCCSLBased: with Port_Control SL-based every QP sending on the SL
// shares one CCTI; QP-based, only the QP that got the BECN is throttled.
// A destination whose Control_Map leaves the SL out answers no FECN.
func TestCCSLBased(t *testing.T) {
	for _, tc := range []struct {
		name        string
		portControl uint16
		destMap     uint16
		want        [2]uint16
	}{
		{"SL", wire.CAPortControlSLBased, 1, [2]uint16{3, 3}},
		{"QP", 0, 1, [2]uint16{3, 0}},
		{"DestinationOff", 0, 0, [2]uint16{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mk := &marker{limit: 1}
			tn := newCCNetWith(t, 2, mk)
			tn.configureCC(caCC(tc.portControl, wire.CACongestionEntryFields{CCTIIncrease: 3}, 63))
			if tc.destMap != 1 {
				tn.do(func() {
					ccMAD(t, tn.hcas[1].CC(), tn.hcas[1].Node().Port(1), wire.MethodSet, wire.AttrCACongestionSetting, 0, func(b []byte) {
						wire.CACongestionSetting(b).Encode(&wire.CACongestionSettingFields{ControlMap: tc.destMap})
					})
				})
			}
			clk := holdClock(tn)
			var src [2]*ep
			for i := range src {
				src[i] = tn.endpoint(0, epOpts{typ: verbs.QPTypeUC})
				dst := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
				tn.connect(src[i], dst, wire.MTU2048, 0, 0, 0)
				if i == 0 {
					postSend(t, src[0], verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(src[0], 0, 64), RemoteAddr: dst.mr.Addr(), RKey: dst.mr.RKey()})
					clk.sleep(10 * time.Microsecond)
				}
			}
			for i, x := range src {
				if c := tn.ccti(x); c != tc.want[i] {
					t.Errorf("QP %d: CCTI %d, want %d", i, c, tc.want[i])
				}
			}
		})
	}
}
