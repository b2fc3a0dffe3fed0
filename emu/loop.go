package emu

import (
	"context"
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

	// A frame delivery (fn == nil): the frame arrives at port.
	port      *Port
	frame     []byte
	corrupted bool
	sealed    bool // the frame's CRCs are computed (see Port.SendUnsealed)
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

	q    eventHeap // loop goroutine only
	free []*event  // delivery events for reuse; loop goroutine only

	seq   atomic.Uint64
	now   atomic.Int64 // current loop time, written by the loop goroutine
	holds atomic.Int64 // Inbox items not yet reacted to (virtual mode)
	// stopped counts timers stopped since the last compaction.
	stopped atomic.Int64

	inMu sync.Mutex
	// +checklocks:inMu
	in      []*event
	pending atomic.Bool // in is not empty

	wake    chan struct{}
	deliver func(p *Port, frame []byte, corrupted, sealed bool)
}

func newLoop(virtual bool) *loop {
	l := &loop{virtual: virtual, wake: make(chan struct{}, 1)}
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

func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
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
// queued for that time. Safe from any goroutine.
func (l *loop) scheduleNow(fn func()) { l.schedule(l.nowNanos(), fn) }

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
	l.q.push(e)
}

// drain moves the inbound events into the heap. Loop goroutine only.
func (l *loop) drain() {
	l.inMu.Lock()
	in := l.in
	l.in = nil
	l.pending.Store(false)
	l.inMu.Unlock()
	for _, e := range in {
		l.q.push(e)
	}
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
				return l.q.pop(), 0
			}
			return nil, time.Duration(head.at - now)
		}
		if head.at <= l.now.Load() {
			return l.q.pop(), 0
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
		return l.q.pop(), 0
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
		e, wait := l.next()
		if e != nil {
			if e.fn != nil {
				if e.state.CompareAndSwap(0, 1) {
					e.fn()
				}
				continue
			}
			p, frame, bad, sealed := e.port, e.frame, e.corrupted, e.sealed
			e.port, e.frame = nil, nil
			l.free = append(l.free, e)
			l.deliver(p, frame, bad, sealed)
			continue
		}
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
			continue
		}
		select {
		case <-done:
			return
		case <-l.wake:
		}
	}
}
