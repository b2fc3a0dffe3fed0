package verbs

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// maxInflight is how many PSNs an RC requester keeps unacknowledged before
// it waits for an ACK (its send window).
const maxInflight = 128

// ackEvery makes the requester ask for an acknowledgement at least every
// so many packets (ACK coalescing: other packets go without AckReq).
const ackEvery = 32

// QP is a queue pair (IBTA Vol 1 §10.2.4). Create it with PD.CreateQP.
type QP struct {
	e      *Engine
	qpn    uint32
	typ    QPType
	pd     *PD
	scq    *CQ
	rcq    *CQ
	srq    *SRQ
	sigAll bool
	cap    QPCap
	attr   QPAttr
	dead   bool
	// Context is the host's value for this QP (qp_context).
	Context any

	state atomic.Uint32 // attr.QPState, readable by posting goroutines

	// The fields are grouped by who writes them, each group on cache
	// lines of its own: what posting goroutines write (under mu), the
	// send queue count both sides change, then the receive ring (which
	// keeps its two sides apart itself) and what only the event loop
	// touches. A poster then does not pull the lines the loop works on
	// per packet, nor the loop the poster's.
	_       cacheLinePad
	mu      sync.Mutex // guards pending, bell, freeWQEs
	pending []*sendWQE
	// rings holds, under the virtual clock, how many of pending each post
	// queued, in post order: each post's doorbell takes exactly its own
	// work requests (take).
	rings    []int
	freeWQEs []*sendWQE // retired WQEs for reuse
	ringFn   func()     // qp.ring, made once: the doorbell posts it
	bell     bool
	// wokeRuns counts the work requests of the doorbell runs since the
	// first one after the last yield that gave a host goroutine something
	// to react to (yieldToWoken).
	wokeRuns atomic.Int32
	_        cacheLinePad
	// sqUsed counts the send WQEs posted and not retired: posters add
	// under mu (once per PostSend), the event loop subtracts as it
	// retires.
	sqUsed atomic.Int32
	_      cacheLinePad
	rq     recvRing
	_      cacheLinePad

	// unpublished counts WQEs retired and not yet taken off sqUsed
	// (event loop only, see publishRetired); it sits with the loop's
	// fields, off the receive ring's line that posters write.
	unpublished int32

	// retired holds WQEs retired since the last doorbell (event loop
	// only); take hands them back to freeWQEs under the lock it takes
	// anyway, so retiring takes no lock per WQE.
	retired []*sendWQE

	// Requester (event loop only).
	sq       []*sendWQE     // taken from pending, not yet retired
	sqBuf    []*sendWQE     // the array sq lives in, from its start
	next     int            // index in sq of the WQE to transmit next
	psn      uint32         // next PSN to send
	sndMax   uint32         // one past the highest PSN sent
	unacked  uint32         // oldest PSN not acknowledged (RC)
	noAck    int            // packets since the last AckReq
	ackPSN   uint32         // PSN of the last packet sent with AckReq
	forceAck bool           // the next packet asks for an ACK
	retry    uint8          // retries left (retry_cnt)
	rnrRetry uint8          // RNR retries left (rnr_retry; 7 is infinite)
	timer    *emu.LoopTimer // local ACK timeout
	rnrTimer *emu.LoopTimer // RNR NAK wait
	txTimer  *emu.LoopTimer // UC/UD: completes WQEs once their packets left
	// paceTimer resumes an RC requester when its port's transmitter is
	// free (virtual clock, see txWait).
	paceTimer *emu.LoopTimer
	// Under the wall clock the local ACK timer is not moved per packet
	// (see restartTimer): lazyTimer says so; timerIdle marks a timer left
	// armed after everything was acknowledged, timerExtend one that must
	// run a full timeout again when it fires, as progress happened since
	// it was armed.
	lazyTimer, timerIdle, timerExtend bool
	// burst is set while progress sends, and rt then caches the route
	// of the QP's address vector (see xmit).
	burst   bool
	rt      route
	rnrWait bool
	drainEv bool // SQD reached: tell the host once the SQ drained
	// End-to-end flow control (IBTA Vol 1 §9.7.7.2): ssn counts the
	// request messages started; the responder's last ACK said it had
	// completed creditMSN messages and had credits receive WQEs free
	// (-1: it does not limit us).
	ssn       uint32
	credits   int
	creditMSN uint32
	consumers []uint32 // msn of started messages that take a receive WQE, not yet reported (from consHead)
	consHead  int

	// Responder (event loop only).
	resp responder

	mcast []mcastKey
}

// sendWQE is a send work request the QP holds.
//
// Its fields are laid out by who writes them, as an adapter keeps the
// WQE the host writes apart from the context it tracks the WQE with: the
// posting goroutine writes only the request (wr and the scatter list, the
// first two cache lines, and the inline data, which only inline
// requests touch), and the event loop keeps its transport state on the
// last line, which it clears itself when it retires the WQE (resetState)
// so that a poster reusing the WQE never writes it. A WQE then crosses
// from the posting core to the loop's once per message, two lines read,
// instead of every line of it going back and forth (sendwqe_internal_test.go
// checks the layout).
type sendWQE struct {
	// Written by the poster (newWQE, copyInline), read by the loop.
	wr     SendWR
	sgl    [2]SGE // storage of wr.SGL for short lists
	inline []byte // the data of an inline WQE
	ibuf   []byte // storage kept for inline data when the WQE is reused
	_      [16]byte

	// Event loop only; zero while the WQE is free (resetState).
	//
	// mr is the region of a one-entry SGL once checkLocal resolved it:
	// each packet gathers from it without a lookup of the key, while it
	// is not deregistered.
	mr       *MR
	length   uint64 // the message's length (set by start, or udSend)
	firstPSN uint32
	npkts    uint32 // PSNs the message takes
	sent     uint32 // packets (PSNs) sent in the current pass
	rdpkts   uint32 // READ response packets received in order
	status   WCStatus
	msn      uint32        // message number (ssn when it started)
	doneAt   time.Duration // UC/UD: when the last packet has left the port (fabric.Elapsed)
	bellAt   time.Duration // when the adapter may start it (doorbell latency, stampDoorbell; virtual clock)
	started  bool
	done     bool // READ data or atomic result arrived
	rdRetry  bool // a READ request for the missing rest is out
}

