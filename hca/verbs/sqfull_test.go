package verbs_test

import (
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// TestSendQueueFreedByCompletion: a host that keeps its send queue full
// (max_send_wr requests, one in 16 signaled) may post as many requests
// as the completions it polled free, at once: the slots of the
// unsignaled requests before a completion are free when the completion
// is visible (libibverbs semantics). A request beyond max_send_wr is
// refused with ErrNoMem.
func TestSendQueueFreedByCompletion(t *testing.T) {
	tn := newNet(t, 2)
	const depth = 64
	caps := verbs.QPCap{MaxSendWR: depth, MaxRecvWR: 4096, MaxSendSGE: 1, MaxRecvSGE: 1}
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, caps: caps})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, caps: caps})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	recvs := make([]verbs.RecvWR, 4096)
	for i := range recvs {
		recvs[i] = verbs.RecvWR{WRID: uint64(i), SGL: sge(b, 0, 8)}
	}
	postRecv(t, b, recvs...)
	wr := func(id int) verbs.SendWR {
		w := verbs.SendWR{WRID: uint64(id), Opcode: verbs.WRSend, SGL: sge(a, 0, 8)}
		if (id+1)%16 == 0 {
			w.Flags = verbs.SendSignaled
		}
		return w
	}
	// Nothing a call posts can be retired before it returns: one more
	// than the queue holds is refused.
	wrs := make([]verbs.SendWR, depth+1)
	for i := range wrs {
		wrs[i] = wr(i)
	}
	if n, err := a.qp.PostSend(wrs); n != depth || !errors.Is(err, verbs.ErrNoMem) {
		t.Fatalf("post beyond max_send_wr: %d of %d posted, err %v", n, len(wrs), err)
	}
	posted, done := depth, 0
	for posted < 40*depth {
		c := poll(t, a.cq, 1)[0]
		if c.Status != verbs.WCSuccess || int(c.WRID) != done+15 {
			t.Fatalf("completion %+v, want wr %d", c, done+15)
		}
		done = int(c.WRID) + 1
		// The slots up to this completion are free: all of them can be
		// posted now (the engine may have retired more since).
		batch := make([]verbs.SendWR, depth-(posted-done))
		for i := range batch {
			batch[i] = wr(posted + i)
		}
		if n, err := a.qp.PostSend(batch); n != len(batch) || err != nil {
			t.Fatalf("after wr %d completed: %d of %d posted, err %v", done-1, n, len(batch), err)
		}
		posted += len(batch)
	}
}
