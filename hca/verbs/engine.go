package verbs

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/hca"
)

// Stats counts what the engine did with frames it could not use. Every
// field is safe to read from any goroutine.
type Stats struct {
	// Malformed: a frame whose headers do not fit its opcode or QP type.
	Malformed atomic.Uint64
	// NoQP: the destination QP does not exist or is in Reset or Init.
	NoQP atomic.Uint64
	// PKeyDropped and QKeyDropped: refused by the P_Key or Q_Key check
	// (also counted in the port's P_KeyViolations / Q_KeyViolations).
	PKeyDropped atomic.Uint64
	QKeyDropped atomic.Uint64
	// UDNoRecv: a UD message dropped because no receive WQE was posted.
	UDNoRecv atomic.Uint64
	// Duplicates: RC request packets that arrived again (answered by ACK
	// or replay); OutOfSequence: packets that arrived ahead of the
	// expected PSN (NAKed once) or, on UC, ended a message.
	Duplicates    atomic.Uint64
	OutOfSequence atomic.Uint64
	// Retransmits: packets an RC requester sent again (go-back-N).
	Retransmits atomic.Uint64
	// Timeouts and RNRNAKs: local ACK timer expiries and RNR NAKs received.
	Timeouts atomic.Uint64
	RNRNAKs  atomic.Uint64
	// SentPackets and RecvPackets count the engine's own traffic.
	SentPackets atomic.Uint64
	RecvPackets atomic.Uint64
}

// Engine is the verbs engine of one HCA. Create it with New.
type Engine struct {
	dev  *hca.Device
	node *emu.Node
	fab  *emu.Fabric
	attr DeviceAttr

	qps     map[uint32]*QP
	mrMu    sync.RWMutex // held for writing by the loop when mrs changes
	mrs     map[uint32]*MR
	mcast   map[mcastKey][]*QP
	nextQPN uint32
	nextKey uint32
	counts  struct{ pd, cq, srq, ah int }

	onAsync func(AsyncEvent)
	stats   Stats
	scratch []byte
	txBusy  []time.Time // per port: when the last UC/UD packet has left (virtual clock)
}

type mcastKey struct {
	port int
	lid  uint16
}

var _ hca.Transport = (*Engine)(nil)

// New creates the verbs engine of dev and attaches it as dev's Transport.
// dev must already be part of a fabric (hca.Add). Call it before the
// fabric starts or on the event loop.
func New(dev *hca.Device) (*Engine, error) {
	if dev == nil || dev.Node() == nil {
		return nil, fmt.Errorf("verbs: new: %w: device is not part of a fabric", ErrInvalid)
	}
	e := &Engine{
		dev: dev, node: dev.Node(), fab: dev.Node().Fabric(), attr: DefaultDeviceAttr,
		qps: map[uint32]*QP{}, mrs: map[uint32]*MR{}, mcast: map[mcastKey][]*QP{},
		nextQPN: 0x48, nextKey: 0x100, txBusy: make([]time.Time, dev.Node().NumPorts()+1),
	}
	dev.SetTransport(e)
	return e, nil
}

// Device returns the HCA the engine belongs to.
func (e *Engine) Device() *hca.Device { return e.dev }

// Fabric returns the fabric the HCA is part of.
func (e *Engine) Fabric() *emu.Fabric { return e.fab }

// Attr returns the engine's limits (ibv_query_device).
func (e *Engine) Attr() DeviceAttr { return e.attr }

// Stats returns the engine's counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// SetAsyncHandler sets the function told about asynchronous events; it
// runs on the event loop and must not block.
func (e *Engine) SetAsyncHandler(fn func(AsyncEvent)) { e.onAsync = fn }

func (e *Engine) event(ev AsyncEvent) {
	if e.onAsync != nil {
		e.onAsync(ev)
	}
}

