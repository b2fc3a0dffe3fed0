package verbs

import (
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Congestion control of a CA (IBTA Vol 1 Annex A10.2.2, A10.3): what a
// ConnectX-3 or later HCA does with the FECN and BECN bits when a
// congestion control manager configured its CC agent (hca.Device.CC).
//
// # Destination
//
// A packet that arrives with FECN on a port whose CACongestionSetting
// enables the packet's SL (Control_Map bit SL set by the manager) is
// answered with a congestion notification to its source (A10.3.2):
//
//   - RC SEND and RDMA WRITE requests: the responder acknowledges the
//     packet at once, with BECN set in the ACK (the ACK it would
//     otherwise have coalesced), or in the NAK it answers with.
//   - RC READ and atomic requests, RC responses other than a plain ACK
//     (READ responses, atomic acknowledgements), UC and UD packets: a
//     congestion notification packet (CNP, BTH OpCode 0x80 with BECN set,
//     no payload) to the source QP: the connected QP's destination, or
//     the datagram's DETH source QP at its SLID.
//   - FECN on a plain RC ACK or on a CNP is ignored, as the Linux hfi1
//     driver (an IBTA CCA implementation) ignores it: nothing would carry
//     the notification back.
//
// # Source
//
// A BECN (on an ACK or any other packet, or a CNP) for a QP on a port and
// SL whose CACongestionSetting enables the SL raises the congestion
// control table index (CCTI) of the flow it belongs to by CCTI_Increase,
// up to the table's CCTI_Limit, and starts the flow's CCTI_Timer
// (1.024 µs units, on the fabric clock) if it is not running; each time
// the timer fires the CCTI drops by one while it is above CCTI_Min, and
// the timer runs again while it stays above. A flow is one QP when
// Port_Control bit 0 is 0 (QP-based) and the port's SL when it is 1
// (SL-based: every QP sending on that SL shares it). Each BECN that
// leaves the CCTI at or above the SL's Trigger_Threshold (when not 0)
// logs a CA CongestionLog event (the QP, its remote QP and LID, the SL
// and service type) with agent.CC.LogCAEvent, as the hfi1 driver and
// OpenSM's option file ("trigger threshold - when the ccti is equal to
// this, an event is logged") describe it.
//
// While a flow's CCTI is above 0 its requester spaces its packets: after
// a packet whose serialisation takes Tp, the next may start no earlier
// than Tp >> CCT_Shift x CCT_Multiplier after it has left (the inter
// packet delay of A10.3.1, with the entry CCT[CCTI]), so the flow's rate
// is Tp / (Tp + IPD) of the link's. A UC message's packets leave
// together and the delay after them covers them all. The requester
// measures Tp on its port's transmitter, which the engine models under
// the virtual clock only: under the wall clock no switch marks (there is
// no output queue, see switch/cc.go) and nothing is spaced.
//
// When no BECN ever arrived the engine keeps no state (Engine.cc is nil)
// and the packet path pays one predictable test per packet: the requester
// tests Engine.cc once per burst, the receiver the BTH's FECN/BECN byte.

// ccBits are FECN and BECN in BTH byte ccByte (IBTA Vol 1 §9.2, Annex
// A10): the receive path's one test.
const (
	ccByte = 4
	ccBits = 0xC0
)

// CA service types of a CongestionLog entry (IBTA Vol 1 Annex
// A10.4.3.5).
const (
	ccServiceRC = 0
	ccServiceUC = 1
	ccServiceUD = 3
)

// ccEngine is the source CA's congestion control state: the flows that
// received a BECN.
type ccEngine struct {
	qp      map[*QP]*ccFlow     // QP-based flows
	sl      map[ccSLKey]*ccFlow // SL-based flows
	sweepAt int                 // len(qp) at which the flows of destroyed QPs are dropped
}

type ccSLKey struct{ port, sl uint8 }

// ccFlow is one flow's CCTI, CCTI_Timer and the earliest time its next
// packet may start.
type ccFlow struct {
	e     *Engine
	qp    *QP // nil for an SL-based flow
	port  int
	sl    uint8
	ccti  uint16
	next  time.Duration // fabric Elapsed
	timer *emu.LoopTimer
}

// CCTI returns the congestion control table index of the flow qp's
// packets belong to (0 when no BECN raised it): the QP's own under
// QP-based congestion control, its port and SL's under SL-based. Call it
// on the event loop.
func (qp *QP) CCTI() uint16 {
	if f := qp.ccFlow(); f != nil {
		return f.ccti
	}
	return 0
}

// ccReceive handles the FECN and BECN bits of a packet for qp (the
// receive path calls it only when one is set). It reports false when the
// packet was a CNP, which nothing else handles.
func (e *Engine) ccReceive(p *emu.Port, qp *QP, pkt *wire.Packet) bool {
	op := pkt.BTH.OpCode()
	if pkt.BTH.BECN() {
		e.ccBECN(p, qp, pkt)
	}
	if op == wire.OpCNP || op == wire.OpRoCECNP {
		return false
	}
	if pkt.BTH.FECN() {
		return !e.ccFECN(p, qp, pkt, op)
	}
	return true
}

// ccEnabled reports whether the CC agent of port num enables sl
// (CACongestionSetting.Control_Map), and returns the SL's entry and the
// port's Port_Control.
func (e *Engine) ccEnabled(num int, sl uint8) (ent wire.CACongestionEntryFields, slBased, ok bool) {
	cc := e.dev.CC()
	if cc == nil {
		return ent, false, false
	}
	s := cc.CASetting(num)
	sl &= 0x0F
	if s.ControlMap&(1<<sl) == 0 {
		return ent, false, false
	}
	return s.Entries[sl], s.PortControl&wire.CAPortControlSLBased != 0, true
}

// ccFECN answers a packet that arrived with FECN (see the comment
// above). It reports whether it handed the packet to the responder
// itself (an RC SEND or WRITE, acknowledged at once with BECN).
func (e *Engine) ccFECN(p *emu.Port, qp *QP, pkt *wire.Packet, op wire.OpCode) bool {
	if _, _, ok := e.ccEnabled(p.Num(), pkt.LRH.SL()); !ok {
		return false
	}
	switch qp.typ {
	case QPTypeRC:
		switch low := uint8(op) & 0x1F; {
		case op == wire.OpRCAcknowledge:
			return false
		case op.Transport() != wire.TransportRC || pkt.LRH.SLID() != qp.attr.AHAttr.DLID:
			return false // not this connection's: the receive path drops it
		case !op.IsResponse() && low != opReadRequest && low != opCompareSwap && low != opFetchAdd:
			// The ACK that answers the request (a NAK, or the ACK asked
			// for) carries BECN; if the request got none, one goes now.
			qp.resp.becn = true
			qp.rcRequest(pkt)
			if qp.resp.becn && qp.attr.QPState >= QPStateRTR && qp.attr.QPState != QPStateError {
				qp.sendAck(qp.resp.epsn-1, qp.ackSyn())
			}
			qp.resp.becn = false
			return true
		}
		qp.sendCNP(&qp.attr.AHAttr, qp.attr.DestQPNum)
	case QPTypeUC:
		qp.sendCNP(&qp.attr.AHAttr, qp.attr.DestQPNum)
	case QPTypeUD:
		if pkt.DETH == nil {
			return false
		}
		av := AHAttr{DLID: pkt.LRH.SLID(), SL: pkt.LRH.SL() & 0x0F, SrcPathBits: uint8(pkt.LRH.DLID()),
			PortNum: uint8(p.Num())}
		if pkt.GRH != nil {
			av.IsGlobal = true
			av.GRH = GlobalRoute{DGID: pkt.GRH.SGID(), HopLimit: 0xFF}
		}
		qp.sendCNP(&av, pkt.DETH.SrcQP())
	}
	return false
}

// sendCNP sends a congestion notification packet (IBTA Vol 1 Annex
// A10.3.2: BTH OpCode CNP, BECN set) to QP dest at av.
func (qp *QP) sendCNP(av *AHAttr, dest uint32) {
	f := wire.DataFields{OpCode: wire.OpCNP, DestQP: dest & wire.QPNMask, BECN: true}
	qp.xmit(&f, av)
}

// ccBECN is the source's reaction to a BECN for qp (see the comment
// above).
func (e *Engine) ccBECN(p *emu.Port, qp *QP, pkt *wire.Packet) {
	num := p.Num()
	sl := pkt.LRH.SL() & 0x0F
	ent, slBased, ok := e.ccEnabled(num, sl)
	if !ok {
		return
	}
	cc := e.dev.CC()
	if e.cc == nil {
		e.cc = &ccEngine{qp: map[*QP]*ccFlow{}, sl: map[ccSLKey]*ccFlow{}}
	}
	var f *ccFlow
	if slBased {
		k := ccSLKey{uint8(num), sl}
		if f = e.cc.sl[k]; f == nil {
			f = e.newFlow(nil, num, sl)
			e.cc.sl[k] = f
		}
	} else if f = e.cc.qp[qp]; f == nil {
		if len(e.cc.qp) >= e.cc.sweepAt {
			e.cc.sweep()
		}
		f = e.newFlow(qp, num, sl)
		e.cc.qp[qp] = f
	}
	f.sl = sl
	f.ccti = min(f.ccti+uint16(ent.CCTIIncrease), cc.CCTILimit(num))
	if ent.CCTITimer != 0 && f.ccti > uint16(ent.CCTIMin) && !f.timer.Armed() {
		f.timer.Reset(time.Duration(ent.CCTITimer) * 1024 * time.Nanosecond)
	}
	if ent.TriggerThreshold != 0 && f.ccti >= uint16(ent.TriggerThreshold) {
		ev := wire.CongestionLogEventCAFields{LocalQP: qp.qpn, SL: sl, RemoteLID: pkt.LRH.SLID(),
			Timestamp: cc.TimeStamp(e.fab.Now())}
		if pa := e.dev.SMA().Port(num); pa != nil {
			ev.LocalLID = pa.LID
		}
		switch qp.typ {
		case QPTypeRC:
			ev.ServiceType, ev.RemoteQP = ccServiceRC, qp.attr.DestQPNum
		case QPTypeUC:
			ev.ServiceType, ev.RemoteQP = ccServiceUC, qp.attr.DestQPNum
		default:
			ev.ServiceType = ccServiceUD // a CNP does not name the remote QP
		}
		cc.LogCAEvent(num, ev)
	}
}

// sweep drops the flows of destroyed QPs (a flow whose CCTI_Timer runs
// drops itself when it next fires; one whose timer is off would stay).
func (c *ccEngine) sweep() {
	for qp, f := range c.qp {
		if qp.dead {
			f.timer.Stop()
			delete(c.qp, qp)
		}
	}
	c.sweepAt = 2*len(c.qp) + 16
}

func (e *Engine) newFlow(qp *QP, port int, sl uint8) *ccFlow {
	f := &ccFlow{e: e, qp: qp, port: port, sl: sl}
	f.timer = e.fab.NewLoopTimer(f.tick)
	return f
}

// tick is CCTI_Timer's expiry: the CCTI drops by one while above
// CCTI_Min, and the timer runs again while it stays above. A QP-based
// flow of a destroyed QP is forgotten.
func (f *ccFlow) tick() {
	e := f.e
	if f.qp != nil && f.qp.dead {
		delete(e.cc.qp, f.qp)
		return
	}
	cs := e.dev.CC().CASetting(f.port)
	ent := cs.Entries[f.sl]
	if f.ccti > uint16(ent.CCTIMin) {
		f.ccti--
	}
	if f.ccti > uint16(ent.CCTIMin) && ent.CCTITimer != 0 {
		f.timer.Reset(time.Duration(ent.CCTITimer) * 1024 * time.Nanosecond)
	}
}

// ccFlow returns the flow qp's next packet belongs to, nil when none was
// ever throttled.
func (qp *QP) ccFlow() *ccFlow {
	c := qp.e.cc
	if c == nil {
		return nil
	}
	if f := c.qp[qp]; f != nil {
		return f
	}
	if len(c.sl) == 0 {
		return nil
	}
	sl := qp.attr.AHAttr.SL
	if qp.typ == QPTypeUD {
		if qp.next >= len(qp.sq) || qp.sq[qp.next].wr.AH == nil {
			return nil
		}
		sl = qp.sq[qp.next].wr.AH.attr.SL
	}
	return c.sl[ccSLKey{qp.attr.PortNum, sl & 0x0F}]
}

// ccWait returns the flow qp's next packet belongs to (nil when none
// was throttled) and when that packet would start to leave the port
// (once its transmitter is free); wait is true when the packet must wait
// for the flow's inter packet delay first, and then ccWait has armed the
// timer that resumes the requester.
func (qp *QP) ccWait() (f *ccFlow, t0 time.Duration, wait bool) {
	if f = qp.ccFlow(); f == nil {
		return nil, 0, false
	}
	e := qp.e
	now := e.fab.Elapsed()
	if f.next > now {
		qp.paceTimer.Reset(f.next - now)
		return nil, 0, true
	}
	return f, max(e.txBusy[qp.attr.PortNum], now), false
}

// ccSent sets the earliest start of flow f's next packet after qp sent
// what started leaving its port at t0 (see the comment above).
func (qp *QP) ccSent(f *ccFlow, t0 time.Duration) {
	if f.ccti == 0 {
		return
	}
	e := qp.e
	busy := e.txBusy[qp.attr.PortNum]
	tp := busy - t0
	if tp <= 0 {
		return
	}
	ent, ok := e.dev.CC().CCTEntry(int(qp.attr.PortNum), int(f.ccti))
	if !ok {
		return
	}
	f.next = busy + (tp>>(ent.Shift&3))*time.Duration(ent.Multiplier)
}
