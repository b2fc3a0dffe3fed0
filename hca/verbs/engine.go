package verbs

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
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

	qps map[uint32]*QP
	// lastQP is the QP the last frame was for (nil after a QP is
	// destroyed): a stream of frames for one QP skips the map lookup.
	lastQP *QP
	// mrMu is held for writing by the loop when mrs changes and for
	// reading by posters copying inline data: on lines of its own, since
	// a reader's lock writes it and the loop reads the fields around it
	// per packet.
	_    cacheLinePad
	mrMu sync.RWMutex
	_    cacheLinePad
	mrs  map[uint32]*MR
	// lastMR is the region the last key lookup found (event loop only):
	// keys are never reused and a deregistered region is marked dead, so
	// a stream of packets naming one region skips the map lookup.
	lastMR  *MR
	mcast   map[mcastKey][]*QP
	nextQPN uint32
	nextKey uint32
	counts  struct{ pd, cq, srq, ah int }

	onAsync func(AsyncEvent)
	stats   Stats
	scratch []byte
	fcache  *slotCache      // frame slots of this engine (see frames); event loop only
	txBusy  []time.Duration // per port: when the last packet sent has left the port (virtual clock, fabric.Elapsed)
	cc      *ccEngine       // congestion control flows (cc.go); nil until a BECN throttles one
	// lat is the adapter's own latency (hca.Timing of the device's
	// model) under the virtual clock; latOn says it is not zero, the one
	// test the doorbell and completion paths make (always false under
	// the wall clock, where the emulator's own speed is measured).
	lat   hca.Timing
	latOn bool
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
		nextQPN: 0x48, nextKey: 0x100, txBusy: make([]time.Duration, dev.Node().NumPorts()+1),
	}
	if p := dev.Profile(); p != nil && e.fab.Virtual() && !p.Timing.IsZero() {
		e.lat, e.latOn = p.Timing, true
		if e.lat.InlineDoorbell == 0 {
			e.lat.InlineDoorbell = e.lat.Doorbell
		}
	}
	e.fcache = &slotCache{}
	// An engine nobody refers to any more (its fabric is gone) hands its
	// cached slots back to the shared pool: without that, every engine
	// made and dropped (a test, a benchmark round) would take up to
	// 2*frameBatch slots with it until the pool ran out of slabs.
	runtime.AddCleanup(e, (*slotCache).release, e.fcache)
	e.fab.AddFrameRecycler(poolRecycler{})
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
	if mr.pd.e.lastMR == mr {
		mr.pd.e.lastMR = nil
	}
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
	b, _, ok := e.lookupMR(key, pd, addr, n, need)
	return b, ok
}