// resetState clears the loop's state of a WQE it retired, so that the
// WQE is ready for reuse without the poster writing the loop's line.
func (w *sendWQE) resetState() {
	w.mr, w.length, w.firstPSN, w.npkts, w.sent, w.rdpkts = nil, 0, 0, 0, 0, 0
	w.status, w.msn, w.doneAt, w.bellAt, w.started, w.done, w.rdRetry = WCSuccess, 0, 0, 0, false, false, false
}

// msgLen is the message's length: the inline data's, or the sum of the
// scatter/gather list's (checkSend bounded it at post time).
func (w *sendWQE) msgLen() uint64 {
	if w.isInline() {
		return uint64(len(w.inline))
	}
	return sglLen(w.wr.SGL)
}

// consumesRecv reports whether the message takes a receive WQE at the
// responder.
func (w *sendWQE) consumesRecv() bool { return w.wr.Opcode.isSend() || w.wr.Opcode == WRRDMAWriteImm }

func (w *sendWQE) lastPSN() uint32 { return (w.firstPSN + w.npkts - 1) & wire.PSNMask }

func (w *sendWQE) needsResponse() bool {
	return w.wr.Opcode == WRRDMARead || w.wr.Opcode.isAtomic()
}

// psnDiff is a-b in the 24-bit PSN space, in -2^23..2^23-1.
func psnDiff(a, b uint32) int32 { return int32((a-b)<<8) >> 8 }

// CreateQP creates a queue pair in the Reset state (ibv_create_qp). Call
// it on the event loop.
func (pd *PD) CreateQP(init QPInitAttr) (*QP, error) {
	e := pd.e
	c := init.Cap
	switch {
	case pd.dead:
		return nil, fmt.Errorf("verbs: create qp: %w", ErrDestroyed)
	case init.QPType != QPTypeRC && init.QPType != QPTypeUC && init.QPType != QPTypeUD:
		return nil, fmt.Errorf("verbs: create qp: %w: qp type %d", ErrInvalid, init.QPType)
	case init.SendCQ == nil || init.RecvCQ == nil:
		return nil, fmt.Errorf("verbs: create qp: %w: send and receive cqs are required", ErrInvalid)
	case init.SendCQ.dead.Load() || init.RecvCQ.dead.Load() || (init.SRQ != nil && init.SRQ.dead):
		return nil, fmt.Errorf("verbs: create qp: %w: cq or srq destroyed", ErrInvalid)
	case init.SendCQ.e != e || init.RecvCQ.e != e || (init.SRQ != nil && init.SRQ.pd.e != e):
		return nil, fmt.Errorf("verbs: create qp: %w: cq or srq of another device", ErrInvalid)
	// A QP with an SRQ has no receive queue of its own: its receive
	// sizes are not looked at (rxe_qp_chk_cap).
	case int(c.MaxSendWR) > e.attr.MaxQPWR || init.SRQ == nil && int(c.MaxRecvWR) > e.attr.MaxQPWR:
		return nil, fmt.Errorf("verbs: create qp: %w: max_send_wr %d / max_recv_wr %d exceed %d", ErrInvalid, c.MaxSendWR, c.MaxRecvWR, e.attr.MaxQPWR)
	case int(c.MaxSendSGE) > e.attr.MaxSGE || init.SRQ == nil && int(c.MaxRecvSGE) > e.attr.MaxSGE:
		return nil, fmt.Errorf("verbs: create qp: %w: max_send_sge %d / max_recv_sge %d exceed %d", ErrInvalid, c.MaxSendSGE, c.MaxRecvSGE, e.attr.MaxSGE)
	case int(c.MaxInlineData) > e.attr.MaxInlineData:
		return nil, fmt.Errorf("verbs: create qp: %w: max_inline_data %d exceeds %d", ErrInvalid, c.MaxInlineData, e.attr.MaxInlineData)
	case len(e.qps) >= e.attr.MaxQP:
		return nil, fmt.Errorf("verbs: create qp: %w: %d queue pairs", ErrNoMem, len(e.qps))
	}
	if init.SRQ != nil {
		c.MaxRecvWR, c.MaxRecvSGE = 0, 0
	}
	qp := &QP{e: e, typ: init.QPType, pd: pd, scq: init.SendCQ, rcq: init.RecvCQ, srq: init.SRQ, sigAll: init.SQSigAll, cap: c}
	for {
		e.nextQPN = (e.nextQPN + 1) & wire.QPNMask
		if e.nextQPN < 2 || e.nextQPN == MulticastQPN {
			continue
		}
		if e.qps[e.nextQPN] == nil {
			qp.qpn = e.nextQPN
			break
		}
	}
	qp.ringFn = qp.ring
	qp.timer = e.fab.NewLoopTimer(qp.onTimeout)
	qp.lazyTimer = !e.fab.Virtual()
	qp.rnrTimer = e.fab.NewLoopTimer(qp.onRNRTimer)
	qp.txTimer = e.fab.NewLoopTimer(qp.retireSent)
	qp.paceTimer = e.fab.NewLoopTimer(qp.progress)
	qp.attr.Cap = c
	qp.attr.PathMTU = wire.MTU1024
	qp.credits = -1
	e.qps[qp.qpn] = qp
	pd.refs++
	qp.scq.refs++
	qp.rcq.refs++
	if qp.srq != nil {
		qp.srq.refs++
	}
	return qp, nil
}

// Num is the QP number.
func (qp *QP) Num() uint32 { return qp.qpn }

// Type is the QP's transport service.
func (qp *QP) Type() QPType { return qp.typ }

// State is the QP's current state; it may be read from any goroutine.
func (qp *QP) State() QPState { return QPState(qp.state.Load()) }

// Cap returns the QP's queue sizes.
func (qp *QP) Cap() QPCap { return qp.cap }

