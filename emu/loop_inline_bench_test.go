package emu_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ibemu/ibemu/emu"
)

func startedWall(b *testing.B) *emu.Fabric {
	f := emu.New(emu.WithWallClock())
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(f.Stop)
	if err := f.Do(func() {}); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkDoorbellPost is the hand-over a doorbell cost before inline
// entry: Post a callback to an idle wall-clock fabric and spin until the
// loop goroutine ran it.
func BenchmarkDoorbellPost(b *testing.B) {
	f := startedWall(b)
	var ran atomic.Uint64
	fn := func() { ran.Add(1) }
	for i := range uint64(b.N) {
		f.Post(fn)
		for j := 0; ran.Load() <= i; j++ {
			if j&63 == 63 {
				runtime.Gosched()
			}
		}
	}
}

// BenchmarkDoorbellEnter is the same with Enter: the caller runs the
// callback itself when the loop is idle.
func BenchmarkDoorbellEnter(b *testing.B) {
	f := startedWall(b)
	var ran atomic.Uint64
	fn := func() { ran.Add(1) }
	for i := range uint64(b.N) {
		f.Enter(fn)
		for j := 0; ran.Load() <= i; j++ {
			if j&63 == 63 {
				runtime.Gosched()
			}
		}
	}
}