// port returns the emu port num, or nil.
func (e *Engine) port(num int) *emu.Port {
	if num < 1 || num > e.node.NumPorts() {
		return nil
	}
	return e.node.Port(num)
}

// PD is a protection domain (IBTA Vol 1 §10.2.3).
type PD struct {
	e    *Engine
	refs int
	dead bool
}

// AllocPD creates a protection domain. Call it on the event loop.
func (e *Engine) AllocPD() (*PD, error) {
	if e.counts.pd >= e.attr.MaxPD {
		return nil, fmt.Errorf("verbs: alloc pd: %w: %d protection domains", ErrNoMem, e.counts.pd)
	}
	e.counts.pd++
	return &PD{e: e}, nil
}

// Engine returns the engine the PD belongs to.
func (pd *PD) Engine() *Engine { return pd.e }

// Dealloc destroys the PD; it fails with ErrBusy while MRs, QPs, SRQs or
// AHs use it.
func (pd *PD) Dealloc() error {
	if pd.dead {
		return fmt.Errorf("verbs: dealloc pd: %w", ErrDestroyed)
	}
	if pd.refs > 0 {
		return fmt.Errorf("verbs: dealloc pd: %w: %d objects still use it", ErrBusy, pd.refs)
	}
	pd.dead = true
	pd.e.counts.pd--
	return nil
}

// MR is a registered memory region (IBTA Vol 1 §10.6). Its virtual
// addresses are those of the registered Go buffer.
type MR struct {
	pd     *PD
	buf    []byte
	addr   uint64
	key    uint32
	access Access
	dead   bool
}

