package cm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/verbs"
)

// State is a connection's state in the CM state machine (IBTA Vol 1
// §12.9.6, Figure 149; the Linux CM's ib_cm_state).
type State uint8

// Connection states.
const (
	StateIdle State = iota
	StateReqSent
	StateReqRcvd
	StateMRAReqSent
	StateMRAReqRcvd
	StateRepSent
	StateRepRcvd
	StateMRARepRcvd
	StateEstablished
	StateDreqSent
	StateDreqRcvd
	StateTimeWait
)

var stateNames = [...]string{"IDLE", "REQ_SENT", "REQ_RCVD", "MRA_REQ_SENT", "MRA_REQ_RCVD", "REP_SENT", "REP_RCVD",
	"MRA_REP_RCVD", "ESTABLISHED", "DREQ_SENT", "DREQ_RCVD", "TIMEWAIT"}

// String names the state as the IBTA does.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Conn is one connection, active or passive side.
type Conn struct {
	c         *CM
	active    bool
	serviceID uint64
	qpType    verbs.QPType
	estab     chan struct{} // closed when established or failed
	done      chan struct{} // closed when the connection is over
	disc      chan struct{} // closed when a local Disconnect completes

	// Everything below is guarded by c.mu.
	qp                  *verbs.QP
	state               State
	localID, remoteID   uint32
	remoteGUID          wire.GUID
	localQPN, remoteQPN uint32
	addr                mad.Addr // where CM messages to the peer go
	reqTID              uint64   // the REQ's TID: REP, RTU, REJ and MRA reuse it
	pkey                wire.PKey
	pkeyIndex           uint16
	mtu                 wire.MTU
	path                wire.CMPathFields // seen from this side: Local is this port
	pktLife             uint8
	// avTimeout is the Linux CM's av.timeout: packet lifetime + 1 until
	// the REP (active side), then the QP's Local ACK Timeout; it sets the
	// MRA wait and TimeWait.
	avTimeout             uint8
	flowControl, srq      bool
	inRemoteQP            bool // the remote QPN is reserved (ib_cm's remote_qp_table)
	lapRcvd               bool
	autoAccess            bool // access flags follow the responder resources
	sqPSN, rqPSN          uint32
	respRes, initDepth    uint8
	retryCount, rnrRetry  uint8
	ackTimeout            uint8
	minRNRTimer           uint8
	access                verbs.Access
	timeout               time.Duration // the peer's response timeout
	maxRetries            int
	msg                   []byte // what the timer retransmits
	retriesLeft           int
	retryEvery            time.Duration // the wait before msg goes again
	timer                 emu.Timer
	gen                   uint64
	mraMsg, last          []byte // answers to duplicates: MRA (dup REQ), RTU (dup REP), DREP (dup DREQ)
	peerPrivate           []byte
	rtuPrivate            []byte
	dreqPrivate           []byte
	drepPrivate           []byte // ours, for the DREP that answers a DREQ
	rtuReply              []byte // ours, for the RTU (active side)
	mrasReceived          int
	estabErr, doneErr     error
	discErr               error
	estabSet, doneSet     bool
	discSet, qpErrApplied bool
}

func newConn(c *CM, active bool) *Conn {
	return &Conn{c: c, active: active, estab: make(chan struct{}), done: make(chan struct{}), disc: make(chan struct{})}
}

// LocalCommID is this side's communication ID.
func (cn *Conn) LocalCommID() uint32 {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.localID
}

// RemoteCommID is the peer's communication ID (0 until known).
func (cn *Conn) RemoteCommID() uint32 {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.remoteID
}

// RemoteQPN is the peer's QP number.
func (cn *Conn) RemoteQPN() uint32 {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.remoteQPN
}

// RemoteCAGUID is the peer's CA GUID.
func (cn *Conn) RemoteCAGUID() wire.GUID {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.remoteGUID
}

// ServiceID is the connection's service.
func (cn *Conn) ServiceID() uint64 { return cn.serviceID }

// QP is the connected queue pair.
func (cn *Conn) QP() *verbs.QP {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.qp
}

// State is the connection's CM state.
func (cn *Conn) State() State {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.state
}

// PrivateData is the peer's private data from connection setup: the REP's
// (196 bytes) on the active side, the REQ's (92) on the passive side.
func (cn *Conn) PrivateData() []byte {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return append([]byte(nil), cn.peerPrivate...)
}

// RTUPrivateData is the private data of the RTU received (passive side).
func (cn *Conn) RTUPrivateData() []byte {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return append([]byte(nil), cn.rtuPrivate...)
}

// DisconnectPrivateData is the private data of the DREQ the peer sent, or
// nil.
func (cn *Conn) DisconnectPrivateData() []byte {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return append([]byte(nil), cn.dreqPrivate...)
}

// MRAsReceived counts the MRAs the peer sent for this connection.
func (cn *Conn) MRAsReceived() int {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.mrasReceived
}

// Done is closed when the connection is over: disconnected by either
// side, rejected or timed out.
func (cn *Conn) Done() <-chan struct{} { return cn.done }

// Err says why the connection ended once Done is closed: nil after a local
// Disconnect, ErrDisconnected when the peer sent DREQ, a *RejectError, or
// ErrTimeout.
func (cn *Conn) Err() error {
	cn.c.mu.Lock()
	defer cn.c.mu.Unlock()
	return cn.doneErr
}

// ----- helpers, all under c.mu -----

// +checklocks:cn.c.mu
func (cn *Conn) stopTimerLocked() {
	if cn.timer != nil {
		cn.timer.Stop()
		cn.timer = nil
	}
	cn.gen++
}

// armLocked sends msg and keeps retransmitting it every d, retries times.
//
// +checklocks:cn.c.mu
func (cn *Conn) armLocked(msg []byte, d time.Duration, retries int) error {
	cn.stopTimerLocked()
	cn.msg, cn.retriesLeft, cn.retryEvery = msg, retries, d
	err := cn.c.sendLocked(cn.addr, msg, false)
	cn.startTimerLocked(d)
	return err
}

// +checklocks:cn.c.mu
func (cn *Conn) startTimerLocked(d time.Duration) {
	if cn.timer != nil {
		cn.timer.Stop()
	}
	cn.gen++
	gen := cn.gen
	cn.timer = cn.c.clock.AfterFunc(d, func() { cn.onTimer(gen) })
}

// onTimer runs on the delivery context when a retransmission or TimeWait
// timer fires.
func (cn *Conn) onTimer(gen uint64) {
	c := cn.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.gen != gen || c.closed {
		return
	}
	cn.timer = nil
	if cn.state == StateTimeWait {
		cn.state = StateIdle
		c.removeLocked(cn)
		return
	}
	if cn.msg == nil {
		return
	}
	if cn.retriesLeft > 0 {
		cn.retriesLeft--
		_ = c.sendLocked(cn.addr, cn.msg, true)
		cn.startTimerLocked(cn.retryEvery)
		return
	}
	c.stats.Timeouts++
	what := wire.CMAttrName(wire.MAD(cn.msg).AttrID())
	tmo := fmt.Errorf("cm: %s to %s: no answer after %d retries: %w", what, cn.addr, cn.maxRetries, ErrTimeout)
	switch cn.state {
	case StateReqSent, StateMRAReqRcvd, StateRepSent, StateMRARepRcvd:
		// As ib_cm's cm_process_send_error: back to idle without a
		// message (IB_CM_REQ_ERROR / IB_CM_REP_ERROR); only a consumer
		// that gives up early (Connect's ctx) sends REJ(timeout).
		cn.failLocked(tmo)
	case StateDreqSent:
		cn.enterTimeWaitLocked()
		cn.discDoneLocked(tmo)
	}
}

