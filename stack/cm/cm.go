package cm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/verbs"
)

// Defaults for the zero fields of Options and of the connection
// parameters. The CM timeouts are those of librdmacm (CMA_CM_RESPONSE_TIMEOUT
// 20, CMA_MAX_CM_RETRIES 15).
const (
	DefaultCMResponseTimeout = 20 // 4.096 µs × 2^20 ≈ 4.3 s
	DefaultMaxCMRetries      = 15
	DefaultRetryCount        = 7
	DefaultRNRRetryCount     = 7
	// DefaultMinRNRTimer is the RNR NAK timer code the QP gets at RTR:
	// 0 (655.36 ms, IBTA Vol 1 Table 45), what ib_cm_init_qp_attr puts in
	// min_rnr_timer.
	DefaultMinRNRTimer = 0
	// DefaultTargetACKDelay is the CA's ACK delay code this CM puts in REP
	// and uses for the ACK timeout (the Linux CM takes the device's
	// local_ca_ack_delay; ConnectX reports 15).
	DefaultTargetACKDelay = 15
	// DefaultHandlerHold bounds, in wall time, how long a listener
	// handler that has not yet answered keeps a virtual clock still.
	DefaultHandlerHold = time.Second
	// DefaultSIDRTimeout is the wait for a SIDR_REP before a SIDR_REQ is
	// sent again: rdma_cm's 1 << (CMA_CM_RESPONSE_TIMEOUT - 8) ms.
	DefaultSIDRTimeout = 4096 * time.Millisecond
	// DefaultSIDRRetries is the number of SIDR_REQ retransmissions
	// (rdma_cm's CMA_MAX_CM_RETRIES).
	DefaultSIDRRetries = 15
)

// Options configures a CM.
type Options struct {
	// TargetACKDelay is the 5-bit ACK delay code of this CA
	// (DefaultTargetACKDelay).
	TargetACKDelay uint8
	// HandlerHold is DefaultHandlerHold when zero; negative: never hold.
	HandlerHold time.Duration
	// SAQueryTimeout bounds each PathRecord query (mad.DefaultTimeout).
	SAQueryTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.TargetACKDelay == 0 {
		o.TargetACKDelay = DefaultTargetACKDelay
	}
	if o.HandlerHold == 0 {
		o.HandlerHold = DefaultHandlerHold
	}
	return o
}

// numAttrs is the number of CM attributes counted in Stats (REQ 0x10
// through APR 0x1A).
const numAttrs = 11

// Stats counts what a CM did, per message the way the Linux CM's sysfs
// counters do (cm_tx_msgs, cm_tx_retries, cm_rx_msgs, cm_rx_duplicates),
// indexed by AttrIndex.
type Stats struct {
	TxMsgs, TxRetries, RxMsgs, RxDuplicates [numAttrs]uint64
	// Malformed counts MADs that are not CM messages this CM can read: an
	// unknown attribute, a bad method or class version.
	Malformed uint64
	// Unmatched counts messages for no known connection or in a state
	// that does not take them.
	Unmatched uint64
	// Timeouts counts exchanges that ran out of retries.
	Timeouts uint64
	// Established counts connections that reached ESTABLISHED.
	Established uint64
}

// AttrIndex is the index of a CM attribute in the Stats arrays, or -1.
func AttrIndex(a wire.AttrID) int {
	if a < wire.AttrCMREQ || a > wire.AttrCMAPR {
		return -1
	}
	return int(a - wire.AttrCMREQ)
}

// Rx returns how many messages of attribute a were received.
func (s Stats) Rx(a wire.AttrID) uint64 {
	if i := AttrIndex(a); i >= 0 {
		return s.RxMsgs[i]
	}
	return 0
}

// Tx returns how many messages of attribute a were sent (retransmissions
// included).
func (s Stats) Tx(a wire.AttrID) uint64 {
	if i := AttrIndex(a); i >= 0 {
		return s.TxMsgs[i]
	}
	return 0
}

