package verbs

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// responder is the receive side of a QP (IBTA Vol 1 §9.7.5.1).
type responder struct {
	epsn    uint32 // expected PSN
	msn     uint32 // message sequence number
	nakSent bool   // a PSN sequence error or RNR NAK for epsn is out
	becn    bool   // the request being handled arrived with FECN: its ACK carries BECN (cc.go)
	commEst bool

	inMsg   bool     // a multi-packet SEND or WRITE is in progress
	inWrite bool     // ... and it is a WRITE
	drop    bool     // UC: discard the rest of the current message
	recv    *recvWQE // the receive WQE of the SEND in progress (&cur or nil)
	cur     recvWQE
	recvOff uint64
	wbuf    []byte // the RDMA WRITE destination
	woff    uint64

	atomics [16]atomicResult // replay of recent atomics, by PSN
	nextAt  int
}

type atomicResult struct {
	psn   uint32
	orig  uint64
	valid bool
}

// op bits 4-0 shared by RC and UC (IBTA Vol 1 Table 38).
const (
	opSendFirst    = 0x00
	opSendMiddle   = 0x01
	opSendLast     = 0x02
	opSendLastImm  = 0x03
	opSendOnly     = 0x04
	opSendOnlyImm  = 0x05
	opWriteFirst   = 0x06
	opWriteMiddle  = 0x07
	opWriteLast    = 0x08
	opWriteLastImm = 0x09
	opWriteOnly    = 0x0A
	opWriteOnlyImm = 0x0B
	opReadRequest  = 0x0C
	opCompareSwap  = 0x13
	opFetchAdd     = 0x14
)

// HandleFrame implements hca.Transport: it runs on the event loop for
// every frame addressed to a QP other than 0 and 1 (or to a multicast
// LID) on port p, checks the P_Key against the destination QP's and hands
// the packet to the QP's responder or requester. The frame is recycled
// afterwards: nothing keeps a reference to it.
func (e *Engine) HandleFrame(p *emu.Port, pkt *wire.Packet) {
	e.stats.RecvPackets.Add(1)
	frame := pkt.Frame
	e.handle(p, pkt)
	e.putFrame(frame) // no defer: this runs once per packet
}

// handle is HandleFrame before the frame is recycled.
func (e *Engine) handle(p *emu.Port, pkt *wire.Packet) {
	if pkt.BTH == nil {
		e.stats.Malformed.Add(1)
		return
	}
	if pkt.LRH.DLID().IsMulticast() {
		e.multicast(p, pkt)
		return
	}
	qpn := pkt.BTH.DestQP()
	qp := e.lastQP
	if qp == nil || qp.qpn != qpn {
		qp = e.qps[qpn]
		e.lastQP = qp
	}
	if qp == nil || int(qp.attr.PortNum) != p.Num() || qp.attr.QPState < QPStateRTR || qp.attr.QPState == QPStateError {
		e.stats.NoQP.Add(1)
		return
	}
	if !e.pkeyOK(p, qp, pkt) {
		return
	}
	if pkt.BTH[ccByte]&ccBits != 0 && !e.ccReceive(p, qp, pkt) {
		return // FECN or BECN (cc.go): a CNP, or an RC request answered there
	}
	op := pkt.BTH.OpCode()
	switch qp.typ {
	case QPTypeRC:
		if op.Transport() != wire.TransportRC || pkt.LRH.SLID() != qp.attr.AHAttr.DLID {
			e.stats.Malformed.Add(1)
			return
		}
		if op.IsResponse() {
			qp.rcvResponse(pkt)
			return
		}
		qp.rcRequest(pkt)
	case QPTypeUC:
		if op.Transport() != wire.TransportUC || pkt.LRH.SLID() != qp.attr.AHAttr.DLID {
			e.stats.Malformed.Add(1)
			return
		}
		qp.ucRequest(pkt)
	case QPTypeUD:
		qp.udRecv(p, pkt)
	}
}