// SRQ returns the QP's shared receive queue, or nil.
func (qp *QP) SRQ() *SRQ { return qp.srq }

// Destroy destroys the QP (ibv_destroy_qp): outstanding work is dropped
// without completions. A QP still attached to a multicast group is not
// destroyed (ErrBusy), as the Linux uverbs layer refuses it (IBTA Vol 1
// o10-2.2.3). Call it on the event loop.
func (qp *QP) Destroy() error {
	if qp.dead {
		return fmt.Errorf("verbs: destroy qp: %w", ErrDestroyed)
	}
	if len(qp.mcast) > 0 {
		return fmt.Errorf("verbs: destroy qp %#x: %w: attached to %d multicast groups", qp.qpn, ErrBusy, len(qp.mcast))
	}
	qp.reset()
	qp.dead = true
	qp.setState(QPStateReset)
	delete(qp.e.qps, qp.qpn)
	qp.e.lastQP = nil
	qp.pd.refs--
	qp.scq.refs--
	qp.rcq.refs--
	if qp.srq != nil {
		qp.srq.refs--
	}
	return nil
}

// Debug describes the QP's transport state for diagnostics (PSNs, queues,
// credits). Call it on the event loop.
func (qp *QP) Debug() string {
	qp.mu.Lock()
	pend := len(qp.pending)
	qp.mu.Unlock()
	rq := qp.rq.len()
	return fmt.Sprintf("qp %#x %s %s: sq %d (next %d) pending %d psn %#x sndMax %#x unacked %#x ackPSN %#x retry %d rnr %d rnrWait %v timer %v "+
		"ssn %d credits %d creditMSN %d consumers %d | resp epsn %#x msn %d nak %v inMsg %v rq %d",
		qp.qpn, qp.typ, qp.attr.QPState, len(qp.sq), qp.next, pend, qp.psn, qp.sndMax, qp.unacked, qp.ackPSN, qp.retry, qp.rnrRetry,
		qp.rnrWait, qp.timer.Armed(), qp.ssn, qp.credits, qp.creditMSN, len(qp.consumers)-qp.consHead, qp.resp.epsn, qp.resp.msn, qp.resp.nakSent, qp.resp.inMsg, rq)
}

func (qp *QP) setState(s QPState) {
	qp.attr.QPState = s
	qp.state.Store(uint32(s))
}

// Query returns the QP's attributes and its init attributes' queue sizes
// (ibv_query_qp). Call it on the event loop.
func (qp *QP) Query() QPAttr {
	a := qp.attr
	a.CurQPState = a.QPState
	a.SQDraining = a.QPState == QPStateSQD && qp.outstanding()
	return a
}

// transition says which attributes a state transition requires and
// allows, per QP type (IBTA Vol 1 §11.2.5.2, Table 91; the table the
// Linux core's ib_modify_qp_is_ok enforces).
type transition struct {
	ok       bool
	req, opt [5]AttrMask // indexed by QPType
}

var qpTable = func() (t [7][7]transition) {
	const (
		rc, uc, ud = QPTypeRC, QPTypeUC, QPTypeUD
	)
	set := func(cur, next QPState, req, opt map[QPType]AttrMask) {
		tr := transition{ok: true}
		for k, v := range req {
			tr.req[k] = v
		}
		for k, v := range opt {
			tr.opt[k] = v
		}
		t[cur][next] = tr
	}
	// Any state may go to Reset and to Error, except that Reset goes
	// only to Init (and itself).
	for s := QPStateReset; s <= QPStateError; s++ {
		set(s, QPStateReset, nil, nil)
		if s != QPStateReset {
			set(s, QPStateError, nil, nil)
		}
	}
	set(QPStateReset, QPStateInit, map[QPType]AttrMask{
		rc: AttrPKeyIndex | AttrPort | AttrAccessFlags,
		uc: AttrPKeyIndex | AttrPort | AttrAccessFlags,
		ud: AttrPKeyIndex | AttrPort | AttrQKey,
	}, nil)
	set(QPStateInit, QPStateInit, nil, map[QPType]AttrMask{
		rc: AttrPKeyIndex | AttrPort | AttrAccessFlags,
		uc: AttrPKeyIndex | AttrPort | AttrAccessFlags,
		ud: AttrPKeyIndex | AttrPort | AttrQKey,
	})
	set(QPStateInit, QPStateRTR, map[QPType]AttrMask{
		rc: AttrAV | AttrPathMTU | AttrDestQPN | AttrRQPSN | AttrMaxDestRdAtomic | AttrMinRNRTimer,
		uc: AttrAV | AttrPathMTU | AttrDestQPN | AttrRQPSN,
	}, map[QPType]AttrMask{
		rc: AttrAltPath | AttrAccessFlags | AttrPKeyIndex,
		uc: AttrAltPath | AttrAccessFlags | AttrPKeyIndex,
		ud: AttrPKeyIndex | AttrQKey,
	})
	rtsOpt := map[QPType]AttrMask{
		rc: AttrCurState | AttrAltPath | AttrAccessFlags | AttrMinRNRTimer | AttrPathMigState,
		uc: AttrCurState | AttrAltPath | AttrAccessFlags | AttrPathMigState,
		ud: AttrCurState | AttrQKey,
	}
	set(QPStateRTR, QPStateRTS, map[QPType]AttrMask{
		rc: AttrSQPSN | AttrTimeout | AttrRetryCnt | AttrRNRRetry | AttrMaxQPRdAtomic,
		uc: AttrSQPSN,
		ud: AttrSQPSN,
	}, rtsOpt)
	set(QPStateRTS, QPStateRTS, nil, rtsOpt)
	set(QPStateSQD, QPStateRTS, nil, rtsOpt)
	set(QPStateSQE, QPStateRTS, nil, map[QPType]AttrMask{
		uc: AttrCurState | AttrAccessFlags,
		ud: AttrCurState | AttrQKey,
	})
	t[QPStateSQE][QPStateRTS].ok = true
	set(QPStateRTS, QPStateSQD, nil, map[QPType]AttrMask{
		rc: AttrEnSQDAsyncNotify, uc: AttrEnSQDAsyncNotify, ud: AttrEnSQDAsyncNotify,
	})
	set(QPStateSQD, QPStateSQD, nil, map[QPType]AttrMask{
		rc: AttrPort | AttrPKeyIndex | AttrAV | AttrAltPath | AttrAccessFlags | AttrMaxQPRdAtomic | AttrMaxDestRdAtomic |
			AttrTimeout | AttrRetryCnt | AttrRNRRetry | AttrMinRNRTimer | AttrPathMigState,
		uc: AttrPKeyIndex | AttrAV | AttrAltPath | AttrAccessFlags | AttrPathMigState,
		ud: AttrPKeyIndex | AttrQKey,
	})
	return t
}()

