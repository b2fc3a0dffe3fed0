package cm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/cm"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/verbs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is one HCA port with a CM and verbs objects.
type node struct {
	name string
	cm   *cm.CM
	ctx  *verbs.Context
	pd   *verbs.PD
	cq   *verbs.CQ
	mr   *verbs.MR
	lid  wire.LID
	gid  wire.GID
}

// fabric is a switch with three HCAs brought up by the SM (on the first).
func fabric(t testing.TB, opts ...ibtest.Option) *ibtest.UpFabric {
	t.Helper()
	return ibtest.Up(t, ibtest.Line(1, 3), opts...)
}

// newNode opens HCA i; wrap, when not nil, wraps its MAD transport.
func newNode(t testing.TB, f *ibtest.UpFabric, i int, wrap func(mad.Transport) mad.Transport) *node {
	t.Helper()
	h := f.HCAs[i]
	tr, err := f.MADTransport(h.Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		tr = wrap(tr)
	}
	n := &node{name: h.Topo.ID}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	n.ctx, err = verbs.Open(h.Device)
	must(err)
	n.cm, err = cm.New(tr, n.ctx, 1, cm.Options{})
	must(err)
	t.Cleanup(func() {
		if err := n.cm.Close(); err != nil {
			t.Error(err)
		}
		tr.Close()
		n.ctx.Close()
	})
	n.pd, err = n.ctx.AllocPD()
	must(err)
	n.cq, err = n.ctx.CreateCQ(256, nil)
	must(err)
	n.mr, err = n.pd.RegMR(make([]byte, 1<<16), hv.AccessLocalWrite|hv.AccessRemoteWrite|hv.AccessRemoteRead)
	must(err)
	pa, err := n.ctx.QueryPort(1)
	must(err)
	n.lid = pa.LID
	n.gid, err = n.ctx.QueryGID(1, 0)
	must(err)
	return n
}

