package emu

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// event is one scheduled callback or frame delivery.
type event struct {
	at  int64 // nanoseconds since the loop's base time
	seq uint64
	fn  func()
	idx int // heap index, -1 once popped
	// state is 0 while pending, 1 once the callback ran or was stopped.
	state atomic.Uint32
	l     *loop // the loop of a timer (fn != nil)
	// pooled marks a callback queued by scheduleNow: nobody holds it, so
	// the loop recycles it once the callback ran.
	pooled bool

	// A frame delivery (fn == nil): the frame arrives at port.
	port      *Port
	frame     []byte
	corrupted bool
	sealed    bool // the frame's CRCs are computed (see Port.SendUnsealed)
	// fifo is the arrival queue of port the delivery waits in, nil for a
	// delivery queued in the heap on its own.
	fifo *fifo
}

// fifo holds the deliveries to one port in (at, seq) order. Frames
// crossing one link direction arrive in the order they were sent (the
// link serialises them), so almost every delivery joins the tail of its
// port's queue, and only the head of each queue sits in the heap: the
// heap stays as small as the number of ports with frames in flight
// instead of the number of frames, which saves most of its work per
// frame. A delivery that would arrive before the tail (the link was
// retrained to a lower latency, say) goes into the heap on its own, so
// the order stays exactly (at, seq).
type fifo struct {
	q       []*event // ring buffer; its length is a power of two
	head, n int
}

func (f *fifo) tail() *event { return f.q[(f.head+f.n-1)&(len(f.q)-1)] }

func (f *fifo) push(e *event) {
	if f.n == len(f.q) {
		q := make([]*event, max(8, 2*len(f.q)))
		for i := range f.n {
			q[i] = f.q[(f.head+i)&(len(f.q)-1)]
		}
		f.q, f.head = q, 0
	}
	f.q[(f.head+f.n)&(len(f.q)-1)] = e
	f.n++
}

// pop removes the head and returns the next one, or nil.
func (f *fifo) pop() *event {
	f.q[f.head] = nil
	f.head = (f.head + 1) & (len(f.q) - 1)
	f.n--
	if f.n == 0 {
		return nil
	}
	return f.q[f.head]
}

// Stop implements Timer.Stop. A stopped event stays queued until the loop
// drops it (when it reaches the head of the queue, or when stopped events
// make up half of the queue).
func (e *event) Stop() bool {
	if !e.state.CompareAndSwap(0, 1) {
		return false
	}
	e.l.stopped.Add(1)
	return true
}

// eventHeap is a binary min-heap of events ordered by (at, seq). It is
// written out rather than built on container/heap: the interface calls of
// container/heap cost a third of the engine's time per forwarded frame.
type eventHeap []*event

func (e *event) before(o *event) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

func (h *eventHeap) push(e *event) {
	q := append(*h, e)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(q[p]) {
			break
		}
		q[i] = q[p]
		q[i].idx = i
		i = p
	}
	q[i] = e
	e.idx = i
	*h = q
}

// removeAt takes the event at index i out of the heap and returns it.
func (h *eventHeap) removeAt(i int) *event {
	q := *h
	n := len(q) - 1
	e := q[i]
	last := q[n]
	q[n] = nil
	q = q[:n]
	*h = q
	e.idx = -1
	if i == n {
		return e
	}
	// Put last at i and restore the heap order up or down.
	for i > 0 {
		p := (i - 1) / 2
		if !last.before(q[p]) {
			break
		}
		q[i] = q[p]
		q[i].idx = i
		i = p
	}
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && q[r].before(q[c]) {
			c = r
		}
		if !q[c].before(last) {
			break
		}
		q[i] = q[c]
		q[i].idx = i
		i = c
	}
	q[i] = last
	last.idx = i
	return e
}

func (h *eventHeap) pop() *event { return h.removeAt(0) }

