package verbs_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// Conformance of work completions with ibv_poll_cq(3) and rxe
// (rxe_comp.c, rxe_resp.c): opcode, status, byte_len, imm_data,
// wc_flags and the addressing fields of each operation on both sides,
// and the statuses and QP states of each error.

// TestConformCompletionsRC: one successful operation per row, on an RC
// connection; each row says what the requester's and (when the message
// takes a receive WQE) the responder's completion hold.
func TestConformCompletionsRC(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	binary.NativeEndian.PutUint64(b.buf[8192:], 40)
	type row struct {
		name   string
		wr     verbs.SendWR
		sop    verbs.WCOpcode
		sLen   uint32 // requester byte_len (READ and atomics only)
		recv   bool
		rop    verbs.WCOpcode
		rLen   uint32
		rFlags verbs.WCFlags
		rImm   uint32
		check  func() string
	}
	rows := []row{
		{name: "send", wr: verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(a, 0, 3000)}, sop: verbs.WCSend,
			recv: true, rop: verbs.WCRecv, rLen: 3000},
		{name: "send with imm", wr: verbs.SendWR{Opcode: verbs.WRSendImm, Imm: 0x01020304, SGL: sge(a, 0, 100)}, sop: verbs.WCSend,
			recv: true, rop: verbs.WCRecv, rLen: 100, rFlags: verbs.WCFlagWithImm, rImm: 0x01020304},
		{name: "zero-length send", wr: verbs.SendWR{Opcode: verbs.WRSend}, sop: verbs.WCSend, recv: true, rop: verbs.WCRecv},
		{name: "write", wr: verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 2500), RemoteAddr: b.mr.Addr() + 16384, RKey: b.mr.RKey()},
			sop: verbs.WCRDMAWrite},
		{name: "zero-length write", wr: verbs.SendWR{Opcode: verbs.WRRDMAWrite, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}, sop: verbs.WCRDMAWrite},
		{name: "write with imm", wr: verbs.SendWR{Opcode: verbs.WRRDMAWriteImm, Imm: 77, SGL: sge(a, 0, 1500), RemoteAddr: b.mr.Addr() + 16384, RKey: b.mr.RKey()},
			sop: verbs.WCRDMAWrite, recv: true, rop: verbs.WCRecvRDMAImm, rLen: 1500, rFlags: verbs.WCFlagWithImm, rImm: 77},
		{name: "read", wr: verbs.SendWR{Opcode: verbs.WRRDMARead, SGL: sge(a, 32768, 2100), RemoteAddr: b.mr.Addr() + 16384, RKey: b.mr.RKey()},
			sop: verbs.WCRDMARead, sLen: 2100, check: func() string {
				if string(a.buf[32768:32768+1500]) != string(a.buf[:1500]) {
					return "read data differs"
				}
				return ""
			}},
		{name: "zero-length read", wr: verbs.SendWR{Opcode: verbs.WRRDMARead, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}, sop: verbs.WCRDMARead},
		{name: "fetch and add", wr: verbs.SendWR{Opcode: verbs.WRAtomicFetchAndAdd, SGL: sge(a, 40000, 8), RemoteAddr: b.mr.Addr() + 8192, RKey: b.mr.RKey(), CompareAdd: 2},
			sop: verbs.WCFetchAdd, sLen: 8, check: func() string {
				if got := binary.NativeEndian.Uint64(a.buf[40000:]); got != 40 {
					return "fetch and add: local buffer does not hold the original value"
				}
				return ""
			}},
		{name: "compare and swap", wr: verbs.SendWR{Opcode: verbs.WRAtomicCmpAndSwp, SGL: sge(a, 40008, 8), RemoteAddr: b.mr.Addr() + 8192, RKey: b.mr.RKey(), CompareAdd: 42, Swap: 9},
			sop: verbs.WCCompSwap, sLen: 8, check: func() string {
				if got := binary.NativeEndian.Uint64(a.buf[40008:]); got != 42 {
					return "compare and swap: local buffer does not hold the original value"
				}
				if got := binary.NativeEndian.Uint64(b.buf[8192:]); got != 9 {
					return "compare and swap: remote value not swapped"
				}
				return ""
			}},
	}
	fill(a.buf[:4096], 3)
	for i, r := range rows {
		if r.recv {
			postRecv(t, b, verbs.RecvWR{WRID: uint64(500 + i), SGL: sge(b, 0, 4096)})
		}
		wr := r.wr
		wr.WRID, wr.Flags = uint64(100+i), wr.Flags|verbs.SendSignaled
		postSend(t, a, wr)
		s := poll(t, a.cq, 1)[0]
		if s.Status != verbs.WCSuccess || s.WRID != wr.WRID || s.Opcode != r.sop || s.QPNum != a.qp.Num() ||
			(r.sop == verbs.WCRDMARead || r.sop >= verbs.WCCompSwap) && s.ByteLen != r.sLen {
			t.Errorf("%s: requester completion %+v; want opcode %d byte_len %d", r.name, s, r.sop, r.sLen)
		}
		if r.recv {
			c := poll(t, b.rcq, 1)[0]
			if c.Status != verbs.WCSuccess || c.WRID != uint64(500+i) || c.Opcode != r.rop || c.ByteLen != r.rLen ||
				c.Flags != r.rFlags || c.Imm != r.rImm || c.QPNum != b.qp.Num() || c.SrcQP != a.qp.Num() || c.SLID != a.lid {
				t.Errorf("%s: responder completion %+v; want opcode %d byte_len %d flags %d imm %d", r.name, c, r.rop, r.rLen, r.rFlags, r.rImm)
			}
		}
		if r.check != nil {
			if msg := r.check(); msg != "" {
				t.Errorf("%s: %s", r.name, msg)
			}
		}
	}
	if n := b.rcq.Len(); n != 0 {
		t.Errorf("%d unexpected responder completions", n)
	}
}