func (n *node) qp(t testing.TB, typ verbs.QPType) *verbs.QP {
	t.Helper()
	qp, err := n.pd.CreateQP(verbs.QPInitAttr{SendCQ: n.cq, RecvCQ: n.cq, QPType: typ,
		Cap: verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return qp
}

// path is the path from a to b without the SA.
func path(a, b *node) *wire.PathRecordFields {
	return &wire.PathRecordFields{SLID: a.lid, DLID: b.lid, SGID: a.gid, DGID: b.gid, PKey: wire.PKeyDefault,
		MTU: wire.MTU2048, HopLimit: 0, PacketLifeTime: 10}
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// accepted is what a passive handler produced.
type accepted struct {
	conn *cm.Conn
	err  error
}

// acceptAll listens on sid and accepts every REQ with a fresh RC QP, REP
// private data repPriv (the MR's address and R_Key when nil).
func acceptAll(t testing.TB, n *node, sid uint64, p cm.AcceptParams) <-chan accepted {
	t.Helper()
	out := make(chan accepted, 16)
	_, err := n.cm.Listen(sid, func(r *cm.ConnRequest) {
		ap := p
		ap.QP = n.qp(t, hv.QPTypeRC)
		if ap.PrivateData == nil {
			ap.PrivateData = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, n.mr.RKey()), n.mr.Addr())
		}
		c, err := r.Accept(r.Context(), ap)
		out <- accepted{c, err}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wait(t testing.TB, ch <-chan accepted) accepted {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("no accept within 30 s")
	}
	return accepted{}
}

func pollOne(t testing.TB, cq *verbs.CQ) verbs.WC {
	t.Helper()
	wc := make([]verbs.WC, 1)
	n, err := cq.PollWait(tctx(t), wc)
	if err != nil || n != 1 {
		t.Fatalf("poll: %d %v", n, err)
	}
	return wc[0]
}

const sidEcho = 0x0000000001060000 | 4791

// TestConnectSendWriteDisconnect brings up a fabric with the SM, connects
// an RC QP pair through REQ/REP/RTU with the path from the SA, moves data
// with SEND and RDMA WRITE and disconnects with DREQ/DREP, private data in
// every message.
func TestConnectSendWriteDisconnect(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	acc := acceptAll(t, b, sidEcho, cm.AcceptParams{ResponderResources: 4, InitiatorDepth: 4, DREPPrivateData: []byte("drep")})
	qp := a.qp(t, hv.QPTypeRC)
	conn, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: sidEcho, QP: qp, DGID: b.gid, PrivateData: []byte("hello"),
		RTUPrivateData: []byte("rtu!"), ResponderResources: 4, InitiatorDepth: 4})
	if err != nil {
		t.Fatal(err)
	}
	pc := wait(t, acc)
	if pc.err != nil {
		t.Fatal(pc.err)
	}
	if conn.State() != cm.StateEstablished || pc.conn.State() != cm.StateEstablished {
		t.Fatalf("states %s / %s", conn.State(), pc.conn.State())
	}
	if conn.RemoteQPN() != pc.conn.QP().Num() || pc.conn.RemoteQPN() != qp.Num() {
		t.Fatalf("qpns: active sees %d (passive has %d), passive sees %d (active has %d)",
			conn.RemoteQPN(), pc.conn.QP().Num(), pc.conn.RemoteQPN(), qp.Num())
	}
	if conn.RemoteCommID() != pc.conn.LocalCommID() || pc.conn.RemoteCommID() != conn.LocalCommID() || conn.RemoteCAGUID() != b.cm.CAGUID() {
		t.Fatal("communication IDs or CA GUID do not pair up")
	}
	if got := pc.conn.PrivateData(); len(got) != wire.CMREQPrivateDataSize || !bytes.HasPrefix(got, []byte("hello")) {
		t.Fatalf("REQ private data %q", got)
	}
	if got := pc.conn.RTUPrivateData(); len(got) != wire.CMRTUPrivateDataSize || !bytes.HasPrefix(got, []byte("rtu!")) {
		t.Fatalf("RTU private data %q", got)
	}
	rep := conn.PrivateData()
	if len(rep) != wire.CMREPPrivateDataSize {
		t.Fatalf("REP private data %d bytes", len(rep))
	}
	rkey, raddr := binary.BigEndian.Uint32(rep), binary.BigEndian.Uint64(rep[4:])
	if qp.State() != hv.QPStateRTS || pc.conn.QP().State() != hv.QPStateRTS {
		t.Fatalf("qp states %s / %s", qp.State(), pc.conn.QP().State())
	}

	// SEND.
	copy(a.mr.Buf(), "payload over a CM connection")
	if _, err := pc.conn.QP().PostRecv([]verbs.RecvWR{{WRID: 9, SGL: []verbs.SGE{b.mr.SGE(0, 4096)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 28)}}}); err != nil {
		t.Fatal(err)
	}
	if wc := pollOne(t, b.cq); wc.Status != hv.WCSuccess || wc.WRID != 9 || wc.ByteLen != 28 ||
		string(b.mr.Buf()[:28]) != "payload over a CM connection" {
		t.Fatalf("receive: %+v %q", wc, b.mr.Buf()[:28])
	}
	if wc := pollOne(t, a.cq); wc.Status != hv.WCSuccess || wc.Opcode != hv.WCSend {
		t.Fatalf("send completion %+v", wc)
	}
	// RDMA WRITE to the address and R_Key from the REP's private data.
	copy(a.mr.Buf()[100:], "written by RDMA")
	if _, err := qp.PostSend([]verbs.SendWR{{WRID: 2, Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(100, 15)}, RemoteAddr: raddr + 8000, RKey: rkey}}); err != nil {
		t.Fatal(err)
	}
	if wc := pollOne(t, a.cq); wc.Status != hv.WCSuccess || wc.Opcode != hv.WCRDMAWrite {
		t.Fatalf("write completion %+v", wc)
	}
	if got := string(b.mr.Buf()[8000:8015]); got != "written by RDMA" {
		t.Fatalf("remote buffer %q", got)
	}

	// DREQ/DREP.
	if err := conn.Disconnect(tctx(t), []byte("bye")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pc.conn.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("passive side not told of the disconnect")
	}
	if !errors.Is(pc.conn.Err(), cm.ErrDisconnected) || conn.Err() != nil {
		t.Fatalf("ends: passive %v, active %v", pc.conn.Err(), conn.Err())
	}
	if got := pc.conn.DisconnectPrivateData(); !bytes.HasPrefix(got, []byte("bye")) || len(got) != wire.CMDREQPrivateDataSize {
		t.Fatalf("DREQ private data %q", got)
	}
	if s := conn.State(); s != cm.StateTimeWait && s != cm.StateIdle {
		t.Fatalf("active state after DREP: %s", s)
	}
	if qp.State() != hv.QPStateError || pc.conn.QP().State() != hv.QPStateError {
		t.Fatalf("qp states after disconnect %s / %s", qp.State(), pc.conn.QP().State())
	}
	as, bs := a.cm.Stats(), b.cm.Stats()
	for _, x := range []struct {
		what string
		got  uint64
	}{
		{"active REQ sent", as.Tx(wire.AttrCMREQ)}, {"active REP received", as.Rx(wire.AttrCMREP)},
		{"active RTU sent", as.Tx(wire.AttrCMRTU)}, {"passive RTU received", bs.Rx(wire.AttrCMRTU)},
		{"active DREQ sent", as.Tx(wire.AttrCMDREQ)}, {"passive DREP sent", bs.Tx(wire.AttrCMDREP)},
		{"active DREP received", as.Rx(wire.AttrCMDREP)},
	} {
		if x.got != 1 {
			t.Errorf("%s: %d, want 1", x.what, x.got)
		}
	}
	// Disconnecting again is a no-op.
	if err := conn.Disconnect(tctx(t), nil); err != nil {
		t.Fatal(err)
	}
}

