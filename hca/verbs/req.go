package verbs

import (
	"math/bits"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// route is what the addressing of a packet takes from the port's SMA
// state and the address vector: the egress port, SL, VL, SLID and P_Key,
// and whether the DLID is the port's own (loopback).
type route struct {
	valid bool
	p     *emu.Port
	sl    uint8
	vl    uint8
	slid  wire.LID
	pkey  uint16
	local bool
}

// routeOf computes the route of a packet the QP sends to av; false when
// the QP's port does not exist.
func (qp *QP) routeOf(av *AHAttr) (route, bool) {
	e := qp.e
	pnum := int(qp.attr.PortNum)
	p := e.port(pnum)
	pa := e.dev.SMA().Port(pnum)
	if p == nil || pa == nil {
		return route{}, false
	}
	rt := route{valid: true, p: p, sl: av.SL & 0x0F, local: pa.OwnsLID(av.DLID)}
	if pa.NumSLtoVLRows() > 0 {
		rt.vl = pa.SLtoVL(0, int(rt.sl)) & 0x0F
	}
	rt.slid = pa.LID | wire.LID(av.SrcPathBits&(1<<pa.LMC-1))
	if int(qp.attr.PKeyIndex) < pa.NumPKeys() {
		rt.pkey = uint16(pa.PKey(int(qp.attr.PKeyIndex)))
	}
	return rt, true
}

// xmit completes f with the addressing of av and the QP's P_Key, builds
// the frame (LRH, GRH when av is global, BTH, the opcode's extended
// headers, payload, ICRC and VCRC slots; the fabric seals it when it is
// first observed) and sends it out of the QP's port (or loops it back
// when av names the port itself). It returns the frame's length on the
// wire.
//
// While progress sends a burst, the route to the QP's own address vector
// is computed for the first packet and kept for the rest (qp.rt): nothing
// that runs between them can change the port's SMA state or the QP's
// attributes, since sending never delivers a data packet synchronously.
func (qp *QP) xmit(f *wire.DataFields, av *AHAttr) int {
	e := qp.e
	var rt route
	own := av == &qp.attr.AHAttr
	if own && qp.rt.valid {
		rt = qp.rt
	} else {
		var ok bool
		if rt, ok = qp.routeOf(av); !ok {
			return 0
		}
		if own && qp.burst {
			qp.rt = rt
		}
	}
	p := rt.p
	f.SL, f.VL, f.DLID, f.SLID, f.PKey = rt.sl, rt.vl, av.DLID, rt.slid, rt.pkey
	if av.IsGlobal {
		sgid, _ := e.dev.GID(p.Num(), int(av.GRH.SGIDIndex))
		f.GRH = &wire.GRHFields{TClass: av.GRH.TrafficClass, FlowLabel: av.GRH.FlowLabel, HopLmt: av.GRH.HopLimit,
			SGID: sgid, DGID: av.GRH.DGID}
	}
	frame, err := wire.AppendDataUnsealed(e.getFrame(f.HeaderLen()), f)
	if err != nil {
		e.stats.Malformed.Add(1)
		return 0
	}
	e.stats.SentPackets.Add(1)
	n := len(frame)
	if rt.local {
		e.fab.Post(func() {
			if pkt, err := wire.ParsePacket(frame); err == nil {
				e.HandleFrame(p, &pkt)
			}
		})
		return 0
	}
	if e.fab.Virtual() {
		// The port's transmitter is busy until the frame has left at the
		// link's width and speed (the link serialises it the same way).
		pnum := p.Num()
		start := max(e.txBusy[pnum], e.fab.Elapsed())
		e.txBusy[pnum] = start + serialisation(p, n)
	}
	p.SendUnsealed(frame)
	return n
}

// serialisation is the time n bytes take to leave port p at its active
// width and speed (0 when the link is down).
func serialisation(p *emu.Port, n int) time.Duration {
	if l := p.Link(); l != nil && p.IsUp() {
		return l.SerialisationTime(n)
	}
	return 0
}

// txWait reports whether an RC requester must wait for its port's
// transmitter before it builds the next packet, and if so arms the timer
// that resumes it when the transmitter is free. Under the virtual clock a
// requester streams its packets at the link's rate, as an adapter's send
// engine does, rather than queueing its whole window at one instant: the
// frames arrive at the same times (the link serialises them either way),
// but each is built shortly before it leaves, so the window's frames do
// not all sit in memory at once, and acknowledgements that arrive
// meanwhile act on what is still to be sent.
//
// The requester fills the transmitter up to txAhead of work and then
// waits until it has drained: one wake-up per txAhead of serialisation
// rather than one per packet (which, for small messages, was a third of
// the loop's events). The link starts each frame when the previous one
// has left, so the arrival times are those of a requester fed packet by
// packet.
func (qp *QP) txWait() bool {
	e := qp.e
	if !e.fab.Virtual() {
		return false
	}
	now := e.fab.Elapsed()
	busy := e.txBusy[qp.attr.PortNum]
	if busy-now <= txAhead {
		return false
	}
	qp.paceTimer.Reset(busy - now)
	return true
}

// txAhead is how much serialisation time an RC requester queues ahead of
// its port's transmitter under the virtual clock (see txWait): eight
// 4 KiB packets at 4x QDR (32 KiB of frames per port), and more small
// ones than the send window holds.
const txAhead = 8 * time.Microsecond

// txDone completes a UC or UD message once its packets (nbytes on the
// wire) have left the port: at once under the wall clock; under the
// virtual clock after the port's serialisation time at its width and
// speed, as an adapter reports a send complete after transmission.
func (qp *QP) txDone(w *sendWQE, nbytes int) {
	e := qp.e
	w.done = true
	qp.next++
	pnum := int(qp.attr.PortNum)
	p := e.port(pnum)
	if !e.fab.Virtual() || p == nil || p.Width() == 0 || nbytes == 0 {
		qp.retireSent()
		return
	}
	// xmit advanced the port's busy time by each packet of the message.
	now := e.fab.Elapsed()
	w.doneAt = max(now, e.txBusy[pnum])
	if !qp.txTimer.Armed() {
		qp.txTimer.Reset(w.doneAt - now)
	}
}

// retireSent retires the UC/UD WQEs whose packets have left, in order.
func (qp *QP) retireSent() {
	now := qp.e.fab.Elapsed()
	for len(qp.sq) > 0 && qp.sq[0].done && qp.sq[0].doneAt <= now {
		qp.retire(qp.sq[0])
	}
	if len(qp.sq) > 0 && qp.sq[0].done {
		qp.txTimer.Reset(qp.sq[0].doneAt - now)
	}
	qp.publishRetired()
	qp.checkDrained()
}

// ring runs the requester after the host rang the doorbell.
func (qp *QP) ring() {
	if qp.dead {
		return
	}
	if qp.e.latOn {
		n := len(qp.sq)
		qp.take(false)
		qp.stampDoorbell(qp.sq[n:])
	} else {
		qp.take(false)
	}
	qp.progress()
}

// stampDoorbell records when the WQEs a doorbell just handed to the
// requester may start under the adapter's doorbell latency (hca.Timing,
// virtual clock only): InlineDoorbell from now for an inline WQE, which
// the host writes with the doorbell, Doorbell for one the adapter must
// fetch. The instant is kept in the WQE's bellAt, which resetState
// clears. sendBurst does not start a WQE before it, and
// a WQE behind it waits behind it (the send queue is processed in
// order); the WQEs of a stream of posts all wait the same time, so the
// delay is latency and the transmitter still runs at the link rate.
func (qp *QP) stampDoorbell(ws []*sendWQE) {
	e := qp.e
	now := e.fab.Elapsed()
	for _, w := range ws {
		d := e.lat.Doorbell
		if w.isInline() {
			d = e.lat.InlineDoorbell
		}
		w.bellAt = now + d
	}
}

// progress sends what the send queue and the window allow, as one burst
// (see xmit): the route is computed once for all its packets.
func (qp *QP) progress() {
	was := qp.burst
	qp.burst, qp.rt.valid = true, false
	qp.sendBurst()
	qp.burst, qp.rt.valid = was, false
	qp.publishRetired() // what the ACK that led here retired
}

func (qp *QP) sendBurst() {
	switch qp.attr.QPState {
	case QPStateError, QPStateSQE:
		qp.flush()
		return
	case QPStateRTS, QPStateSQD:
	default:
		return
	}
	if qp.rnrWait {
		return
	}
	cc := qp.e.cc != nil // congestion control throttles some flow (cc.go)
	for qp.next < len(qp.sq) {
		w := qp.sq[qp.next]
		if qp.attr.QPState == QPStateSQD && !w.started {
			break
		}
		if qp.e.latOn && !w.started {
			// The doorbell latency (stampDoorbell): the paceTimer runs
			// progress again when the WQE may start.
			if now := qp.e.fab.Elapsed(); w.bellAt > now {
				qp.paceTimer.Reset(w.bellAt - now)
				break
			}
		}
		if qp.typ == QPTypeRC && qp.txWait() {
			break
		}
		var ccf *ccFlow
		var t0 time.Duration
		if cc {
			var wait bool
			if ccf, t0, wait = qp.ccWait(); wait {
				break
			}
		}
		var ok bool
		switch qp.typ {
		case QPTypeRC:
			ok = qp.rcSendOne(w)
		case QPTypeUC:
			ok = qp.ucSend(w)
		default:
			ok = qp.udSend(w)
		}
		if !ok {
			if qp.typ == QPTypeRC {
				qp.pokeAck()
			}
			break
		}
		if ccf != nil {
			qp.ccSent(ccf, t0)
		}
		if s := qp.attr.QPState; s != QPStateRTS && s != QPStateSQD {
			if s == QPStateError || s == QPStateSQE {
				qp.flush()
			}
			return
		}
	}
	qp.checkDrained()
}

// pokeAck runs when the requester must wait (window, credits, fence,
// max_rd_atomic) with packets outstanding: if the last one went without
// AckReq, nothing would make the responder answer before the local ACK
// timeout, so it is sent again asking for an ACK (a retransmission the
// responder answers as a duplicate).
func (qp *QP) pokeAck() {
	last := (qp.sndMax - 1) & wire.PSNMask
	if qp.unacked == qp.sndMax || qp.psn != qp.sndMax || qp.ackPSN == last || qp.next >= len(qp.sq) {
		return
	}
	qp.goBack(last)
	if qp.next >= len(qp.sq) {
		return
	}
	qp.forceAck = true
	qp.rcSendOne(qp.sq[qp.next])
	qp.forceAck = false
}

// rdOutstanding counts READ and atomic WQEs started and not yet retired:
// each holds one of max_rd_atomic's slots until it completes in order, so
// the responder never has to replay more than max_dest_rd_atomic of them.
// With pending, only those still waiting for their response count (the
// fence).
func (qp *QP) rdOutstanding(pending bool) int {
	n := 0
	for _, w := range qp.sq {
		if !w.started {
			break
		}
		if w.needsResponse() && (!pending || !w.done) {
			n++
		}
	}
	return n
}

// checkLocal validates a WQE's local SGL against the QP's PD.
func (qp *QP) checkLocal(w *sendWQE) bool {
	if w.isInline() {
		return true
	}
	var need Access
	if w.needsResponse() {
		need = AccessLocalWrite
	}
	for _, s := range w.wr.SGL {
		if s.Length == 0 {
			continue
		}
		_, mr, ok := qp.e.lookupMR(s.LKey, qp.pd, s.Addr, uint64(s.Length), need)
		if !ok {
			return false
		}
		if len(w.wr.SGL) == 1 {
			w.mr = mr
		}
	}
	return true
}

// gather returns n bytes of w's message from offset off, or false when a
// local key no longer resolves.
func (qp *QP) gather(w *sendWQE, off, n uint64) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if w.isInline() {
		return w.inline[off : off+n], true
	}
	sgl := w.wr.SGL
	if len(sgl) == 1 {
		if mr := w.mr; mr != nil && !mr.dead {
			return mr.slice(sgl[0].Addr+off, n)
		}
		return qp.e.lookup(sgl[0].LKey, qp.pd, sgl[0].Addr+off, n, 0)
	}
	buf := qp.e.scratch[:0]
	for _, s := range sgl {
		l := uint64(s.Length)
		if off >= l {
			off -= l
			continue
		}
		take := min(l-off, n-uint64(len(buf)))
		b, ok := qp.e.lookup(s.LKey, qp.pd, s.Addr+off, take, 0)
		if !ok {
			return nil, false
		}
		buf = append(buf, b...)
		off = 0
		if uint64(len(buf)) == n {
			break
		}
	}
	qp.e.scratch = buf
	return buf, uint64(len(buf)) == n
}

