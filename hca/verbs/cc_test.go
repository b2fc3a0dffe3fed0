package verbs_test

import (
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/hca/verbs"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// newCCNet is n ConnectX-3 HCAs (LIDs 1..n) on one SwitchX-2 at 4x FDR,
// ports Active, on the virtual clock unless opts say otherwise: models
// with a congestion control agent (IBTA Vol 1 Annex A10).
func newCCNet(t testing.TB, n int, opts ...emu.Option) *testNet {
	return newCCNetWith(t, n, nil, opts...)
}

// newCCNetWith is newCCNet with mk, when not nil, between HCA 1 and the
// switch.
func newCCNetWith(t testing.TB, n int, mk *marker, opts ...emu.Option) *testNet {
	t.Helper()
	sp, ok := ibswitch.LookupProfile("SwitchX-2")
	if !ok {
		t.Fatal("no SwitchX-2 profile")
	}
	spec := netSpec{sw: &sp, hca: hca.ProfileConnectX3FDR1p}
	if mk != nil {
		spec.mid, spec.midNode = mk, &mk.node
	}
	return buildNet(t, n, spec, opts...)
}

// ccMAD sends one CC request (method, attribute, modifier, data written
// by fill) to agent cc through port p, as a manager's MAD reaches it,
// and returns the response's attribute data. Call it on the event loop.
func ccMAD(t testing.TB, cc *agent.CC, p *emu.Port, method wire.Method, attr wire.AttrID, mod uint32, fill func([]byte)) []byte {
	t.Helper()
	m := wire.CCMAD(make([]byte, wire.MADSize))
	m.Encode(&wire.CCMADFields{Method: method, TID: 0x1234, AttrID: attr, AttrMod: mod})
	if fill != nil {
		fill(m.AttrData(attr))
	}
	resp, ok := cc.Process(p, &agent.Addr{SLID: 1, DLID: 2}, wire.MAD(m))
	if !ok {
		t.Fatalf("cc %v: no answer", attr)
	}
	if st := resp.Status(); st != wire.MADStatusOK {
		t.Fatalf("cc %v: status %v", attr, st)
	}
	return wire.CCMAD(resp).AttrData(attr)
}

// ccConfig is what a congestion control manager sets, in the order
// OpenSM's CC manager sends it (switches, then CAs' settings and
// tables).
type ccConfig struct {
	sw   wire.SwitchCongestionSettingFields
	port *wire.SwitchPortCongestionSettingElementFields // every external port, when set
	ca   wire.CACongestionSettingFields
	cct  wire.CongestionControlTableFields
}

// defaultCC marks every packet past 4 KiB of queue (Threshold 15,
// Marking_Rate 0) and throttles QP by QP on SL 0: +1 per BECN, back by
// one every 5.12 µs (CCTI_Timer 5), logging from CCTI 2, CCT entry i a
// delay of i/4 packet times (shift 2, multiplier i).
func defaultCC() ccConfig {
	c := ccConfig{
		sw: wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 15},
		ca: wire.CACongestionSettingFields{PortControl: 0, ControlMap: 1},
	}
	c.ca.Entries[0] = wire.CACongestionEntryFields{CCTITimer: 5, CCTIIncrease: 1, TriggerThreshold: 2}
	c.cct.CCTILimit = 63
	for i := range c.cct.Entries {
		c.cct.Entries[i] = wire.CCTEntry{Shift: 2, Multiplier: uint16(i)}
	}
	return c
}

// configureCC sets c on the switch and every HCA through their agents.
func (tn *testNet) configureCC(c ccConfig) {
	tn.t.Helper()
	tn.do(func() {
		p0 := tn.sw.Node().Port(0)
		ccMAD(tn.t, tn.sw.CC(), p0, wire.MethodSet, wire.AttrSwitchCongestionSetting, 0, func(b []byte) {
			wire.SwitchCongestionSetting(b).Encode(&c.sw)
		})
		if c.port != nil {
			ccMAD(tn.t, tn.sw.CC(), p0, wire.MethodSet, wire.AttrSwitchPortCongestionSetting, 0, func(b []byte) {
				for i := 1; i < wire.SwitchPortCongestionBlockSize; i++ {
					wire.SwitchPortCongestionSetting(b).Element(i).Encode(c.port)
				}
			})
		}
		for _, d := range tn.hcas {
			p := d.Node().Port(1)
			ccMAD(tn.t, d.CC(), p, wire.MethodSet, wire.AttrCACongestionSetting, 0, func(b []byte) {
				wire.CACongestionSetting(b).Encode(&c.ca)
			})
			ccMAD(tn.t, d.CC(), p, wire.MethodSet, wire.AttrCongestionControlTable, 0, func(b []byte) {
				wire.CongestionControlTable(b).Encode(&c.cct)
			})
		}
	})
}

