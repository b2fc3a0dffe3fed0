package emu

import (
	"math/rand/v2"
	"testing"
)

// TestEventHeapOrder checks the hand-written heap against its contract:
// pops come out in (at, seq) order whatever is pushed and removed.
func TestEventHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h eventHeap
	var live []*event
	seq := uint64(0)
	for round := 0; round < 20000; round++ {
		switch op := r.IntN(10); {
		case op < 6:
			seq++
			e := &event{at: int64(r.IntN(50)), seq: seq}
			h.push(e)
			live = append(live, e)
		case op < 8 && len(live) > 0:
			i := r.IntN(len(live))
			e := live[i]
			if got := h.removeAt(e.idx); got != e {
				t.Fatalf("removeAt(%d) returned another event", e.idx)
			}
			live = append(live[:i], live[i+1:]...)
		case len(h) > 0:
			e := h.pop()
			for _, o := range live {
				if o != e && o.before(e) {
					t.Fatalf("popped (%d,%d) while (%d,%d) was queued", e.at, e.seq, o.at, o.seq)
				}
			}
			for i, o := range live {
				if o == e {
					live = append(live[:i], live[i+1:]...)
					break
				}
			}
		}
		for i, e := range h {
			if e.idx != i {
				t.Fatalf("event at %d records index %d", i, e.idx)
			}
		}
	}
}