// pkeyOK checks the packet's P_Key against the P_Key of the QP (IBTA Vol
// 1 §10.9.3); a violation is dropped, counted and reported with trap 257.
func (e *Engine) pkeyOK(p *emu.Port, qp *QP, pkt *wire.Packet) bool {
	pa := e.dev.SMA().Port(p.Num())
	key := wire.PKey(pkt.BTH.PKey())
	if pa != nil && int(qp.attr.PKeyIndex) < pa.NumPKeys() && key.Matches(pa.PKey(int(qp.attr.PKeyIndex))) {
		return true
	}
	e.stats.PKeyDropped.Add(1)
	p.Counters.PKeyViolations.Add(1)
	if pa != nil {
		a := pkeyAddr(pkt)
		_, _ = e.dev.SMA().SendTrap(p.Num(), agent.BadPKeyNotice(wire.NodeTypeCA, pa.LID, &a))
	}
	return false
}

// commEst raises the communication established event for a QP in RTR
// that receives its first packet (IBTA Vol 1 §11.6.3.1).
func (qp *QP) commEst() {
	if !qp.resp.commEst {
		qp.resp.commEst = true
		if qp.attr.QPState == QPStateRTR {
			qp.e.event(AsyncEvent{Type: EventCommEst, QP: qp})
		}
	}
}

// sendAck sends an ACK or NAK with syndrome syn for psn.
func (qp *QP) sendAck(psn uint32, syn wire.AETHSyndrome) {
	f := wire.DataFields{OpCode: wire.OpRCAcknowledge, DestQP: qp.attr.DestQPNum, PSN: psn & wire.PSNMask,
		AETH: wire.AETHFields{Syndrome: syn, MSN: qp.resp.msn & wire.PSNMask}, BECN: qp.resp.becn}
	qp.resp.becn = false
	qp.xmit(&f, &qp.attr.AHAttr)
}

// ackSyn is the ACK syndrome with the responder's end-to-end credits:
// the receive WQEs posted (IBTA Vol 1 §9.7.7.2); a QP on an SRQ does not
// count them.
func (qp *QP) ackSyn() wire.AETHSyndrome {
	if qp.srq != nil {
		return wire.ACKSyndrome(wire.AETHCreditInvalid)
	}
	return wire.ACKSyndrome(creditCode(qp.rq.len()))
}

// creditCode is wire.CreditCode computed from the shape of the credit
// table (IBTA Vol 1 §9.3.5): codes 0 to 4 count 0 to 4 WQEs, and above
// them code 2k counts 2^k and code 2k+1 counts 3·2^(k-1), up to code 30
// (32768). A responder sends one per ACK, and the table scan of
// wire.CreditCode costs more than the rest of the ACK's syndrome.
func creditCode(n int) uint8 {
	switch {
	case n <= 0:
		return 0
	case n <= 4:
		return uint8(n)
	case n >= 32768:
		return 30
	}
	k := bits.Len(uint(n)) - 1 // 2^k <= n < 2^(k+1), k >= 2
	c := uint8(2 * k)
	if n >= 3<<(k-1) {
		c++
	}
	return c
}

// nakError sends a NAK for the expected PSN and, for the errors IBTA Vol
// 1 §9.9.3 classes as fatal to the connection, moves the responder's QP
// to the Error state.
func (qp *QP) nakError(code wire.NAKCode, recvStatus WCStatus) {
	qp.sendAck(qp.resp.epsn, wire.NAKSyndrome(code))
	if r := qp.resp.recv; r != nil {
		qp.resp.recv = nil
		qp.rcq.push(WC{WRID: r.wrID, Status: recvStatus, Opcode: WCRecv, QPNum: qp.qpn}, false)
	}
	qp.toError()
}