// incastResult is what an incast run measured.
type incastResult struct {
	elapsed   time.Duration // virtual time from the first post to the last completion
	peakQueue int           // bytes queued at the switch port toward the receiver, at most
	peakCCTI  uint16        // the senders' highest CCTI
	marked    uint64
	rcvFECN   uint64 // the receiver port's PortRcvFECN
	rcvBECN   uint64 // the senders' PortRcvBECN, summed
	swLog     wire.CongestionLogSwitchFields
	caEvents  int // CA CongestionLog entries of the senders
	caCounter uint16
	caMap     uint16
	xmitCong  uint64 // PortXmitTimeCong of the switch port toward the receiver
}

// incast runs senders RC QPs (HCAs 1..senders) that each RDMA WRITE msgs
// messages of size bytes to their own QP on the last HCA, all at once,
// and measures the switch's output queue toward the receiver every
// 200 ns of virtual time.
func incast(t *testing.T, tn *testNet, senders, msgs, size int) incastResult {
	t.Helper()
	recvIdx := len(tn.hcas) - 1
	var src, dst []*ep
	for i := range senders {
		x := tn.endpoint(i, epOpts{typ: verbs.QPTypeRC, bufLen: size})
		y := tn.endpoint(recvIdx, epOpts{typ: verbs.QPTypeRC, bufLen: size})
		tn.connect(x, y, wire.MTU4096, 18, 7, 7)
		src, dst = append(src, x), append(dst, y)
	}
	var r incastResult
	out := tn.sw.Node().Port(recvIdx + 1)
	done := make(chan struct{})
	var sample *emu.LoopTimer
	var start time.Duration
	// The sampler stops, and the run's time is taken, once every sender
	// has its completion. The test's goroutine polls only after that:
	// a completion it took earlier would hide from the sampler.
	sample = tn.f.NewLoopTimer(func() {
		r.peakQueue = max(r.peakQueue, out.Link().QueuedBytes(out))
		all := true
		for _, x := range src {
			r.peakCCTI = max(r.peakCCTI, x.qp.CCTI())
			all = all && x.cq.Len() > 0
		}
		if all {
			r.elapsed = tn.f.Elapsed() - start
			close(done)
			return
		}
		sample.Reset(200 * time.Nanosecond)
	})
	// The clock stands still while the senders post (as a host holds
	// it, emu.Fabric.Hold), so they start together.
	release := tn.f.Hold()
	tn.do(func() {
		start = tn.f.Elapsed()
		sample.Reset(0)
	})
	for i, x := range src {
		wrs := make([]verbs.SendWR, msgs)
		for k := range wrs {
			wrs[k] = verbs.SendWR{WRID: uint64(k), Opcode: verbs.WRRDMAWrite, SGL: sge(x, 0, size),
				RemoteAddr: dst[i].mr.Addr(), RKey: dst[i].mr.RKey()}
		}
		wrs[msgs-1].Flags = verbs.SendSignaled
		postSend(t, x, wrs...)
	}
	release()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the senders did not all complete within a minute")
	}
	for _, x := range src {
		if wc := poll(t, x.cq, 1); wc[0].Status != verbs.WCSuccess {
			t.Fatalf("write completion %v", wc[0].Status)
		}
	}
	tn.do(func() {
		sample.Stop()
		r.marked = tn.sw.CCStats().Marked
		r.rcvFECN = tn.hcas[recvIdx].Node().Port(1).Counters.Details().Optional().RcvFECN.Load()
		for i := range senders {
			r.rcvBECN += tn.hcas[i].Node().Port(1).Counters.Details().Optional().RcvBECN.Load()
		}
		r.xmitCong = out.Counters.Details().Optional().XmitTimeCong.Load()
		// CongestionLog, read as ibccquery reads it.
		log := wire.CongestionLog(ccMAD(t, tn.sw.CC(), tn.sw.Node().Port(0), wire.MethodGet, wire.AttrCongestionLog, 0, nil))
		r.swLog.LogEventsCounter = log.LogEventsCounter()
		copy(r.swLog.PortMap[:], log.PortMap())
		for i := range wire.CongestionLogSwitchEntries {
			if ev := log.SwitchEvent(i).Fields(); ev != (wire.CongestionLogEventSwitchFields{}) {
				r.swLog.Events = append(r.swLog.Events, ev)
			}
		}
		for i := range senders {
			log := wire.CongestionLog(ccMAD(t, tn.hcas[i].CC(), tn.hcas[i].Node().Port(1), wire.MethodGet, wire.AttrCongestionLog, 0, nil))
			r.caCounter += log.ThresholdEventCounter()
			r.caMap |= log.ThresholdCongestionEventMap()
			for k := range wire.CongestionLogCAEntries {
				if ev := log.CAEvent(k).Fields(); ev != (wire.CongestionLogEventCAFields{}) {
					r.caEvents++
					if ev.LocalQP != src[i].qp.Num() || ev.RemoteQP != dst[i].qp.Num() || ev.RemoteLID != wire.LID(recvIdx+1) ||
						ev.LocalLID != wire.LID(i+1) || ev.ServiceType != 0 || ev.SL != 0 {
						t.Errorf("sender %d: CA log entry %+v", i, ev)
					}
				}
			}
		}
	})
	return r
}