// scatter writes data at offset off of a local SGL (READ responses,
// receive WQEs); it reports false on a protection error or overflow.
func (qp *QP) scatter(sgl []SGE, off uint64, data []byte) bool {
	for _, s := range sgl {
		if len(data) == 0 {
			return true
		}
		l := uint64(s.Length)
		if off >= l {
			off -= l
			continue
		}
		take := min(l-off, uint64(len(data)))
		b, ok := qp.e.lookup(s.LKey, qp.pd, s.Addr+off, take, AccessLocalWrite)
		if !ok {
			return false
		}
		copy(b, data[:take])
		data = data[take:]
		off = 0
	}
	return len(data) == 0
}

func sglLen(sgl []SGE) uint64 {
	var n uint64
	for _, s := range sgl {
		n += uint64(s.Length)
	}
	return n
}

// start prepares a WQE for its first transmission: local checks, PSN
// range. It reports false when the WQE failed (the QP is then in error).
func (qp *QP) start(w *sendWQE, mtu int) bool {
	if !qp.checkLocal(w) {
		w.status = WCLocProtErr
		qp.toErrorOrSQE()
		return false
	}
	w.started = true
	w.length = w.msgLen()
	w.firstPSN = qp.psn
	switch {
	case w.wr.Opcode.isAtomic():
		w.npkts = 1
	default:
		// mtu is a power of two (IBTA Vol 1 §7.7.8): a shift, not a division.
		w.npkts = uint32(max(1, (w.length+uint64(mtu)-1)>>bits.TrailingZeros(uint(mtu))))
	}
	return true
}

