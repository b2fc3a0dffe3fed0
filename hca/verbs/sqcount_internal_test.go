package verbs

import "testing"

// TestRetirePublishesBeforeCompletion: retiring WQEs lowers the send
// queue count posters read (sqUsed) in bulk, but never after a
// completion is visible: when a signaled WQE's completion is published,
// every WQE retired before it is off the count, and the rest are once
// the requester's run ends (publishRetired).
func TestRetirePublishesBeforeCompletion(t *testing.T) {
	e := &Engine{attr: DefaultDeviceAttr}
	var usedAtCompletion []int32
	var qp *QP
	cq, err := e.CreateCQ(64, func(*CQ) { usedAtCompletion = append(usedAtCompletion, qp.sqUsed.Load()) })
	if err != nil {
		t.Fatal(err)
	}
	qp = &QP{e: e, scq: cq, cap: QPCap{MaxSendWR: 16}}
	for i := range 10 {
		w := &sendWQE{wr: SendWR{WRID: uint64(i), Opcode: WRSend}, started: true}
		if i == 3 || i == 7 {
			w.wr.Flags = SendSignaled
		}
		qp.sq = append(qp.sq, w)
	}
	qp.sqUsed.Store(10)
	for range 10 {
		if err := cq.ReqNotify(false); err != nil {
			t.Fatal(err)
		}
		qp.retire(qp.sq[0])
		if u := qp.sqUsed.Load() - qp.unpublished; u < 0 {
			t.Fatalf("sqUsed %d lowered past the WQEs retired", qp.sqUsed.Load())
		}
	}
	if len(usedAtCompletion) != 2 || usedAtCompletion[0] != 6 || usedAtCompletion[1] != 2 {
		t.Fatalf("sqUsed when completions 3 and 7 were published: %v, want [6 2]", usedAtCompletion)
	}
	if qp.sqUsed.Load() != 2 || qp.unpublished != 2 {
		t.Fatalf("after retiring: sqUsed %d, unpublished %d", qp.sqUsed.Load(), qp.unpublished)
	}
	qp.publishRetired()
	if qp.sqUsed.Load() != 0 || qp.unpublished != 0 {
		t.Fatalf("after publishRetired: sqUsed %d, unpublished %d", qp.sqUsed.Load(), qp.unpublished)
	}
	var wc [4]WC
	if n := cq.Poll(wc[:]); n != 2 || wc[0].WRID != 3 || wc[1].WRID != 7 {
		t.Fatalf("completions %v", wc[:max(n, 0)])
	}
}
