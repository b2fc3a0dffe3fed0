package discover_test

import (
	"container/heap"
	"slices"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// smaFabric is a mad.Transport whose port sits on a CA port of a topology
// and whose directed-route SMPs are answered from the topology, as the
// nodes' SMAs would answer them (NodeInfo, NodeDescription, SwitchInfo,
// PortInfo). It runs on a virtual clock pumped by its own goroutine, so
// timeouts cost no real time. Faults: dead nodes never answer, down ports
// report Polling and carry nothing.
type smaFabric struct {
	topo  *topology.Topology
	start *topology.Port

	mu      sync.Mutex
	now     time.Duration
	seq     uint64
	events  evHeap
	kick    chan struct{}
	stop    chan struct{}
	deliver func(mad.Incoming)
	mute    bool
	// mangle, when set, may rewrite the attribute data of answer number
	// n (counted from 0) before it is sent.
	mangle  func(n int, data []byte)
	answers int
	dead    map[*topology.Node]bool
	down    map[*topology.Port]bool
	// inFlight counts SMPs sent and not yet answered or lost;
	// maxInFlight is its high-water mark.
	inFlight, maxInFlight int
	smps                  int
}

type event struct {
	at   time.Duration
	seq  uint64
	fn   func()
	idx  int
	dead bool
}

type evHeap []*event

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *evHeap) Push(x any)   { e := x.(*event); e.idx = len(*h); *h = append(*h, e) }
func (h *evHeap) Pop() any     { o := *h; e := o[len(o)-1]; *h = o[:len(o)-1]; e.idx = -1; return e }

func newSMAFabric(t *topology.Topology, start *topology.Port) *smaFabric {
	f := &smaFabric{topo: t, start: start, kick: make(chan struct{}, 1), stop: make(chan struct{}),
		dead: map[*topology.Node]bool{}, down: map[*topology.Port]bool{}}
	go f.pump()
	return f
}

func (f *smaFabric) schedule(d time.Duration, fn func()) *event {
	f.mu.Lock()
	f.seq++
	e := &event{at: f.now + d, seq: f.seq, fn: fn}
	heap.Push(&f.events, e)
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
	return e
}

// pump runs events in time order; virtual time jumps to the next event.
func (f *smaFabric) pump() {
	for {
		f.mu.Lock()
		for len(f.events) > 0 && f.events[0].dead {
			heap.Pop(&f.events)
		}
		var e *event
		if len(f.events) > 0 {
			e = heap.Pop(&f.events).(*event)
			f.now = max(f.now, e.at)
		}
		f.mu.Unlock()
		if e != nil {
			e.fn()
			continue
		}
		select {
		case <-f.kick:
		case <-f.stop:
			return
		}
	}
}

func (f *smaFabric) Register(reg mad.Registration, deliver func(mad.Incoming)) (mad.Endpoint, error) {
	f.mu.Lock()
	f.deliver = deliver
	f.mu.Unlock()
	return fakeEP{f}, nil
}

func (f *smaFabric) Clock() emu.Clock { return fakeClock{f} }
func (f *smaFabric) Close() error {
	close(f.stop)
	return nil
}

type fakeClock struct{ f *smaFabric }

func (c fakeClock) Now() time.Time {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return emu.Epoch.Add(c.f.now)
}

func (c fakeClock) AfterFunc(d time.Duration, fn func()) emu.Timer {
	return fakeTimer{c.f, c.f.schedule(d, fn)}
}

type fakeTimer struct {
	f *smaFabric
	e *event
}

func (t fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if t.e.dead || t.e.idx < 0 {
		return false
	}
	t.e.dead = true
	return true
}

type fakeEP struct{ f *smaFabric }

func (e fakeEP) ID() uint32   { return 7 }
func (e fakeEP) Close() error { return nil }

// Send answers a directed-route SMP after 1 µs per hop each way, or loses
// it when the route is broken.
func (e fakeEP) Send(out mad.Outgoing) error {
	f := e.f
	req := slices.Clone(out.MAD)
	f.mu.Lock()
	f.smps++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	node, inPort, hops, ok := f.walk(wire.SMP(req))
	if !ok {
		f.schedule(time.Microsecond, func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() })
		return nil
	}
	resp := f.answer(wire.SMP(req), node, inPort)
	f.schedule(time.Duration(2*hops+1)*time.Microsecond, func() {
		f.mu.Lock()
		f.inFlight--
		d := f.deliver
		f.mu.Unlock()
		d(mad.Incoming{Addr: mad.Addr{LID: wire.LIDPermissive}, MAD: resp})
	})
	return nil
}

