package verbs_test

import (
	"encoding/binary"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

func TestRCSendRecvSegmented(t *testing.T) {
	for _, mtu := range []wire.MTU{wire.MTU256, wire.MTU1024, wire.MTU4096} {
		t.Run(mtu.String(), func(t *testing.T) {
			tn := newNet(t, 2)
			a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
			b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
			tn.connect(a, b, mtu, 14, 7, 7)
			sizes := []int{0, 1, 255, 256, 257, 4096, 10000, 30000}
			off := 0
			for i, n := range sizes {
				postRecv(t, b, verbs.RecvWR{WRID: uint64(100 + i), SGL: sge(b, off, n+8)})
				off += n + 8
			}
			off = 0
			fill(a.buf, 3)
			for i, n := range sizes {
				postSend(t, a, verbs.SendWR{WRID: uint64(i), Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, off, n)})
				off += n
			}
			wcs := poll(t, a.cq, len(sizes))
			for i, wc := range wcs {
				if wc.Status != verbs.WCSuccess || wc.WRID != uint64(i) || wc.Opcode != verbs.WCSend {
					t.Fatalf("send wc %d: %+v", i, wc)
				}
			}
			rwcs := poll(t, b.rcq, len(sizes))
			soff, roff := 0, 0
			for i, wc := range rwcs {
				n := sizes[i]
				if wc.Status != verbs.WCSuccess || wc.WRID != uint64(100+i) || wc.ByteLen != uint32(n) || wc.Opcode != verbs.WCRecv ||
					wc.SrcQP != a.qp.Num() || wc.SLID != a.lid {
					t.Fatalf("recv wc %d: %+v", i, wc)
				}
				mustEqual(t, "payload", b.buf[roff:roff+n], a.buf[soff:soff+n])
				soff += n
				roff += n + 8
			}
		})
	}
}

func TestRCWriteReadAtomic(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: 1 << 20})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: 1 << 20})
	tn.connect(a, b, wire.MTU2048, 14, 7, 7)
	fill(a.buf[:300000], 9)
	// RDMA WRITE of 300000 bytes, then WRITE with immediate.
	postRecv(t, b, verbs.RecvWR{WRID: 77})
	postSend(t, a,
		verbs.SendWR{WRID: 1, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: sge(a, 0, 300000), RemoteAddr: b.mr.Addr() + 1000, RKey: b.mr.RKey()},
		verbs.SendWR{WRID: 2, Opcode: verbs.WRRDMAWriteImm, Imm: 0xdeadbeef, Flags: verbs.SendSignaled, SGL: sge(a, 0, 5000), RemoteAddr: b.mr.Addr() + 400000, RKey: b.mr.RKey()},
	)
	wcs := poll(t, a.cq, 2)
	for _, wc := range wcs {
		if wc.Status != verbs.WCSuccess || wc.Opcode != verbs.WCRDMAWrite {
			t.Fatalf("write wc %+v", wc)
		}
	}
	mustEqual(t, "write", b.buf[1000:301000], a.buf[:300000])
	mustEqual(t, "write imm", b.buf[400000:405000], a.buf[:5000])
	r := poll(t, b.rcq, 1)[0]
	if r.Status != verbs.WCSuccess || r.Opcode != verbs.WCRecvRDMAImm || r.Imm != 0xdeadbeef || r.Flags&verbs.WCFlagWithImm == 0 || r.ByteLen != 5000 || r.WRID != 77 {
		t.Fatalf("write imm recv wc %+v", r)
	}
	// RDMA READ back into a different place, with two SGEs.
	fill(b.buf[600000:700000], 44)
	postSend(t, a, verbs.SendWR{WRID: 3, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled,
		SGL:        []verbs.SGE{{Addr: a.mr.Addr() + 500000, Length: 30000, LKey: a.mr.LKey()}, {Addr: a.mr.Addr() + 800000, Length: 70000, LKey: a.mr.LKey()}},
		RemoteAddr: b.mr.Addr() + 600000, RKey: b.mr.RKey()})
	wc := poll(t, a.cq, 1)[0]
	if wc.Status != verbs.WCSuccess || wc.Opcode != verbs.WCRDMARead || wc.ByteLen != 100000 {
		t.Fatalf("read wc %+v", wc)
	}
	mustEqual(t, "read sge 1", a.buf[500000:530000], b.buf[600000:630000])
	mustEqual(t, "read sge 2", a.buf[800000:870000], b.buf[630000:700000])
	// Atomics.
	binary.NativeEndian.PutUint64(b.buf[8:], 100)
	postSend(t, a,
		verbs.SendWR{WRID: 4, Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendSignaled, SGL: sge(a, 16, 8), RemoteAddr: b.mr.Addr() + 8, RKey: b.mr.RKey(), CompareAdd: 5},
		verbs.SendWR{WRID: 5, Opcode: verbs.WRAtomicCmpAndSwp, Flags: verbs.SendSignaled, SGL: sge(a, 24, 8), RemoteAddr: b.mr.Addr() + 8, RKey: b.mr.RKey(), CompareAdd: 105, Swap: 7},
		verbs.SendWR{WRID: 6, Opcode: verbs.WRAtomicCmpAndSwp, Flags: verbs.SendSignaled, SGL: sge(a, 32, 8), RemoteAddr: b.mr.Addr() + 8, RKey: b.mr.RKey(), CompareAdd: 105, Swap: 9},
	)
	for _, wc := range poll(t, a.cq, 3) {
		if wc.Status != verbs.WCSuccess {
			t.Fatalf("atomic wc %+v", wc)
		}
	}
	if got := binary.NativeEndian.Uint64(b.buf[8:]); got != 7 {
		t.Fatalf("remote value %d, want 7", got)
	}
	for off, want := range map[int]uint64{16: 100, 24: 105, 32: 7} {
		if got := binary.NativeEndian.Uint64(a.buf[off:]); got != want {
			t.Fatalf("atomic result at %d: %d, want %d", off, got, want)
		}
	}
}