// lookupMR is lookup that also returns the region (nil when n == 0).
func (e *Engine) lookupMR(key uint32, pd *PD, addr, n uint64, need Access) ([]byte, *MR, bool) {
	mr := e.lastMR
	if mr == nil || mr.key != key || mr.dead {
		mr = e.mrs[key]
		if mr != nil {
			e.lastMR = mr
		}
	}
	if mr == nil || mr.pd != pd || mr.access&need != need {
		return nil, nil, false
	}
	if n == 0 {
		return nil, nil, true
	}
	b, ok := mr.slice(addr, n)
	return b, mr, ok
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

// CQ is a completion queue (IBTA Vol 1 §10.2.6). Poll, Wait and
// ReqNotify are safe from any goroutine.
//
// The ring has one producer, the event loop, and lock-free counters: the
// loop publishes a completion by advancing tail, a poller consumes by
// advancing head, so polling an empty CQ (what a busy ibv_poll_cq loop
// mostly does) takes no lock and never delays the loop.
//
// The fields sit on separate cache lines by who writes them: the event
// loop writes tail, pollers write head, Wait writes waiters, and the
// flags both sides read on every push and poll change seldom. Sharing a
// line, every completion and every poll would take the line from the
// other core (a tenth of the loop's time per 8-byte SEND went to these
// misses).
type CQ struct {
	e *Engine
	// ring holds the completions, position i in ring[i&mask]: its length
	// is cqe rounded up to a power of two, so that indexing is a mask
	// rather than a division per completion; size is the cqe the CQ was
	// created with, which bounds how many it holds (overflow, CQE).
	ring []WC
	mask uint64
	size uint64

	overflow atomic.Bool
	dead     atomic.Bool
	armed    atomic.Bool
	holding  atomic.Bool // HoldClock was called
	_        cacheLinePad

	tail atomic.Uint64 // completions published (written by the event loop)
	_    cacheLinePad

	// What only the event loop reads and writes, off the line of tail,
	// which pollers read on every poll.
	//
	// seenHead is the last value of head the event loop read: the ring
	// has room while wtail-seenHead < size, and only a push that
	// finds it full reads head again (event loop only).
	seenHead uint64
	// wtail counts the completions written into the ring, published or
	// not: while the loop streams (emu.Fabric.Backlog), push publishes
	// the first completion of a burst of events at once and the rest of
	// the burst's at its end (emu.Fabric.AtBurstEnd), rather than each,
	// since each publication takes the tail's and the entry's lines back
	// from the poller's core (and, as an atomic exchange, waits for
	// them). hot is set from that first completion until the burst's end
	// (publish is queued then); defSol while a completion written and
	// not yet published is solicited or failed (for the notification).
	// publishFn is publish, made once. Event loop only.
	wtail     uint64
	hot       bool
	defSol    bool
	publishFn func()
	_         cacheLinePad

	head atomic.Uint64 // completions consumed
	_    cacheLinePad

	waiters atomic.Int32 // goroutines in Wait
	pollers atomic.Int32 // goroutines polling it (Awaiting)
	_       cacheLinePad

	mu      sync.Mutex // serialises consumers; guards solOnly and the hold token
	solOnly bool

	notify func(*CQ)
	ready  chan struct{} // signalled after a push while someone waits

	// HoldClock's token (guarded by mu): held while a completion waits
	// unpolled or the host reacts to what it polled.
	holdBox  *emu.Inbox[struct{}]
	held     bool
	reacting bool
	refs     int

	// delayed holds the completions pushed under the adapter's
	// completion latency (Engine.lat, see deferPush) that are not yet
	// visible, oldest first; delayTimer publishes them when they are
	// due. Event loop only; nil timer when the engine models no latency.
	delayed    emu.DelayLine[delayedWC]
	delayTimer *emu.LoopTimer
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
	// The CQ gets more entries than asked, as providers give (rxe, mlx4
	// and mlx5 round cqe+1 up to a power of two and keep one slot free):
	// the ring is that power of two, and CQE reports one less.
	n := 1 << bits.Len(uint(cqe))
	cq := &CQ{e: e, ring: make([]WC, n), mask: uint64(n - 1), size: uint64(n - 1), notify: notify,
		ready: make(chan struct{}, 1)}
	cq.publishFn = cq.publish
	if e.latOn {
		cq.delayTimer = e.fab.NewLoopTimer(cq.releaseDelayed)
	}
	return cq, nil
}

// CQE returns the CQ's capacity (cq->cqe): cqe as asked, rounded up to
// 2^n-1 (ibv_create_cq).
func (cq *CQ) CQE() int { return int(cq.size) }

// Destroy destroys the CQ; it fails with ErrBusy while QPs use it.
func (cq *CQ) Destroy() error {
	if cq.refs > 0 {
		return fmt.Errorf("verbs: destroy cq: %w: %d queue pairs use it", ErrBusy, cq.refs)
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.dead.Load() {
		return fmt.Errorf("verbs: destroy cq: %w", ErrDestroyed)
	}
	cq.dead.Store(true)
	cq.e.counts.cq--
	if cq.delayTimer != nil {
		cq.delayTimer.Stop()
		cq.delayed.Reset()
	}
	cq.wake()
	return nil
}

// Poll moves up to len(wc) completions into wc, oldest first, and returns
// how many (ibv_poll_cq). A CQ that overflowed returns -1 forever after.
func (cq *CQ) Poll(wc []WC) int {
	if cq.overflow.Load() || cq.dead.Load() {
		return -1
	}
	if !cq.holding.Load() && cq.head.Load() == cq.tail.Load() {
		return 0
	}
	cq.mu.Lock()
	defer cq.mu.Unlock()
	h := cq.head.Load()
	k := int(min(uint64(len(wc)), cq.tail.Load()-h))
	for i := range k {
		wc[i] = cq.ring[(h+uint64(i))&cq.mask]
	}
	cq.head.Store(h + uint64(k))
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
func (cq *CQ) Len() int { return int(cq.tail.Load() - cq.head.Load()) }

// ReqNotify arms the CQ: the next completion (the next solicited one or
// error, with solicitedOnly) calls the completion channel once
// (ibv_req_notify_cq).
func (cq *CQ) ReqNotify(solicitedOnly bool) error {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.dead.Load() {
		return fmt.Errorf("verbs: req notify cq: %w", ErrDestroyed)
	}
	if cq.notify == nil {
		return fmt.Errorf("verbs: req notify cq: %w: the cq has no completion channel", ErrInvalid)
	}
	if !cq.armed.Load() || !solicitedOnly {
		cq.solOnly = solicitedOnly
	}
	cq.armed.Store(true)
	return nil
}

// push adds a completion on the event loop. It reports false when the CQ
// overflowed (IBTA Vol 1 §11.4.2.1: the CQ goes to error and the
// consumer is told with a CQ error event).
//
// Once a completion is pushed while the loop has a backlog of frames to
// deliver (a stream), those that follow it in the same burst of events
// are written at once and published at the end of the burst (see wtail),
// however short the backlog has become by then; a
// CQ that holds the clock, is armed or has a goroutine in Wait
// publishes at once, and so does any CQ when the loop has little else
// to do, so that a lone completion (a ping-pong's) is seen at once, and
// the first of a burst, so that a completion that comes seldom (one per
// many packets of a bulk transfer) is never held back.
func (cq *CQ) push(wc WC, solicited bool) bool {
	if cq.e.latOn {
		return cq.deferPush(wc, solicited)
	}
	return cq.pushNow(wc, solicited)
}

// delayedWC is a completion waiting for the adapter's completion latency:
// visible at at (fabric.Elapsed).
type delayedWC struct {
	at  time.Duration
	wc  WC
	sol bool
}

// deferPush is push under the adapter's completion latency (hca.Timing,
// virtual clock only): the completion becomes visible Completion after
// now, a successful RDMA READ or atomic ReadTurnaround later still (the
// responder's DMA read of the data, accounted here so that its packets
// keep their order with its ACKs), and never before one pushed earlier,
// so a CQ's completions stay in the order they were made. The latency is
// not occupancy: completions of a stream each wait the same time and
// become visible at the rate they were made. It reports false only for
// a CQ that is already dead or overflowed; a completion that overflows
// the CQ when it becomes due moves its QP to the Error state then
// (releaseDelayed).
func (cq *CQ) deferPush(wc WC, solicited bool) bool {
	if cq.overflow.Load() || cq.dead.Load() {
		return false
	}
	e := cq.e
	now := e.fab.Elapsed()
	at := now + e.lat.Completion
	if wc.Status == WCSuccess && (wc.Opcode == WCRDMARead || wc.Opcode == WCCompSwap || wc.Opcode == WCFetchAdd) {
		at += e.lat.ReadTurnaround
	}
	if last := cq.delayed.Back(); last != nil {
		at = max(at, last.at)
	} else if at <= now {
		return cq.pushNow(wc, solicited)
	}
	cq.delayed.Push(delayedWC{at: at, wc: wc, sol: solicited})
	if !cq.delayTimer.Armed() {
		cq.delayTimer.Reset(at - now)
	}
	return true
}

// completionQuantum is how close together delayed completions must fall
// due to be published by one run of releaseDelayed: a stream of small
// messages makes a completion every few nanoseconds, and a loop event per
// completion would cost the emulator a good part of its message rate.
// A completion of such a stream becomes visible up to this much before
// its due time; a lone completion (a ping-pong's) exactly at it.
const completionQuantum = 64 * time.Nanosecond

// releaseDelayed publishes the delayed completions that are due, with
// those due within completionQuantum after them (the delay timer's
// callback), and rearms the timer for the next.
func (cq *CQ) releaseDelayed() {
	e := cq.e
	now := e.fab.Elapsed()
	for f := cq.delayed.Front(); f != nil && f.at <= now+completionQuantum; f = cq.delayed.Front() {
		d := cq.delayed.Pop()
		if !cq.pushNow(d.wc, d.sol) && !cq.dead.Load() {
			if qp := e.qps[d.wc.QPNum]; qp != nil {
				qp.cqOverflow()
			}
		}
	}
	if f := cq.delayed.Front(); f != nil {
		cq.delayTimer.Reset(f.at - now)
	}
}

// pushNow writes a completion into the CQ and publishes it (see push).
func (cq *CQ) pushNow(wc WC, solicited bool) bool {
	if cq.overflow.Load() || cq.dead.Load() {
		return false
	}
	t := cq.wtail
	if t-cq.seenHead >= cq.size {
		cq.seenHead = cq.head.Load()
	}
	if t-cq.seenHead >= cq.size {
		cq.overflow.Store(true)
		cq.wake()
		cq.e.event(AsyncEvent{Type: EventCQErr, CQ: cq})
		return false
	}
	// The completion is published before the arming is read, and
	// ReqNotify arms before its caller polls again: either the
	// notification fires or that poll finds the completion.
	// A poller must see the completion and the clock hold it takes
	// together: one that took the completion without its hold would leave
	// the hold behind and stop virtual time.
	locked := cq.lockForHold()
	cq.ring[t&cq.mask] = wc
	cq.wtail = t + 1
	sol := solicited || wc.Status != WCSuccess
	if !locked && !cq.armed.Load() && cq.waiters.Load() == 0 {
		// Once a burst published its first completion, the rest wait for
		// the burst's end (which is queued), however short the backlog
		// has become: the last frames of a burst would otherwise each
		// publish on their own.
		if cq.hot {
			cq.defSol = cq.defSol || sol
			return true
		}
		if cq.streaming() {
			cq.hot = true
			cq.e.fab.AtBurstEnd(cq.publishFn)
		}
	}
	cq.tail.Store(t + 1)
	cq.published(sol, locked)
	return true
}

// lockForHold prepares the publication of completions of a CQ that holds
// the virtual clock (HoldClock): it takes cq.mu, which published releases,
// and pushes the clock hold the completions carry unless one is pending.
// It reports whether the CQ holds the clock; if not, it does nothing.
func (cq *CQ) lockForHold() bool {
	if !cq.holding.Load() {
		return false
	}
	cq.mu.Lock()
	if cq.holdBox != nil && !cq.held {
		cq.held = true
		cq.holdBox.Push(struct{}{})
	}
	return true
}

// streaming reports whether the event loop has a backlog of frames to
// deliver of at least deferBacklog.
func (cq *CQ) streaming() bool {
	f := cq.e.fab
	return f != nil && f.Backlog() >= deferBacklog
}

// deferBacklog is the loop's backlog of frame deliveries (emu.Fabric.Backlog)
// from which push publishes completions once per burst.
const deferBacklog = 16

// publish makes the completions written since the last publication
// visible (queued by push with emu.Fabric.AtBurstEnd) and ends the
// burst's hold on publication.
func (cq *CQ) publish() {
	cq.hot = false
	t := cq.wtail
	if cq.tail.Load() == t {
		return // a push published them already
	}
	// HoldClock was called since they were written: they take the clock
	// hold with them, as push does.
	locked := cq.lockForHold()
	cq.tail.Store(t)
	cq.published(false, locked)
}

// published fires the completion channel of an armed CQ and wakes a
// waiter once completions were published; sol says whether the last one
// was solicited or failed (those written and published with it are in
// defSol). locked says the caller holds mu.
func (cq *CQ) published(sol, locked bool) {
	sol = sol || cq.defSol
	cq.defSol = false
	fire := false
	if cq.armed.Load() {
		if !locked {
			cq.mu.Lock()
			locked = true
		}
		fire = cq.armed.Load() && (!cq.solOnly || sol)
		if fire {
			cq.armed.Store(false)
		}
	}
	if fire {
		// Under the lock, so that Disarm, which sees the arming gone,
		// knows the notification has been delivered.
		cq.notify(cq)
		hostWakes.Add(1)
	}
	if locked {
		cq.mu.Unlock()
	}
	cq.wake()
}

// Disarm takes back an arming of ReqNotify that has not fired yet. It
// reports whether the CQ was no longer armed, that is whether a
// completion fired the notification since ReqNotify (the completion
// channel has its event by the time Disarm returns). A consumer that armed
// the CQ and then found a completion by polling calls it to learn whether
// an event waits for it on the channel.
func (cq *CQ) Disarm() (fired bool) {
	cq.mu.Lock()
	defer cq.mu.Unlock()
	if cq.armed.Load() {
		cq.armed.Store(false)
		return false
	}
	return true
}

// wake signals a goroutine blocked in Wait, if there is one: a poller
// that keeps polling costs the event loop nothing.
func (cq *CQ) wake() {
	if cq.waiters.Load() > 0 {
		hostWakes.Add(1)
		select {
		case cq.ready <- struct{}{}:
		default:
		}
	} else if cq.pollers.Load() > 0 {
		hostWakes.Add(1)
	}
}

// hostWakes counts the times the engines of this process gave a host
// goroutine something to react to: a CQ with a goroutine in Wait
// published completions (the poller was signalled, or had been and has
// not run yet), so did one with a goroutine polling it (Awaiting), or a
// completion notification fired (the channel's reader may be asleep).
// A doorbell that ran the fabric on the poster's goroutine compares it
// before and after (yieldToWoken).
var hostWakes atomic.Uint64

// yieldToWoken lets the host goroutines that the doorbell runs of qp's
// poster gave something to react to (hostWakes moved from before during
// the run) have the processor when the process runs on one (GOMAXPROCS
// 1): once the runs since the first that did have posted yieldWRs work
// requests (wrs is this run's), the poster yields (the runs in between
// count whether they woke anyone or not: the reader of a completion
// channel is told once per arming). Woken, those goroutines are only
// ready to run: with one processor they wait until the poster blocks or
// yields, or the scheduler preempts it (every 10 ms), and a poster that
// finds its completions each time it polls never blocks. A receiver
// would then repost its receives only every few thousand messages, its
// queue running dry in between (RNR NAKs, and the RNR timer's wait). A
// poster that waits for an answer (a ping-pong) yields anyway as it
// polls its empty CQ (stack/verbs PollWait), so the doorbell need not
// yield at once; a stream's receiver reposts a few receives at a time.
// Counting work requests rather than runs keeps the yields as frequent
// per message when a poster posts lists. With more processors the woken
// goroutines run on another one and the poster goes on.
func (qp *QP) yieldToWoken(before uint64, wrs int) {
	if qp.wokeRuns.Load() == 0 && hostWakes.Load() == before || qp.wokeRuns.Add(int32(wrs)) < yieldWRs {
		return
	}
	qp.wokeRuns.Store(0)
	if runtime.GOMAXPROCS(0) == 1 {
		runtime.Gosched()
	}
}

// yieldWRs is how many work requests, from the first doorbell run that
// woke a host goroutine, a poster posts before it yields the processor
// (yieldToWoken).
const yieldWRs = 16

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
		cq.holding.Store(true)
	}
}

// Awaiting tells the engine that a goroutine begins (on) or ends
// waiting for the CQ's completions by polling it: a doorbell whose inline
// run publishes completions on the CQ then lets the poller have the
// processor when the process has only one (see yieldToWoken), as it
// does for a goroutine asleep in Wait. A poller that spins on a single
// processor yields to the poster on every empty poll, but the poster
// yields back only to a poller it knows of. Unlike Wait, it does not make
// the CQ publish each completion at once: the poller cannot look before
// the poster's run ends, and the run's end publishes the burst. Calls
// must pair.
func (cq *CQ) Awaiting(on bool) {
	if on {
		cq.pollers.Add(1)
	} else {
		cq.pollers.Add(-1)
	}
}

// Wait blocks until the CQ holds a completion (or has overflowed or been
// destroyed) or ctx is done, without arming the CQ: a poller that found
// the CQ empty sleeps here instead of spinning. Poll afterwards.
func (cq *CQ) Wait(ctx context.Context) error {
	cq.waiters.Add(1)
	defer cq.waiters.Add(-1)
	for {
		if cq.head.Load() != cq.tail.Load() || cq.overflow.Load() || cq.dead.Load() {
			return nil
		}
		select {
		case <-cq.ready:
		case <-ctx.Done():
			return fmt.Errorf("verbs: wait cq: %w", ctx.Err())
		}
	}
}

// cacheLinePad keeps the fields after it off the cache line of those
// before it (64-byte lines; two of them, as adjacent-line prefetch pairs
// lines on x86).
type cacheLinePad struct{ _ [128]byte }

// recvWQE is a posted receive work request. A one-element scatter list,
// the common case, is kept in the WQE itself, so posting it allocates
// nothing, and the WQE takes 32 bytes: two to a cache line of the
// receive ring the event loop reads them from. An empty list is kept as
// one entry of length 0, which scatters the same (nothing fits in it).
type recvWQE struct {
	wrID uint64
	one  [1]SGE
	more *[]SGE // the scatter list when it has more than one entry
}

func newRecvWQE(wr *RecvWR) recvWQE {
	w := recvWQE{wrID: wr.WRID}
	switch len(wr.SGL) {
	case 0:
	case 1:
		w.one[0] = wr.SGL[0]
	default:
		l := append([]SGE(nil), wr.SGL...)
		w.more = &l
	}
	return w
}

// list is the WQE's scatter list; it aliases w.
func (w *recvWQE) list() []SGE {
	if w.more != nil {
		return *w.more
	}
	return w.one[:]
}

// recvQueue is a FIFO of receive WQEs that reuses its storage: taking
// from the front advances an index, and the entries move back to the
// start only when the slice is full.
type recvQueue struct {
	q    []recvWQE
	head int
}

func (r *recvQueue) len() int { return len(r.q) - r.head }

func (r *recvQueue) push(w recvWQE) {
	if r.head > 0 && len(r.q) == cap(r.q) {
		n := copy(r.q, r.q[r.head:])
		clear(r.q[n:])
		r.q, r.head = r.q[:n], 0
	}
	r.q = append(r.q, w)
}

func (r *recvQueue) pop() (recvWQE, bool) {
	if r.head == len(r.q) {
		return recvWQE{}, false
	}
	w := r.q[r.head]
	r.q[r.head] = recvWQE{}
	r.head++
	if r.head == len(r.q) {
		r.q, r.head = r.q[:0], 0
	}
	return w, true
}

// unshift puts w back at the front.
func (r *recvQueue) unshift(w recvWQE) {
	if r.head > 0 {
		r.head--
		r.q[r.head] = w
		return
	}
	r.q = append(r.q, recvWQE{})
	copy(r.q[1:], r.q)
	r.q[0] = w
}

// takeAll empties the queue and returns its entries in order.
func (r *recvQueue) takeAll() []recvWQE {
	all := r.q[r.head:]
	r.q, r.head = nil, 0
	return all
}

// SRQ is a shared receive queue (IBTA Vol 1 §10.2.9). PostRecv is safe
// from any goroutine.
type SRQ struct {
	pd *PD

	mu     sync.Mutex
	q      recvQueue
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
		if attr.MaxWR < uint32(s.q.len()) || int(attr.MaxWR) > s.pd.e.attr.MaxSRQWR || attr.MaxWR == 0 {
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
		if s.q.len() >= s.maxWR {
			return i, fmt.Errorf("verbs: post srq recv: %w: queue full (%d)", ErrNoMem, s.maxWR)
		}
		s.q.push(newRecvWQE(&wrs[i]))
	}
	return len(wrs), nil
}

// take removes the oldest WQE; it reports whether the limit event fires.
func (s *SRQ) take() (recvWQE, bool, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.q.pop()
	if !ok {
		return recvWQE{}, false, false
	}
	fire := s.limit > 0 && s.q.len() < s.limit
	if fire {
		s.limit = 0 // the event disarms the limit (IBTA Vol 1 §10.2.9.4)
	}
	return w, true, fire
}

func (s *SRQ) has() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.len() > 0
}

