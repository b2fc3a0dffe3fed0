package emu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// ErrStopped is returned by calls into a fabric that has stopped.
var ErrStopped = errors.New("emu: fabric stopped")

// DefaultLinkLatency is the one-way latency (cable plus the receiving
// port's pipeline) the virtual clock adds to every hop. What the devices
// add on top of it is theirs to model: a switch's port-to-port
// forwarding latency (ibswitch.Profile.ForwardingLatency) and an HCA's
// doorbell and completion delays (hca.Timing), under the virtual clock.
const DefaultLinkLatency = 100 * time.Nanosecond

// PacketTap sees every frame a port transmits onto a link. It is called on
// the event loop; frame must not be kept or changed after the call returns.
type PacketTap interface {
	TapPacket(at time.Time, from *Port, frame []byte)
}

// Option configures a Fabric.
type Option func(*config)

type config struct {
	virtual   bool
	seed      uint64
	latency   time.Duration
	logger    *slog.Logger
	verifyCRC bool
}

// WithVirtualClock runs the fabric on the deterministic virtual clock
// (the default).
func WithVirtualClock() Option { return func(c *config) { c.virtual = true } }

// WithWallClock runs the fabric on the wall clock, for real processes
// attached from outside. Frames cross links at once, in order.
func WithWallClock() Option { return func(c *config) { c.virtual = false } }

// WithSeed seeds the generator behind fault injection (default 1).
func WithSeed(seed uint64) Option { return func(c *config) { c.seed = seed } }

// WithLinkLatency sets the per-hop latency the virtual clock models for
// links connected from now on.
func WithLinkLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// WithLogger sets where the engine and devices log (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithCRCCheck turns off the fabric's CRC offload (default on, that is
// WithCRCCheck(false)). With the offload, a device may send a frame whose
// ICRC and VCRC are not yet computed (Port.SendUnsealed) and a device that
// implements CRCOffloader receives it so; the fabric computes the CRCs
// the moment the bytes become observable: before a tap captures the frame,
// before fault injection corrupts it, and before a device that does not
// implement CRCOffloader receives it. The bytes anyone can see are the
// ones eager sealing gives, and a corrupted frame still fails its VCRC at
// the receiver. WithCRCCheck(true) is the strict mode for checking
// devices: every frame is sealed when sent and every receiving port
// verifies its VCRC.
func WithCRCCheck(on bool) Option { return func(c *config) { c.verifyCRC = on } }

// Fabric is a set of nodes joined by links, driven by one event loop.
type Fabric struct {
	cfg   config
	loop  *loop
	clock Clock
	rng   *rand.Rand
	log   *slog.Logger

	nodes []*Node
	links []*Link
	taps  []PacketTap
	// recyclers take back the frames the fabric discards (loop-owned).
	recyclers []FrameRecycler

	started bool

	mu      sync.Mutex // guards cancel, done, stopped, inboxes
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
	inboxes map[closer]struct{}

	loopGID atomic.Uint64

	dropped atomic.Uint64 // frames lost to injected drops

	// receiving is how deep the event loop is in nested arrivals: 1 while
	// a device handles a frame the loop delivered, more while frames cut
	// through (loop-owned).
	receiving int
}

// maxCutThrough bounds the nesting of cut-through arrivals (a
// directed-route SMP and its answer cross at most 2*63 hops; deeper
// chains continue through the event loop).
const maxCutThrough = 32

type closer interface{ close() }

// New creates an empty fabric.
func New(opts ...Option) *Fabric {
	cfg := config{virtual: true, seed: 1, latency: DefaultLinkLatency, verifyCRC: false}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	f := &Fabric{cfg: cfg, loop: newLoop(cfg.virtual), log: cfg.logger,
		rng: rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)), inboxes: map[closer]struct{}{}}
	f.clock = loopClock{f.loop}
	f.loop.deliver = f.deliver
	return f
}

