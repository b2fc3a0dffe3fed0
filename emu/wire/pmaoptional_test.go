package wire_test

import (
	"math"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestPMACounterArrayLayouts checks the byte positions libibmad's field
// tables give: PortRcvErrorDetails and PortXmitDiscardDetails 16-bit
// counters from bit 32, the per-SL data counters 32-bit from bit 32.
func TestPMACounterArrayLayouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      wire.PMACounterLayout
		size   int
		lastAt int // byte offset of the last counter
	}{
		{"PortRcvErrorDetails", wire.LayoutPortRcvErrorDetails, 16, 14},
		{"PortXmitDiscardDetails", wire.LayoutPortXmitDiscardDetails, 12, 10},
		{"PortXmitDataSL", wire.LayoutPortDataSL, 68, 64},
		{"PortOpRcvCounters", wire.LayoutPortOpRcvCounters, 12, 8},
		{"PortFlowCtlCounters", wire.LayoutPortFlowCtlCounters, 12, 8},
		{"PortVLOpPackets", wire.LayoutPortVLOpPackets, 36, 34},
		{"PortVLOpData", wire.LayoutPortVLOpData, 68, 64},
		{"PortVLXmitWaitCounters", wire.LayoutPortVLXmitWaitCounters, 36, 34},
		{"SwPortVLCongestion", wire.LayoutSwPortVLCongestion, 36, 34},
		{"PortRcvConCtrl", wire.LayoutPortRcvConCtrl, 12, 8},
		{"PortSLRcvFECN", wire.LayoutPortSLRcvECN, 68, 64},
		{"PortXmitConCtrl", wire.LayoutPortXmitConCtrl, 8, 4},
		{"PortVLXmitTimeCong", wire.LayoutPortVLXmitTimeCong, 64, 60},
	} {
		b := make([]byte, wire.PMADataSize)
		a, err := wire.ParsePMACounterArray(b, tc.l)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(a) != tc.size || tc.l.Size() != tc.size {
			t.Errorf("%s: size %d/%d, want %d", tc.name, len(a), tc.l.Size(), tc.size)
		}
		a.SetPortSelect(3)
		a.SetCounterSelect(0x8001)
		if tc.l.Count > 1 {
			a.SetCounter(tc.l, tc.l.Count-1, 0x0102)
		}
		a.SetCounter(tc.l, 0, math.MaxUint64) // saturates
		if b[1] != 3 || b[2] != 0x80 || b[3] != 0x01 {
			t.Errorf("%s: header % x", tc.name, b[:4])
		}
		if tc.l.Count == 1 {
			if b[4] != 0xFF || b[7] != 0xFF {
				t.Errorf("%s: counter % x", tc.name, b[:tc.size])
			}
		} else if tc.l.Width == 16 {
			if b[tc.lastAt] != 0x01 || b[tc.lastAt+1] != 0x02 || b[4] != 0xFF || b[5] != 0xFF {
				t.Errorf("%s: counters % x", tc.name, b[:tc.size])
			}
		} else if b[tc.lastAt+2] != 0x01 || b[tc.lastAt+3] != 0x02 || b[4] != 0xFF || b[7] != 0xFF {
			t.Errorf("%s: counters % x", tc.name, b[:tc.size])
		}
		if got := a.Counter(tc.l, tc.l.Count-1); tc.l.Count > 1 && got != 0x0102 {
			t.Errorf("%s: last counter %#x", tc.name, got)
		}
		if got := a.Counter(tc.l, 0); got != tc.l.Max() {
			t.Errorf("%s: counter 0 %#x, want saturated %#x", tc.name, got, tc.l.Max())
		}
		if a.Counter(tc.l, tc.l.Count) != 0 || a.Counter(tc.l, -1) != 0 {
			t.Errorf("%s: out-of-range counter not 0", tc.name)
		}
		a.SetCounter(tc.l, tc.l.Count, 7) // ignored
		if _, err := wire.ParsePMACounterArray(b[:tc.size-1], tc.l); err == nil {
			t.Errorf("%s: short buffer accepted", tc.name)
		}
	}
	if _, err := wire.ParsePMACounterArray(make([]byte, 192), wire.PMACounterLayout{Count: 2, Width: 8}); err == nil {
		t.Error("8-bit layout accepted")
	}
	if _, err := wire.ParsePMACounterArray(make([]byte, 192), wire.PMACounterLayout{Count: 17, Width: 16}); err == nil {
		t.Error("17 counters accepted")
	}
}

