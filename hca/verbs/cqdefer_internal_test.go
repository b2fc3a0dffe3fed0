package verbs

import "testing"

// deferPush writes a completion the way push does while the loop
// streams and the CQ already published in the burst: into the ring,
// published only by publish at the burst's end.
func deferPush(cq *CQ, wc WC, solicited bool) {
	cq.ring[cq.wtail&cq.mask] = wc
	cq.wtail++
	cq.defSol = cq.defSol || solicited || wc.Status != WCSuccess
	cq.hot = true
}

// TestCQDeferredPublish: completions written while the loop streams stay
// invisible until the burst's publication, which shows them all in
// order, fires the completion channel of a CQ armed meanwhile (ReqNotify
// after the completion was written, before it was published: the
// consumer's poll found nothing, so it waits for the event), honours
// solicited-only arming, and a push published at once carries the
// deferred completions with it.
func TestCQDeferredPublish(t *testing.T) {
	e := &Engine{attr: DefaultDeviceAttr}
	fired := 0
	cq, err := e.CreateCQ(16, func(*CQ) { fired++ })
	if err != nil {
		t.Fatal(err)
	}
	deferPush(cq, WC{WRID: 1}, false)
	deferPush(cq, WC{WRID: 2}, false)
	wc := make([]WC, 4)
	if n := cq.Poll(wc); n != 0 {
		t.Fatalf("poll before publication: %d completions", n)
	}
	if err := cq.ReqNotify(false); err != nil {
		t.Fatal(err)
	}
	cq.publish()
	if fired != 1 {
		t.Fatalf("armed cq: %d notifications at publication, want 1", fired)
	}
	if cq.hot {
		t.Fatal("hot still set after publication")
	}
	if n := cq.Poll(wc); n != 2 || wc[0].WRID != 1 || wc[1].WRID != 2 {
		t.Fatalf("poll after publication: %d %+v", n, wc[:n])
	}

	// Solicited-only arming: an unsolicited deferred completion does not
	// fire, a solicited one does.
	if err := cq.ReqNotify(true); err != nil {
		t.Fatal(err)
	}
	deferPush(cq, WC{WRID: 3}, false)
	cq.publish()
	if fired != 1 {
		t.Fatalf("solicited-only arming fired on an unsolicited completion")
	}
	deferPush(cq, WC{WRID: 4}, true)
	cq.publish()
	if fired != 2 {
		t.Fatalf("solicited-only arming: %d notifications, want 2", fired)
	}

	// A push that publishes at once (no fabric: no backlog) publishes
	// the deferred completions before it, and the burst's publication
	// then has nothing left to do.
	deferPush(cq, WC{WRID: 5}, false)
	if !cq.push(WC{WRID: 6}, false) {
		t.Fatal("push refused")
	}
	cq.publish()
	if n := cq.Poll(wc); n != 4 || wc[0].WRID != 3 || wc[3].WRID != 6 {
		t.Fatalf("poll: %d %+v", n, wc[:n])
	}
}