// frames recycles frame buffers: a received frame the engine owns is
// reused for the next packet any engine of the process sends. Frames are
// slots of slabs the pool allocates, so that a frame handed back by the
// fabric (which may start a few bytes into its slot) maps back to its
// whole slot; frames the pool did not make are left to the collector.
// Each engine keeps a few slots of its own (Engine.fcache, used on the
// event loop only) and trades them with the shared pool in batches, so
// the pool's lock is taken once per frameBatch frames.
//
// The pool also aligns: a frame starts in its slot so that its payload
// begins on a 16-byte boundary. The payload is copied in from the
// sender's memory region and out into the receiver's, which are usually
// page-aligned, and copying from an address off a 16-byte boundary runs
// at less than half the speed.
var frames struct {
	mu   sync.Mutex
	free [][]byte // whole slots, length 0
	// slabs is the list of slabs, replaced (never changed) when one is
	// added, so that putFrame reads it without the lock.
	slabs atomic.Pointer[[][]byte]
}

const (
	frameCap   = 4096 + 128            // the largest frame: 4 KiB payload and headers
	frameSlot  = frameCap + 128        // a slot: a frame and room to align it (a multiple of 16)
	slabSlots  = 256                   // slots per slab
	maxSlabs   = 64                    // at most 64 × 256 × 4.3 KB ≈ 70 MB of slabs
	slabBytes  = slabSlots * frameSlot // bytes per slab
	frameBatch = 32                    // slots an engine trades with the pool at a time
)