// TestPMACounterArrayOpCodeAnd2Bit checks byte 0 (OpCode) and the 2-bit
// PortVLXmitFlowCtlUpdateErrors packing libibmad reads: counter n in bits
// 32+2n..33+2n counted from the most significant bit, so VL0 is the top
// two bits of byte 4 and VL15 the bottom two of byte 7.
func TestPMACounterArrayOpCodeAnd2Bit(t *testing.T) {
	l := wire.LayoutPortVLXmitFlowCtlUpdateErrors
	if l.Size() != 8 {
		t.Fatalf("size %d, want 8", l.Size())
	}
	b := make([]byte, wire.PMADataSize)
	a, err := wire.ParsePMACounterArray(b, l)
	if err != nil {
		t.Fatal(err)
	}
	a.SetCounter(l, 0, 2)
	a.SetCounter(l, 1, 7) // saturates at 3
	a.SetCounter(l, 15, 1)
	if b[4] != 0xB0 || b[5] != 0 || b[7] != 0x01 {
		t.Errorf("2-bit counters % x, want b0 00 00 01", b[4:8])
	}
	for vl, want := range map[int]uint64{0: 2, 1: 3, 2: 0, 15: 1} {
		if got := a.Counter(l, vl); got != want {
			t.Errorf("VL%d = %d, want %d", vl, got, want)
		}
	}
	a.SetCounter(l, 1, 0)
	if b[4] != 0x80 {
		t.Errorf("clearing VL1 left byte 4 %#x, want 0x80", b[4])
	}
	o, _ := wire.ParsePMACounterArray(b, wire.LayoutPortOpRcvCounters)
	o.SetOpCode(0x04)
	if b[0] != 0x04 || o.OpCode() != 0x04 {
		t.Errorf("OpCode byte %#x", b[0])
	}
}

// TestPortExtendedSpeedsCountersLayout checks libibmad's IB_PESC_*
// positions: PortSelect byte 1, CounterSelect 64 bits at byte 8,
// SyncHeaderErrorCounter at 16, UnknownBlockCounter 18,
// ErrorDetectionCounterLane0..11 from 20 (16 bits), FECCorrectable
// BlockCtrLane0..11 from 44 and FECUncorrectableBlockCtrLane0..11 from
// 92 (32 bits), 140 bytes in all.
func TestPortExtendedSpeedsCountersLayout(t *testing.T) {
	b := make([]byte, wire.PMADataSize)
	c, err := wire.ParsePortExtendedSpeedsCounters(b)
	if err != nil {
		t.Fatal(err)
	}
	c.SetPortSelect(7)
	c.SetCounterSelect(0x0102030405060708)
	c.SetCounter(wire.ExtSyncHeaderErrorCounter, 0x1111)
	c.SetCounter(wire.ExtUnknownBlockCounter, 1<<20) // saturates
	c.SetCounter(wire.ExtErrorDetectionLane0+11, 0x2222)
	c.SetCounter(wire.ExtFECCorrectableBlockLane0, 0x33333333)
	c.SetCounter(wire.ExtFECUncorrectableLane0+11, 0x44444444)
	c.SetCounter(wire.ExtSpeedsCounters, 9) // ignored
	for _, f := range []struct {
		off  int
		want []byte
	}{
		{1, []byte{7}}, {8, []byte{1, 2, 3, 4, 5, 6, 7, 8}}, {16, []byte{0x11, 0x11}}, {18, []byte{0xFF, 0xFF}},
		{42, []byte{0x22, 0x22}}, {44, []byte{0x33, 0x33, 0x33, 0x33}}, {136, []byte{0x44, 0x44, 0x44, 0x44}},
	} {
		if got := b[f.off : f.off+len(f.want)]; string(got) != string(f.want) {
			t.Errorf("byte %d: % x, want % x", f.off, got, f.want)
		}
	}
	if c.PortSelect() != 7 || c.CounterSelect() != 0x0102030405060708 || c.Counter(wire.ExtErrorDetectionLane0+11) != 0x2222 ||
		c.Counter(wire.ExtFECUncorrectableLane0+11) != 0x44444444 || c.Counter(-1) != 0 || c.Counter(wire.ExtSpeedsCounters) != 0 {
		t.Error("getters disagree with setters")
	}
	if _, err := wire.ParsePortExtendedSpeedsCounters(b[:wire.PortExtendedSpeedsCountersSize-1]); err == nil {
		t.Error("short buffer accepted")
	}
}

