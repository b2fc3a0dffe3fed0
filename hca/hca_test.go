package hca_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	guidA wire.GUID = 0x0002c90300001000
	guidB wire.GUID = 0x0002c90300002000
)

// bench is a tiny fabric: HCA a and HCA b back to back on port 1, with
// host agents on a that push what they receive to an inbox.
type bench struct {
	t     *testing.T
	f     *emu.Fabric
	a, b  *hca.Device
	inbox *emu.Inbox[hca.ReceivedMAD]
	sm    *hca.Agent // a, port 1, QP0, SubnDirected, sends only
	smLID *hca.Agent // a, port 1, QP0, SubnLID, sends only
	gsi   map[wire.MgmtClass]*hca.Agent
	tid   uint32
	smKey uint64 // M_Key the test SM presents in TrapRepress (event loop)
	boxes []interface{ Done() }
	traps []hca.ReceivedMAD // traps a's SM received, not yet expected
}

type benchOpt func(*hca.Config, *hca.Config)

func newBench(t testing.TB, opts ...benchOpt) *bench {
	t.Helper()
	f := emu.New()
	ca := hca.Config{NodeGUID: guidA, Description: "host-a HCA-1"}
	cb := hca.Config{NodeGUID: guidB, Description: "host-b HCA-1"}
	for _, o := range opts {
		o(&ca, &cb)
	}
	a, err := hca.Add(f, "a", ca)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hca.Add(f, "b", cb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(a.Node().Port(1), b.Node().Port(1)); err != nil {
		t.Fatal(err)
	}
	bt := &bench{f: f, a: a, b: b, inbox: emu.NewInbox[hca.ReceivedMAD](f), gsi: map[wire.MgmtClass]*hca.Agent{}}
	bt.boxes = append(bt.boxes, bt.inbox)
	if tt, ok := t.(*testing.T); ok {
		bt.t = tt
	}
	push := func(r hca.ReceivedMAD) { bt.inbox.Push(r) }
	bt.sm = mustAgent(t, a, hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1, Handler: push})
	bt.smLID = mustAgent(t, a, hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1, Handler: push})
	for _, c := range []wire.MgmtClass{wire.MgmtClassPerf, wire.MgmtClassMellanox, wire.MgmtClassSubnAdm, wire.MgmtClassCM} {
		bt.gsi[c] = mustAgent(t, a, hca.AgentSpec{Port: 1, QPN: 1, Class: c, ClassVersion: 1, Handler: push})
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bt.inbox.Close(); f.Stop() })
	return bt
}