// getFrame returns an empty frame buffer with room for the largest
// frame, placed so that a payload after hdr bytes of headers starts on a
// 16-byte boundary. Call it on the event loop.
func (e *Engine) getFrame(hdr int) []byte {
	if len(e.fcache.s) == 0 {
		e.fcache.s = takeSlots(e.fcache.s)
	}
	var b []byte
	if n := len(e.fcache.s); n > 0 {
		b = e.fcache.s[n-1]
		e.fcache.s[n-1] = nil
		e.fcache.s = e.fcache.s[:n-1]
	} else {
		b = make([]byte, 0, frameSlot)
	}
	k := int(-(uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))) + uintptr(hdr)) & 15)
	return b[k:k]
}

// putFrame takes a frame back once nothing refers to it. Call it on the
// event loop.
func (e *Engine) putFrame(b []byte) {
	slot, ok := frameSlotOf(b)
	if !ok {
		return
	}
	e.fcache.s = append(e.fcache.s, slot)
	if len(e.fcache.s) >= 2*frameBatch {
		k := len(e.fcache.s) - frameBatch
		frames.mu.Lock()
		frames.free = append(frames.free, e.fcache.s[k:]...)
		frames.mu.Unlock()
		clear(e.fcache.s[k:])
		e.fcache.s = e.fcache.s[:k]
	}
}