// TestPortSamplesControlLayout checks the field positions of libibmad's
// IB_PSC_* table: CounterMask0..9 in bits 34..63, CounterMask10..14 in
// bits 65..79, SampleStatus the low 2 bits of byte 11, OptionMask at
// byte 12, SampleStart 28, SampleInterval 32, Tag 36, CounterSelect0..14
// from byte 38, SamplesOnlyOptionMask at byte 72.
func TestPortSamplesControlLayout(t *testing.T) {
	b := make([]byte, wire.PMADataSize)
	c, err := wire.ParsePortSamplesControl(b)
	if err != nil {
		t.Fatal(err)
	}
	c.SetOpCode(0x11)
	c.SetPortSelect(2)
	c.SetTick(5)
	c.SetCounterWidth(wire.CounterWidth32)
	c.SetCounterMasks0to9(0x3FFF_FFFF)
	c.SetCounterMasks10to14(0x7FFF)
	c.SetSampleMechanisms(9)
	c.SetSampleStatus(wire.SampleStatusRunning)
	c.SetOptionMask(0x0102030405060708)
	c.SetVendorMask(0x1112131415161718)
	c.SetSampleStart(0xA0A1A2A3)
	c.SetSampleInterval(0xB0B1B2B3)
	c.SetTag(0xC0C1)
	for i := range wire.PortSamplesCounters {
		c.SetCounterSelect(i, uint16(0xD000+i))
	}
	c.SetSamplesOnlyOptionMask(0xE0E1E2E3E4E5E6E7)
	want := map[int]byte{0: 0x11, 1: 2, 2: 5, 3: 4, 4: 0x3F, 7: 0xFF, 8: 0x7F, 9: 0xFF, 10: 9, 11: 2,
		12: 1, 19: 8, 20: 0x11, 28: 0xA0, 32: 0xB0, 36: 0xC0, 37: 0xC1, 38: 0xD0, 39: 0, 66: 0xD0, 67: 14,
		72: 0xE0, 79: 0xE7}
	for off, v := range want {
		if b[off] != v {
			t.Errorf("byte %d = %#x, want %#x", off, b[off], v)
		}
	}
	if b[68] != 0 || b[71] != 0 {
		t.Error("reserved bytes 68..71 written")
	}
	if c.OpCode() != 0x11 || c.PortSelect() != 2 || c.Tick() != 5 || c.CounterWidth() != 4 ||
		c.CounterMasks0to9() != 0x3FFF_FFFF || c.CounterMasks10to14() != 0x7FFF || c.SampleMechanisms() != 9 ||
		c.SampleStatus() != wire.SampleStatusRunning || c.OptionMask() != 0x0102030405060708 ||
		c.VendorMask() != 0x1112131415161718 || c.SampleStart() != 0xA0A1A2A3 || c.SampleInterval() != 0xB0B1B2B3 ||
		c.Tag() != 0xC0C1 || c.CounterSelect(14) != 0xD00E || c.CounterSelect(15) != 0 ||
		c.SamplesOnlyOptionMask() != 0xE0E1E2E3E4E5E6E7 {
		t.Errorf("decode mismatch: % x", b[:wire.PortSamplesControlSize])
	}
	// The masks leave their neighbours alone.
	c.SetCounterMasks0to9(0)
	c.SetCounterMasks10to14(0)
	if b[4] != 0 || b[8] != 0 || b[10] != 9 || c.CounterWidth() != 4 {
		t.Errorf("clearing the masks: % x", b[:12])
	}
	if _, err := wire.ParsePortSamplesControl(b[:wire.PortSamplesControlSize-1]); err == nil {
		t.Error("short PortSamplesControl accepted")
	}
}

