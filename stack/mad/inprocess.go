package mad

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// inProcess is the Transport of one port of an emulated HCA in the same
// process. Its delivery context is the fabric's event loop itself:
// received MADs and timer callbacks reach the agents on the loop, in the
// event that produced them, so an agent's reaction (the next request of a
// window, a retransmission, a Serve answer) leaves at the same virtual
// instant without crossing goroutines. Registration crosses to the loop
// with Fabric.Do; sends made on other goroutines wait in an outbound queue
// that one posted event drains. An emu.Inbox is kept only to learn that
// the fabric stopped.
type inProcess struct {
	handoffs handoffSet // of the transport's agents (Agent.handoffHold)
	f        *emu.Fabric
	dev      *hca.Device
	port     int
	inbox    *emu.Inbox[func()]
	done     chan struct{}

	// outMu guards the outbound queue. onLoop is set while the loop runs
	// a delivery or timer callback of this transport: sends made then are
	// drained when the callback returns, so none needs its own event.
	outMu sync.Mutex
	// +checklocks:outMu
	out []ipSend
	// +checklocks:outMu
	spare []ipSend
	// +checklocks:outMu
	onLoop bool
	// +checklocks:outMu
	posted bool // a drain is queued on the loop

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	eps map[*ipEndpoint]struct{}
}

// ipSend is one MAD waiting for the event loop.
type ipSend struct {
	ep  *ipEndpoint
	out Outgoing
}

var _ Transport = (*inProcess)(nil)

// NewInProcess returns the Transport of port port (1-based) of the
// emulated HCA dev in fabric f. Its clock is the fabric's, so virtual time
// governs the agents' timeouts, and its delivery context is the fabric's
// event loop (see Transport): completion callbacks, Serve handlers and
// timer callbacks of its agents run there and must not block. It may be
// created before or after the fabric starts; it closes when the fabric
// stops.
func NewInProcess(f *emu.Fabric, dev *hca.Device, port int) Transport {
	t := &inProcess{f: f, dev: dev, port: port, inbox: emu.NewInbox[func()](f), done: make(chan struct{}),
		eps: map[*ipEndpoint]struct{}{}}
	go t.run()
	return t
}

// run waits for the fabric to stop (or the transport to close) and then
// tells the agents.
func (t *inProcess) run() {
	defer close(t.done)
	for {
		fn, err := t.inbox.Recv(context.Background())
		if err != nil {
			cause := fmt.Errorf("mad: in-process transport of port %d: %w", t.port, err)
			// On the loop when it still runs, so the news is not
			// concurrent with a delivery; directly once it has stopped.
			if t.f.Do(func() { t.shutdown(cause) }) != nil {
				t.shutdown(cause)
			}
			return
		}
		fn()
	}
}

// onLoopRun runs fn on the event loop as this transport's delivery
// context, then transmits what fn (or another goroutine meanwhile) sent.
func (t *inProcess) onLoopRun(fn func()) {
	t.outMu.Lock()
	nested := t.onLoop
	t.onLoop = true
	t.outMu.Unlock()
	if fn != nil {
		fn()
	}
	if nested {
		return // the outer call drains
	}
	t.drain()
}

// drain transmits the outbound queue on the event loop until it is empty.
func (t *inProcess) drain() {
	for {
		t.outMu.Lock()
		batch := t.out
		if len(batch) == 0 {
			t.onLoop, t.posted = false, false
			t.outMu.Unlock()
			return
		}
		t.onLoop = true
		t.out, t.spare = t.spare[:0], nil
		t.outMu.Unlock()
		for i := range batch {
			batch[i].ep.transmit(batch[i].out)
			batch[i] = ipSend{}
		}
		t.outMu.Lock()
		if t.spare == nil {
			t.spare = batch[:0]
		}
		t.outMu.Unlock()
	}
}

