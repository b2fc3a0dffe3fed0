package emu

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// event is one scheduled callback.
type event struct {
	at  int64 // nanoseconds since the loop's start
	seq uint64
	fn  func()
	idx int // heap index, -1 once popped or stopped
	l   *loop

	// A frame delivery (fn == nil): the frame arrives at port.
	port      *Port
	frame     []byte
	corrupted bool
}

// Stop implements Timer.Stop.
func (e *event) Stop() bool {
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	if e.idx < 0 {
		return false
	}
	heap.Remove(&e.l.q, e.idx)
	e.idx = -1
	return true
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *eventHeap) Push(x any) {
	e := x.(*event)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.idx = -1
	*h = old[:n-1]
	return e
}

// loop is the single-goroutine scheduler behind a Fabric.
type loop struct {
	virtual bool
	base    time.Time // wall mode: real time of now=0; virtual: Epoch

	mu sync.Mutex
	// +checklocks:mu
	q eventHeap
	// +checklocks:mu
	seq uint64
	// now is the current time in ns since base. Written by the loop
	// goroutine under mu; read under mu.
	// +checklocks:mu
	now int64
	// holds counts Inbox items not yet reacted to (virtual mode only).
	// +checklocks:mu
	holds int
	// +checklocks:mu
	running bool
	// free holds delivery events for reuse.
	// +checklocks:mu
	free []*event

	wake    chan struct{}
	deliver func(p *Port, frame []byte, corrupted bool)
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
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.now
}

func (l *loop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// schedule queues fn to run at loop time at (ns).
func (l *loop) schedule(at int64, fn func()) *event {
	l.mu.Lock()
	if at < l.now {
		at = l.now
	}
	l.seq++
	e := &event{at: at, seq: l.seq, fn: fn, l: l}
	heap.Push(&l.q, e)
	first := e.idx == 0
	l.mu.Unlock()
	if first {
		l.poke()
	}
	return e
}

// scheduleNow queues fn at the current time, after everything already
// queued for that time.
func (l *loop) scheduleNow(fn func()) {
	l.mu.Lock()
	at := l.now
	if !l.virtual {
		at = int64(time.Since(l.base))
	}
	l.seq++
	heap.Push(&l.q, &event{at: at, seq: l.seq, fn: fn, l: l})
	l.mu.Unlock()
	l.poke()
}

// scheduleDelivery queues the arrival of frame at port p.
func (l *loop) scheduleDelivery(at int64, p *Port, frame []byte, corrupted bool) {
	l.mu.Lock()
	if at < l.now {
		at = l.now
	}
	l.seq++
	var e *event
	if n := len(l.free); n > 0 {
		e = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		e = &event{l: l}
	}
	e.at, e.seq, e.port, e.frame, e.corrupted = at, l.seq, p, frame, corrupted
	heap.Push(&l.q, e)
	first := e.idx == 0
	l.mu.Unlock()
	if first {
		l.poke()
	}
}

func (l *loop) hold() {
	if !l.virtual {
		return
	}
	l.mu.Lock()
	l.holds++
	l.mu.Unlock()
}

func (l *loop) release(n int) {
	if !l.virtual || n == 0 {
		return
	}
	l.mu.Lock()
	l.holds -= n
	if l.holds < 0 {
		l.holds = 0
	}
	l.mu.Unlock()
	l.poke()
}

// run processes events until ctx is done.
func (l *loop) run(ctx context.Context) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		var wait time.Duration = -1
		var e *event
		if len(l.q) > 0 {
			next := l.q[0]
			if l.virtual {
				if next.at <= l.now || l.holds == 0 {
					e = heap.Pop(&l.q).(*event)
					if e.at > l.now {
						l.now = e.at
					}
				}
			} else {
				now := int64(time.Since(l.base))
				if next.at <= now {
					e = heap.Pop(&l.q).(*event)
					l.now = now
				} else {
					wait = time.Duration(next.at - now)
				}
			}
		}
		l.mu.Unlock()
		if e != nil {
			if e.fn != nil {
				e.fn()
				continue
			}
			p, frame, bad := e.port, e.frame, e.corrupted
			e.port, e.frame = nil, nil
			l.mu.Lock()
			l.free = append(l.free, e)
			l.mu.Unlock()
			l.deliver(p, frame, bad)
			continue
		}
		if wait >= 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
			case <-timer.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
	}
}
