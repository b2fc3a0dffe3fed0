package emu

import "testing"

// TestCountersDetailsLazy: a port that carries only SL 0 traffic keeps
// no details, the first use of them moves the SL 0 counts in, and a
// snapshot's details (the optional ones included) are its own.
func TestCountersDetailsLazy(t *testing.T) {
	var c Counters
	c.CountXmitDataSL(0, 10)
	c.CountRcvDataSL(0, 7)
	c.CountRcvTransport(make([]byte, 64), 16) // LNH 0 (raw): nothing to count
	if c.ext != nil {
		t.Fatal("SL 0 traffic allocated the details")
	}
	c.CountXmitDataSL(3, 5)
	d := c.Details()
	if d.XmitDataSL[0].Load() != 10 || d.RcvDataSL[0].Load() != 7 || d.XmitDataSL[3].Load() != 5 {
		t.Errorf("SL data after the details were made: xmit %d/%d, rcv %d", d.XmitDataSL[0].Load(), d.XmitDataSL[3].Load(), d.RcvDataSL[0].Load())
	}
	c.CountXmitDataSL(0, 1)
	if d.XmitDataSL[0].Load() != 11 || c.sl0Xmit.Load() != 0 {
		t.Errorf("SL 0 after the details: %d (inline %d)", d.XmitDataSL[0].Load(), c.sl0Xmit.Load())
	}
	d.Optional().RcvFECN.Add(2)
	s := c.Snapshot()
	d.Optional().RcvFECN.Add(1)
	if v := s.Details().Optional().RcvFECN.Load(); v != 2 {
		t.Errorf("snapshot's FECN count %d after the port counted on, want 2", v)
	}
}
