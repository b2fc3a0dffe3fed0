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