// TestConformErrorsRC: each row is one failing operation on a fresh RC
// connection, followed by a SEND: the requester's completion has the
// row's status and the SEND behind it IBV_WC_WR_FLUSH_ERR; the receive
// WQE the failing message took (if any) completes with the responder's
// status and those behind it are flushed; both QPs end in the states of
// the row (rxe: class C errors move the responder to the Error state).
func TestConformErrorsRC(t *testing.T) {
	type row struct {
		name    string
		mrAcc   verbs.Access // the responder's MR
		qpAcc   verbs.Access // the responder QP's access flags
		recvLen int          // the responder's first receive buffer
		wr      func(a, b *ep) verbs.SendWR
		status  verbs.WCStatus
		rStatus verbs.WCStatus // of the first receive WQE
		rErr    bool           // the responder goes to Error
	}
	all := verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic
	rows := []row{
		{name: "send larger than the receive buffer", recvLen: 100,
			wr:     func(a, b *ep) verbs.SendWR { return verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(a, 0, 101)} },
			status: verbs.WCRemInvReqErr, rStatus: verbs.WCLocLenErr, rErr: true},
		{name: "multi-packet send larger than the receive buffer", recvLen: 2000,
			wr:     func(a, b *ep) verbs.SendWR { return verbs.SendWR{Opcode: verbs.WRSend, SGL: sge(a, 0, 3000)} },
			status: verbs.WCRemInvReqErr, rStatus: verbs.WCLocLenErr, rErr: true},
		{name: "write with a bad rkey",
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey() ^ 0x100}
			},
			status: verbs.WCRemAccessErr, rErr: true},
		{name: "write beyond the region",
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 16), RemoteAddr: b.mr.Addr() + uint64(b.mr.Len()) - 8, RKey: b.mr.RKey()}
			},
			status: verbs.WCRemAccessErr, rErr: true},
		{name: "read of a region without remote read", mrAcc: verbs.AccessLocalWrite | verbs.AccessRemoteWrite,
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMARead, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
			},
			status: verbs.WCRemAccessErr, rErr: true},
		{name: "write to a region without remote write", mrAcc: verbs.AccessLocalWrite | verbs.AccessRemoteRead,
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
			},
			status: verbs.WCRemAccessErr, rErr: true},
		{name: "atomic on a region without remote atomic", mrAcc: verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead,
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRAtomicFetchAndAdd, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
			},
			status: verbs.WCRemAccessErr, rErr: true},
		// A QP without the remote access is an unsupported request
		// (rxe check_op_valid: IB_WC_REM_INV_REQ_ERR).
		{name: "write to a qp without remote write", qpAcc: verbs.AccessRemoteRead,
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
			},
			status: verbs.WCRemInvReqErr, rErr: true},
		{name: "read from a qp without remote read", qpAcc: verbs.AccessRemoteWrite,
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRRDMARead, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
			},
			status: verbs.WCRemInvReqErr, rErr: true},
		// Local errors stay local: the responder never sees the message.
		{name: "send with a bad lkey",
			wr: func(a, b *ep) verbs.SendWR {
				return verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{{Addr: a.mr.Addr(), Length: 8, LKey: a.mr.LKey() ^ 0x80}}}
			},
			status: verbs.WCLocProtErr},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			tn := newNet(t, 2)
			a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
			b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, access: r.mrAcc})
			tn.connect(a, b, wire.MTU1024, 14, 7, 7)
			if r.qpAcc != 0 {
				tn.do(func() {
					if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS, QPAccessFlags: r.qpAcc}, verbs.AttrState|verbs.AttrAccessFlags); err != nil {
						t.Fatal(err)
					}
				})
			}
			_ = all
			if r.recvLen != 0 {
				postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, r.recvLen)})
			}
			postRecv(t, b, verbs.RecvWR{WRID: 2, SGL: sge(b, 8192, 4096)})
			wr := r.wr(a, b)
			wr.WRID = 10
			postSend(t, a, wr, verbs.SendWR{WRID: 11, Opcode: verbs.WRSend, SGL: sge(a, 0, 8)})
			s := poll(t, a.cq, 2)
			if s[0].WRID != 10 || s[0].Status != r.status || s[1].WRID != 11 || s[1].Status != verbs.WCWRFlushErr {
				t.Errorf("requester completions %+v; want status %d then a flush", s, r.status)
			}
			if st := a.qp.State(); st != verbs.QPStateError {
				t.Errorf("requester state %s", st)
			}
			if !r.rErr {
				tn.settle(time.Millisecond)
				if st := b.qp.State(); st != verbs.QPStateRTS {
					t.Errorf("responder state %s", st)
				}
				return
			}
			want := []verbs.WCStatus{verbs.WCWRFlushErr}
			if r.recvLen != 0 {
				want = []verbs.WCStatus{r.rStatus, verbs.WCWRFlushErr}
			}
			c := poll(t, b.rcq, len(want))
			for i := range want {
				if c[i].Status != want[i] || c[i].WRID != uint64(i+3-len(want)) {
					t.Errorf("responder completion %d: %+v; want status %d", i, c[i], want[i])
				}
			}
			if st := b.qp.State(); st != verbs.QPStateError {
				t.Errorf("responder state %s", st)
			}
		})
	}
}

