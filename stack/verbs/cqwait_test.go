package verbs_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// TestWaitTakesBackEventOfPolledCompletion drives CQ.Wait into its race:
// the completion arrives after Wait armed the CQ and before it polls
// again, so the completion both fires the notification and is returned
// by the poll. The event the notification queued must not stay on the
// channel: under the virtual clock it would hold time still, and the
// sender's completion, which needs the ACK a moment later, would never
// come.
func TestWaitTakesBackEventOfPolledCompletion(t *testing.T) {
	fb := pair(t)
	a := open(t, fb.HCAs[0].Device, 4096, hv.QPTypeRC)
	b := open(t, fb.HCAs[1].Device, 4096, hv.QPTypeRC)
	connect(t, a, b, wire.MTU1024)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.qp.PostRecv([]verbs.RecvWR{{WRID: 2, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	hooked := 0
	verbs.SetArmedHook(func(cq *verbs.CQ) {
		if cq != b.cq || hooked > 0 {
			return
		}
		hooked++
		// The CQ is armed: send now and wait until the receive
		// completion is in the CQ, which fires the notification.
		if _, err := a.qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, 64)}}}); err != nil {
			t.Error(err)
			return
		}
		for cq.Len() == 0 && ctx.Err() == nil {
			runtime.Gosched()
		}
	})
	defer verbs.SetArmedHook(nil)
	wc := make([]verbs.WC, 4)
	n, err := b.cq.Wait(ctx, wc)
	if err != nil || n != 1 || wc[0].WRID != 2 || wc[0].Status != hv.WCSuccess {
		t.Fatalf("receive: %d %v %+v", n, err, wc[0])
	}
	if hooked != 1 {
		t.Fatalf("the hook ran %d times, want once", hooked)
	}
	n, err = a.cq.Wait(ctx, wc)
	if err != nil || n != 1 || wc[0].WRID != 1 || wc[0].Opcode != hv.WCSend {
		t.Fatalf("send completion (virtual time held by a left-over event?): %d %v %+v", n, err, wc[0])
	}
}

// TestSetPollSpinBoundsTheBudget checks SetPollSpin: with 0 PollWait
// sleeps at once on an empty CQ and still returns the completion a
// message brings (posted from another goroutine while it sleeps), and the
// budget stays 0 after the waits; with a bound, the budget never grows
// past it; a negative bound counts as 0.
func TestSetPollSpinBoundsTheBudget(t *testing.T) {
	fb := pair(t, emu.WithWallClock())
	a := open(t, fb.HCAs[0].Device, 4096, hv.QPTypeRC)
	b := open(t, fb.HCAs[1].Device, 4096, hv.QPTypeRC)
	connect(t, a, b, wire.MTU1024)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got := b.cq.SpinBudget(); got != 50*time.Microsecond {
		t.Fatalf("default budget %v, want 50µs", got)
	}
	wc := make([]verbs.WC, 1)
	exchange := func(bound time.Duration) {
		t.Helper()
		for i := range 20 {
			if _, err := b.qp.PostRecv([]verbs.RecvWR{{WRID: uint64(i), SGL: []verbs.SGE{b.mr.SGE(0, 8)}}}); err != nil {
				t.Fatal(err)
			}
			go func() {
				time.Sleep(100 * time.Microsecond) // past any budget: PollWait sleeps first
				if _, err := a.qp.PostSend([]verbs.SendWR{{Opcode: hv.WRSend, SGL: []verbs.SGE{a.mr.SGE(0, 8)}}}); err != nil {
					t.Error(err)
				}
			}()
			n, err := b.cq.PollWait(ctx, wc)
			if err != nil || n != 1 || wc[0].WRID != uint64(i) || wc[0].Status != hv.WCSuccess {
				t.Fatalf("wait %d: %d %v %+v", i, n, err, wc[0])
			}
			if got := b.cq.SpinBudget(); got > bound {
				t.Fatalf("wait %d: budget %v past the bound %v", i, got, bound)
			}
		}
	}
	b.cq.SetPollSpin(0)
	exchange(0)
	b.cq.SetPollSpin(5 * time.Microsecond)
	exchange(5 * time.Microsecond)
	b.cq.SetPollSpin(-time.Second)
	if got := b.cq.SpinBudget(); got != 0 {
		t.Fatalf("negative bound: budget %v, want 0", got)
	}
}
