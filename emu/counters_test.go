package emu_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ibemu/ibemu/emu"
)

// TestReadCountersWhileRunning reads a port's counters from other
// goroutines while the loop counts frames (the race detector checks that
// the loop-owned counters are only touched on the loop), and checks the
// copy is consistent and complete once the frames have arrived.
func TestReadCountersWhileRunning(t *testing.T) {
	f, _, rb, l := pair(t)
	a, b := l.Ends()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 200 raw frames of 64 bytes after the LRH: 74 bytes with the VCRC,
	// counted as 18 words (PortXmitData and PortRcvData count octets/4).
	const n, words = 200, (8 + 64 + 2) / 4
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c, err := f.ReadCounters(b)
				if err != nil {
					t.Error(err)
					return
				}
				// Frames are counted whole: every packet counted has its
				// words counted too.
				if c.RcvData.Load() != c.RcvPkts.Load()*words || c.UnicastRcv.Load() != c.RcvPkts.Load() {
					t.Errorf("inconsistent copy: %d packets, %d words, %d unicast", c.RcvPkts.Load(), c.RcvData.Load(), c.UnicastRcv.Load())
					return
				}
			}
		}()
	}
	if err := f.Do(func() {
		for i := range n {
			a.Send(rawFrame(2, uint32(i), 64))
		}
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, f, func() bool { return len(rb.got) == n })
	c, err := f.ReadCounters(b)
	if err != nil || c.RcvPkts.Load() != n {
		t.Fatalf("ReadCounters: %d packets, %v; want %d", c.RcvPkts.Load(), err, n)
	}
	x, _ := f.ReadCounters(a)
	if x.XmitPkts.Load() != n || x.XmitData.Load() != n*words {
		t.Fatalf("sender counted %d packets, %d words", x.XmitPkts.Load(), x.XmitData.Load())
	}
	if err := f.Do(func() { b.Counters.Reset() }); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.ReadCounters(b); c != (emu.Counters{}) {
		t.Fatalf("counters after Reset: %+v", c)
	}
	f.Stop()
	if _, err := f.ReadCounters(b); !errors.Is(err, emu.ErrStopped) {
		t.Fatalf("ReadCounters after Stop: %v, want ErrStopped", err)
	}
}
