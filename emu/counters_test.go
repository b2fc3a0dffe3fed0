package emu_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// TestReadCountersWhileRunning reads a port's counters from other
// goroutines while the loop counts frames (the race detector checks that
// the loop-owned counters are only touched on the loop), and checks the
// copy is consistent and complete once the frames have arrived.
func TestReadCountersWhileRunning(t *testing.T) {
	f, _, rb, l := pair(t)
	a, b := l.Ends()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 200 raw frames of 64 bytes after the LRH: 74 bytes with the VCRC,
	// counted as 18 words (PortXmitData and PortRcvData count octets/4).
	const n, words = 200, (8 + 64 + 2) / 4
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				c, err := f.ReadCounters(b)
				if err != nil {
					t.Error(err)
					return
				}
				// Frames are counted whole: every packet counted has its
				// words counted too.
				if c.RcvData.Load() != c.RcvPkts.Load()*words || c.UnicastRcv.Load() != c.RcvPkts.Load() {
					t.Errorf("inconsistent copy: %d packets, %d words, %d unicast", c.RcvPkts.Load(), c.RcvData.Load(), c.UnicastRcv.Load())
					return
				}
			}
		}()
	}
	if err := f.Do(func() {
		for i := range n {
			a.Send(rawFrame(2, uint32(i), 64))
		}
	}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, f, func() bool { return len(rb.got) == n })
	c, err := f.ReadCounters(b)
	if err != nil || c.RcvPkts.Load() != n {
		t.Fatalf("ReadCounters: %d packets, %v; want %d", c.RcvPkts.Load(), err, n)
	}
	x, _ := f.ReadCounters(a)
	if x.XmitPkts.Load() != n || x.XmitData.Load() != n*words {
		t.Fatalf("sender counted %d packets, %d words", x.XmitPkts.Load(), x.XmitData.Load())
	}
	if err := f.Do(func() { b.Counters.Reset() }); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.ReadCounters(b); c != (emu.Counters{}) {
		t.Fatalf("counters after Reset: %+v", c)
	}
	f.Stop()
	if _, err := f.ReadCounters(b); !errors.Is(err, emu.ErrStopped) {
		t.Fatalf("ReadCounters after Stop: %v, want ErrStopped", err)
	}
}

// bthFrame builds a sealed frame with a BTH of OpCode op on VL vl and SL
// sl (after a GRH when global), FECN/BECN as given, and n payload bytes.
func bthFrame(vl, sl uint8, op wire.OpCode, fecn, becn, global bool, n int) []byte {
	hdr := wire.LRHSize
	lnh := uint8(wire.LNHIBALocal)
	if global {
		hdr += wire.GRHSize
		lnh = wire.LNHIBAGlobal
	}
	words := (hdr + wire.BTHSize + n + wire.ICRCSize) / 4
	b := make([]byte, words*4+wire.VCRCSize)
	wire.LRH(b).Encode(&wire.LRHFields{VL: vl, SL: sl, LNH: lnh, DLID: 2, SLID: 1, PktLen: uint16(words)})
	if global {
		b[wire.LRHSize] = 6 << 4 // IPVer 6
		b[wire.LRHSize+6] = 0x1B // NxtHdr: BTH
	}
	h := wire.BTH(b[hdr:])
	h.SetOpCode(op)
	h.SetFECN(fecn)
	h.SetBECN(becn)
	if err := wire.SealPacket(b); err != nil {
		panic(err)
	}
	return b
}