// replaceTop takes out the minimum and puts e, which must not be ordered
// before it, in its place; it returns the minimum.
func (h *eventHeap) replaceTop(e *event) *event {
	q := *h
	top := q[0]
	top.idx = -1
	n := len(q)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && q[r].before(q[c]) {
			c = r
		}
		if !q[c].before(e) {
			break
		}
		q[i] = q[c]
		q[i].idx = i
		i = c
	}
	q[i] = e
	e.idx = i
	return top
}

// popHead takes the first event out of the heap; when it heads a port's
// arrival queue, the next delivery of that queue takes its place.
func (l *loop) popHead() *event {
	e := l.q[0]
	if e.fifo == nil {
		return l.q.pop()
	}
	f := e.fifo
	e.fifo = nil
	if next := f.pop(); next != nil {
		return l.q.replaceTop(next)
	}
	return l.q.pop()
}

// loop is the single-goroutine scheduler behind a Fabric.
//
// The event heap belongs to the loop goroutine (and, before Start, to the
// goroutine building the fabric): frame deliveries, which devices schedule
// from the loop, go straight into it. Callbacks scheduled from anywhere
// (timers, Post, Do) pass through the locked inbound list, which the loop
// drains before it picks the next event. Time, holds and sequence numbers
// are atomics, so the hot path takes no lock.
type loop struct {
	virtual bool
	base    time.Time // real time of now=0 (wall) or Epoch (virtual)

	q     eventHeap       // loop goroutine only
	free  []*event        // delivery events for reuse; loop goroutine only
	fifos map[*Port]*fifo // arrival queues; loop goroutine only

	seq   atomic.Uint64
	now   atomic.Int64 // current loop time, written by the loop goroutine
	holds atomic.Int64 // Inbox items not yet reacted to (virtual mode)
	// stopped counts timers stopped since the last compaction.
	stopped atomic.Int64

	inMu sync.Mutex
	// +checklocks:inMu
	in []*event
	// +checklocks:inMu
	inFree  []*event    // recycled scheduleNow events
	inSpare []*event    // the other buffer of in; loop goroutine only
	done    []*event    // scheduleNow events that ran; loop goroutine only
	pending atomic.Bool // in is not empty

	// kicks counts the reasons to look again (something queued, a hold
	// released); parked is set while the loop goroutine sleeps on wake, so
	// that only then does poke pay for a channel send.
	kicks  atomic.Uint64
	parked atomic.Bool
	// spin is how long the idle loop polls for work before it parks; it
	// adapts between 0 and maxSpin (loop goroutine only).
	spin time.Duration

	wake    chan struct{}
	deliver func(p *Port, frame []byte, corrupted, sealed bool)
}

// maxSpin bounds how long an idle event loop keeps polling for work (and
// yielding its core to other goroutines) before it parks. A host that
// posts work again within it hands the work over without waking a
// sleeping goroutine, which sets the latency floor of a ping-pong; a
// fabric left idle spins at most this long and then burns no CPU.
const maxSpin = 50 * time.Microsecond

func newLoop(virtual bool) *loop {
	l := &loop{virtual: virtual, wake: make(chan struct{}, 1), spin: maxSpin}
	if virtual {
		l.base = Epoch
	} else {
		l.base = time.Now()
	}
	return l
}

func (l *loop) timeAt(ns int64) time.Time { return l.base.Add(time.Duration(ns)) }

// nowNanos is the current loop time.
func (l *loop) nowNanos() int64 {
	if !l.virtual {
		return int64(time.Since(l.base))
	}
	return l.now.Load()
}

