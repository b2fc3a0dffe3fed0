package verbs_test

import (
	"context"
	"runtime"
	"testing"
	"time"

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