// Clock is the fabric's clock; its timers run on the event loop.
func (f *Fabric) Clock() Clock { return f.clock }

// Virtual reports whether the fabric runs on the virtual clock.
func (f *Fabric) Virtual() bool { return f.cfg.virtual }

// Logger is the fabric's logger.
func (f *Fabric) Logger() *slog.Logger { return f.log }

// Rand is the fabric's seeded generator. Use it only on the event loop.
func (f *Fabric) Rand() *rand.Rand { return f.rng }

// Nodes returns the fabric's nodes in the order they were added. Call it
// on the event loop, or before Start.
func (f *Fabric) Nodes() []*Node { return f.nodes }

// Links returns the fabric's links in the order they were connected.
func (f *Fabric) Links() []*Link { return f.links }

// Dropped is the number of frames lost to injected drops so far.
func (f *Fabric) Dropped() uint64 { return f.dropped.Load() }

// AddNode adds a node with nports external ports (numbered 1..nports) and,
// for switches, port 0. cfgs gives each external port's link capabilities:
// cfgs[i] applies to port i+1; missing entries take the last one given, or
// the defaults of PortConfig. Call it before Start or on the event loop.
func (f *Fabric) AddNode(name string, typ wire.NodeType, nports int, dev Device, cfgs ...PortConfig) (*Node, error) {
	if nports < 1 || nports > 254 {
		return nil, fmt.Errorf("emu: add node %q: %d ports is outside 1..254", name, nports)
	}
	if dev == nil {
		return nil, fmt.Errorf("emu: add node %q: no device", name)
	}
	n := &Node{fabric: f, name: name, typ: typ, dev: dev, ports: make([]*Port, nports+1), index: len(f.nodes)}
	n.offload, _ = dev.(CRCOffloader)
	if typ == wire.NodeTypeSwitch {
		n.ports[0] = &Port{node: n, num: 0, enabled: true, phys: wire.PhysStateLinkUp, state: wire.PortStateActive}
	}
	pc := PortConfig{}
	for i := 1; i <= nports; i++ {
		if i-1 < len(cfgs) {
			pc = cfgs[i-1]
		}
		c := pc.withDefaults()
		n.ports[i] = &Port{node: n, num: i, enabled: true, phys: wire.PhysStatePolling, state: wire.PortStateDown,
			widthSupported: c.WidthSupported, widthEnabled: c.WidthEnabled & c.WidthSupported,
			speedSupported: c.SpeedSupported, speedEnabled: c.SpeedEnabled & c.SpeedSupported}
	}
	f.nodes = append(f.nodes, n)
	return n, nil
}

// Connect joins two ports with a link. The link trains at once when both
// ends are enabled and share a width and a speed; its ports then come up in
// the Init state. Call it before Start or on the event loop.
func (f *Fabric) Connect(a, b *Port) (*Link, error) {
	switch {
	case a == nil || b == nil:
		return nil, errors.New("emu: connect: nil port")
	case a == b:
		return nil, fmt.Errorf("emu: connect: %s to itself", a)
	case a.num == 0 || b.num == 0:
		return nil, fmt.Errorf("emu: connect %s to %s: port 0 carries no link", a, b)
	case a.link != nil:
		return nil, fmt.Errorf("emu: connect %s to %s: %s is already linked to %s", a, b, a, a.Peer())
	case b.link != nil:
		return nil, fmt.Errorf("emu: connect %s to %s: %s is already linked to %s", a, b, b, b.Peer())
	case a.node.fabric != f || b.node.fabric != f:
		return nil, fmt.Errorf("emu: connect %s to %s: port of another fabric", a, b)
	}
	l := &Link{fabric: f, ends: [2]*Port{a, b}, latency: f.cfg.latency}
	a.link, b.link = l, l
	f.links = append(f.links, l)
	l.update()
	return l, nil
}