// RegMR registers buf with the access rights given (ibv_reg_mr). As in
// IBTA Vol 1 §10.6.3.1, remote write and remote atomic access need local
// write. Call it on the event loop.
func (pd *PD) RegMR(buf []byte, access Access) (*MR, error) {
	e := pd.e
	switch {
	case pd.dead:
		return nil, fmt.Errorf("verbs: reg mr: %w", ErrDestroyed)
	case access&^accessValid != 0:
		return nil, fmt.Errorf("verbs: reg mr: %w: unknown access flags %#x", ErrInvalid, uint32(access&^accessValid))
	case access&(AccessRemoteWrite|AccessRemoteAtomic) != 0 && access&AccessLocalWrite == 0:
		return nil, fmt.Errorf("verbs: reg mr: %w: remote write or atomic access needs local write", ErrInvalid)
	case uint64(len(buf)) > e.attr.MaxMRSize:
		return nil, fmt.Errorf("verbs: reg mr: %w: %d bytes exceed the %d-byte limit", ErrInvalid, len(buf), e.attr.MaxMRSize)
	case len(e.mrs) >= e.attr.MaxMR:
		return nil, fmt.Errorf("verbs: reg mr: %w: %d memory regions", ErrNoMem, len(e.mrs))
	}
	mr := &MR{pd: pd, buf: buf, access: access}
	if len(buf) > 0 {
		mr.addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	for {
		e.nextKey++
		k := e.nextKey<<8 | uint32(e.fab.Rand().IntN(256))
		if k != 0 && e.mrs[k] == nil {
			mr.key = k
			break
		}
	}
	e.mrMu.Lock()
	e.mrs[mr.key] = mr
	e.mrMu.Unlock()
	pd.refs++
	return mr, nil
}

// Addr is the virtual address of the region's first byte.
func (mr *MR) Addr() uint64 { return mr.addr }

// Len is the region's length.
func (mr *MR) Len() int { return len(mr.buf) }

// LKey is the local key; RKey the remote key (the same value, as on most
// adapters).
func (mr *MR) LKey() uint32 { return mr.key }

// RKey is the remote key.
func (mr *MR) RKey() uint32 { return mr.key }

// Buf is the registered buffer.
func (mr *MR) Buf() []byte { return mr.buf }

// Access returns the region's access flags.
func (mr *MR) Access() Access { return mr.access }

// Dereg deregisters the region (ibv_dereg_mr). Call it on the event loop.
func (mr *MR) Dereg() error {
	if mr.dead {
		return fmt.Errorf("verbs: dereg mr: %w", ErrDestroyed)
	}
	mr.dead = true
	mr.pd.e.mrMu.Lock()
	delete(mr.pd.e.mrs, mr.key)
	mr.pd.e.mrMu.Unlock()
	mr.pd.refs--
	return nil
}

// slice returns the bytes [addr, addr+n) of mr, or nil, false when they
// are outside it.
func (mr *MR) slice(addr uint64, n uint64) ([]byte, bool) {
	if addr < mr.addr || n > uint64(len(mr.buf)) || addr-mr.addr > uint64(len(mr.buf))-n {
		return nil, false
	}
	off := addr - mr.addr
	return mr.buf[off : off+n : off+n], true
}

// lookup resolves a key for pd with the access needed; n == 0 accepts any
// address (a zero-length access touches no memory).
func (e *Engine) lookup(key uint32, pd *PD, addr, n uint64, need Access) ([]byte, bool) {
	mr := e.mrs[key]
	if mr == nil || mr.pd != pd || mr.access&need != need {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	return mr.slice(addr, n)
}

// findMR returns a region of pd holding [addr, addr+n) (inline data names
// memory by address only).
func (e *Engine) findMR(pd *PD, addr, n uint64) []byte {
	for _, mr := range e.mrs {
		if mr.pd == pd {
			if b, ok := mr.slice(addr, n); ok {
				return b
			}
		}
	}
	return nil
}

// AH is an address handle (IBTA Vol 1 §10.2.2).
type AH struct {
	pd   *PD
	attr AHAttr
	dead bool
}

// CreateAH creates an address handle. Call it on the event loop.
func (pd *PD) CreateAH(attr AHAttr) (*AH, error) {
	e := pd.e
	if pd.dead {
		return nil, fmt.Errorf("verbs: create ah: %w", ErrDestroyed)
	}
	if err := e.checkAV(&attr); err != nil {
		return nil, fmt.Errorf("verbs: create ah: %w", err)
	}
	if e.counts.ah >= e.attr.MaxAH {
		return nil, fmt.Errorf("verbs: create ah: %w", ErrNoMem)
	}
	e.counts.ah++
	pd.refs++
	return &AH{pd: pd, attr: attr}, nil
}

// Attr returns the address vector.
func (ah *AH) Attr() AHAttr { return ah.attr }

// Destroy destroys the address handle.
func (ah *AH) Destroy() error {
	if ah.dead {
		return fmt.Errorf("verbs: destroy ah: %w", ErrDestroyed)
	}
	ah.dead = true
	ah.pd.refs--
	ah.pd.e.counts.ah--
	return nil
}

func (e *Engine) checkAV(a *AHAttr) error {
	switch {
	case e.port(int(a.PortNum)) == nil:
		return fmt.Errorf("%w: port %d (the hca has %d)", ErrInvalid, a.PortNum, e.node.NumPorts())
	case a.SL > 15:
		return fmt.Errorf("%w: sl %d", ErrInvalid, a.SL)
	case a.DLID == 0:
		return fmt.Errorf("%w: dlid 0", ErrInvalid)
	case a.DLID.IsMulticast() && !a.IsGlobal:
		return fmt.Errorf("%w: multicast dlid %#x needs a grh", ErrInvalid, uint16(a.DLID))
	case a.IsGlobal && a.GRH.FlowLabel > 0xFFFFF:
		return fmt.Errorf("%w: flow label %#x", ErrInvalid, a.GRH.FlowLabel)
	}
	return nil
}

// CQ is a completion queue (IBTA Vol 1 §10.2.6). Poll and ReqNotify are
// safe from any goroutine.
type CQ struct {
	e *Engine

	mu       sync.Mutex
	ring     []WC
	head, n  int
	armed    bool
	solOnly  bool
	overflow bool
	dead     bool

	notify func(*CQ)
	ready  chan struct{} // signalled after each push, for pollers that sleep

	// HoldClock's token (guarded by mu): held while a completion waits
	// unpolled or the host reacts to what it polled.
	holdBox  *emu.Inbox[struct{}]
	held     bool
	reacting bool
	refs     int
	// Context is the host's value for this CQ (cq_context).
	Context any
}

// CreateCQ creates a CQ with room for at least cqe completions. notify,
// if not nil, is the completion channel: it runs on the event loop when a
// completion arrives after ReqNotify armed the CQ. Call it on the event
// loop.
func (e *Engine) CreateCQ(cqe int, notify func(*CQ)) (*CQ, error) {
	if cqe < 1 || cqe > e.attr.MaxCQE {
		return nil, fmt.Errorf("verbs: create cq: %w: %d entries (1..%d)", ErrInvalid, cqe, e.attr.MaxCQE)
	}
	if e.counts.cq >= e.attr.MaxCQ {
		return nil, fmt.Errorf("verbs: create cq: %w", ErrNoMem)
	}
	e.counts.cq++
	return &CQ{e: e, ring: make([]WC, cqe), notify: notify, ready: make(chan struct{}, 1)}, nil
}

// CQE returns the CQ's capacity.
func (cq *CQ) CQE() int { return len(cq.ring) }

// Destroy destroys the CQ; it fails with ErrBusy while QPs use it.
func (cq *CQ) Destroy() error {
	if cq.refs > 0 {
		return fmt.Errorf("verbs: destroy cq: %w: %d queue pairs use it", ErrBusy, cq.refs)
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.dead {
		return fmt.Errorf("verbs: destroy cq: %w", ErrDestroyed)
	}
	cq.dead = true
	cq.e.counts.cq--
	return nil
}

// Poll moves up to len(wc) completions into wc, oldest first, and returns
// how many (ibv_poll_cq). A CQ that overflowed returns -1 forever after.
func (cq *CQ) Poll(wc []WC) int {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.overflow || cq.dead {
		return -1
	}
	k := 0
	for k < len(wc) && cq.n > 0 {
		wc[k] = cq.ring[cq.head]
		cq.head++
		if cq.head == len(cq.ring) {
			cq.head = 0
		}
		cq.n--
		k++
	}
	if cq.holdBox != nil {
		switch {
		case k > 0 && !cq.reacting:
			if _, ok := cq.holdBox.TryRecv(); ok {
				cq.reacting = true
			}
		case k == 0 && len(wc) > 0:
			cq.held = false
			if cq.reacting {
				cq.holdBox.Done()
				cq.reacting = false
			}
		}
	}
	return k
}

// Len returns the number of completions waiting.
func (cq *CQ) Len() int {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	return cq.n
}

// ReqNotify arms the CQ: the next completion (the next solicited one or
// error, with solicitedOnly) calls the completion channel once
// (ibv_req_notify_cq).
func (cq *CQ) ReqNotify(solicitedOnly bool) error {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.dead {
		return fmt.Errorf("verbs: req notify cq: %w", ErrDestroyed)
	}
	if cq.notify == nil {
		return fmt.Errorf("verbs: req notify cq: %w: the cq has no completion channel", ErrInvalid)
	}
	if !cq.armed || !solicitedOnly {
		cq.solOnly = solicitedOnly
	}
	cq.armed = true
	return nil
}

// push adds a completion on the event loop. It reports false when the CQ
// overflowed (IBTA Vol 1 §11.4.2.1: the CQ goes to error and the
// consumer is told with a CQ error event).
func (cq *CQ) push(wc WC, solicited bool) bool {
	cq.mu.Lock()
	if cq.overflow || cq.dead {
		cq.mu.Unlock()
		return false
	}
	if cq.n == len(cq.ring) {
		cq.overflow = true
		cq.mu.Unlock()
		cq.e.event(AsyncEvent{Type: EventCQErr, CQ: cq})
		return false
	}
	i := cq.head + cq.n
	if i >= len(cq.ring) {
		i -= len(cq.ring)
	}
	cq.ring[i] = wc
	cq.n++
	if cq.holdBox != nil && !cq.held {
		cq.held = true
		cq.holdBox.Push(struct{}{})
	}
	fire := cq.armed && (!cq.solOnly || solicited || wc.Status != WCSuccess)
	if fire {
		cq.armed = false
	}
	cq.mu.Unlock()
	select {
	case cq.ready <- struct{}{}:
	default:
	}
	if fire {
		cq.notify(cq)
	}
	return true
}

// HoldClock makes the CQ hold the fabric's virtual clock from the moment
// a completion is added until a Poll finds the CQ empty: a host that polls
// (rather than waiting on a completion channel) then stays deterministic,
// since virtual time does not move while it has completions to react to.
// The CQ must be polled until empty, or the fabric's time stands still.
func (cq *CQ) HoldClock() {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.holdBox == nil {
		cq.holdBox = emu.NewInbox[struct{}](cq.e.fab)
	}
}

// Ready is signalled (at most one pending signal) whenever a completion
// is added, so a poller may sleep between polls without arming the CQ.
// A signal may be stale: poll again after each.
func (cq *CQ) Ready() <-chan struct{} { return cq.ready }

// recvWQE is a posted receive work request.
type recvWQE struct {
	wrID uint64
	sgl  []SGE
}

// SRQ is a shared receive queue (IBTA Vol 1 §10.2.9). PostRecv is safe
// from any goroutine.
type SRQ struct {
	pd *PD

	mu     sync.Mutex
	q      []recvWQE
	maxWR  int
	maxSGE int
	limit  int
	dead   bool

	refs int
	// Context is the host's value for this SRQ (srq_context).
	Context any
}

// CreateSRQ creates a shared receive queue (ibv_create_srq). Call it on
// the event loop.
func (pd *PD) CreateSRQ(attr SRQAttr) (*SRQ, error) {
	e := pd.e
	switch {
	case pd.dead:
		return nil, fmt.Errorf("verbs: create srq: %w", ErrDestroyed)
	case attr.MaxWR < 1 || int(attr.MaxWR) > e.attr.MaxSRQWR:
		return nil, fmt.Errorf("verbs: create srq: %w: max_wr %d (1..%d)", ErrInvalid, attr.MaxWR, e.attr.MaxSRQWR)
	case attr.MaxSGE < 1 || int(attr.MaxSGE) > e.attr.MaxSRQSGE:
		return nil, fmt.Errorf("verbs: create srq: %w: max_sge %d (1..%d)", ErrInvalid, attr.MaxSGE, e.attr.MaxSRQSGE)
	case attr.SRQLimit > attr.MaxWR:
		return nil, fmt.Errorf("verbs: create srq: %w: srq_limit %d exceeds max_wr %d", ErrInvalid, attr.SRQLimit, attr.MaxWR)
	case e.counts.srq >= e.attr.MaxSRQ:
		return nil, fmt.Errorf("verbs: create srq: %w", ErrNoMem)
	}
	e.counts.srq++
	pd.refs++
	return &SRQ{pd: pd, maxWR: int(attr.MaxWR), maxSGE: int(attr.MaxSGE), limit: int(attr.SRQLimit)}, nil
}

// Modify changes the SRQ's limit (arming the limit event) or size
// (ibv_modify_srq).
func (s *SRQ) Modify(attr SRQAttr, mask SRQAttrMask) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return fmt.Errorf("verbs: modify srq: %w", ErrDestroyed)
	}
	if mask&^(SRQMaxWR|SRQLimit) != 0 {
		return fmt.Errorf("verbs: modify srq: %w: mask %#x", ErrInvalid, uint32(mask))
	}
	maxWR := s.maxWR
	if mask&SRQMaxWR != 0 {
		if attr.MaxWR < uint32(len(s.q)) || int(attr.MaxWR) > s.pd.e.attr.MaxSRQWR || attr.MaxWR == 0 {
			return fmt.Errorf("verbs: modify srq: %w: max_wr %d", ErrInvalid, attr.MaxWR)
		}
		maxWR = int(attr.MaxWR)
	}
	if mask&SRQLimit != 0 && int(attr.SRQLimit) > maxWR {
		return fmt.Errorf("verbs: modify srq: %w: srq_limit %d exceeds max_wr %d", ErrInvalid, attr.SRQLimit, maxWR)
	}
	s.maxWR = maxWR
	if mask&SRQLimit != 0 {
		s.limit = int(attr.SRQLimit)
	}
	return nil
}

// Query returns the SRQ's attributes.
func (s *SRQ) Query() SRQAttr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SRQAttr{MaxWR: uint32(s.maxWR), MaxSGE: uint32(s.maxSGE), SRQLimit: uint32(s.limit)}
}