func guidARI(g wire.GUID) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(uint64(g) >> (56 - 8*i))
	}
	return b
}

// sendRejectLocked sends a REJ for this connection; the Message REJected
// field follows the state, as the Linux CM's cm_format_rej does.
//
// +checklocks:cn.c.mu
func (cn *Conn) sendRejectLocked(reason wire.CMRejectReason, ari, priv []byte) {
	m := newMsg(wire.AttrCMREJ, cn.reqTID)
	f := wire.CMREJFields{LocalCommID: cn.localID, RemoteCommID: cn.remoteID, MessageRejected: wire.CMMsgOther,
		Reason: reason, ARI: ari, PrivateData: priv}
	switch cn.state {
	case StateReqRcvd:
		f.LocalCommID, f.MessageRejected = 0, wire.CMMsgREQ
	case StateMRAReqSent:
		f.MessageRejected = wire.CMMsgREQ
	case StateRepRcvd:
		f.MessageRejected = wire.CMMsgREP
	}
	wire.CMREJ(msgOf(m)).Encode(&f)
	_ = cn.c.sendLocked(cn.addr, m, false)
}

// failLocked ends a connection that did not get (or stay) established.
//
// +checklocks:cn.c.mu
func (cn *Conn) failLocked(err error) {
	cn.stopTimerLocked()
	cn.state = StateIdle
	cn.c.removeLocked(cn)
	cn.setEstabLocked(err)
	cn.closeDoneLocked(err)
	cn.discDoneLocked(err)
}

// +checklocks:cn.c.mu
func (cn *Conn) setEstabLocked(err error) {
	if !cn.estabSet {
		cn.estabSet, cn.estabErr = true, err
		close(cn.estab)
	}
}

// +checklocks:cn.c.mu
func (cn *Conn) closeDoneLocked(err error) {
	if !cn.doneSet {
		cn.doneSet, cn.doneErr = true, err
		close(cn.done)
	}
}

// +checklocks:cn.c.mu
func (cn *Conn) discDoneLocked(err error) {
	if !cn.discSet {
		cn.discSet, cn.discErr = true, err
		close(cn.disc)
	}
}

// +checklocks:cn.c.mu
func (cn *Conn) establishLocked() {
	cn.stopTimerLocked()
	cn.msg = nil
	cn.state = StateEstablished
	cn.c.stats.Established++
	cn.setEstabLocked(nil)
}

// enterTimeWaitLocked moves the connection to TimeWait (IBTA Vol 1
// §12.9.6) as ib_cm's cm_enter_timewait does: the local communication ID
// stays taken (a repeated DREQ is answered with the DREP again) for
// cmTime(av.timeout), the path's Local ACK Timeout; the remote ID and the
// remote QPN are released at once, so a new REQ from the same QP is a new
// connection, not a stale one.
//
// +checklocks:cn.c.mu
func (cn *Conn) enterTimeWaitLocked() {
	cn.stopTimerLocked()
	cn.msg = nil
	cn.state = StateTimeWait
	cn.inRemoteQP = false
	if k := (remoteKey{cn.remoteGUID, cn.remoteID}); cn.c.byRemote[k] == cn {
		delete(cn.c.byRemote, k)
	}
	cn.startTimerLocked(cmTime(cn.avTimeout))
	cn.setEstabLocked(fmt.Errorf("cm: connection ended during setup: %w", ErrState))
}

// removeLocked forgets cn.
//
// +checklocks:c.mu
func (c *CM) removeLocked(cn *Conn) {
	if c.conns[cn.localID] == cn {
		delete(c.conns, cn.localID)
	}
	k := remoteKey{cn.remoteGUID, cn.remoteID}
	if c.byRemote[k] == cn {
		delete(c.byRemote, k)
	}
}

// findRemoteQPLocked returns the connection that holds QP qpn of the CA
// guid (from the REQ on the passive side, the REP on the active side,
// until TimeWait): a REQ or REP that names it again is stale (IBTA Vol 1
// §12.9.8.3.1; ib_cm's remote_qp_table).
//
// +checklocks:c.mu
func (c *CM) findRemoteQPLocked(guid wire.GUID, qpn uint32, except *Conn) *Conn {
	for _, cn := range c.conns {
		if cn != except && cn.inRemoteQP && cn.remoteGUID == guid && cn.remoteQPN == qpn {
			return cn
		}
	}
	return nil
}

// ----- QP transitions (ib_cm_init_qp_attr) -----

// toInit moves a RESET QP to INIT with the port, P_Key index and access
// flags; a QP already past RESET is left alone.
func (c *CM) toInit(qp *verbs.QP, pkeyIndex uint16, access verbs.Access) error {
	if qp.State() != hv.QPStateReset {
		return nil
	}
	a := verbs.QPAttr{QPState: hv.QPStateInit, PortNum: uint8(c.port), PKeyIndex: pkeyIndex, QPAccessFlags: access}
	if err := qp.Modify(&a, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrAccessFlags); err != nil {
		return fmt.Errorf("cm: qp %d to INIT: %w", qp.Num(), err)
	}
	return nil
}

// qpAttrs are the values the RTR and RTS transitions take, read under
// c.mu.
type qpAttrs struct {
	qp                  *verbs.QP
	qpType              verbs.QPType
	path                wire.CMPathFields
	access              verbs.Access
	mtu                 wire.MTU
	remoteQPN           uint32
	sqPSN, rqPSN        uint32
	respRes, initDepth  uint8
	retry, rnr, ackTmo  uint8
	minRNR              uint8
	port                int
	maxRd, maxInitRd    int
	globalRoute, hasGRH bool
}

// +checklocks:cn.c.mu
func (cn *Conn) qpAttrsLocked() qpAttrs {
	dev := cn.c.vctx.QueryDevice()
	return qpAttrs{qp: cn.qp, qpType: cn.qpType, path: cn.path, access: cn.access, mtu: cn.mtu, remoteQPN: cn.remoteQPN, sqPSN: cn.sqPSN,
		rqPSN: cn.rqPSN, respRes: cn.respRes, initDepth: cn.initDepth, retry: cn.retryCount, rnr: cn.rnrRetry,
		ackTmo: cn.ackTimeout, minRNR: cn.minRNRTimer, port: cn.c.port, maxRd: dev.MaxQPRdAtom, maxInitRd: dev.MaxQPInitRdAtom,
		hasGRH: !cn.path.SubnetLocal}
}