func (qp *QP) toErrorOrSQE() {
	if qp.typ == QPTypeRC {
		qp.toError()
		return
	}
	qp.setState(QPStateSQE)
	qp.stopTimers()
	qp.flush()
}

// rcSendOne sends the next packet of w on an RC QP; false means the
// window, a fence or max_rd_atomic holds it back.
func (qp *QP) rcSendOne(w *sendWQE) bool {
	mtu := qp.mtu()
	if !w.started {
		if w.needsResponse() && qp.rdOutstanding(false) >= max(1, int(qp.attr.MaxRdAtomic)) {
			return false
		}
		if w.wr.Flags&SendFence != 0 && qp.rdOutstanding(true) > 0 {
			return false
		}
		if psnDiff(qp.psn, qp.unacked) >= maxInflight {
			return false
		}
		if w.consumesRecv() && !qp.creditOK() {
			return false
		}
		if !qp.start(w, mtu) {
			return false
		}
		qp.ssn = (qp.ssn + 1) & wire.PSNMask
		w.msn = qp.ssn
		if w.consumesRecv() {
			qp.addConsumer(w.msn)
		}
	}
	if w.needsResponse() && w.done {
		// Answered already; a go-back-N pass skips it.
		w.sent = w.npkts
		qp.psn = (w.lastPSN() + 1) & wire.PSNMask
		qp.next++
		return true
	}
	if psnDiff(qp.psn, qp.unacked) >= maxInflight {
		return false
	}
	av := &qp.attr.AHAttr
	f := wire.DataFields{DestQP: qp.attr.DestQPNum}
	switch op := w.wr.Opcode; {
	case op == WRRDMARead:
		off := uint64(w.rdpkts) * uint64(mtu)
		psn := (w.firstPSN + w.rdpkts) & wire.PSNMask
		f.OpCode, f.PSN, f.AckReq = wire.OpRCRDMAReadRequest, psn, true
		qp.ackPSN = w.lastPSN() // the responses answer for the whole range
		f.RETH = wire.RETHFields{VA: w.wr.RemoteAddr + off, RKey: w.wr.RKey, DMALen: uint32(w.length - off)}
		qp.xmit(&f, av)
		w.sent = w.npkts
		qp.psn = (w.lastPSN() + 1) & wire.PSNMask
		qp.next++
		qp.noAck = 0
	case op.isAtomic():
		f.OpCode, f.PSN, f.AckReq = wire.OpRCFetchAdd, w.firstPSN, true
		qp.ackPSN = w.firstPSN
		a := wire.AtomicETHFields{VA: w.wr.RemoteAddr, RKey: w.wr.RKey, SwapAdd: w.wr.CompareAdd}
		if op == WRAtomicCmpAndSwp {
			f.OpCode = wire.OpRCCompareSwap
			a.SwapAdd, a.Compare = w.wr.Swap, w.wr.CompareAdd
		}
		f.AtomicETH = a
		qp.xmit(&f, av)
		w.sent = 1
		qp.psn = (w.firstPSN + 1) & wire.PSNMask
		qp.next++
		qp.noAck = 0
	default:
		k := w.sent
		off := uint64(k) * uint64(mtu)
		n := min(uint64(mtu), w.length-off)
		payload, ok := qp.gather(w, off, n)
		if !ok {
			w.status = WCLocProtErr
			qp.toError()
			return false
		}
		first, last := k == 0, k == w.npkts-1
		f.OpCode = rcOpcode(op, first, last)
		f.PSN = (w.firstPSN + k) & wire.PSNMask
		f.Payload = payload
		if last && op.hasImm() {
			f.ImmDt = w.wr.Imm
		}
		if first && op.isWrite() {
			f.RETH = wire.RETHFields{VA: w.wr.RemoteAddr, RKey: w.wr.RKey, DMALen: uint32(w.length)}
		}
		if last && w.wr.Flags&SendSolicited != 0 && (op.isSend() || op == WRRDMAWriteImm) {
			f.SE = true
		}
		qp.noAck++
		if qp.noAck >= ackEvery || (last && qp.next+1 == len(qp.sq)) || psnDiff(f.PSN+1, qp.unacked) >= maxInflight ||
			last && w.consumesRecv() && qp.credits >= 0 && qp.creditsUsed() >= qp.credits || qp.forceAck {
			f.AckReq = true
			qp.noAck = 0
			qp.ackPSN = f.PSN
		}
		qp.xmit(&f, av)
		w.sent++
		qp.psn = (f.PSN + 1) & wire.PSNMask
		if last {
			qp.next++
		}
	}
	if psnDiff(qp.psn, qp.sndMax) > 0 {
		qp.sndMax = qp.psn
	}
	qp.armTimer()
	return true
}

