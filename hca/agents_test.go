package hca_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// trapAgent registers on a an SM agent that serves Trap (LID-routed),
// queues every trap in bt.inbox (see bench.expectTrap) and represses it
// as OpenSM does, with M_Key bt.smKey; a becomes IsSM.
func (bt *bench) trapAgent(t testing.TB) {
	t.Helper()
	bt.do(t, func() {
		var sm *hca.Agent
		sm = mustAgent(t, bt.a, hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1,
			Methods: []wire.Method{wire.MethodTrap}, Handler: func(r hca.ReceivedMAD) {
				bt.inbox.Push(r)
				rep := wire.SMP(append([]byte(nil), r.MAD...))
				rep.MAD().SetResponse(wire.MADStatusOK)
				rep.SetMKey(bt.smKey)
				if err := sm.Send(r.Addr, rep); err != nil {
					t.Errorf("trap repress: %v", err)
				}
			}})
	})
}

func TestPKeyViolationDroppedCountedTrapped(t *testing.T) {
	bt := newBench(t)
	bt.trapAgent(t)
	bt.bringUp(t)
	// Give a (not b) the partition 0x8005 so a may send with it.
	data := make([]byte, wire.PKeyTableSize)
	wire.PKeyTable(data).SetPKey(0, wire.PKeyDefault)
	wire.PKeyTable(data).SetPKey(1, 0x8005)
	tid := bt.nextTID()
	smp := drSMP(wire.MethodSet, wire.AttrPKeyTable, 0, tid, 0, data)
	wire.SMP(smp).SetHopCount(0)
	bt.send(t, bt.sm, drAddr, smp)
	bt.expectResp(t, tid)

	bad := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1, PKey: 0x8005},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, bad, 64, nil))
	// b refuses it silently and reports trap 257 to the SM (a).
	r, n := bt.expectTrap(t, wire.TrapBadPKey)
	if r.Addr.LID != 2 {
		t.Errorf("trap from lid %d, want 2", r.Addr.LID)
	}
	d := wire.DecodeKeyViolationDetails(n.DataDetails())
	if d.LID1 != 1 || d.LID2 != 2 || d.Key != 0x8005 || d.QP1 != 1 || d.QP2 != 1 || n.IssuerLID() != 2 || n.Type() != wire.NoticeTypeSecurity {
		t.Errorf("trap 257 details %+v issuer %d type %s", d, n.IssuerLID(), n.Type())
	}
	// The next GMP in the default partition is answered, and it is the
	// first answer a sees: the bad one got none.
	ok := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, ok, 64, nil))
	bt.expectResp(t, ok)
	if n := bt.b.Stats().PKeyDropped.Load(); n != 1 {
		t.Errorf("b PKeyDropped %d, want 1", n)
	}
	pi := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data())
	if pi.PKeyViolations() != 1 {
		t.Errorf("PortInfo P_KeyViolations %d, want 1", pi.PKeyViolations())
	}
	// QP0 is exempt from the P_Key check.
	tid = bt.nextTID()
	bt.send(t, bt.smLID, hca.MADAddr{LID: 2, PKey: 0x8005}, lidSMP(wire.MethodGet, wire.AttrNodeInfo, 0, tid, 0, nil))
	bt.expectResp(t, tid)
	// Sending with a P_Key the sender's own table lacks is refused locally.
	var err error
	bt.do(t, func() {
		err = bt.gsi[wire.MgmtClassPerf].Send(hca.MADAddr{LID: 2, QPN: 1, PKey: 0x8009},
			gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, 1, 64, nil))
	})
	if !errors.Is(err, hca.ErrPKey) {
		t.Errorf("send with a foreign p_key: %v, want ErrPKey", err)
	}
}