// TestCountRcvTransport sends frames of known OpCode, VL, SL and
// FECN/BECN bits across a link and checks the receiver's per-OpCode,
// per-VL and per-SL congestion counts (PortOpRcvCounters, PortVLOpPackets,
// PortVLOpData, PortRcvConCtrl, PortSLRcvFECN/BECN), that the sender
// counts none of them, and that raw frames count nothing there.
func TestCountRcvTransport(t *testing.T) {
	f, _, rb, l := pair(t)
	a, b := l.Ends()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	const sendFirst, sendOnly, rdmaWrite = wire.OpCode(0x00), wire.OpCode(0x04), wire.OpCode(0x0A)
	type frame struct {
		vl, sl     uint8
		op         wire.OpCode
		fecn, becn bool
		global     bool
		n          int
	}
	// Select RDMA WRITE Only for PortVLOpData before the traffic; the
	// other two keep OpCode 0 (SEND First).
	_ = f.Do(func() { b.Counters.Details().Optional().VLOpDataOpCode = uint8(rdmaWrite) })
	frames := []frame{
		{0, 0, sendFirst, false, false, false, 16},
		{0, 0, sendFirst, true, false, false, 32},
		{3, 5, sendFirst, false, true, true, 64},
		{3, 5, sendOnly, true, true, false, 8},
		{7, 9, rdmaWrite, false, false, false, 256},
		{7, 9, rdmaWrite, true, false, true, 4},
		{15, 15, sendOnly, false, false, false, 0},
	}
	words := make([]uint64, len(frames))
	_ = f.Do(func() {
		for i, fr := range frames {
			fb := bthFrame(fr.vl, fr.sl, fr.op, fr.fecn, fr.becn, fr.global, fr.n)
			words[i] = uint64(len(fb) / 4)
			a.Send(fb)
		}
		a.Send(rawFrame(2, 0, 64)) // no BTH: counts in none of these
	})
	waitFor(t, f, func() bool { return len(rb.got) == len(frames)+1 })
	c, err := f.ReadCounters(b)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Details()
	check := func(name string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	check("OpRcvPkts (SEND First)", d.Optional().OpRcvPkts.Load(), 3)
	check("OpRcvData (SEND First)", d.Optional().OpRcvData.Load(), words[0]+words[1]+words[2])
	check("VLOpPackets[0] (SEND First)", d.Optional().VLOpPackets[0].Load(), 2)
	check("VLOpPackets[3] (SEND First)", d.Optional().VLOpPackets[3].Load(), 1)
	check("VLOpPackets[7]", d.Optional().VLOpPackets[7].Load(), 0)
	check("VLOpPackets[15]", d.Optional().VLOpPackets[15].Load(), 0)
	check("VLOpData[7] (RDMA WRITE Only)", d.Optional().VLOpData[7].Load(), words[4]+words[5])
	check("VLOpData[0]", d.Optional().VLOpData[0].Load(), 0)
	check("RcvFECN", d.Optional().RcvFECN.Load(), 3)
	check("RcvBECN", d.Optional().RcvBECN.Load(), 2)
	check("SLRcvFECN[0]", d.Optional().SLRcvFECN[0].Load(), 1)
	check("SLRcvFECN[5]", d.Optional().SLRcvFECN[5].Load(), 1)
	check("SLRcvFECN[9]", d.Optional().SLRcvFECN[9].Load(), 1)
	check("SLRcvBECN[5]", d.Optional().SLRcvBECN[5].Load(), 2)
	check("SLRcvBECN[9]", d.Optional().SLRcvBECN[9].Load(), 0)
	check("RcvPkts", c.RcvPkts.Load(), uint64(len(frames)+1))
	x, _ := f.ReadCounters(a)
	if xd := x.Details(); xd.Optional().OpRcvPkts.Load() != 0 || xd.Optional().RcvFECN.Load() != 0 || xd.Optional().VLOpPackets[0].Load() != 0 {
		t.Errorf("the sender counted receive counts: %d pkts, %d FECN", xd.Optional().OpRcvPkts.Load(), xd.Optional().RcvFECN.Load())
	}
}

// TestCountXmitWait checks that CountXmitWait keeps PortXmitWait and its
// per-VL split together.
func TestCountXmitWait(t *testing.T) {
	var c emu.Counters
	c.CountXmitWait(2, 10)
	c.CountXmitWait(0x12, 5) // VL 2 again: the low 4 bits
	c.CountXmitWait(15, 1)
	if c.XmitWait.Load() != 16 || c.Details().Optional().XmitWaitVL[2].Load() != 15 || c.Details().Optional().XmitWaitVL[15].Load() != 1 {
		t.Errorf("XmitWait %d, VL2 %d, VL15 %d; want 16, 15, 1", c.XmitWait.Load(), c.Details().Optional().XmitWaitVL[2].Load(), c.Details().Optional().XmitWaitVL[15].Load())
	}
}