// Destroy destroys the SRQ; it fails with ErrBusy while QPs use it.
func (s *SRQ) Destroy() error {
	if s.refs > 0 {
		return fmt.Errorf("verbs: destroy srq: %w: %d queue pairs use it", ErrBusy, s.refs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return fmt.Errorf("verbs: destroy srq: %w", ErrDestroyed)
	}
	s.dead = true
	s.pd.refs--
	s.pd.e.counts.srq--
	return nil
}

// PostRecv posts receive work requests (ibv_post_srq_recv). On error it
// returns the index of the first request not posted.
func (s *SRQ) PostRecv(wrs []RecvWR) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return 0, fmt.Errorf("verbs: post srq recv: %w", ErrDestroyed)
	}
	for i := range wrs {
		if len(wrs[i].SGL) > s.maxSGE {
			return i, fmt.Errorf("verbs: post srq recv: %w: %d sges exceed max_sge %d", ErrInvalid, len(wrs[i].SGL), s.maxSGE)
		}
		if len(s.q) >= s.maxWR {
			return i, fmt.Errorf("verbs: post srq recv: %w: queue full (%d)", ErrNoMem, s.maxWR)
		}
		s.q = append(s.q, recvWQE{wrID: wrs[i].WRID, sgl: append([]SGE(nil), wrs[i].SGL...)})
	}
	return len(wrs), nil
}