func TestRejectNoListener(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	_, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 0x1234, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b)})
	var rej *cm.RejectError
	if !errors.As(err, &rej) || rej.Reason != wire.CMRejectInvalidServiceID || rej.MessageRejected != wire.CMMsgREQ {
		t.Fatalf("connect to nobody: %v", err)
	}
	if !errors.Is(err, cm.ErrRejected) {
		t.Fatal("RejectError does not match ErrRejected")
	}
	if s := b.cm.Stats(); s.Tx(wire.AttrCMREJ) != 1 || s.Rx(wire.AttrCMREQ) != 1 {
		t.Fatalf("passive stats %+v", s)
	}
}

func TestConsumerRejectWithPrivateData(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	if _, err := b.cm.Listen(7, func(r *cm.ConnRequest) {
		if !bytes.HasPrefix(r.PrivateData(), []byte("may I")) {
			t.Errorf("REQ private data %q", r.PrivateData())
		}
		if err := r.Reject(wire.CMRejectConsumerDefined, []byte{0xAA}, []byte("go away")); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	qp := a.qp(t, hv.QPTypeRC)
	_, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 7, QP: qp, Path: path(a, b), PrivateData: []byte("may I")})
	var rej *cm.RejectError
	if !errors.As(err, &rej) || rej.Reason != wire.CMRejectConsumerDefined || !bytes.HasPrefix(rej.PrivateData, []byte("go away")) ||
		len(rej.PrivateData) != wire.CMREJPrivateDataSize || !bytes.Equal(rej.ARI, []byte{0xAA}) {
		t.Fatalf("consumer reject: %v %+v", err, rej)
	}
	// rdma_cm moves the QP to the Error state on every REJ
	// (cma_modify_qp_err).
	if qp.State() != hv.QPStateError {
		t.Fatalf("qp state %s", qp.State())
	}
	// A handler that returns without answering rejects too.
	if _, err := b.cm.Listen(8, func(*cm.ConnRequest) {}); err != nil {
		t.Fatal(err)
	}
	_, err = a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 8, QP: qp, Path: path(a, b)})
	if !errors.As(err, &rej) || rej.Reason != wire.CMRejectConsumerDefined {
		t.Fatalf("unanswered request: %v", err)
	}
	if _, err := b.cm.Listen(8, func(*cm.ConnRequest) {}); !errors.Is(err, cm.ErrBusy) {
		t.Fatalf("second listener: %v", err)
	}
}