// creditsUsed counts the started messages that take a receive WQE and
// that the responder has not yet reported complete. Those reported are
// dropped from the front of consumers by advancing consHead, so the call
// costs nothing per message still outstanding.
func (qp *QP) creditsUsed() int {
	k := qp.consHead
	for k < len(qp.consumers) && psnDiff(qp.consumers[k], qp.creditMSN) <= 0 {
		k++
	}
	if k == len(qp.consumers) {
		qp.consumers, k = qp.consumers[:0], 0
	}
	qp.consHead = k
	return len(qp.consumers) - k
}

// addConsumer records a started message that takes a receive WQE; the
// entries already reported move to the front only when the array is
// full.
func (qp *QP) addConsumer(msn uint32) {
	if qp.consHead > 0 && len(qp.consumers) == cap(qp.consumers) {
		n := copy(qp.consumers, qp.consumers[qp.consHead:])
		qp.consumers, qp.consHead = qp.consumers[:n], 0
	}
	qp.consumers = append(qp.consumers, msn)
}

// creditOK reports whether one more message may take a receive WQE: the
// responder advertised a free one, or none is outstanding (the single
// message IBTA Vol 1 §9.7.7.2.5 lets a requester without credits send).
func (qp *QP) creditOK() bool {
	if qp.credits < 0 {
		return true
	}
	n := qp.creditsUsed()
	return n == 0 || n < qp.credits
}