// Disconnect removes the link of port p (the console's Unlink). Call it on
// the event loop or before Start.
func (f *Fabric) Disconnect(p *Port) {
	l := p.link
	if l == nil {
		return
	}
	l.cut = true
	l.update()
	l.ends[0].link, l.ends[1].link = nil, nil
	for i, x := range f.links {
		if x == l {
			f.links = append(f.links[:i], f.links[i+1:]...)
			break
		}
	}
}

// AddTap registers a tap that sees every transmitted frame. Call it before
// Start or on the event loop.
func (f *Fabric) AddTap(t PacketTap) { f.taps = append(f.taps, t) }

// FrameRecycler takes back a frame the fabric discarded, so that the
// device whose buffer pool it came from can use the buffer again.
// RecycleFrame runs on the event loop; it reports whether it took the
// frame, and must leave frames it did not make alone.
type FrameRecycler interface {
	RecycleFrame(frame []byte) bool
}

// AddFrameRecycler registers r to be offered every frame the fabric
// itself discards: lost to an injected drop, sent on a port whose link is
// down, arriving at a dead node or a port gone down, or failing its CRC.
// (A frame a device discards is that device's business.) Registering the
// same r again does nothing. Call it before Start or on the event loop.
func (f *Fabric) AddFrameRecycler(r FrameRecycler) {
	for _, x := range f.recyclers {
		if x == r {
			return
		}
	}
	f.recyclers = append(f.recyclers, r)
}

// Recycle offers frame to the registered FrameRecyclers, as the fabric
// does with a frame it discards: a device or host that consumed a frame
// another device sent (wrote it to a socket, copied it out) calls it so
// that the buffer goes back to the pool it came from. A frame no recycler
// takes is left to the garbage collector. Call it on the event loop, and
// only once per frame.
func (f *Fabric) Recycle(frame []byte) { f.discard(frame) }

// discard offers a frame the fabric drops to the recyclers.
func (f *Fabric) discard(frame []byte) {
	for _, r := range f.recyclers {
		if r.RecycleFrame(frame) {
			return
		}
	}
}

// RemoveTap unregisters a tap.
func (f *Fabric) RemoveTap(t PacketTap) {
	for i, x := range f.taps {
		if x == t {
			f.taps = append(f.taps[:i], f.taps[i+1:]...)
			return
		}
	}
}

// Start starts the event loop and the devices. The loop runs until Stop
// or until ctx is done.
func (f *Fabric) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errors.New("emu: fabric already started")
	}
	if f.stopped {
		return ErrStopped
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	f.started = true
	f.loop.scheduleNow(func() {
		for _, n := range f.nodes {
			if s, ok := n.dev.(Starter); ok {
				s.Start(n)
			}
		}
	})
	go func() {
		defer close(f.done)
		f.loopGID.Store(goid())
		f.loop.run(ctx)
		f.loopGID.Store(0)
	}()
	return nil
}

// Stop stops the event loop, waits for it to exit and closes every Inbox so
// consumers blocked in Recv return. Frames in flight are dropped. Stop is
// idempotent.
func (f *Fabric) Stop() {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return
	}
	f.stopped = true
	cancel, done := f.cancel, f.done
	boxes := make([]closer, 0, len(f.inboxes))
	for b := range f.inboxes {
		boxes = append(boxes, b)
	}
	f.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	for _, b := range boxes {
		b.close()
	}
}

// Done is closed when the event loop has exited (nil before Start).
func (f *Fabric) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.done
}

func (f *Fabric) running() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started && !f.stopped
}

// OnLoop reports whether the caller runs on the fabric's event loop: it is
// the loop goroutine, or a goroutine that runs the loop inline (Enter, Do).
// It costs a look at the caller's stack; device code knows where it runs
// and need not ask.
func (f *Fabric) OnLoop() bool {
	if inlineLoop.Load() == f.loop && onInlineStack() {
		return true
	}
	id := f.loopGID.Load()
	return id != 0 && id == goid()
}