// TestCCIncast: three senders write to one receiver through one switch
// on the virtual clock. With congestion control configured through the
// agents the switch marks FECN once its output queue toward the receiver
// passes the threshold, the receiver answers with BECNs, the senders'
// CCTI rises and spaces their packets, and the queue stays far shorter
// than without; the CongestionLogs and the PMA's FECN/BECN and
// congestion-time counters record it. Without congestion control nothing
// is marked and the queue grows with the offered load.
func TestCCIncast(t *testing.T) {
	const senders, msgs, size = 3, 24, 64 << 10
	off := incast(t, newCCNet(t, senders+1), senders, msgs, size)
	tn := newCCNet(t, senders+1)
	tn.configureCC(defaultCC())
	on := incast(t, tn, senders, msgs, size)
	t.Logf("CC off: %+v", off)
	t.Logf("CC on:  elapsed %v peak queue %d peak CCTI %d marked %d FECN %d BECN %d switch log %d events (counter %d) CA log %d (counter %d map %#x) XmitTimeCong %d",
		on.elapsed, on.peakQueue, on.peakCCTI, on.marked, on.rcvFECN, on.rcvBECN, len(on.swLog.Events), on.swLog.LogEventsCounter,
		on.caEvents, on.caCounter, on.caMap, on.xmitCong)

	if off.marked != 0 || off.rcvFECN != 0 || off.rcvBECN != 0 || off.peakCCTI != 0 || len(off.swLog.Events) != 0 ||
		off.caEvents != 0 || off.xmitCong != 0 {
		t.Errorf("CC off: congestion control acted: %+v", off)
	}
	// Three links' worth into one: without CC the queue holds most of
	// what two senders offer beyond the receiver's link.
	if off.peakQueue < senders*msgs*size/4 {
		t.Errorf("CC off: peak queue %d bytes, want the incast's backlog (>= %d)", off.peakQueue, senders*msgs*size/4)
	}
	if on.marked == 0 || on.rcvFECN == 0 || on.rcvBECN == 0 {
		t.Fatalf("CC on: marked %d, receiver FECN %d, senders BECN %d: want all > 0", on.marked, on.rcvFECN, on.rcvBECN)
	}
	if on.rcvFECN != on.marked {
		t.Errorf("CC on: switch marked %d packets, receiver counted %d with FECN", on.marked, on.rcvFECN)
	}
	if on.peakCCTI < 2 {
		t.Errorf("CC on: senders' CCTI peaked at %d, want >= 2", on.peakCCTI)
	}
	if on.peakQueue*4 > off.peakQueue {
		t.Errorf("CC on: peak queue %d bytes, want under a quarter of CC off's %d", on.peakQueue, off.peakQueue)
	}
	// The receiver's link is the bottleneck either way: spacing the
	// senders costs little time.
	if on.elapsed > off.elapsed*5/4 {
		t.Errorf("CC on: took %v, CC off %v", on.elapsed, off.elapsed)
	}
	wantMap := [32]byte{}
	wantMap[31-(senders+1)/8] = 1 << ((senders + 1) % 8)
	if len(on.swLog.Events) == 0 || on.swLog.LogEventsCounter == 0 || on.swLog.PortMap != wantMap {
		t.Errorf("CC on: switch CongestionLog: %d events, counter %d, port map %x (want %x)",
			len(on.swLog.Events), on.swLog.LogEventsCounter, on.swLog.PortMap, wantMap)
	}
	for _, ev := range on.swLog.Events {
		if ev.DLID != wire.LID(senders+1) || ev.SLID < 1 || ev.SLID > senders || ev.SL != 0 || ev.Timestamp == 0 {
			t.Errorf("CC on: switch log entry %+v", ev)
		}
	}
	if on.caEvents == 0 || on.caCounter == 0 || on.caMap != 1 {
		t.Errorf("CC on: CA CongestionLogs: %d entries, counter %d, map %#x", on.caEvents, on.caCounter, on.caMap)
	}
	if on.xmitCong == 0 {
		t.Error("CC on: PortXmitTimeCong of the congested port is 0")
	}
}