// toRTS moves the QP from INIT through RTR to RTS (IBTA Vol 1 §12.9.7).
func (a qpAttrs) toRTS() error {
	av := verbs.AHAttr{DLID: a.path.RemoteLID, SL: a.path.SL, PortNum: uint8(a.port)}
	if a.hasGRH {
		av.IsGlobal = true
		av.GRH = verbs.GlobalRoute{DGID: a.path.RemoteGID, FlowLabel: a.path.FlowLabel, HopLimit: a.path.HopLimit,
			TrafficClass: a.path.TrafficClass}
	}
	// The access flags go in again at RTR: rdma_cm's INIT->INIT with
	// ib_cm_init_qp_attr's flags once the responder resources are agreed.
	rtr := verbs.QPAttr{QPState: hv.QPStateRTR, AHAttr: av, PathMTU: a.mtu, DestQPNum: a.remoteQPN, RQPSN: a.rqPSN,
		QPAccessFlags: a.access}
	mask := hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN | hv.AttrAccessFlags
	if a.qpType == hv.QPTypeRC {
		rtr.MaxDestRdAtomic = uint8(min(int(a.respRes), a.maxInitRd))
		rtr.MinRNRTimer = a.minRNR
		mask |= hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer
	}
	if err := a.qp.Modify(&rtr, mask); err != nil {
		return fmt.Errorf("cm: qp %d to RTR: %w", a.qp.Num(), err)
	}
	rts := verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: a.sqPSN}
	mask = hv.AttrState | hv.AttrSQPSN
	if a.qpType == hv.QPTypeRC {
		rts.Timeout, rts.RetryCnt, rts.RNRRetry = a.ackTmo, a.retry, a.rnr
		rts.MaxRdAtomic = uint8(min(int(a.initDepth), a.maxRd))
		mask |= hv.AttrTimeout | hv.AttrRetryCnt | hv.AttrRNRRetry | hv.AttrMaxQPRdAtomic
	}
	if err := a.qp.Modify(&rts, mask); err != nil {
		return fmt.Errorf("cm: qp %d to RTS: %w", a.qp.Num(), err)
	}
	return nil
}

// qpToError moves the QP to the Error state, flushing its work requests,
// as rdma_disconnect does before DREQ.
//
// +checklocks:cn.c.mu
func (cn *Conn) qpToErrorLocked() {
	if cn.qp == nil || cn.qpErrApplied {
		return
	}
	cn.qpErrApplied = true
	a := verbs.QPAttr{QPState: hv.QPStateError}
	_ = cn.qp.Modify(&a, hv.AttrState)
}

// defaultAccess is ib_cm_init_qp_attr's INIT access: remote write, plus
// remote read and atomic when the QP takes RDMA reads (responder
// resources); local write too, which the verbs need for remote write.
func defaultAccess(respRes uint8) verbs.Access {
	a := hv.AccessLocalWrite | hv.AccessRemoteWrite
	if respRes > 0 {
		a |= hv.AccessRemoteRead | hv.AccessRemoteAtomic
	}
	return a
}

// startPSN derives a starting PSN from the CA GUID and the local ID:
// varied like rdma_cm's random PSNs, but repeatable.
func (c *CM) startPSN(localID uint32) uint32 {
	return uint32((uint64(localID)*0x9E3779B1)^uint64(c.caGUID)^uint64(c.caGUID)>>24) & wire.PSNMask
}

func orDefault(v, d uint8) uint8 {
	if v == 0 {
		return d
	}
	return v
}

// ----- active side -----

// ConnectParams are the arguments of Connect (ib_cm_req_param).
type ConnectParams struct {
	// ServiceID names the service on the passive side.
	ServiceID uint64
	// QP is the local queue pair, in RESET (the CM moves it to INIT) or
	// INIT. QPType is its transport: RC (the zero value) or UC.
	QP     *verbs.QP
	QPType verbs.QPType
	// Path is the primary path. When nil the CM asks the SA for the path
	// from this port to DGID (PathRecord, IBTA Vol 1 §15.2.5.16). A path
	// whose SLID, SGID, MTU or P_Key is zero gets this port's.
	Path *wire.PathRecordFields
	DGID wire.GID
	// AltPath is an alternate path, carried in the REQ.
	AltPath *wire.PathRecordFields
	// PrivateData goes in the REQ (at most 92 bytes).
	PrivateData []byte
	// RTUPrivateData goes in the RTU (at most 224 bytes); DREPPrivateData
	// in the DREP that answers a DREQ from the peer (at most 224).
	RTUPrivateData  []byte
	DREPPrivateData []byte
	// ResponderResources and InitiatorDepth bound the RDMA reads and
	// atomics in flight (the QP's max_dest_rd_atomic and max_rd_atomic).
	ResponderResources, InitiatorDepth uint8
	// RemoteCMResponseTimeout is how long the passive side may take to
	// answer, LocalCMResponseTimeout how long this side takes (5-bit
	// codes, DefaultCMResponseTimeout when 0).
	RemoteCMResponseTimeout, LocalCMResponseTimeout uint8
	// MaxCMRetries is the number of REQ (and DREQ) retransmissions
	// (DefaultMaxCMRetries when 0; at most 15).
	MaxCMRetries uint8
	// RetryCount and RNRRetryCount are the QP's transport and RNR retry
	// counts (7 when 0). MinRNRTimer is the RNR NAK timer this side
	// advertises (DefaultMinRNRTimer when 0).
	RetryCount, RNRRetryCount, MinRNRTimer uint8
	// StartingPSN is the PSN this side expects first (derived from the
	// communication ID when 0).
	StartingPSN uint32
	// Access are the QP's access flags. By default they follow
	// ib_cm_init_qp_attr: local and remote write, plus remote read and
	// atomic when the responder resources (the REP's initiator depth)
	// are not 0.
	Access verbs.Access
	// FlowControl sets the REQ's End-to-End Flow Control bit (the
	// receive queue advertises credits); SRQ says the QP takes its
	// receives from a shared receive queue (the REQ's SRQ bit), as the
	// flow_control and srq of ib_cm_req_param.
	FlowControl, SRQ bool
}