// rcOpcode returns the RC opcode for a packet of a SEND or RDMA WRITE;
// UC opcodes are the same operations with transport bits 001.
func rcOpcode(op WROpcode, first, last bool) wire.OpCode {
	imm := op.hasImm()
	if op.isSend() {
		switch {
		case first && last && imm:
			return wire.OpRCSendOnlyImm
		case first && last:
			return wire.OpRCSendOnly
		case first:
			return wire.OpRCSendFirst
		case last && imm:
			return wire.OpRCSendLastImm
		case last:
			return wire.OpRCSendLast
		}
		return wire.OpRCSendMiddle
	}
	switch {
	case first && last && imm:
		return wire.OpRCRDMAWriteOnlyImm
	case first && last:
		return wire.OpRCRDMAWriteOnly
	case first:
		return wire.OpRCRDMAWriteFirst
	case last && imm:
		return wire.OpRCRDMAWriteLastImm
	case last:
		return wire.OpRCRDMAWriteLast
	}
	return wire.OpRCRDMAWriteMiddle
}

// ucSend sends a whole message on a UC QP and completes it: UC has no
// acknowledgements (IBTA Vol 1 §9.8.2).
func (qp *QP) ucSend(w *sendWQE) bool {
	mtu := qp.mtu()
	if !qp.start(w, mtu) {
		return false
	}
	av := &qp.attr.AHAttr
	nbytes := 0
	for k := uint32(0); k < w.npkts; k++ {
		off := uint64(k) * uint64(mtu)
		n := min(uint64(mtu), w.length-off)
		payload, ok := qp.gather(w, off, n)
		if !ok {
			w.status = WCLocProtErr
			qp.toErrorOrSQE()
			return false
		}
		first, last := k == 0, k == w.npkts-1
		f := wire.DataFields{DestQP: qp.attr.DestQPNum, OpCode: rcOpcode(w.wr.Opcode, first, last) | 0x20, PSN: qp.psn,
			Payload: payload}
		if last && w.wr.Opcode.hasImm() {
			f.ImmDt = w.wr.Imm
		}
		if first && w.wr.Opcode.isWrite() {
			f.RETH = wire.RETHFields{VA: w.wr.RemoteAddr, RKey: w.wr.RKey, DMALen: uint32(w.length)}
		}
		if last && w.wr.Flags&SendSolicited != 0 {
			f.SE = true
		}
		nbytes += qp.xmit(&f, av)
		qp.psn = (qp.psn + 1) & wire.PSNMask
	}
	qp.sndMax, qp.unacked = qp.psn, qp.psn
	qp.txDone(w, nbytes)
	return true
}