// TestPKeyLimitedMember: a GMP carries an entry of the sender's own
// P_Key table (entry 0 when no P_Key is given, the entry of the
// partition otherwise), and an answer carries the entry the request
// matched at the responder (IBTA Vol 1 §10.9.2, §10.9.3). So a limited
// member of the default partition reaches a full member and gets its
// answer (a full key), while two limited members cannot talk, even when
// the sender asks for the full default key.
func TestPKeyLimitedMember(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	limited := make([]byte, wire.PKeyTableSize)
	wire.PKeyTable(limited).SetPKey(0, wire.PKeyDefault.Limited())
	setLocal := func() {
		tid := bt.nextTID()
		smp := drSMP(wire.MethodSet, wire.AttrPKeyTable, 0, tid, 0, limited)
		wire.SMP(smp).SetHopCount(0)
		bt.send(t, bt.sm, drAddr, smp)
		bt.expectResp(t, tid)
	}
	perf := func(addr hca.MADAddr) uint64 {
		tid := bt.nextTID()
		bt.send(t, bt.gsi[wire.MgmtClassPerf], addr, gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, tid, 64, nil))
		return tid
	}
	// a limited, b full (the default table): a's query is answered, in
	// full, and a accepts the answer.
	setLocal()
	tid := perf(hca.MADAddr{LID: 2, QPN: 1})
	r := bt.recv(t)
	if m := wire.MAD(r.MAD); !m.IsResponse() || m.TID()&0xFFFFFFFF != tid {
		t.Fatalf("limited a -> full b: got %s tid %#x, want the answer to %#x", m.Method(), m.TID(), tid)
	}
	if r.Addr.PKey != uint16(wire.PKeyDefault.Limited()) {
		t.Errorf("answer received as p_key %#04x, want a's own entry 0x7fff", r.Addr.PKey)
	}
	// b limited too: b drops a's queries, with or without a P_Key.
	bt.setDR(t, wire.AttrPKeyTable, 0, 0, limited)
	perf(hca.MADAddr{LID: 2, QPN: 1})
	perf(hca.MADAddr{LID: 2, QPN: 1, PKey: uint16(wire.PKeyDefault)})
	ok := bt.nextTID()
	bt.send(t, bt.smLID, hca.MADAddr{LID: 2}, lidSMP(wire.MethodGet, wire.AttrNodeInfo, 0, ok, 0, nil))
	bt.expectResp(t, ok) // the SMP passes and is the first answer a sees
	if n := bt.b.Stats().PKeyDropped.Load(); n != 2 {
		t.Errorf("b PKeyDropped %d, want 2", n)
	}
}

func TestQKeyViolation(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1, QKey: 0x1234},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, bt.nextTID(), 64, nil))
	tid := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, tid, 64, nil))
	bt.expectResp(t, tid)
	if n := bt.b.Stats().QKeyDropped.Load(); n != 1 {
		t.Errorf("QKeyDropped %d, want 1", n)
	}
	if v := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data()).QKeyViolations(); v != 1 {
		t.Errorf("Q_KeyViolations %d, want 1", v)
	}
}

func TestResponseRoutingByTID(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	boxX, boxY := bt.newBox(t), bt.newBox(t)
	var x, y *hca.Agent
	bt.do(t, func() {
		x = mustAgent(t, bt.a, hca.AgentSpec{Port: 1, QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1,
			Handler: func(r hca.ReceivedMAD) { boxX.Push(r) }})
		y = mustAgent(t, bt.a, hca.AgentSpec{Port: 1, QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1,
			Handler: func(r hca.ReceivedMAD) { boxY.Push(r) }})
	})
	if x.ID() == y.ID() {
		t.Fatalf("two agents share id %d", x.ID())
	}
	// Same low TID from both: each response finds its own agent.
	req := gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, 0x77, 64, nil)
	bt.send(t, y, hca.MADAddr{LID: 2, QPN: 1}, req)
	bt.send(t, x, hca.MADAddr{LID: 2, QPN: 1}, req)
	for _, c := range []struct {
		box *emu.Inbox[hca.ReceivedMAD]
		ag  *hca.Agent
	}{{boxY, y}, {boxX, x}} { // in the order the responses arrive
		r := bt.recvBox(t, c.box)
		m := wire.MAD(r.MAD)
		if want := uint64(c.ag.ID())<<32 | 0x77; m.TID() != want || !m.IsResponse() {
			t.Errorf("agent %d got tid 0x%x (response %v), want 0x%x", c.ag.ID(), m.TID(), m.IsResponse(), want)
		}
		if r.Addr.LID != 2 || r.Addr.QPN != 1 || r.Addr.QKey != agent.GSIQKey || r.Addr.PKey != 0xFFFF {
			t.Errorf("agent %d: reply address %+v", c.ag.ID(), r.Addr)
		}
	}
	// A response for an unregistered agent is dropped.
	bt.do(t, func() { y.Unregister() })
	bt.do(t, func() {
		if err := y.Send(hca.MADAddr{LID: 2}, req); !errors.Is(err, hca.ErrUnregistered) {
			t.Errorf("send after unregister: %v", err)
		}
	})
	tid := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, tid, 64, nil))
	bt.expectResp(t, tid)
}