// Connect sets up a connection to the service p.ServiceID (IBTA Vol 1
// §12.9.5, active side): it sends REQ, waits for REP (an MRA from the
// peer stretches the wait), moves p.QP to RTR and RTS with the peer's QPN
// and PSN, sends RTU and returns the established connection. A REJ comes
// back as a *RejectError; no answer after Max CM Retries as ErrTimeout
// (nothing is sent then, as in ib_cm). If ctx ends first the REQ is
// withdrawn with REJ(timeout, ARI the CA GUID) and ctx's error is
// returned.
func (c *CM) Connect(ctx context.Context, p ConnectParams) (*Conn, error) {
	switch {
	case p.QP == nil:
		return nil, fmt.Errorf("cm: connect: %w: no qp", ErrInvalid)
	case len(p.PrivateData) > wire.CMREQPrivateDataSize:
		return nil, fmt.Errorf("cm: connect: %w: %d bytes of REQ private data, at most %d", ErrInvalid, len(p.PrivateData), wire.CMREQPrivateDataSize)
	case len(p.RTUPrivateData) > wire.CMRTUPrivateDataSize:
		return nil, fmt.Errorf("cm: connect: %w: %d bytes of RTU private data", ErrInvalid, len(p.RTUPrivateData))
	case len(p.DREPPrivateData) > wire.CMDREPPrivateDataSize:
		return nil, fmt.Errorf("cm: connect: %w: %d bytes of DREP private data", ErrInvalid, len(p.DREPPrivateData))
	case p.MaxCMRetries > 15:
		return nil, fmt.Errorf("cm: connect: %w: max cm retries %d", ErrInvalid, p.MaxCMRetries)
	}
	if p.QPType == 0 {
		p.QPType = hv.QPTypeRC
	}
	tst := wire.CMTransportRC
	switch p.QPType {
	case hv.QPTypeRC:
	case hv.QPTypeUC:
		tst = wire.CMTransportUC
	default:
		return nil, fmt.Errorf("cm: connect: %w: qp type %s", ErrInvalid, p.QPType)
	}
	pi, err := c.portInfo()
	if err != nil {
		return nil, fmt.Errorf("cm: connect: %w", err)
	}
	var pr wire.PathRecordFields
	if p.Path != nil {
		pr = *p.Path
	} else if pr, err = c.QueryPath(ctx, p.DGID); err != nil {
		return nil, fmt.Errorf("cm: connect: %w", err)
	}
	fillPath(&pr, pi)
	pkeyIndex, err := c.pkeyIndex(pr.PKey)
	if err != nil {
		return nil, fmt.Errorf("cm: connect: %w", err)
	}
	access, autoAccess := p.Access, p.Access == 0
	if autoAccess {
		access = defaultAccess(p.ResponderResources)
	}
	if err := c.toInit(p.QP, pkeyIndex, access); err != nil {
		return nil, fmt.Errorf("cm: connect: %w", err)
	}
	cn := newConn(c, true)
	cn.serviceID, cn.qpType, cn.qp, cn.localQPN = p.ServiceID, p.QPType, p.QP, p.QP.Num()
	cn.pkey, cn.pkeyIndex, cn.mtu, cn.access = pr.PKey, pkeyIndex, min(pr.MTU, pi.mtu), access
	cn.path = cmPath(&pr, c.opts.TargetACKDelay)
	cn.pktLife = pr.PacketLifeTime
	cn.avTimeout = min(pr.PacketLifeTime+1, 31) // cm_init_av_by_path
	cn.autoAccess, cn.flowControl, cn.srq = autoAccess, p.FlowControl, p.SRQ
	cn.respRes, cn.initDepth = p.ResponderResources, p.InitiatorDepth
	cn.retryCount, cn.rnrRetry = orDefault(p.RetryCount, DefaultRetryCount), orDefault(p.RNRRetryCount, DefaultRNRRetryCount)
	cn.minRNRTimer = orDefault(p.MinRNRTimer, DefaultMinRNRTimer)
	cn.drepPrivate, cn.rtuReply = append([]byte(nil), p.DREPPrivateData...), append([]byte(nil), p.RTUPrivateData...)
	remoteTmo := orDefault(p.RemoteCMResponseTimeout, DefaultCMResponseTimeout)
	// ib_send_cm_req: timeout_ms = 2 × packet lifetime + the remote CM
	// response timeout.
	cn.timeout = 2*cmTime(pr.PacketLifeTime) + cmTime(remoteTmo)
	cn.maxRetries = int(orDefault(p.MaxCMRetries, DefaultMaxCMRetries))
	cn.addr = mad.Addr{LID: pr.DLID, SL: pr.SL, QPN: 1, PKey: uint16(pr.PKey)}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: connect: %w", ErrClosed)
	}
	cn.localID = c.allocIDLocked()
	cn.reqTID = c.newTIDLocked(cn.localID)
	cn.rqPSN = p.StartingPSN & wire.PSNMask
	if cn.rqPSN == 0 {
		cn.rqPSN = c.startPSN(cn.localID)
	}
	m := newMsg(wire.AttrCMREQ, cn.reqTID)
	f := wire.CMREQFields{LocalCommID: cn.localID, ServiceID: p.ServiceID, LocalCAGUID: c.caGUID, LocalQPN: cn.localQPN,
		ResponderResources: p.ResponderResources, InitiatorDepth: p.InitiatorDepth, RemoteCMResponseTimeout: remoteTmo,
		TransportServiceType: tst, EndToEndFlowControl: p.FlowControl, SRQ: p.SRQ, StartingPSN: cn.rqPSN,
		LocalCMResponseTimeout: orDefault(p.LocalCMResponseTimeout, DefaultCMResponseTimeout), RetryCount: cn.retryCount,
		PKey: pr.PKey, PathMTU: cn.mtu, RNRRetryCount: cn.rnrRetry, MaxCMRetries: uint8(cn.maxRetries),
		Primary: reqPath(cn.path), PrivateData: p.PrivateData}
	if p.AltPath != nil {
		alt := *p.AltPath
		fillPath(&alt, pi)
		ap := reqPath(cmPath(&alt, c.opts.TargetACKDelay))
		f.Alternate = &ap
	}
	wire.CMREQ(msgOf(m)).Encode(&f)
	c.conns[cn.localID] = cn
	cn.state = StateReqSent
	err = cn.armLocked(m, cn.timeout, cn.maxRetries)
	if err != nil {
		cn.failLocked(err)
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: connect: %w", err)
	}
	c.mu.Unlock()

	select {
	case <-cn.estab:
	case <-ctx.Done():
		c.mu.Lock()
		if !cn.estabSet {
			if cn.state == StateReqSent || cn.state == StateMRAReqRcvd {
				cn.sendRejectLocked(wire.CMRejectTimeout, guidARI(c.caGUID), nil)
			}
			cn.failLocked(fmt.Errorf("cm: connect: %w", ctx.Err()))
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	err = cn.estabErr
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return cn, nil
}

// fillPath completes a caller's path with this port's values.
func fillPath(pr *wire.PathRecordFields, pi portInfo) {
	if pr.SLID == 0 {
		pr.SLID = pi.lid
	}
	if pr.SGID == (wire.GID{}) {
		pr.SGID = pi.gid
	}
	if pr.MTU == 0 || pr.MTU > pi.mtu {
		pr.MTU = pi.mtu
	}
	if pr.PKey == 0 {
		pr.PKey = wire.PKeyDefault
	}
}

// cmPath is the path of a PathRecord, seen from the active side: Local
// ACK Timeout is cm_ack_timeout of the CA's ACK delay and the packet
// lifetime.
func cmPath(pr *wire.PathRecordFields, caACKDelay uint8) wire.CMPathFields {
	return wire.CMPathFields{LocalLID: pr.SLID, RemoteLID: pr.DLID, LocalGID: pr.SGID, RemoteGID: pr.DGID,
		FlowLabel: pr.FlowLabel, PacketRate: pr.Rate, TrafficClass: pr.TClass, HopLimit: pr.HopLimit, SL: pr.SL,
		SubnetLocal: pr.HopLimit <= 1, LocalACKTimeout: ackTimeout(caACKDelay, pr.PacketLifeTime)}
}

// reqPath is a path as ib_cm's cm_format_req puts it in a REQ: one that
// leaves the subnet (hop limit above 1) carries the permissive LID at both
// ends, and the passive side takes the LIDs from the packet.
func reqPath(f wire.CMPathFields) wire.CMPathFields {
	if !f.SubnetLocal {
		f.LocalLID, f.RemoteLID = wire.LIDPermissive, wire.LIDPermissive
	}
	return f
}

// onREP handles a REP on the active side.
func (c *CM) onREP(from mad.Addr, tid uint64, rep wire.CMREP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.conns[rep.RemoteCommID()]
	if cn == nil || !cn.active {
		c.stats.Unmatched++
		return
	}
	if cn.state != StateReqSent && cn.state != StateMRAReqRcvd {
		if cn.remoteID == rep.LocalCommID() && cn.remoteGUID == rep.LocalCAGUID() {
			// A duplicate REP: the RTU was lost (IBTA Vol 1 §12.9.6).
			c.stats.RxDuplicates[AttrIndex(wire.AttrCMREP)]++
			if cn.state == StateEstablished && cn.last != nil {
				_ = c.sendLocked(cn.addr, cn.last, false)
			}
			return
		}
		c.stats.Unmatched++
		return
	}
	if old := c.findRemoteQPLocked(rep.LocalCAGUID(), rep.LocalQPN(), cn); old != nil {
		// The peer's QP is still part of a connection we know: stale.
		// As ib_cm's cm_rep_handler: REJ(stale, REP) straight back to
		// the sender, DREQ for the old connection, and this one stays
		// in REQ_SENT with its REQ timer running.
		c.issueRejectLocked(from, tid, rep.RemoteCommID(), rep.LocalCommID(), wire.CMRejectStaleConn, wire.CMMsgREP, nil)
		if old.state == StateEstablished {
			old.sendDREQLocked(nil)
		}
		return
	}
	cn.remoteID, cn.remoteGUID, cn.remoteQPN = rep.LocalCommID(), rep.LocalCAGUID(), rep.LocalQPN()
	cn.inRemoteQP = true
	cn.stopTimerLocked()
	cn.msg = nil
	cn.state = StateRepRcvd
	cn.sqPSN = rep.StartingPSN()
	cn.initDepth = min(cn.initDepth, rep.ResponderResources())
	cn.respRes = min(cn.respRes, rep.InitiatorDepth())
	cn.rnrRetry = rep.RNRRetryCount() // the QP's rnr_retry is the peer's (cm_rep_handler)
	cn.ackTimeout = ackTimeout(rep.TargetACKDelay(), cn.pktLife)
	cn.avTimeout = cn.ackTimeout
	if cn.autoAccess {
		cn.access = defaultAccess(cn.respRes)
	}
	cn.peerPrivate = append([]byte(nil), rep.PrivateData()...)
	attrs := cn.qpAttrsLocked()
	// The QP transitions cross to the event loop and back; the delivery
	// context holds the virtual clock meanwhile, so the RTU leaves at the
	// instant the REP arrived.
	c.mu.Unlock()
	err := attrs.toRTS()
	c.mu.Lock()
	if cn.state != StateRepRcvd {
		return
	}
	if err != nil {
		// rdma_cm's cma_rep_recv: QP to error, REJ(consumer defined).
		cn.sendRejectLocked(wire.CMRejectConsumerDefined, nil, nil)
		cn.qpToErrorLocked()
		cn.failLocked(fmt.Errorf("cm: connect: %w", err))
		return
	}
	m := newMsg(wire.AttrCMRTU, cn.reqTID)
	wire.CMRTU(msgOf(m)).Encode(&wire.CMRTUFields{CMCommIDs: wire.CMCommIDs{LocalCommID: cn.localID, RemoteCommID: cn.remoteID},
		PrivateData: cn.rtuReply})
	cn.last = m
	_ = c.sendLocked(cn.addr, m, false)
	cn.establishLocked()
}

// onMRA handles an MRA: the peer needs Service Timeout more before it
// answers our REQ or REP (IBTA Vol 1 §12.6.6).
func (c *CM) onMRA(mra wire.CMMRA) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// cm_acquire_mraed_id: an MRA for a REQ names a connection that has
	// no remote ID yet; one for a REP or LAP must match both IDs.
	cn := c.conns[mra.RemoteCommID()]
	switch {
	case cn == nil:
	case mra.MessageMRAed() == wire.CMMsgREQ && cn.remoteID != 0:
		cn = nil
	case mra.MessageMRAed() != wire.CMMsgREQ && cn.remoteID != mra.LocalCommID():
		cn = nil
	}
	if cn == nil {
		c.stats.Unmatched++
		return
	}
	// cm_mra_handler: the outstanding message waits service timeout +
	// av.timeout, and so do its retransmissions (ib_modify_mad).
	wait := cmTime(mra.ServiceTimeout()) + cmTime(cn.avTimeout)
	switch {
	case cn.state == StateReqSent && mra.MessageMRAed() == wire.CMMsgREQ:
		cn.state = StateMRAReqRcvd
	case cn.state == StateRepSent && mra.MessageMRAed() == wire.CMMsgREP:
		cn.state = StateMRARepRcvd
	case cn.state == StateMRAReqRcvd || cn.state == StateMRARepRcvd:
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMMRA)]++
		return
	default:
		c.stats.Unmatched++
		return
	}
	cn.mrasReceived++
	cn.retryEvery = wait
	cn.startTimerLocked(wait)
}

