package attach

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// saResponse returns a datagram of an SA GetTable response whose sender
// wrote n bytes and set only the RMPP Active flag, as OpenSM does.
func saResponse(n uint64) Datagram {
	d := NewDatagram()
	m := d.MAD()
	m[0] = wire.MADBaseVersion
	m[1] = byte(wire.MgmtClassSubnAdm)
	m[2] = 2
	m[3] = 0x93 // GetTableResp
	for i := int(n); i < wire.MADSize; i++ {
		m[i] = 0xEE // what the client's buffer held after its data
	}
	wire.RMPPHeader(m[wire.RMPPHeaderOffset:]).SetFlags(wire.RMPPFlagActive)
	d.SetLength(n)
	return d
}

func TestSealRMPPAndUMADLengthRoundTrip(t *testing.T) {
	for _, n := range []uint64{36, 56, 120, 168, 255, 256} {
		d := saResponse(n)
		zeroPastLength(d)
		sealRMPP(d)
		m := d.MAD()
		for i := int(n); i < wire.MADSize; i++ {
			if m[i] != 0 {
				t.Fatalf("length %d: byte %d past the length is %#x, want 0", n, i, m[i])
			}
		}
		r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
		if r.Version() != wire.RMPPVersion || r.Type() != wire.RMPPTypeData ||
			r.Flags() != wire.RMPPFlagActive|wire.RMPPFlagFirst|wire.RMPPFlagLast ||
			r.SegmentNumber() != 1 || r.PayloadLength() != uint32(n-36) {
			t.Fatalf("length %d: rmpp header %x", n, []byte(r[:wire.RMPPHeaderSize]))
		}
		want := n
		if n == 36 {
			want = wire.MADSize // PayloadLength 0: nothing to go by
		}
		if got := umadLength(m); got != want {
			t.Errorf("length %d: umadLength %d, want %d", n, got, want)
		}
	}
}

func TestUMADLengthLeavesOtherMADsWhole(t *testing.T) {
	cases := map[string]func(m wire.MAD){
		"smp": func(m wire.MAD) { m[1] = byte(wire.MgmtClassSubnLID) },
		"sa without rmpp": func(m wire.MAD) {
			wire.RMPPHeader(m[wire.RMPPHeaderOffset:]).SetFlags(0)
		},
		"first segment of many": func(m wire.MAD) {
			r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
			r.SetFlags(wire.RMPPFlagActive | wire.RMPPFlagFirst)
			r.SetData2(1000)
		},
		"payload longer than a segment": func(m wire.MAD) {
			wire.RMPPHeader(m[wire.RMPPHeaderOffset:]).SetData2(221)
		},
		"ack": func(m wire.MAD) { wire.RMPPHeader(m[wire.RMPPHeaderOffset:]).SetType(wire.RMPPTypeAck) },
	}
	for name, edit := range cases {
		d := saResponse(120)
		sealRMPP(d)
		edit(d.MAD())
		if got := umadLength(d.MAD()); got != wire.MADSize {
			t.Errorf("%s: umadLength %d, want 256", name, got)
		}
	}
	if got := umadLength(wire.MAD(make([]byte, 100))); got != wire.MADSize {
		t.Errorf("short mad: umadLength %d, want 256", got)
	}
}

func TestSealRMPPLeavesOthersAlone(t *testing.T) {
	// A class without RMPP, an RMPP ACK, and a length the kernel would
	// refuse are passed on as written.
	smp := saResponse(120)
	smp.MAD()[1] = byte(wire.MgmtClassSubnLID)
	ack := saResponse(120)
	wire.RMPPHeader(ack.MAD()[wire.RMPPHeaderOffset:]).SetType(wire.RMPPTypeAck)
	short := saResponse(120)
	short.SetLength(20)
	for name, d := range map[string]Datagram{"smp": smp, "ack": ack, "short": short} {
		zeroPastLength(d)
		if name == "short" && d.MAD()[200] != 0xEE {
			t.Fatal("short: a length below the MAD header must not zero the MAD")
		}
		before := append([]byte(nil), d...)
		sealRMPP(d)
		if string(before) != string(d) {
			t.Errorf("%s: datagram changed", name)
		}
		if r := wire.RMPPHeader(d.MAD()[wire.RMPPHeaderOffset:]); r.Type() == wire.RMPPTypeData {
			t.Errorf("%s: sealed as rmpp data", name)
		}
	}
}

// TestSealRMPPLeavesSelfSegmentedTransfers: a sender that runs RMPP itself
// (our stack's agents over the attach protocol) numbers its segments and
// sets their flags and PayloadLength; sealRMPP passes every segment on as
// written, and the receiver's length comes from the sender's
// PayloadLength, so a one-segment GetTableResp of 12 LinkRecords reads as
// 12 records, not 25.
func TestSealRMPPLeavesSelfSegmentedTransfers(t *testing.T) {
	const hdr = wire.RMPPHeaderOffset + wire.RMPPHeaderSize
	for _, c := range []struct {
		name   string
		seg    uint32
		flags  wire.RMPPFlags
		paylen uint32
		umad   uint64
	}{
		{"single segment", 1, wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast, 20 + 12*8, hdr + 20 + 12*8},
		{"first of three", 1, wire.RMPPFlagActive | wire.RMPPFlagFirst, 3*220 - 100, wire.MADSize},
		{"middle", 2, wire.RMPPFlagActive, 0, wire.MADSize},
		{"last", 3, wire.RMPPFlagActive | wire.RMPPFlagLast, 120, wire.MADSize},
	} {
		d := saResponse(wire.MADSize)
		r := wire.RMPPHeader(d.MAD()[wire.RMPPHeaderOffset:])
		r.SetVersion(wire.RMPPVersion)
		r.SetType(wire.RMPPTypeData)
		r.SetFlags(c.flags)
		r.SetData1(c.seg)
		r.SetData2(c.paylen)
		before := append([]byte(nil), d...)
		zeroPastLength(d)
		sealRMPP(d)
		if string(before) != string(d) {
			t.Errorf("%s: datagram changed: rmpp header %x, was %x", c.name,
				d.MAD()[wire.RMPPHeaderOffset:hdr], before[DatagramHeaderSize+wire.RMPPHeaderOffset:DatagramHeaderSize+hdr])
		}
		if got := umadLength(d.MAD()); got != c.umad {
			t.Errorf("%s: umadLength %d, want %d", c.name, got, c.umad)
		}
	}
}
