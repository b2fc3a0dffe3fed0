// Package verbs is the host-side verbs API of ibemu, with the semantics of
// libibverbs: a Context opened on an HCA, protection domains, memory
// regions, completion queues with completion channels, queue pairs (RC, UC,
// UD), shared receive queues, address handles, multicast attach and
// asynchronous events (IBTA Vol 1 chapter 11).
//
// # What it owns
//
// The API objects and the crossing between host goroutines and the fabric's
// event loop. The engine that runs the queue pairs on the wire is
// hca/verbs; the types of work requests, completions and attributes are
// its types, re-exported here under their libibverbs names (SendWR is
// ibv_send_wr, WC is ibv_wc, QPAttr is ibv_qp_attr, ...).
//
// # Concurrency and time
//
// Every method is safe from any goroutine. Control verbs (create, modify,
// query, destroy) run on the event loop through emu.Fabric.Do and return
// when done. PostSend and PostRecv queue work and ring a doorbell without
// waiting, as on hardware; CQ.Poll reads the completion queue directly.
// Completion channel and asynchronous events reach the host through an
// emu.Inbox, which holds the virtual clock while the host reacts, so a
// program that waits for events instead of spinning stays deterministic
// under the virtual clock.
//
// Errors wrap the sentinel errors below, as providers return one errno:
// ErrInvalid (EINVAL), ErrNoMem (ENOMEM), ErrBusy (EBUSY).
//
// # Who may import it
//
// Host software (ULPs, stack/cm, tools), cmd and scenarios. It imports emu,
// hca and hca/verbs.
package verbs

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
)

// The libibverbs types, shared with the engine.
type (
	// SGE is ibv_sge.
	SGE = hv.SGE
	// SendWR is ibv_send_wr.
	SendWR = hv.SendWR
	// RecvWR is ibv_recv_wr.
	RecvWR = hv.RecvWR
	// WC is ibv_wc.
	WC = hv.WC
	// QPAttr is ibv_qp_attr.
	QPAttr = hv.QPAttr
	// QPCap is ibv_qp_cap.
	QPCap = hv.QPCap
	// AHAttr is ibv_ah_attr.
	AHAttr = hv.AHAttr
	// GlobalRoute is ibv_global_route.
	GlobalRoute = hv.GlobalRoute
	// SRQAttr is ibv_srq_attr.
	SRQAttr = hv.SRQAttr
	// DeviceAttr is ibv_device_attr.
	DeviceAttr = hv.DeviceAttr
	// QPType is ibv_qp_type.
	QPType = hv.QPType
	// QPState is ibv_qp_state.
	QPState = hv.QPState
	// Access is ibv_access_flags.
	Access = hv.Access
	// AttrMask is ibv_qp_attr_mask.
	AttrMask = hv.AttrMask
	// WROpcode is ibv_wr_opcode.
	WROpcode = hv.WROpcode
	// SendFlags is ibv_send_flags.
	SendFlags = hv.SendFlags
	// WCStatus is ibv_wc_status.
	WCStatus = hv.WCStatus
	// WCOpcode is ibv_wc_opcode.
	WCOpcode = hv.WCOpcode
	// EventType is ibv_event_type.
	EventType = hv.EventType
	// SRQAttrMask is ibv_srq_attr_mask.
	SRQAttrMask = hv.SRQAttrMask
)

// Errors (see hca/verbs).
var (
	ErrInvalid   = hv.ErrInvalid
	ErrNoMem     = hv.ErrNoMem
	ErrBusy      = hv.ErrBusy
	ErrNotFound  = hv.ErrNotFound
	ErrDestroyed = hv.ErrDestroyed
)

// engines shares one engine per HCA between the contexts opened on it.
var engines sync.Map // *hca.Device -> *hv.Engine

// Context is an opened device (ibv_context).
type Context struct {
	dev *hca.Device
	e   *hv.Engine
	f   *emu.Fabric

	mu     sync.Mutex
	events []AsyncEvent  // asynchronous events not yet read
	ready  chan struct{} // signalled when events grows
	closed bool
	// objects created through this context, by engine object, so events
	// name the API object.
	qps  map[*hv.QP]*QP
	cqs  map[*hv.CQ]*CQ
	srqs map[*hv.SRQ]*SRQ
}