// poke tells the loop to look again. The channel send, which wakes a
// sleeping goroutine, happens only when the loop goroutine is parked: a
// running or spinning loop sees the kick count move.
func (l *loop) poke() {
	l.kicks.Add(1)
	if l.parked.Load() {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// schedule queues fn to run at loop time at (ns). Safe from any goroutine.
func (l *loop) schedule(at int64, fn func()) *event {
	if now := l.nowNanos(); at < now {
		at = now
	}
	e := &event{at: at, seq: l.seq.Add(1), fn: fn, idx: -1, l: l}
	l.inMu.Lock()
	l.in = append(l.in, e)
	l.pending.Store(true)
	l.inMu.Unlock()
	l.poke()
	return e
}

// scheduleNow queues fn at the current time, after everything already
// queued for that time. Safe from any goroutine. Its event is never handed
// out, so the loop recycles it after the callback ran.
func (l *loop) scheduleNow(fn func()) {
	at := l.nowNanos()
	l.inMu.Lock()
	var e *event
	if n := len(l.inFree); n > 0 {
		e = l.inFree[n-1]
		l.inFree[n-1] = nil
		l.inFree = l.inFree[:n-1]
		e.state.Store(0)
	} else {
		e = &event{l: l, pooled: true}
	}
	// The sequence number is taken under the lock so that callbacks queued
	// for the same instant run in the order they were queued.
	e.at, e.seq, e.fn, e.idx = at, l.seq.Add(1), fn, -1
	l.in = append(l.in, e)
	l.pending.Store(true)
	l.inMu.Unlock()
	l.poke()
}

// scheduleDelivery queues the arrival of frame at port p. Loop goroutine
// only (devices transmit from the loop).
func (l *loop) scheduleDelivery(at int64, p *Port, frame []byte, corrupted, sealed bool) {
	if now := l.now.Load(); at < now {
		at = now
	}
	var e *event
	if n := len(l.free); n > 0 {
		e = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		e = &event{}
	}
	e.at, e.seq, e.port, e.frame, e.corrupted, e.sealed = at, l.seq.Add(1), p, frame, corrupted, sealed
	f := l.fifos[p]
	if f == nil {
		if l.fifos == nil {
			l.fifos = map[*Port]*fifo{}
		}
		f = &fifo{}
		l.fifos[p] = f
	}
	switch {
	case f.n == 0:
		e.fifo = f
		f.push(e)
		l.q.push(e)
	case !e.before(f.tail()):
		e.fifo = f
		f.push(e)
	default:
		l.q.push(e)
	}
}

// drain moves the inbound events into the heap. Loop goroutine only.
func (l *loop) drain() {
	l.inMu.Lock()
	in := l.in
	l.in = l.inSpare[:0]
	l.pending.Store(false)
	if len(l.done) > 0 && len(l.inFree) < 4096 {
		l.inFree = append(l.inFree, l.done...)
	}
	clear(l.done)
	l.done = l.done[:0]
	l.inMu.Unlock()
	for _, e := range in {
		l.q.push(e)
	}
	clear(in)
	l.inSpare = in[:0]
}

func (l *loop) hold() {
	if l.virtual {
		l.holds.Add(1)
	}
}

func (l *loop) release(n int) {
	if !l.virtual || n == 0 {
		return
	}
	l.holds.Add(-int64(n))
	l.poke()
}

// next pops the event to run now, or says how long to wait (-1: until
// woken) when there is none.
func (l *loop) next() (*event, time.Duration) {
	for {
		if l.pending.Load() {
			l.drain()
		}
		if n := l.stopped.Load(); n > 1024 && int(n)*2 > len(l.q) {
			l.compact()
		}
		// Stopped timers stay queued until they reach the head; drop them
		// there without letting them move time.
		for len(l.q) > 0 && l.q[0].fn != nil && l.q[0].state.Load() != 0 {
			l.q.pop()
		}
		if len(l.q) == 0 {
			return nil, -1
		}
		head := l.q[0]
		if !l.virtual {
			now := int64(time.Since(l.base))
			if head.at <= now {
				l.now.Store(now)
				return l.popHead(), 0
			}
			return nil, time.Duration(head.at - now)
		}
		if head.at <= l.now.Load() {
			return l.popHead(), 0
		}
		if l.holds.Load() > 0 {
			return nil, -1 // a host is still reacting at this instant
		}
		// A host queues what it sends before it releases its hold, so
		// after seeing no holds, look at the inbound list once more: what
		// a host sent at this instant must run before time moves.
		if l.pending.Load() {
			continue
		}
		l.now.Store(head.at)
		return l.popHead(), 0
	}
}

// compact drops every stopped timer from the heap and restores the heap
// order. Loop goroutine only.
func (l *loop) compact() {
	l.stopped.Store(0)
	q := l.q[:0]
	for _, e := range l.q {
		if e.fn != nil && e.state.Load() != 0 {
			e.idx = -1
			continue
		}
		q = append(q, e)
	}
	for i := len(q); i < len(l.q); i++ {
		l.q[i] = nil
	}
	l.q = eventHeap{}
	for _, e := range q {
		l.q.push(e)
	}
}

// run processes events until ctx is done.
func (l *loop) run(ctx context.Context) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	done := ctx.Done()
	for n := 0; ; n++ {
		if n&1023 == 0 {
			select {
			case <-done:
				return
			default:
			}
		}
		// Any kick after this snapshot makes the idle loop look again.
		kick := l.kicks.Load()
		e, wait := l.next()
		if e != nil {
			l.dispatch(e)
			continue
		}
		if l.idleSpin(kick, wait) {
			continue
		}
		l.parked.Store(true)
		if l.kicks.Load() != kick {
			l.parked.Store(false)
			continue
		}
		parkedAt := time.Now()
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-done:
				return
			case <-l.wake:
				timer.Stop()
			case <-timer.C:
			}
		} else {
			select {
			case <-done:
				return
			case <-l.wake:
			}
		}
		l.parked.Store(false)
		// Work that came soon after the loop parked says spinning would
		// have caught it: spin longer next time.
		if time.Since(parkedAt) < maxSpin {
			l.spin = maxSpin
		}
	}
}