// walk follows the initial path of s from the start port.
func (f *smaFabric) walk(s wire.SMP) (node *topology.Node, inPort, hops int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !s.IsDirected() || f.mute {
		return nil, 0, 0, false
	}
	node, inPort = f.start.Node, 0
	n := int(s.HopCount())
	for i := 1; i <= n; i++ {
		port := int(s.InitialPathAt(i))
		if i == 1 && !node.IsSwitch() && port != f.start.Num {
			return nil, 0, 0, false // a CA sends only out of the port the SMP is posted on
		}
		if i > 1 && !node.IsSwitch() {
			return nil, 0, 0, false // only switches relay
		}
		p := node.Port(port)
		if p == nil || port == 0 || p.Remote == nil || f.down[p] || f.down[p.Remote] {
			return nil, 0, 0, false
		}
		node, inPort = p.Remote.Node, p.Remote.Num
		if f.dead[node] {
			return nil, 0, 0, false
		}
	}
	if n == 0 {
		inPort = f.start.Num
		if node.IsSwitch() {
			inPort = 0
		}
	}
	return node, inPort, n, true
}

func (f *smaFabric) answer(s wire.SMP, n *topology.Node, inPort int) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	status := wire.MADStatusOK
	d := s.Data()
	clear(d)
	switch s.MAD().AttrID() {
	case wire.AttrNodeInfo:
		ni := wire.NodeInfo(d)
		pg := n.Ports[inPort].GUID
		if n.IsSwitch() {
			pg = n.Ports[0].GUID
		}
		ni.Encode(&wire.NodeInfoFields{BaseVersion: 1, ClassVersion: 1, NodeType: n.Type, NumPorts: uint8(n.NumPorts),
			SystemImageGUID: n.SysImageGUID, NodeGUID: n.NodeGUID, PortGUID: pg, PartitionCap: 64,
			DeviceID: n.DeviceID, LocalPortNum: uint8(inPort), VendorID: n.VendorID})
	case wire.AttrNodeDescription:
		wire.NodeDescription(d).SetString(n.Desc)
	case wire.AttrSwitchInfo:
		if !n.IsSwitch() {
			status = wire.MADStatusUnsupportedMethodAttr
			break
		}
		wire.SwitchInfo(d).SetEnhancedPort0(n.EnhancedPort0)
	case wire.AttrPortInfo:
		num := int(s.MAD().AttrMod())
		if num == 0 && !n.IsSwitch() {
			num = inPort
		}
		p := n.Port(num)
		if p == nil {
			status = wire.MADStatusInvalidField
			break
		}
		pi := wire.PortInfo(d)
		pi.SetLocalPortNum(uint8(inPort))
		if n.IsSwitch() {
			pi.SetLID(n.LID)
			pi.SetLMC(n.LMC)
		} else {
			pi.SetLID(p.LID)
			pi.SetLMC(p.LMC)
		}
		pi.SetLinkWidthEnabled(wire.LinkWidth(p.WidthEnabled))
		pi.SetLinkSpeedEnabled(p.SpeedEnabled & 0xf)
		pi.SetPortPhysicalState(wire.PhysStatePolling)
		pi.SetPortState(wire.PortStateDown)
		if num == 0 {
			pi.SetPortPhysicalState(wire.PhysStateLinkUp)
			pi.SetPortState(wire.PortStateActive)
		} else if p.Remote != nil && !f.down[p] && !f.down[p.Remote] {
			r := p.ActiveRate()
			pi.SetPortPhysicalState(wire.PhysStateLinkUp)
			pi.SetPortState(wire.PortStateInit)
			pi.SetLinkWidthActive(r.Width)
			pi.SetLinkSpeedActive(r.Speed)
		}
	default:
		status = wire.MADStatusUnsupportedMethodAttr
	}
	if f.mangle != nil {
		f.mangle(f.answers, d)
	}
	f.answers++
	s.MAD().SetResponse(status)
	return s
}
