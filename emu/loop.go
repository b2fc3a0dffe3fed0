package emu

import (
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
	e.l.q.removeAt(e.idx)
	e.idx = -1
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
	l.q.push(e)
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
	l.q.push(&event{at: at, seq: l.seq, fn: fn, l: l})
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
	l.q.push(e)
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
					e = l.q.pop()
					if e.at > l.now {
						l.now = e.at
					}
				}
			} else {
				now := int64(time.Since(l.base))
				if next.at <= now {
					e = l.q.pop()
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
