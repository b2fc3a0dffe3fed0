package verbs

import "testing"

// TestCQRingSize: a CQ holds exactly the cqe completions it reports
// (the cqe asked rounded up to 2^n-1, as providers do): completions come
// out in order across the ring's wrap, and one more than cqe unpolled
// overflows it (IBTA Vol 1 §11.4.2.1).
func TestCQRingSize(t *testing.T) {
	for _, ask := range []int{1, 3, 5, 8, 13} {
		e := &Engine{attr: DefaultDeviceAttr}
		cq, err := e.CreateCQ(ask, nil)
		if err != nil {
			t.Fatal(err)
		}
		cqe := cq.CQE()
		if cqe < ask || cqe&(cqe+1) != 0 || cqe >= 2*ask+1 {
			t.Fatalf("cqe %d: CQE() = %d", ask, cqe)
		}
		next, want := uint64(0), uint64(0)
		wc := make([]WC, cqe+1)
		for round := range 7 {
			// Fill to the brim, take some, fill again: positions wrap
			// around the ring many times.
			for cq.Len() < cqe {
				if !cq.push(WC{WRID: next}, false) {
					t.Fatalf("cqe %d: push %d refused with %d queued", cqe, next, cq.Len())
				}
				next++
			}
			k := cq.Poll(wc[:1+round%cqe])
			for _, c := range wc[:k] {
				if c.WRID != want {
					t.Fatalf("cqe %d: polled wr %d, want %d", cqe, c.WRID, want)
				}
				want++
			}
		}
		for cq.Len() < cqe {
			cq.push(WC{WRID: next}, false)
			next++
		}
		e.onAsync = func(AsyncEvent) {}
		if cq.push(WC{WRID: next}, false) {
			t.Fatalf("cqe %d: push beyond cqe accepted", cqe)
		}
		if n := cq.Poll(wc); n != -1 {
			t.Fatalf("cqe %d: overflowed CQ polls %d", cqe, n)
		}
	}
}