// TestMRAKeepsTheRequestAlive: the passive side sends MRA and accepts
// long after the active side's REQ retries would have run out.
func TestMRAKeepsTheRequestAlive(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	acc := make(chan accepted, 1)
	if _, err := b.cm.Listen(9, func(r *cm.ConnRequest) {
		// Wait 5 s of fabric time, then accept while holding the clock so
		// that nothing else expires meanwhile. The timer starts before the
		// MRA, while the CM still holds the clock for this handler.
		ready := make(chan func())
		b.cm.Clock().AfterFunc(5*time.Second, func() { ready <- f.Emu.Hold() })
		// Service timeout 22: 4.096 µs × 2^22 ≈ 17 s.
		if err := r.MRA(22, []byte("busy")); err != nil {
			t.Error(err)
		}
		if err := r.MRA(22, nil); !errors.Is(err, cm.ErrState) {
			t.Errorf("second MRA: %v", err)
		}
		release := <-ready
		go func() {
			for b.cm.Stats().Tx(wire.AttrCMREP) == 0 {
				time.Sleep(time.Millisecond)
			}
			release()
		}()
		c, err := r.Accept(r.Context(), cm.AcceptParams{QP: b.qp(t, hv.QPTypeRC)})
		acc <- accepted{c, err}
	}); err != nil {
		t.Fatal(err)
	}
	start := f.Emu.Now()
	// REQ timeout 4.096 µs × 2^16 ≈ 0.27 s, 2 retries: about 0.8 s.
	conn, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 9, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b),
		RemoteCMResponseTimeout: 16, MaxCMRetries: 2})
	if err != nil {
		t.Fatalf("%v after %v; active %+v passive %+v", err, f.Emu.Now().Sub(start), a.cm.Stats(), b.cm.Stats())
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
	if took := f.Emu.Now().Sub(start); took < 5*time.Second {
		t.Fatalf("connected after %v of fabric time, before the handler's 5 s", took)
	}
	if n := conn.MRAsReceived(); n != 1 {
		t.Fatalf("%d MRAs received", n)
	}
	if s := b.cm.Stats(); s.Tx(wire.AttrCMMRA) != 1 {
		t.Fatalf("passive sent %d MRAs", s.Tx(wire.AttrCMMRA))
	}
}

// dropTransport loses outgoing CM messages its drop function picks, like a
// lossy link would, while the rest of the transport works.
type dropTransport struct {
	mad.Transport
	drop func(m []byte) bool
}

func (d *dropTransport) Register(reg mad.Registration, deliver func(mad.Incoming)) (mad.Endpoint, error) {
	ep, err := d.Transport.Register(reg, deliver)
	if err != nil {
		return nil, err
	}
	return &dropEndpoint{ep, d.drop}, nil
}

func (d *dropTransport) HoldTime() func() { return d.Transport.(mad.TimeHolder).HoldTime() }

type dropEndpoint struct {
	mad.Endpoint
	drop func(m []byte) bool
}

func (e *dropEndpoint) Send(out mad.Outgoing) error {
	if wire.MAD(out.MAD).MgmtClass() == wire.MgmtClassCM && e.drop(out.MAD) {
		return nil
	}
	return e.Endpoint.Send(out)
}

// dropFirst loses the first n messages of attribute a.
func dropFirst(a wire.AttrID, n int32) func(mad.Transport) mad.Transport {
	var left atomic.Int32
	left.Store(n)
	return func(tr mad.Transport) mad.Transport {
		return &dropTransport{tr, func(m []byte) bool { return wire.MAD(m).AttrID() == a && left.Add(-1) >= 0 }}
	}
}