// Modify changes the QP's state and attributes (ibv_modify_qp). The
// transition must be one of IBTA Vol 1 §10.3.1, mask must hold every
// attribute the transition requires and nothing it does not allow, and
// each value must be in range; otherwise nothing changes and the error
// wraps ErrInvalid. Call it on the event loop.
func (qp *QP) Modify(attr *QPAttr, mask AttrMask) error {
	if qp.dead {
		return fmt.Errorf("verbs: modify qp %#x: %w", qp.qpn, ErrDestroyed)
	}
	if err := qp.checkModify(attr, mask); err != nil {
		return fmt.Errorf("verbs: modify qp %#x: %w", qp.qpn, err)
	}
	qp.applyModify(attr, mask)
	return nil
}

func (qp *QP) checkModify(attr *QPAttr, mask AttrMask) error {
	cur := qp.attr.QPState
	if mask&AttrCurState != 0 && attr.CurQPState != cur {
		return fmt.Errorf("%w: cur_qp_state %s, the qp is %s", ErrInvalid, attr.CurQPState, cur)
	}
	next := cur
	if mask&AttrState != 0 {
		next = attr.QPState
		if next > QPStateError {
			return fmt.Errorf("%w: qp_state %d", ErrInvalid, next)
		}
	}
	tr := qpTable[cur][next]
	if !tr.ok {
		return fmt.Errorf("%w: transition %s to %s", ErrInvalid, cur, next)
	}
	req, opt := tr.req[qp.typ], tr.opt[qp.typ]
	have := mask &^ AttrState
	if miss := req &^ have; miss != 0 {
		return fmt.Errorf("%w: %s to %s of a %s qp needs attributes %#x", ErrInvalid, cur, next, qp.typ, uint32(miss))
	}
	// cur_qp_state is an optional attribute like the others: only the
	// transitions out of RTR, RTS, SQD and SQE into RTS take it.
	if extra := have &^ (req | opt); extra != 0 {
		return fmt.Errorf("%w: %s to %s of a %s qp does not take attributes %#x", ErrInvalid, cur, next, qp.typ, uint32(extra))
	}
	// A QP draining its send queue in SQD only goes to Error until the
	// drain completes (IBTA Vol 1 §10.3.1.5; rxe's __qp_chk_state).
	if mask&AttrState != 0 && cur == QPStateSQD && next != QPStateError && qp.outstanding() {
		return fmt.Errorf("%w: the send queue is still draining", ErrInvalid)
	}
	e := qp.e
	portNum := int(qp.attr.PortNum)
	if mask&AttrPort != 0 {
		portNum = int(attr.PortNum)
		if e.port(portNum) == nil {
			return fmt.Errorf("%w: port %d (the hca has %d)", ErrInvalid, attr.PortNum, e.node.NumPorts())
		}
	}
	pa := e.dev.SMA().Port(portNum)
	if mask&AttrPKeyIndex != 0 && (pa == nil || int(attr.PKeyIndex) >= pa.NumPKeys()) {
		return fmt.Errorf("%w: pkey_index %d", ErrInvalid, attr.PKeyIndex)
	}
	if mask&AttrAccessFlags != 0 && attr.QPAccessFlags&^accessValid != 0 {
		return fmt.Errorf("%w: qp_access_flags %#x", ErrInvalid, uint32(attr.QPAccessFlags))
	}
	if mask&AttrPathMTU != 0 {
		if attr.PathMTU < wire.MTU256 || attr.PathMTU > wire.MTU4096 {
			return fmt.Errorf("%w: path_mtu %d", ErrInvalid, attr.PathMTU)
		}
		// Bounded by the port's MTU capability (rxe: port max_mtu), not
		// by its active MTU: drivers accept a larger path MTU, and
		// applications (perftest) clamp it to the active MTU themselves.
		if pa != nil && attr.PathMTU > pa.Config.MTUCap {
			return fmt.Errorf("%w: path_mtu %s exceeds the port's %s", ErrInvalid, attr.PathMTU, pa.Config.MTUCap)
		}
	}
	if mask&AttrAV != 0 {
		av := attr.AHAttr
		if av.PortNum == 0 {
			av.PortNum = uint8(portNum)
		}
		if err := e.checkAV(&av); err != nil {
			return err
		}
		if av.DLID.IsMulticast() {
			return fmt.Errorf("%w: a connected qp cannot use multicast dlid %#x", ErrInvalid, uint16(av.DLID))
		}
	}
	switch {
	case mask&AttrDestQPN != 0 && (attr.DestQPNum > wire.QPNMask || attr.DestQPNum == MulticastQPN):
		return fmt.Errorf("%w: dest_qp_num %#x", ErrInvalid, attr.DestQPNum)
	case mask&AttrMaxQPRdAtomic != 0 && int(attr.MaxRdAtomic) > e.attr.MaxQPRdAtom:
		return fmt.Errorf("%w: max_rd_atomic %d exceeds %d", ErrInvalid, attr.MaxRdAtomic, e.attr.MaxQPRdAtom)
	case mask&AttrMaxDestRdAtomic != 0 && int(attr.MaxDestRdAtomic) > e.attr.MaxQPInitRdAtom:
		return fmt.Errorf("%w: max_dest_rd_atomic %d exceeds %d", ErrInvalid, attr.MaxDestRdAtomic, e.attr.MaxQPInitRdAtom)
	case mask&AttrTimeout != 0 && attr.Timeout > 31:
		return fmt.Errorf("%w: timeout %d", ErrInvalid, attr.Timeout)
	case mask&AttrRetryCnt != 0 && attr.RetryCnt > 7:
		return fmt.Errorf("%w: retry_cnt %d", ErrInvalid, attr.RetryCnt)
	case mask&AttrRNRRetry != 0 && attr.RNRRetry > 7:
		return fmt.Errorf("%w: rnr_retry %d", ErrInvalid, attr.RNRRetry)
	case mask&AttrMinRNRTimer != 0 && attr.MinRNRTimer > 31:
		return fmt.Errorf("%w: min_rnr_timer %d", ErrInvalid, attr.MinRNRTimer)
	case mask&AttrRQPSN != 0 && attr.RQPSN > wire.PSNMask:
		return fmt.Errorf("%w: rq_psn %#x", ErrInvalid, attr.RQPSN)
	case mask&AttrSQPSN != 0 && attr.SQPSN > wire.PSNMask:
		return fmt.Errorf("%w: sq_psn %#x", ErrInvalid, attr.SQPSN)
	case mask&AttrPathMigState != 0 && attr.PathMigState > 2:
		return fmt.Errorf("%w: path_mig_state %d", ErrInvalid, attr.PathMigState)
	case mask&AttrAltPath != 0:
		return fmt.Errorf("%w: alternate paths (automatic path migration) are not supported", ErrInvalid)
	}
	return nil
}