func TestRequestsToServingAgent(t *testing.T) {
	bt := newBench(t)
	bt.bringUp(t)
	// b runs an "SA": it serves SubnAdm v2 Get and answers from its handler.
	var saAgent *hca.Agent
	served := 0
	bt.do(t, func() {
		saAgent = mustAgent(t, bt.b, hca.AgentSpec{Port: 1, QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2,
			Methods: []wire.Method{wire.MethodGet},
			Handler: func(r hca.ReceivedMAD) {
				served++
				resp := wire.MAD(r.MAD)
				resp.SetResponse(wire.MADStatusOK)
				resp[100] = 0xAB
				if err := saAgent.Send(r.Addr, resp); err != nil {
					t.Errorf("sa reply: %v", err)
				}
			}})
		if _, err := bt.b.RegisterAgent(hca.AgentSpec{Port: 1, QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2,
			Methods: []wire.Method{wire.MethodGet}, Handler: func(hca.ReceivedMAD) {}}); !errors.Is(err, hca.ErrAgentConflict) {
			t.Errorf("second SA Get agent: %v, want ErrAgentConflict", err)
		}
		if _, err := bt.b.RegisterAgent(hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnAdm, ClassVersion: 2,
			Handler: func(hca.ReceivedMAD) {}}); !errors.Is(err, hca.ErrBadAgentSpec) {
			t.Errorf("SA agent on qp0: %v, want ErrBadAgentSpec", err)
		}
	})
	sa := bt.gsi[wire.MgmtClassSubnAdm]
	tid := bt.nextTID()
	bt.send(t, sa, hca.MADAddr{LID: 2, QPN: 1}, gmp(wire.MgmtClassSubnAdm, 2, wire.MethodGet, wire.AttrPathRecord, 0, tid, 56, nil))
	r := wire.MAD(bt.expectResp(t, tid))
	if r.Status() != wire.MADStatusOK || r[100] != 0xAB || r.Method() != wire.MethodGetResp {
		t.Errorf("SA reply: %s method %s marker 0x%x", r.Status(), r.Method(), r[100])
	}
	// A version the agent does not serve gets the unmatched answer.
	tid = bt.nextTID()
	bt.send(t, sa, hca.MADAddr{LID: 2, QPN: 1}, gmp(wire.MgmtClassSubnAdm, 1, wire.MethodGet, wire.AttrPathRecord, 0, tid, 56, nil))
	if st := wire.MAD(bt.expectResp(t, tid)).Status(); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("SA v1 Get: %s", st)
	}
	// Once the agent goes, Get is unmatched too.
	bt.do(t, func() { saAgent.Unregister() })
	tid = bt.nextTID()
	bt.send(t, sa, hca.MADAddr{LID: 2, QPN: 1}, gmp(wire.MgmtClassSubnAdm, 2, wire.MethodGet, wire.AttrPathRecord, 0, tid, 56, nil))
	if st := wire.MAD(bt.expectResp(t, tid)).Status(); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("SA Get after unregister: %s", st)
	}
	if served != 1 {
		t.Errorf("SA agent served %d requests, want 1", served)
	}
}