var fastTimeouts = cm.ConnectParams{RemoteCMResponseTimeout: 14, LocalCMResponseTimeout: 14, MaxCMRetries: 4}

func TestLostREPIsRetransmitted(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, dropFirst(wire.AttrCMREP, 2))
	acc := acceptAll(t, b, 11, cm.AcceptParams{})
	p := fastTimeouts
	p.ServiceID, p.QP, p.Path = 11, a.qp(t, hv.QPTypeRC), path(a, b)
	if _, err := a.cm.Connect(tctx(t), p); err != nil {
		t.Fatal(err)
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
	as, bs := a.cm.Stats(), b.cm.Stats()
	if bs.Tx(wire.AttrCMREP) != 3 || as.Rx(wire.AttrCMREP) != 1 || bs.RxDuplicates[cm.AttrIndex(wire.AttrCMREQ)] == 0 {
		t.Fatalf("REP sent %d (want 3: two lost), received %d, duplicate REQs %d",
			bs.Tx(wire.AttrCMREP), as.Rx(wire.AttrCMREP), bs.RxDuplicates[cm.AttrIndex(wire.AttrCMREQ)])
	}
}

func TestLostRTUIsRecoveredByDuplicateREP(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, dropFirst(wire.AttrCMRTU, 2)), newNode(t, f, 2, nil)
	acc := acceptAll(t, b, 12, cm.AcceptParams{})
	p := fastTimeouts
	p.ServiceID, p.QP, p.Path = 12, a.qp(t, hv.QPTypeRC), path(a, b)
	if _, err := a.cm.Connect(tctx(t), p); err != nil {
		t.Fatal(err)
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
	as, bs := a.cm.Stats(), b.cm.Stats()
	if as.RxDuplicates[cm.AttrIndex(wire.AttrCMREP)] != 2 || as.Tx(wire.AttrCMRTU) != 3 || bs.TxRetries[cm.AttrIndex(wire.AttrCMREP)] != 2 {
		t.Fatalf("duplicate REPs %d, RTUs sent %d, REP retransmissions %d", as.RxDuplicates[cm.AttrIndex(wire.AttrCMREP)],
			as.Tx(wire.AttrCMRTU), bs.TxRetries[cm.AttrIndex(wire.AttrCMREP)])
	}
}

func TestEveryREPLostTimesOut(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, dropFirst(wire.AttrCMREP, 1000))
	acc := acceptAll(t, b, 13, cm.AcceptParams{})
	p := fastTimeouts
	p.ServiceID, p.QP, p.Path = 13, a.qp(t, hv.QPTypeRC), path(a, b)
	_, err := a.cm.Connect(tctx(t), p)
	if !errors.Is(err, cm.ErrTimeout) {
		t.Fatalf("connect without REPs: %v", err)
	}
	// Neither side sends REJ when its retries run out (ib_cm's
	// cm_process_send_error goes back to idle silently): the passive
	// side runs out of REP retries itself.
	if pc := wait(t, acc); !errors.Is(pc.err, cm.ErrTimeout) {
		t.Fatalf("accept without REPs arriving: %v", pc.err)
	}
	if s := a.cm.Stats(); s.Tx(wire.AttrCMREQ) != 5 || s.Tx(wire.AttrCMREJ) != 0 || s.Timeouts != 1 {
		t.Fatalf("active: %d REQs (want 1 + 4 retries), %d REJ (want 0), %d timeouts", s.Tx(wire.AttrCMREQ), s.Tx(wire.AttrCMREJ), s.Timeouts)
	}
	if s := b.cm.Stats(); s.Tx(wire.AttrCMREP) != 5 || s.Tx(wire.AttrCMREJ) != 0 || s.Timeouts != 1 {
		t.Fatalf("passive: %d REPs (want 1 + 4 retries), %d REJ (want 0), %d timeouts", s.Tx(wire.AttrCMREP), s.Tx(wire.AttrCMREJ), s.Timeouts)
	}
}