// shutdown tells every endpoint's agent that the transport is gone.
func (t *inProcess) shutdown(cause error) {
	t.mu.Lock()
	t.closed = true
	eps := make([]*ipEndpoint, 0, len(t.eps))
	for ep := range t.eps {
		eps = append(eps, ep)
	}
	t.mu.Unlock()
	slices.SortFunc(eps, func(a, b *ipEndpoint) int { return int(a.id) - int(b.id) })
	for _, ep := range eps {
		if ep.closed.CompareAndSwap(false, true) {
			ep.deliver(Incoming{Err: cause})
		}
	}
}

// Register implements Transport.Register: it registers an hca.Agent on
// the event loop.
func (t *inProcess) Register(reg Registration, deliver func(Incoming)) (Endpoint, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("mad: register on port %d: %w", t.port, ErrClosed)
	}
	ep := &ipEndpoint{t: t, deliver: deliver}
	var err error
	derr := t.f.Do(func() {
		ep.a, err = t.dev.RegisterAgent(hca.AgentSpec{Port: t.port, QPN: reg.QPN, Class: reg.Class,
			ClassVersion: reg.ClassVersion, Methods: reg.Methods, Handler: ep.handle})
	})
	if derr != nil {
		return nil, fmt.Errorf("mad: register on port %d: %w", t.port, derr)
	}
	if err != nil {
		return nil, fmt.Errorf("mad: register on port %d: %w", t.port, err)
	}
	ep.id = ep.a.ID()
	t.mu.Lock()
	t.eps[ep] = struct{}{}
	t.mu.Unlock()
	return ep, nil
}

// Clock implements Transport.Clock: the fabric's clock, with callbacks
// run on the delivery context.
func (t *inProcess) Clock() emu.Clock { return ipClock{t} }

// Close implements Transport.Close.
func (t *inProcess) Close() error {
	t.mu.Lock()
	eps := make([]*ipEndpoint, 0, len(t.eps))
	for ep := range t.eps {
		eps = append(eps, ep)
	}
	t.mu.Unlock()
	for _, ep := range eps {
		ep.unregister()
	}
	t.inbox.Close() // run sees ErrStopped and tells the agents
	return nil
}

// HoldTime implements TimeHolder with the fabric's Hold.
func (t *inProcess) HoldTime() func() { return t.f.Hold() }

func (t *inProcess) handoffSet() *handoffSet { return &t.handoffs }

// ipEndpoint is one hca.Agent.
type ipEndpoint struct {
	t       *inProcess
	a       *hca.Agent
	id      uint32
	deliver func(Incoming)
	closed  atomic.Bool
	unreg   sync.Once
}

// handle runs on the event loop for every MAD for the agent, which sees
// it there and then.
func (ep *ipEndpoint) handle(r hca.ReceivedMAD) {
	if ep.closed.Load() {
		return
	}
	in := Incoming{MAD: r.MAD, Addr: Addr{LID: r.Addr.LID, SL: r.Addr.SL, QPN: r.Addr.QPN, QKey: r.Addr.QKey, PKey: r.Addr.PKey}}
	if pa := ep.t.dev.SMA().Port(r.Port); pa != nil {
		if i := pa.PKeyEntryIndex(wire.PKey(r.Addr.PKey)); i >= 0 {
			in.Addr.PKeyIndex = uint16(i)
		}
	}
	if g := r.Addr.GRH; g != nil {
		in.Addr.GRH = &GRH{GID: g.SGID, HopLimit: g.HopLmt, TrafficClass: g.TClass, FlowLabel: g.FlowLabel}
	}
	ep.t.onLoopRun(func() { ep.deliver(in) })
}

// ID implements Endpoint.ID: the hca.Agent's ID, which the HCA puts in the
// upper TID bits.
func (ep *ipEndpoint) ID() uint32 { return ep.id }