// rcRequest is the RC responder (IBTA Vol 1 §9.7.5.1).
func (qp *QP) rcRequest(pkt *wire.Packet) {
	r := &qp.resp
	psn := pkt.BTH.PSN()
	switch d := psnDiff(psn, r.epsn); {
	case d > 0:
		qp.e.stats.OutOfSequence.Add(1)
		if !r.nakSent {
			r.nakSent = true
			qp.sendAck(r.epsn, wire.NAKSyndrome(wire.NAKPSNSequenceError))
		}
		return
	case d < 0:
		qp.rcDuplicate(pkt, psn)
		return
	}
	qp.commEst()
	op := uint8(pkt.BTH.OpCode()) & 0x1F
	mtu := uint64(qp.mtu())
	n := uint64(len(pkt.Payload))
	// Opcode sequence (IBTA Vol 1 §9.7.5.1.2, C9-44..C9-46).
	middle := op == opSendMiddle || op == opSendLast || op == opSendLastImm ||
		op == opWriteMiddle || op == opWriteLast || op == opWriteLastImm
	isWrite := op >= opWriteFirst && op <= opWriteOnlyImm
	if middle != r.inMsg || middle && isWrite != r.inWrite {
		qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
		return
	}
	switch op {
	case opSendFirst, opSendMiddle, opWriteFirst, opWriteMiddle:
		if n != mtu {
			qp.nakError(wire.NAKInvalidRequest, WCLocLenErr)
			return
		}
	case opReadRequest, opCompareSwap, opFetchAdd:
	default:
		if n > mtu {
			qp.nakError(wire.NAKInvalidRequest, WCLocLenErr)
			return
		}
	}
	acc := qp.attr.QPAccessFlags
	switch op {
	case opSendFirst, opSendOnly, opSendOnlyImm, opSendMiddle, opSendLast, opSendLastImm:
		if !qp.rcvSend(pkt, op, psn) {
			return
		}
	case opWriteFirst, opWriteOnly, opWriteOnlyImm, opWriteMiddle, opWriteLast, opWriteLastImm:
		if acc&AccessRemoteWrite == 0 {
			qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
			return
		}
		if !qp.rcvWrite(pkt, op, psn) {
			return
		}
	case opReadRequest:
		if acc&AccessRemoteRead == 0 {
			qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
			return
		}
		npkts, ok := qp.readRespond(pkt, psn)
		if !ok {
			qp.nakError(wire.NAKRemoteAccessError, WCRemAccessErr)
			return
		}
		r.epsn = (psn + npkts) & wire.PSNMask
		r.nakSent = false
		return
	case opCompareSwap, opFetchAdd:
		if acc&AccessRemoteAtomic == 0 {
			qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
			return
		}
		qp.rcvAtomic(pkt, op, psn)
		return
	default:
		qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
		return
	}
	r.epsn = (psn + 1) & wire.PSNMask
	r.nakSent = false
	if pkt.BTH.AckReq() {
		qp.sendAck(psn, qp.ackSyn())
	}
}

// needsRecv reports whether a request opcode consumes a receive WQE.
func needsRecv(op uint8) bool {
	switch op {
	case opSendFirst, opSendOnly, opSendOnlyImm, opWriteLastImm, opWriteOnlyImm:
		return true
	}
	return false
}

// rcvSend places SEND data in the current receive WQE; false means the
// packet was refused (RNR NAK or error, already answered).
func (qp *QP) rcvSend(pkt *wire.Packet, op uint8, psn uint32) bool {
	r := &qp.resp
	if needsRecv(op) {
		w, ok := qp.takeRecv()
		if !ok {
			qp.rnr(psn)
			return false
		}
		r.cur = w
		r.recv, r.recvOff = &r.cur, 0
	}
	if r.recv == nil {
		qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
		return false
	}
	if r.recvOff+uint64(len(pkt.Payload)) > sglLen(r.recv.list()) {
		if qp.typ == QPTypeRC {
			qp.nakError(wire.NAKInvalidRequest, WCLocLenErr)
		} else {
			qp.recvDone(pkt, WCLocLenErr, WCRecv)
		}
		return false
	}
	if !qp.scatter(r.recv.list(), r.recvOff, pkt.Payload) {
		if qp.typ == QPTypeRC {
			qp.nakError(wire.NAKRemoteOperationalError, WCLocProtErr)
		} else {
			qp.recvDone(pkt, WCLocProtErr, WCRecv)
		}
		return false
	}
	r.recvOff += uint64(len(pkt.Payload))
	switch op {
	case opSendFirst, opSendMiddle:
		r.inMsg, r.inWrite = true, false
	default:
		qp.recvDone(pkt, WCSuccess, WCRecv)
	}
	return true
}