// dispatch runs one event popped from the heap.
func (l *loop) dispatch(e *event) {
	if e.fn != nil {
		if e.state.CompareAndSwap(0, 1) {
			e.fn()
		}
		if e.pooled {
			e.fn = nil
			l.done = append(l.done, e)
		}
		return
	}
	p, frame, bad, sealed := e.port, e.frame, e.corrupted, e.sealed
	e.port, e.frame = nil, nil
	l.free = append(l.free, e)
	l.deliver(p, frame, bad, sealed)
}

// idleSpin polls for a kick for up to l.spin while yielding the core to
// other goroutines, the way a driver's busy poll loop waits for a
// doorbell. It reports true when the loop should look again: work
// arrived, or the timer it waits for (wall clock) is due. The budget
// halves each time spinning finds nothing and is restored when work
// arrives soon after the loop parked, so a fabric that stays idle soon
// parks at once and burns no CPU.
//
// With a single processor (GOMAXPROCS 1, as ibemu serve runs) it never
// spins: the goroutines and network poller that would bring the work can
// only run once the loop gives the processor up, so spinning only delays
// them.
func (l *loop) idleSpin(kick uint64, wait time.Duration) bool {
	budget := l.spin
	if runtime.GOMAXPROCS(0) < 2 {
		budget = 0
	}
	timerDue := wait >= 0 && wait <= budget
	if timerDue {
		budget = wait
	}
	if budget <= 0 {
		return timerDue
	}
	start := time.Now()
	for i := 1; ; i++ {
		if l.kicks.Load() != kick {
			return true
		}
		if i&63 == 0 {
			if time.Since(start) >= budget {
				break
			}
			// Yield now and then: a goroutine the loop readied (a
			// host woken by a completion) may be queued on this
			// processor.
			runtime.Gosched()
		}
	}
	if timerDue {
		return true
	}
	l.spin /= 2
	if l.spin < time.Microsecond {
		l.spin = 0
	}
	return false
}