// CM is the communication manager of one HCA port.
type CM struct {
	tr     mad.Transport
	vctx   *verbs.Context
	port   int
	agent  *mad.Agent
	sa     *mad.Agent
	clock  emu.Clock
	holder mad.TimeHolder
	opts   Options
	// send hands a MAD to the agent (a seam for the fuzz test).
	send    func(mad.Addr, []byte) error
	agentID uint32
	caGUID  wire.GUID

	ctx    context.Context // cancelled by Close; handlers get it
	cancel context.CancelFunc
	wg     sync.WaitGroup // handler goroutines

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	nextID uint32
	// +checklocks:mu
	nextTID uint32
	// +checklocks:mu
	conns map[uint32]*Conn // by local comm ID
	// +checklocks:mu
	byRemote map[remoteKey]*Conn // passive side: (remote CA GUID, remote comm ID)
	// +checklocks:mu
	listeners map[uint64]*Listener
	// +checklocks:mu
	sidrListeners map[uint64]*Listener
	// +checklocks:mu
	sidrPending map[uint32]*sidrCall // active SIDR by request ID
	// +checklocks:mu
	sidrServing map[sidrKey]bool // passive SIDR requests being answered
	// +checklocks:mu
	stats Stats
}

type remoteKey struct {
	guid wire.GUID
	id   uint32
}

type sidrKey struct {
	lid wire.LID
	id  uint32
}

// New starts the CM of port port (1-based) of the HCA opened as vctx, on
// the MAD transport tr of that port. It registers for CM Sends and
// ClassPortInfo Gets on QP1 (one CM per port: a second New on the same
// port fails) and for SA PathRecord queries. Close it when done.
func New(tr mad.Transport, vctx *verbs.Context, port int, opts Options) (*CM, error) {
	if tr == nil || vctx == nil {
		return nil, fmt.Errorf("cm: new: %w: nil transport or verbs context", ErrInvalid)
	}
	if _, err := vctx.QueryPort(port); err != nil {
		return nil, fmt.Errorf("cm: new: port %d: %w", port, err)
	}
	c := &CM{tr: tr, vctx: vctx, port: port, opts: opts.withDefaults(), caGUID: vctx.Device().NodeGUID(),
		conns: map[uint32]*Conn{}, byRemote: map[remoteKey]*Conn{}, listeners: map[uint64]*Listener{},
		sidrListeners: map[uint64]*Listener{}, sidrPending: map[uint32]*sidrCall{}, sidrServing: map[sidrKey]bool{}}
	// Communication IDs start at a value derived from the CA GUID, so two
	// CMs do not hand out the same IDs and a run repeats exactly.
	c.nextID = uint32(uint64(c.caGUID)*0x9E3779B97F4A7C15>>40) | 1
	var err error
	c.agent, err = mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassCM, ClassVersion: wire.CMClassVersion,
		Methods: []wire.Method{wire.MethodSend, wire.MethodGet}}, mad.Options{})
	if err != nil {
		return nil, fmt.Errorf("cm: new: %w", err)
	}
	c.sa, err = mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion},
		mad.Options{Timeout: opts.SAQueryTimeout})
	if err != nil {
		c.agent.Close()
		return nil, fmt.Errorf("cm: new: sa agent: %w", err)
	}
	c.clock = c.agent.Clock()
	c.send, c.agentID = c.agent.Send, c.agent.ID()
	c.holder, _ = tr.(mad.TimeHolder)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.agent.Serve(c.receive)
	return c, nil
}

// Port is the HCA port number the CM serves.
func (c *CM) Port() int { return c.port }

// CAGUID is the local CA GUID the CM puts in REQ and REP.
func (c *CM) CAGUID() wire.GUID { return c.caGUID }

// Clock is the clock the CM's timers run on (the transport's).
func (c *CM) Clock() emu.Clock { return c.clock }

// Stats returns a snapshot of the counters.
func (c *CM) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close stops the CM: listeners close, handlers' contexts are cancelled,
// connections being set up fail with ErrClosed and established ones are
// left as they are (their QPs belong to the caller). It waits for the
// handler goroutines and is idempotent.
func (c *CM) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var fail []*Conn
	for _, cn := range c.conns {
		cn.stopTimerLocked()
		if cn.state != StateEstablished {
			fail = append(fail, cn)
		}
	}
	for _, s := range c.sidrPending {
		s.stopLocked()
		s.finishLocked(SIDRReply{}, fmt.Errorf("cm: sidr: %w", ErrClosed))
	}
	clear(c.sidrPending)
	for _, cn := range fail {
		cn.failLocked(fmt.Errorf("cm: %w", ErrClosed))
	}
	for _, cn := range c.conns {
		cn.closeDoneLocked(fmt.Errorf("cm: %w", ErrClosed))
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	err1 := c.agent.Close()
	err2 := c.sa.Close()
	if err1 != nil {
		return fmt.Errorf("cm: close: %w", err1)
	}
	if err2 != nil {
		return fmt.Errorf("cm: close: %w", err2)
	}
	return nil
}