// recvDone completes the receive WQE of the message that just ended.
func (qp *QP) recvDone(pkt *wire.Packet, status WCStatus, op WCOpcode) {
	r := &qp.resp
	w := r.recv
	r.recv, r.inMsg, r.inWrite = nil, false, false
	r.msn = (r.msn + 1) & wire.PSNMask
	if w == nil {
		return
	}
	wc := WC{WRID: w.wrID, Status: status, Opcode: op, QPNum: qp.qpn, SrcQP: qp.attr.DestQPNum,
		SLID: pkt.LRH.SLID(), SL: pkt.LRH.SL(), PKeyIndex: qp.attr.PKeyIndex}
	if status == WCSuccess {
		wc.ByteLen = uint32(r.recvOff)
		if op == WCRecvRDMAImm {
			wc.ByteLen = uint32(r.woff)
		}
		if pkt.ImmDt != nil {
			wc.Imm, wc.Flags = pkt.ImmDt.Data(), WCFlagWithImm
		}
	}
	if !qp.rcq.push(wc, pkt.BTH.SE() || status != WCSuccess) {
		qp.cqOverflow()
	}
}

// rnr answers a request that needs a receive WQE while none is posted:
// an RNR NAK with the QP's min_rnr_timer (RC), or the message is lost
// (UC).
func (qp *QP) rnr(psn uint32) {
	if qp.typ != QPTypeRC {
		qp.resp.drop = true
		return
	}
	qp.resp.nakSent = true
	qp.sendAck(psn, wire.RNRNAKSyndrome(wire.RNRTimer(qp.attr.MinRNRTimer)))
}

// rcvWrite performs an RDMA WRITE packet (IBTA Vol 1 §9.4.3).
func (qp *QP) rcvWrite(pkt *wire.Packet, op uint8, psn uint32) bool {
	r := &qp.resp
	if op == opWriteFirst || op == opWriteOnly || op == opWriteOnlyImm {
		va, rkey, dmaLen := pkt.RETH.VA(), pkt.RETH.RKey(), uint64(pkt.RETH.DMALen())
		b, ok := qp.e.lookup(rkey, qp.pd, va, dmaLen, AccessRemoteWrite)
		if !ok {
			if qp.typ == QPTypeRC {
				qp.nakError(wire.NAKRemoteAccessError, WCRemAccessErr)
			} else {
				r.drop = true
			}
			return false
		}
		r.wbuf, r.woff = b, 0
	}
	n := uint64(len(pkt.Payload))
	last := op == opWriteLast || op == opWriteLastImm || op == opWriteOnly || op == opWriteOnlyImm
	if r.woff+n > uint64(len(r.wbuf)) || last && r.woff+n != uint64(len(r.wbuf)) {
		if qp.typ == QPTypeRC {
			qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
		} else {
			r.drop = true
		}
		return false
	}
	if needsRecv(op) && !qp.hasRecv() {
		qp.rnr(psn)
		return false
	}
	copy(r.wbuf[r.woff:], pkt.Payload)
	r.woff += n
	if !last {
		r.inMsg, r.inWrite = true, true
		return true
	}
	if needsRecv(op) {
		r.cur, _ = qp.takeRecv()
		r.recv = &r.cur
		qp.recvDone(pkt, WCSuccess, WCRecvRDMAImm)
	} else {
		r.inMsg, r.inWrite = false, false
		r.msn = (r.msn + 1) & wire.PSNMask
	}
	r.wbuf = nil
	return true
}