// FuzzCCReceive feeds packets of any opcode with FECN and BECN set in
// any way, from any SLID and SL, to the QPs of a CA whose congestion
// control is configured: the destination and source paths of cc.go must
// never panic, whatever the packet.
func FuzzCCReceive(f *testing.F) {
	tn := newCCNet(f, 2)
	c := defaultCC()
	c.ca.ControlMap = 0xFFFF
	for sl := range c.ca.Entries {
		c.ca.Entries[sl] = wire.CACongestionEntryFields{CCTITimer: 3, CCTIIncrease: 5, TriggerThreshold: 1, CCTIMin: 1}
	}
	tn.configureCC(c)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU256, 0, 7, 7)
	x := tn.endpoint(0, epOpts{typ: verbs.QPTypeUC})
	y := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
	tn.connect(x, y, wire.MTU256, 0, 0, 0)
	ud := tn.endpoint(1, epOpts{typ: verbs.QPTypeUD})
	tn.udUp(ud, 0x42)
	f.Add(uint8(0x04), uint8(0xC0), uint8(0), uint8(0), []byte("hi"))
	f.Add(uint8(0x80), uint8(0x40), uint8(1), uint8(3), []byte{})
	f.Add(uint8(0x64), uint8(0x80), uint8(2), uint8(15), []byte("ud"))
	f.Add(uint8(0x11), uint8(0xC0), uint8(0), uint8(0), []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, op, ecn, dest, sl uint8, payload []byte) {
		qps := []*verbs.QP{b.qp, y.qp, ud.qp}
		pf := wire.PacketFields{
			LRH: wire.LRHFields{DLID: b.lid, SLID: wire.LID(1 + ecn&1), SL: sl & 0x0F},
			BTH: wire.BTHFields{OpCode: wire.OpCode(op), PKey: 0xffff, DestQP: qps[int(dest)%len(qps)].Num(),
				FECN: ecn&0x80 != 0, BECN: ecn&0x40 != 0, PSN: 0x100},
			Payload: payload,
		}
		ext := wire.OpCode(op).ExtHeaders()
		if ext.Has(wire.ExtRETH) {
			pf.RETH = &wire.RETHFields{VA: b.mr.Addr(), RKey: b.mr.RKey(), DMALen: uint32(len(payload))}
		}
		if ext.Has(wire.ExtAtomicETH) {
			pf.AtomicETH = &wire.AtomicETHFields{VA: b.mr.Addr(), RKey: b.mr.RKey()}
		}
		if ext.Has(wire.ExtAETH) {
			pf.AETH = &wire.AETHFields{}
		}
		if ext.Has(wire.ExtDETH) {
			pf.DETH = &wire.DETHFields{QKey: 0x42, SrcQP: uint32(dest)}
		}
		if ext.Has(wire.ExtAtomicAckETH) {
			pf.AtomicAckETH = &wire.AtomicAckETHFields{}
		}
		if ext.Has(wire.ExtImmDt) {
			v := uint32(7)
			pf.ImmDt = &v
		}
		if ext.Has(wire.ExtIETH) {
			v := uint32(7)
			pf.IETH = &v
		}
		frame, err := wire.AppendPacket(nil, &pf)
		if err != nil {
			return
		}
		pkt, err := wire.ParsePacket(frame)
		if err != nil || pkt.BTH == nil {
			return
		}
		if err := tn.f.Do(func() { tn.engs[1].HandleFrame(tn.hcas[1].Node().Port(1), &pkt) }); err != nil {
			t.Fatal(err)
		}
	})
}