// ----- REJ -----

func (c *CM) onREJ(rej wire.CMREJ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cn *Conn
	if ari := rej.ARI(); rej.Reason() == wire.CMRejectTimeout && len(ari) >= 8 {
		// The active side gave up; its ARI names its CA (the Linux CM's
		// cm_acquire_rejected_id).
		var g uint64
		for _, b := range ari[:8] {
			g = g<<8 | uint64(b)
		}
		cn = c.byRemote[remoteKey{wire.GUID(g), rej.LocalCommID()}]
	}
	if cn == nil && rej.Reason() != wire.CMRejectTimeout {
		// cm_acquire_rejected_id: a REJ of a REQ names a connection
		// without a remote ID yet; any other must match both IDs.
		cn = c.conns[rej.RemoteCommID()]
		switch {
		case cn == nil:
		case rej.MessageRejected() == wire.CMMsgREQ && cn.remoteID != 0:
			cn = nil
		case rej.MessageRejected() != wire.CMMsgREQ && cn.remoteID != rej.LocalCommID():
			cn = nil
		}
	}
	if cn == nil {
		c.stats.Unmatched++
		return
	}
	rerr := &RejectError{Reason: rej.Reason(), MessageRejected: rej.MessageRejected(), ARI: append([]byte(nil), rej.ARI()...),
		PrivateData: append([]byte(nil), rej.PrivateData()...)}
	// rdma_cm moves the QP to the Error state on every REJ
	// (cma_modify_qp_err).
	switch cn.state {
	case StateReqSent, StateMRAReqRcvd, StateRepSent, StateMRARepRcvd, StateReqRcvd, StateMRAReqSent:
		cn.qpToErrorLocked()
		if rej.Reason() == wire.CMRejectStaleConn {
			// The waiter hears the REJ, not TimeWait's "ended during
			// setup": set the outcome before entering TimeWait.
			cn.setEstabLocked(rerr)
			cn.enterTimeWaitLocked()
			cn.closeDoneLocked(rerr)
			cn.discDoneLocked(rerr)
			return
		}
		cn.failLocked(rerr)
	case StateRepRcvd, StateDreqSent, StateEstablished:
		cn.qpToErrorLocked()
		cn.setEstabLocked(rerr)
		cn.enterTimeWaitLocked()
		cn.discDoneLocked(rerr)
		cn.closeDoneLocked(rerr)
	default:
		c.stats.Unmatched++
	}
}