// udSend sends a one-packet datagram and completes it.
func (qp *QP) udSend(w *sendWQE) bool {
	mtu := qp.mtu()
	w.length = w.msgLen()
	if w.length > uint64(mtu) {
		w.status = WCLocLenErr
		qp.toErrorOrSQE()
		return false
	}
	if !qp.start(w, mtu) {
		return false
	}
	payload, ok := qp.gather(w, 0, w.length)
	if !ok {
		w.status = WCLocProtErr
		qp.toErrorOrSQE()
		return false
	}
	qkey := w.wr.RemoteQKey
	if qkey&0x80000000 != 0 {
		qkey = qp.attr.QKey
	}
	f := wire.DataFields{DestQP: w.wr.RemoteQPN, OpCode: wire.OpUDSendOnly, PSN: qp.psn,
		DETH: wire.DETHFields{QKey: qkey, SrcQP: qp.qpn}, Payload: payload}
	if w.wr.Opcode == WRSendImm {
		f.ImmDt = w.wr.Imm
		f.OpCode = wire.OpUDSendOnlyImm
	}
	f.SE = w.wr.Flags&SendSolicited != 0
	av := w.wr.AH.attr
	n := qp.xmit(&f, &av)
	qp.psn = (qp.psn + 1) & wire.PSNMask
	qp.txDone(w, n)
	return true
}

// armTimer starts the local ACK timer if it is not running. A lazy
// timer left armed while nothing was outstanding (see restartTimer) runs
// a full timeout again when it fires, so that it never expires earlier
// than one timeout after the packet that finds it armed.
func (qp *QP) armTimer() {
	if qp.timer.Armed() {
		if qp.timerIdle {
			qp.timerIdle, qp.timerExtend = false, true
		}
		return
	}
	if qp.unacked != qp.sndMax {
		if d := qp.ackTimeout(); d > 0 {
			qp.timerIdle, qp.timerExtend = false, false
			qp.timer.Reset(d)
		}
	}
}

// restartTimer restarts the local ACK timer after progress.
//
// Under the wall clock (lazyTimer) it does not move the timer: it marks
// it to run a full timeout again when it fires (timerExtend), or, once
// everything is acknowledged, leaves it armed and idle: the timer is
// checked when it expires rather than rearmed per ACK. That takes it out
// of the event queue and puts it back, and reads the clock, once per
// timeout instead of once per ACK. The local ACK timeout (IBTA Vol 1
// §9.7.6.1.3) then expires between one and two timeouts after the last
// progress, never earlier than one. Under the virtual clock the timer
// moves exactly, so that virtual time advances as before.
func (qp *QP) restartTimer() {
	if qp.rnrWait || qp.timeout() == 0 {
		qp.timerIdle, qp.timerExtend = false, false
		qp.timer.Stop()
		return
	}
	if qp.lazyTimer && qp.timer.Armed() {
		if qp.unacked == qp.sndMax {
			qp.timerIdle = true
		} else {
			qp.timerIdle, qp.timerExtend = false, true
		}
		return
	}
	if qp.unacked == qp.sndMax {
		qp.timer.Stop()
		return
	}
	qp.timerIdle, qp.timerExtend = false, false
	qp.timer.Reset(qp.ackTimeout())
}