func (qp *QP) applyModify(attr *QPAttr, mask AttrMask) {
	qp.rt.valid = false // the route depends on the port, P_Key index and AV
	a := &qp.attr
	if mask&AttrPort != 0 {
		a.PortNum = attr.PortNum
	}
	if mask&AttrPKeyIndex != 0 {
		a.PKeyIndex = attr.PKeyIndex
	}
	if mask&AttrAccessFlags != 0 {
		a.QPAccessFlags = attr.QPAccessFlags
	}
	if mask&AttrQKey != 0 {
		a.QKey = attr.QKey
	}
	if mask&AttrAV != 0 {
		a.AHAttr = attr.AHAttr
		if a.AHAttr.PortNum == 0 {
			a.AHAttr.PortNum = a.PortNum
		}
	}
	if mask&AttrPathMTU != 0 {
		a.PathMTU = attr.PathMTU
	}
	if mask&AttrDestQPN != 0 {
		a.DestQPNum = attr.DestQPNum
	}
	if mask&AttrRQPSN != 0 {
		a.RQPSN = attr.RQPSN
		qp.resp.epsn = attr.RQPSN
	}
	if mask&AttrMaxDestRdAtomic != 0 {
		a.MaxDestRdAtomic = attr.MaxDestRdAtomic
	}
	if mask&AttrMinRNRTimer != 0 {
		a.MinRNRTimer = attr.MinRNRTimer
	}
	if mask&AttrSQPSN != 0 {
		a.SQPSN = attr.SQPSN
		qp.psn, qp.sndMax, qp.unacked = attr.SQPSN, attr.SQPSN, attr.SQPSN
	}
	if mask&AttrTimeout != 0 {
		a.Timeout = attr.Timeout
	}
	if mask&AttrRetryCnt != 0 {
		a.RetryCnt = attr.RetryCnt
		qp.retry = attr.RetryCnt
	}
	if mask&AttrRNRRetry != 0 {
		a.RNRRetry = attr.RNRRetry
		qp.rnrRetry = attr.RNRRetry
	}
	if mask&AttrMaxQPRdAtomic != 0 {
		a.MaxRdAtomic = attr.MaxRdAtomic
	}
	if mask&AttrPathMigState != 0 {
		a.PathMigState = attr.PathMigState
	}
	if mask&AttrEnSQDAsyncNotify != 0 {
		a.EnSQDAsyncNotify = attr.EnSQDAsyncNotify
	}
	if mask&AttrState == 0 {
		return
	}
	prev := a.QPState
	next := attr.QPState
	switch next {
	case QPStateReset:
		qp.reset()
		qp.setState(QPStateReset)
	case QPStateError:
		qp.toError()
	case QPStateSQD:
		qp.setState(QPStateSQD)
		qp.drainEv = a.EnSQDAsyncNotify
		qp.checkDrained()
	default:
		qp.setState(next)
		if next == QPStateRTS && prev != QPStateRTS {
			qp.e.fab.Post(qp.ringFn)
		}
	}
}

// reset drops all work without completions and clears the transport
// state (the Reset state, IBTA Vol 1 §10.3.1).
func (qp *QP) reset() {
	qp.stopTimers()
	qp.mu.Lock()
	qp.pending, qp.rings = nil, nil
	qp.sqUsed.Store(0)
	qp.unpublished = 0
	qp.mu.Unlock()
	qp.retired = nil
	qp.rq.clear()
	qp.sq, qp.sqBuf, qp.next = nil, nil, 0
	qp.psn, qp.sndMax, qp.unacked, qp.noAck = 0, 0, 0, 0
	qp.rnrWait, qp.drainEv = false, false
	qp.ssn, qp.credits, qp.creditMSN, qp.consumers, qp.consHead = 0, -1, 0, nil, 0
	qp.resp = responder{}
	qp.attr = QPAttr{Cap: qp.cap, PathMTU: wire.MTU1024}
}

func (qp *QP) stopTimers() {
	qp.timer.Stop()
	qp.rnrTimer.Stop()
	qp.txTimer.Stop()
	qp.paceTimer.Stop()
}

// outstanding reports whether the requester has work in flight.
func (qp *QP) outstanding() bool {
	if qp.next > 0 {
		return true
	}
	return len(qp.sq) > 0 && qp.sq[0].started
}

// checkDrained raises the SQ drained event once nothing is in flight in
// the SQD state (IBTA Vol 1 §11.6.3.1).
func (qp *QP) checkDrained() {
	if qp.attr.QPState == QPStateSQD && qp.drainEv && !qp.outstanding() {
		qp.drainEv = false
		qp.e.event(AsyncEvent{Type: EventSQDrained, QP: qp})
	}
}