// Do runs fn on the event loop and waits for it to return. Before Start it
// runs fn at once; on the event loop itself it calls fn directly. Under
// the wall clock, when no goroutine runs the loop, the caller runs fn
// inline as Enter does, instead of waiting for the loop goroutine, but
// leaves what fn causes to the loop goroutine: a caller of Do may hold
// locks that device code takes. It returns ErrStopped if the fabric stops
// first.
func (f *Fabric) Do(fn func()) error {
	f.mu.Lock()
	started, stopped, done := f.started, f.stopped, f.done
	f.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if !started {
		fn()
		return nil
	}
	if f.loop.enter() {
		runInline(f.loop, fn, 0, 0)
		return nil
	}
	if f.OnLoop() {
		fn()
		return nil
	}
	ran := make(chan struct{})
	f.loop.scheduleNow(func() { fn(); close(ran) })
	select {
	case <-ran:
		return nil
	case <-done:
		select {
		case <-ran:
			return nil
		default:
			return ErrStopped
		}
	}
}

// Post queues fn to run on the event loop at the current time and returns
// at once. Before Start, fn runs when the fabric starts. Post never runs
// fn on the caller's goroutine, so it may be called with locks held that
// fn takes; see Enter for the faster doorbell.
func (f *Fabric) Post(fn func()) { f.loop.scheduleNow(fn) }

// Enter runs fn on the event loop at the current time, on the calling
// goroutine when it can: under the wall clock, when no goroutine runs the
// loop, the caller takes the loop over (it is then the event loop: OnLoop
// is true, device code and timers run on it), runs fn and every event due
// after it (the frames fn sends cross the fabric and what they cause at
// once runs too), lets the loop go and returns true. Otherwise it queues
// fn as Post does and returns false at once: under the virtual clock
// (which stays on its single goroutine), before Start, after Stop, while
// another goroutine runs the loop, and when the caller itself runs it (a
// nested Enter from a callback queues fn behind the current event, at the
// same instant, in order). Events keep their (time, sequence) order
// either way, and a goroutine that posts while Enter runs the loop has
// its work run before Enter returns.
//
// Enter is the doorbell of host code on the data path: it saves the
// hand-over to the loop goroutine and back. The caller must not hold
// locks that fn or device code takes, and should expect to spend the time
// the fabric takes to carry out what fn starts (at most a bounded number
// of events; the loop goroutine takes over the rest).
func (f *Fabric) Enter(fn func()) bool {
	l := f.loop
	if l.virtual {
		l.scheduleNow(fn)
		return false
	}
	if l.enter() {
		runInline(l, fn, 0, inlineBudget)
		return true
	}
	// Queue fn, then try again: a goroutine that holds the token looks at
	// the list after it lets go, so either it runs fn or, if it let go
	// first, the token is free here. When it cannot be taken for another
	// reason, enter hands fn to the loop goroutine.
	seq := l.queueAt(l.nowNanos(), fn)
	if l.enter() {
		runInline(l, nil, seq, inlineBudget)
		return true
	}
	return false
}

// Now is the fabric's current time.
func (f *Fabric) Now() time.Time { return f.clock.Now() }

// deliver is the event loop's arrival of a frame it queued for port p.
func (f *Fabric) deliver(p *Port, frame []byte, corrupted, sealed bool) {
	p.arriving--
	f.receive(p, frame, corrupted, sealed)
}