// TestLossyPortStillConnects drops half the frames the passive port sends
// (fault injection on the port): retransmissions carry the handshake.
func TestLossyPortStillConnects(t *testing.T) {
	f := fabric(t, ibtest.WithSeed(3))
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	acc := acceptAll(t, b, 14, cm.AcceptParams{})
	if err := f.SetDropRate(b.name, 1, 0.5); err != nil {
		t.Fatal(err)
	}
	p := fastTimeouts
	p.ServiceID, p.QP, p.Path, p.MaxCMRetries = 14, a.qp(t, hv.QPTypeRC), path(a, b), 15
	if _, err := a.cm.Connect(tctx(t), p); err != nil {
		t.Fatal(err)
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
	as, bs := a.cm.Stats(), b.cm.Stats()
	var retries uint64
	for i := range as.TxRetries {
		retries += as.TxRetries[i] + bs.TxRetries[i] + as.RxDuplicates[i] + bs.RxDuplicates[i]
	}
	if retries == 0 {
		t.Fatal("no retransmission or duplicate: the port lost nothing")
	}
}

func TestPeerKilled(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	acc := acceptAll(t, b, 15, cm.AcceptParams{})
	p := fastTimeouts
	p.ServiceID, p.QP, p.Path = 15, a.qp(t, hv.QPTypeRC), path(a, b)
	conn, err := a.cm.Connect(tctx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
	if err := f.KillNode(b.name); err != nil {
		t.Fatal(err)
	}
	if err := conn.Disconnect(tctx(t), nil); !errors.Is(err, cm.ErrTimeout) {
		t.Fatalf("disconnect from a dead peer: %v", err)
	}
	p.QP = a.qp(t, hv.QPTypeRC)
	if _, err := a.cm.Connect(tctx(t), p); !errors.Is(err, cm.ErrTimeout) {
		t.Fatalf("connect to a dead peer: %v", err)
	}
}

// TestSIDRThenUDSend resolves a UD service's QPN and Q_Key with SIDR and
// sends it a datagram.
func TestSIDRThenUDSend(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	const qkey = 0x11110000
	ud := b.qp(t, hv.QPTypeUD)
	for _, s := range []struct {
		attr verbs.QPAttr
		mask verbs.AttrMask
	}{
		{verbs.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QKey: qkey}, hv.AttrState | hv.AttrPort | hv.AttrPKeyIndex | hv.AttrQKey},
		{verbs.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState},
		{verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1}, hv.AttrState | hv.AttrSQPSN},
	} {
		if err := ud.Modify(&s.attr, s.mask); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.cm.ListenSIDR(0x1000000000000042, func(r *cm.SIDRRequest) {
		if !bytes.HasPrefix(r.PrivateData(), []byte("who?")) {
			t.Errorf("SIDR_REQ private data %q", r.PrivateData())
		}
		if err := r.Reply(ud.Num(), qkey, []byte("here")); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 0x1000000000000042, DGID: b.gid, PrivateData: []byte("who?")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.QPN != ud.Num() || rep.QKey != qkey || rep.DLID != b.lid || !bytes.HasPrefix(rep.PrivateData, []byte("here")) {
		t.Fatalf("SIDR reply %+v", rep)
	}
	// Send a datagram to the resolved QP.
	sud := a.qp(t, hv.QPTypeUD)
	for _, s := range []struct {
		attr verbs.QPAttr
		mask verbs.AttrMask
	}{
		{verbs.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QKey: 0x2222}, hv.AttrState | hv.AttrPort | hv.AttrPKeyIndex | hv.AttrQKey},
		{verbs.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState},
		{verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1}, hv.AttrState | hv.AttrSQPSN},
	} {
		if err := sud.Modify(&s.attr, s.mask); err != nil {
			t.Fatal(err)
		}
	}
	ah, err := a.pd.CreateAH(verbs.AHAttr{DLID: rep.DLID, SL: rep.SL, PortNum: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ud.PostRecv([]verbs.RecvWR{{WRID: 5, SGL: []verbs.SGE{b.mr.SGE(0, 2048)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.mr.Buf(), "datagram")
	if _, err := sud.PostSend([]verbs.SendWR{{WRID: 6, Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)},
		AH: ah.Engine(), RemoteQPN: rep.QPN, RemoteQKey: rep.QKey}}); err != nil {
		t.Fatal(err)
	}
	wc := pollOne(t, b.cq)
	if wc.Status != hv.WCSuccess || wc.SrcQP != sud.Num() || wc.ByteLen != 40+8 || string(b.mr.Buf()[40:48]) != "datagram" {
		t.Fatalf("UD receive %+v %q", wc, b.mr.Buf()[40:48])
	}
	// An unknown service: status 1.
	_, err = a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 0x99, Path: path(a, b)})
	var se *cm.SIDRError
	if !errors.As(err, &se) || se.Status != wire.CMSIDRUnsupported {
		t.Fatalf("SIDR for nobody: %v", err)
	}
}

// TestMalformedCMMessagesAreCounted sends the CM garbage from a third
// port: unknown attributes, messages for no connection, random bytes,
// ClassPortInfo. Nothing breaks and a connection still comes up.
func TestMalformedCMMessagesAreCounted(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	tr, err := f.MADTransport(f.HCAs[0].Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	raw, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassCM, ClassVersion: wire.CMClassVersion}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	to := mad.Addr{LID: b.lid, QPN: 1}
	send := func(attr wire.AttrID, fill func(msg []byte)) {
		t.Helper()
		m := make([]byte, wire.MADSize)
		wire.EncodeCMMAD(m, attr, 0x77)
		if fill != nil {
			fill(m[wire.MADHeaderSize:])
		}
		if err := raw.Send(to, m); err != nil {
			t.Fatal(err)
		}
	}
	send(0x0030, nil) // no such CM attribute
	send(wire.AttrCMREP, func(b []byte) { wire.CMREP(b).Encode(&wire.CMREPFields{LocalCommID: 5, RemoteCommID: 0xBADBAD}) })
	send(wire.AttrCMRTU, func(b []byte) { copy(b, bytes.Repeat([]byte{0xFF}, 64)) })
	send(wire.AttrCMMRA, func(b []byte) { b[8] = 0xC0 }) // message MRAed 3: reserved
	send(wire.AttrCMREJ, func(b []byte) { b[9] = 0xFE }) // ARI length 127, longer than the field
	send(wire.AttrCMSIDRREP, func(b []byte) { b[5] = 0xFF })
	send(wire.AttrCMLAP, nil)
	send(wire.AttrCMDREP, nil)
	// ClassPortInfo through Get, and a Get of something else.
	get := func(attr wire.AttrID) ([]byte, error) {
		m := make([]byte, wire.MADSize)
		wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassCM, ClassVersion: wire.CMClassVersion,
			Method: wire.MethodGet, AttrID: attr})
		return raw.Call(tctx(t), to, m)
	}
	resp, err := get(wire.AttrClassPortInfo)
	if err != nil {
		t.Fatal(err)
	}
	if cpi := wire.ClassPortInfo(resp[wire.MADHeaderSize:]); cpi.ClassVersion() != wire.CMClassVersion || cpi.BaseVersion() != 1 {
		t.Fatalf("ClassPortInfo %+v", cpi.Fields())
	}
	var se *wire.MADStatusError
	if _, err := get(wire.AttrCMREQ); !errors.As(err, &se) || se.Status != wire.MADStatusUnsupportedMethodAttr {
		t.Fatalf("Get(REQ): %v", err)
	}
	// A DREQ for no connection is answered with DREP (and counted as a
	// duplicate).
	send(wire.AttrCMDREQ, func(b []byte) {
		wire.CMDREQ(b).Encode(&wire.CMDREQFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 1, RemoteCommID: 2}})
	})
	deadline := time.Now().Add(10 * time.Second)
	var s cm.Stats
	for time.Now().Before(deadline) {
		if s = b.cm.Stats(); s.Malformed >= 1 && s.Unmatched >= 7 && s.Tx(wire.AttrCMDREP) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if s.Malformed != 1 || s.Unmatched != 7 || s.Tx(wire.AttrCMDREP) != 1 {
		t.Fatalf("malformed %d (want 1), unmatched %d (want 7), DREP sent %d (want 1)", s.Malformed, s.Unmatched, s.Tx(wire.AttrCMDREP))
	}
	acc := acceptAll(t, b, 16, cm.AcceptParams{})
	if _, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 16, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b)}); err != nil {
		t.Fatal(err)
	}
	if pc := wait(t, acc); pc.err != nil {
		t.Fatal(pc.err)
	}
}