// toError moves the QP to the Error state: timers stop, every send WQE
// not yet retired and every receive WQE completes with a flush error
// (IBTA Vol 1 §10.3.1, §11.4.2.1).
func (qp *QP) toError() {
	if qp.attr.QPState == QPStateError {
		return
	}
	qp.setState(QPStateError)
	qp.stopTimers()
	qp.flush()
	if qp.srq != nil {
		qp.e.event(AsyncEvent{Type: EventQPLastWQEReached, QP: qp})
	}
}

// flush completes every queued WQE with WR_FLUSH_ERR (the first keeps an
// error status already set on it).
func (qp *QP) flush() {
	qp.take(true)
	for len(qp.sq) > 0 {
		w := qp.sq[0]
		if w.status == WCSuccess && !(qp.typ != QPTypeRC && w.done) {
			w.status = WCWRFlushErr // a UC/UD message that left completes normally
		}
		qp.retire(w)
	}
	qp.next = 0
	qp.consumers, qp.consHead = qp.consumers[:0], 0
	qp.publishRetired()
	if qp.attr.QPState != QPStateError {
		return // SQE flushes only the send queue
	}
	for _, r := range qp.rq.takeAll() {
		qp.rcq.push(WC{WRID: r.wrID, Status: WCWRFlushErr, Opcode: WCRecv, QPNum: qp.qpn}, false)
	}
	if cur := qp.resp.recv; cur != nil {
		qp.resp.recv = nil
		qp.rcq.push(WC{WRID: cur.wrID, Status: WCWRFlushErr, Opcode: WCRecv, QPNum: qp.qpn}, false)
	}
}

// take moves posted WQEs from the host's queue to the requester: under
// the virtual clock those of the oldest post not yet taken (see rings),
// else, or with all, every one.
func (qp *QP) take(all bool) {
	qp.publishRetired()
	qp.mu.Lock()
	qp.bell = false
	k := len(qp.pending)
	switch {
	case all:
		qp.rings = qp.rings[:0]
	case len(qp.rings) > 0:
		k = min(k, qp.rings[0])
		qp.rings = qp.rings[:copy(qp.rings, qp.rings[1:])]
	}
	for i, w := range qp.retired {
		qp.freeWQE(w)
		qp.retired[i] = nil
	}
	qp.retired = qp.retired[:0]
	if k > 0 {
		// Retiring slides sq along its array; move it back to the start
		// rather than let append allocate a new one.
		if need := len(qp.sq) + k; need > cap(qp.sq) && need <= cap(qp.sqBuf) {
			n := copy(qp.sqBuf[:cap(qp.sqBuf)], qp.sq)
			clear(qp.sqBuf[n:cap(qp.sqBuf)])
			qp.sq = qp.sqBuf[:n]
		}
		qp.sq = append(qp.sq, qp.pending[:k]...)
		if cap(qp.sq) > cap(qp.sqBuf) {
			qp.sqBuf = qp.sq[:0]
		}
		rest := copy(qp.pending, qp.pending[k:])
		clear(qp.pending[rest:])
		qp.pending = qp.pending[:rest]
	}
	qp.mu.Unlock()
}

// retire removes the oldest WQE and completes it when it is signaled or
// failed.
func (qp *QP) retire(w *sendWQE) {
	qp.sq[0] = nil
	qp.sq = qp.sq[1:]
	if qp.next > 0 {
		qp.next--
	}
	qp.retired = append(qp.retired, w)
	qp.unpublished++
	if w.status == WCSuccess && !qp.sigAll && w.wr.Flags&SendSignaled == 0 {
		w.resetState()
		return // unsignaled: no completion
	}
	// A host that polls this completion may post into the slots it
	// frees: they are counted free before the completion is visible.
	qp.publishRetired()
	wc := WC{WRID: w.wr.WRID, Status: w.status, Opcode: wcOpcode(w.wr.Opcode), QPNum: qp.qpn}
	if w.status == WCSuccess && w.wr.Opcode == WRRDMARead {
		wc.ByteLen = uint32(w.length)
	}
	if w.status == WCSuccess && w.wr.Opcode.isAtomic() {
		wc.ByteLen = 8
	}
	w.resetState()
	if !qp.scq.push(wc, false) {
		qp.cqOverflow()
	}
}

// publishRetired lowers sqUsed by the WQEs retired since it last did:
// once per completion and once at the end of each run of the requester
// (progress, flush, retireSent, take), rather than once per WQE, since
// every change to sqUsed pulls its cache line from the posting core. A
// poster may see the queue fuller than it is for the rest of one event,
// never emptier, and never fuller once it has polled a completion.
func (qp *QP) publishRetired() {
	if qp.unpublished > 0 {
		qp.sqUsed.Add(-qp.unpublished)
		qp.unpublished = 0
	}
}

// cqOverflow puts the QP in the Error state after its CQ overflowed.
func (qp *QP) cqOverflow() {
	if qp.attr.QPState != QPStateError {
		qp.e.event(AsyncEvent{Type: EventQPFatal, QP: qp})
		qp.toError()
	}
}

func wcOpcode(op WROpcode) WCOpcode {
	switch op {
	case WRRDMAWrite, WRRDMAWriteImm:
		return WCRDMAWrite
	case WRRDMARead:
		return WCRDMARead
	case WRAtomicCmpAndSwp:
		return WCCompSwap
	case WRAtomicFetchAndAdd:
		return WCFetchAdd
	}
	return WCSend
}