// ----- passive side -----

// ConnRequest is a REQ handed to a listener's handler.
type ConnRequest struct {
	cn       *Conn
	req      wire.CMREQFields
	from     mad.Addr
	ctx      context.Context
	release  func()
	answered atomic.Bool
}

// REQ returns every field of the REQ.
func (r *ConnRequest) REQ() wire.CMREQFields { return r.req }

// ServiceID is the service asked for.
func (r *ConnRequest) ServiceID() uint64 { return r.req.ServiceID }

// PrivateData is the REQ's 92-byte private data area.
func (r *ConnRequest) PrivateData() []byte { return r.req.PrivateData }

// Source is where the REQ came from.
func (r *ConnRequest) Source() mad.Addr { return r.from }

// Context is cancelled when the CM closes.
func (r *ConnRequest) Context() context.Context { return r.ctx }

// answer ends the handler's hold on the clock.
func (r *ConnRequest) answer() { r.answered.Store(true); r.release() }

// MRA asks the active side for more time (IBTA Vol 1 §12.6.6): it sends an
// MRA for the REQ with serviceTimeout (a 5-bit code: 4.096 µs ×
// 2^serviceTimeout) and private data (at most 222 bytes). The request
// stays open; answer it later with Accept or Reject. Duplicate REQs are
// answered with the same MRA.
func (r *ConnRequest) MRA(serviceTimeout uint8, privateData []byte) error {
	if len(privateData) > wire.CMMRAPrivateDataSize || serviceTimeout > 31 {
		return fmt.Errorf("cm: mra: %w: %d bytes of private data, service timeout %d", ErrInvalid, len(privateData), serviceTimeout)
	}
	cn := r.cn
	c := cn.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.state != StateReqRcvd {
		return fmt.Errorf("cm: mra in state %s: %w", cn.state, ErrState)
	}
	m := newMsg(wire.AttrCMMRA, cn.reqTID)
	wire.CMMRA(msgOf(m)).Encode(&wire.CMMRAFields{LocalCommID: cn.localID, RemoteCommID: cn.remoteID,
		MessageMRAed: wire.CMMsgREQ, ServiceTimeout: serviceTimeout, PrivateData: privateData})
	cn.state, cn.mraMsg = StateMRAReqSent, m
	err := c.sendLocked(cn.addr, m, false)
	r.release() // time may pass now: the peer waits for us
	return err
}

// Reject refuses the request with REJ (IBTA Vol 1 §12.6.7): reason
// (CMRejectConsumerDefined for an application's own reasons), additional
// rejection information (at most 72 bytes) and private data (at most 148).
func (r *ConnRequest) Reject(reason wire.CMRejectReason, ari, privateData []byte) error {
	if len(ari) > wire.CMREJARISize || len(privateData) > wire.CMREJPrivateDataSize {
		return fmt.Errorf("cm: reject: %w: ari %d bytes, private data %d bytes", ErrInvalid, len(ari), len(privateData))
	}
	cn := r.cn
	c := cn.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.state != StateReqRcvd && cn.state != StateMRAReqSent {
		return fmt.Errorf("cm: reject in state %s: %w", cn.state, ErrState)
	}
	r.answer()
	cn.sendRejectLocked(reason, ari, privateData)
	cn.failLocked(fmt.Errorf("cm: rejected locally (%s): %w", reason, ErrState))
	return nil
}

// AcceptParams are the arguments of Accept (ib_cm_rep_param).
type AcceptParams struct {
	// QP is the local queue pair (RESET or INIT) of the REQ's transport
	// type (QPType: RC when zero, or UC).
	QP     *verbs.QP
	QPType verbs.QPType
	// PrivateData goes in the REP (at most 196 bytes); DREPPrivateData in
	// the DREP that answers a DREQ (at most 224).
	PrivateData     []byte
	DREPPrivateData []byte
	// ResponderResources and InitiatorDepth are this side's (each capped
	// by what the REQ offered).
	ResponderResources, InitiatorDepth uint8
	// RNRRetryCount goes in the REP for the active side's QP (7 when 0);
	// MinRNRTimer is this side's RNR NAK timer (DefaultMinRNRTimer).
	RNRRetryCount, MinRNRTimer uint8
	// StartingPSN is the PSN this side expects first (derived from the
	// communication ID when 0).
	StartingPSN uint32
	// Access are the QP's access flags at INIT (default as in Connect).
	Access verbs.Access
	// FlowControl and SRQ go in the REP's End-to-End Flow Control and
	// SRQ bits (ib_cm_rep_param's flow_control and srq).
	FlowControl, SRQ bool
}

