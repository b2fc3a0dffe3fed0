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
// process. Registration and sends cross to the fabric's event loop with
// Fabric.Do and Fabric.Post; received MADs and timer callbacks come back
// through one emu.Inbox, whose single consumer goroutine is the delivery
// context. Under the virtual clock the inbox holds time still while a
// delivery or a timer callback runs, so what the agent sends in reaction
// leaves at the same virtual instant.
type inProcess struct {
	f     *emu.Fabric
	dev   *hca.Device
	port  int
	inbox *emu.Inbox[func()]
	done  chan struct{}

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	eps map[*ipEndpoint]struct{}
}

var _ Transport = (*inProcess)(nil)

// NewInProcess returns the Transport of port port (1-based) of the
// emulated HCA dev in fabric f. Its clock is the fabric's, so virtual time
// governs the agents' timeouts. It may be created before or after the
// fabric starts; it closes when the fabric stops.
func NewInProcess(f *emu.Fabric, dev *hca.Device, port int) Transport {
	t := &inProcess{f: f, dev: dev, port: port, inbox: emu.NewInbox[func()](f), done: make(chan struct{}),
		eps: map[*ipEndpoint]struct{}{}}
	go t.run()
	return t
}

// run is the delivery context: it runs what the event loop pushed, in
// order, one at a time.
func (t *inProcess) run() {
	defer close(t.done)
	for {
		fn, err := t.inbox.Recv(context.Background())
		if err != nil {
			t.shutdown(fmt.Errorf("mad: in-process transport of port %d: %w", t.port, err))
			return
		}
		fn()
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

// ipEndpoint is one hca.Agent.
type ipEndpoint struct {
	t       *inProcess
	a       *hca.Agent
	id      uint32
	deliver func(Incoming)
	closed  atomic.Bool
	unreg   sync.Once
}

// handle runs on the event loop for every MAD for the agent; the agent
// sees it on the delivery context.
func (ep *ipEndpoint) handle(r hca.ReceivedMAD) {
	in := Incoming{MAD: r.MAD, Addr: Addr{LID: r.Addr.LID, SL: r.Addr.SL, QPN: r.Addr.QPN, QKey: r.Addr.QKey, PKey: r.Addr.PKey}}
	if pa := ep.t.dev.SMA().Port(r.Port); pa != nil {
		if i := pa.PKeyIndex(wire.PKey(r.Addr.PKey)); i >= 0 {
			in.Addr.PKeyIndex = uint16(i)
		}
	}
	if g := r.Addr.GRH; g != nil {
		in.Addr.GRH = &GRH{GID: g.SGID, HopLimit: g.HopLmt, TrafficClass: g.TClass, FlowLabel: g.FlowLabel}
	}
	ep.t.inbox.Push(func() {
		if !ep.closed.Load() {
			ep.deliver(in)
		}
	})
}

// ID implements Endpoint.ID: the hca.Agent's ID, which the HCA puts in the
// upper TID bits.
func (ep *ipEndpoint) ID() uint32 { return ep.id }

// Send implements Endpoint.Send: the MAD goes to the event loop with
// Fabric.Post. A failure the HCA reports comes back through deliver.
func (ep *ipEndpoint) Send(out Outgoing) error {
	if ep.closed.Load() {
		return fmt.Errorf("mad: send on port %d: %w", ep.t.port, ErrClosed)
	}
	if len(out.MAD) != wire.MADSize {
		return fmt.Errorf("mad: send on port %d: %d bytes, the in-process transport takes %d-byte mads: %w",
			ep.t.port, len(out.MAD), wire.MADSize, ErrBadMAD)
	}
	send := func() {
		err := ep.a.Send(ep.hcaAddr(out.Addr), out.MAD)
		if err != nil {
			ep.t.inbox.Push(func() {
				if !ep.closed.Load() {
					ep.deliver(Incoming{Addr: out.Addr, MAD: out.MAD, Err: err})
				}
			})
		}
	}
	// Post also from the event loop itself (a custom clock's callback):
	// the MAD then leaves after the events of this instant already queued,
	// and no goroutine check is needed on this hot path.
	ep.t.f.Post(send)
	return nil
}

// hcaAddr converts a to the HCA's address, on the event loop: a P_Key
// index is looked up in the port's P_Key table.
func (ep *ipEndpoint) hcaAddr(a Addr) hca.MADAddr {
	h := hca.MADAddr{LID: a.LID, SL: a.SL, QPN: a.QPN, QKey: a.QKey, PKey: a.PKey}
	if h.PKey == 0 && a.PKeyIndex != 0 {
		if pa := ep.t.dev.SMA().Port(ep.t.port); pa != nil && int(a.PKeyIndex) < len(pa.PKeys) {
			h.PKey = uint16(pa.PKeys[a.PKeyIndex])
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
// the event loop and pushes fn to the inbox.
func (c ipClock) AfterFunc(d time.Duration, fn func()) emu.Timer {
	tm := &ipTimer{}
	tm.inner = c.t.f.Clock().AfterFunc(d, func() {
		c.t.inbox.Push(func() {
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
