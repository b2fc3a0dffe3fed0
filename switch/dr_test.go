package ibswitch_test

import (
	"bytes"
	"testing"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// checkDRReply checks what a directed-route response looks like when it
// reaches the requesting CA: D set, status 0, the hop pointer at 1 (the
// CA's own SMI takes it to 0), the initial path untouched and the return
// path as each node recorded it.
func checkDRReply(t *testing.T, tf *testFabric, c *testCA, r wire.SMP, path, wantReturn []uint8) {
	t.Helper()
	if r.Direction() != wire.DRReturning {
		t.Error("response without the D bit")
	}
	if r.Status() != wire.MADStatusOK {
		t.Errorf("status %v", r.Status())
	}
	if int(r.HopCount()) != len(path) {
		t.Errorf("hop count %d, want %d", r.HopCount(), len(path))
	}
	if h := r.HopPointer(); h != 1 {
		t.Errorf("hop pointer %d on arrival, want 1", h)
	}
	if !bytes.Equal(r.InitialPath()[1:1+len(path)], path) {
		t.Errorf("initial path %v, want %v", r.InitialPath()[1:1+len(path)], path)
	}
	if got := r.ReturnPath()[1 : 1+len(wantReturn)]; !bytes.Equal(got, wantReturn) {
		t.Errorf("return path %v, want %v", got, wantReturn)
	}
	// The CA's SMI delivers it to its SM with the hop pointer at 0.
	cp := wire.SMP(append([]byte(nil), r...))
	tf.do(func() {
		route, err := agent.RouteDR(c.port(), cp)
		if err != nil || route.Action != wire.DRDeliver || !route.ToSM || cp.HopPointer() != 0 {
			t.Errorf("requester's SMI: %+v %v hop %d", route, err, cp.HopPointer())
		}
	})
}

func TestDRNodeInfoThroughFiveSwitches(t *testing.T) {
	tf, a, _ := line(t, 5)
	path := []uint8{1, 2, 2, 2, 2}
	r := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path})
	checkDRReply(t, tf, a, r, path, []uint8{1, 1, 1, 1, 1})
	ni := wire.NodeInfo(r.Data()).Fields()
	s5 := tf.sw[4]
	if ni.NodeGUID != s5.GUID() || ni.PortGUID != s5.GUID() || ni.NodeType != wire.NodeTypeSwitch {
		t.Errorf("NodeInfo %+v is not S5's", ni)
	}
	if ni.LocalPortNum != 1 || ni.NumPorts != 8 || ni.DeviceID != 0xB924 || ni.VendorID != 0x0002C9 {
		t.Errorf("NodeInfo %+v", ni)
	}
	for i, s := range tf.sw {
		want := uint64(2) // out and back
		if i == 4 {
			want = 0
		}
		if st := s.Stats(); st.DRRelayed != want {
			t.Errorf("%s relayed %d DR SMPs, want %d", s.Node(), st.DRRelayed, want)
		}
	}
	if st := s5.Stats(); st.SMPReplies != 1 {
		t.Errorf("S5 sent %d replies", st.SMPReplies)
	}
	// Every hop counted the SMP once each way on VL15.
	for _, s := range tf.sw[:4] {
		wantCounter(t, s.Node().Port(2), "XmitPkts", 1)
		wantCounter(t, s.Node().Port(2), "RcvPkts", 1)
	}
}

func TestDRPathTurningBack(t *testing.T) {
	tf, a, _ := line(t, 3)
	// A -> S1 (out 2) -> S2 (out 1, back where it came from) -> S1 again.
	path := []uint8{1, 2, 1}
	r := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path})
	checkDRReply(t, tf, a, r, path, []uint8{1, 1, 2})
	ni := wire.NodeInfo(r.Data()).Fields()
	if ni.NodeGUID != tf.sw[0].GUID() || ni.LocalPortNum != 2 {
		t.Errorf("NodeInfo GUID %v port %d, want S1 port 2", ni.NodeGUID, ni.LocalPortNum)
	}
}

func TestDRParallelLinks(t *testing.T) {
	tf := newTestFabric(t)
	a := tf.addCA("A", 1)
	s1, s2 := tf.addSwitch(8, "IS4"), tf.addSwitch(8, "IS4")
	tf.connect(a.port(), s1.Node().Port(1))
	tf.connect(s1.Node().Port(2), s2.Node().Port(1))
	tf.connect(s1.Node().Port(3), s2.Node().Port(3)) // parallel link
	tf.start()
	for _, c := range []struct {
		out  uint8
		want uint8
	}{{2, 1}, {3, 3}} {
		path := []uint8{1, c.out}
		r := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path})
		checkDRReply(t, tf, a, r, path, []uint8{1, c.want})
		if ni := wire.NodeInfo(r.Data()).Fields(); ni.NodeGUID != s2.GUID() || ni.LocalPortNum != c.want {
			t.Errorf("via S1 port %d: NodeInfo port %d of %v, want port %d of S2", c.out, ni.LocalPortNum, ni.NodeGUID, c.want)
		}
	}
	// DR SMPs work on links that are only in Init (no SM has run).
	if st := s1.Node().Port(3).State(); st != wire.PortStateInit {
		t.Fatalf("port state %v", st)
	}
}