// PostSend posts send work requests (ibv_post_send). It is safe from any
// goroutine. On error it returns the index of the first request not
// posted (bad_wr); the requests before it are posted.
func (qp *QP) PostSend(wrs []SendWR) (int, error) {
	switch st := qp.State(); {
	case qp.dead:
		return 0, fmt.Errorf("verbs: post send: %w", ErrDestroyed)
	case st < QPStateRTS:
		return 0, fmt.Errorf("verbs: post send: %w: qp %#x is %s", ErrInvalid, qp.qpn, st)
	}
	var err error
	n := 0
	qp.mu.Lock()
	// sqUsed is read once and added to once per call, not per request:
	// the event loop decrements it as it retires WQEs, and touching it
	// per request would pull its cache line back from the loop's core
	// each time. Posters hold mu, and the loop only lowers it, so the
	// count is exact for this call or errs on the full side; a request
	// that seems not to fit reads it again.
	used := int(qp.sqUsed.Load())
	for i := range wrs {
		wr := &wrs[i]
		_, e := qp.checkSend(wr)
		if e != nil {
			err = fmt.Errorf("verbs: post send: wr %d: %w", i, e)
			break
		}
		if used >= int(qp.cap.MaxSendWR) {
			if used = int(qp.sqUsed.Load()) + n; used >= int(qp.cap.MaxSendWR) {
				err = fmt.Errorf("verbs: post send: wr %d: %w: send queue full (%d)", i, ErrNoMem, qp.cap.MaxSendWR)
				break
			}
		}
		w := qp.newWQE(wr)
		if e := qp.copyInline(w, wr); e != nil {
			qp.freeWQE(w)
			err = fmt.Errorf("verbs: post send: wr %d: %w", i, e)
			break
		}
		qp.pending = append(qp.pending, w)
		used++
		n++
	}
	if n > 0 {
		qp.sqUsed.Add(int32(n))
	}
	var ring bool
	if qp.e.fab.Virtual() {
		// Under the virtual clock every post rings a doorbell of its own
		// that takes exactly its work requests. With one doorbell for
		// whatever is pending when the event loop gets to it, how the
		// posts of a host group into bursts (and so where the AckReq
		// bits, the ACKs and the completions fall) would depend on when
		// the loop ran relative to the poster, and one run of a test
		// could differ from the next.
		if n > 0 {
			qp.rings = append(qp.rings, n)
			ring = true
		}
	} else {
		ring = !qp.bell && len(qp.pending) > 0
		qp.bell = qp.bell || ring
	}
	qp.mu.Unlock()
	if ring {
		// The doorbell, rung after qp.mu is let go: the poster runs the
		// send itself when the event loop is idle (emu.Fabric.Enter),
		// and then lets the host goroutines that run woke have the
		// processor if the process has only one.
		woken := hostWakes.Load()
		if qp.e.fab.Enter(qp.ringFn) {
			qp.yieldToWoken(woken, n)
		}
	}
	return n, err
}

// newWQE takes a WQE from the QP's free list (qp.mu held) and fills it
// from wr. A scatter/gather list of up to two entries is kept in the WQE
// itself, so a steady stream of posts allocates nothing. It writes only
// the request's part of the WQE: the loop cleared its own part when it
// retired it (see sendWQE).
func (qp *QP) newWQE(wr *SendWR) *sendWQE {
	var w *sendWQE
	if n := len(qp.freeWQEs); n > 0 {
		w = qp.freeWQEs[n-1]
		qp.freeWQEs[n-1] = nil
		qp.freeWQEs = qp.freeWQEs[:n-1]
		w.wr = *wr
		if w.inline != nil {
			w.inline = nil
		}
	} else {
		w = &sendWQE{wr: *wr}
	}
	w.wr.SGL = nil
	if len(wr.SGL) > 0 && !w.isInline() {
		if len(wr.SGL) <= len(w.sgl) {
			n := copy(w.sgl[:], wr.SGL)
			w.wr.SGL = w.sgl[:n:n]
		} else {
			w.wr.SGL = append([]SGE(nil), wr.SGL...)
		}
	}
	return w
}

// freeWQE returns a WQE nobody refers to any more to the free list
// (qp.mu held). Its loop state was cleared when it retired; a UD WQE's
// address handle is dropped so that the free list keeps none alive (a
// check first, so that other WQEs' request lines are not written here).
func (qp *QP) freeWQE(w *sendWQE) {
	if len(qp.freeWQEs) < int(qp.cap.MaxSendWR) {
		if w.wr.AH != nil {
			w.wr.AH = nil
		}
		qp.freeWQEs = append(qp.freeWQEs, w)
	}
}

// isInline reports whether the WQE carries its data inline (copied at
// post time): SEND and RDMA WRITE with the inline flag.
func (w *sendWQE) isInline() bool {
	op := w.wr.Opcode
	return w.wr.Flags&SendInline != 0 && (op == WRSend || op == WRSendImm || op == WRRDMAWrite || op == WRRDMAWriteImm)
}

// copyInline copies the data of an inline WQE from the registered memory
// its SGEs name (inline data names memory by address only).
func (qp *QP) copyInline(w *sendWQE, wr *SendWR) error {
	if !w.isInline() {
		return nil
	}
	w.inline = w.ibuf[:0]
	for _, s := range wr.SGL {
		if s.Length == 0 {
			continue
		}
		b := qp.e.findMRShared(qp.pd, s.Addr, uint64(s.Length))
		if b == nil {
			return fmt.Errorf("%w: inline sge %#x+%d is in no memory region of the pd", ErrInvalid, s.Addr, s.Length)
		}
		w.inline = append(w.inline, b...)
	}
	w.ibuf = w.inline
	return nil
}

