package verbs_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// TestSmallSendStream streams many 8-byte SENDs while the receiver reposts
// receives from its own goroutine: end-to-end credits must keep the
// requester from running the receiver dry, and the requester must never
// wait for the ACK timer.
func TestSmallSendStream(t *testing.T) {
	tn := newNet(t, 2)
	caps := verbs.QPCap{MaxSendWR: 1024, MaxRecvWR: 2048, MaxSendSGE: 1, MaxRecvSGE: 1}
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, caps: caps, cqe: 8192})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, caps: caps, cqe: 8192})
	tn.connect(a, b, wire.MTU4096, 14, 7, 7)
	n := 200000 // a multiple of the batch (32) and of the signalling interval (64)
	if testing.Short() {
		n = 51200
	}
	post := func(k int) {
		wrs := make([]verbs.RecvWR, k)
		for i := range wrs {
			wrs[i] = verbs.RecvWR{SGL: sge(b, 0, 8)}
		}
		postRecv(t, b, wrs...)
	}
	post(2048)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := make(chan int, 1)
	go func() {
		r, wc := 0, make([]verbs.WC, 256)
		for r < n && ctx.Err() == nil {
			k := b.rcq.Poll(wc)
			if k > 0 {
				r += k
				post(k)
			} else {
				time.Sleep(5 * time.Microsecond)
			}
		}
		got <- r
	}()
	wrs := make([]verbs.SendWR, 32)
	wc := make([]verbs.WC, 16)
	posted, done := 0, 0
	for done < n {
		for posted < n && posted-done+32 <= 512 {
			for i := range wrs {
				wrs[i] = verbs.SendWR{WRID: uint64(posted + i), Opcode: verbs.WRSend, SGL: sge(a, 0, 8)}
				if (posted+i+1)%64 == 0 {
					wrs[i].Flags = verbs.SendSignaled
				}
			}
			postSend(t, a, wrs...)
			posted += 32
		}
		k := a.cq.Poll(wc)
		for _, c := range wc[:max(k, 0)] {
			if c.Status != verbs.WCSuccess {
				var dbg string
				tn.do(func() { dbg = a.qp.Debug() + "\n" + b.qp.Debug() })
				t.Fatalf("completion %+v\n%s\nstats: timeouts %d rnr %d", c, dbg, tn.engs[0].Stats().Timeouts.Load(), tn.engs[0].Stats().RNRNAKs.Load())
			}
			done = int(c.WRID) + 1
		}
		if k == 0 {
			time.Sleep(2 * time.Microsecond)
		}
	}
	if r := <-got; r != n {
		t.Fatalf("received %d of %d", r, n)
	}
	if to := tn.engs[0].Stats().Timeouts.Load(); to != 0 {
		t.Fatalf("%d ACK timeouts", to)
	}
}
