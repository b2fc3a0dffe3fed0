//go:build linux

package emu

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleLoopBurnsNoCPU checks the bound on the idle loop's spinning:
// after a burst of work the loop polls for more only briefly, then parks,
// so a fabric left idle (on either clock) costs no CPU.
func TestIdleLoopBurnsNoCPU(t *testing.T) {
	for _, opt := range []Option{WithWallClock(), WithVirtualClock()} {
		f := New(opt)
		if err := f.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Work that comes quickly, so the loop learns to spin.
		for range 200 {
			if err := f.Do(func() {}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond) // the spin budget runs out
		before := processCPU(t)
		time.Sleep(200 * time.Millisecond)
		used := processCPU(t) - before
		f.Stop()
		// A loop that kept spinning would use the whole 200 ms.
		if used > 40*time.Millisecond {
			t.Errorf("virtual %v: the idle fabric used %v of CPU in 200 ms", f.Virtual(), used)
		}
	}
}