// Listener is a registered service ID (ib_cm_listen).
type Listener struct {
	c         *CM
	serviceID uint64
	sidr      bool
	conn      func(*ConnRequest)
	sidrH     func(*SIDRRequest)
}

// ServiceID is the service the listener serves.
func (l *Listener) ServiceID() uint64 { return l.serviceID }

// Close stops listening; requests already handed to the handler go on.
func (l *Listener) Close() error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	m := l.c.listeners
	if l.sidr {
		m = l.c.sidrListeners
	}
	if m[l.serviceID] == l {
		delete(m, l.serviceID)
	}
	return nil
}

// Listen serves connection requests (REQ) for serviceID (IBTA Vol 1
// §12.9.5, passive side): h runs on its own goroutine for every new REQ and
// must answer it with Accept, Reject or MRA; a request h returns from
// without answering is rejected (reason consumer defined), as the Linux CM
// does when a consumer destroys an unanswered ID. A REQ for a service
// nobody listens on is rejected with reason 8 (invalid service ID).
func (c *CM) Listen(serviceID uint64, h func(*ConnRequest)) (*Listener, error) {
	if h == nil {
		return nil, fmt.Errorf("cm: listen 0x%016x: %w: nil handler", serviceID, ErrInvalid)
	}
	return c.listen(&Listener{c: c, serviceID: serviceID, conn: h})
}

// ListenSIDR serves service ID resolution requests (SIDR_REQ) for
// serviceID (IBTA Vol 1 §12.11): h runs on its own goroutine for every
// SIDR_REQ and answers it with Reply or Reject; one it returns from
// without answering is rejected (status 2). A SIDR_REQ for a service
// nobody serves is answered with status 1 (service ID not supported).
func (c *CM) ListenSIDR(serviceID uint64, h func(*SIDRRequest)) (*Listener, error) {
	if h == nil {
		return nil, fmt.Errorf("cm: listen sidr 0x%016x: %w: nil handler", serviceID, ErrInvalid)
	}
	return c.listen(&Listener{c: c, serviceID: serviceID, sidr: true, sidrH: h})
}

func (c *CM) listen(l *Listener) (*Listener, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("cm: listen 0x%016x: %w", l.serviceID, ErrClosed)
	}
	m := c.listeners
	if l.sidr {
		m = c.sidrListeners
	}
	if m[l.serviceID] != nil {
		return nil, fmt.Errorf("cm: listen 0x%016x: %w", l.serviceID, ErrBusy)
	}
	m[l.serviceID] = l
	return l, nil
}

// hold keeps a virtual clock still until release is called or the wall
// time limit of Options.HandlerHold passes.
func (c *CM) hold() (release func()) {
	if c.holder == nil || c.opts.HandlerHold < 0 {
		return func() {}
	}
	rel := c.holder.HoldTime()
	var once sync.Once
	r := func() { once.Do(rel) }
	t := time.AfterFunc(c.opts.HandlerHold, r)
	return func() { t.Stop(); r() }
}