// ackTimeout is the local ACK timeout counted from now. Under the virtual
// clock the packets queued ahead of the port's transmitter (up to
// txAhead of them, see txWait) have not left yet, and the timer runs from
// their transmission, as on an adapter: the time until the transmitter
// is free is added, so a short timeout does not expire on packets still
// waiting to leave.
func (qp *QP) ackTimeout() time.Duration {
	d := qp.timeout()
	if d > 0 && qp.e.fab.Virtual() {
		if q := qp.e.txBusy[qp.attr.PortNum] - qp.e.fab.Elapsed(); q > 0 {
			d += q
		}
	}
	return d
}

// onTimeout is the local ACK timeout (IBTA Vol 1 §9.7.6.1.3): retry from
// the oldest unacknowledged PSN, or fail with RETRY_EXC_ERR once
// retry_cnt retries are spent.
func (qp *QP) onTimeout() {
	extend := qp.timerExtend
	qp.timerIdle, qp.timerExtend = false, false
	if s := qp.attr.QPState; (s != QPStateRTS && s != QPStateSQD) || qp.unacked == qp.sndMax || qp.rnrWait {
		return
	}
	if extend {
		// A lazy timer with progress since it was armed: the timeout
		// counts from then.
		if d := qp.ackTimeout(); d > 0 {
			qp.timer.Reset(d)
		}
		return
	}
	qp.e.stats.Timeouts.Add(1)
	if qp.retry == 0 {
		qp.failAt(qp.unacked, WCRetryExcErr)
		return
	}
	qp.retry--
	qp.goBack(qp.unacked)
	qp.progress()
}

// failAt fails the WQE holding psn (or the oldest) with status and moves
// the QP to the Error state.
func (qp *QP) failAt(psn uint32, status WCStatus) {
	var w *sendWQE
	for _, x := range qp.sq {
		if !x.started {
			break
		}
		if psnDiff(psn, x.firstPSN) >= 0 && psnDiff(psn, x.lastPSN()) <= 0 {
			w = x
			break
		}
	}
	if w == nil && len(qp.sq) > 0 {
		w = qp.sq[0]
	}
	if w != nil {
		w.status = status
	}
	qp.toError()
}

// goBack rewinds the requester to resend from psn (go-back-N, IBTA Vol 1
// §9.7.5.1.3 and §9.7.6.1.3). A READ resumes at its first missing
// response with a new request for the rest.
func (qp *QP) goBack(psn uint32) {
	for i, w := range qp.sq {
		if !w.started {
			break
		}
		if psnDiff(psn, w.firstPSN) < 0 || psnDiff(psn, w.lastPSN()) > 0 {
			continue
		}
		switch {
		case w.wr.Opcode == WRRDMARead:
			w.sent = 0
			qp.psn = (w.firstPSN + w.rdpkts) & wire.PSNMask
			w.rdRetry = true
		case w.wr.Opcode.isAtomic():
			w.sent = 0
			qp.psn = w.firstPSN
		default:
			w.sent = (psn - w.firstPSN) & wire.PSNMask
			qp.psn = psn
		}
		for _, x := range qp.sq[i+1:] {
			x.sent = 0
		}
		qp.next = i
		qp.noAck = 0
		qp.e.stats.Retransmits.Add(1)
		return
	}
}

// pkeyAddr is the address block of trap 257/258 for pkt.
func pkeyAddr(pkt *wire.Packet) agent.Addr {
	a := agent.Addr{DLID: pkt.LRH.DLID(), SLID: pkt.LRH.SLID(), SL: pkt.LRH.SL(),
		DestQP: pkt.BTH.DestQP(), PKey: pkt.BTH.PKey()}
	if pkt.DETH != nil {
		a.SrcQP, a.QKey = pkt.DETH.SrcQP(), pkt.DETH.QKey()
	}
	if pkt.GRH != nil {
		g := pkt.GRH.Fields()
		a.GRH = &g
	}
	return a
}
