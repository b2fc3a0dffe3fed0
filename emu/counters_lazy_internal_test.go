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
	if d.XmitDataSL[0].Load() != 11 || c.sl0Xmit != 0 {
		t.Errorf("SL 0 after the details: %d (inline %d)", d.XmitDataSL[0].Load(), c.sl0Xmit)
	}
	d.Optional().RcvFECN.Add(2)
	s := c.Snapshot()
	d.Optional().RcvFECN.Add(1)
	if v := s.Details().Optional().RcvFECN.Load(); v != 2 {
		t.Errorf("snapshot's FECN count %d after the port counted on, want 2", v)
	}
}

// TestCountersSL0Saturates: the inline SL 0 data counters stop at the
// 32-bit maximum of PortXmitDataSL and PortRcvDataSL, and the details
// take that value over.
func TestCountersSL0Saturates(t *testing.T) {
	var c Counters
	c.CountXmitDataSL(0, 1<<32-3)
	c.CountXmitDataSL(0, 2)
	if c.sl0Xmit != 1<<32-1 {
		t.Fatalf("SL 0 xmit %#x, want %#x", c.sl0Xmit, uint32(1<<32-1))
	}
	c.CountXmitDataSL(0, 10)
	c.CountRcvDataSL(0, 1<<40)
	if c.sl0Xmit != 1<<32-1 || c.sl0Rcv != 1<<32-1 {
		t.Fatalf("past the maximum: xmit %#x, rcv %#x", c.sl0Xmit, c.sl0Rcv)
	}
	if d := c.Details(); d.XmitDataSL[0].Load() != 1<<32-1 || d.RcvDataSL[0].Load() != 1<<32-1 {
		t.Fatalf("details took xmit %#x, rcv %#x", d.XmitDataSL[0].Load(), d.RcvDataSL[0].Load())
	}
}
