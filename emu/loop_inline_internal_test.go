package emu

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startWall starts an empty fabric on the wall clock and stops it when the
// test ends.
func startWall(t *testing.T) *Fabric {
	t.Helper()
	f := New(WithWallClock())
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	// The loop goroutine lets go of the token once it ran the start
	// event; Do waits for that event.
	if err := f.Do(func() {}); err != nil {
		t.Fatal(err)
	}
	return f
}

// enterInline calls Enter until it runs inline: the loop goroutine may
// hold the token for a moment (a timer, the start event). A call that
// queued instead runs nothing when the loop goroutine gets to it.
func enterInline(t *testing.T, f *Fabric, fn func()) {
	t.Helper()
	for range 1000 {
		var ran bool
		if f.Enter(func() {
			if onInlineStack() {
				ran = true
				fn()
			}
		}) {
			if !ran {
				t.Fatal("Enter returned true before fn ran")
			}
			return
		}
		if err := f.Do(func() {}); err != nil { // fn ran on the loop
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("Enter never ran inline on an idle wall-clock fabric")
}

// TestEnterRunsInline is the test that fails without the inline path: on
// an idle wall-clock fabric Enter runs fn on the caller's goroutine, which
// is then the event loop, and counts an inline run; Do does the same.
func TestEnterRunsInline(t *testing.T) {
	f := startWall(t)
	before := f.loop.inlineRuns.Load()
	caller := goid()
	var onLoop bool
	var gid uint64
	enterInline(t, f, func() { onLoop, gid = f.OnLoop(), goid() })
	if !onLoop {
		t.Error("OnLoop is false inside an inline run")
	}
	if gid != caller {
		t.Errorf("fn ran on goroutine %d, the caller is %d", gid, caller)
	}
	if f.OnLoop() {
		t.Error("OnLoop is true after the inline run returned")
	}
	if err := f.Do(func() { gid = goid() }); err != nil {
		t.Fatal(err)
	}
	if n := f.loop.inlineRuns.Load() - before; n < 1 {
		t.Errorf("inline runs went up by %d", n)
	}
	if tok := f.loop.token.Load(); tok != tokenFree && tok != tokenHeld {
		t.Errorf("token %d after the run", tok)
	}
}

// TestEnterVirtualQueues: under the virtual clock Enter never runs inline;
// fn runs on the loop goroutine.
func TestEnterVirtualQueues(t *testing.T) {
	f := New()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	caller := goid()
	ran := make(chan uint64, 1)
	if f.Enter(func() { ran <- goid() }) {
		t.Fatal("Enter ran inline under the virtual clock")
	}
	if g := <-ran; g == caller {
		t.Error("fn ran on the caller's goroutine")
	}
	if n := f.loop.inlineRuns.Load(); n != 0 {
		t.Errorf("%d inline runs under the virtual clock", n)
	}
}

// TestEnterBeforeStartAndAfterStop: before Start Enter queues fn for the
// start; after Stop it never runs fn.
func TestEnterBeforeStartAndAfterStop(t *testing.T) {
	f := New(WithWallClock())
	var order []string
	if f.Enter(func() { order = append(order, "queued") }) {
		t.Fatal("Enter ran inline before Start")
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Do(func() { order = append(order, "do") }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"queued", "do"}) {
		t.Errorf("order %q", order)
	}
	f.Stop()
	if f.Enter(func() { t.Error("fn ran after Stop") }) {
		t.Error("Enter ran inline after Stop")
	}
	if tok := f.loop.token.Load(); tok != tokenClosed {
		t.Errorf("token %d after Stop, want closed", tok)
	}
}

// TestEnterKeepsQueueOrder: what was queued before an Enter (while the
// loop goroutine was busy) runs before fn, in the order queued, and an
// Enter that finds the loop busy queues fn behind it.
func TestEnterKeepsQueueOrder(t *testing.T) {
	f := startWall(t)
	var order []string
	block, blocked := make(chan struct{}), make(chan struct{})
	f.Post(func() { close(blocked); <-block })
	<-blocked // the loop goroutine holds the token, busy
	f.Post(func() { order = append(order, "a") })
	f.Post(func() { order = append(order, "b") })
	if f.Enter(func() { order = append(order, "c") }) {
		t.Error("Enter ran inline while the loop goroutine ran a callback")
	}
	close(block)
	enterInline(t, f, func() { order = append(order, "d") })
	if !slices.Equal(order, []string{"a", "b", "c", "d"}) {
		t.Errorf("order %q, want a b c d", order)
	}
}

// TestEnterRunsDueWorkFirst: an inline run takes work already queued at an
// earlier instant before fn, and runs what fn causes before it returns.
func TestEnterRunsDueWorkFirst(t *testing.T) {
	f := startWall(t)
	var order []string
	enterInline(t, f, func() {
		// Queued from inside the run: it runs after this callback, in the
		// same inline run.
		f.Post(func() { order = append(order, "posted") })
		f.loop.schedule(f.loop.nowNanos(), func() { order = append(order, "scheduled") })
		order = append(order, "fn")
	})
	if !slices.Equal(order, []string{"fn", "posted", "scheduled"}) {
		t.Errorf("order %q", order)
	}
}

// TestEnterNested: a callback of an inline run that calls Enter gets fn
// queued behind itself, run in the same inline run; Do from it runs at
// once (OnLoop is true).
func TestEnterNested(t *testing.T) {
	f := startWall(t)
	var order []string
	enterInline(t, f, func() {
		if f.Enter(func() { order = append(order, "nested") }) {
			t.Error("a nested Enter ran inline")
		}
		if err := f.Do(func() { order = append(order, "do") }); err != nil {
			t.Error(err)
		}
		order = append(order, "outer")
	})
	if !slices.Equal(order, []string{"do", "outer", "nested"}) {
		t.Errorf("order %q, want do outer nested", order)
	}
}

// TestEnterAcrossFabrics: a callback running one fabric inline may enter
// another: at most one loop runs inline at a time, so the second queues
// and its loop goroutine runs fn; OnLoop tells the fabrics apart.
func TestEnterAcrossFabrics(t *testing.T) {
	a, b := startWall(t), startWall(t)
	done := make(chan bool, 1)
	enterInline(t, a, func() {
		if b.OnLoop() {
			t.Error("b.OnLoop is true inside a's inline run")
		}
		if b.Enter(func() { done <- b.OnLoop() && !a.OnLoop() }) {
			t.Error("b ran inline inside a's inline run")
		}
		if err := b.Do(func() {}); err != nil { // waits for b's loop goroutine
			t.Error(err)
		}
	})
	select {
	case ok := <-done:
		if !ok {
			t.Error("OnLoop wrong on b's loop goroutine")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b never ran fn")
	}
}

// TestOnLoopFalseElsewhere: while a goroutine runs the loop inline, every
// other goroutine is off the loop.
func TestOnLoopFalseElsewhere(t *testing.T) {
	f := startWall(t)
	in, out := make(chan struct{}), make(chan struct{})
	go func() {
		for !f.Enter(func() {
			if onInlineStack() {
				close(in)
				<-out
			}
		}) {
			time.Sleep(time.Millisecond)
		}
	}()
	<-in
	if f.OnLoop() {
		t.Error("OnLoop is true on a goroutine that does not run the loop")
	}
	var other bool
	f.Post(func() { other = true })
	close(out)
	if err := f.Do(func() {}); err != nil {
		t.Fatal(err)
	}
	if !other {
		t.Error("work posted during the inline run was lost")
	}
}

// TestInlineTimerWakesLoop: a timer armed in an inline run, due before the
// time the loop goroutine sleeps until, fires without anybody entering
// again: the inline run wakes the loop goroutine when it lets go.
func TestInlineTimerWakesLoop(t *testing.T) {
	f := startWall(t)
	// The loop goroutine sleeps until this far timer.
	far := f.Clock().AfterFunc(time.Hour, func() {})
	defer far.Stop()
	if err := f.Do(func() {}); err != nil {
		t.Fatal(err)
	}
	fired := make(chan time.Duration, 2)
	start := time.Now()
	var lt *LoopTimer
	enterInline(t, f, func() {
		f.Clock().AfterFunc(2*time.Millisecond, func() { fired <- time.Since(start) })
		lt = f.NewLoopTimer(func() { fired <- time.Since(start) })
		lt.Reset(3 * time.Millisecond)
	})
	for range 2 {
		select {
		case d := <-fired:
			if d < 2*time.Millisecond {
				t.Errorf("a timer fired after %v", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a timer armed inline never fired (loop sleeps until %d)", f.loop.sleepUntil.Load())
		}
	}
}

// TestStopWaitsForInlineRun: Stop does not return while a goroutine runs
// the loop inline, and nothing runs after it returned.
func TestStopWaitsForInlineRun(t *testing.T) {
	f := New(WithWallClock())
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Do(func() {}); err != nil {
		t.Fatal(err)
	}
	in, release := make(chan struct{}), make(chan struct{})
	var running atomic.Bool
	entered := make(chan bool, 1)
	go func() {
		var ok bool
		for range 1000 {
			if ok = f.Enter(func() {
				if !onInlineStack() {
					return // a try that queued
				}
				running.Store(true)
				close(in)
				<-release
				running.Store(false)
			}); ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		entered <- ok
	}()
	select {
	case <-in:
	case ok := <-entered:
		t.Fatalf("Enter returned %v before fn ran", ok)
	}
	stopped := make(chan struct{})
	go func() { f.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while an inline run was in a callback")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-stopped
	if running.Load() {
		t.Error("the inline callback still ran after Stop returned")
	}
	if !<-entered {
		t.Error("Enter reported no inline run")
	}
	if f.Enter(func() { t.Error("ran after Stop") }) {
		t.Error("Enter ran inline after Stop")
	}
}

// TestInlinePanicLetsGo: a callback that panics in an inline run leaves
// the loop usable.
func TestInlinePanicLetsGo(t *testing.T) {
	f := startWall(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		enterInline(t, f, func() { panic("boom") })
	}()
	if tok := f.loop.token.Load(); tok != tokenFree && tok != tokenHeld {
		t.Fatalf("token %d after the panic", tok)
	}
	if inlineLoop.Load() == f.loop {
		t.Fatal("the panicked run still holds the inline slot")
	}
	done := make(chan struct{})
	go func() {
		if err := f.Do(func() {}); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop is stuck after a panic in an inline run")
	}
}

// TestInlineRaceWithLoop runs inline entries from several goroutines
// against the loop goroutine, which keeps timers firing, and checks that
// callbacks never overlap (the race detector checks the unguarded state
// too), that every callback runs exactly once and that each goroutine's
// callbacks run in the order it queued them.
func TestInlineRaceWithLoop(t *testing.T) {
	f := startWall(t)
	var inside atomic.Int32
	exclusive := func() func() {
		if inside.Add(1) != 1 {
			t.Error("two goroutines run callbacks at once")
		}
		return func() { inside.Add(-1) }
	}
	// Unguarded state: only the loop (whoever holds it) touches it.
	last := map[int]int{}
	total := 0
	var ticks int
	var tick func()
	stopTicks := make(chan struct{})
	tick = func() {
		defer exclusive()()
		ticks++
		select {
		case <-stopTicks:
		default:
			f.Clock().AfterFunc(50*time.Microsecond, tick)
		}
	}
	f.Post(tick)
	const workers, each = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				fn := func() {
					defer exclusive()()
					if p, ok := last[w]; ok && p != i-1 {
						t.Errorf("worker %d: callback %d ran after %d", w, i, p)
					}
					last[w] = i
					total++
				}
				switch i % 3 {
				case 0:
					f.Post(fn)
				case 1:
					f.Enter(fn)
				default:
					if err := f.Do(fn); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stopTicks)
	var got, tk int
	if err := f.Do(func() { got, tk = total, ticks }); err != nil {
		t.Fatal(err)
	}
	if got != workers*each {
		t.Errorf("%d callbacks ran, want %d", got, workers*each)
	}
	if tk == 0 {
		t.Error("the timers never fired")
	}
	t.Logf("inline runs %d, ticks %d", f.loop.inlineRuns.Load(), tk)
	if f.loop.inlineRuns.Load() == 0 {
		t.Error("no inline run happened")
	}
}

// TestLoopSleepsWhileInlineRuns: with the loop driven by inline runs the
// loop goroutine stays parked (it neither spins nor takes the token) and
// the deadline it published stays valid.
func TestLoopSleepsWhileInlineRuns(t *testing.T) {
	f := startWall(t)
	for i := range 200 {
		enterInline(t, f, func() {})
		if i == 100 {
			time.Sleep(5 * time.Millisecond) // the spin budget runs out
		}
	}
	if d := f.loop.sleepUntil.Load(); d != math.MaxInt64 {
		t.Errorf("empty loop: the loop goroutine sleeps until %d, want until woken", d)
	}
	k := f.loop.kicks.Load()
	for range 1000 {
		if !f.Enter(func() {}) {
			t.Fatal("Enter did not run inline on an idle fabric")
		}
	}
	if d := f.loop.kicks.Load() - k; d != 0 {
		t.Errorf("1000 inline runs kicked the loop goroutine %d times", d)
	}
}

func ExampleFabric_Enter() {
	f := New(WithWallClock())
	if err := f.Start(context.Background()); err != nil {
		panic(err)
	}
	defer f.Stop()
	_ = f.Do(func() {}) // let the devices start
	done := false
	f.Enter(func() { done = true })
	// Whether it ran inline or on the loop goroutine, Do orders after it.
	_ = f.Do(func() { fmt.Println("ran:", done) })
	// Output: ran: true
}