// readRespond validates a READ request and sends its response packets
// starting at psn; it returns how many PSNs they take (IBTA Vol 1
// §9.4.4, §9.7.5.1.4).
func (qp *QP) readRespond(pkt *wire.Packet, psn uint32) (uint32, bool) {
	va, rkey, length := pkt.RETH.VA(), pkt.RETH.RKey(), uint64(pkt.RETH.DMALen())
	b, ok := qp.e.lookup(rkey, qp.pd, va, length, AccessRemoteRead)
	if !ok || length > 1<<31 {
		return 0, false
	}
	mtu := uint64(qp.mtu())
	npkts := uint32(max(1, (length+mtu-1)/mtu))
	if psn == qp.resp.epsn {
		qp.resp.msn = (qp.resp.msn + 1) & wire.PSNMask
	}
	av := &qp.attr.AHAttr
	for k := uint32(0); k < npkts; k++ {
		off := uint64(k) * mtu
		n := min(mtu, length-off)
		first, last := k == 0, k == npkts-1
		f := wire.DataFields{DestQP: qp.attr.DestQPNum, PSN: (psn + k) & wire.PSNMask}
		if n > 0 {
			f.Payload = b[off : off+n]
		}
		switch {
		case first && last:
			f.OpCode = wire.OpRCRDMAReadResponseOnly
		case first:
			f.OpCode = wire.OpRCRDMAReadResponseFirst
		case last:
			f.OpCode = wire.OpRCRDMAReadResponseLast
		default:
			f.OpCode = wire.OpRCRDMAReadResponseMiddle
		}
		if first || last {
			f.AETH = wire.AETHFields{Syndrome: qp.ackSyn(), MSN: qp.resp.msn}
		}
		qp.xmit(&f, av)
	}
	return npkts, true
}

// rcvAtomic performs CMP_AND_SWP or FETCH_AND_ADD on 8 aligned bytes and
// answers with the original value, saved for replay (IBTA Vol 1 §9.4.5).
func (qp *QP) rcvAtomic(pkt *wire.Packet, op uint8, psn uint32) {
	r := &qp.resp
	va, rkey := pkt.AtomicETH.VA(), pkt.AtomicETH.RKey()
	if va%8 != 0 {
		qp.nakError(wire.NAKInvalidRequest, WCRemInvReqErr)
		return
	}
	b, ok := qp.e.lookup(rkey, qp.pd, va, 8, AccessRemoteAtomic)
	if !ok {
		qp.nakError(wire.NAKRemoteAccessError, WCRemAccessErr)
		return
	}
	orig := binary.NativeEndian.Uint64(b)
	switch op {
	case opCompareSwap:
		if orig == pkt.AtomicETH.Compare() {
			binary.NativeEndian.PutUint64(b, pkt.AtomicETH.SwapAdd())
		}
	default:
		binary.NativeEndian.PutUint64(b, orig+pkt.AtomicETH.SwapAdd())
	}
	r.atomics[r.nextAt] = atomicResult{psn: psn, orig: orig, valid: true}
	r.nextAt = (r.nextAt + 1) % len(r.atomics)
	r.msn = (r.msn + 1) & wire.PSNMask
	r.epsn = (psn + 1) & wire.PSNMask
	r.nakSent = false
	qp.atomicAnswer(psn, orig)
}

func (qp *QP) atomicAnswer(psn uint32, orig uint64) {
	f := wire.DataFields{OpCode: wire.OpRCAtomicAcknowledge, DestQP: qp.attr.DestQPNum, PSN: psn,
		AETH:         wire.AETHFields{Syndrome: qp.ackSyn(), MSN: qp.resp.msn},
		AtomicAckETH: wire.AtomicAckETHFields{OrigRemData: orig}}
	qp.xmit(&f, &qp.attr.AHAttr)
}

// rcDuplicate answers a request whose PSN the responder has passed
// (IBTA Vol 1 §9.7.5.1.1): a READ is executed again, an atomic's saved
// result is sent again, a SEND or WRITE is acknowledged.
func (qp *QP) rcDuplicate(pkt *wire.Packet, psn uint32) {
	qp.e.stats.Duplicates.Add(1)
	switch uint8(pkt.BTH.OpCode()) & 0x1F {
	case opReadRequest:
		if qp.attr.QPAccessFlags&AccessRemoteRead != 0 {
			qp.readRespond(pkt, psn)
		}
	case opCompareSwap, opFetchAdd:
		for _, a := range qp.resp.atomics {
			if a.valid && a.psn == psn {
				qp.atomicAnswer(psn, a.orig)
				return
			}
		}
	default:
		if pkt.BTH.AckReq() {
			qp.sendAck(qp.resp.epsn-1, qp.ackSyn())
		}
	}
}