// goHandler runs fn on a handler goroutine that Close waits for.
//
// +checklocks:c.mu
func (c *CM) goHandlerLocked(fn func()) bool {
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

// allocIDLocked returns a free local communication ID (never 0).
//
// +checklocks:c.mu
func (c *CM) allocIDLocked() uint32 {
	for {
		id := c.nextID
		c.nextID++
		if id != 0 && c.conns[id] == nil {
			return id
		}
	}
}

// newTIDLocked returns a transaction ID for a message that starts an
// exchange (REQ, DREQ, SIDR_REQ): the agent's ID above, as the Linux CM's
// cm_form_tid does, and a sequence below.
//
// +checklocks:c.mu
func (c *CM) newTIDLocked(low uint32) uint64 {
	if low == 0 {
		c.nextTID++
		low = c.nextTID
	}
	return uint64(c.agentID)<<32 | uint64(low)
}

// sendLocked sends one CM message (a whole MAD) to addr and counts it.
//
// +checklocks:c.mu
func (c *CM) sendLocked(addr mad.Addr, m []byte, retry bool) error {
	if c.closed {
		return fmt.Errorf("cm: %w", ErrClosed)
	}
	a := wire.MAD(m).AttrID()
	if i := AttrIndex(a); i >= 0 {
		c.stats.TxMsgs[i]++
		if retry {
			c.stats.TxRetries[i]++
		}
	}
	if err := c.send(addr, append([]byte(nil), m...)); err != nil {
		return fmt.Errorf("cm: send %s: %w", wire.CMAttrName(a), err)
	}
	return nil
}

// issueRejectLocked answers a received message with a REJ that belongs to
// no connection, as ib_cm's cm_issue_rej does: the received TID, the
// communication IDs swapped from the message, reason and ARI, sent back
// where the message came from.
//
// +checklocks:c.mu
func (c *CM) issueRejectLocked(from mad.Addr, tid uint64, local, remote uint32, reason wire.CMRejectReason,
	rejected wire.CMMsgResponse, ari []byte) {
	m := newMsg(wire.AttrCMREJ, tid)
	wire.CMREJ(msgOf(m)).Encode(&wire.CMREJFields{LocalCommID: local, RemoteCommID: remote, MessageRejected: rejected,
		Reason: reason, ARI: ari})
	_ = c.sendLocked(from.ReplyAddr(), m, false)
}

// reqPathError says why this port cannot take a REQ's primary path; ari
// is the port's GID, the ARI of REJ reason 12 (invalid GID).
type reqPathError struct{ ari []byte }

// checkREQPath does what ib_cm's cm_init_av_by_path checks of a REQ's
// primary path: the Remote Port GID must be one of this port's GIDs and
// the P_Key in its P_Key table. It returns nil when the path fits (or
// there is no verbs context to ask). It calls into verbs, so never under
// c.mu.
func (c *CM) checkREQPath(req wire.CMREQ) *reqPathError {
	if c.vctx == nil {
		return nil
	}
	pa, err := c.vctx.QueryPort(c.port)
	if err != nil {
		return nil
	}
	own, err := c.vctx.QueryGID(c.port, 0)
	if err != nil {
		return nil
	}
	bad := &reqPathError{ari: append([]byte(nil), own[:]...)}
	if _, err := c.pkeyIndex(req.PKey()); err != nil {
		return bad
	}
	want := req.Primary().RemoteGID()
	for i := range max(pa.GIDTblLen, 1) {
		if g, err := c.vctx.QueryGID(c.port, i); err == nil && g == want {
			return nil
		}
	}
	return bad
}

// newMsg allocates a CM MAD with attribute a and transaction ID tid.
func newMsg(a wire.AttrID, tid uint64) []byte {
	m := make([]byte, wire.MADSize)
	wire.EncodeCMMAD(m, a, tid)
	return m
}

// msgOf returns the message area of a CM MAD.
func msgOf(m []byte) []byte { return wire.CMMAD(m).Message() }

// receive handles every unsolicited MAD of the CM class, on the delivery
// context.
func (c *CM) receive(r *mad.Received) {
	if len(r.MAD) >= wire.MADHeaderSize && wire.MAD(r.MAD).Method() == wire.MethodGet {
		c.classPortInfo(r)
		return
	}
	c.dispatch(r.Addr, r.MAD)
}

// dispatch handles one CM message received from from.
func (c *CM) dispatch(from mad.Addr, b []byte) {
	m, err := wire.ParseCMMAD(b)
	if err != nil {
		c.count(func(s *Stats) { s.Malformed++ })
		return
	}
	hdr := m.MAD()
	a := hdr.AttrID()
	i := AttrIndex(a)
	if hdr.Method() != wire.MethodSend || i < 0 {
		c.count(func(s *Stats) { s.Malformed++ })
		return
	}
	c.count(func(s *Stats) { s.RxMsgs[i]++ })
	msg := m.Message()
	switch a {
	case wire.AttrCMREQ:
		c.onREQ(from, hdr.TID(), wire.CMREQ(msg))
	case wire.AttrCMMRA:
		c.onMRA(wire.CMMRA(msg))
	case wire.AttrCMREJ:
		c.onREJ(wire.CMREJ(msg))
	case wire.AttrCMREP:
		c.onREP(from, hdr.TID(), wire.CMREP(msg))
	case wire.AttrCMRTU:
		c.onRTU(wire.CMRTU(msg))
	case wire.AttrCMDREQ:
		c.onDREQ(from, hdr.TID(), wire.CMDREQ(msg))
	case wire.AttrCMDREP:
		c.onDREP(wire.CMDREP(msg))
	case wire.AttrCMSIDRREQ:
		c.onSIDRREQ(from, hdr.TID(), wire.CMSIDRREQ(msg))
	case wire.AttrCMSIDRREP:
		c.onSIDRREP(wire.CMSIDRREP(msg))
	case wire.AttrCMLAP:
		c.onLAP(wire.CMLAP(msg))
	default: // APR: this CM never sends LAP, so no APR is awaited (cm_apr_handler drops it)
		c.count(func(s *Stats) { s.Unmatched++ })
	}
}

func (c *CM) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// classPortInfo answers Get(ClassPortInfo) (IBTA Vol 1 §13.4.8.1: every
// GSI class answers it); other Gets get "attribute not supported".
func (c *CM) classPortInfo(r *mad.Received) {
	if wire.MAD(r.MAD).AttrID() != wire.AttrClassPortInfo {
		_ = r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return
	}
	resp := append([]byte(nil), r.MAD...)
	wire.MAD(resp).SetResponse(0)
	cpi := resp[wire.MADHeaderSize:]
	clear(cpi)
	wire.ClassPortInfo(cpi).Encode(&wire.ClassPortInfoFields{BaseVersion: wire.MADBaseVersion, ClassVersion: wire.CMClassVersion,
		RespTimeValue: DefaultCMResponseTimeout - 2})
	_ = r.Respond(resp)
}

// portInfo is what the CM reads of its port when it builds a REQ.
type portInfo struct {
	lid   wire.LID
	smLID wire.LID
	gid   wire.GID
	mtu   wire.MTU
}

func (c *CM) portInfo() (portInfo, error) {
	pa, err := c.vctx.QueryPort(c.port)
	if err != nil {
		return portInfo{}, fmt.Errorf("cm: query port %d: %w", c.port, err)
	}
	g, err := c.vctx.QueryGID(c.port, 0)
	if err != nil {
		return portInfo{}, fmt.Errorf("cm: query gid of port %d: %w", c.port, err)
	}
	return portInfo{lid: pa.LID, smLID: pa.SMLID, gid: g, mtu: pa.ActiveMTU}, nil
}

// pkeyIndex finds k in the port's P_Key table (full or limited member).
func (c *CM) pkeyIndex(k wire.PKey) (uint16, error) {
	pa, err := c.vctx.QueryPort(c.port)
	if err != nil {
		return 0, fmt.Errorf("cm: query port %d: %w", c.port, err)
	}
	for i := range pa.PKeyTblLen {
		v, err := c.vctx.QueryPKey(c.port, i)
		if err != nil {
			return 0, fmt.Errorf("cm: %w", err)
		}
		if v&0x7FFF == k&0x7FFF && v&0x7FFF != 0 {
			return uint16(i), nil
		}
	}
	return 0, fmt.Errorf("cm: p_key 0x%04x is not in the table of port %d: %w", uint16(k), c.port, ErrInvalid)
}

// cmTime converts a 5-bit CM time code (CM response timeout, service
// timeout, packet lifetime, ACK timeout) to the wait the Linux CM arms for
// it: cm_convert_to_ms approximates 4.096 µs × 2^v by 2^(v-8) ms, at least
// 1 ms. Every timer of this CM uses it, so retransmissions, MRA waits and
// TimeWait last what they last under ib_cm.
func cmTime(v uint8) time.Duration {
	return time.Duration(1<<max(int(min(v, 31))-8, 0)) * time.Millisecond
}

// ackTimeout is the QP's Local ACK Timeout for a CA ACK delay and a path's
// packet lifetime: 4.096 µs × 2^t ≥ ack delay + 2 × packet lifetime,
// rounded as the Linux CM's cm_ack_timeout does (take the larger term,
// add one when the other is within a factor of two).
func ackTimeout(caACKDelay, packetLifeTime uint8) uint8 {
	t := int(packetLifeTime) + 1
	d := int(caACKDelay)
	if t >= d {
		if d >= t-1 {
			t++
		}
	} else {
		if t >= d-1 {
			t = d + 1
		} else {
			t = d
		}
	}
	return uint8(min(31, t))
}