func TestSMAgentSetsIsSMAndTrap144(t *testing.T) {
	bt := newBench(t)
	bt.trapAgent(t) // a's SM
	bt.bringUp(t)
	if cm := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data()).CapabilityMask(); cm.Has(wire.PortCapIsSM) {
		t.Fatalf("b IsSM before any SM agent")
	}
	// A standby SM on b: it serves SMInfo Get (DR), so b turns IsSM and
	// tells the master (a) with trap 144.
	var smb *hca.Agent
	bt.do(t, func() {
		smb = mustAgent(t, bt.b, hca.AgentSpec{Port: 1, QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1,
			Methods: []wire.Method{wire.MethodGet, wire.MethodSet},
			Handler: func(r hca.ReceivedMAD) {
				resp := wire.MAD(r.MAD)
				resp.SetResponse(wire.MADStatusOK)
				wire.SMInfo(wire.SMP(resp).Data()).SetGUID(guidB + 1)
				if err := smb.Send(r.Addr, resp); err != nil {
					t.Errorf("sminfo reply: %v", err)
				}
			}})
	})
	_, n := bt.expectTrap(t, wire.TrapLocalChanges)
	d := wire.DecodeTrap144Details(n.DataDetails())
	if !d.CapabilityMask.Has(wire.PortCapIsSM) || d.LID != 2 {
		t.Errorf("trap 144 details %+v", d)
	}
	if cm := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data()).CapabilityMask(); !cm.Has(wire.PortCapIsSM) {
		t.Errorf("b capability mask 0x%x lacks IsSM", uint32(cm))
	}
	// SMInfo Get goes to b's SM agent, which answers along the return path.
	r := bt.getDR(t, wire.AttrSMInfo, 0)
	if r.Status() != wire.MADStatusOK || wire.SMInfo(r.Data()).GUID() != guidB+1 {
		t.Errorf("SMInfo via b's SM: %s guid %v", r.Status(), wire.SMInfo(r.Data()).GUID())
	}
	// NodeInfo is still the SMA's, not the SM agent's, though it serves Get.
	if g := wire.NodeInfo(bt.getDR(t, wire.AttrNodeInfo, 0).Data()).NodeGUID(); g != guidB {
		t.Errorf("NodeInfo guid %v", g)
	}
	bt.do(t, func() { smb.Unregister() })
	if cm := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data()).CapabilityMask(); cm.Has(wire.PortCapIsSM) {
		t.Errorf("IsSM still set after the SM agent went")
	}
	_, n = bt.expectTrap(t, wire.TrapLocalChanges)
	if d := wire.DecodeTrap144Details(n.DataDetails()); d.CapabilityMask.Has(wire.PortCapIsSM) {
		t.Errorf("second trap 144 still shows IsSM: %+v", d)
	}
}

// setMKey sets b's M_Key, protection bits and lease through PortInfo
// (keeping LID 2 and SM LID 1), presenting key.
func (bt *bench) setMKey(t testing.TB, key, newKey uint64, prot uint8, lease uint16) {
	t.Helper()
	pi := make([]byte, wire.PortInfoSize)
	p := wire.PortInfo(pi)
	p.SetLID(2)
	p.SetMasterSMLID(1)
	p.SetMKey(newKey)
	p.SetMKeyProtectBits(prot)
	p.SetMKeyLeasePeriod(lease)
	if r := bt.setDR(t, wire.AttrPortInfo, 0, key, pi); r.Status() != wire.MADStatusOK {
		t.Fatalf("set m_key: %s", r.Status())
	}
}

// tryDR sends a DR SMP to b with M_Key key, then a PerfMgt Get to b as a
// marker (the PMA ignores M_Key, and b answers in order), and reports
// whether the SMP was answered (and its reply).
func (bt *bench) tryDR(t testing.TB, method wire.Method, attr wire.AttrID, key uint64, data []byte) (wire.SMP, bool) {
	t.Helper()
	first := bt.nextTID()
	bt.send(t, bt.sm, drAddr, drSMP(method, attr, 0, first, key, data))
	marker := bt.nextTID()
	bt.send(t, bt.gsi[wire.MgmtClassPerf], hca.MADAddr{LID: 2, QPN: 1},
		gmp(wire.MgmtClassPerf, 1, wire.MethodGet, wire.AttrClassPortInfo, 0, marker, 64, nil))
	r := bt.recv(t)
	m := wire.SMP(r.MAD)
	if m.MAD().TID()&0xFFFFFFFF == marker {
		return nil, false
	}
	if m.MAD().TID()&0xFFFFFFFF != first {
		t.Fatalf("unexpected tid 0x%x", m.MAD().TID())
	}
	bt.expectResp(t, marker)
	return m, true
}