// ucRequest is the UC responder: no acknowledgements; a PSN gap loses the
// message in progress (IBTA Vol 1 §9.7.5.1.5 for UC).
func (qp *QP) ucRequest(pkt *wire.Packet) {
	r := &qp.resp
	psn := pkt.BTH.PSN()
	op := uint8(pkt.BTH.OpCode()) & 0x1F
	if psn != r.epsn {
		qp.e.stats.OutOfSequence.Add(1)
		if r.inMsg {
			if r.recv != nil {
				// The receive WQE is used again for the next message.
				w := *r.recv
				r.recv = nil
				qp.unread(w)
			}
			r.inMsg, r.inWrite = false, false
		}
		r.drop = false
	}
	r.epsn = (psn + 1) & wire.PSNMask
	qp.commEst()
	middle := op == opSendMiddle || op == opSendLast || op == opSendLastImm ||
		op == opWriteMiddle || op == opWriteLast || op == opWriteLastImm
	if !middle {
		r.drop = false
		if r.inMsg {
			// A new message while one was open: the open one is lost.
			if r.recv != nil {
				w := *r.recv
				r.recv = nil
				qp.unread(w)
			}
			r.inMsg = false
		}
	}
	if r.drop || middle && !r.inMsg {
		r.drop = true
		return
	}
	mtu := uint64(qp.mtu())
	n := uint64(len(pkt.Payload))
	if (op == opSendFirst || op == opSendMiddle || op == opWriteFirst || op == opWriteMiddle) && n != mtu || n > mtu {
		r.drop = true
		return
	}
	switch op {
	case opSendFirst, opSendOnly, opSendOnlyImm, opSendMiddle, opSendLast, opSendLastImm:
		if !qp.rcvSend(pkt, op, psn) {
			r.drop = true
		}
	case opWriteFirst, opWriteOnly, opWriteOnlyImm, opWriteMiddle, opWriteLast, opWriteLastImm:
		if qp.attr.QPAccessFlags&AccessRemoteWrite == 0 || !qp.rcvWrite(pkt, op, psn) {
			r.drop = true
		}
	default:
		qp.e.stats.Malformed.Add(1)
		r.drop = true
	}
	if r.drop {
		r.inMsg, r.inWrite = false, false
		if r.recv != nil {
			w := *r.recv
			r.recv = nil
			qp.unread(w)
		}
	}
}

// unread puts a receive WQE back at the head of the queue.
func (qp *QP) unread(w recvWQE) {
	if qp.srq != nil {
		qp.srq.mu.Lock()
		qp.srq.q.unshift(w)
		qp.srq.mu.Unlock()
		return
	}
	qp.rq.unshift(w)
}

// udRecv delivers a datagram: Q_Key check, a receive WQE whose first 40
// bytes take the GRH (IBTA Vol 1 §11.4.1.2), the payload after it.
func (qp *QP) udRecv(p *emu.Port, pkt *wire.Packet) {
	e := qp.e
	op := pkt.BTH.OpCode()
	if op != wire.OpUDSendOnly && op != wire.OpUDSendOnlyImm {
		e.stats.Malformed.Add(1)
		return
	}
	if pkt.DETH.QKey() != qp.attr.QKey {
		e.stats.QKeyDropped.Add(1)
		p.Counters.QKeyViolations.Add(1)
		if pa := e.dev.SMA().Port(p.Num()); pa != nil {
			a := pkeyAddr(pkt)
			_, _ = e.dev.SMA().SendTrap(p.Num(), agent.BadQKeyNotice(wire.NodeTypeCA, pa.LID, &a))
		}
		return
	}
	qp.commEst()
	w, ok := qp.takeRecv()
	if !ok {
		e.stats.UDNoRecv.Add(1)
		return
	}
	wc := WC{WRID: w.wrID, Opcode: WCRecv, QPNum: qp.qpn, SrcQP: pkt.DETH.SrcQP(), SLID: pkt.LRH.SLID(),
		SL: pkt.LRH.SL(), PKeyIndex: qp.attr.PKeyIndex}
	// Path bits are those of a unicast DLID; a multicast DLID has none
	// (ibv_wc.dlid_path_bits).
	if pa := e.dev.SMA().Port(p.Num()); pa != nil && pa.LMC > 0 && !pkt.LRH.DLID().IsMulticast() {
		wc.DLIDPathBits = uint8(pkt.LRH.DLID()-pa.LID) & (1<<pa.LMC - 1)
	}
	total := uint64(GRHBytes + len(pkt.Payload))
	switch {
	case total > sglLen(w.list()):
		wc.Status = WCLocLenErr
	case pkt.GRH != nil && !qp.scatter(w.list(), 0, pkt.GRH[:GRHBytes]):
		wc.Status = WCLocProtErr
	case !qp.scatter(w.list(), GRHBytes, pkt.Payload):
		wc.Status = WCLocProtErr
	default:
		wc.ByteLen = uint32(total)
		if pkt.GRH != nil {
			wc.Flags |= WCFlagGRH
		}
		if pkt.ImmDt != nil {
			wc.Imm = pkt.ImmDt.Data()
			wc.Flags |= WCFlagWithImm
		}
	}
	if !qp.rcq.push(wc, pkt.BTH.SE()) {
		qp.cqOverflow()
	}
}

