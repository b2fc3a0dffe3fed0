package verbs_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// TestOneProcessorStreamKeepsReceiverFed streams SENDs, one work request
// per post as perftest's send_bw posts them, with the process on one
// processor (GOMAXPROCS 1) under the wall clock, where every doorbell
// runs the fabric on the sender's goroutine and the sender finds its
// completions whenever it polls, so it never blocks. The receiver keeps
// only 64 receives posted and reposts from its own goroutine, waiting in
// PollWait. The sender's doorbells must let it have the processor
// before its receives run out: no RNR NAK may come back. (Without the
// hand-over the receiver ran only when the scheduler preempted the
// sender, every 10 ms, and an RNR NAK came every 64 messages.)
func TestOneProcessorStreamKeepsReceiverFed(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	fb := pair(t, emu.WithWallClock())
	x := open(t, fb.HCAs[0].Device, 4096, hv.QPTypeRC)
	y := open(t, fb.HCAs[1].Device, 4096, hv.QPTypeRC)
	connect(t, x, y, wire.MTU4096)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const total, rxDepth, txDepth, mod = 20000, 64, 32, 8
	recv := []verbs.RecvWR{{SGL: []verbs.SGE{y.mr.SGE(0, 8)}}}
	for range rxDepth {
		if _, err := y.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
	}
	var got atomic.Int64
	errc := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		wc := make([]verbs.WC, 64)
		posted := rxDepth
		close(waiting)
		for got.Load() < total {
			n, err := y.cq.PollWait(ctx, wc)
			if err != nil {
				errc <- err
				return
			}
			for _, w := range wc[:n] {
				if w.Status != hv.WCSuccess {
					errc <- &wcError{w}
					return
				}
				got.Add(1)
				if posted < total {
					if _, err := y.qp.PostRecv(recv); err != nil {
						errc <- err
						return
					}
					posted++
				}
			}
		}
		errc <- nil
	}()
	<-waiting
	wc := make([]verbs.WC, 16)
	wr := []verbs.SendWR{{Opcode: hv.WRSend, SGL: []verbs.SGE{x.mr.SGE(0, 8)}}}
	posted, done := 0, 0
	for done < total {
		for posted < total && posted-done < txDepth {
			wr[0].WRID, wr[0].Flags = uint64(posted), 0
			if (posted+1)%mod == 0 || posted+1 == total {
				wr[0].Flags = hv.SendSignaled
			}
			if _, err := x.qp.PostSend(wr); err != nil {
				t.Fatal(err)
			}
			posted++
		}
		n, err := x.cq.PollWait(ctx, wc)
		if err != nil {
			t.Fatalf("after %d of %d sends completed, %d received: %v", done, total, got.Load(), err)
		}
		for _, w := range wc[:n] {
			if w.Status != hv.WCSuccess {
				t.Fatalf("send completion %+v", w)
			}
			done = int(w.WRID) + 1
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := x.ctx.Stats().RNRNAKs.Load(); n != 0 {
		t.Errorf("%d RNR NAKs in a stream of %d SENDs to %d receives reposted by a PollWait receiver", n, total, rxDepth)
	}
}