// TestConformFlushInOrder: moving a QP to ERR completes every
// outstanding send and receive WQE with IBV_WC_WR_FLUSH_ERR, in the
// order posted, signaled or not (rxe flush_send_wqe posts a completion
// for each); a QP with an SRQ also gets IBV_EVENT_QP_LAST_WQE_REACHED.
func TestConformFlushInOrder(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	// No local ACK timeout: nothing retries while the cable is out.
	tn.connect(a, b, wire.MTU1024, 0, 7, 7)
	tn.do(func() { tn.links[0].SetCut(true) })
	var wrs []verbs.SendWR
	for i := range 6 {
		wr := verbs.SendWR{WRID: uint64(i), Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
		if i%2 == 0 {
			wr.Flags = verbs.SendSignaled
		}
		wrs = append(wrs, wr)
	}
	postSend(t, a, wrs...)
	for i := range 4 {
		postRecv(t, a, verbs.RecvWR{WRID: uint64(100 + i), SGL: sge(a, 0, 8)})
	}
	tn.settle(10 * time.Microsecond)
	tn.do(func() {
		if err := a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateError}, verbs.AttrState); err != nil {
			t.Fatal(err)
		}
	})
	s := poll(t, a.cq, 6)
	for i, c := range s {
		if c.WRID != uint64(i) || c.Status != verbs.WCWRFlushErr || c.QPNum != a.qp.Num() {
			t.Errorf("send completion %d: %+v", i, c)
		}
	}
	r := poll(t, a.rcq, 4)
	for i, c := range r {
		if c.WRID != uint64(100+i) || c.Status != verbs.WCWRFlushErr || c.Opcode != verbs.WCRecv {
			t.Errorf("recv completion %d: %+v", i, c)
		}
	}
	tn.settle(time.Millisecond)
	if n := a.cq.Len() + a.rcq.Len(); n != 0 {
		t.Errorf("%d completions more", n)
	}

	// An SRQ QP entering ERR: last WQE reached, once; the SRQ's WQEs
	// are not flushed (they belong to the SRQ).
	var srq *verbs.SRQ
	tn.do(func() {
		var err error
		if srq, err = b.pd.CreateSRQ(verbs.SRQAttr{MaxWR: 8, MaxSGE: 1}); err != nil {
			t.Fatal(err)
		}
	})
	c := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, srq: srq})
	tn.walkTo(c, c.qp, verbs.QPStateRTS, 1)
	if n, err := srq.PostRecv([]verbs.RecvWR{{WRID: 1, SGL: sge(c, 0, 8)}}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	tn.do(func() {
		tn.events = nil
		if err := c.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateError}, verbs.AttrState); err != nil {
			t.Fatal(err)
		}
	})
	tn.settle(time.Millisecond)
	last := 0
	tn.do(func() {
		for _, ev := range tn.events {
			if ev.Type == verbs.EventQPLastWQEReached && ev.QP == c.qp {
				last++
			}
		}
	})
	if last != 1 || c.rcq.Len() != 0 {
		t.Errorf("last wqe reached events %d, recv completions %d", last, c.rcq.Len())
	}
}

