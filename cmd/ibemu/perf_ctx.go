package main

import (
	"context"
	"time"
)

// waitCtx is the context a perf side waits for its completions with:
// the test's context, ended too by an optional second one (the peer's
// stop) and, optionally, after a timeout. It is made only when the wait
// actually sleeps (when something asks for Done or Deadline): a
// busy-polled wait that finds its completion while it spins, which is
// most of them in a latency or message-rate test, costs the waitCtx
// itself (one small allocation) but no context, no timer and no
// registration with the parent. Making the contexts per
// wait was about a sixth of `ibemu perf send_lat --wall`'s CPU (context
// children maps, the timer heap's lock, clock reads).
//
// A waitCtx belongs to one waiting goroutine; release it after the wait.
type waitCtx struct {
	parent  context.Context
	also    context.Context // also ends the context when done (may be nil)
	timeout time.Duration   // ends it after this long (0: no timeout)

	ctx    context.Context // made by get
	cancel context.CancelFunc
	stop   func() bool // the AfterFunc on also
}

// lazyWait returns a waitCtx on parent that also ends when also does and
// after timeout (0: never).
func lazyWait(parent, also context.Context, timeout time.Duration) *waitCtx {
	return &waitCtx{parent: parent, also: also, timeout: timeout}
}

// reuse makes w, which its goroutine released, a new waitCtx as
// lazyWait would (without allocating one). Only a waitCtx no context was
// made from may be reused: a child of a context that is not the context
// package's own watches it from a goroutine, which may look at it after
// the wait.
func (w *waitCtx) reuse(parent, also context.Context, timeout time.Duration) *waitCtx {
	*w = waitCtx{parent: parent, also: also, timeout: timeout}
	return w
}

// get makes the context the first time it is needed.
func (w *waitCtx) get() context.Context {
	if w.ctx == nil {
		if w.timeout > 0 {
			w.ctx, w.cancel = context.WithTimeout(w.parent, w.timeout)
		} else {
			w.ctx, w.cancel = context.WithCancel(w.parent)
		}
		if w.also != nil {
			w.stop = context.AfterFunc(w.also, w.cancel)
		}
	}
	return w.ctx
}

// Deadline implements context.Context.
func (w *waitCtx) Deadline() (time.Time, bool) { return w.get().Deadline() }

// Done implements context.Context.
func (w *waitCtx) Done() <-chan struct{} { return w.get().Done() }

// Err implements context.Context. Before the context is made, it is
// ended only if the parent or the other context is.
func (w *waitCtx) Err() error {
	if w.ctx != nil {
		return w.ctx.Err()
	}
	if err := w.parent.Err(); err != nil {
		return err
	}
	if w.also != nil && w.also.Err() != nil {
		return context.Canceled
	}
	return nil
}

// Value implements context.Context.
func (w *waitCtx) Value(key any) any { return w.parent.Value(key) }

// release frees what get made.
func (w *waitCtx) release() {
	if w.stop != nil {
		w.stop()
	}
	if w.cancel != nil {
		w.cancel()
	}
}