// Accept answers the request with REP (IBTA Vol 1 §12.9.5, passive side):
// it moves p.QP through INIT and RTR to RTS with the active side's QPN,
// PSN and path, sends REP and waits for RTU. A lost REP is retransmitted
// on the REQ's Local CM Response Timeout, Max CM Retries times, after
// which Accept fails with ErrTimeout; a REJ from the peer comes back as a
// *RejectError. If ctx ends first the connection is rejected and ctx's
// error returned.
func (r *ConnRequest) Accept(ctx context.Context, p AcceptParams) (*Conn, error) {
	switch {
	case p.QP == nil:
		return nil, fmt.Errorf("cm: accept: %w: no qp", ErrInvalid)
	case len(p.PrivateData) > wire.CMREPPrivateDataSize:
		return nil, fmt.Errorf("cm: accept: %w: %d bytes of REP private data, at most %d", ErrInvalid, len(p.PrivateData), wire.CMREPPrivateDataSize)
	case len(p.DREPPrivateData) > wire.CMDREPPrivateDataSize:
		return nil, fmt.Errorf("cm: accept: %w: %d bytes of DREP private data", ErrInvalid, len(p.DREPPrivateData))
	}
	if p.QPType == 0 {
		p.QPType = hv.QPTypeRC
	}
	cn := r.cn
	c := cn.c
	want := hv.QPTypeRC
	if r.req.TransportServiceType == wire.CMTransportUC {
		want = hv.QPTypeUC
	}
	if p.QPType != want {
		return nil, fmt.Errorf("cm: accept: %w: qp type %s, the REQ asks for %s", ErrInvalid, p.QPType, want)
	}
	pkeyIndex, err := c.pkeyIndex(r.req.PKey)
	if err != nil {
		_ = r.Reject(wire.CMRejectConsumerDefined, nil, nil)
		return nil, fmt.Errorf("cm: accept: %w", err)
	}
	c.mu.Lock()
	if cn.state != StateReqRcvd && cn.state != StateMRAReqSent {
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: accept in state %s: %w", cn.state, ErrState)
	}
	cn.qp, cn.qpType, cn.localQPN, cn.pkeyIndex = p.QP, p.QPType, p.QP.Num(), pkeyIndex
	cn.respRes = min(cn.respRes, p.ResponderResources)
	cn.initDepth = min(cn.initDepth, p.InitiatorDepth)
	cn.minRNRTimer = orDefault(p.MinRNRTimer, DefaultMinRNRTimer)
	cn.drepPrivate = append([]byte(nil), p.DREPPrivateData...)
	cn.flowControl, cn.srq = p.FlowControl, p.SRQ
	cn.access = p.Access
	if cn.access == 0 {
		cn.access = defaultAccess(cn.respRes)
	}
	cn.rqPSN = p.StartingPSN & wire.PSNMask
	if cn.rqPSN == 0 {
		cn.rqPSN = c.startPSN(cn.localID)
	}
	access := cn.access
	attrs := cn.qpAttrsLocked()
	c.mu.Unlock()

	err = c.toInit(p.QP, pkeyIndex, access)
	if err == nil {
		err = attrs.toRTS()
	}
	c.mu.Lock()
	if err != nil {
		if cn.state == StateReqRcvd || cn.state == StateMRAReqSent {
			r.answer()
			cn.sendRejectLocked(wire.CMRejectConsumerDefined, nil, nil)
			cn.failLocked(err)
		}
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: accept: %w", err)
	}
	if cn.state != StateReqRcvd && cn.state != StateMRAReqSent {
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: accept in state %s: %w", cn.state, ErrState)
	}
	m := newMsg(wire.AttrCMREP, cn.reqTID)
	wire.CMREP(msgOf(m)).Encode(&wire.CMREPFields{LocalCommID: cn.localID, RemoteCommID: cn.remoteID, LocalQPN: cn.localQPN,
		StartingPSN: cn.rqPSN, ResponderResources: cn.respRes, InitiatorDepth: cn.initDepth,
		TargetACKDelay: c.opts.TargetACKDelay, RNRRetryCount: orDefault(p.RNRRetryCount, DefaultRNRRetryCount),
		EndToEndFlowControl: cn.flowControl, SRQ: cn.srq, LocalCAGUID: c.caGUID, PrivateData: p.PrivateData})
	cn.state = StateRepSent
	err = cn.armLocked(m, cn.timeout, cn.maxRetries)
	c.mu.Unlock()
	r.answer()
	if err != nil {
		c.mu.Lock()
		cn.failLocked(err)
		c.mu.Unlock()
		return nil, fmt.Errorf("cm: accept: %w", err)
	}
	select {
	case <-cn.estab:
	case <-ctx.Done():
		c.mu.Lock()
		if !cn.estabSet {
			// ib_cm's cm_destroy_id in REP_SENT: REJ(consumer
			// defined), then TimeWait (ib_send_cm_rej from REP_SENT).
			cn.sendRejectLocked(wire.CMRejectConsumerDefined, nil, nil)
			cn.qpToErrorLocked()
			err := fmt.Errorf("cm: accept: %w", ctx.Err())
			cn.setEstabLocked(err)
			cn.enterTimeWaitLocked()
			cn.closeDoneLocked(err)
			cn.discDoneLocked(err)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	err = cn.estabErr
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return cn, nil
}

// onREQ handles a REQ on the passive side, in the order of ib_cm's
// cm_req_handler: a REQ from a (CA GUID, communication ID) this CM holds
// is a duplicate (answered with the MRA already sent, else dropped); one
// from a QP that is part of a live connection is stale (REJ 10, and the
// old connection is disconnected); one for a service nobody listens on
// gets REJ 8; one whose path this port cannot take (a Remote Port GID not
// its own, a P_Key not in its table) gets REJ 12 with this port's GID.
func (c *CM) onREQ(from mad.Addr, tid uint64, req wire.CMREQ) {
	pathErr := c.checkREQPath(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	reply := from.ReplyAddr()
	key := remoteKey{req.LocalCAGUID(), req.LocalCommID()}
	if cn := c.byRemote[key]; cn != nil {
		// cm_dup_req_handler: only an MRA is sent again; the REP has
		// its own retransmission timer.
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMREQ)]++
		if cn.state == StateMRAReqSent {
			_ = c.sendLocked(cn.addr, cn.mraMsg, false)
		}
		return
	}
	rejectREQ := func(reason wire.CMRejectReason, ari []byte) {
		c.issueRejectLocked(from, tid, 0, req.LocalCommID(), reason, wire.CMMsgREQ, ari)
	}
	if old := c.findRemoteQPLocked(req.LocalCAGUID(), req.LocalQPN(), nil); old != nil {
		// The active side's QP is still in a connection we hold: the REQ
		// is stale; tear the old connection down (the Linux CM's
		// cm_match_req).
		rejectREQ(wire.CMRejectStaleConn, nil)
		if old.state == StateEstablished {
			old.sendDREQLocked(nil)
		}
		return
	}
	l := c.listeners[req.ServiceID()]
	if l == nil {
		rejectREQ(wire.CMRejectInvalidServiceID, nil)
		return
	}
	if pathErr != nil {
		rejectREQ(wire.CMRejectInvalidGID, pathErr.ari)
		return
	}
	if t := req.TransportServiceType(); t != wire.CMTransportRC && t != wire.CMTransportUC {
		rejectREQ(wire.CMRejectInvalidTransportType, nil)
		return
	}
	f := req.Fields()
	cn := newConn(c, false)
	cn.serviceID = f.ServiceID
	cn.localID = c.allocIDLocked()
	cn.remoteID, cn.remoteGUID, cn.remoteQPN = f.LocalCommID, f.LocalCAGUID, f.LocalQPN
	cn.addr, cn.reqTID = reply, tid
	cn.pkey, cn.mtu = f.PKey, f.PathMTU
	pp := f.Primary
	cn.path = wire.CMPathFields{LocalLID: pp.RemoteLID, RemoteLID: pp.LocalLID, LocalGID: pp.RemoteGID, RemoteGID: pp.LocalGID,
		FlowLabel: pp.FlowLabel, PacketRate: pp.PacketRate, TrafficClass: pp.TrafficClass, HopLimit: pp.HopLimit, SL: pp.SL,
		SubnetLocal: pp.SubnetLocal, LocalACKTimeout: pp.LocalACKTimeout}
	if cn.path.RemoteLID == 0 || cn.path.RemoteLID == wire.LIDPermissive {
		cn.path.RemoteLID, cn.path.SL = from.LID, from.SL // routed REQ (cm_process_routed_req)
	}
	// cm_format_paths_from_req: packet lifetime = Local ACK Timeout - 1;
	// cm_init_av_by_path: av.timeout = packet lifetime + 1, the QP's ACK
	// timeout.
	if pp.LocalACKTimeout > 0 {
		cn.pktLife = pp.LocalACKTimeout - 1
	}
	cn.avTimeout = cn.pktLife + 1
	cn.ackTimeout = cn.avTimeout
	cn.sqPSN = f.StartingPSN
	cn.respRes, cn.initDepth = f.InitiatorDepth, f.ResponderResources
	cn.retryCount, cn.rnrRetry = f.RetryCount, f.RNRRetryCount
	cn.inRemoteQP = true
	// cm_req_handler: the REP waits the REQ's Local CM Response Timeout.
	cn.timeout = cmTime(f.LocalCMResponseTimeout)
	cn.maxRetries = int(f.MaxCMRetries)
	cn.peerPrivate = append([]byte(nil), f.PrivateData...)
	cn.state = StateReqRcvd
	c.conns[cn.localID] = cn
	c.byRemote[key] = cn
	r := &ConnRequest{cn: cn, req: f, from: from, ctx: c.ctx, release: c.hold()}
	if !c.goHandlerLocked(func() {
		defer r.release()
		l.conn(r)
		if !r.answered.Load() {
			_ = r.Reject(wire.CMRejectConsumerDefined, nil, nil)
		}
	}) {
		r.release()
	}
}

// onRTU handles an RTU on the passive side.
func (c *CM) onRTU(rtu wire.CMRTU) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.conns[rtu.RemoteCommID()]
	if cn == nil || cn.remoteID != rtu.LocalCommID() || cn.active {
		c.stats.Unmatched++
		return
	}
	if cn.state != StateRepSent && cn.state != StateMRARepRcvd {
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMRTU)]++
		return
	}
	cn.rtuPrivate = append([]byte(nil), rtu.PrivateData()...)
	cn.establishLocked()
}

