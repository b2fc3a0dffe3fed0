package attach

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
	"github.com/ibemu/ibemu/stack/verbs"
)

var dpSeq atomic.Uint32

// noLeaks checks, after every other cleanup of the test, that the test
// left no goroutine behind.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// dpEnv is a served fabric (testNet) with its data-path endpoint and our
// SM running on Hca4 over the ibsim protocol.
type dpEnv struct {
	srv  *Server
	dp   *DataPathServer
	dc   DialConfig         // how ibsim clients attach
	hc   DataPathDialConfig // how data-path hosts attach (Node empty)
	smc  *Client
	m    *sm.SM
	stop func()
}

// freePort finds a port free for TCP and for the UDP control socket and
// its slots.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port+8 > 65000 {
			continue
		}
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue
		}
		_ = u.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// startDP starts the server in local (abstract sockets, Linux) or remote
// (UDP + TCP on loopback) mode, its data-path endpoint, and the SM.
func startDP(t testing.TB, remote bool) *dpEnv {
	t.Helper()
	if !remote && runtime.GOOS != "linux" {
		t.Skip("local mode uses abstract unix sockets, which only Linux has")
	}
	cfg := Config{Topology: parseTestNet(t), Logger: testLogger(t),
		SockName: fmt.Sprintf("ibemu-dp-%d-%d", os.Getpid(), dpSeq.Add(1))}
	e := &dpEnv{dc: DialConfig{SockName: cfg.SockName, Host: "Hca4"}, hc: DataPathDialConfig{SockName: cfg.SockName}}
	if remote {
		port := freePort(t)
		cfg.Listen = "127.0.0.1:" + strconv.Itoa(port)
		e.dc.ServerName, e.dc.ServerPort = "127.0.0.1", port
		e.hc.Server = cfg.Listen
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	if e.dp, err = ListenDataPath(srv, DataPathConfig{}); err != nil {
		_ = srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if e.smc, err = Dial(ctx, &e.dc); err != nil {
		_ = srv.Close()
		t.Fatal(err)
	}
	e.m, err = sm.New(e.smc, sm.Config{SweepInterval: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- e.m.Run(rctx) }()
	e.stop = func() {
		rcancel()
		<-runDone
		_ = e.m.Close()
		_ = e.smc.Close()
		_ = e.dp.Close()
		_ = srv.Close()
	}
	t.Cleanup(e.stop)
	if err := e.m.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

// attachHost attaches a data-path host in place of node and waits for
// its port to be Active.
func (e *dpEnv) attachHost(t testing.TB, node string) *DataPathHost {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c := e.hc
	c.Node, c.Logger = node, testLogger(t)
	h, err := DialDataPath(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if err := h.WaitActive(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// rcEnd is one end of an RC connection on a data-path host.
type rcEnd struct {
	h   *DataPathHost
	ctx *verbs.Context
	pd  *verbs.PD
	cq  *verbs.CQ
	mr  *verbs.MR
	qp  *verbs.QP
	lid wire.LID
}

func newRCEnd(t testing.TB, h *DataPathHost, bufLen int) *rcEnd {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	e := &rcEnd{h: h, lid: h.LID()}
	var err error
	e.ctx, err = verbs.Open(h.HCA())
	must(err)
	e.pd, err = e.ctx.AllocPD()
	must(err)
	e.cq, err = e.ctx.CreateCQ(4096, nil)
	must(err)
	e.mr, err = e.pd.RegMR(make([]byte, bufLen), hv.AccessLocalWrite|hv.AccessRemoteWrite|hv.AccessRemoteRead)
	must(err)
	e.qp, err = e.pd.CreateQP(verbs.QPInitAttr{SendCQ: e.cq, RecvCQ: e.cq, QPType: hv.QPTypeRC,
		Cap: verbs.QPCap{MaxSendWR: 1024, MaxRecvWR: 1024, MaxSendSGE: 1, MaxRecvSGE: 1}})
	must(err)
	return e
}

// rcConnect brings both QPs to RTS aimed at each other, with the given
// local ACK timeout exponent and retry count.
func rcConnect(t testing.TB, a, b *rcEnd, timeout, retry uint8) {
	t.Helper()
	for _, p := range [][2]*rcEnd{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		port := uint8(x.h.Port())
		steps := []struct {
			attr verbs.QPAttr
			mask verbs.AttrMask
		}{
			{verbs.QPAttr{QPState: hv.QPStateInit, PortNum: port, QPAccessFlags: hv.AccessRemoteWrite | hv.AccessRemoteRead},
				hv.AttrState | hv.AttrPort | hv.AttrPKeyIndex | hv.AttrAccessFlags},
			{verbs.QPAttr{QPState: hv.QPStateRTR, PathMTU: wire.MTU4096, DestQPNum: y.qp.Num(), RQPSN: 1, MaxDestRdAtomic: 4,
				MinRNRTimer: 1, AHAttr: verbs.AHAttr{DLID: y.lid, PortNum: port}},
				hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN | hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer},
			{verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1, Timeout: timeout, RetryCnt: retry, RNRRetry: 7, MaxRdAtomic: 4},
				hv.AttrState | hv.AttrSQPSN | hv.AttrTimeout | hv.AttrRetryCnt | hv.AttrRNRRetry | hv.AttrMaxQPRdAtomic},
		}
		for _, s := range steps {
			if err := x.qp.Modify(&s.attr, s.mask); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// waitWC waits for one completion on e's CQ.
func waitWC(t testing.TB, e *rcEnd, d time.Duration) verbs.WC {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wc [1]verbs.WC
	if _, err := e.cq.PollWait(ctx, wc[:]); err != nil {
		t.Fatalf("%s: no completion: %v (qp %s)", e.h.NodeID(), err, e.qp.Debug())
	}
	return wc[0]
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
}

// switchCounters reads PortCounters of Switch1 port 1 (the link to Hca1)
// through the switch's PMA, with a PerfMgt Get sent over the fabric from
// the SM's node.
func (e *dpEnv) switchCounters(t *testing.T) wire.PortCounters {
	t.Helper()
	a, err := mad.NewAgent(e.smc, mad.Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1},
		mad.Options{Timeout: 500 * time.Millisecond, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := wire.MAD(make([]byte, wire.MADSize))
	req.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGet,
		AttrID: wire.AttrPortCounters})
	wire.PortCounters(wire.PerfMAD(req).Data()).SetPortSelect(1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := a.Call(ctx, mad.Addr{LID: e.srv.lidOfTest(t, "Switch1"), QPN: 1}, req)
	if err != nil {
		t.Fatal(err)
	}
	return append(wire.PortCounters(nil), wire.PerfMAD(resp).Data()...)
}

// TestDataPathRC: two hosts take over Hca1 and Hca2 (on different
// switches) and run RC SEND, RDMA WRITE and RDMA READ through the
// server's switches; the data arrives intact and the switch's PMA counts
// the traffic.
func TestDataPathRC(t *testing.T) {
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "unix", true: "tcp"}[remote], func(t *testing.T) {
			noLeaks(t)
			e := startDP(t, remote)
			ha, hb := e.attachHost(t, "Hca1"), e.attachHost(t, "Hca2")
			if ha.LID() != e.srv.lidOfTest(t, "Hca1") || hb.LID() != e.srv.lidOfTest(t, "Hca2") {
				t.Fatalf("hosts took lids %d, %d; the server's nodes have %d, %d", ha.LID(), hb.LID(),
					e.srv.lidOfTest(t, "Hca1"), e.srv.lidOfTest(t, "Hca2"))
			}
			if got := e.dp.Sessions(); len(got) != 2 || got[0].Node != "Hca1" || got[1].Node != "Hca2" {
				t.Fatalf("sessions %+v", got)
			}
			before := e.switchCounters(t)
			const n = 300 << 10
			a, b := newRCEnd(t, ha, n), newRCEnd(t, hb, n)
			rcConnect(t, a, b, 14, 7)

			// SEND of 100 KiB (25 packets at a 4 KiB MTU).
			fill(a.mr.Buf(), 1)
			if _, err := b.qp.PostRecv([]verbs.RecvWR{{WRID: 9, SGL: []verbs.SGE{b.mr.SGE(0, 100<<10)}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled,
				SGL: []verbs.SGE{a.mr.SGE(0, 100<<10)}}}); err != nil {
				t.Fatal(err)
			}
			if wc := waitWC(t, b, 10*time.Second); wc.Status != hv.WCSuccess || wc.WRID != 9 || wc.ByteLen != 100<<10 {
				t.Fatalf("receive: %+v", wc)
			}
			if wc := waitWC(t, a, 10*time.Second); wc.Status != hv.WCSuccess || wc.WRID != 1 {
				t.Fatalf("send: %+v", wc)
			}
			if !bytes.Equal(b.mr.Buf()[:100<<10], a.mr.Buf()[:100<<10]) {
				t.Fatal("SEND: the data differs")
			}

			// RDMA WRITE of 200 KiB to b at offset 100 KiB.
			fill(a.mr.Buf(), 2)
			if _, err := a.qp.PostSend([]verbs.SendWR{{WRID: 2, Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled,
				SGL: []verbs.SGE{a.mr.SGE(0, 200<<10)}, RemoteAddr: b.mr.Addr() + 100<<10, RKey: b.mr.RKey()}}); err != nil {
				t.Fatal(err)
			}
			if wc := waitWC(t, a, 10*time.Second); wc.Status != hv.WCSuccess || wc.WRID != 2 {
				t.Fatalf("write: %+v", wc)
			}
			if !bytes.Equal(b.mr.Buf()[100<<10:300<<10], a.mr.Buf()[:200<<10]) {
				t.Fatal("RDMA WRITE: the data differs")
			}

			// RDMA READ of b's first 150 KiB into a at offset 150 KiB.
			fill(b.mr.Buf()[:150<<10], 3)
			if _, err := a.qp.PostSend([]verbs.SendWR{{WRID: 3, Opcode: hv.WRRDMARead, Flags: hv.SendSignaled,
				SGL: []verbs.SGE{a.mr.SGE(150<<10, 150<<10)}, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}}); err != nil {
				t.Fatal(err)
			}
			if wc := waitWC(t, a, 10*time.Second); wc.Status != hv.WCSuccess || wc.WRID != 3 {
				t.Fatalf("read: %+v", wc)
			}
			if !bytes.Equal(a.mr.Buf()[150<<10:300<<10], b.mr.Buf()[:150<<10]) {
				t.Fatal("RDMA READ: the data differs")
			}

			// 450 KiB crossed Switch1 port 1 inbound (SEND and WRITE) and
			// 150 KiB outbound (READ responses), in 4 KiB packets.
			after := e.switchCounters(t)
			rcv := after.PortRcvData() - before.PortRcvData()
			xmit := after.PortXmitData() - before.PortXmitData()
			pkts := after.PortRcvPkts() - before.PortRcvPkts()
			t.Logf("Switch1 port 1: +%d words in, +%d words out, +%d packets in", rcv, xmit, pkts)
			if rcv < 300<<10/4 || xmit < 150<<10/4 || pkts < 75 {
				t.Errorf("Switch1 port 1 counted %d words in, %d words out, %d packets in", rcv, xmit, pkts)
			}
			for _, h := range []*DataPathHost{ha, hb} {
				st := h.Stats()
				if st.FramesIn.Load() == 0 || st.FramesOut.Load() == 0 || st.BadFrames.Load() != 0 || st.QueueDrops.Load() != 0 {
					t.Errorf("%s: in %d out %d bad %d drops %d", h.NodeID(), st.FramesIn.Load(), st.FramesOut.Load(),
						st.BadFrames.Load(), st.QueueDrops.Load())
				}
			}
			for _, x := range []*rcEnd{a, b} {
				_ = x.qp.Destroy()
				_ = x.ctx.Close()
			}
		})
	}
}

// TestDataPathRefusals: a second client on a held port, a port with an
// ibsim client (the SM), a switch, an unknown node, another version and
// a bad magic are refused with their codes; the server keeps serving.
func TestDataPathRefusals(t *testing.T) {
	noLeaks(t)
	e := startDP(t, true)
	h := e.attachHost(t, "Hca1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		node string
		code DataPathRefuseCode
	}{
		{"Hca1", DataPathRefuseBusy},
		{fmt.Sprintf("%#x", uint64(h.HCA().NodeGUID())), DataPathRefuseBusy},
		{"Hca4", DataPathRefuseInUse},
		{"Switch1", DataPathRefuseNoNode},
		{"NoSuchHca", DataPathRefuseNoNode},
		{"Hca2[2]", DataPathRefuseInUse + 100}, // port 2 exists, unlinked: accepted
	} {
		c := e.hc
		c.Node = tc.node
		x, err := DialDataPath(ctx, c)
		if tc.code > 100 {
			if err != nil {
				t.Errorf("%s: %v", tc.node, err)
				continue
			}
			if x.Port() != 2 {
				t.Errorf("%s: attached port %d", tc.node, x.Port())
			}
			_ = x.Close()
			continue
		}
		if err == nil {
			_ = x.Close()
			t.Errorf("%s: attached, want refusal %s", tc.node, tc.code)
			continue
		}
		if !errors.Is(err, ErrDataPathRefused) || !bytes.Contains([]byte(err.Error()), []byte("("+tc.code.String()+")")) {
			t.Errorf("%s: %v, want refusal %s", tc.node, err, tc.code)
		}
	}
	// Raw handshakes: another version, a bad magic, a non-HELLO.
	for _, tc := range []struct {
		msg  []byte
		code DataPathRefuseCode
	}{
		{func() []byte {
			b, _ := (&DataPathHelloMsg{Version: 2, Node: "Hca3"}).Encode()
			m, _ := AppendDataPathMsg(nil, DataPathHello, b)
			return m
		}(), DataPathRefuseVersion},
		{func() []byte {
			b, _ := (&DataPathHelloMsg{Version: 1, Node: "Hca3"}).Encode()
			copy(b, "IBSIM-XX")
			m, _ := AppendDataPathMsg(nil, DataPathHello, b)
			return m
		}(), DataPathRefuseBadHello},
		{func() []byte { m, _ := AppendDataPathMsg(nil, DataPathFrame, make([]byte, 30)); return m }(), DataPathRefuseBadHello},
		{[]byte{1, 0xFF, 0xFF, 0xFF}, DataPathRefuseBadHello},
	} {
		c, err := net.Dial("tcp", e.hc.Server)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(tc.msg); err != nil {
			t.Fatal(err)
		}
		var hdr [4]byte
		if _, err := c.Read(hdr[:]); err != nil {
			t.Fatalf("code %s: %v", tc.code, err)
		}
		body := make([]byte, int(hdr[2])<<8|int(hdr[3]))
		if _, err := c.Read(body); err != nil && len(body) > 0 {
			t.Fatal(err)
		}
		_ = c.Close()
		r, err := ParseDataPathRefuse(body)
		if DataPathMsgType(hdr[0]) != DataPathRefuse || err != nil || r.Code != tc.code {
			t.Errorf("got %s %+v %v, want refusal %s", DataPathMsgType(hdr[0]), r, err, tc.code)
		}
	}
	if got := e.dp.Stats().Refused.Load(); got != 9 {
		t.Errorf("refused %d, want 9", got)
	}
	// The holder still works: its port is Active and the server answers.
	if err := h.WaitActive(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDataPathClientVanishes: a host dies in the middle of a stream of
// RDMA WRITEs: its peer's QP completes with retry exceeded, the server
// keeps running, the node's own device takes the port back (the SM brings
// it to Active again), and a new host attaches and talks.
func TestDataPathClientVanishes(t *testing.T) {
	noLeaks(t)
	e := startDP(t, true)
	ha, hb := e.attachHost(t, "Hca1"), e.attachHost(t, "Hca2")
	a, b := newRCEnd(t, ha, 1<<20), newRCEnd(t, hb, 1<<20)
	rcConnect(t, a, b, 14, 2) // 67 ms ACK timeout, 2 retries
	var wrs []verbs.SendWR
	for i := range 512 {
		wrs = append(wrs, verbs.SendWR{WRID: uint64(i), Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, 64<<10)}, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()})
	}
	if _, err := a.qp.PostSend(wrs); err != nil {
		t.Fatal(err)
	}
	if wc := waitWC(t, a, 10*time.Second); wc.Status != hv.WCSuccess {
		t.Fatalf("first write: %+v", wc)
	}
	hb.Abort() // the process dies: no BYE
	var status hv.WCStatus
	deadline := time.Now().Add(20 * time.Second)
	for status == hv.WCSuccess && time.Now().Before(deadline) {
		status = waitWC(t, a, 20*time.Second).Status
	}
	if status != hv.WCRetryExcErr {
		t.Fatalf("after the peer vanished: status %s, want retry exceeded", status)
	}
	select {
	case <-e.srv.Done():
		t.Fatal("the server stopped")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for len(e.dp.Sessions()) != 1 {
		if ctx.Err() != nil {
			t.Fatalf("sessions %+v", e.dp.Sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The node's own device answers on the port again: its SMA is reached
	// by LID once the SM has brought the port back to Active.
	for {
		var st wire.PortState
		_ = e.srv.Fabric().Do(func() { st = e.srv.byID["Hca2"].en.Port(1).State() })
		if st == wire.PortStateActive {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Hca2 port 1 is %s after the host vanished", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e.srv.byID["Hca2"].en.Port(1).Counters.LinkDowned.Load() == 0 {
		t.Error("the link did not go down when the host vanished")
	}
	hb2 := e.attachHost(t, "Hca2")
	c := newRCEnd(t, hb2, 1<<20)
	a2 := newRCEnd(t, ha, 1<<20)
	rcConnect(t, a2, c, 14, 7)
	fill(a2.mr.Buf(), 5)
	if _, err := c.qp.PostRecv([]verbs.RecvWR{{WRID: 1, SGL: []verbs.SGE{c.mr.SGE(0, 1<<20)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled,
		SGL: []verbs.SGE{a2.mr.SGE(0, 1<<20)}}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitWC(t, c, 10*time.Second); wc.Status != hv.WCSuccess || wc.ByteLen != 1<<20 {
		t.Fatalf("receive on the new host: %+v", wc)
	}
	if !bytes.Equal(c.mr.Buf(), a2.mr.Buf()) {
		t.Fatal("the data differs")
	}
	for _, x := range []*rcEnd{a, b, c, a2} {
		_ = x.qp.Destroy()
		_ = x.ctx.Close()
	}
}

// TestDataPathBadFrames: frames that fail validation are counted and
// dropped, and the session goes on.
func TestDataPathBadFrames(t *testing.T) {
	noLeaks(t)
	e := startDP(t, true)
	c, err := net.Dial("tcp", e.hc.Server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := (&DataPathHelloMsg{Version: 1, Node: "Hca3", PID: 42}).Encode()
	msg, _ := AppendDataPathMsg(nil, DataPathHello, b)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	typ, body, err := readDataPathMsg(r)
	if err != nil || typ != DataPathWelcome {
		t.Fatalf("%s %v", typ, err)
	}
	w, err := ParseDataPathWelcome(body)
	if err != nil || w.NodeID != "Hca3" || wire.PortInfo(w.PortInfo).LID() != e.srv.lidOfTest(t, "Hca3") {
		t.Fatalf("welcome %+v %v", w, err)
	}
	// Too short, too long, link version 15, a corrupted VCRC.
	lver := make([]byte, 40)
	lver[0] = 0x0F
	crc := make([]byte, 40)
	crc[1] = 2 // LNH 2 (IBA local)
	binary.BigEndian.PutUint16(crc[2:], 0x0001)
	binary.BigEndian.PutUint16(crc[4:], 10) // PktLen: 38 bytes + VCRC
	bad := [][]byte{make([]byte, 5), make([]byte, 9000), lver, crc}
	var out []byte
	for _, f := range bad {
		out, _ = AppendDataPathMsg(out, DataPathFrame, f)
	}
	out, _ = AppendDataPathMsg(out, 0x7F, []byte("a message type of a later version"))
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for e.dp.Stats().BadFrames.Load() != uint64(len(bad)) {
		if ctx.Err() != nil {
			t.Fatalf("bad frames %d, want %d", e.dp.Stats().BadFrames.Load(), len(bad))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(e.dp.Sessions()) != 1 {
		t.Fatal("the session ended on bad frames")
	}
	// A length beyond the limit breaks the framing: the session ends.
	if _, err := c.Write([]byte{byte(DataPathFrame), 0, 0xFF, 0xFF}); err != nil {
		t.Fatal(err)
	}
	for len(e.dp.Sessions()) != 0 {
		if ctx.Err() != nil {
			t.Fatal("the session survived a broken frame header")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dpTestHandler records what a reader hands over; its loop runs posted
// functions only when told to.
type dpTestHandler struct {
	mu     sync.Mutex
	posted []func()
	got    [][]byte
}

func (h *dpTestHandler) enter(fn func()) {
	h.mu.Lock()
	h.posted = append(h.posted, fn)
	h.mu.Unlock()
}

func (h *dpTestHandler) frames(b [][]byte) { h.got = append(h.got, b...) }

func (h *dpTestHandler) control(DataPathMsgType, []byte) error { return nil }

func (h *dpTestHandler) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.posted)
}

// runAll runs the posted functions, as the event loop would.
func (h *dpTestHandler) runAll() {
	h.mu.Lock()
	fns := h.posted
	h.posted = nil
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// testFrame is a sealed raw frame (LNH 0) of n bytes (n-2 a multiple of
// 4) with a marker.
func testFrame(n int, mark byte) []byte {
	f := make([]byte, n)
	binary.BigEndian.PutUint16(f[2:], 0x0001)
	binary.BigEndian.PutUint16(f[4:], uint16((n-wire.VCRCSize)/4))
	f[8] = mark
	wire.ResealVCRC(f)
	return f
}

// TestDataPathFlowControl: the send queue holds at most its bound (the
// rest is dropped and counted, never buffered), and a reader whose event
// loop does not take its batches stops reading, so the sender's socket
// fills instead of memory.
func TestDataPathFlowControl(t *testing.T) {
	noLeaks(t)
	a, b := net.Pipe()
	var st DataPathStats
	pa := newDPPipe(a, bufio.NewReader(a), &st, 4)
	for i := range 10 {
		pa.sendFrame(testFrame(66, byte(i)))
	}
	if st.QueueDrops.Load() != 6 {
		t.Fatalf("drops %d, want 6", st.QueueDrops.Load())
	}
	var rst DataPathStats
	pb := newDPPipe(b, bufio.NewReaderSize(b, 4096), &rst, 4)
	h := &dpTestHandler{}
	readErr := make(chan error, 1)
	go func() { readErr <- pb.readLoop(h) }()
	go pa.writeLoop()
	// The four queued frames arrive, in order.
	deadline := time.Now().Add(5 * time.Second)
	for rst.FramesIn.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.runAll()
	if len(h.got) != 4 || h.got[0][8] != 0 || h.got[3][8] != 3 {
		t.Fatalf("got %d frames", len(h.got))
	}
	// Now the loop stalls: the reader keeps at most dataPathInflight
	// batches outstanding and then stops reading; the sender's writes
	// block (net.Pipe has no buffer) and its queue fills to the bound.
	sent := 0
	for time.Now().Before(deadline) && st.QueueDrops.Load() == 6 {
		pa.sendFrame(testFrame(2050, 0xAA))
		sent++
		time.Sleep(50 * time.Microsecond)
	}
	if st.QueueDrops.Load() == 6 {
		t.Fatal("the sender's queue never filled while the reader's loop stalled")
	}
	if n := h.pending(); n > dataPathInflight {
		t.Fatalf("%d batches outstanding, the bound is %d", n, dataPathInflight)
	}
	if in := rst.FramesIn.Load(); in >= uint64(4+sent) {
		t.Fatalf("the reader took all %d frames while its loop stalled", in)
	}
	// Once the loop runs again, everything not dropped arrives.
	byeDone := make(chan struct{})
	go func() {
		pa.bye(10 * time.Second)
		close(byeDone)
	}()
	defer func() { <-byeDone }()
	for {
		h.runAll()
		select {
		case err := <-readErr:
			h.runAll()
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(4+sent) - (st.QueueDrops.Load() - 6)
			if uint64(len(h.got)) != want || rst.FramesIn.Load() != want {
				t.Fatalf("got %d frames (%d read), want %d", len(h.got), rst.FramesIn.Load(), want)
			}
			pb.close(nil)
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// dpTestLoop stands in for an event loop in pipe tests: functions kicked
// to it run one at a time on its goroutine, in order.
type dpTestLoop struct {
	q    chan func()
	done chan struct{}
	ran  atomic.Int64
}

func newDPTestLoop() *dpTestLoop {
	l := &dpTestLoop{q: make(chan func(), 1<<16), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for fn := range l.q {
			fn()
			l.ran.Add(1)
		}
	}()
	return l
}

// kick queues fn (a dpPipe's kick: it must not run fn in the caller,
// which holds the pipe's lock).
func (l *dpTestLoop) kick(fn func()) { l.q <- fn }

// do runs fn on the loop and waits for it.
func (l *dpTestLoop) do(fn func()) {
	ran := make(chan struct{})
	l.q <- func() { fn(); close(ran) }
	<-ran
}

func (l *dpTestLoop) stop() {
	close(l.q)
	<-l.done
}

// dpSocketPair is a connected pair of unix stream sockets (a real
// descriptor each, so writes from the loop can happen).
func dpSocketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("abstract unix sockets are Linux's")
	}
	name := fmt.Sprintf("@ibemu-dp-pair-%d-%d", os.Getpid(), dpSeq.Add(1))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   *net.UnixConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.AcceptUnix()
		ch <- res{c, err}
	}()
	a, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return a, r.c
}

// TestDataPathLoopWrites: frames queued on the event loop go out in
// flushes on the loop, many per system call, in order and intact; when
// the socket is full the writer goroutine takes the rest over and the
// loop only queues; frames the loop or the goroutine wrote are all handed
// back to recycle, on the loop, once each; and BYE ends the stream after
// everything queued before it.
func TestDataPathLoopWrites(t *testing.T) {
	noLeaks(t)
	a, b := dpSocketPair(t)
	loop := newDPTestLoop()
	defer loop.stop()
	var st DataPathStats
	pa := newDPPipe(a, nil, &st, 1<<16)
	if pa.raw == nil {
		t.Fatal("a unix socket has no raw writer")
	}
	// A small send buffer makes the loop's writes come short, so the
	// writer goroutine has to finish them.
	if err := a.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	pa.kick = loop.kick
	recycled := map[*byte]int{}
	pa.recycle = func(f []byte) { recycled[&f[0]]++ } // on the loop only
	wdone := make(chan struct{})
	go func() { pa.writeLoop(); close(wdone) }()

	var rst DataPathStats
	pb := newDPPipe(b, nil, &rst, 1<<16)
	h := &dpTestHandler{}
	readErr := make(chan error, 1)
	go func() { readErr <- pb.readLoop(h) }()

	// Bursts of frames of mixed sizes, each burst queued by one "event",
	// while the reader's loop runs what it is handed.
	const bursts, per = 200, 40
	var sent [][]byte
	for i := range bursts {
		var burst [][]byte
		for j := range per {
			n := 26 + 4*((i*per+j)%1000)
			f := testFrame(n, byte(i*per+j))
			binary.BigEndian.PutUint32(f[12:], uint32(i*per+j)) // a serial number in the LRH's payload
			wire.ResealVCRC(f)
			burst = append(burst, f)
		}
		sent = append(sent, burst...)
		loop.do(func() {
			for _, f := range burst {
				pa.sendFrame(f)
			}
		})
		h.runAll()
	}
	loop.do(func() { pa.sendCtl(DataPathBye, nil) })
	deadline := time.After(20 * time.Second)
	for {
		h.runAll()
		select {
		case err := <-readErr:
			h.runAll()
			if err != nil {
				t.Fatal(err)
			}
			goto read
		case <-deadline:
			t.Fatalf("the reader got %d of %d frames", rst.FramesIn.Load(), len(sent))
		case <-time.After(time.Millisecond):
		}
	}
read:
	<-wdone
	pa.close(nil)
	pb.close(nil)
	if len(h.got) != len(sent) {
		t.Fatalf("got %d frames, sent %d", len(h.got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(h.got[i], sent[i]) {
			t.Fatalf("frame %d differs (%d bytes, sent %d)", i, len(h.got[i]), len(sent[i]))
		}
	}
	if st.FramesOut.Load() != uint64(len(sent)) || rst.FramesIn.Load() != uint64(len(sent)) || st.QueueDrops.Load() != 0 {
		t.Fatalf("out %d in %d drops %d, sent %d", st.FramesOut.Load(), rst.FramesIn.Load(), st.QueueDrops.Load(), len(sent))
	}
	// Every frame was handed back once (after the goroutine's writes the
	// hand-back is queued on the loop: wait for it).
	loop.do(func() {})
	if len(recycled) != len(sent) {
		t.Errorf("%d frames recycled, sent %d", len(recycled), len(sent))
	}
	for _, n := range recycled {
		if n != 1 {
			t.Fatalf("a frame was recycled %d times", n)
		}
	}
	// Batching: far fewer flushes than frames (the loop ran one flush
	// per burst at most, besides the bursts and the hand-backs).
	if ran := loop.ran.Load(); ran > 3*bursts+10 {
		t.Errorf("the loop ran %d functions for %d bursts", ran, bursts)
	}
}

// TestDataPathReaderSlabs: the reader takes messages out of its buffers
// without a copy yet never hands out bytes it later overwrites: frames
// that straddle buffers, and ones handed out long before, keep their
// contents.
func TestDataPathReaderSlabs(t *testing.T) {
	noLeaks(t)
	a, b := net.Pipe()
	var rst DataPathStats
	pb := newDPPipe(b, nil, &rst, 4)
	h := &dpTestHandler{}
	readErr := make(chan error, 1)
	go func() { readErr <- pb.readLoop(h) }()
	var sent [][]byte
	var stream []byte
	for i := range 600 { // about 3 MB: a dozen buffers
		f := testFrame(26+4*((i*37)%1500), byte(i))
		binary.BigEndian.PutUint32(f[12:], uint32(i))
		wire.ResealVCRC(f)
		sent = append(sent, f)
		stream, _ = AppendDataPathMsg(stream, DataPathFrame, f)
	}
	stream, _ = AppendDataPathMsg(stream, DataPathBye, nil)
	go func() {
		// Odd-sized writes, so messages straddle reads and buffers.
		for len(stream) > 0 {
			n := min(len(stream), 7919)
			if _, err := a.Write(stream[:n]); err != nil {
				return
			}
			stream = stream[n:]
		}
	}()
	for {
		h.runAll()
		select {
		case err := <-readErr:
			h.runAll()
			if err != nil {
				t.Fatal(err)
			}
			_ = a.Close()
			pb.close(nil)
			if len(h.got) != len(sent) {
				t.Fatalf("got %d frames, sent %d", len(h.got), len(sent))
			}
			for i := range sent {
				if !bytes.Equal(h.got[i], sent[i]) {
					t.Fatalf("frame %d differs", i)
				}
				if cap(h.got[i]) != len(h.got[i]) {
					t.Fatalf("frame %d has room beyond its end (cap %d, len %d): an append would write into the next", i,
						cap(h.got[i]), len(h.got[i]))
				}
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// TestDataPathHoldKeepsWelcomeFirst: frames queued for a port between
// the session's install and the welcome (the loop may route frames to it
// at once) are written only after release, so the client reads the
// welcome first ("FRAME instead of welcome" otherwise), on the loop's
// writev path and on the writer goroutine's.
func TestDataPathHoldKeepsWelcomeFirst(t *testing.T) {
	noLeaks(t)
	for _, viaLoop := range []bool{true, false} {
		a, b := dpSocketPair(t)
		loop := newDPTestLoop()
		var st DataPathStats
		pa := newDPPipe(a, nil, &st, 1<<16)
		if viaLoop {
			pa.kick = loop.kick
		}
		pa.hold()
		const n = 50
		loop.do(func() {
			for i := range n {
				pa.sendFrame(testFrame(64, byte(i)))
			}
		})
		loop.do(func() {}) // a flush the frames queued has run
		welcome, err := AppendDataPathMsg(nil, DataPathWelcome, []byte("welcome"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(welcome); err != nil {
			t.Fatal(err)
		}
		pa.release()
		wdone := make(chan struct{})
		go func() { pa.writeLoop(); close(wdone) }()
		r := bufio.NewReader(b)
		_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := range n + 1 {
			typ, _, err := readDataPathMsg(r)
			if err != nil {
				t.Fatalf("via loop %v: message %d: %v", viaLoop, i, err)
			}
			if want := map[bool]DataPathMsgType{true: DataPathWelcome, false: DataPathFrame}[i == 0]; typ != want {
				t.Fatalf("via loop %v: message %d is %s, want %s", viaLoop, i, typ, want)
			}
		}
		pa.close(nil)
		<-wdone
		loop.stop()
	}
}
