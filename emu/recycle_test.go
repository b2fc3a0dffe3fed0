package emu_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
)

// counting is a FrameRecycler that takes the frames it was told about.
type counting struct {
	mine map[*byte]bool
	got  int
}

var _ emu.FrameRecycler = (*counting)(nil)

func (c *counting) RecycleFrame(frame []byte) bool {
	if len(frame) == 0 || !c.mine[&frame[0]] {
		return false
	}
	c.got++
	return true
}

// TestFrameRecyclerGetsDiscards checks that every frame the fabric drops
// (an injected loss, a port whose link is down, corruption caught by the
// receiver's VCRC check) is offered to the recyclers, once, and that a
// delivered frame is not.
func TestFrameRecyclerGetsDiscards(t *testing.T) {
	f, _, rb, l := pair(t)
	a, b := l.Ends()
	c := &counting{mine: map[*byte]bool{}}
	other := &counting{mine: map[*byte]bool{}}
	f.AddFrameRecycler(other)
	f.AddFrameRecycler(c)
	f.AddFrameRecycler(c) // registered once
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	send := func(n int) {
		t.Helper()
		if err := f.Do(func() {
			for i := range n {
				fr := rawFrame(2, uint32(i), 64)
				c.mine[&fr[0]] = true
				a.Send(fr)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	send(5) // delivered
	waitFor(t, f, func() bool { return len(rb.got) == 5 })
	f.Do(func() { a.SetDropRate(1) })
	send(7) // all lost
	f.Do(func() { a.SetDropRate(0); a.SetCorruptRate(1) })
	send(3) // corrupted: dropped by the receiver's VCRC check
	waitFor(t, f, func() bool { return b.Counters.RcvErrors.Load() == 3 })
	f.Do(func() { a.SetCorruptRate(0); l.SetCut(true) })
	send(4) // the link is down
	var got, otherGot int
	waitFor(t, f, func() bool { got, otherGot = c.got, other.got; return got >= 14 })
	if got != 14 || otherGot != 0 || len(rb.got) != 5 {
		t.Fatalf("recycled %d (want 14), other recycler %d (want 0), delivered %d (want 5)", got, otherGot, len(rb.got))
	}
}

// TestFabricRecycle checks that Fabric.Recycle offers a consumed frame to
// the recyclers in order, stops at the first that takes it, and leaves a
// frame no recycler made to the garbage collector.
func TestFabricRecycle(t *testing.T) {
	f, _, _, _ := pair(t)
	first := &counting{mine: map[*byte]bool{}}
	second := &counting{mine: map[*byte]bool{}}
	f.AddFrameRecycler(first)
	f.AddFrameRecycler(second)
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	mineFirst, mineSecond, stranger := make([]byte, 64), make([]byte, 64), make([]byte, 64)
	first.mine[&mineFirst[0]] = true
	second.mine[&mineSecond[0]] = true
	second.mine[&mineFirst[0]] = true // both could take it: the first registered wins
	if err := f.Do(func() {
		f.Recycle(mineFirst)
		f.Recycle(mineSecond)
		f.Recycle(stranger)
	}); err != nil {
		t.Fatal(err)
	}
	if first.got != 1 || second.got != 1 {
		t.Fatalf("recyclers took %d and %d frames, want 1 and 1", first.got, second.got)
	}
}