// slotCache is an engine's own stock of frame slots (Engine.fcache).
type slotCache struct{ s [][]byte }

// release returns the stock to the shared pool.
func (c *slotCache) release() {
	frames.mu.Lock()
	frames.free = append(frames.free, c.s...)
	frames.mu.Unlock()
	c.s = nil
}

// poolRecycler takes the frames of the pool back from the fabric when it
// discards them (injected drops, links down), which would otherwise be
// lost to the pool for good. One value serves every engine.
type poolRecycler struct{}

// RecycleFrame implements emu.FrameRecycler.
func (poolRecycler) RecycleFrame(b []byte) bool {
	slot, ok := frameSlotOf(b)
	if !ok {
		return false
	}
	frames.mu.Lock()
	frames.free = append(frames.free, slot)
	frames.mu.Unlock()
	return true
}

// takeSlots moves up to frameBatch slots from the shared pool to c,
// making a slab when the pool is empty.
func takeSlots(c [][]byte) [][]byte {
	frames.mu.Lock()
	defer frames.mu.Unlock()
	if len(frames.free) == 0 {
		var slabs [][]byte
		if p := frames.slabs.Load(); p != nil {
			slabs = *p
		}
		if len(slabs) >= maxSlabs {
			return c
		}
		slab := make([]byte, slabBytes)
		next := append(slabs[:len(slabs):len(slabs)], slab)
		frames.slabs.Store(&next)
		for i := slabSlots - 1; i >= 0; i-- {
			frames.free = append(frames.free, slab[i*frameSlot:i*frameSlot:(i+1)*frameSlot])
		}
	}
	k := max(0, len(frames.free)-frameBatch)
	c = append(c, frames.free[k:]...)
	clear(frames.free[k:])
	frames.free = frames.free[:k]
	return c
}

// frameSlotOf returns the whole slot b lies in, or false when b is not
// in a slab of the pool.
func frameSlotOf(b []byte) ([]byte, bool) {
	p := frames.slabs.Load()
	if cap(b) == 0 || p == nil {
		return nil, false
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(b[:1])))
	for _, slab := range *p {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(slab)))
		if a >= base && a < base+slabBytes {
			i := int(a-base) / frameSlot
			return slab[i*frameSlot : i*frameSlot : (i+1)*frameSlot], true
		}
	}
	return nil, false
}
