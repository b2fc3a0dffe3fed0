package verbs_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// FuzzReceive feeds the responder and requester of an RC QP, a UD QP and
// unknown QPs with packets built from fuzz input (or taken as raw frames).
// Whatever arrives, the engine must not panic, and a memory region of
// another protection domain must never change.
func FuzzReceive(f *testing.F) {
	tn := newNet(f, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: 1 << 16})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: 1 << 16})
	ud := tn.endpoint(1, epOpts{typ: verbs.QPTypeUD, bufLen: 1 << 12})
	tn.connect(a, b, wire.MTU256, 0, 7, 7)
	tn.udUp(ud, 0x42)
	victim := make([]byte, 4096)
	fill(victim, 99)
	golden := bytes.Clone(victim)
	var vmr *verbs.MR
	tn.do(func() {
		pd, err := b.e.AllocPD()
		if err != nil {
			f.Fatal(err)
		}
		if vmr, err = pd.RegMR(victim, verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteRead|verbs.AccessRemoteAtomic); err != nil {
			f.Fatal(err)
		}
	})
	recvs := make([]verbs.RecvWR, 64)
	for i := range recvs {
		recvs[i] = verbs.RecvWR{WRID: uint64(i), SGL: sge(b, 1024*(i%32), 1024)}
	}
	f.Add([]byte{0, 0x04, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'})
	f.Add([]byte{0, 0x0A, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0, 0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0x14, 0, 2, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	f.Add([]byte{0, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x60})
	f.Add([]byte{1, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'u', 'd'})
	f.Add([]byte{2, 0xf0, 0x12, 0x00, 0x01, 0x00, 0x05, 0x00, 0x02})
	do := func(t *testing.T, fn func()) {
		if err := tn.f.Do(fn); err != nil {
			t.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 19 {
			return
		}
		mode, op := in[0]%3, wire.OpCode(in[1])
		psnDelta := int32(int8(in[2]))
		keySel, vaOff := in[3]%3, binary.BigEndian.Uint32(in[4:8])
		dmaLen := binary.BigEndian.Uint32(in[8:12])
		cmp := binary.BigEndian.Uint64(in[11:19])
		payload := in[19:]
		do(t, func() {
			if b.qp.State() != verbs.QPStateRTS {
				b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateReset}, verbs.AttrState)
				b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, QPAccessFlags: verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic},
					verbs.AttrState|verbs.AttrPort|verbs.AttrPKeyIndex|verbs.AttrAccessFlags)
				b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTR, PathMTU: wire.MTU256, DestQPNum: a.qp.Num(), AHAttr: verbs.AHAttr{DLID: a.lid}, MaxDestRdAtomic: 4},
					verbs.AttrState|verbs.AttrAV|verbs.AttrPathMTU|verbs.AttrDestQPN|verbs.AttrRQPSN|verbs.AttrMaxDestRdAtomic|verbs.AttrMinRNRTimer)
				b.qp.Modify(&verbs.QPAttr{QPState: verbs.QPStateRTS, RetryCnt: 1, MaxRdAtomic: 1}, verbs.AttrState|verbs.AttrSQPSN|verbs.AttrTimeout|verbs.AttrRetryCnt|verbs.AttrRNRRetry|verbs.AttrMaxQPRdAtomic)
			}
		})
		b.qp.PostRecv(recvs[:4])
		var frame []byte
		if mode == 2 {
			frame = append([]byte(nil), in[1:]...)
		} else {
			rkey := [3]uint32{b.mr.RKey(), vmr.RKey(), binary.BigEndian.Uint32(in[12:16])}[keySel]
			va := b.mr.Addr() + uint64(vaOff%(1<<17))
			if keySel == 1 {
				va = vmr.Addr() + uint64(vaOff%8192)
			}
			dest := b.qp.Num()
			if mode == 1 {
				dest = ud.qp.Num()
			}
			pf := wire.PacketFields{
				LRH: wire.LRHFields{DLID: b.lid, SLID: a.lid},
				BTH: wire.BTHFields{OpCode: op, PKey: 0xffff, DestQP: dest, AckReq: in[2]&1 != 0,
					PSN: uint32(0x100+psnDelta) & wire.PSNMask},
				Payload: payload,
			}
			ext := op.ExtHeaders()
			if ext.Has(wire.ExtRETH) {
				pf.RETH = &wire.RETHFields{VA: va, RKey: rkey, DMALen: dmaLen % (1 << 18)}
			}
			if ext.Has(wire.ExtAtomicETH) {
				pf.AtomicETH = &wire.AtomicETHFields{VA: va &^ uint64(in[4]&7>>2), RKey: rkey, SwapAdd: cmp, Compare: cmp >> 3}
			}
			if ext.Has(wire.ExtAETH) {
				pf.AETH = &wire.AETHFields{Syndrome: wire.AETHSyndrome(in[18]), MSN: dmaLen}
			}
			if ext.Has(wire.ExtDETH) {
				pf.DETH = &wire.DETHFields{QKey: 0x42 ^ uint32(in[3]&0x80), SrcQP: 5}
			}
			if ext.Has(wire.ExtAtomicAckETH) {
				pf.AtomicAckETH = &wire.AtomicAckETHFields{OrigRemData: cmp}
			}
			if ext.Has(wire.ExtImmDt) {
				v := dmaLen
				pf.ImmDt = &v
			}
			if ext.Has(wire.ExtIETH) {
				v := rkey
				pf.IETH = &v
			}
			var err error
			if frame, err = wire.AppendPacket(nil, &pf); err != nil {
				return
			}
		}
		pkt, err := wire.ParsePacket(frame)
		if err != nil || pkt.BTH == nil {
			return
		}
		do(t, func() { b.e.HandleFrame(tn.hcas[1].Node().Port(1), &pkt) })
		if !bytes.Equal(victim, golden) {
			t.Fatal("a packet for one protection domain changed memory of another")
		}
		for b.rcq.Poll(make([]verbs.WC, 64)) > 0 {
		}
		for ud.rcq.Poll(make([]verbs.WC, 64)) > 0 {
		}
	})
}