func TestMKeyProtection(t *testing.T) {
	const key = 0x1122334455667788
	bt := newBench(t)
	bt.trapAgent(t)
	bt.bringUp(t)
	bt.do(t, func() { bt.smKey = key })
	bt.setMKey(t, 0, key, 1, 0)

	cases := []struct {
		prot     uint8
		method   wire.Method
		key      uint64
		answered bool
		showsKey bool
	}{
		{1, wire.MethodGet, 0, true, false},
		{1, wire.MethodGet, key, true, true},
		{1, wire.MethodSet, 0, false, false},
		{2, wire.MethodGet, 0, false, false},
		{2, wire.MethodGet, key, true, true},
		{3, wire.MethodGet, 0x99, false, false},
		{3, wire.MethodSet, key, true, true},
		{0, wire.MethodGet, 0, true, true},
		{0, wire.MethodSet, 0, false, false},
	}
	violations := 0
	for _, c := range cases {
		bt.setMKey(t, key, key, c.prot, 0)
		var data []byte
		if c.method == wire.MethodSet {
			data = make([]byte, wire.PortInfoSize)
			wire.PortInfo(data).SetLID(2)
			wire.PortInfo(data).SetMasterSMLID(1)
			wire.PortInfo(data).SetMKey(key)
			wire.PortInfo(data).SetMKeyProtectBits(c.prot)
		}
		r, answered := bt.tryDR(t, c.method, wire.AttrPortInfo, c.key, data)
		if answered != c.answered {
			t.Errorf("level %d %s key 0x%x: answered %v, want %v", c.prot, c.method, c.key, answered, c.answered)
			continue
		}
		if !answered {
			violations++
			continue
		}
		if got := wire.PortInfo(r.Data()).MKey(); (got == key) != c.showsKey {
			t.Errorf("level %d %s key 0x%x: reply M_Key 0x%x", c.prot, c.method, c.key, got)
		}
	}
	// Each refusal was counted and reported with trap 256.
	for range violations {
		_, n := bt.expectTrap(t, wire.TrapBadMKey)
		d, err := wire.DecodeBadMKeyDetails(n.DataDetails())
		if err != nil {
			t.Fatal(err)
		}
		if d.AttrID != wire.AttrPortInfo || !d.DRNotice || d.HopCount != 1 || d.ReturnPath[0] != 1 || n.IssuerLID() != 2 {
			t.Errorf("trap 256 details %+v issuer %d", d, n.IssuerLID())
		}
	}
	r, _ := bt.tryDR(t, wire.MethodGet, wire.AttrPortInfo, key, nil)
	if v := wire.PortInfo(r.Data()).MKeyViolations(); int(v) != violations {
		t.Errorf("M_KeyViolations %d, want %d", v, violations)
	}
	// The SM repressed every trap: none is pending or repeated.
	var pending int
	bt.do(t, func() { pending = len(bt.b.SMA().PendingTraps()) })
	if pending != 0 {
		t.Errorf("%d traps still pending after TrapRepress", pending)
	}
}