func TestRCRemoteAccessError(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 7)
	postSend(t, a,
		verbs.SendWR{WRID: 1, Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 100), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey() ^ 0x100},
		verbs.SendWR{WRID: 2, Opcode: verbs.WRSend, SGL: sge(a, 0, 10)},
	)
	wcs := poll(t, a.cq, 2)
	if wcs[0].Status != verbs.WCRemAccessErr || wcs[0].WRID != 1 || wcs[1].Status != verbs.WCWRFlushErr || wcs[1].WRID != 2 {
		t.Fatalf("completions %+v", wcs)
	}
	if s := a.qp.State(); s != verbs.QPStateError {
		t.Fatalf("requester state %s", s)
	}
	if s := b.qp.State(); s != verbs.QPStateError {
		t.Fatalf("responder state %s", s)
	}
	// Out of bounds too.
	tn2 := newNet(t, 2)
	c := tn2.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	d := tn2.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: 4096})
	tn2.connect(c, d, wire.MTU1024, 14, 7, 7)
	postSend(t, c, verbs.SendWR{WRID: 9, Opcode: verbs.WRRDMARead, SGL: sge(c, 0, 100), RemoteAddr: d.mr.Addr() + 4000, RKey: d.mr.RKey()})
	if wc := poll(t, c.cq, 1)[0]; wc.Status != verbs.WCRemAccessErr {
		t.Fatalf("read out of bounds: %+v", wc)
	}
}

func TestRCRNRRetry(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 14, 7, 2)
	postSend(t, a, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, 0, 10)})
	wc := poll(t, a.cq, 1)[0]
	if wc.Status != verbs.WCRNRRetryExcErr {
		t.Fatalf("wc %+v", wc)
	}
	if got := tn.engs[0].Stats().RNRNAKs.Load(); got != 3 {
		t.Fatalf("%d RNR NAKs, want 3 (first try + 2 retries)", got)
	}
	// With a receive posted later, rnr_retry 7 waits for it.
	tn2 := newNet(t, 2)
	c := tn2.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	d := tn2.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn2.connect(c, d, wire.MTU1024, 14, 7, 7)
	postSend(t, c, verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(c, 0, 3000)})
	for tn2.engs[0].Stats().RNRNAKs.Load() < 3 {
		tn2.settle(100e3)
	}
	postRecv(t, d, verbs.RecvWR{WRID: 5, SGL: sge(d, 0, 4000)})
	if wc := poll(t, c.cq, 1)[0]; wc.Status != verbs.WCSuccess {
		t.Fatalf("wc %+v", wc)
	}
	if wc := poll(t, d.rcq, 1)[0]; wc.Status != verbs.WCSuccess || wc.ByteLen != 3000 {
		t.Fatalf("recv wc %+v", wc)
	}
}

func TestRCRetryExceededOnLinkDown(t *testing.T) {
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC})
	tn.connect(a, b, wire.MTU1024, 10, 3, 7)
	postRecv(t, b, verbs.RecvWR{WRID: 5, SGL: sge(b, 0, 4000)}, verbs.RecvWR{WRID: 6, SGL: sge(b, 0, 4000)})
	tn.do(func() { tn.links[1].SetCut(true) })
	postSend(t, a,
		verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, SGL: sge(a, 0, 100)},
		verbs.SendWR{WRID: 2, Opcode: verbs.WRRDMAWrite, SGL: sge(a, 0, 100), RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
	)
	wcs := poll(t, a.cq, 2)
	if wcs[0].Status != verbs.WCRetryExcErr || wcs[0].WRID != 1 || wcs[1].Status != verbs.WCWRFlushErr {
		t.Fatalf("completions %+v", wcs)
	}
	if s := a.qp.State(); s != verbs.QPStateError {
		t.Fatalf("state %s", s)
	}
	if got := tn.engs[0].Stats().Timeouts.Load(); got != 4 {
		t.Fatalf("%d timeouts, want 4 (retry_cnt 3 + the last)", got)
	}
	// Posting to a QP in Error completes with flush errors.
	postSend(t, a, verbs.SendWR{WRID: 3, Opcode: verbs.WRSend, SGL: sge(a, 0, 1)})
	if wc := poll(t, a.cq, 1)[0]; wc.Status != verbs.WCWRFlushErr || wc.WRID != 3 {
		t.Fatalf("post in error: %+v", wc)
	}
	// Moving the other side to Error flushes its receives.
	tn.do(func() {
		if err := b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateError}, verbs.AttrState); err != nil {
			t.Error(err)
		}
	})
	for _, wc := range poll(t, b.rcq, 2) {
		if wc.Status != verbs.WCWRFlushErr || wc.Opcode != verbs.WCRecv {
			t.Fatalf("flushed recv %+v", wc)
		}
	}
}
