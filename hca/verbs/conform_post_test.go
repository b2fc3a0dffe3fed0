package verbs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// Conformance of ibv_post_send / ibv_post_recv validation with rxe
// (rxe_verbs.c: validate_send_wr, rxe_post_send, rxe_post_recv): what
// fails at post time with an error and bad_wr, per QP type and state.

// TestConformPostSendValidation: each row is one work request posted
// third in a list of three; the two before it are posted, it fails with
// EINVAL at its index (bad_wr), or all three are posted.
func TestConformPostSendValidation(t *testing.T) {
	tn := newNet(t, 2)
	caps := verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: 2, MaxRecvSGE: 2, MaxInlineData: 32}
	rc := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, caps: caps})
	rcPeer := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	uc := tn.endpoint(0, epOpts{typ: verbs.QPTypeUC, caps: caps})
	ucPeer := tn.endpoint(1, epOpts{typ: verbs.QPTypeUC})
	ud := tn.endpoint(0, epOpts{typ: verbs.QPTypeUD, caps: caps})
	tn.connect(rc, rcPeer, wire.MTU1024, 14, 7, 7)
	tn.connect(uc, ucPeer, wire.MTU1024, 14, 7, 7)
	tn.udUp(ud, 1)
	ah := tn.ah(ud, verbs.AHAttr{DLID: 2, PortNum: 1})
	// The peers post nothing: sends to them end in RNR or are dropped,
	// which does not matter here; only the post's answer does.
	x := map[verbs.QPType]*ep{verbs.QPTypeRC: rc, verbs.QPTypeUC: uc, verbs.QPTypeUD: ud}
	rem := func(x *ep) (uint64, uint32) { return x.mr.Addr() + 4096, x.mr.RKey() }
	type row struct {
		name string
		typ  verbs.QPType
		wr   func(x *ep) verbs.SendWR
		ok   bool
	}
	op := func(o verbs.WROpcode, n int) func(x *ep) verbs.SendWR {
		return func(x *ep) verbs.SendWR {
			a, k := rem(x)
			wr := verbs.SendWR{Opcode: o, SGL: sge(x, 0, n), RemoteAddr: a, RKey: k}
			if x.qp.Type() == verbs.QPTypeUD {
				wr.AH, wr.RemoteQPN, wr.RemoteQKey = ah, 0x99, 1
			}
			return wr
		}
	}
	with := func(f func(x *ep) verbs.SendWR, mod func(*verbs.SendWR)) func(x *ep) verbs.SendWR {
		return func(x *ep) verbs.SendWR { w := f(x); mod(&w); return w }
	}
	rows := []row{
		// Opcodes per QP type (rxe_opcode.c wr_opcode_info).
		{"rc send", verbs.QPTypeRC, op(verbs.WRSend, 8), true},
		{"rc write", verbs.QPTypeRC, op(verbs.WRRDMAWrite, 8), true},
		{"rc read", verbs.QPTypeRC, op(verbs.WRRDMARead, 8), true},
		{"rc cmp&swp", verbs.QPTypeRC, op(verbs.WRAtomicCmpAndSwp, 8), true},
		{"rc fetch&add", verbs.QPTypeRC, op(verbs.WRAtomicFetchAndAdd, 8), true},
		{"rc opcode 7", verbs.QPTypeRC, op(7, 8), false},
		{"uc send imm", verbs.QPTypeUC, op(verbs.WRSendImm, 8), true},
		{"uc write imm", verbs.QPTypeUC, op(verbs.WRRDMAWriteImm, 8), true},
		{"uc read", verbs.QPTypeUC, op(verbs.WRRDMARead, 8), false},
		{"uc cmp&swp", verbs.QPTypeUC, op(verbs.WRAtomicCmpAndSwp, 8), false},
		{"uc fetch&add", verbs.QPTypeUC, op(verbs.WRAtomicFetchAndAdd, 8), false},
		{"ud send", verbs.QPTypeUD, op(verbs.WRSend, 8), true},
		{"ud send imm", verbs.QPTypeUD, op(verbs.WRSendImm, 8), true},
		{"ud write", verbs.QPTypeUD, op(verbs.WRRDMAWrite, 8), false},
		{"ud write imm", verbs.QPTypeUD, op(verbs.WRRDMAWriteImm, 8), false},
		{"ud read", verbs.QPTypeUD, op(verbs.WRRDMARead, 8), false},
		{"ud fetch&add", verbs.QPTypeUD, op(verbs.WRAtomicFetchAndAdd, 8), false},
		{"ud without ah", verbs.QPTypeUD, with(op(verbs.WRSend, 8), func(w *verbs.SendWR) { w.AH = nil }), false},
		// Scatter/gather list and lengths.
		{"num_sge = max", verbs.QPTypeRC, with(op(verbs.WRSend, 8), func(w *verbs.SendWR) { w.SGL = append(w.SGL, w.SGL[0]) }), true},
		{"num_sge > max", verbs.QPTypeRC, with(op(verbs.WRSend, 8), func(w *verbs.SendWR) { w.SGL = append(w.SGL, w.SGL[0], w.SGL[0]) }), false},
		{"zero-length send", verbs.QPTypeRC, op(verbs.WRSend, 0), true},
		{"no sge", verbs.QPTypeRC, with(op(verbs.WRSend, 0), func(w *verbs.SendWR) { w.SGL = nil }), true},
		{"length 2^31+1", verbs.QPTypeRC, with(op(verbs.WRRDMAWrite, 8), func(w *verbs.SendWR) {
			w.SGL = []verbs.SGE{{Addr: w.SGL[0].Addr, Length: 1 << 31, LKey: w.SGL[0].LKey}, {Addr: w.SGL[0].Addr, Length: 1, LKey: w.SGL[0].LKey}}
		}), false},
		// Atomics: 8 bytes, 8-byte aligned remote address.
		{"atomic 4 bytes", verbs.QPTypeRC, op(verbs.WRAtomicFetchAndAdd, 4), false},
		{"atomic 16 bytes", verbs.QPTypeRC, op(verbs.WRAtomicCmpAndSwp, 16), false},
		{"atomic misaligned", verbs.QPTypeRC, with(op(verbs.WRAtomicCmpAndSwp, 8), func(w *verbs.SendWR) { w.RemoteAddr += 4 }), false},
		// Inline data.
		{"inline = max", verbs.QPTypeRC, with(op(verbs.WRSend, 32), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), true},
		{"inline > max", verbs.QPTypeRC, with(op(verbs.WRSend, 33), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), false},
		{"inline write", verbs.QPTypeUC, with(op(verbs.WRRDMAWrite, 16), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), true},
		{"inline ud send", verbs.QPTypeUD, with(op(verbs.WRSend, 16), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), true},
		// rxe: "opcode doesn't support inline data".
		{"inline read", verbs.QPTypeRC, with(op(verbs.WRRDMARead, 8), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), false},
		{"inline atomic", verbs.QPTypeRC, with(op(verbs.WRAtomicFetchAndAdd, 8), func(w *verbs.SendWR) { w.Flags |= verbs.SendInline }), false},
		// A bad lkey is found when the WQE executes (a completion with
		// IBV_WC_LOC_PROT_ERR), not at post time.
		{"bad lkey", verbs.QPTypeRC, with(op(verbs.WRSend, 8), func(w *verbs.SendWR) { w.SGL[0].LKey ^= 0x80 }), true},
		{"bad rkey", verbs.QPTypeRC, with(op(verbs.WRRDMAWrite, 8), func(w *verbs.SendWR) { w.RKey ^= 0x80 }), true},
	}
	tn.do(func() {
		for _, l := range tn.links {
			l.SetCut(true) // nothing executes: only posting is judged
		}
	})
	for _, r := range rows {
		q := x[r.typ]
		good := op(verbs.WRSend, 8)(q)
		n, err := q.qp.PostSend([]verbs.SendWR{good, good, r.wr(q)})
		switch {
		case r.ok && (n != 3 || err != nil):
			t.Errorf("%s: posted %d: %v; want all 3 posted", r.name, n, err)
		case !r.ok && (n != 2 || !errors.Is(err, verbs.ErrInvalid)):
			t.Errorf("%s: posted %d: %v; want bad_wr 2 with EINVAL", r.name, n, err)
		}
	}
}

