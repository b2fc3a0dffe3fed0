package emu

import "time"

// Epoch is the instant virtual time starts at. Captures made under the
// virtual clock carry timestamps from here on.
var Epoch = time.Date(2010, time.January, 1, 0, 0, 0, 0, time.UTC)

// Clock is the time source every timer in the emulator and the host stack
// takes. Callbacks run on the fabric's event loop.
type Clock interface {
	// Now returns the current time: virtual time since Epoch, or the wall clock.
	Now() time.Time
	// AfterFunc runs f on the event loop once d has elapsed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc callback.
type Timer interface {
	// Stop cancels the callback; it reports whether the call stopped it
	// (false if it had already run or been stopped).
	Stop() bool
}

// loopClock is the Clock of a fabric's event loop.
type loopClock struct{ l *loop }

func (c loopClock) Now() time.Time { return c.l.timeAt(c.l.nowNanos()) }

func (c loopClock) AfterFunc(d time.Duration, f func()) Timer {
	if d < 0 {
		d = 0
	}
	return c.l.schedule(c.l.nowNanos()+int64(d), f)
}

// LoopTimer is a reusable timer for code that runs on the event loop
// (device code, transports): Reset and Stop take it in and out of the
// loop's event queue directly, without the locked inbound list, the
// allocation and the wake-up that Clock.AfterFunc costs, so a transport
// may restart a retransmission timer on every acknowledgement. Its
// callback runs on the event loop. A LoopTimer behaves exactly like a
// timer made with AfterFunc at the instant of the Reset: it runs in the
// same (time, sequence) order, and a stopped one never moves virtual
// time. Under the wall clock a goroutine running the loop inline
// (Fabric.Enter) does not read the clock to see whether a LoopTimer has
// come due: the loop goroutine, which sleeps until the first timer's
// instant, runs it then.
type LoopTimer struct {
	e event
}

// NewLoopTimer returns a stopped timer that runs fn when it fires. It may
// be called from any goroutine; Reset and Stop only on the event loop.
func (f *Fabric) NewLoopTimer(fn func()) *LoopTimer {
	t := &LoopTimer{}
	t.e.fn, t.e.l, t.e.idx, t.e.loopTimer = fn, f.loop, -1, true
	t.e.state.Store(1)
	return t
}

// Reset (re)arms the timer to fire d from now (at once when d <= 0). Call
// it on the event loop.
func (t *LoopTimer) Reset(d time.Duration) {
	l := t.e.l
	if t.e.idx >= 0 {
		l.q.removeAt(t.e.idx)
	}
	d = max(d, 0)
	t.e.at, t.e.seq = l.nowNanos()+int64(d), l.seq.Add(1)
	t.e.state.Store(0)
	l.q.push(&t.e)
}

// Stop cancels the timer; it reports whether it was armed. Call it on the
// event loop.
func (t *LoopTimer) Stop() bool {
	if t.e.idx >= 0 {
		t.e.l.q.removeAt(t.e.idx)
	}
	return t.e.state.Swap(1) == 0
}

// Armed reports whether the timer is set to fire. Call it on the event
// loop.
func (t *LoopTimer) Armed() bool { return t.e.state.Load() == 0 }

// Elapsed is the fabric's current time as a duration since its clock's
// origin (Epoch under the virtual clock, the fabric's creation under the
// wall clock): Now without building a time.Time, for code on the event
// loop that does arithmetic on instants many times per frame.
func (f *Fabric) Elapsed() time.Duration { return time.Duration(f.loop.nowNanos()) }