func mustAgent(t testing.TB, d *hca.Device, spec hca.AgentSpec) *hca.Agent {
	t.Helper()
	a, err := d.RegisterAgent(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// do runs fn on the event loop.
func (bt *bench) do(t testing.TB, fn func()) {
	t.Helper()
	if err := bt.f.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// send sends mad from agent ag and fails the test on error.
func (bt *bench) send(t testing.TB, ag *hca.Agent, addr hca.MADAddr, mad []byte) {
	t.Helper()
	var err error
	bt.do(t, func() { err = ag.Send(addr, mad) })
	if err != nil {
		t.Fatalf("send: %v", err)
	}
}

// Inboxes hold virtual time while an item waits in them or their consumer
// reacts to the last one (emu.Inbox): a test consumes MADs in the order
// they arrive, and before it waits on one inbox it releases the others.
func (bt *bench) releaseAll(except any) {
	for _, b := range bt.boxes {
		if b != except {
			b.Done()
		}
	}
}

// newBox returns an extra inbox for the test's agents.
func (bt *bench) newBox(t testing.TB) *emu.Inbox[hca.ReceivedMAD] {
	box := emu.NewInbox[hca.ReceivedMAD](bt.f)
	bt.boxes = append(bt.boxes, box)
	t.Cleanup(box.Close)
	return box
}

// recvBox waits for the next item of box.
func (bt *bench) recvBox(t testing.TB, box *emu.Inbox[hca.ReceivedMAD]) hca.ReceivedMAD {
	t.Helper()
	bt.releaseAll(box)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := box.Recv(ctx)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return r
}

// recv waits for the next MAD a's agents received that is not a trap;
// traps (which the SM agent of trapAgent receives) are kept in bt.traps.
func (bt *bench) recv(t testing.TB) hca.ReceivedMAD {
	t.Helper()
	for {
		r := bt.recvBox(t, bt.inbox)
		if r.Port > 0 && wire.MAD(r.MAD).Method() == wire.MethodTrap {
			bt.traps = append(bt.traps, r)
			continue
		}
		return r
	}
}

// expectTrap returns the first trap with number num a's SM received,
// waiting for it if needed.
func (bt *bench) expectTrap(t testing.TB, num uint16) (hca.ReceivedMAD, wire.Notice) {
	t.Helper()
	for {
		for i, r := range bt.traps {
			if n := wire.Notice(wire.SMP(r.MAD).Data()); n.TrapNumber() == num {
				bt.traps = append(bt.traps[:i], bt.traps[i+1:]...)
				return r, n
			}
		}
		r := bt.recvBox(t, bt.inbox)
		if wire.MAD(r.MAD).Method() != wire.MethodTrap {
			t.Fatalf("waiting for trap %d, got %s %s", num, wire.MAD(r.MAD).Method(), wire.MAD(r.MAD).AttrID())
		}
		bt.traps = append(bt.traps, r)
	}
}

// nextTID returns a fresh low TID.
func (bt *bench) nextTID() uint64 { bt.tid++; return uint64(bt.tid) }

// drSMP builds a directed-route SMP from a's port 1 to b (one hop).
func drSMP(method wire.Method, attr wire.AttrID, mod uint32, tid uint64, mkey uint64, data []byte) []byte {
	f := wire.SMPFields{Directed: true, Method: method, HopCount: 1, TID: tid, AttrID: attr, AttrMod: mod,
		MKey: mkey, DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	f.InitialPath[1] = 1
	copy(f.Data[:], data)
	b := make([]byte, wire.MADSize)
	wire.SMP(b).Encode(&f)
	return b
}

// lidSMP builds a LID-routed SMP.
func lidSMP(method wire.Method, attr wire.AttrID, mod uint32, tid uint64, mkey uint64, data []byte) []byte {
	f := wire.SMPFields{Method: method, TID: tid, AttrID: attr, AttrMod: mod, MKey: mkey}
	copy(f.Data[:], data)
	b := make([]byte, wire.MADSize)
	wire.SMP(b).Encode(&f)
	return b
}

var drAddr = hca.MADAddr{LID: wire.LIDPermissive}

// getDR sends a DR Get of attr to b and returns the response.
func (bt *bench) getDR(t testing.TB, attr wire.AttrID, mod uint32) wire.SMP {
	t.Helper()
	tid := bt.nextTID()
	bt.send(t, bt.sm, drAddr, drSMP(wire.MethodGet, attr, mod, tid, 0, nil))
	return bt.expectResp(t, tid)
}

// getDRKey sends a DR Get of attr to b with M_Key key and returns the response.
func (bt *bench) getDRKey(t testing.TB, attr wire.AttrID, key uint64) wire.SMP {
	t.Helper()
	tid := bt.nextTID()
	bt.send(t, bt.sm, drAddr, drSMP(wire.MethodGet, attr, 0, tid, key, nil))
	return bt.expectResp(t, tid)
}

// setDR sends a DR Set of attr to b and returns the response.
func (bt *bench) setDR(t testing.TB, attr wire.AttrID, mod uint32, mkey uint64, data []byte) wire.SMP {
	t.Helper()
	tid := bt.nextTID()
	bt.send(t, bt.sm, drAddr, drSMP(wire.MethodSet, attr, mod, tid, mkey, data))
	return bt.expectResp(t, tid)
}

// expectResp receives the next MAD and checks it is the response to the
// request with low TID tid.
func (bt *bench) expectResp(t testing.TB, tid uint64) wire.SMP {
	t.Helper()
	r := bt.recv(t)
	m := wire.MAD(r.MAD)
	if !m.IsResponse() {
		t.Fatalf("got request %s %s, want a response", m.Method(), m.AttrID())
	}
	if m.TID()&0xFFFFFFFF != tid {
		t.Fatalf("got response tid 0x%x, want low half 0x%x", m.TID(), tid)
	}
	return wire.SMP(r.MAD)
}

// bringUp gives both HCAs LIDs (a: 1, b: 2) and the SM LID 1, through
// PortInfo Sets from a's SM agent (b by DR, a by a local DR SMP), and
// moves the link to Active.
func (bt *bench) bringUp(t testing.TB) {
	t.Helper()
	for _, hop := range []uint8{0, 1} {
		lid := wire.LID(1 + hop)
		pi := portInfoSet(lid, 1, wire.PortStateNoChange)
		tid := bt.nextTID()
		smp := drSMP(wire.MethodSet, wire.AttrPortInfo, 0, tid, 0, pi)
		wire.SMP(smp).SetHopCount(hop)
		bt.send(t, bt.sm, drAddr, smp)
		if st := bt.expectResp(t, tid).Status(); st != wire.MADStatusOK {
			t.Fatalf("set lid %d: status %s", lid, st)
		}
	}
	for _, st := range []wire.PortState{wire.PortStateArmed, wire.PortStateActive} {
		for _, hop := range []uint8{0, 1} {
			pi := portInfoSet(wire.LID(1+hop), 1, st)
			tid := bt.nextTID()
			smp := drSMP(wire.MethodSet, wire.AttrPortInfo, 0, tid, 0, pi)
			wire.SMP(smp).SetHopCount(hop)
			bt.send(t, bt.sm, drAddr, smp)
			if got := bt.expectResp(t, tid).Status(); got != wire.MADStatusOK {
				t.Fatalf("set %s (hop %d): status %s", st, hop, got)
			}
		}
	}
}

// gmp builds a GMP of class c with attribute attr and data at off.
func gmp(c wire.MgmtClass, version uint8, method wire.Method, attr wire.AttrID, mod uint32, tid uint64, off int, data []byte) []byte {
	b := make([]byte, wire.MADSize)
	wire.MAD(b).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: c, ClassVersion: version, Method: method,
		TID: tid, AttrID: attr, AttrMod: mod})
	copy(b[off:], data)
	return b
}
