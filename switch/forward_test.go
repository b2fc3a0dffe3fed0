package ibswitch_test

import (
	"bytes"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// line builds A(LID 1) - S1 - S2 - ... - Sn - B(LID 2), every switch
// linked port 1 towards A and port 2 towards B, switch i with LID 10+i
// and forwarding tables for every LID, all ports Active.
func line(t *testing.T, n int) (*testFabric, *testCA, *testCA) {
	tf := newTestFabric(t)
	a := tf.addCA("A", 1)
	b := tf.addCA("B", 2)
	for range n {
		tf.addSwitch(8, "InfiniScale-III")
	}
	tf.connect(a.port(), tf.sw[0].Node().Port(1))
	for i := 0; i+1 < n; i++ {
		tf.connect(tf.sw[i].Node().Port(2), tf.sw[i+1].Node().Port(1))
	}
	tf.connect(tf.sw[n-1].Node().Port(2), b.port())
	for i, s := range tf.sw {
		must(t, s.SetLID(wire.LID(10+i), 0))
		must(t, s.SetRoute(1, 1))
		must(t, s.SetRoute(2, 2))
		for j := range tf.sw {
			port := uint8(0)
			switch {
			case j < i:
				port = 1
			case j > i:
				port = 2
			}
			must(t, s.SetRoute(wire.LID(10+j), port))
		}
	}
	tf.start()
	tf.activate()
	return tf, a, b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func counter(p *emu.Port, name string) uint64 {
	c := &p.Counters
	switch name {
	case "XmitPkts":
		return c.XmitPkts.Load()
	case "RcvPkts":
		return c.RcvPkts.Load()
	case "XmitData":
		return c.XmitData.Load()
	case "RcvData":
		return c.RcvData.Load()
	case "RcvSwitchRelayErrors":
		return c.RcvSwitchRelayErrors.Load()
	case "XmitDiscards":
		return c.XmitDiscards.Load()
	case "RcvConstraintErrors":
		return c.RcvConstraintErrors.Load()
	case "XmitConstraintErrors":
		return c.XmitConstraintErrors.Load()
	case "PKeyViolations":
		return c.PKeyViolations.Load()
	case "RcvErrors":
		return c.RcvErrors.Load()
	case "VL15Dropped":
		return c.VL15Dropped.Load()
	}
	panic(name)
}

func wantCounter(t *testing.T, p *emu.Port, name string, want uint64) {
	t.Helper()
	if got := counter(p, name); got != want {
		t.Errorf("%s: %s = %d, want %d", p, name, got, want)
	}
}

func TestLFTForwardingAcrossThreeSwitches(t *testing.T) {
	tf, a, b := line(t, 3)
	const n = 10
	var sent [][]byte
	tf.do(func() {
		for i := range n {
			f := dataFrame(t, 1, 2, 0, 0xFFFF, uint32(i), 256)
			sent = append(sent, append([]byte(nil), f...))
			a.port().Send(f)
		}
	})
	tf.settle()
	got := tf.take(b)
	if len(got) != n {
		t.Fatalf("B received %d frames, want %d", len(got), n)
	}
	for i, f := range got {
		if seq := frameSeq(t, f); seq != uint32(i) {
			t.Errorf("frame %d carries seq %d", i, seq)
		}
		if !bytes.Equal(f, sent[i]) {
			t.Errorf("frame %d changed on the way", i)
		}
	}
	if len(tf.take(a)) != 0 {
		t.Error("A received frames it did not ask for")
	}
	words := uint64(len(sent[0]) / 4)
	for _, s := range tf.sw {
		in, out := s.Node().Port(1), s.Node().Port(2)
		wantCounter(t, in, "RcvPkts", n)
		wantCounter(t, in, "RcvData", n*words)
		wantCounter(t, out, "XmitPkts", n)
		wantCounter(t, out, "XmitData", n*words)
		wantCounter(t, in, "XmitPkts", 0)
		wantCounter(t, out, "RcvPkts", 0)
		if st := s.Stats(); st.Forwarded != n || st.Dropped != 0 {
			t.Errorf("%s stats %+v", s.Node(), st)
		}
	}
	wantCounter(t, b.port(), "RcvPkts", n)

	// And back: B to A.
	tf.do(func() { b.port().Send(dataFrame(t, 2, 1, 0, 0xFFFF, 99, 64)) })
	tf.settle()
	if got := tf.take(a); len(got) != 1 || frameSeq(t, got[0]) != 99 {
		t.Fatalf("A received %d frames", len(got))
	}
	for _, s := range tf.sw {
		wantCounter(t, s.Node().Port(1), "XmitPkts", 1)
	}
}

func TestSLtoVLRemapsAndReseals(t *testing.T) {
	tf, a, b := line(t, 2)
	s2 := tf.sw[1]
	tf.do(func() {
		// Traffic entering S2 on port 1 and leaving on port 2: SL 3 -> VL 6.
		s2.SMA().Port(2).SetSLtoVL(1, 3, 6)
	})
	tf.do(func() { a.port().Send(dataFrame(t, 1, 2, 3, 0xFFFF, 7, 100)) })
	tf.settle()
	got := tf.take(b)
	if len(got) != 1 {
		t.Fatalf("B received %d frames", len(got))
	}
	if vl := wire.LRH(got[0]).VL(); vl != 6 {
		t.Errorf("frame arrived on VL %d, want 6", vl)
	}
	if err := wire.CheckPacket(got[0]); err != nil {
		t.Errorf("remapped frame: %v", err)
	}
	// SL 3 mapped to VL15 means drop (IBTA Vol 1 §7.6.6).
	tf.do(func() { s2.SMA().Port(2).SetSLtoVL(1, 3, 15) })
	tf.do(func() { a.port().Send(dataFrame(t, 1, 2, 3, 0xFFFF, 8, 100)) })
	tf.settle()
	if got := tf.take(b); len(got) != 0 {
		t.Fatal("frame mapped to VL15 was delivered")
	}
	// A relay error of the arrival port, by cause a VL mapping error
	// (IBTA Vol 1 §16.1.3.5 PortRcvSwitchRelayErrors, §16.1.4.1).
	wantCounter(t, s2.Node().Port(1), "RcvSwitchRelayErrors", 1)
	wantCounter(t, s2.Node().Port(2), "XmitDiscards", 0)
	tf.do(func() {
		if n := s2.Node().Port(1).Counters.Details().RcvErrorDetails[emu.RcvVLMapping].Load(); n != 1 {
			t.Errorf("PortVLMappingErrors = %d, want 1", n)
		}
	})
}

func TestLFTMissCountsRelayError(t *testing.T) {
	tf, a, b := line(t, 2)
	s1 := tf.sw[0]
	tf.do(func() {
		a.port().Send(dataFrame(t, 1, 77, 0, 0xFFFF, 1, 64)) // no entry (0xFF)
	})
	tf.settle()
	wantCounter(t, s1.Node().Port(1), "RcvSwitchRelayErrors", 1)
	wantCounter(t, s1.Node().Port(2), "XmitPkts", 0)

	// An entry above LinearFDBTop is a miss too.
	tf.do(func() {
		must(t, s1.SetRoute(300, 2))
		must(t, s1.SetLinearFDBTop(299))
		a.port().Send(dataFrame(t, 1, 300, 0, 0xFFFF, 2, 64))
	})
	tf.settle()
	wantCounter(t, s1.Node().Port(1), "RcvSwitchRelayErrors", 2)
	tf.do(func() {
		must(t, s1.SetLinearFDBTop(300))
		a.port().Send(dataFrame(t, 1, 300, 0, 0xFFFF, 3, 64))
	})
	tf.settle()
	wantCounter(t, s1.Node().Port(2), "XmitPkts", 1)
	// S2 has no route for 300.
	wantCounter(t, tf.sw[1].Node().Port(1), "RcvSwitchRelayErrors", 1)
	if len(tf.take(b)) != 0 {
		t.Error("B got a frame with an unrouted DLID")
	}
	// The permissive LID is for SMPs only.
	tf.do(func() { a.port().Send(dataFrame(t, 1, wire.LIDPermissive, 0, 0xFFFF, 4, 64)) })
	tf.settle()
	wantCounter(t, s1.Node().Port(1), "RcvSwitchRelayErrors", 3)
}

// star builds one switch with n CAs on ports 1..n (CA i has LID i), all
// Active.
func star(t *testing.T, n int, prof string) (*testFabric, *ibswitch.Switch, []*testCA) {
	tf := newTestFabric(t)
	s := tf.addSwitch(max(n, 4), prof)
	var cas []*testCA
	for i := 1; i <= n; i++ {
		c := tf.addCA(string(rune('A'+i-1)), wire.LID(i))
		tf.connect(c.port(), s.Node().Port(i))
		must(t, s.SetRoute(wire.LID(i), uint8(i)))
		cas = append(cas, c)
	}
	must(t, s.SetLID(100, 0))
	tf.start()
	tf.activate()
	return tf, s, cas
}

func TestMulticastReplication(t *testing.T) {
	tf, s, cas := star(t, 4, "InfiniScale-IV")
	const mlid = 0xC005
	tf.do(func() {
		for _, p := range []int{1, 2, 3} {
			must(t, s.SetMulticastPort(mlid, p, true))
		}
	})
	tf.do(func() { cas[0].port().Send(dataFrame(t, 1, mlid, 0, 0xFFFF, 5, 128)) })
	tf.settle()
	for i, c := range cas {
		got := tf.take(c)
		want := 0
		if i == 1 || i == 2 {
			want = 1
		}
		if len(got) != want {
			t.Errorf("%s got %d copies, want %d", c.name, len(got), want)
			continue
		}
		for _, f := range got {
			if frameSeq(t, f) != 5 || wire.LRH(f).DLID() != mlid {
				t.Errorf("%s: bad copy", c.name)
			}
		}
	}
	if st := s.Stats(); st.Replicated != 2 {
		t.Errorf("replicated %d, want 2", st.Replicated)
	}
	wantCounter(t, s.Node().Port(1), "XmitPkts", 0) // never back out the arrival port
	if got := s.Node().Port(2).Counters.McastXmit.Load(); got != 1 {
		t.Errorf("port 2 McastXmit = %d", got)
	}

	// Copies are independent buffers: a VL remap on one egress does not
	// touch the other.
	tf.do(func() { s.SMA().Port(3).SetSLtoVL(1, 0, 2) })
	tf.do(func() { cas[0].port().Send(dataFrame(t, 1, mlid, 0, 0xFFFF, 6, 128)) })
	tf.settle()
	g2, g3 := tf.take(cas[1]), tf.take(cas[2])
	if len(g2) != 1 || len(g3) != 1 {
		t.Fatalf("copies: %d %d", len(g2), len(g3))
	}
	if wire.LRH(g2[0]).VL() != 0 || wire.LRH(g3[0]).VL() != 2 {
		t.Errorf("VLs %d and %d, want 0 and 2", wire.LRH(g2[0]).VL(), wire.LRH(g3[0]).VL())
	}

	// An MLID without a mask is a relay error; so is one beyond the cap.
	tf.do(func() {
		cas[0].port().Send(dataFrame(t, 1, 0xC006, 0, 0xFFFF, 7, 64))
		cas[0].port().Send(dataFrame(t, 1, 0xFFFE, 0, 0xFFFF, 8, 64))
	})
	tf.settle()
	wantCounter(t, s.Node().Port(1), "RcvSwitchRelayErrors", 2)
	for _, c := range cas[1:] {
		if n := len(tf.take(c)); n != 0 {
			t.Errorf("%s got %d frames for an unknown mlid", c.name, n)
		}
	}
	if ports := s.MulticastPorts(mlid); len(ports) != 3 || ports[0] != 1 || ports[2] != 3 {
		t.Errorf("MulticastPorts = %v", ports)
	}
}

func TestMulticastDefaultPrimaryPort(t *testing.T) {
	tf, s, cas := star(t, 3, "IS3")
	// SwitchInfo DefaultMulticastPrimaryPort 2, NotPrimary 3, by Set.
	si := wire.SwitchInfo(make([]byte, wire.SMPDataSize))
	tf.do(func() {
		f := s.SwitchInfo()
		f.DefaultMulticastPrimaryPort, f.DefaultMulticastNotPrimaryPort = 2, 3
		si.Encode(&f)
	})
	r := tf.smp(cas[0], smpReq{method: wire.MethodSet, attr: wire.AttrSwitchInfo, data: si, dlid: 100, slid: 1})
	if r.Status() != 0 {
		t.Fatalf("SwitchInfo Set status %v", r.Status())
	}
	tf.do(func() { cas[0].port().Send(dataFrame(t, 1, 0xC010, 0, 0xFFFF, 1, 64)) })
	tf.settle()
	if len(tf.take(cas[1])) != 1 || len(tf.take(cas[2])) != 0 {
		t.Error("unknown MLID from a non-primary port did not go to the primary port only")
	}
	tf.do(func() { cas[1].port().Send(dataFrame(t, 2, 0xC010, 0, 0xFFFF, 2, 64)) })
	tf.settle()
	if len(tf.take(cas[2])) != 1 || len(tf.take(cas[0])) != 0 {
		t.Error("unknown MLID from the primary port did not go to the not-primary port")
	}
	// An MLID beyond MulticastFDBCap (1024 on IS3) is not in the table
	// either.
	tf.do(func() { cas[0].port().Send(dataFrame(t, 1, 0xFFFE, 0, 0xFFFF, 3, 64)) })
	tf.settle()
	if len(tf.take(cas[1])) != 1 {
		t.Error("MLID beyond the table did not go to the primary port")
	}
	wantCounter(t, s.Node().Port(1), "RcvSwitchRelayErrors", 0)
	// With NotPrimary set to the primary port itself, a packet from the
	// primary port could only go back out of it: a looping error (IBTA
	// Vol 1 §16.1.4.1 PortLoopingErrors).
	tf.do(func() {
		f := s.SwitchInfo()
		f.DefaultMulticastNotPrimaryPort = 2
		si.Encode(&f)
	})
	if r := tf.smp(cas[0], smpReq{method: wire.MethodSet, attr: wire.AttrSwitchInfo, data: si, dlid: 100, slid: 1}); r.Status() != 0 {
		t.Fatalf("SwitchInfo Set status %v", r.Status())
	}
	tf.do(func() { cas[1].port().Send(dataFrame(t, 2, 0xC010, 0, 0xFFFF, 4, 64)) })
	tf.settle()
	if len(tf.take(cas[0]))+len(tf.take(cas[1]))+len(tf.take(cas[2])) != 0 {
		t.Error("a packet whose only way on is its arrival port was forwarded")
	}
	wantCounter(t, s.Node().Port(2), "RcvSwitchRelayErrors", 1)
	tf.do(func() {
		if n := s.Node().Port(2).Counters.Details().RcvErrorDetails[emu.RcvLooping].Load(); n != 1 {
			t.Errorf("PortLoopingErrors = %d, want 1", n)
		}
	})
}

func TestMulticastFDBTopWhenSupported(t *testing.T) {
	tf := newTestFabric(t)
	p := ibswitch.DefaultProfile()
	p.CapabilityMask |= ibswitch.CapIsMulticastFDBTopSupported
	s, err := ibswitch.Add(tf.f, "S", ibswitch.Config{Profile: p, NumPorts: 4, NodeGUID: 0x10})
	must(t, err)
	a, b := tf.addCA("A", 1), tf.addCA("B", 2)
	tf.connect(a.port(), s.Node().Port(1))
	tf.connect(b.port(), s.Node().Port(2))
	tf.start()
	tf.activate()
	tf.do(func() {
		must(t, s.SetMulticastPort(0xC003, 2, true)) // raises the top to 0xC003
		a.port().Send(dataFrame(t, 1, 0xC003, 0, 0xFFFF, 1, 64))
	})
	tf.settle()
	if len(tf.take(b)) != 1 {
		t.Fatal("mlid at MulticastFDBTop not forwarded")
	}
	si := s.SwitchInfo()
	if si.MulticastFDBTop != 0xC003 {
		t.Fatalf("MulticastFDBTop = 0x%x", si.MulticastFDBTop)
	}
	// Lower the top below the MLID: the packet is dropped.
	buf := wire.SwitchInfo(make([]byte, wire.SwitchInfoSize))
	si.MulticastFDBTop = 0xC002
	buf.Encode(&si)
	tf.do(func() {
		s.SetLID(50, 0)
		must(t, s.SetRoute(1, 1))
	})
	r := tf.smp(a, smpReq{method: wire.MethodSet, attr: wire.AttrSwitchInfo, data: buf, directed: true, path: []uint8{1}})
	if r.Status() != 0 || wire.SwitchInfo(r.Data()).MulticastFDBTop() != 0xC002 {
		t.Fatalf("Set MulticastFDBTop: status %v top 0x%x", r.Status(), wire.SwitchInfo(r.Data()).MulticastFDBTop())
	}
	tf.do(func() { a.port().Send(dataFrame(t, 1, 0xC003, 0, 0xFFFF, 2, 64)) })
	tf.settle()
	if len(tf.take(b)) != 0 {
		t.Fatal("mlid above MulticastFDBTop forwarded")
	}
	wantCounter(t, s.Node().Port(1), "RcvSwitchRelayErrors", 1)
}

func TestPortStateEgressRules(t *testing.T) {
	tf, s, cas := star(t, 2, "IS3")
	out := s.Node().Port(2)
	tf.do(func() {
		// The SM has only armed port 2 (both ends).
		must(t, out.SetState(wire.PortStateDown)) // retrain: both ends Init
		must(t, out.SetState(wire.PortStateArmed))
		must(t, cas[1].port().SetState(wire.PortStateArmed))
	})
	tf.do(func() { cas[0].port().Send(dataFrame(t, 1, 2, 0, 0xFFFF, 1, 64)) })
	tf.settle()
	if len(tf.take(cas[1])) != 0 {
		t.Error("data packet left through an Armed port")
	}
	wantCounter(t, out, "XmitDiscards", 1)
	wantCounter(t, out, "XmitPkts", 0)

	// A LID-routed SMP (VL15) crosses the Armed port.
	tid := tf.sendSMP(cas[0], smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, dlid: 2, slid: 1})
	tf.settle()
	got := tf.take(cas[1])
	if len(got) != 1 {
		t.Fatalf("SMP through an Armed port: %d frames arrived", len(got))
	}
	if wire.LRH(got[0]).VL() != 15 || wire.MAD(got[0][8+12+8:]).TID() != tid {
		t.Error("wrong frame arrived")
	}

	// Data arriving on a port that is not Active is discarded too.
	tf.do(func() { cas[1].port().Send(dataFrame(t, 2, 1, 0, 0xFFFF, 2, 64)) })
	tf.settle()
	if len(tf.take(cas[0])) != 0 {
		t.Error("data packet from an Armed port was forwarded")
	}
	wantCounter(t, s.Node().Port(1), "XmitDiscards", 1)
}

func TestPKeyEnforcement(t *testing.T) {
	tf, s, cas := star(t, 2, "IS4")
	in, out := s.Node().Port(1), s.Node().Port(2)
	tf.do(func() {
		pa := s.SMA().Port(2)
		pa.SetPKey(0, 0x8001) // full member of partition 1 only
		pa.PartitionEnforcementOutbound = true
	})
	send := func(pkey uint16) int {
		tf.do(func() { cas[0].port().Send(dataFrame(t, 1, 2, 0, pkey, uint32(pkey), 64)) })
		tf.settle()
		return len(tf.take(cas[1]))
	}
	if send(0x8002) != 0 {
		t.Error("packet of partition 2 left a port enforcing partition 1")
	}
	wantCounter(t, out, "XmitConstraintErrors", 1)
	wantCounter(t, out, "PKeyViolations", 1)
	if send(0x8001) != 1 || send(0x0001) != 1 {
		t.Error("member of partition 1 (full or limited) refused by a full-member port")
	}
	if send(0xFFFF) != 0 {
		t.Error("default partition accepted by a port without it")
	}
	wantCounter(t, out, "XmitConstraintErrors", 2)

	// Inbound: port 1 holds a limited membership, as the SM copies it
	// from a limited end port. Switch enforcement checks the partition
	// only (IBTA Vol 1 §10.9.4): the limited member's own packets pass on
	// their way to a full member, and the end ports apply the full/limited
	// rule; a packet of another partition is refused.
	tf.do(func() {
		pa := s.SMA().Port(1)
		pa.SetPKey(0, 0x0001)
		pa.PartitionEnforcementInbound = true
	})
	if send(0x0001) != 1 {
		t.Error("limited packet of the port's partition refused by switch enforcement")
	}
	if send(0x8001) != 1 {
		t.Error("full-member packet refused by a limited-member port")
	}
	if send(0x8003) != 0 {
		t.Error("packet of partition 3 accepted by a port enforcing partition 1")
	}
	wantCounter(t, in, "RcvConstraintErrors", 1)
	wantCounter(t, in, "PKeyViolations", 1)
	// SMPs are never subject to partition enforcement.
	tid := tf.sendSMP(cas[0], smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, dlid: 2, slid: 1})
	tf.settle()
	if got := tf.take(cas[1]); len(got) != 1 || wire.MAD(got[0][28:]).TID() != tid {
		t.Error("SMP stopped by partition enforcement")
	}
	// Raw packets are filtered when FilterRawOutbound is set.
	raw, err := wire.EncodePacket(&wire.PacketFields{Raw: true, LRH: wire.LRHFields{LNH: wire.LNHRaw, DLID: 2, SLID: 1}, Payload: make([]byte, 16)})
	must(t, err)
	tf.do(func() {
		s.SMA().Port(1).PartitionEnforcementInbound = false
		s.SMA().Port(2).FilterRawOutbound = true
		cas[0].port().Send(raw)
	})
	tf.settle()
	if len(tf.take(cas[1])) != 0 {
		t.Error("raw packet passed FilterRawOutbound")
	}
	wantCounter(t, out, "XmitConstraintErrors", 3)
}

func TestMalformedFramesCounted(t *testing.T) {
	tf, s, cas := star(t, 2, "IS3")
	in := s.Node().Port(1)
	tf.do(func() {
		f := dataFrame(t, 1, 2, 0, 0xFFFF, 1, 64)
		wire.LRH(f).SetPktLen(wire.LRH(f).PktLen() - 1)
		wire.ResealVCRC(f)
		cas[0].port().Send(f)
		g := dataFrame(t, 1, 2, 0, 0xFFFF, 2, 64)
		wire.LRH(g).SetVL(9) // beyond OperationalVLs (VL0-7)
		wire.ResealVCRC(g)
		cas[0].port().Send(g)
	})
	tf.settle()
	wantCounter(t, in, "RcvErrors", 2)
	if len(tf.take(cas[1])) != 0 {
		t.Error("malformed frame forwarded")
	}
}