// cutThrough reports whether frame, which a device sends to port to while
// it handles an arriving frame, arrives at once, in the sender's call,
// instead of through the event loop's queue. Under the wall clock frames
// move at once anyway; handing a management frame (VL15: SMPs relayed hop
// by hop, IBTA Vol 1 §14.2.2) straight on saves the queueing per hop,
// which is most of a directed-route SMP's cost, and so does handing on a
// data packet a switch relays (Port.RelayFrame), which is half the hops of
// a verbs message through one switch. It applies only when nothing can
// tell the difference: the wall clock, no packet taps, no frame queued for
// the same port (the link keeps its order), no injected corruption, and a
// bounded nesting. Data packets cut through only from a relay, never as a
// transport engine sends them, so the transport engines never see an
// arrival nested in their own sends: an engine's frames take the queue to
// the switch, and what the switch hands on nests only in the switch's
// handling, which has nothing left to do with the frame.
func (f *Fabric) cutThrough(to *Port, frame []byte, corrupted, relay bool) bool {
	return f.receiving > 0 && f.receiving < maxCutThrough && !f.cfg.virtual && !corrupted &&
		to.arriving == 0 && len(f.taps) == 0 && len(frame) >= wire.LRHSize && (relay || wire.LRH(frame).VL() == 15)
}

// CutThrough runs fn as the event loop runs a device's handling of an
// arriving frame: the management frames fn sends, and those the devices
// send in turn, arrive at once where cutThrough allows (see there)
// instead of through the loop's queue. A server that injects a batch of
// requests into the fabric calls it so that each request's whole round
// trip completes before fn returns. Call it on the event loop.
func (f *Fabric) CutThrough(fn func()) {
	f.receiving++
	defer func() { f.receiving-- }()
	fn()
}

// receive hands an arriving frame to the device of port p.
//
// It reads the port and not its Node: a port of a killed node is never up
// (Link.update), and the port caches the node's device (Port.offload).
func (f *Fabric) receive(p *Port, frame []byte, corrupted, sealed bool) {
	f.receiving++
	defer func() { f.receiving-- }()
	if !p.IsUp() {
		f.discard(frame) // the link went down (or the node died) while the frame was in flight
		return
	}
	off := p.offload
	if !sealed && off == nil {
		if wire.SealPacket(frame) != nil {
			p.Counters.CountRcvError(RcvMalformedPacket)
			f.discard(frame)
			return
		}
		sealed = true
	}
	p.Counters.RcvPkts.Add(1)
	words := uint64(len(frame) / 4)
	p.Counters.RcvData.Add(words)
	if len(frame) >= wire.LRHSize {
		p.Counters.CountRcvDataSL(wire.LRH(frame).SL(), words)
	}
	if (corrupted || f.cfg.verifyCRC) && !wire.CheckVCRC(frame) {
		p.Counters.CountRcvError(RcvLocalPhysicalError)
		f.discard(frame)
		return
	}
	p.Counters.CountRcvTransport(frame, words)
	if len(frame) >= wire.LRHSize && wire.LRH(frame).DLID().IsMulticast() {
		p.Counters.McastRcv.Add(1)
	} else {
		p.Counters.UnicastRcv.Add(1)
	}
	if off != nil {
		off.HandleFrame(p, frame, sealed)
		return
	}
	p.node.dev.HandlePacket(p, frame)
}

// KillNode stops a node: it stops answering and its links go down, as if
// it lost power. Call it on the event loop.
func (f *Fabric) KillNode(n *Node) {
	if n.dead {
		return
	}
	n.dead = true
	for _, p := range n.ports {
		if p != nil && p.link != nil {
			p.link.update()
		}
	}
}

// ReviveNode powers a killed node back on; its links retrain. Call it on
// the event loop.
func (f *Fabric) ReviveNode(n *Node) {
	if !n.dead {
		return
	}
	n.dead = false
	for _, p := range n.ports {
		if p != nil && p.link != nil {
			p.link.update()
		}
	}
}

func (f *Fabric) addInbox(b closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	f.inboxes[b] = struct{}{}
	return true
}

func (f *Fabric) removeInbox(b closer) {
	f.mu.Lock()
	delete(f.inboxes, b)
	f.mu.Unlock()
}

// goid returns the current goroutine's id. It is used only to tell whether
// a caller runs on the event loop, which Do needs to avoid deadlocking.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
