package emu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

type nopDevice struct{}

func (nopDevice) HandlePacket(*Port, []byte) {}

// TestDeliveryQueuesKeepOrder checks the per-port arrival queues against
// the contract of the heap they sit in front of: deliveries come out in
// exact (at, seq) order whatever order they were scheduled in, including
// deliveries that arrive before the tail of their port's queue, mixed
// with loop timers that are reset and stopped.
func TestDeliveryQueuesKeepOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	f := New()
	l := f.loop
	// Ports of no node (queues kept by port) and ports of nodes (queues
	// kept in the table by node index and port number).
	ports := make([]*Port, 3)
	for i := range ports {
		ports[i] = &Port{num: i + 1}
	}
	for i, np := range []int{1, 3} {
		n, err := f.AddNode(fmt.Sprint("n", i), wire.NodeTypeSwitch, np, nopDevice{})
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j <= np; j++ {
			ports = append(ports, n.Port(j))
		}
	}
	var timers []*LoopTimer
	for range 4 {
		timers = append(timers, f.NewLoopTimer(func() {}))
	}
	last := [2]int64{-1, 0}
	popped, pushed := 0, 0
	for round := 0; round < 50000; round++ {
		switch op := r.IntN(10); {
		case op < 6:
			p := ports[r.IntN(len(ports))]
			at := l.now.Load() + int64(r.IntN(40))
			if r.IntN(4) > 0 {
				// Mostly in order per port, as links deliver.
				if fq := l.fifoOf(p); fq.n > 0 {
					at = fq.tail().at + int64(r.IntN(3))
				}
			}
			l.scheduleDelivery(at, p, nil, false, true)
			pushed++
		case op < 7:
			timers[r.IntN(len(timers))].Reset(0)
		case op < 8:
			timers[r.IntN(len(timers))].Stop()
		default:
			e, _ := l.next()
			if e == nil {
				continue
			}
			if e.at < last[0] || e.at == last[0] && int64(e.seq) < last[1] {
				t.Fatalf("popped (%d,%d) after (%d,%d)", e.at, e.seq, last[0], last[1])
			}
			last = [2]int64{e.at, int64(e.seq)}
			if e.fn == nil {
				popped++
				l.free = append(l.free, e)
			} else {
				e.state.Store(1)
			}
		}
		for i, e := range l.q {
			if e.idx != i {
				t.Fatalf("event at %d records index %d", i, e.idx)
			}
		}
	}
	for {
		e, _ := l.next()
		if e == nil {
			break
		}
		if e.fn == nil {
			popped++
		}
		e.state.Store(1)
	}
	if popped != pushed {
		t.Fatalf("scheduled %d deliveries, %d came out", pushed, popped)
	}
}