// AsyncEvent is an asynchronous event (ibv_async_event).
type AsyncEvent struct {
	Type EventType
	QP   *QP
	CQ   *CQ
	SRQ  *SRQ
	Port int
}

// Open opens dev (ibv_open_device). The first Open of an HCA attaches its
// verbs engine. dev must be bound to its fabric node: added with hca.Add,
// or its fabric started (the devices bind in the fabric's first event).
func Open(dev *hca.Device) (*Context, error) {
	if dev == nil || dev.Node() == nil {
		return nil, fmt.Errorf("verbs: open: %w: device is not part of a fabric", ErrInvalid)
	}
	c := &Context{dev: dev, f: dev.Node().Fabric(), qps: map[*hv.QP]*QP{}, cqs: map[*hv.CQ]*CQ{}, srqs: map[*hv.SRQ]*SRQ{}}
	var err error
	if derr := c.f.Do(func() {
		if v, ok := engines.Load(dev); ok {
			c.e = v.(*hv.Engine)
		} else if c.e, err = hv.New(dev); err == nil {
			engines.Store(dev, c.e)
			c.e.SetAsyncHandler(func(ev hv.AsyncEvent) { dispatch(c.e, ev) })
		}
	}); derr != nil {
		return nil, fmt.Errorf("verbs: open: %w", derr)
	}
	if err != nil {
		return nil, fmt.Errorf("verbs: open: %w", err)
	}
	c.ready = make(chan struct{}, 1)
	contexts.Store(c, c.e)
	return c, nil
}

// contexts lists the open contexts, so an engine's events reach them.
var contexts sync.Map // *Context -> *hv.Engine

