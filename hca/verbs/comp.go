package verbs

import (
	"encoding/binary"

	"github.com/ibemu/ibemu/emu/wire"
)

// rcvResponse handles an ACK, a NAK, an atomic acknowledge or a READ
// response arriving at an RC requester (IBTA Vol 1 §9.7.5.2).
func (qp *QP) rcvResponse(pkt *wire.Packet) {
	if s := qp.attr.QPState; s != QPStateRTS && s != QPStateSQD {
		return
	}
	psn := pkt.BTH.PSN()
	if psnDiff(psn, qp.sndMax) >= 0 {
		qp.e.stats.Malformed.Add(1) // a response to a PSN never sent
		return
	}
	if pkt.AETH != nil {
		qp.updateCredits(pkt.AETH)
	}
	switch op := pkt.BTH.OpCode(); op {
	case wire.OpRCAcknowledge:
		syn := pkt.AETH.Syndrome()
		switch syn.Type() {
		case wire.AckTypeACK:
			qp.ackUpTo(psn)
		case wire.AckTypeRNRNAK:
			if psnDiff(psn, qp.unacked) < 0 {
				return // stale
			}
			qp.ackUpTo((psn - 1) & wire.PSNMask)
			qp.rnrNAK(psn, syn.RNRTimer())
		case wire.AckTypeNAK:
			if psnDiff(psn, qp.unacked) < 0 {
				return
			}
			qp.ackUpTo((psn - 1) & wire.PSNMask)
			switch syn.NAKCode() {
			case wire.NAKPSNSequenceError:
				qp.seqNAK(psn)
			case wire.NAKRemoteAccessError:
				qp.failAt(psn, WCRemAccessErr)
			case wire.NAKRemoteOperationalError:
				qp.failAt(psn, WCRemOpErr)
			default:
				qp.failAt(psn, WCRemInvReqErr)
			}
		default:
			qp.e.stats.Malformed.Add(1)
			return
		}
	case wire.OpRCAtomicAcknowledge:
		qp.atomicAck(pkt, psn)
	case wire.OpRCRDMAReadResponseFirst, wire.OpRCRDMAReadResponseMiddle,
		wire.OpRCRDMAReadResponseLast, wire.OpRCRDMAReadResponseOnly:
		qp.readResponse(pkt, psn, op)
	default:
		qp.e.stats.Malformed.Add(1)
		return
	}
	qp.progress()
}

// updateCredits takes the end-to-end credits of an ACK-type AETH.
func (qp *QP) updateCredits(a wire.AETH) {
	syn := a.Syndrome()
	if !syn.IsACK() || psnDiff(a.MSN(), qp.creditMSN) < 0 {
		return
	}
	qp.creditMSN = a.MSN()
	if n, ok := syn.Credits(); ok {
		qp.credits = n
	} else {
		qp.credits = -1
	}
}

// ackUpTo takes psn as acknowledged (and every PSN before it) and retires
// the WQEs it completes, in order. A READ or atomic the ACK covers
// without its response having arrived is an implied NAK: the requester
// asks again (IBTA Vol 1 §9.7.5.1.4).
func (qp *QP) ackUpTo(psn uint32) {
	if d := psnDiff(psn, qp.unacked); d >= 0 {
		qp.unacked = (psn + 1) & wire.PSNMask
		qp.retry, qp.rnrRetry = qp.attr.RetryCnt, qp.attr.RNRRetry
	}
	for len(qp.sq) > 0 {
		w := qp.sq[0]
		if !w.started {
			break
		}
		if w.needsResponse() {
			if w.done {
				// Its response arrived: every PSN up to its last is
				// acknowledged, even when this ACK is older (a duplicate
				// after a retransmission). Without that, unacked would stay
				// behind WQEs already retired, and a local ACK timeout
				// would go back to a PSN no WQE holds and resend nothing.
				if last := w.lastPSN(); psnDiff(last, qp.unacked) >= 0 {
					qp.unacked = (last + 1) & wire.PSNMask
				}
				qp.retire(w)
				continue
			}
			if psnDiff(psn, w.firstPSN) >= 0 && !w.rdRetry {
				resume := w.firstPSN
				if w.wr.Opcode == WRRDMARead {
					resume = (w.firstPSN + w.rdpkts) & wire.PSNMask
				}
				qp.unacked = resume
				qp.goBack(resume)
			}
			break
		}
		if psnDiff(psn, w.lastPSN()) < 0 {
			break
		}
		qp.retire(w)
	}
	qp.restartTimer()
	qp.checkDrained()
}