// TestConformMRAccessRules: ibv_reg_mr refuses remote write or remote
// atomic without local write (IBTA Vol 1 §10.6.3.1; EINVAL).
func TestConformMRAccessRules(t *testing.T) {
	tn := newNet(t, 1)
	x := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	rows := []struct {
		acc verbs.Access
		ok  bool
	}{
		{0, true},
		{verbs.AccessLocalWrite, true},
		{verbs.AccessRemoteRead, true},
		{verbs.AccessRemoteWrite, false},
		{verbs.AccessRemoteAtomic, false},
		{verbs.AccessRemoteWrite | verbs.AccessRemoteRead, false},
		{verbs.AccessLocalWrite | verbs.AccessRemoteWrite, true},
		{verbs.AccessLocalWrite | verbs.AccessRemoteAtomic, true},
		{verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic | verbs.AccessMWBind, true},
		{0x1000_0000, false},
	}
	for _, r := range rows {
		var err error
		var mr *verbs.MR
		tn.do(func() { mr, err = x.pd.RegMR(make([]byte, 64), r.acc) })
		if r.ok != (err == nil) {
			t.Errorf("access %#x: %v", uint32(r.acc), err)
		}
		if mr != nil {
			tn.do(func() { err = mr.Dereg() })
		}
	}
}