func TestParameterChecks(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	for name, p := range map[string]cm.ConnectParams{
		"no qp":            {ServiceID: 1, Path: path(a, b)},
		"92+1 bytes":       {ServiceID: 1, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b), PrivateData: make([]byte, 93)},
		"ud qp":            {ServiceID: 1, QP: a.qp(t, hv.QPTypeUD), QPType: hv.QPTypeUD, Path: path(a, b)},
		"16 retries":       {ServiceID: 1, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b), MaxCMRetries: 16},
		"225 bytes of RTU": {ServiceID: 1, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b), RTUPrivateData: make([]byte, 225)},
	} {
		if _, err := a.cm.Connect(tctx(t), p); !errors.Is(err, cm.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := cm.New(nil, a.ctx, 1, cm.Options{}); !errors.Is(err, cm.ErrInvalid) {
		t.Errorf("nil transport: %v", err)
	}
}

// TestManyConnectionsInParallel sets up connections concurrently and
// checks each pairs with its own passive end.
func TestManyConnectionsInParallel(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	const n = 16
	acc := acceptAll(t, b, 17, cm.AcceptParams{})
	var wg sync.WaitGroup
	conns := make([]*cm.Conn, n)
	errs := make([]error, n)
	qps := make([]*verbs.QP, n)
	for i := range n {
		qps[i] = a.qp(t, hv.QPTypeRC)
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 17, QP: qps[i], Path: path(a, b),
				PrivateData: []byte{byte(i)}})
		}()
	}
	wg.Wait()
	passive := map[uint32]*cm.Conn{}
	for range n {
		pc := wait(t, acc)
		if pc.err != nil {
			t.Fatal(pc.err)
		}
		passive[pc.conn.LocalCommID()] = pc.conn
	}
	for i, c := range conns {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		pc := passive[c.RemoteCommID()]
		if pc == nil || pc.RemoteQPN() != qps[i].Num() || pc.PrivateData()[0] != byte(i) {
			t.Fatalf("connection %d does not pair up", i)
		}
	}
}

// BenchmarkConnect measures connection setup (REQ/REP/RTU with QP
// transitions on both sides) on the in-process fabric.
func BenchmarkConnect(b *testing.B) {
	f := fabric(b)
	x, y := newNode(b, f, 1, nil), newNode(b, f, 2, nil)
	acc := acceptAll(b, y, 18, cm.AcceptParams{})
	qps := make([]*verbs.QP, b.N)
	for i := range qps {
		qps[i] = x.qp(b, hv.QPTypeRC)
	}
	p := path(x, y)
	b.ResetTimer()
	for i := range b.N {
		if _, err := x.cm.Connect(context.Background(), cm.ConnectParams{ServiceID: 18, QP: qps[i], Path: p}); err != nil {
			b.Fatal(err)
		}
		if pc := wait(b, acc); pc.err != nil {
			b.Fatal(pc.err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}