// AttachMcast joins a UD QP to the multicast group with GID gid and LID
// lid on its port (ibv_attach_mcast). Call it on the event loop.
func (qp *QP) AttachMcast(gid wire.GID, lid wire.LID) error {
	switch {
	case qp.dead:
		return fmt.Errorf("verbs: attach mcast: %w", ErrDestroyed)
	case qp.typ != QPTypeUD:
		return fmt.Errorf("verbs: attach mcast: %w: %s qp", ErrInvalid, qp.typ)
	case !lid.IsMulticast():
		return fmt.Errorf("verbs: attach mcast: %w: lid %#x is not multicast", ErrInvalid, uint16(lid))
	case gid[0] != 0xFF:
		return fmt.Errorf("verbs: attach mcast: %w: gid %s is not multicast", ErrInvalid, gid)
	case qp.attr.PortNum == 0:
		return fmt.Errorf("verbs: attach mcast: %w: qp has no port yet", ErrInvalid)
	}
	k := mcastKey{port: int(qp.attr.PortNum), lid: uint16(lid)}
	for _, x := range qp.mcast {
		if x == k {
			return nil
		}
	}
	if len(qp.e.mcast[k]) >= qp.e.attr.MaxMcastQPAttach {
		return fmt.Errorf("verbs: attach mcast: %w", ErrNoMem)
	}
	qp.e.mcast[k] = append(qp.e.mcast[k], qp)
	qp.mcast = append(qp.mcast, k)
	return nil
}

// DetachMcast leaves a multicast group (ibv_detach_mcast).
func (qp *QP) DetachMcast(gid wire.GID, lid wire.LID) error {
	k := mcastKey{port: int(qp.attr.PortNum), lid: uint16(lid)}
	for i, x := range qp.mcast {
		if x == k {
			qp.mcast = append(qp.mcast[:i], qp.mcast[i+1:]...)
			qp.e.detach(qp, k)
			return nil
		}
	}
	return fmt.Errorf("verbs: detach mcast: %w: qp %#x is not attached to %#x", ErrNotFound, qp.qpn, uint16(lid))
}

func (e *Engine) detach(qp *QP, k mcastKey) {
	l := e.mcast[k]
	for i, x := range l {
		if x == qp {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(e.mcast, k)
		return
	}
	e.mcast[k] = l
}

// multicast delivers a UD datagram sent to a multicast LID to every QP
// attached on the arrival port (IBTA Vol 1 §10.5.2).
func (e *Engine) multicast(p *emu.Port, pkt *wire.Packet) {
	op := pkt.BTH.OpCode()
	if pkt.BTH.DestQP() != MulticastQPN || (op != wire.OpUDSendOnly && op != wire.OpUDSendOnlyImm) {
		e.stats.Malformed.Add(1)
		return
	}
	l := e.mcast[mcastKey{port: p.Num(), lid: uint16(pkt.LRH.DLID())}]
	if len(l) == 0 {
		e.stats.NoQP.Add(1)
		return
	}
	for _, qp := range l {
		if s := qp.attr.QPState; s < QPStateRTR || s == QPStateError {
			continue
		}
		if !e.pkeyOK(p, qp, pkt) {
			continue
		}
		qp.udRecv(p, pkt)
	}
}