// TestConformSQDAndSQE: SQD holds new work until RTS, refuses every
// transition but ERR while it drains, raises IBV_EVENT_SQ_DRAINED once
// when asked to; a UC QP in SQE goes back to RTS and sends again.
func TestConformSQDAndSQE(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	// The SEND stays in flight: the responder has no receive WQE and
	// answers RNR NAKs, which rnr_retry 7 retries for ever.
	postSend(t, a, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 64)})
	// Past the adapter's doorbell latency (hca.Timing.Doorbell), so that
	// the SEND has started when the QP enters SQD.
	tn.settle(5 * time.Microsecond)
	var err error
	tn.do(func() {
		tn.events = nil
		err = a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateSQD, EnSQDAsyncNotify: true}, verbs.AttrState|verbs.AttrEnSQDAsyncNotify)
	})
	if err != nil {
		t.Fatal(err)
	}
	var q verbs.QPAttr
	tn.do(func() { q = a.qp.Query() })
	if q.QPState != verbs.QPStateSQD || !q.SQDraining {
		t.Fatalf("query while draining: state %s draining %v", q.QPState, q.SQDraining)
	}
	for _, next := range []verbs.QPState{verbs.QPStateRTS, verbs.QPStateSQD, verbs.QPStateReset} {
		tn.do(func() { err = a.qp.Modify(&verbs.QPAttr{QPState: next}, verbs.AttrState) })
		if err == nil {
			t.Errorf("sqd -> %s accepted while draining", next)
		}
	}
	postRecv(t, b, verbs.RecvWR{WRID: 1, SGL: sge(b, 0, 64)})
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCSuccess {
		t.Fatalf("send completion %+v", wc)
	}
	tn.settle(time.Millisecond)
	drained := 0
	tn.do(func() {
		for _, ev := range tn.events {
			if ev.Type == verbs.EventSQDrained && ev.QP == a.qp {
				drained++
			}
		}
		q = a.qp.Query()
	})
	if drained != 1 || q.SQDraining {
		t.Fatalf("%d sq drained events, draining %v", drained, q.SQDraining)
	}
	// Drained: SQD -> SQD with new attributes, then back to RTS.
	tn.do(func() {
		if err := a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateSQD, Timeout: 15}, verbs.AttrState|verbs.AttrTimeout); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS}, verbs.AttrState); err != nil {
			t.Fatal(err)
		}
	})

	// UC: a local protection error puts the QP in SQE (the receive side
	// keeps working); SQE -> RTS resumes sending.
	c := tn.endpoint(0, epOpts{typ: verbs.QPTypeUC})
	d := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
	tn.connect(c, d, wire.MTU1024, 14, 7, 7)
	postSend(t, c, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, SGL: []verbs.SGE{{Addr: c.mr.Addr(), Length: 8, LKey: c.mr.LKey() ^ 0x80}}},
		verbs.SendWR{WRID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(c, 0, 8)})
	s := poll(t, c.cq, 2)
	if s[0].Status != verbs.WCLocProtErr || s[1].Status != verbs.WCWRFlushErr {
		t.Fatalf("uc completions %+v", s)
	}
	if st := c.qp.State(); st != verbs.QPStateSQE {
		t.Fatalf("uc state %s", st)
	}
	postRecv(t, d, verbs.RecvWR{WRID: 5, SGL: sge(d, 0, 64)})
	tn.do(func() {
		err = c.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS, CurQPState: verbs.QPStateSQE}, verbs.AttrState|verbs.AttrCurState)
	})
	if err != nil {
		t.Fatal(err)
	}
	postSend(t, c, verbs.SendWR{WRID: 3, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(c, 0, 8)})
	if wc := poll(t, c.cq, 1)[0]; wc.Status != verbs.WCSuccess || wc.WRID != 3 {
		t.Fatalf("send after sqe -> rts: %+v", wc)
	}
	if wc := poll(t, d.rcq, 1)[0]; wc.Status != verbs.WCSuccess || wc.ByteLen != 8 {
		t.Fatalf("uc receive: %+v", wc)
	}
}

