package verbs_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// TestRouteFollowsSMAState: the requester keeps the route of its address
// vector (SLID, VL, P_Key) only for the packets of one burst; a change
// the SM makes to the sending port between bursts (here its P_Key table,
// IBTA Vol 1 §10.9.3) shows in the next packet. With the sender's
// partition changed the receiver refuses the SEND (counted as a P_Key
// violation) and the requester runs out of retries; changed back, a new
// connection passes again.
func TestRouteFollowsSMAState(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 10, 1, 7)
	send := func(x, y *ep, id uint64) {
		postRecv(t, y, verbs.RecvWR{WRID: id, SGL: sge(y, 0, 64)})
		postSend(t, x, verbs.SendWR{WRID: id, Opcode: verbs.WRSend, SGL: sge(x, 0, 64), Flags: verbs.SendSignaled})
	}
	send(a, b, 1)
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCSuccess {
		t.Fatalf("first send: %+v", wc)
	}
	poll(t, b.rcq, 1)

	pa := tn.hcas[0].SMA().Port(1)
	tn.do(func() { pa.SetPKey(0, 0x8001) }) // another partition: b's 0xFFFF does not match it
	send(a, b, 2)
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCRetryExcErr {
		t.Fatalf("send with a foreign P_Key: %+v, want retry exceeded", wc)
	}
	if n := b.e.Stats().PKeyDropped.Load(); n == 0 {
		t.Fatalf("the receiver saw no P_Key violation")
	}
	var violations uint64
	tn.do(func() { violations = tn.hcas[1].Node().Port(1).Counters.PKeyViolations.Load() })
	if violations == 0 {
		t.Fatalf("PortInfo P_KeyViolations not counted")
	}

	tn.do(func() { pa.SetPKey(0, wire.PKeyDefault) })
	c := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	d := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(c, d, wire.MTU1024, 10, 1, 7)
	send(c, d, 3)
	if wc := poll(t, c.cq, 1)[0]; wc.Status != verbs.WCSuccess {
		t.Fatalf("send after the P_Key was restored: %+v", wc)
	}
}