func TestPortSamplesResultLayout(t *testing.T) {
	b := make([]byte, wire.PMADataSize)
	r, err := wire.ParsePortSamplesResult(b)
	if err != nil {
		t.Fatal(err)
	}
	r.SetTag(0x1234)
	r.SetSampleStatus(wire.SampleStatusDone)
	r.SetCounter(0, 7)
	r.SetCounter(14, math.MaxUint64)
	r.SetCounter(15, 1) // ignored
	if b[0] != 0x12 || b[1] != 0x34 || b[7] != 7 || b[60] != 0xFF || b[63] != 0xFF || b[64] != 0 {
		t.Errorf("% x", b[:68])
	}
	if r.Tag() != 0x1234 || r.SampleStatus() != 0 || r.Counter(0) != 7 || r.Counter(14) != math.MaxUint32 || r.Counter(15) != 0 {
		t.Error("decode mismatch")
	}
	if _, err := wire.ParsePortSamplesResult(b[:wire.PortSamplesResultSize-1]); err == nil {
		t.Error("short PortSamplesResult accepted")
	}
}

// FuzzPMAOptional decodes arbitrary bytes as every optional PerfMgt
// attribute: no panic, and a re-encode of what decoded reads back equal.
func FuzzPMAOptional(f *testing.F) {
	addSeeds(f, wire.PMADataSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range []wire.PMACounterLayout{wire.LayoutPortRcvErrorDetails, wire.LayoutPortXmitDiscardDetails, wire.LayoutPortDataSL,
			wire.LayoutPortOpRcvCounters, wire.LayoutPortFlowCtlCounters, wire.LayoutPortVLOpPackets, wire.LayoutPortVLOpData,
			wire.LayoutPortVLXmitFlowCtlUpdateErrors, wire.LayoutPortVLXmitWaitCounters, wire.LayoutSwPortVLCongestion,
			wire.LayoutPortRcvConCtrl, wire.LayoutPortSLRcvECN, wire.LayoutPortXmitConCtrl, wire.LayoutPortVLXmitTimeCong} {
			a, err := wire.ParsePMACounterArray(b, l)
			if err != nil {
				continue
			}
			c := wire.PMACounterArray(make([]byte, l.Size()))
			c.SetOpCode(a.OpCode())
			c.SetPortSelect(a.PortSelect())
			c.SetCounterSelect(a.CounterSelect())
			for i := range l.Count {
				c.SetCounter(l, i, a.Counter(l, i))
			}
			if string(c) != string(a) {
				t.Fatalf("counter array re-encode % x != % x", c, a)
			}
		}
		if e, err := wire.ParsePortExtendedSpeedsCounters(b); err == nil {
			c := wire.PortExtendedSpeedsCounters(make([]byte, wire.PortExtendedSpeedsCountersSize))
			c.SetPortSelect(e.PortSelect())
			c.SetCounterSelect(e.CounterSelect())
			for i := range wire.ExtSpeedsCounters {
				c.SetCounter(wire.ExtSpeedsCounter(i), e.Counter(wire.ExtSpeedsCounter(i)))
			}
			// Bytes 0, 2..7 are reserved.
			if string(c[8:]) != string(e[8:]) || c[1] != e[1] {
				t.Fatalf("extended speeds re-encode % x != % x", c, e)
			}
		}
		if c, err := wire.ParsePortSamplesControl(b); err == nil {
			_ = c.OpCode() + c.Tick() + c.CounterWidth() + c.SampleStatus() + c.SampleMechanisms()
			_ = c.CounterMasks0to9() + uint32(c.CounterMasks10to14()) + c.SampleStart() + c.SampleInterval()
			_ = c.OptionMask() + c.VendorMask() + c.SamplesOnlyOptionMask() + uint64(c.Tag())
			for i := -1; i <= wire.PortSamplesCounters; i++ {
				_ = c.CounterSelect(i)
			}
		}
		if r, err := wire.ParsePortSamplesResult(b); err == nil {
			out := wire.PortSamplesResult(make([]byte, wire.PortSamplesResultSize))
			out.SetTag(r.Tag())
			out.SetSampleStatus(r.SampleStatus())
			for i := range wire.PortSamplesCounters {
				out.SetCounter(i, uint64(r.Counter(i)))
			}
			if out.Tag() != r.Tag() || out.SampleStatus() != r.SampleStatus() || string(out[4:]) != string(r[4:]) {
				t.Fatalf("samples result re-encode % x != % x", out, r)
			}
		}
	})
}