func TestMKeyLease(t *testing.T) {
	const key = 0xfeed
	bt := newBench(t)
	bt.bringUp(t)
	bt.setMKey(t, 0, key, 2, 5) // level 2, lease 5 s
	if _, ok := bt.tryDR(t, wire.MethodGet, wire.AttrPortInfo, 0, nil); ok {
		t.Fatal("level 2 Get without the key was answered")
	}
	var running bool
	bt.do(t, func() { running = bt.b.SMA().Port(1).LeaseRunning() })
	if !running {
		t.Fatal("lease countdown did not start")
	}
	// Before the lease runs out the port stays protected...
	bt.do(t, func() {
		bt.f.Clock().AfterFunc(4*time.Second, func() { bt.inbox.Push(hca.ReceivedMAD{Port: -1}) })
	})
	bt.recv(t)
	if _, ok := bt.tryDR(t, wire.MethodGet, wire.AttrNodeInfo, 0, nil); ok {
		t.Fatal("protection lifted before the lease ran out")
	}
	// ...and after it the protection bits are 0: anyone may read.
	bt.do(t, func() {
		bt.f.Clock().AfterFunc(2*time.Second, func() { bt.inbox.Push(hca.ReceivedMAD{Port: -1}) })
	})
	bt.recv(t)
	r, ok := bt.tryDR(t, wire.MethodGet, wire.AttrPortInfo, 0, nil)
	if !ok {
		t.Fatal("still protected after the lease")
	}
	if p := wire.PortInfo(r.Data()); p.MKeyProtectBits() != 0 || p.MKey() != key {
		t.Errorf("after lease: protect %d key 0x%x, want 0 and the key shown", p.MKeyProtectBits(), p.MKey())
	}
	// A Get with the right key stops a running countdown.
	bt.setMKey(t, key, key, 2, 5)
	bt.tryDR(t, wire.MethodGet, wire.AttrPortInfo, 0, nil)
	bt.do(t, func() { running = bt.b.SMA().Port(1).LeaseRunning() })
	if !running {
		t.Fatal("lease countdown did not start again")
	}
	bt.getDRKey(t, wire.AttrNodeInfo, key)
	bt.do(t, func() { running = bt.b.SMA().Port(1).LeaseRunning() })
	if running {
		t.Error("a keyed Get did not stop the lease countdown")
	}
}

// TestBadMKeyTrapsDoNotStorm: an SM whose TrapRepress carries another
// M_Key than the port's (OpenSM represses with the key it has on record)
// fails the check with every repress. The port counts each failed
// repress but keeps one Bad M_Key trap at a time, repeated every
// TrapRetry (1 s here) until its 3 repeats run out, rather than raising a
// new trap per failed repress: the SM would answer each with another
// failing repress at the same instant, for ever, and virtual time would
// stand still. What is left is a trap frame or two per TrapRetry.
func TestBadMKeyTrapsDoNotStorm(t *testing.T) {
	const key = 0x5eed
	bt := newBench(t)
	bt.trapAgent(t)
	bt.bringUp(t)
	bt.setMKey(t, 0, key, 2, 0)
	bt.do(t, func() { bt.smKey = 0 }) // the SM represses with M_Key 0
	if _, ok := bt.tryDR(t, wire.MethodGet, wire.AttrPortInfo, 0, nil); ok {
		t.Fatal("level 2 Get without the key was answered")
	}
	bt.do(t, func() {
		bt.f.Clock().AfterFunc(10*time.Second, func() { bt.inbox.Push(hca.ReceivedMAD{Port: -1}) })
	})
	frames, tids := 0, map[uint64]bool{}
	for {
		r := bt.recvBox(t, bt.inbox)
		if r.Port == -1 {
			break
		}
		if n := wire.Notice(wire.SMP(r.MAD).Data()); wire.MAD(r.MAD).Method() != wire.MethodTrap || n.TrapNumber() != wire.TrapBadMKey {
			t.Fatalf("got %s %s, want trap 256", wire.MAD(r.MAD).Method(), wire.MAD(r.MAD).AttrID())
		}
		frames++
		tids[wire.MAD(r.MAD).TID()] = true
		var waiting int
		bt.do(t, func() { waiting = len(bt.b.SMA().PendingTraps()) })
		if waiting > 1 {
			t.Fatalf("%d traps waiting for a repress at once", waiting)
		}
	}
	// 10 s: a trap and its 3 repeats every 3 s.
	if frames < 10 || frames > 20 || len(tids) < 3 || len(tids) > 5 {
		t.Errorf("%d trap 256 frames of %d traps in 10 s, want 10-20 frames of 3-5 traps", frames, len(tids))
	}
	// The Get and every failed repress are violations.
	r := bt.getDRKey(t, wire.AttrPortInfo, key)
	if v := wire.PortInfo(r.Data()).MKeyViolations(); int(v) < frames+1 {
		t.Errorf("M_KeyViolations %d, want at least %d", v, frames+1)
	}
}