// checkSend validates a send WR the way providers do at post time and
// returns its message length. Inline data is copied when the WQE is
// built; other SGEs are read when the packets are built.
func (qp *QP) checkSend(wr *SendWR) (uint64, error) {
	if len(wr.SGL) > int(qp.cap.MaxSendSGE) {
		return 0, fmt.Errorf("%w: %d sges exceed max_send_sge %d", ErrInvalid, len(wr.SGL), qp.cap.MaxSendSGE)
	}
	if wr.Flags&^(SendFence|SendSignaled|SendSolicited|SendInline) != 0 {
		return 0, fmt.Errorf("%w: send flags %#x", ErrInvalid, uint32(wr.Flags))
	}
	op := wr.Opcode
	switch qp.typ {
	case QPTypeUD:
		if op != WRSend && op != WRSendImm {
			return 0, fmt.Errorf("%w: %s on a UD qp", ErrInvalid, op)
		}
		if wr.AH == nil || wr.AH.dead || wr.AH.pd != qp.pd {
			return 0, fmt.Errorf("%w: ud send needs a live address handle of the qp's pd", ErrInvalid)
		}
		if wr.RemoteQPN > wire.QPNMask {
			return 0, fmt.Errorf("%w: remote_qpn %#x", ErrInvalid, wr.RemoteQPN)
		}
	case QPTypeUC:
		if op != WRSend && op != WRSendImm && op != WRRDMAWrite && op != WRRDMAWriteImm {
			return 0, fmt.Errorf("%w: %s on a UC qp", ErrInvalid, op)
		}
	default:
		if op > WRAtomicFetchAndAdd {
			return 0, fmt.Errorf("%w: opcode %d", ErrInvalid, op)
		}
	}
	var n uint64
	for _, s := range wr.SGL {
		n += uint64(s.Length)
	}
	if n > 1<<31 {
		return 0, fmt.Errorf("%w: message of %d bytes exceeds 2^31", ErrInvalid, n)
	}
	if op.isAtomic() {
		if len(wr.SGL) != 1 || wr.SGL[0].Length != 8 {
			return 0, fmt.Errorf("%w: an atomic needs one 8-byte sge", ErrInvalid)
		}
		if wr.RemoteAddr%8 != 0 {
			return 0, fmt.Errorf("%w: atomic remote_addr %#x is not 8-byte aligned", ErrInvalid, wr.RemoteAddr)
		}
	}
	if wr.Flags&SendInline != 0 {
		// Only SEND and RDMA WRITE carry inline data; rxe refuses the
		// flag on READ and atomics rather than ignore it.
		if op == WRRDMARead || op.isAtomic() {
			return 0, fmt.Errorf("%w: %s cannot be inline", ErrInvalid, op)
		}
		if n > uint64(qp.cap.MaxInlineData) {
			return 0, fmt.Errorf("%w: %d inline bytes exceed max_inline_data %d", ErrInvalid, n, qp.cap.MaxInlineData)
		}
	}
	return n, nil
}

// PostRecv posts receive work requests (ibv_post_recv), safe from any
// goroutine. A QP with an SRQ takes none. The WQEs go into the QP's
// receive ring (recvRing), which the event loop reads without a lock.
func (qp *QP) PostRecv(wrs []RecvWR) (int, error) {
	switch st := qp.State(); {
	case qp.dead:
		return 0, fmt.Errorf("verbs: post recv: %w", ErrDestroyed)
	case qp.srq != nil:
		return 0, fmt.Errorf("verbs: post recv: %w: qp %#x uses an srq", ErrInvalid, qp.qpn)
	case st == QPStateReset:
		return 0, fmt.Errorf("verbs: post recv: %w: qp %#x is %s", ErrInvalid, qp.qpn, st)
	}
	rq := &qp.rq
	rq.mu.Lock()
	n, err := len(wrs), error(nil)
	used := rq.bound()
	for i := range wrs {
		if len(wrs[i].SGL) > int(qp.cap.MaxRecvSGE) {
			n, err = i, fmt.Errorf("verbs: post recv: wr %d: %w: %d sges exceed max_recv_sge %d", i, ErrInvalid, len(wrs[i].SGL), qp.cap.MaxRecvSGE)
			break
		}
		if used >= int(qp.cap.MaxRecvWR) {
			// The loop may have taken some since: look again.
			rq.refresh()
			if used = rq.bound() + i; used >= int(qp.cap.MaxRecvWR) {
				n, err = i, fmt.Errorf("verbs: post recv: wr %d: %w: receive queue full (%d)", i, ErrNoMem, qp.cap.MaxRecvWR)
				break
			}
		}
		used++
	}
	// The WQEs before the first bad one are posted, all at once.
	rq.pushAll(wrs[:n])
	rq.mu.Unlock()
	// A QP in the Error state flushes what is posted: ring so that the
	// loop does (it sets the state before it takes the queue, so either
	// it took these WQEs or this load sees the state).
	if n > 0 && qp.State() == QPStateError {
		qp.mu.Lock()
		if !qp.bell {
			qp.bell = true
			qp.e.fab.Post(qp.ringFn)
		}
		qp.mu.Unlock()
	}
	return n, err
}

// takeRecv removes the next receive WQE (from the SRQ when there is one).
func (qp *QP) takeRecv() (recvWQE, bool) {
	if qp.srq != nil {
		w, ok, fire := qp.srq.take()
		if fire {
			qp.e.event(AsyncEvent{Type: EventSRQLimitReached, SRQ: qp.srq})
		}
		return w, ok
	}
	return qp.rq.pop()
}

func (qp *QP) hasRecv() bool {
	if qp.srq != nil {
		return qp.srq.has()
	}
	return qp.rq.len() > 0
}

// timeout is the local ACK timeout: 4.096 µs × 2^Timeout; 0 is infinite
// (IBTA Vol 1 §9.7.6.1.3).
func (qp *QP) timeout() time.Duration {
	if qp.attr.Timeout == 0 {
		return 0
	}
	return time.Duration(4096<<qp.attr.Timeout) * time.Nanosecond
}

// mtu is the QP's payload limit per packet.
func (qp *QP) mtu() int {
	if qp.typ == QPTypeUD {
		if pa := qp.e.dev.SMA().Port(int(qp.attr.PortNum)); pa != nil {
			m := pa.Config.MTUCap
			if pa.NeighborMTU != 0 && pa.NeighborMTU < m {
				m = pa.NeighborMTU
			}
			return m.Bytes()
		}
		return 256
	}
	return qp.attr.PathMTU.Bytes()
}

// findMRShared is findMR for a posting goroutine: inline data is read at
// post time, under the region table's read lock.
func (e *Engine) findMRShared(pd *PD, addr, n uint64) []byte {
	e.mrMu.RLock()
	defer e.mrMu.RUnlock()
	return e.findMR(pd, addr, n)
}