func TestDRLIDRoutedLeadIn(t *testing.T) {
	tf, a, _ := line(t, 5)
	// LID-routed from A (LID 1) to S2 (LID 11), then directed S2 -> S3 ->
	// S4 -> S5; the answer returns directed to S2 and LID-routed to A.
	path := []uint8{2, 2, 2}
	tid := tf.sendSMP(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path,
		drSLID: 1, dlid: 11, slid: 1})
	r, fr := tf.awaitSMP(a, tid)
	if r.Direction() != wire.DRReturning || r.Status() != 0 {
		t.Fatalf("D %v status %v", r.Direction(), r.Status())
	}
	if r.HopPointer() != 0 {
		t.Errorf("hop pointer %d after the LID-routed return, want 0", r.HopPointer())
	}
	if got := r.ReturnPath()[1:4]; !bytes.Equal(got, []uint8{1, 1, 1}) {
		t.Errorf("return path %v", got)
	}
	if l := wire.LRH(fr); l.DLID() != 1 || l.SLID() != 11 {
		t.Errorf("return lead-in LRH %d <- %d, want 1 <- 11", l.DLID(), l.SLID())
	}
	if ni := wire.NodeInfo(r.Data()).Fields(); ni.NodeGUID != tf.sw[4].GUID() || ni.LocalPortNum != 1 {
		t.Errorf("NodeInfo %v port %d", ni.NodeGUID, ni.LocalPortNum)
	}
	// S1 only LID-routed it; S2 started and ended the directed part.
	if st := tf.sw[0].Stats(); st.DRRelayed != 0 || st.Forwarded != 2 {
		t.Errorf("S1 stats %+v", st)
	}
	if st := tf.sw[1].Stats(); st.DRRelayed != 2 {
		t.Errorf("S2 relayed %d", st.DRRelayed)
	}
	cp := wire.SMP(append([]byte(nil), r...))
	tf.do(func() {
		route, err := agent.RouteDR(a.port(), cp)
		if err != nil || route.Action != wire.DRDeliver || !route.ToSM {
			t.Errorf("requester's SMI: %+v %v", route, err)
		}
	})
}

func TestDRLIDRoutedTail(t *testing.T) {
	tf, a, _ := line(t, 5)
	// Directed A -> S1 -> S2, then LID-routed to S5 (LID 14).
	path := []uint8{1, 2}
	r := tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path, drDLID: 14})
	checkDRReply(t, tf, a, r, path, []uint8{1, 1})
	if ni := wire.NodeInfo(r.Data()).Fields(); ni.NodeGUID != tf.sw[4].GUID() || ni.LocalPortNum != 1 {
		t.Errorf("NodeInfo %v port %d, want S5 port 1", ni.NodeGUID, ni.LocalPortNum)
	}
	if st := tf.sw[2].Stats(); st.DRRelayed != 0 {
		t.Errorf("S3 relayed %d DR SMPs on a LID-routed tail", st.DRRelayed)
	}
	// A DrDLID that names the end switch itself delivers there.
	r = tf.smp(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: path, drDLID: 11})
	if ni := wire.NodeInfo(r.Data()).Fields(); ni.NodeGUID != tf.sw[1].GUID() {
		t.Errorf("tail to own LID answered by %v", ni.NodeGUID)
	}
}

func TestDRBadPathsDropped(t *testing.T) {
	tf, a, _ := line(t, 2)
	s1 := tf.sw[0]
	// InitialPath names port 7 of S1, which has no link.
	tf.sendSMP(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: []uint8{1, 7, 1}})
	// InitialPath names port 200, which S1 does not have.
	tf.sendSMP(a, smpReq{method: wire.MethodGet, attr: wire.AttrNodeInfo, directed: true, path: []uint8{1, 200, 1}})
	tf.settle()
	wantCounter(t, s1.Node().Port(1), "VL15Dropped", 2)
	if got := tf.take(a); len(got) != 0 {
		t.Errorf("A got %d frames for dropped SMPs", len(got))
	}
	// A hop pointer of 0 arriving from a port (the sender did not advance
	// it) is dropped too.
	tf.do(func() {
		smp := wire.SMP(make([]byte, wire.MADSize))
		f := wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo, HopCount: 1,
			DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
		f.InitialPath[1] = 1
		smp.Encode(&f)
		ad := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
		fr, err := agent.AppendFrame(nil, &ad, smp)
		must(t, err)
		a.port().Send(fr)
	})
	tf.settle()
	wantCounter(t, s1.Node().Port(1), "VL15Dropped", 3)
}