// dispatch runs on the event loop: it hands an engine event to the context
// that owns the object (every context of the engine for port events).
func dispatch(e *hv.Engine, ev hv.AsyncEvent) {
	contexts.Range(func(k, v any) bool {
		c := k.(*Context)
		if v != e {
			return true
		}
		c.mu.Lock()
		out := AsyncEvent{Type: ev.Type, Port: ev.Port}
		own := ev.QP == nil && ev.CQ == nil && ev.SRQ == nil
		if ev.QP != nil {
			out.QP, own = c.qps[ev.QP], c.qps[ev.QP] != nil
		}
		if ev.CQ != nil {
			out.CQ, own = c.cqs[ev.CQ], c.cqs[ev.CQ] != nil
		}
		if ev.SRQ != nil {
			out.SRQ, own = c.srqs[ev.SRQ], c.srqs[ev.SRQ] != nil
		}
		if own && !c.closed {
			c.events = append(c.events, out)
			select {
			case c.ready <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
		return true
	})
}

// Close closes the context (ibv_close_device). Objects created through it
// stay usable until destroyed; events stop.
func (c *Context) Close() error {
	contexts.Delete(c)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
	return nil
}

// Fabric returns the fabric the device is part of.
func (c *Context) Fabric() *emu.Fabric { return c.f }

// Device returns the HCA.
func (c *Context) Device() *hca.Device { return c.dev }

// do runs fn on the event loop.
func (c *Context) do(what string, fn func() error) error {
	var err error
	if derr := c.f.Do(func() { err = fn() }); derr != nil {
		return fmt.Errorf("verbs: %s: %w", what, derr)
	}
	return err
}

// Stats returns the counters of the device's verbs engine.
func (c *Context) Stats() *hv.Stats { return c.e.Stats() }

// QueryDevice returns the device's limits (ibv_query_device).
func (c *Context) QueryDevice() DeviceAttr { return c.e.Attr() }

// PortAttr is ibv_port_attr: what the host sees of a port.
type PortAttr struct {
	State       wire.PortState
	PhysState   wire.PhysPortState
	MaxMTU      wire.MTU
	ActiveMTU   wire.MTU
	LID         wire.LID
	LMC         uint8
	SMLID       wire.LID
	SMSL        uint8
	ActiveWidth wire.LinkWidth
	ActiveSpeed wire.LinkSpeed
	PKeyTblLen  int
	GIDTblLen   int
}

// QueryPort returns port num's attributes (ibv_query_port).
func (c *Context) QueryPort(num int) (PortAttr, error) {
	var a PortAttr
	err := c.do("query port", func() error {
		pa := c.dev.SMA().Port(num)
		p := c.dev.Node().Port(num)
		if pa == nil || p == nil || num < 1 {
			return fmt.Errorf("verbs: query port %d: %w", num, ErrInvalid)
		}
		a = PortAttr{State: p.State(), PhysState: p.PhysState(), MaxMTU: pa.Config.MTUCap, ActiveMTU: min(pa.Config.MTUCap, pa.NeighborMTU),
			LID: pa.LID, LMC: pa.LMC, SMLID: pa.MasterSMLID, SMSL: pa.MasterSMSL, ActiveWidth: p.Width(), ActiveSpeed: p.Speed(),
			PKeyTblLen: pa.NumPKeys(), GIDTblLen: pa.NumGUIDs()}
		if a.ActiveMTU == 0 {
			a.ActiveMTU = pa.Config.MTUCap
		}
		return nil
	})
	return a, err
}

// QueryGID returns entry index of port num's GID table (ibv_query_gid).
func (c *Context) QueryGID(num, index int) (wire.GID, error) {
	var g wire.GID
	err := c.do("query gid", func() error {
		var err error
		g, err = c.dev.GID(num, index)
		if err != nil {
			return fmt.Errorf("verbs: query gid: %w: %w", ErrInvalid, err)
		}
		return nil
	})
	return g, err
}

// QueryPKey returns entry index of port num's P_Key table (ibv_query_pkey).
func (c *Context) QueryPKey(num, index int) (wire.PKey, error) {
	var k wire.PKey
	err := c.do("query pkey", func() error {
		pa := c.dev.SMA().Port(num)
		if pa == nil || index < 0 || index >= pa.NumPKeys() {
			return fmt.Errorf("verbs: query pkey %d of port %d: %w", index, num, ErrInvalid)
		}
		k = pa.PKey(index)
		return nil
	})
	return k, err
}

// GetAsyncEvent waits for the next asynchronous event
// (ibv_get_async_event). Events queue until read; they do not hold the
// virtual clock, since most programs never read them.
func (c *Context) GetAsyncEvent(ctx context.Context) (AsyncEvent, error) {
	for {
		c.mu.Lock()
		if len(c.events) > 0 {
			ev := c.events[0]
			c.events = c.events[1:]
			c.mu.Unlock()
			return ev, nil
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return AsyncEvent{}, fmt.Errorf("verbs: get async event: %w", emu.ErrStopped)
		}
		select {
		case <-ctx.Done():
			return AsyncEvent{}, fmt.Errorf("verbs: get async event: %w", ctx.Err())
		case <-c.ready:
		}
	}
}

// PD is a protection domain (ibv_pd).
type PD struct {
	c  *Context
	pd *hv.PD
}

// AllocPD allocates a protection domain (ibv_alloc_pd).
func (c *Context) AllocPD() (*PD, error) {
	pd := &PD{c: c}
	err := c.do("alloc pd", func() (err error) { pd.pd, err = c.e.AllocPD(); return })
	if err != nil {
		return nil, err
	}
	return pd, nil
}

// Dealloc frees the protection domain (ibv_dealloc_pd).
func (pd *PD) Dealloc() error { return pd.c.do("dealloc pd", pd.pd.Dealloc) }

// MR is a memory region (ibv_mr).
type MR struct {
	c  *Context
	mr *hv.MR
}

// RegMR registers buf (ibv_reg_mr). The region's addresses are those of
// buf: Addr() is &buf[0].
func (pd *PD) RegMR(buf []byte, access Access) (*MR, error) {
	mr := &MR{c: pd.c}
	err := pd.c.do("reg mr", func() (err error) { mr.mr, err = pd.pd.RegMR(buf, access); return })
	if err != nil {
		return nil, err
	}
	return mr, nil
}

// Addr is the virtual address of the region's first byte.
func (mr *MR) Addr() uint64 { return mr.mr.Addr() }

// LKey is the local key.
func (mr *MR) LKey() uint32 { return mr.mr.LKey() }

// RKey is the remote key.
func (mr *MR) RKey() uint32 { return mr.mr.RKey() }

// Len is the region's length.
func (mr *MR) Len() int { return mr.mr.Len() }

// Buf is the registered buffer.
func (mr *MR) Buf() []byte { return mr.mr.Buf() }

// SGE returns the scatter/gather element for n bytes at offset off.
func (mr *MR) SGE(off, n int) SGE {
	return SGE{Addr: mr.mr.Addr() + uint64(off), Length: uint32(n), LKey: mr.mr.LKey()}
}

// Dereg deregisters the region (ibv_dereg_mr).
func (mr *MR) Dereg() error { return mr.c.do("dereg mr", mr.mr.Dereg) }

// AH is an address handle (ibv_ah).
type AH struct {
	c  *Context
	ah *hv.AH
}

// CreateAH creates an address handle (ibv_create_ah).
func (pd *PD) CreateAH(attr AHAttr) (*AH, error) {
	ah := &AH{c: pd.c}
	err := pd.c.do("create ah", func() (err error) { ah.ah, err = pd.pd.CreateAH(attr); return })
	if err != nil {
		return nil, err
	}
	return ah, nil
}

// Engine returns the engine's handle, for SendWR.AH.
func (ah *AH) Engine() *hv.AH { return ah.ah }

// Destroy destroys the address handle (ibv_destroy_ah).
func (ah *AH) Destroy() error { return ah.c.do("destroy ah", ah.ah.Destroy) }

// CompChannel is a completion channel (ibv_comp_channel): CQs armed with
// ReqNotify report here.
type CompChannel struct {
	c   *Context
	box *emu.Inbox[*CQ]
}

// CreateCompChannel creates a completion channel (ibv_create_comp_channel).
func (c *Context) CreateCompChannel() *CompChannel {
	return &CompChannel{c: c, box: emu.NewInbox[*CQ](c.f)}
}

// GetCQEvent waits for the next CQ event (ibv_get_cq_event). The event
// holds the virtual clock until the next GetCQEvent or AckCQEvents on
// this channel: a program must acknowledge its last event, or the fabric's
// time stands still.
func (ch *CompChannel) GetCQEvent(ctx context.Context) (*CQ, error) {
	cq, err := ch.box.Recv(ctx)
	if err != nil {
		return nil, fmt.Errorf("verbs: get cq event: %w", err)
	}
	return cq, nil
}

// AckCQEvents acknowledges the events received (ibv_ack_cq_events).
func (ch *CompChannel) AckCQEvents() { ch.box.Done() }

// Destroy destroys the channel.
func (ch *CompChannel) Destroy() error {
	ch.box.Close()
	return nil
}

// CQ is a completion queue (ibv_cq).
type CQ struct {
	c  *Context
	cq *hv.CQ
	ch *CompChannel
	// spin is PollWait's busy-poll budget in nanoseconds (see PollWait);
	// maxSpin is its bound (pollSpin unless SetPollSpin said otherwise).
	spin    atomic.Int64
	maxSpin atomic.Int64
	// procs is GOMAXPROCS as PollWait last read it: when the CQ was
	// made and whenever a PollWait slept (reading it takes the
	// scheduler's lock, which the other processors' schedulers take).
	procs atomic.Int32
}

// HoldClock makes the CQ hold the fabric's virtual clock from the moment
// a completion is added until a Poll finds the CQ empty. A host that polls
// instead of waiting on a completion channel then stays deterministic:
// virtual time does not move while it has completions to react to, and
// what it posts in reaction leaves at the instant they arrived. The CQ
// must then be polled until empty before the host waits for anything
// else, or the fabric's time stands still.
func (cq *CQ) HoldClock() { cq.cq.HoldClock() }

// CreateCQ creates a CQ of at least cqe entries reporting to ch (nil for
// none) (ibv_create_cq).
func (c *Context) CreateCQ(cqe int, ch *CompChannel) (*CQ, error) {
	cq := &CQ{c: c, ch: ch}
	cq.spin.Store(int64(pollSpin))
	cq.maxSpin.Store(int64(pollSpin))
	cq.procs.Store(int32(runtime.GOMAXPROCS(0)))
	var notify func(*hv.CQ)
	if ch != nil {
		notify = func(*hv.CQ) { ch.box.Push(cq) }
	}
	err := c.do("create cq", func() (err error) { cq.cq, err = c.e.CreateCQ(cqe, notify); return })
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cqs[cq.cq] = cq
	c.mu.Unlock()
	return cq, nil
}

// Poll moves up to len(wc) completions into wc (ibv_poll_cq). A CQ that
// overflowed fails.
func (cq *CQ) Poll(wc []WC) (int, error) {
	n := cq.cq.Poll(wc)
	if n < 0 {
		return 0, fmt.Errorf("verbs: poll cq: %w: the cq overflowed", ErrInvalid)
	}
	return n, nil
}

// ReqNotify arms the CQ for its completion channel (ibv_req_notify_cq).
// The next completion queues an event on the channel even if the caller
// then finds the completion by polling; under the virtual clock a queued
// event holds time still until it is received with GetCQEvent, so a
// program that arms must receive the event it caused (Wait takes it back
// itself).
func (cq *CQ) ReqNotify(solicitedOnly bool) error { return cq.cq.ReqNotify(solicitedOnly) }

// Wait returns at least one completion: it polls, arms the CQ and waits on
// its completion channel (the libibverbs idiom of ibv_req_notify_cq,
// ibv_get_cq_event, ibv_ack_cq_events); without a channel it spins. It
// acknowledges the event before returning, so the virtual clock moves on
// while the caller reacts; a program that wants the clock held while it
// reacts calls GetCQEvent itself and AckCQEvents when done.
func (cq *CQ) Wait(ctx context.Context, wc []WC) (int, error) {
	for {
		n, err := cq.Poll(wc)
		if n > 0 || err != nil {
			return n, err
		}
		if cq.ch == nil {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			runtime.Gosched() // leave the core to the event loop
			continue
		}
		if err := cq.ReqNotify(false); err != nil {
			return 0, err
		}
		if armedHook != nil {
			armedHook(cq)
		}
		if n, err = cq.Poll(wc); n > 0 || err != nil {
			// A completion that arrived after the arming fired it: its
			// event waits on the channel, where it would hold the
			// virtual clock until the next GetCQEvent. Take it back.
			if cq.cq.Disarm() {
				cq.ch.box.Withdraw(func(c *CQ) bool { return c == cq })
			}
			return n, err
		}
		if _, err := cq.ch.GetCQEvent(ctx); err != nil {
			return 0, err
		}
		cq.ch.AckCQEvents()
	}
}

// armedHook, when set (by tests only), runs in Wait between arming the
// CQ and polling it again: the window in which a completion both fires
// the notification and is found by the poll.
var armedHook func(*CQ)

// Channel returns the CQ's completion channel (nil without one).
func (cq *CQ) Channel() *CompChannel { return cq.ch }

// PollWait polls until at least one completion arrives. It busy-polls
// like an ibv_poll_cq loop, yielding the processor now and then so that
// the event loop and other hosts keep running, then sleeps until the
// engine adds a completion. An empty poll takes no lock, so spinning
// does not slow the event loop. The spin budget adapts (up to pollSpin or
// the bound SetPollSpin set):
// it is restored when a completion came soon after the poller slept and
// halves when the wait outlasted it, so a consumer of a deep queue, whose
// completions come seldom, sleeps at once and leaves the cores to the
// fabric.
//
// When the process runs on one processor (GOMAXPROCS 1, as read when the
// CQ was made and whenever PollWait slept) nothing can add a completion
// while the poller has the processor: it yields after every empty poll,
// and it tells the engine it is waiting (hca/verbs CQ.Awaiting), so that
// a post whose doorbell runs the fabric and completes work on this CQ
// yields the processor back to it. Otherwise
// the poster, which finds its own completions whenever it polls, would
// keep the processor until the scheduler preempts it (10 ms): a receiver
// would leave its receive queue empty that long (RNR NAKs), the peer of
// a ping-pong would answer late.
//
// PollWait does not arm the CQ or hold the virtual clock; use it where a
// program would busy-poll (benchmarks, perftest).
func (cq *CQ) PollWait(ctx context.Context, wc []WC) (int, error) {
	if n, err := cq.Poll(wc); n > 0 || err != nil {
		return n, err
	}
	var start time.Time // read at the first look at the clock
	if budget := time.Duration(cq.spin.Load()); budget > 0 {
		// It yields every 32 empty polls (the event loop or the peer may
		// need this processor) and reads the clock every 256: an empty
		// poll costs a few nanoseconds, a clock read in a virtual
		// machine several times that. With one processor it yields after
		// every poll and reads the clock every 16 (a yield costs more
		// than a clock read).
		yieldMask, clockMask := 31, 255
		one := cq.procs.Load() == 1
		if one {
			yieldMask, clockMask = 0, 15
			cq.cq.Awaiting(true)
		}
		n, err := cq.spinPoll(wc, &start, budget, yieldMask, clockMask)
		if one {
			cq.cq.Awaiting(false)
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	if start.IsZero() {
		start = time.Now()
	}
	defer cq.procs.Store(int32(runtime.GOMAXPROCS(0)))
	for {
		if err := cq.cq.Wait(ctx); err != nil {
			return 0, fmt.Errorf("verbs: poll cq: %w", ctx.Err())
		}
		if n, err := cq.Poll(wc); n > 0 || err != nil {
			if most := cq.maxSpin.Load(); time.Since(start) <= time.Duration(most) {
				cq.spin.Store(most)
			} else {
				cq.spin.Store(cq.spin.Load() / 2)
			}
			return n, err
		}
	}
}

// spinPoll polls wc until it finds completions or budget has passed
// since *start (it then returns 0 and no error), yielding the processor
// after every yieldMask+1 empty polls and looking at the clock every
// clockMask+1; *start is set at the first look.
func (cq *CQ) spinPoll(wc []WC, start *time.Time, budget time.Duration, yieldMask, clockMask int) (int, error) {
	for i := 1; ; i++ {
		if n, err := cq.Poll(wc); n > 0 || err != nil {
			return n, err
		}
		if i&clockMask == 0 {
			if start.IsZero() {
				*start = time.Now()
			} else if time.Since(*start) >= budget {
				return 0, nil
			}
		}
		if i&yieldMask == 0 {
			runtime.Gosched()
		}
	}
}

// pollSpin is the longest PollWait busy-polls before it sleeps, unless
// SetPollSpin set another bound.
const pollSpin = 50 * time.Microsecond

// SetPollSpin bounds how long PollWait busy-polls before it sleeps (50 µs
// unless set; 0: it sleeps at once when the CQ is empty).
//
// A program whose completions come from another OS process (an HCA
// attached to `ibemu serve`: stack/attach.DialDataPath) and that runs on
// one processor (GOMAXPROCS 1) should set 0. Its completions are caused by
// frames a goroutine reads from a socket, and that goroutine waits in the
// runtime's network poller, which a processor consults only when it has
// nothing else to run: while PollWait spins and yields, the frame that
// would complete the wait is not read, so every spin runs out its budget
// before the completion can come. Measured with .ci/bench-xproc.sh: half
// round trips of 50-67 µs with the default, 37-46 µs with 2 µs.
func (cq *CQ) SetPollSpin(d time.Duration) {
	d = max(d, 0)
	cq.maxSpin.Store(int64(d))
	cq.spin.Store(int64(d))
}

// Destroy destroys the CQ (ibv_destroy_cq).
func (cq *CQ) Destroy() error {
	err := cq.c.do("destroy cq", cq.cq.Destroy)
	if err == nil {
		cq.c.mu.Lock()
		delete(cq.c.cqs, cq.cq)
		cq.c.mu.Unlock()
	}
	return err
}

// SRQ is a shared receive queue (ibv_srq).
type SRQ struct {
	c   *Context
	srq *hv.SRQ
}

// CreateSRQ creates a shared receive queue (ibv_create_srq).
func (pd *PD) CreateSRQ(attr SRQAttr) (*SRQ, error) {
	s := &SRQ{c: pd.c}
	err := pd.c.do("create srq", func() (err error) { s.srq, err = pd.pd.CreateSRQ(attr); return })
	if err != nil {
		return nil, err
	}
	pd.c.mu.Lock()
	pd.c.srqs[s.srq] = s
	pd.c.mu.Unlock()
	return s, nil
}

// PostRecv posts receives (ibv_post_srq_recv); on error n is the index of
// the first one not posted.
func (s *SRQ) PostRecv(wrs []RecvWR) (int, error) { return s.srq.PostRecv(wrs) }

// Modify changes the limit or size (ibv_modify_srq).
func (s *SRQ) Modify(attr SRQAttr, mask SRQAttrMask) error { return s.srq.Modify(attr, mask) }

// Query returns the attributes (ibv_query_srq).
func (s *SRQ) Query() SRQAttr { return s.srq.Query() }

// Destroy destroys the SRQ (ibv_destroy_srq).
func (s *SRQ) Destroy() error { return s.c.do("destroy srq", s.srq.Destroy) }

// QPInitAttr is ibv_qp_init_attr.
type QPInitAttr struct {
	SendCQ   *CQ
	RecvCQ   *CQ
	SRQ      *SRQ
	Cap      QPCap
	QPType   QPType
	SQSigAll bool
}

// QP is a queue pair (ibv_qp).
type QP struct {
	c  *Context
	qp *hv.QP
}

// CreateQP creates a queue pair in the Reset state (ibv_create_qp).
func (pd *PD) CreateQP(init QPInitAttr) (*QP, error) {
	if init.SendCQ == nil || init.RecvCQ == nil {
		return nil, fmt.Errorf("verbs: create qp: %w: send and receive cqs are required", ErrInvalid)
	}
	in := hv.QPInitAttr{SendCQ: init.SendCQ.cq, RecvCQ: init.RecvCQ.cq, Cap: init.Cap, QPType: init.QPType, SQSigAll: init.SQSigAll}
	if init.SRQ != nil {
		in.SRQ = init.SRQ.srq
	}
	qp := &QP{c: pd.c}
	err := pd.c.do("create qp", func() (err error) { qp.qp, err = pd.pd.CreateQP(in); return })
	if err != nil {
		return nil, err
	}
	pd.c.mu.Lock()
	pd.c.qps[qp.qp] = qp
	pd.c.mu.Unlock()
	return qp, nil
}

// Num is the QP number (qp_num).
func (qp *QP) Num() uint32 { return qp.qp.Num() }

// State is the QP's current state.
func (qp *QP) State() QPState { return qp.qp.State() }

// Modify changes state and attributes (ibv_modify_qp).
func (qp *QP) Modify(attr *QPAttr, mask AttrMask) error {
	a := *attr
	return qp.c.do("modify qp", func() error { return qp.qp.Modify(&a, mask) })
}

// Query returns the QP's attributes (ibv_query_qp).
func (qp *QP) Query() (QPAttr, error) {
	var a QPAttr
	err := qp.c.do("query qp", func() error { a = qp.qp.Query(); return nil })
	return a, err
}

// PostSend posts send work requests (ibv_post_send); on error n is the
// index of the first one not posted (bad_wr).
func (qp *QP) PostSend(wrs []SendWR) (int, error) { return qp.qp.PostSend(wrs) }

// PostRecv posts receive work requests (ibv_post_recv).
func (qp *QP) PostRecv(wrs []RecvWR) (int, error) { return qp.qp.PostRecv(wrs) }

// AttachMcast joins a multicast group (ibv_attach_mcast).
func (qp *QP) AttachMcast(gid wire.GID, lid wire.LID) error {
	return qp.c.do("attach mcast", func() error { return qp.qp.AttachMcast(gid, lid) })
}

// DetachMcast leaves a multicast group (ibv_detach_mcast).
func (qp *QP) DetachMcast(gid wire.GID, lid wire.LID) error {
	return qp.c.do("detach mcast", func() error { return qp.qp.DetachMcast(gid, lid) })
}

// Debug describes the QP's transport state (PSNs, queues, credits) for
// diagnostics.
func (qp *QP) Debug() string {
	var s string
	if err := qp.c.f.Do(func() { s = qp.qp.Debug() }); err != nil {
		return err.Error()
	}
	return s
}

// Destroy destroys the QP (ibv_destroy_qp).
func (qp *QP) Destroy() error {
	err := qp.c.do("destroy qp", qp.qp.Destroy)
	if err == nil {
		qp.c.mu.Lock()
		delete(qp.c.qps, qp.qp)
		qp.c.mu.Unlock()
	}
	return err
}
