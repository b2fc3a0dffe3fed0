package emu

import (
	"context"
	"math"
	"reflect"
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
	// pooled marks a callback queued by queueAt (Post, Enter, Do): nobody
	// holds it, so the loop recycles it once the callback ran.
	pooled bool
	// loopTimer marks the event of a LoopTimer (see timersLater).
	loopTimer bool

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
	port    *Port // whose arrivals it holds
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
	q.siftDown(i, last)
	return e
}

// siftDown puts e, which belongs at or below slot i, where the heap order
// holds, moving the smaller children up on its way.
func (q eventHeap) siftDown(i int, e *event) {
	n := len(q)
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
}

func (h *eventHeap) pop() *event { return h.removeAt(0) }

// replaceTop takes out the minimum and puts e, which must not be ordered
// before it, in its place; it returns the minimum.
func (h *eventHeap) replaceTop(e *event) *event {
	q := *h
	top := q[0]
	top.idx = -1
	q.siftDown(0, e)
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

// loop is the scheduler behind a Fabric.
//
// Whoever holds the loop's token runs its events: the loop goroutine, or
// (under the wall clock) a goroutine that entered the loop inline (see
// Fabric.Enter). The event heap, the arrival queues and everything the
// devices keep belong to the token's holder (and, before Start, to the
// goroutine building the fabric, which holds the token until the loop
// goroutine takes it over): frame deliveries, which devices schedule while
// they run, go straight into the heap. Callbacks scheduled from anywhere
// (timers, Post, Do) pass through the locked inbound list, which the
// holder drains before it picks the next event, and which it looks at
// again after it let go of the token, so nothing queued while it ran is
// left behind. Time, holds and sequence numbers are atomics, so the hot
// path takes no lock.
type loop struct {
	// The fields are grouped by who writes them, each group on cache
	// lines of its own: what the token's holder works on per event, what
	// goroutines that queue work write (the inbound list, the kicks), the
	// sequence numbers and holds both sides change, and the token. A
	// host that posts then takes none of the lines the loop reads per
	// event from the loop's core, which in a message stream would cost
	// the loop a miss on its heap and clock per doorbell.

	virtual bool
	base    time.Time // real time of now=0 (wall) or Epoch (virtual)
	wake    chan struct{}
	deliver func(p *Port, frame []byte, corrupted, sealed bool)

	q    eventHeap // token holder only
	free []*event  // delivery events for reuse; token holder only
	// Arrival queues, by node index and port number (a table, which
	// costs less per frame than a map), or by port for a port of no node;
	// token holder only.
	byNode [][]*fifo
	fifos  map[*Port]*fifo

	now atomic.Int64 // current loop time, written by the token holder
	// stopped counts timers stopped since the last compaction.
	stopped atomic.Int64
	inSpare []*event // the other buffer of in; token holder only
	done    []*event // scheduleNow events that ran; token holder only
	// inflight counts the frame deliveries queued (Fabric.Backlog);
	// burst holds the functions to run when the current burst of events
	// ends (Fabric.AtBurstEnd), sinceFlush the events run since they last
	// ran. Token holder only.
	inflight   int
	burst      []func()
	sinceFlush int
	// spin is how long the idle loop polls for work before it parks; it
	// adapts between 0 and maxSpin (loop goroutine only).
	spin time.Duration
	// timersLater is set while an inline run runs what is due after its
	// first callback: a LoopTimer at the head of the heap beyond the loop
	// time last read is then left to the loop goroutine, which sleeps
	// until the heap's first event (or is woken for it when the run lets
	// go, see letGo), instead of being checked against the clock. A
	// transport's retransmission timer, armed far ahead, sits at the head
	// of an otherwise empty heap at the end of most runs, and reading the
	// clock to see it is not due costs a run about as much as a hop of a
	// frame. Token holder only.
	timersLater bool
	// procs is GOMAXPROCS as the loop goroutine last read it (when it
	// started and whenever it woke from parking: reading it takes the
	// scheduler's lock, which yielding goroutines contend for).
	procs int
	_     cacheLinePad

	seq   atomic.Uint64
	holds atomic.Int64 // Inbox items not yet reacted to (virtual mode)
	_     cacheLinePad

	inMu sync.Mutex
	// +checklocks:inMu
	in []*event
	// +checklocks:inMu
	inFree  []*event    // recycled scheduleNow events
	pending atomic.Bool // in is not empty
	// kicks counts the reasons to look again (something queued, a hold
	// released, an earlier event left by an inline run); parked is set
	// while the loop goroutine sleeps on wake, so that only then does poke
	// pay for a channel send.
	kicks  atomic.Uint64
	parked atomic.Bool
	_      cacheLinePad

	// token says who runs the events: nobody (tokenFree), a goroutine
	// (tokenHeld), or nobody ever again (tokenClosed, once the loop
	// goroutine exited).
	token atomic.Int32
	// sleepUntil is the loop time up to which the loop goroutine may
	// sleep without looking at the heap (math.MaxInt64: until woken). A
	// goroutine that leaves an inline run with an event due earlier wakes
	// it.
	sleepUntil atomic.Int64
	// closing is set once the loop goroutine is on its way out: an inline
	// holder then always wakes it when it lets go.
	closing atomic.Bool
	// inlineRuns counts the inline runs (Fabric.Enter, Fabric.Do that
	// took the loop on the caller's goroutine).
	inlineRuns atomic.Uint64
}

// cacheLinePad keeps the fields after it off the cache lines of those
// before it (64-byte lines; two of them, as the adjacent-line prefetcher
// pairs lines on x86).
type cacheLinePad struct{ _ [128]byte }

// Token states of a loop.
const (
	tokenFree   int32 = iota // nobody runs events
	tokenHeld                // a goroutine runs events
	tokenClosed              // the loop goroutine exited; nobody runs events again
)

// maxSpin bounds how long an idle event loop keeps polling for work (and
// yielding its core to other goroutines) before it parks. A host that
// posts work again within it hands the work over without waking a
// sleeping goroutine; a fabric left idle spins at most this long and then
// burns no CPU. Work entered inline (Fabric.Enter) needs no hand-over, so
// a fabric driven that way lets the budget decay to nothing.
const maxSpin = 50 * time.Microsecond

// loopBatch is how many events the loop goroutine runs between looks at
// its context; inlineBudget is how many an inline run may take on before
// it hands what is left to the loop goroutine, so that a goroutine that
// entered the loop gets back to its own work even while other goroutines
// keep queueing.
const (
	loopBatch    = 1024
	inlineBudget = 1 << 14
)

func newLoop(virtual bool) *loop {
	l := &loop{virtual: virtual, wake: make(chan struct{}, 1), spin: maxSpin}
	if virtual {
		l.base = Epoch
	} else {
		l.base = time.Now()
	}
	// The goroutine building the fabric owns the loop until Start hands
	// it to the loop goroutine.
	l.token.Store(tokenHeld)
	l.sleepUntil.Store(math.MaxInt64)
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

// poke tells the loop goroutine to look again. The channel send, which
// wakes a sleeping goroutine, happens only when the loop goroutine is
// parked: a running or spinning loop sees the kick count move.
func (l *loop) poke() {
	l.kicks.Add(1)
	if l.parked.Load() {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// queued tells the loop that something was added to the inbound list.
// Under the wall clock a goroutine that holds the token drains the list
// before it lets go and looks at it again afterwards (see run and leave),
// so only work queued while nobody runs the loop needs a poke; this spares
// a goroutine that posts while the loop runs (inline or not) the wake-up
// of the loop goroutine. Under the virtual clock the loop goroutine holds
// the token for good, and every queued item pokes it.
func (l *loop) queued() {
	if !l.virtual && l.token.Load() == tokenHeld {
		return
	}
	l.poke()
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
	l.queued()
	return e
}

// scheduleNow queues fn at the current time, after everything already
// queued for that time. Safe from any goroutine. Its event is never handed
// out, so the loop recycles it after the callback ran.
func (l *loop) scheduleNow(fn func()) {
	l.queueAt(l.nowNanos(), fn)
	l.queued()
}

// queueAt adds a pooled callback event at loop time at to the inbound
// list without telling anyone and returns its sequence number.
func (l *loop) queueAt(at int64, fn func()) uint64 {
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
	seq := l.seq.Add(1)
	e.at, e.seq, e.fn, e.idx = at, seq, fn, -1
	l.in = append(l.in, e)
	l.pending.Store(true)
	l.inMu.Unlock()
	return seq
}

// scheduleDelivery queues the arrival of frame at port p. Token holder
// only (devices transmit while they run).
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
	l.inflight++
	f := l.fifoOf(p)
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

// fifoOf returns the arrival queue of port p, made on first use. Token
// holder only.
func (l *loop) fifoOf(p *Port) *fifo {
	n := p.node
	if n == nil {
		f := l.fifos[p]
		if f == nil {
			if l.fifos == nil {
				l.fifos = map[*Port]*fifo{}
			}
			f = &fifo{port: p}
			l.fifos[p] = f
		}
		return f
	}
	if n.index < len(l.byNode) {
		if ps := l.byNode[n.index]; p.num < len(ps) {
			if f := ps[p.num]; f != nil && f.port == p {
				return f
			}
		}
	}
	for len(l.byNode) <= n.index {
		l.byNode = append(l.byNode, nil)
	}
	ps := l.byNode[n.index]
	for len(ps) <= p.num {
		ps = append(ps, nil)
	}
	f := &fifo{port: p}
	ps[p.num] = f
	l.byNode[n.index] = ps
	return f
}

// drain moves the inbound events into the heap. Token holder only.
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
// woken) when there is none. Token holder only.
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
			// Frames that devices send arrive at the loop time of the
			// event that sent them, which is already due: the clock is
			// read only when the head lies beyond the time last read.
			// An inline run leaves a timer beyond it to the loop
			// goroutine without reading the clock (see timersLater).
			now := l.now.Load()
			if head.at > now && l.timersLater && head.loopTimer {
				return nil, -1
			}
			if head.at > now {
				now = int64(time.Since(l.base))
				l.now.Store(now)
			}
			if head.at <= now {
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

// headAt is the loop time of the first event in the heap, math.MaxInt64
// when it is empty. Token holder only.
func (l *loop) headAt() int64 {
	if len(l.q) == 0 {
		return math.MaxInt64
	}
	return l.q[0].at
}

// runDue runs up to limit events that are due. It returns how many it
// ran, how long until the next event when none is due (-1: none queued)
// and whether it stopped at the limit with events still due. Token holder
// only.
func (l *loop) runDue(limit int) (ran int, wait time.Duration, more bool) {
	for ran < limit {
		e, w := l.next()
		if e == nil {
			l.endBurst()
			return ran, w, false
		}
		l.dispatch(e)
		ran++
	}
	l.endBurst()
	return ran, 0, true
}

// compact drops every stopped timer from the heap and restores the heap
// order. Token holder only.
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

// run is the loop goroutine: it processes events until ctx is done. It
// starts as the token's holder (Start hands it over). Under the wall clock
// it lets go of the token whenever nothing is due, so that a goroutine
// that posts work may run it itself (enter), and sleeps until the next
// event is due or it is poked; an inline holder that leaves an event due
// before that wakes it. Under the virtual clock it keeps the token: time
// moves only here.
func (l *loop) run(ctx context.Context) {
	var timer *time.Timer
	owned := true
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		if owned {
			l.endBurst()
		}
		l.close(owned)
	}()
	done := ctx.Done()
	l.procs = runtime.GOMAXPROCS(0)
	for {
		select {
		case <-done:
			return
		default:
		}
		// Any kick after this snapshot makes the idle loop look again.
		kick := l.kicks.Load()
		if !owned {
			owned = l.token.CompareAndSwap(tokenFree, tokenHeld)
		}
		var wait time.Duration = -1
		if owned {
			var more bool
			if _, wait, more = l.runDue(loopBatch); more {
				continue
			}
			if !l.virtual {
				// Let go while idle. The deadline is published before the
				// token: an inline holder that sees the token free and
				// arms an earlier timer sees this deadline and wakes us.
				l.sleepUntil.Store(l.headAt())
				l.token.Store(tokenFree)
				owned = false
				// Work queued while we held the token skipped the poke
				// (see queued): look again.
				if l.pending.Load() {
					continue
				}
			}
		} else {
			// An inline holder runs the loop; it wakes us when it leaves
			// an event due before our deadline, so sleep until then. A
			// deadline that has passed is replaced by "until woken", and
			// the token looked at again afterwards: a holder that let go
			// before it could see the store left the token free.
			d := l.sleepUntil.Load()
			if now := l.nowNanos(); d > now {
				if d != math.MaxInt64 {
					wait = time.Duration(d - now)
				}
			} else {
				l.sleepUntil.Store(math.MaxInt64)
				if l.token.Load() == tokenFree {
					continue
				}
			}
		}
		// Spinning helps only when the work comes through us; while a
		// goroutine runs the loop inline it would only take a processor
		// from it.
		if owned || l.token.Load() == tokenFree {
			if l.idleSpin(kick, wait) {
				continue
			}
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
				l.parked.Store(false)
				return
			case <-l.wake:
				timer.Stop()
			case <-timer.C:
			}
		} else {
			select {
			case <-done:
				l.parked.Store(false)
				return
			case <-l.wake:
			}
		}
		l.parked.Store(false)
		l.procs = runtime.GOMAXPROCS(0)
		// Work that came soon after the loop parked says spinning would
		// have caught it: spin longer next time.
		if time.Since(parkedAt) < maxSpin {
			l.spin = maxSpin
		}
	}
}

// close takes the token for good as the loop goroutine exits, waiting for
// an inline holder to finish first: once close returns nobody runs the
// loop's events again.
func (l *loop) close(owned bool) {
	l.closing.Store(true)
	if owned {
		l.token.Store(tokenClosed)
		return
	}
	for !l.token.CompareAndSwap(tokenFree, tokenClosed) {
		l.parked.Store(true)
		if l.token.Load() == tokenFree {
			l.parked.Store(false)
			continue
		}
		// The holder pokes us when it lets go (closing is set); the
		// timeout only bounds a wake-up lost to a holder that let go
		// before it saw closing.
		t := time.NewTimer(time.Millisecond)
		select {
		case <-l.wake:
		case <-t.C:
		}
		t.Stop()
		l.parked.Store(false)
	}
}

// inlineLoop is the loop an inline run holds, nil while there is none. At
// most one goroutine in the process runs a loop inline at a time: that
// lets OnLoop recognise it by the runInline frame on its stack, with no
// goroutine id to compute on entry (which costs more than the run).
var inlineLoop atomic.Pointer[loop]

// enter takes the token for an inline run on the caller's goroutine. It
// fails under the virtual clock, before the loop goroutine started, after
// it exited, while any goroutine runs this loop (the caller itself
// included: nested calls queue) and while another goroutine runs some
// loop inline.
//
// The token is taken before inlineLoop: a goroutine that finds the token
// held may leave what it queued to the holder (see queued), and every
// holder, whether it goes on to run or not, looks at the inbound list
// after it let go (letGo, leave).
func (l *loop) enter() bool {
	if l.virtual || l.token.Load() != tokenFree || !l.token.CompareAndSwap(tokenFree, tokenHeld) {
		return false
	}
	if inlineLoop.CompareAndSwap(nil, l) {
		l.inlineRuns.Add(1)
		return true
	}
	// Another goroutine runs a loop inline: let go, and leave what is
	// queued to the loop goroutine.
	l.letGo(true)
	return false
}

// letGo lets go of the token (inlineLoop already let go). It wakes the
// loop goroutine when the heap's first event is due before the loop
// goroutine's deadline, when the loop goroutine waits to exit, or, with
// handOver, when work is queued.
func (l *loop) letGo(handOver bool) {
	h := l.headAt()
	l.token.Store(tokenFree)
	// The deadline and the list are read after the token is let go: a
	// loop goroutine that failed to take the token publishes its
	// deadline before it looks at the token again (see run), a goroutine
	// that queues work sets pending before it looks at the token (see
	// queued), so one of the two sees the other.
	if h < l.sleepUntil.Load() || l.closing.Load() || handOver && l.pending.Load() {
		l.poke()
	}
}

// inlineEntry is the entry address of runInline, which OnLoop looks for on
// the caller's stack.
var inlineEntry = runtime.FuncForPC(reflect.ValueOf(runInline).Pointer()).Entry()

// onInlineStack reports whether the calling goroutine is inside runInline,
// that is whether it is the goroutine running inlineLoop.
func onInlineStack() bool {
	pcs := make([]uintptr, 64)
	for {
		n := runtime.Callers(1, pcs)
		if n < len(pcs) {
			pcs = pcs[:n]
			break
		}
		pcs = make([]uintptr, 2*len(pcs))
	}
	frames := runtime.CallersFrames(pcs)
	for {
		fr, more := frames.Next()
		if fr.Entry == inlineEntry {
			return true
		}
		if !more {
			return false
		}
	}
}

// runInline runs the loop on the calling goroutine, which holds the token
// (enter): first fn (when not nil; or, when seq is not 0, every event up
// to the queued one numbered seq), then events due while budget lasts,
// then it lets go and leaves what remains to the loop goroutine. It is a
// function of its own, never inlined, because OnLoop recognises the
// inline holder by its frame.
//
//go:noinline
func runInline(l *loop, fn func(), seq uint64, budget int) {
	finished := false
	defer func() {
		if !finished {
			// A callback panicked: let go, so the loop goroutine goes on.
			l.timersLater = false
			l.leave(0)
		}
	}()
	switch {
	case fn != nil:
		budget -= l.runFirst(fn)
	case seq != 0:
		budget -= l.runThrough(seq)
	}
	for {
		if budget > 0 {
			l.timersLater = true
			ran, _, _ := l.runDue(budget)
			l.timersLater = false
			budget -= ran
		}
		if !l.leave(budget) {
			break
		}
	}
	finished = true
}

// runFirst runs fn at the current time as the first thing of an inline
// run and returns how many events it ran. With nothing queued and nothing
// due it calls fn at once; otherwise it queues fn behind what came first
// and runs events, in (time, sequence) order, until fn has run.
func (l *loop) runFirst(fn func()) int {
	// The clock is read on every entry, even when the heap's first event
	// lies beyond the loop time last read: that event may be a callback
	// queued since by another Enter (or Post) of the same caller, which
	// must run before fn (TestInlineRaceWithLoop).
	now := int64(time.Since(l.base))
	if !l.pending.Load() && (len(l.q) == 0 || l.q[0].at > now) {
		if now > l.now.Load() {
			l.now.Store(now)
		}
		fn()
		return 1
	}
	return l.runThrough(l.queueAt(now, fn))
}

// runThrough runs events in order until the one numbered seq, which is
// due, has run (or nothing is due: another holder ran it), and returns
// how many it ran.
func (l *loop) runThrough(seq uint64) int {
	for ran := 0; ; ran++ {
		e, _ := l.next()
		if e == nil {
			return ran
		}
		s := e.seq
		l.dispatch(e)
		if s == seq {
			return ran + 1
		}
	}
}

// leave ends a stretch of an inline run: it lets go of the loop and
// reports whether it took it back to run work queued meanwhile. Once the
// budget is spent, queued work is left to the loop goroutine.
func (l *loop) leave(budget int) bool {
	l.endBurst()
	inlineLoop.Store(nil)
	l.letGo(budget <= 0)
	if budget <= 0 || !l.pending.Load() {
		return false
	}
	// Whoever holds the token now drains the list; if nobody does, run
	// it here.
	return l.enter()
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
	} else {
		p, frame, bad, sealed := e.port, e.frame, e.corrupted, e.sealed
		e.port, e.frame = nil, nil
		l.free = append(l.free, e)
		l.inflight--
		l.deliver(p, frame, bad, sealed)
	}
	if len(l.burst) > 0 {
		if l.sinceFlush++; l.sinceFlush >= burstEvents {
			l.endBurst()
		}
	}
}

// burstEvents bounds how many events may run before the functions of
// Fabric.AtBurstEnd do, however busy the loop stays.
const burstEvents = 32

// endBurst runs the functions queued with Fabric.AtBurstEnd, in order
// (those they queue as well). Token holder only: whoever runs events
// calls it before it stops running them (runDue, leave, the loop
// goroutine's exit).
func (l *loop) endBurst() {
	l.sinceFlush = 0
	for i := 0; i < len(l.burst); i++ {
		fn := l.burst[i]
		l.burst[i] = nil
		fn()
	}
	l.burst = l.burst[:0]
}

// idleSpin polls for a kick for up to l.spin while yielding the core to
// other goroutines, the way a driver's busy poll loop waits for a
// doorbell. It reports true when the loop should look again: work
// arrived, or the timer it waits for (wall clock) is due. The budget
// halves each time spinning finds nothing and is restored when work
// arrives soon after the loop parked, so a fabric that stays idle soon
// parks at once and burns no CPU.
//
// With a single processor (GOMAXPROCS 1) it never spins: the goroutines
// and network poller that would bring the work can only run once the loop
// gives the processor up, so spinning only delays them.
func (l *loop) idleSpin(kick uint64, wait time.Duration) bool {
	budget := l.spin
	if l.procs < 2 {
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
