package mad_test

import (
	"container/heap"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// sim is a tiny discrete-event network for the agent tests: ports
// addressed by LID, a manual clock, and a pump that runs deliveries and
// timers in time order on the test goroutine. It implements the Transport
// rules (deliveries and clock callbacks never run concurrently; Send never
// delivers synchronously).
type sim struct {
	t *testing.T

	mu      sync.Mutex
	now     time.Duration
	seq     uint64
	events  evHeap
	kick    chan struct{}
	ports   map[wire.LID]*simPort
	nextID  uint32
	latency time.Duration
	// drop, when set, decides whether a sent MAD is lost.
	drop func(from wire.LID, out mad.Outgoing) bool
	// log records every MAD sent, in order.
	log []simPacket
}

type simPacket struct {
	at   time.Duration
	from wire.LID
	to   mad.Addr
	mad  []byte
	lost bool
}

type simEvent struct {
	at      time.Duration
	seq     uint64
	fn      func()
	idx     int
	stopped bool
}

type evHeap []*simEvent

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int)   { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *evHeap) Push(x any)     { e := x.(*simEvent); e.idx = len(*h); *h = append(*h, e) }
func (h *evHeap) Pop() any       { o := *h; e := o[len(o)-1]; *h = o[:len(o)-1]; e.idx = -1; return e }
func (h evHeap) peek() *simEvent { return h[0] }

func newSim(t *testing.T) *sim {
	return &sim{t: t, kick: make(chan struct{}, 1), ports: map[wire.LID]*simPort{}, nextID: 0x100, latency: time.Microsecond}
}

// schedule queues fn after d; safe from any goroutine.
func (s *sim) schedule(d time.Duration, fn func()) *simEvent {
	s.mu.Lock()
	s.seq++
	e := &simEvent{at: s.now + d, seq: s.seq, fn: fn}
	heap.Push(&s.events, e)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return e
}

// step runs the next event; it reports false when none is queued.
func (s *sim) step() bool {
	s.mu.Lock()
	for len(s.events) > 0 && s.events.peek().stopped {
		heap.Pop(&s.events)
	}
	if len(s.events) == 0 {
		s.mu.Unlock()
		return false
	}
	e := heap.Pop(&s.events).(*simEvent)
	if e.at > s.now {
		s.now = e.at
	}
	s.mu.Unlock()
	e.fn()
	return true
}

// runUntil pumps events until cond holds. When nothing is queued it waits
// (in real time) for another goroutine to queue something.
func (s *sim) runUntil(cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if s.step() {
			continue
		}
		select {
		case <-s.kick:
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sim: condition not reached by virtual time %v", s.elapsed())
		}
	}
}

// drain runs every queued event (timers included) until none is left.
func (s *sim) drain() {
	for s.step() {
	}
}

func (s *sim) elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// packets returns the log entries that match f.
func (s *sim) packets(f func(p simPacket) bool) []simPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []simPacket
	for _, p := range s.log {
		if f(p) {
			out = append(out, p)
		}
	}
	return out
}

// port returns the transport of the port with LID lid.
func (s *sim) port(lid wire.LID) *simPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.ports[lid]
	if p == nil {
		p = &simPort{s: s, lid: lid}
		s.ports[lid] = p
	}
	return p
}

// simClock is the sim's emu.Clock.
type simClock struct{ s *sim }

func (c simClock) Now() time.Time { return emu.Epoch.Add(c.s.elapsed()) }
func (c simClock) AfterFunc(d time.Duration, f func()) emu.Timer {
	return simTimer{c.s, c.s.schedule(d, f)}
}

type simTimer struct {
	s *sim
	e *simEvent
}

func (t simTimer) Stop() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.e.stopped || t.e.idx < 0 {
		return false
	}
	t.e.stopped = true
	return true
}

// simPort is a mad.Transport.
type simPort struct {
	s   *sim
	lid wire.LID
	eps []*simEP
}

type simEP struct {
	p       *simPort
	id      uint32
	reg     mad.Registration
	deliver func(mad.Incoming)
	closed  bool
	offload bool
}

func (p *simPort) Register(reg mad.Registration, deliver func(mad.Incoming)) (mad.Endpoint, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.s.nextID++
	ep := &simEP{p: p, id: p.s.nextID, reg: reg, deliver: deliver}
	p.eps = append(p.eps, ep)
	return ep, nil
}

func (p *simPort) Clock() emu.Clock { return simClock{p.s} }
func (p *simPort) Close() error     { return nil }

func (e *simEP) ID() uint32 { return e.id }
func (e *simEP) Close() error {
	e.p.s.mu.Lock()
	e.closed = true
	e.p.s.mu.Unlock()
	return nil
}

func (e *simEP) OffloadsRMPP() bool { return e.offload }

func (e *simEP) Send(out mad.Outgoing) error {
	s := e.p.s
	if len(out.MAD) < wire.MADHeaderSize {
		return fmt.Errorf("sim: short mad")
	}
	if !e.offload && len(out.MAD) != wire.MADSize {
		s.t.Errorf("sim: endpoint without rmpp offload got a %d-byte mad", len(out.MAD))
	}
	lost := s.drop != nil && s.drop(e.p.lid, out)
	s.mu.Lock()
	s.log = append(s.log, simPacket{at: s.now, from: e.p.lid, to: out.Addr, mad: slices.Clone(out.MAD), lost: lost})
	dst := s.ports[out.Addr.LID]
	s.mu.Unlock()
	if lost {
		return nil
	}
	if dst == nil {
		s.schedule(s.latency, func() {
			e.deliver(mad.Incoming{Addr: out.Addr, MAD: out.MAD, Err: fmt.Errorf("sim: no port with lid %d", out.Addr.LID)})
		})
		return nil
	}
	from := mad.Addr{LID: e.p.lid, QPN: out.Addr.QPN, SL: out.Addr.SL}
	s.schedule(s.latency, func() { dst.receive(from, out.MAD) })
	return nil
}

// receive routes a MAD arriving at the port: responses by the upper TID
// bits, requests by class, version and method registration.
func (p *simPort) receive(from mad.Addr, m []byte) {
	mm := wire.MAD(m)
	p.s.mu.Lock()
	var target *simEP
	for _, ep := range p.eps {
		if ep.closed {
			continue
		}
		if mm.IsResponse() {
			if ep.id == uint32(mm.TID()>>32) {
				target = ep
				break
			}
			continue
		}
		if ep.reg.Class == mm.MgmtClass() && ep.reg.ClassVersion == mm.ClassVersion() && slices.Contains(ep.reg.Methods, mm.Method()) {
			target = ep
			break
		}
	}
	p.s.mu.Unlock()
	if target != nil {
		target.deliver(mad.Incoming{Addr: from, MAD: m})
	}
}

// rmppInfo decodes the RMPP fields of a logged packet.
func rmppInfo(m []byte) (typ wire.RMPPType, flags wire.RMPPFlags, seg, d2 uint32, st wire.RMPPStatus) {
	h := wire.MAD(m).RMPPHeader()
	return h.Type(), h.Flags(), h.SegmentNumber(), h.Data2(), h.Status()
}