// seqNAK handles a PSN sequence error NAK: go back to the PSN the
// responder expects, counting the retry.
func (qp *QP) seqNAK(psn uint32) {
	if qp.retry == 0 {
		qp.failAt(psn, WCRetryExcErr)
		return
	}
	qp.retry--
	qp.goBack(psn)
	qp.restartTimer()
}

// rnrNAK waits the RNR timer the responder asked for, then resends from
// psn; rnr_retry 7 retries for ever (IBTA Vol 1 §9.7.5.2.8).
func (qp *QP) rnrNAK(psn uint32, t wire.RNRTimer) {
	qp.e.stats.RNRNAKs.Add(1)
	if qp.rnrRetry == 0 {
		qp.failAt(psn, WCRNRRetryExcErr)
		return
	}
	if qp.attr.RNRRetry != 7 {
		qp.rnrRetry--
	}
	qp.timer.Stop()
	qp.goBack(psn)
	qp.rnrWait = true
	qp.rnrTimer.Reset(t.Duration())
}

// onRNRTimer resends after the RNR wait.
func (qp *QP) onRNRTimer() {
	qp.rnrWait = false
	qp.progress()
}

// atomicAck stores the original remote value of an atomic and completes it.
func (qp *QP) atomicAck(pkt *wire.Packet, psn uint32) {
	if !pkt.AETH.Syndrome().IsACK() {
		qp.e.stats.Malformed.Add(1)
		return
	}
	var w *sendWQE
	for _, x := range qp.sq[:qp.next] {
		if x.wr.Opcode.isAtomic() && !x.done && x.firstPSN == psn {
			w = x
			break
		}
	}
	if w == nil {
		qp.e.stats.Duplicates.Add(1)
		return
	}
	qp.ackUpTo((psn - 1) & wire.PSNMask)
	var v [8]byte
	binary.NativeEndian.PutUint64(v[:], pkt.AtomicAckETH.OrigRemData())
	if !qp.scatter(w.wr.SGL, 0, v[:]) {
		w.status = WCLocProtErr
		qp.toError()
		return
	}
	w.done = true
	w.rdRetry = false
	qp.ackUpTo(psn)
}

// readResponse places a READ response packet; packets must arrive in PSN
// order, a gap makes the requester ask again for the rest.
func (qp *QP) readResponse(pkt *wire.Packet, psn uint32, op wire.OpCode) {
	var w *sendWQE
	for _, x := range qp.sq[:qp.next] {
		if x.wr.Opcode == WRRDMARead && !x.done && psnDiff(psn, x.firstPSN) >= 0 && psnDiff(psn, x.lastPSN()) <= 0 {
			w = x
			break
		}
	}
	if w == nil {
		qp.e.stats.Duplicates.Add(1)
		return
	}
	if pkt.AETH != nil && !pkt.AETH.Syndrome().IsACK() {
		qp.e.stats.Malformed.Add(1)
		return
	}
	exp := (w.firstPSN + w.rdpkts) & wire.PSNMask
	switch d := psnDiff(psn, exp); {
	case d < 0:
		qp.e.stats.Duplicates.Add(1)
		return
	case d > 0:
		qp.e.stats.OutOfSequence.Add(1)
		if !w.rdRetry {
			qp.ackUpTo((w.firstPSN - 1) & wire.PSNMask)
			qp.seqNAK(exp)
		}
		return
	}
	w.rdRetry = false
	mtu := uint64(qp.mtu())
	off := uint64(w.rdpkts) * mtu
	rest := w.length - off
	n := uint64(len(pkt.Payload))
	last := op == wire.OpRCRDMAReadResponseLast || op == wire.OpRCRDMAReadResponseOnly
	if last && n != rest || !last && (n != mtu || rest <= mtu) || n > mtu {
		w.status = WCBadRespErr
		qp.toError()
		return
	}
	qp.ackUpTo((w.firstPSN - 1) & wire.PSNMask)
	if !qp.scatter(w.wr.SGL, off, pkt.Payload) {
		w.status = WCLocProtErr
		qp.toError()
		return
	}
	w.rdpkts++
	if last {
		w.done = true
		qp.ackUpTo(psn)
		return
	}
	if psnDiff(psn, qp.unacked) >= 0 {
		qp.unacked = (psn + 1) & wire.PSNMask
		qp.retry, qp.rnrRetry = qp.attr.RetryCnt, qp.attr.RNRRetry
	}
	qp.restartTimer()
}
