package emu_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// burstNet is two CAs a (port 1) and b (port 1, logging arrivals to log)
// joined by a link, started.
func burstNet(t *testing.T, log *[]string, opts ...emu.Option) (*emu.Fabric, *emu.Port) {
	t.Helper()
	f := emu.New(opts...)
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	a, err := f.AddNode("a", wire.NodeTypeCA, 1, &sink{log: new([]string)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AddNode("b", wire.NodeTypeCA, 1, &sink{log: log}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(a.Port(1), b.Port(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, a.Port(1)
}

// TestAtBurstEnd: a function queued with AtBurstEnd runs once, after at
// most 32 events while the loop stays busy (Backlog counting the frames
// still queued), and before the loop goes idle otherwise; under the wall
// clock an inline run (Enter) runs it before it returns.
func TestAtBurstEnd(t *testing.T) {
	const n = 100
	log := new([]string)
	f, a := burstNet(t, log)
	var backlog []int
	if err := f.Do(func() {
		for i := range n {
			a.Send(vlFrame(0, uint32(i)))
		}
		backlog = append(backlog, f.Backlog())
		f.AtBurstEnd(func() {
			backlog = append(backlog, f.Backlog())
			*log = append(*log, "flush")
		})
	}); err != nil {
		t.Fatal(err)
	}
	got := waitLog(t, f, log, n+1)
	// The Do callback is the burst's first event: at most 31 more run
	// (deliveries, and the Do calls of waitLog) before the 32-event bound
	// runs the function, while the loop still has frames queued.
	idx := slices.Index(got, "flush")
	if idx < 0 || idx > 31 {
		t.Errorf("log %q: want flush after at most 31 arrivals", got[:min(len(got), 40)])
	}
	if fmt.Sprint(backlog) != fmt.Sprint([]int{n, n - idx}) {
		t.Errorf("backlog when queued and at the flush %v, want [%d %d]", backlog, n, n-idx)
	}
	// Queued with nothing else to do, it runs as the loop goes idle.
	done := make(chan struct{})
	if err := f.Do(func() { f.AtBurstEnd(func() { close(done) }) }); err != nil {
		t.Fatal(err)
	}
	<-done

	wf, wa := burstNet(t, new([]string), emu.WithWallClock())
	for range 1000 {
		// Enter runs inline only while no goroutine runs the loop (the
		// loop goroutine may be busy starting the devices): each try
		// records whether its function ran before Enter returned.
		ran := false
		if wf.Enter(func() {
			wa.Send(vlFrame(0, 1))
			wf.AtBurstEnd(func() { ran = true })
		}) {
			if !ran {
				t.Fatal("inline run returned before its AtBurstEnd function ran")
			}
			return
		}
		if err := wf.Do(func() {}); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("Enter never ran inline")
}