// take removes the oldest WQE; it reports whether the limit event fires.
func (s *SRQ) take() (recvWQE, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.q) == 0 {
		return recvWQE{}, false, false
	}
	w := s.q[0]
	s.q[0] = recvWQE{}
	s.q = s.q[1:]
	fire := s.limit > 0 && len(s.q) < s.limit
	if fire {
		s.limit = 0 // the event disarms the limit (IBTA Vol 1 §10.2.9.4)
	}
	return w, true, fire
}

func (s *SRQ) has() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q) > 0
}

// frames recycles frame buffers: a received frame the engine owns is
// reused for the next packet any engine of the process sends.
var frames struct {
	mu   sync.Mutex
	free [][]byte
}

const frameCap = 4096 + 128 // the largest frame: 4 KiB payload and headers

func getFrame() []byte {
	frames.mu.Lock()
	if n := len(frames.free); n > 0 {
		b := frames.free[n-1]
		frames.free = frames.free[:n-1]
		frames.mu.Unlock()
		return b[:0]
	}
	frames.mu.Unlock()
	return make([]byte, 0, frameCap)
}

func putFrame(b []byte) {
	if cap(b) < frameCap {
		return
	}
	frames.mu.Lock()
	if len(frames.free) < 4096 {
		frames.free = append(frames.free, b[:0])
	}
	frames.mu.Unlock()
}