// TestConformUDCompletionFields: a UD receive completion carries the
// sender's QPN, LID and SL, the P_Key index, the GRH flag, and the DLID
// path bits under the port's LMC for a unicast DLID (none for a multicast
// one); a QP still attached to a multicast group cannot be destroyed
// (EBUSY, as uverbs refuses it).
func TestConformUDCompletionFields(t *testing.T) {
	tn := newNet(t, 2)
	const mlid = wire.LID(0xC001)
	mgid := wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x01}
	tn.do(func() {
		tn.hcas[1].SMA().Port(1).LMC = 1 // LIDs 2 and 3
		if err := tn.sw.SetLinearFDBTop(3); err != nil {
			t.Fatal(err)
		}
		if err := tn.sw.SetRoute(3, 2); err != nil {
			t.Fatal(err)
		}
		if err := tn.sw.SetMulticastPort(mlid, 2, true); err != nil {
			t.Fatal(err)
		}
	})
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeUD})
	tn.udUp(a, 0x77)
	tn.udUp(b, 0x77)
	tn.do(func() {
		if err := b.qp.AttachMcast(mgid, mlid); err != nil {
			t.Fatal(err)
		}
	})
	for i := range 3 {
		postRecv(t, b, verbs.RecvWR{WRID: uint64(i), SGL: sge(b, i*1024, 1024)})
	}
	base := tn.ah(a, verbs.AHAttr{DLID: 2, PortNum: 1})
	bit1 := tn.ah(a, verbs.AHAttr{DLID: 3, PortNum: 1})
	mc := tn.ah(a, verbs.AHAttr{DLID: mlid, PortNum: 1, IsGlobal: true, GRH: verbs.GlobalRoute{DGID: mgid}})
	for i, ah := range []*verbs.AH{base, bit1, mc} {
		qpn := b.qp.Num()
		if ah == mc {
			qpn = verbs.MulticastQPN
		}
		postSend(t, a, verbs.SendWR{WRID: uint64(i), Opcode: verbs.WRSend, SGL: sge(a, 0, 10), AH: ah, RemoteQPN: qpn, RemoteQKey: 0x77})
	}
	r := poll(t, b.rcq, 3)
	for i, want := range []struct {
		bits  uint8
		flags verbs.WCFlags
	}{{0, 0}, {1, 0}, {0, verbs.WCFlagGRH}} {
		c := r[i]
		if c.Status != verbs.WCSuccess || c.WRID != uint64(i) || c.Opcode != verbs.WCRecv || c.ByteLen != 50 || c.SrcQP != a.qp.Num() ||
			c.SLID != a.lid || c.SL != 0 || c.PKeyIndex != 0 || c.DLIDPathBits != want.bits || c.Flags != want.flags {
			t.Errorf("datagram %d: %+v; want dlid_path_bits %d flags %d", i, c, want.bits, want.flags)
		}
	}
	var err error
	tn.do(func() { err = b.qp.Destroy() })
	if !errors.Is(err, verbs.ErrBusy) {
		t.Errorf("destroy of an attached qp: %v", err)
	}
	tn.do(func() {
		if err = b.qp.DetachMcast(mgid, mlid); err == nil {
			err = b.qp.Destroy()
		}
	})
	if err != nil {
		t.Errorf("destroy after detach: %v", err)
	}
}

// TestConformSigAll: with sq_sig_all every send WQE completes, signaled
// or not; without it only signaled ones (and failed ones) do.
func TestConformSigAll(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	b2 := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	var all *verbs.QP
	tn.do(func() {
		var err error
		all, err = a.pd.CreateQP(verbs.QPInitAttr{SendCQ: a.cq, RecvCQ: a.rcq, QPType: verbs.QPTypeRC, SQSigAll: true,
			Cap: verbs.QPCap{MaxSendWR: 16, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1}})
		if err != nil {
			t.Fatal(err)
		}
	})
	sigAll := &ep{e: a.e, pd: a.pd, cq: a.cq, rcq: a.rcq, qp: all, buf: a.buf, mr: a.mr, lid: a.lid}
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	tn.connect(sigAll, b2, wire.MTU1024, 14, 7, 7)
	for _, x := range []*ep{a, sigAll} {
		postSend(t, x,
			verbs.SendWR{WRID: 1, Opcode: verbs.WRRDMAWrite, SGL: sge(x, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
			verbs.SendWR{WRID: 2, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: sge(x, 0, 8), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
		)
	}
	got := poll(t, a.cq, 3)
	tn.settle(time.Millisecond)
	if a.cq.Len() != 0 {
		t.Fatalf("more completions than signaled ones")
	}
	n := map[uint32][]uint64{}
	for _, c := range got {
		n[c.QPNum] = append(n[c.QPNum], c.WRID)
	}
	if len(n[a.qp.Num()]) != 1 || n[a.qp.Num()][0] != 2 || len(n[all.Num()]) != 2 {
		t.Fatalf("completions per qp %v", n)
	}
}