// ----- disconnect -----

// Disconnect ends an established connection (IBTA Vol 1 §12.9.6): the QP
// goes to the Error state, DREQ carries privateData (at most 220 bytes)
// and Disconnect waits for the DREP, retransmitting the DREQ up to Max CM
// Retries times; then the connection spends TimeWait before its IDs are
// reused. It returns ErrTimeout when no DREP came (the connection is over
// all the same) and nil when the connection already ended.
func (cn *Conn) Disconnect(ctx context.Context, privateData []byte) error {
	if len(privateData) > wire.CMDREQPrivateDataSize {
		return fmt.Errorf("cm: disconnect: %w: %d bytes of DREQ private data", ErrInvalid, len(privateData))
	}
	c := cn.c
	c.mu.Lock()
	switch cn.state {
	case StateEstablished:
		cn.sendDREQLocked(privateData)
	case StateDreqSent:
	default:
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	select {
	case <-cn.disc:
	case <-ctx.Done():
		c.mu.Lock()
		if cn.state == StateDreqSent {
			cn.enterTimeWaitLocked()
			cn.discDoneLocked(fmt.Errorf("cm: disconnect: %w", ctx.Err()))
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return cn.discErr
}

// +checklocks:cn.c.mu
func (cn *Conn) sendDREQLocked(priv []byte) {
	c := cn.c
	cn.qpToErrorLocked()
	m := newMsg(wire.AttrCMDREQ, c.newTIDLocked(cn.localID)) // cm_form_tid, as the REQ
	wire.CMDREQ(msgOf(m)).Encode(&wire.CMDREQFields{CMCommIDs: wire.CMCommIDs{LocalCommID: cn.localID, RemoteCommID: cn.remoteID},
		RemoteQPN: cn.remoteQPN, PrivateData: priv})
	cn.state = StateDreqSent
	cn.closeDoneLocked(nil)
	_ = cn.armLocked(m, cn.timeout, cn.maxRetries)
}

// onDREQ handles a DREQ: the QP goes to Error, DREP answers at once and
// the connection enters TimeWait.
func (c *CM) onDREQ(from mad.Addr, tid uint64, dreq wire.CMDREQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	drep := func(local, remote uint32, priv []byte, to mad.Addr) []byte {
		m := newMsg(wire.AttrCMDREP, tid)
		wire.CMDREP(msgOf(m)).Encode(&wire.CMDREPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: local, RemoteCommID: remote}, PrivateData: priv})
		_ = c.sendLocked(to, m, false)
		return m
	}
	cn := c.conns[dreq.RemoteCommID()]
	if cn == nil || cn.remoteID != dreq.LocalCommID() {
		// Long gone: answer so the peer stops (the Linux CM's cm_issue_drep).
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMDREQ)]++
		drep(dreq.RemoteCommID(), dreq.LocalCommID(), nil, from.ReplyAddr())
		return
	}
	if dreq.RemoteQPN() != cn.localQPN {
		c.stats.Unmatched++
		return
	}
	switch cn.state {
	case StateEstablished, StateRepSent, StateMRARepRcvd, StateDreqSent:
	case StateTimeWait:
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMDREQ)]++
		if cn.last != nil && wire.MAD(cn.last).AttrID() == wire.AttrCMDREP {
			wire.MAD(cn.last).SetTID(tid)
			_ = c.sendLocked(cn.addr, cn.last, false)
		} else {
			drep(cn.localID, cn.remoteID, cn.drepPrivate, cn.addr)
		}
		return
	case StateDreqRcvd:
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMDREQ)]++
		return
	default:
		c.stats.Unmatched++
		return
	}
	crossed := cn.state == StateDreqSent
	cn.stopTimerLocked()
	cn.dreqPrivate = append([]byte(nil), dreq.PrivateData()...)
	cn.state = StateDreqRcvd
	cn.qpToErrorLocked()
	cn.last = drep(cn.localID, cn.remoteID, cn.drepPrivate, cn.addr)
	cn.setEstabLocked(fmt.Errorf("cm: %w", ErrDisconnected))
	cn.enterTimeWaitLocked()
	cn.closeDoneLocked(fmt.Errorf("cm: peer sent DREQ: %w", ErrDisconnected))
	if crossed {
		cn.discDoneLocked(nil)
	}
}

// onDREP completes a local Disconnect.
func (c *CM) onDREP(drep wire.CMDREP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.conns[drep.RemoteCommID()]
	if cn == nil || cn.remoteID != drep.LocalCommID() {
		c.stats.Unmatched++
		return
	}
	if cn.state != StateDreqSent {
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMDREP)]++
		return
	}
	cn.enterTimeWaitLocked()
	cn.discDoneLocked(nil)
}

// ----- alternate path -----

// onLAP takes a LAP (IBTA Vol 1 §12.8.1) the way ib_cm does when its
// consumer is rdma_cm: a LAP for an established connection (both IDs
// matching) is taken in and a repeat counted as a duplicate, but nothing
// answers it, since rdma_cm ignores IB_CM_LAP_RECEIVED and the kernel no
// longer sends APR. A LAP for any other state or no connection is
// dropped. The alternate path is not loaded into the QP (the verbs engine
// has no automatic path migration).
func (c *CM) onLAP(lap wire.CMLAP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.conns[lap.RemoteCommID()]
	if cn == nil || cn.remoteID != lap.LocalCommID() || cn.state != StateEstablished {
		c.stats.Unmatched++
		return
	}
	if cn.lapRcvd {
		c.stats.RxDuplicates[AttrIndex(wire.AttrCMLAP)]++
		return
	}
	cn.lapRcvd = true
}