// Send implements Endpoint.Send: the MAD joins the outbound queue, which
// the event loop drains after the delivery or timer callback it runs now,
// or in an event posted for it. A failure the HCA reports comes back
// through deliver.
func (ep *ipEndpoint) Send(out Outgoing) error {
	if ep.closed.Load() {
		return fmt.Errorf("mad: send on port %d: %w", ep.t.port, ErrClosed)
	}
	if len(out.MAD) != wire.MADSize {
		return fmt.Errorf("mad: send on port %d: %d bytes, the in-process transport takes %d-byte mads: %w",
			ep.t.port, len(out.MAD), wire.MADSize, ErrBadMAD)
	}
	t := ep.t
	t.outMu.Lock()
	t.out = append(t.out, ipSend{ep: ep, out: out})
	post := !t.onLoop && !t.posted
	if post {
		t.posted = true
	}
	t.outMu.Unlock()
	if post {
		// Posted from any goroutine (the event loop included, for a
		// custom clock's callback): the MAD leaves after the events of
		// this instant already queued.
		t.f.Post(func() { t.onLoopRun(nil) })
	}
	return nil
}

// borrowsMAD implements borrower: transmit copies the MAD into the
// frame (hca.Agent.Send) on the event loop, before an answer or a timeout
// of the request can be seen.
func (ep *ipEndpoint) borrowsMAD() bool { return true }

// transmit hands out to the HCA, on the event loop.
func (ep *ipEndpoint) transmit(out Outgoing) {
	if ep.closed.Load() {
		return
	}
	if err := ep.a.Send(ep.hcaAddr(out.Addr), out.MAD); err != nil {
		ep.deliver(Incoming{Addr: out.Addr, MAD: out.MAD, Err: err})
	}
}

// hcaAddr converts a to the HCA's address, on the event loop: a P_Key
// index is looked up in the port's P_Key table.
func (ep *ipEndpoint) hcaAddr(a Addr) hca.MADAddr {
	h := hca.MADAddr{LID: a.LID, SL: a.SL, QPN: a.QPN, QKey: a.QKey, PKey: a.PKey}
	if h.PKey == 0 && a.PKeyIndex != 0 {
		if pa := ep.t.dev.SMA().Port(ep.t.port); pa != nil && int(a.PKeyIndex) < pa.NumPKeys() {
			h.PKey = uint16(pa.PKey(int(a.PKeyIndex)))
		}
	}
	if g := a.GRH; g != nil {
		h.GRH = &wire.GRHFields{IPVer: 6, TClass: g.TrafficClass, FlowLabel: g.FlowLabel, HopLmt: g.HopLimit,
			NxtHdr: wire.GRHNextHeaderIBA, DGID: g.GID}
		if g.SGIDIndex != 0 {
			if sgid, err := ep.t.dev.GID(ep.t.port, int(g.SGIDIndex)); err == nil {
				h.GRH.SGID = sgid
			}
		}
	}
	return h
}

// Close implements Endpoint.Close.
func (ep *ipEndpoint) Close() error {
	ep.closed.Store(true)
	ep.unregister()
	ep.t.mu.Lock()
	delete(ep.t.eps, ep)
	ep.t.mu.Unlock()
	return nil
}

func (ep *ipEndpoint) unregister() {
	ep.unreg.Do(func() {
		// A stopped fabric has no loop to run this on, and nothing left to
		// unregister from.
		_ = ep.t.f.Do(ep.a.Unregister)
	})
}

// ipClock is the fabric's clock with callbacks moved to the delivery
// context.
type ipClock struct{ t *inProcess }

// Now implements emu.Clock.Now.
func (c ipClock) Now() time.Time { return c.t.f.Now() }

// AfterFunc implements emu.Clock.AfterFunc: the fabric's timer fires on
// the event loop, where fn runs as the transport's delivery context.
func (c ipClock) AfterFunc(d time.Duration, fn func()) emu.Timer {
	tm := &ipTimer{}
	tm.inner = c.t.f.Clock().AfterFunc(d, func() {
		c.t.onLoopRun(func() {
			if tm.state.CompareAndSwap(timerPending, timerFired) {
				fn()
			}
		})
	})
	return tm
}

const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

type ipTimer struct {
	inner emu.Timer
	state atomic.Int32
}

// Stop implements emu.Timer.Stop; a timer whose callback is queued on the
// inbox but has not run yet is stopped too.
func (t *ipTimer) Stop() bool {
	if t.state.CompareAndSwap(timerPending, timerStopped) {
		t.inner.Stop()
		return true
	}
	return false
}
