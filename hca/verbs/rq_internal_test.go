package verbs

import (
	"sync"
	"sync/atomic"
	"testing"
)

func wr(id uint64) RecvWR { return RecvWR{WRID: id, SGL: []SGE{{Addr: id, Length: 8}}} }

func TestRecvRingOrderGrowthUnshiftTakeAll(t *testing.T) {
	var r recvRing
	next, want := uint64(0), uint64(0)
	post := func(n int) {
		r.mu.Lock()
		wrs := make([]RecvWR, n)
		for i := range wrs {
			wrs[i] = wr(next)
			next++
		}
		r.pushAll(wrs)
		r.mu.Unlock()
	}
	pop := func() recvWQE {
		t.Helper()
		w, ok := r.pop()
		if !ok {
			t.Fatalf("pop %d: empty", want)
		}
		return w
	}
	// Interleave posts and takes across several growths and bursts.
	for round := range 20 {
		post(7 + round*5)
		for range 3 + round*4 {
			if w := pop(); w.wrID != want || w.list()[0].Addr != want {
				t.Fatalf("took %d (sge %#x), want %d", w.wrID, w.list()[0].Addr, want)
			}
			want++
		}
		if got, exp := r.len(), int(next-want); got != exp {
			t.Fatalf("round %d: len %d, want %d", round, got, exp)
		}
	}
	// A WQE put back comes out first, and counts again.
	w := pop()
	r.unshift(w)
	if r.len() != int(next-want) {
		t.Fatalf("len %d after unshift, want %d", r.len(), next-want)
	}
	all := r.takeAll()
	if len(all) != int(next-want) {
		t.Fatalf("takeAll returned %d, want %d", len(all), next-want)
	}
	for i, w := range all {
		if w.wrID != want+uint64(i) {
			t.Fatalf("takeAll[%d] = %d, want %d", i, w.wrID, want+uint64(i))
		}
	}
	if _, ok := r.pop(); ok || r.len() != 0 {
		t.Fatalf("queue not empty after takeAll (len %d)", r.len())
	}
	post(3)
	r.clear()
	if _, ok := r.pop(); ok || r.len() != 0 {
		t.Fatalf("queue not empty after clear (len %d)", r.len())
	}
	// An empty scatter list scatters like one entry of length 0.
	e := newRecvWQE(&RecvWR{WRID: 1})
	if l := e.list(); sglLen(l) != 0 {
		t.Fatalf("empty list has length %d", sglLen(l))
	}
}

// TestRecvRingCountNeverOver checks what posting relies on: with the
// event loop taking WQEs concurrently, the count a poster sees after
// refresh never includes a WQE the loop had already taken before the
// refresh, so a host that reposts one receive per completion never finds
// the queue full (the loop moves WQEs to its cache in bursts, which must
// not make them count twice).
func TestRecvRingCountNeverOver(t *testing.T) {
	var r recvRing
	const total = 20000
	var consumed atomic.Uint64 // raised after each pop, as a completion would be
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the event loop
		defer wg.Done()
		for want := uint64(0); want < total; {
			w, ok := r.pop()
			if !ok {
				continue
			}
			if w.wrID != want {
				t.Errorf("took %d, want %d", w.wrID, want)
				return
			}
			want++
			consumed.Store(want)
		}
	}()
	posted := uint64(0)
	for posted < total || consumed.Load() < total {
		c0 := consumed.Load()
		r.mu.Lock()
		r.refresh()
		n := r.bound()
		if max := int(posted - c0); n > max {
			r.mu.Unlock()
			t.Fatalf("count %d after refresh, but %d of %d posted were taken before it", n, c0, posted)
		}
		if posted < total && n < 64 {
			r.pushAll([]RecvWR{wr(posted)})
			posted++
		}
		r.mu.Unlock()
		if t.Failed() {
			break
		}
	}
	wg.Wait()
}