// TestConformPostByState: ibv_post_send is refused (EINVAL, bad_wr the
// first) in RESET, INIT and RTR and accepted from RTS on; ibv_post_recv
// is refused only in RESET (rxe_post_send, rxe_post_recv, IBTA Vol 1
// C10-97.2.1). Work posted in SQD waits for RTS; work posted in ERR
// completes with IBV_WC_WR_FLUSH_ERR.
func TestConformPostByState(t *testing.T) {
	tn := newNet(t, 2)
	for _, typ := range []verbs.QPType{verbs.QPTypeRC, verbs.QPTypeUC, verbs.QPTypeUD} {
		x := tn.endpoint(0, epOpts{typ: typ})
		for s := verbs.QPStateReset; s <= verbs.QPStateError; s++ {
			if s == verbs.QPStateSQE && typ == verbs.QPTypeRC {
				continue
			}
			var qp *verbs.QP
			var err error
			tn.do(func() {
				qp, err = x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, QPType: typ,
					Cap: verbs.QPCap{MaxSendWR: 16, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1}})
			})
			if err != nil {
				t.Fatal(err)
			}
			tn.walkTo(x, qp, s, 2)
			x.cq.Poll(make([]verbs.WC, 16)) // SQE's failed send
			wr := verbs.SendWR{WRID: 77, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(x, 0, 8)}
			if typ == verbs.QPTypeUD {
				wr.AH, wr.RemoteQPN = tn.ah(x, verbs.AHAttr{DLID: 2, PortNum: 1}), 0x99
			}
			n, err := qp.PostSend([]verbs.SendWR{wr})
			if wantOK := s >= verbs.QPStateRTS; wantOK != (err == nil) || (!wantOK && (n != 0 || !errors.Is(err, verbs.ErrInvalid))) {
				t.Errorf("%s post send in %s: %d, %v", typ, s, n, err)
			}
			n, err = qp.PostRecv([]verbs.RecvWR{{WRID: 78, SGL: sge(x, 64, 8)}})
			if wantOK := s != verbs.QPStateReset; wantOK != (err == nil) || (!wantOK && (n != 0 || !errors.Is(err, verbs.ErrInvalid))) {
				t.Errorf("%s post recv in %s: %d, %v", typ, s, n, err)
			}
			if s == verbs.QPStateError {
				// Both flushed, on their own CQs.
				if wc := poll(t, x.cq, 1)[0]; wc.WRID != 77 || wc.Status != verbs.WCWRFlushErr || wc.QPNum != qp.Num() {
					t.Errorf("%s send posted in ERR: %+v", typ, wc)
				}
				if wc := poll(t, x.rcq, 1)[0]; wc.WRID != 78 || wc.Status != verbs.WCWRFlushErr || wc.Opcode != verbs.WCRecv {
					t.Errorf("%s recv posted in ERR: %+v", typ, wc)
				}
			}
			if s == verbs.QPStateSQD {
				tn.settle(time.Millisecond)
				if n := x.cq.Len(); n != 0 {
					t.Errorf("%s: a send posted in SQD completed before RTS", typ)
				}
			}
			tn.do(func() { err = qp.Destroy() })
			if err != nil {
				t.Fatal(err)
			}
			x.cq.Poll(make([]verbs.WC, 16))
			x.rcq.Poll(make([]verbs.WC, 16))
		}
	}
}

// TestConformCreateCaps: queue sizes beyond the device's limits are
// refused at create time (rxe_qp_chk_cap); a QP with an SRQ ignores its
// receive queue sizes and refuses ibv_post_recv.
func TestConformCreateCaps(t *testing.T) {
	tn := newNet(t, 1)
	x := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	d := x.e.Attr()
	ok := verbs.QPCap{MaxSendWR: uint32(d.MaxQPWR), MaxRecvWR: uint32(d.MaxQPWR), MaxSendSGE: uint32(d.MaxSGE),
		MaxRecvSGE: uint32(d.MaxSGE), MaxInlineData: uint32(d.MaxInlineData)}
	rows := []struct {
		name string
		mod  func(*verbs.QPCap)
		srq  bool
		ok   bool
	}{
		{"at the limits", func(*verbs.QPCap) {}, false, true},
		{"max_send_wr", func(c *verbs.QPCap) { c.MaxSendWR++ }, false, false},
		{"max_recv_wr", func(c *verbs.QPCap) { c.MaxRecvWR++ }, false, false},
		{"max_send_sge", func(c *verbs.QPCap) { c.MaxSendSGE++ }, false, false},
		{"max_recv_sge", func(c *verbs.QPCap) { c.MaxRecvSGE++ }, false, false},
		{"max_inline_data", func(c *verbs.QPCap) { c.MaxInlineData++ }, false, false},
		// With an SRQ the receive sizes are not looked at.
		{"srq, max_recv_wr", func(c *verbs.QPCap) { c.MaxRecvWR++ }, true, true},
		{"srq, max_recv_sge", func(c *verbs.QPCap) { c.MaxRecvSGE++ }, true, true},
		{"srq, max_send_wr", func(c *verbs.QPCap) { c.MaxSendWR++ }, true, false},
	}
	var srq *verbs.SRQ
	tn.do(func() {
		var err error
		if srq, err = x.pd.CreateSRQ(verbs.SRQAttr{MaxWR: 16, MaxSGE: 1}); err != nil {
			t.Fatal(err)
		}
	})
	for _, r := range rows {
		c := ok
		r.mod(&c)
		init := verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, QPType: verbs.QPTypeRC, Cap: c}
		if r.srq {
			init.SRQ = srq
		}
		var qp *verbs.QP
		var err error
		tn.do(func() { qp, err = x.pd.CreateQP(init) })
		if r.ok != (err == nil) || (!r.ok && !errors.Is(err, verbs.ErrInvalid)) {
			t.Errorf("%s: %v", r.name, err)
			continue
		}
		if err != nil {
			continue
		}
		if r.srq {
			tn.walkTo(x, qp, verbs.QPStateInit, 2)
			if n, err := qp.PostRecv([]verbs.RecvWR{{WRID: 1}}); n != 0 || !errors.Is(err, verbs.ErrInvalid) {
				t.Errorf("%s: post recv on a qp with an srq: %d %v", r.name, n, err)
			}
		}
		tn.do(func() { err = qp.Destroy() })
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestConformCQSize: ibv_create_cq may give more entries than asked and
// reports how many in cq->cqe; providers (rxe, mlx4, mlx5) round cqe+1
// up to a power of two, keeping one slot free. The CQ holds exactly the
// reported number before it overflows; cqe beyond max_cqe or below 1 is
// refused.
func TestConformCQSize(t *testing.T) {
	tn := newNet(t, 1)
	e := tn.engs[0]
	maxCQE := e.Attr().MaxCQE
	rows := []struct{ ask, want int }{{1, 1}, {2, 3}, {3, 3}, {4, 7}, {100, 127}, {127, 127}, {128, 255}, {maxCQE, maxCQE}}
	for _, r := range rows {
		var cq *verbs.CQ
		var err error
		tn.do(func() { cq, err = e.CreateCQ(r.ask, nil) })
		if err != nil {
			t.Fatalf("cqe %d: %v", r.ask, err)
		}
		if cq.CQE() != r.want {
			t.Errorf("cqe %d: cq->cqe %d, want %d", r.ask, cq.CQE(), r.want)
		}
		tn.do(func() { err = cq.Destroy() })
		if err != nil {
			t.Fatal(err)
		}
	}
	if maxCQE&(maxCQE+1) != 0 {
		t.Errorf("max_cqe %d is not 2^n-1 as the providers' rounding makes it", maxCQE)
	}
	for _, bad := range []int{0, -1, maxCQE + 1} {
		var err error
		tn.do(func() { _, err = e.CreateCQ(bad, nil) })
		if !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("cqe %d: %v", bad, err)
		}
	}
}
